"""End to end: `python -m tasks.sentiment` trains, evaluates, exports; evaluate/predict; resume; bad input."""

import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo  # noqa: F401  (registers the zoo's layers for load_model)
from tasks.common import training
from tasks.common.cli import run_cli
from tasks.common.serving_shapes import WARMUP_BATCHES, WARMUP_FILE, length_buckets
from tasks.sentiment.__main__ import main
from tests.tasks.cli_errors import command_line_error, user_error
from tests.tasks.conftest import SHARES_TRAINED_RUNS
from tests.tasks.sentiment.conftest import TINY, run_recipe

pytestmark = SHARES_TRAINED_RUNS

# 70 texts: more than the export's largest compiled batch (64), so its chunked path is compared too.
TEXTS = ["not bad at all", "the plot was really dull", "", "great " * 3000, "ünïcödé <br /> reviews!"] * 14


def test_run_writes_metrics_plots_and_a_versioned_export(trained):
    tmp_path, metrics = trained
    export = Path(metrics["export"])
    assert export == tmp_path / "exports" / "sentiment" / "1"
    assert (export / "saved_model.pb").exists()
    for name in ("model.keras", "labels.txt", "config.json", "metrics.json", "versions.json",
                 "training_curves.png", "confusion_matrix.png"):
        assert (export / "assets.extra" / name).exists(), name
    for name in ("metrics.json", "training_curves.png", "confusion_matrix.png"):
        assert (tmp_path / "run" / name).exists()
    saved = json.loads((export / "assets.extra" / "metrics.json").read_text())
    assert saved["offline_data"] is True and "NOT IMDB" in saved["data"]
    assert set(saved["test"]) >= {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "confusion_matrix"}
    assert set(saved["test"]["recall_by_class"]) == {"negative", "positive"}
    assert np.sum(saved["test"]["confusion_matrix"]) == saved["test"]["examples"] == 600
    assert not (tmp_path / "run" / "backup").exists()  # a finished run leaves nothing to resume


def test_export_takes_raw_strings_and_matches_the_trained_model(trained):
    tmp_path, metrics = trained
    export = Path(metrics["export"])
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    out = serve(text=tf.constant(TEXTS))
    probability = out["probability"].numpy()
    assert probability.shape == (len(TEXTS),)
    assert ((probability >= 0) & (probability <= 1)).all()
    assert [label.decode() for label in out["label"].numpy()] == [
        "positive" if p >= 0.5 else "negative" for p in probability]

    # The same numbers from the .keras model alone: it takes the raw strings too (its preprocessing inside).
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    expected = model(tf.constant(TEXTS)).numpy()[:, 0]
    np.testing.assert_allclose(probability, expected, atol=1e-5)


def test_the_ngram_models_read_the_whole_text_and_are_blended_with_the_network_as_metrics_say(trained):
    _, metrics = trained
    export = Path(metrics["export"])
    probability = tf.saved_model.load(str(export)).signatures["serving_default"](text=tf.constant(TEXTS))[
        "probability"].numpy()
    # model.keras: the network's logit and the n-gram models' (words, word pieces), blended by a Dense layer fitted
    # on validation
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    ids = keras.Model(model.input, model.get_layer("first_steps").output)(tf.constant(TEXTS))
    members = [model.get_layer(name) for name in ("words_ngram_model", "characters_ngram_model")]
    logits = [model.get_layer("many_to_one")(ids).numpy(), *(member(tf.constant(TEXTS)).numpy() for member in members)]
    kernel, bias = model.get_layer("blend").get_weights()
    expected = tf.sigmoid(np.concatenate(logits, axis=1) @ kernel + bias).numpy()[:, 0]
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    # Unlike the network (cut to --max-length 30 tokens), they read every word: a verdict after 60 words counts
    filler = "the film is a film " * 12
    for member in members:
        verdicts = member(tf.constant([filler + "wonderful superb", filler + "awful boring"])).numpy()[:, 0]
        assert verdicts[0] > verdicts[1], member.name
    # unknown n-grams weigh nothing: only the bias is left
    words = members[0]
    np.testing.assert_allclose(words(tf.constant(["zzzq qqqz"])).numpy()[0, 0],
                               words.get_layer("words_ngram_weights").get_weights()[1][0], atol=1e-6)
    alone = metrics["members_alone"]
    assert set(alone) == {"test", "validation"} and set(alone["test"]) == {"network", "words", "characters"}
    assert alone["test"]["words"] > 0.8  # the generated reviews' words are their label


def test_without_ngram_models_the_export_is_the_network_alone(tmp_path):
    metrics = run_recipe(tmp_path, "--dataset", "offline", "--epochs", "1", "--ngrams", "0", "--no-char-ngrams")
    model = keras.models.load_model(Path(metrics["export"]) / "assets.extra" / "model.keras")
    assert "blend" not in [layer.name for layer in model.layers] and "members_alone" not in metrics


def test_next_run_exports_the_next_version_and_same_seed_gives_same_result(trained, tmp_path):
    first_dir, first = trained
    again = run_recipe(first_dir, "--dataset", "offline")
    assert Path(again["export"]).name == "2"
    assert again["test"] == first["test"]


def recorded(monkeypatch, name):
    """The instances of the class `zoo.<name>` that the recipe makes from now on: a list that fills as it makes them."""
    made = []

    class Recorded(getattr(zoo, name)):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(zoo, name, Recorded)
    return made


def test_an_ensemble_trains_its_members_together_and_exports_their_mean(tmp_path, monkeypatch):
    made = recorded(monkeypatch, "AdversarialTraining")
    metrics = run_recipe(tmp_path, "--dataset", "offline", "--ensemble", "2", "--epochs", "1", "--ngrams", "0",
                         "--no-char-ngrams", "--adversarial", "1")
    (trainer,) = made  # adversarial training perturbed both members' embedded words in every step
    logs = trainer.history.history
    assert len(trainer.perturbed) == 2 and logs["adversarial_loss"][0] > 0 and "val_adversarial_loss" not in logs
    export = Path(metrics["export"])
    probability = tf.saved_model.load(str(export)).signatures["serving_default"](text=tf.constant(TEXTS))[
        "probability"].numpy()
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    np.testing.assert_allclose(probability, model(tf.constant(TEXTS)).numpy()[:, 0], atol=1e-5)
    # model.keras: strings -> ids -> the ensemble (two networks, their logits averaged) -> sigmoid
    ids = keras.Model(model.input, model.get_layer("first_steps").output)(tf.constant(TEXTS))
    members = [model.get_layer("ensemble").get_layer(f"member_{i}") for i in range(2)]
    logits = [member(ids).numpy()[:, 0] for member in members]
    assert not np.allclose(*logits, atol=1e-3)  # started from different weights
    np.testing.assert_allclose(probability, tf.sigmoid((logits[0] + logits[1]) / 2).numpy(), atol=1e-5)
    assert metrics["test"]["examples"] == 600 and 0 <= metrics["test"]["accuracy"] <= 1


def test_a_slanted_schedule_rises_to_the_learning_rate_and_ends_at_a_32nd_of_it(tmp_path, monkeypatch):
    made = recorded(monkeypatch, "FusedAdam")
    metrics = run_recipe(tmp_path, "--dataset", "offline", "--schedule", "slanted", "--learning-rate", "0.004",
                         "--patience", "5", "--xla-serving")
    (optimizer,) = made
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.004 / 32) and schedule.peak == 0.004
    assert int(optimizer.iterations) == schedule.total_steps  # every epoch ran: the schedule spans them exactly
    assert float(optimizer.learning_rate) == pytest.approx(0.004 / 32)
    # (the same run's --xla-serving: the export's network XLA-compiled, a warm-up record for each of its shapes)
    extra = Path(metrics["export"]) / "assets.extra"
    config = json.loads((extra / "config.json").read_text())
    assert b"_XlaMustCompile" in (extra.parent / "saved_model.pb").read_bytes()
    assert len(list(tf.data.TFRecordDataset(str(extra / WARMUP_FILE)))) == len(
        length_buckets(config["max_length"], config["bucket_step"])) * len(WARMUP_BATCHES)


def test_evaluate_and_predict_commands(trained, tmp_path, capsys, monkeypatch):
    _, metrics = trained
    data = tmp_path / "labelled.tsv"
    data.write_text("text\tlabel\nthe cast was truly superb\t1\nthe plot was not great at all\t0\n")
    result = main(["evaluate", "--model", str(Path(metrics["export"]).parent), "--data", str(data)])
    assert result["examples"] == 2 and 0 <= result["accuracy"] <= 1
    assert '"accuracy"' in capsys.readouterr().out

    predictions = main(["predict", "--model", metrics["export"], *TEXTS[:3]])
    assert [label for label, _ in predictions] and all(0 <= p <= 1 for _, p in predictions)
    lines = capsys.readouterr().out.strip().split("\n")
    assert len(lines) == 3 and lines[0].split("\t")[0] in ("positive", "negative")

    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("a dull film\nwonderful\n"))
    assert len(main(["predict", "--model", metrics["export"]])) == 2


class Interrupt(keras.callbacks.Callback):
    """Stops training like Ctrl-C after `epoch` epochs, once the backup of that epoch is written."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_resume_with_different_flags_is_refused(tmp_path, monkeypatch, capsys):
    original = training.fit_callbacks
    monkeypatch.setattr("tasks.common.training.fit_callbacks",
                        lambda *a, **k: [*original(*a, **k), Interrupt(1)])
    with pytest.raises(KeyboardInterrupt):
        run_recipe(tmp_path, "--dataset", "offline")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda argv: run_recipe(tmp_path, "--dataset", "offline", "--units", "9"))
    assert exit_info.value.code == 2
    assert "holds an interrupted run with different units; rerun" in capsys.readouterr().err


def write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("", "is empty"),
    ("review_text\tstars\nok\t1\n", "needs a text column"),
    ("text\tlabel\ngood\t1\nbad\t0\nmeh\t3\n", "'3' that are not one of two classes"),
    ("text\tlabel\ngood\t1\nbad\t\nmeh\t0\nfine\t\n", "has 2 row(s) with no label (the first is row 2 after"),
    ("1\tA review long enough that no header would ever be named like it.\n0\tbad\n",
     "first row looks like data, not a header (['1', 'A review long enough that n...'"),
    (b"text\tlabel\n\xff\xfe bad bytes\t1\n", "is not UTF-8 text"),
    ("text\tlabel\n", "has a header but no rows"),
    ("text\tlabel\n" + "all good\t1\n" * 20, "has only one class; the data needs both"),
    (b"PK\x03\x04 a zipped table", "is a binary file (an archive or a spreadsheet?)"),
    ("text\tlabel\n" + "".join(f"review {i}\t{i % 2}\n" for i in range(12)), "are too few to put both classes"),
])
def test_bad_data_gets_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "data.tsv"
    if content is not None:
        write(path, content)
    assert message in user_error(main, ["--data", str(path), "--run-dir", str(tmp_path / "run"), *TINY], capsys)


def test_texts_without_a_word_get_one_clear_error(tmp_path, capsys):
    path = write(tmp_path / "data.tsv", "text\tlabel\n" + "!!!\t1\n... ?\t0\n" * 20)
    argv = ["--data", str(path), "--group-by", "none", "--run-dir", str(tmp_path / "run"), *TINY]
    assert "the training texts hold no words" in user_error(main, argv, capsys)


def test_export_folder_that_is_not_a_saved_model(tmp_path, capsys):
    assert "is not a SavedModel folder" in user_error(main, ["predict", "--model", str(tmp_path), "hello"], capsys)


def test_naming_imdb_while_offline_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(main, ["--dataset", "imdb", "--tfds-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    assert "--dataset imdb needs a network connection" in capsys.readouterr().err


def test_command_line_error_has_no_traceback(tmp_path):
    assert "does not exist" in command_line_error(
        "tasks.sentiment", ["--data", str(tmp_path / "missing.tsv")], tmp_path)


@pytest.mark.parametrize("argv,message", [
    (["--cell", "transformer"], "invalid choice: 'transformer'"),
    (["--units", "0"], "--units must be positive"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1)"),
    (["--tail-fraction", "1.5"], "--tail-fraction must be in [0, 1] (got 1.5): 0 keeps a long review's first"),
    (["--ensemble", "2", "--fine-tuning", "ulmfit"], "--fine-tuning ulmfit unfreezes one network's layers"),
    (["--adversarial", "-1"], "--adversarial must not be negative (0: no adversarial training)"),
    (["predict"], "the following arguments are required: --model"),
])
def test_bad_flags_get_one_line(argv, message, capsys):
    assert message in user_error(main, argv, capsys)


def test_a_preset_sets_defaults_and_flags_given_beside_it_win():
    from tasks.common.cli import dispatch
    from tasks.sentiment.__main__ import Config, parser

    def config(*argv):
        return dispatch(list(argv), parser(), {}, Config, train=lambda cfg: cfg)

    assert config().schedule == "constant" and config().learning_rate == 1e-3 and config().preset is None
    assert (config("--preset", "imdb").schedule, config("--preset", "imdb").learning_rate) == ("slanted", 2e-3)
    assert config("--preset", "imdb", "--learning-rate", "0.003").learning_rate == 0.003
    assert config("--learning-rate", "0.003", "--preset", "imdb").learning_rate == 0.003
    assert config("--preset", "imdb", "--units", "32").units == 32
    assert config().char_ngrams and not config("--preset", "imdb").char_ngrams
    assert config("--preset", "imdb", "--char-ngrams").char_ngrams  # a boolean flag given beside it wins too
    assert config().adversarial == 0 and config("--preset", "sst2").adversarial == 1.0
    assert config().units == 64 and config("--preset", "sst2").units == 128
    assert config("--preset", "sst2", "--adversarial", "0").adversarial == 0


def test_an_unknown_preset_is_one_error(capsys):
    assert "--preset: invalid choice: 'nope'" in user_error(main, ["--preset", "nope"], capsys)
