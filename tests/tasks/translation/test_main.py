"""End to end: `python -m tasks.translation` trains, scores, exports; the export against the Keras models;
evaluate/translate; bad input."""

import json
import shutil
import sys
import zipfile
from pathlib import Path
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.common.cli import run_cli
from tasks.common.serving_shapes import WARMUP_BATCHES
from tasks.common.text import decoder_inputs
from tasks.serve.loading import load_version
from tasks.translation.__main__ import main
from tasks.translation.decoding import python_loop_greedy
from tasks.translation.serving import SIGNATURES, translator_from_export, write_export
from tasks.translation.subwords import END_ID, Subwords
from tests.tasks.cli_errors import command_line_error, user_error
from tests.tasks.conftest import SHARES_TRAINED_RUNS
from tests.tasks.test_recipe_contract import warmup_calls
from tests.tasks.translation.conftest import TINY, run_recipe
from zoo import lstm_loop
from zoo.real_steps import RealSteps

pytestmark = SHARES_TRAINED_RUNS

# Unseen words, an unseen letter (spelled in bytes), decomposed accents (normalized in the graph), an empty text and
# one longer than max_length.
TEXTS = ["ciento veintitrés", "mil", "", "palabras desconocidas zzz qqq Ł", "veintitre\u0301s", "dos " * 40]


def test_run_writes_metrics_plots_and_a_versioned_export(trained):
    tmp_path, metrics = trained
    export = Path(metrics["export"])
    assert export == tmp_path / "exports" / "translation" / "1"
    for name in ("model.keras", "source.spm", "target.spm", "config.json", "metrics.json",
                 "versions.json", "training_curves.png", "attention.png"):
        assert (export / "assets.extra" / name).exists(), name
    saved = json.loads((export / "assets.extra" / "metrics.json").read_text())
    assert saved["offline_data"] is True and "NOT Tatoeba" in saved["data"]
    for decoder in ("greedy", "beam_3"):
        assert 0 <= saved["test"][decoder]["bleu"] <= 100 and 0 <= saved["test"][decoder]["chrf"] <= 100
        assert "case:mixed" in saved["test"][decoder]["bleu_signature"]  # sacreBLEU's default: case counts
        assert "case:lc" in saved["test"][decoder]["bleu_lowercase_signature"]
    assert len(saved["examples"]) == 2 and {"source", "reference", "greedy", "beam"} <= set(saved["examples"][0])
    history = saved["history"]
    assert history["loss"][-1] < history["loss"][0]  # it learns
    assert not (tmp_path / "run" / "backup").exists()
    # It trained on zoo.fuse_grus's copy (the default on CPU); the export holds the plain Keras model.
    config = zipfile.ZipFile(export / "assets.extra" / "model.keras").read("config.json").decode()
    assert '"class_name": "ZooModel"' in config and "Fused" not in config


def test_lstm_cells_train_on_the_zoo_lstm_loop_with_logits_at_real_steps_only(tmp_path):
    real_steps = mock.patch.object(RealSteps, "call", autospec=True, side_effect=RealSteps.call)
    with mock.patch.object(lstm_loop, "run", wraps=lstm_loop.run) as loop, real_steps as logits:
        metrics = run_recipe(tmp_path, "--cell", "lstm", "--epochs", "1")
    assert any(call.args[3] for call in loop.call_args_list)  # a call with training=True: the encoder and decoder
    assert logits.call_args_list and all(call.kwargs["mask"] is not None for call in logits.call_args_list)
    assert Path(metrics["export"]).exists()


def test_export_translates_strings_and_equals_a_python_loop_over_the_keras_model(trained):
    _, metrics = trained
    export = Path(metrics["export"])
    loaded = tf.saved_model.load(str(export))
    assert set(SIGNATURES) <= set(loaded.signatures)
    greedy = [t.decode() for t in loaded.signatures["serving_default"](text=tf.constant(TEXTS))["translation"].numpy()]
    assert len(greedy) == len(TEXTS) and all(isinstance(t, str) for t in greedy)

    # The same sentences decoded one at a time by a Python loop over the reloaded .keras model.
    translator = translator_from_export(export)
    models = zoo.inference_models(translator.model)
    for text, exported in zip(TEXTS, greedy):
        ids = python_loop_greedy(models, translator.source(tf.constant([text])), **translator.loop_args)
        assert translator.detokenize(tf.constant([ids])).numpy()[0].decode() == exported

    # model.keras takes raw sentence pairs (its tokenizers inside) and gives the teacher-forced logits of the
    # network on the ids of the export's own SentencePiece files, the target side read with the target model.
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    sources, targets = tf.constant(["ciento veintitrés", "mil"]), tf.constant(["one hundred twenty-three", "Zürich"])
    logits = model({"text": sources, "target_text": targets}).numpy()
    source_side, target_side = (Subwords.read(export / "assets.extra" / f"{side}.spm") for side in ("source", "target"))
    target_ids = target_side.tokenize(targets).to_tensor()
    expected = translator.model({"tokens": source_side.tokenize(sources).to_tensor(),
                                 "previous_tokens": decoder_inputs(target_ids, END_ID)}).numpy()
    assert logits.shape == (2, target_ids.shape[1] - 1, target_side.size)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="written mostly in characters"):
        model({"text": tf.constant(["Привет, как дела?"]), "target_text": tf.constant(["Hello"])})

    # An export from before the tokenizers moved into model.keras (the bare network beside its SentencePiece files)
    # still gives a translator that decodes the same.
    older = Path(str(export) + "_older")
    shutil.copytree(export, older)
    translator.model.save(older / "assets.extra" / "model.keras")
    from_older = translator_from_export(older)
    ids = python_loop_greedy(models, from_older.source(tf.constant([TEXTS[0]])), **from_older.loop_args)
    assert from_older.detokenize(tf.constant([ids])).numpy()[0].decode() == greedy[0]

    # Decomposed accents are normalized in the graph: the same translation as the composed text.
    assert greedy[TEXTS.index("veintitre\u0301s")] == loaded.signatures["serving_default"](
        text=tf.constant(["veintitrés"]))["translation"].numpy()[0].decode()

    beam = loaded.signatures["beam_search"](text=tf.constant(TEXTS))["translation"].numpy()
    assert beam.shape == (len(TEXTS),)
    attention = loaded.signatures["attention"](text=tf.constant(TEXTS[:2]))
    weights = attention["attention"].numpy()
    assert weights.shape[0] == 2 and weights.shape[1] == attention["target_tokens"].shape[1]
    assert weights.shape[2] == attention["source_tokens"].shape[1]
    np.testing.assert_allclose(weights.sum(-1)[attention["target_tokens"].numpy() != b""], 1, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 3, 70])
def test_compiled_decoding_answers_what_the_plain_loops_answer(trained, rows):
    """XLA over fixed shapes (sources padded to max_length; 3 rows padded to 4, the padding row finished from the
    start; 70 rows, past the compiled sizes, on the plain loop) changes no translation."""
    translator = translator_from_export(Path(trained[1]["export"]), beam_width=3)
    texts = tf.constant((TEXTS * 12)[:rows])
    for loop in ("greedy", "beam"):
        plain = tf.function(getattr(translator, loop))(texts)["translation"].numpy()
        compiled = tf.function(getattr(translator.with_compiled_loops(), loop))(texts)["translation"].numpy()
        assert compiled.tolist() == plain.tolist()


def test_a_compiled_export_warms_every_shape_at_load_and_answers_as_the_plain_one(trained, tmp_path):
    plain = Path(trained[1]["export"])  # the recipe's default: plain loops, loaded in a second by any server
    assert b"_XlaMustCompile" not in (plain / "saved_model.pb").read_bytes()
    assert sorted(warmup_calls(plain / "assets.extra")) == sorted((name, rows) for name in SIGNATURES
                                                                  for rows in (1, 8))
    compiled = tmp_path / "compiled"
    write_export(compiled, translator_from_export(plain, beam_width=3), extras={}, example="mil", compiled=True)
    assert b"_XlaMustCompile" in (compiled / "saved_model.pb").read_bytes()
    assert sorted(warmup_calls(compiled / "assets.extra")) == sorted(
        [(name, rows) for name in ("serving_default", "beam_search") for rows in WARMUP_BATCHES]
        + [("attention", 1), ("attention", 8)])
    texts = {"text": np.array(TEXTS, dtype=object)}
    # each runs its warm-up records; XLA enabled, as TF Serving's --xla_cpu_compilation_enabled=true does
    served = [load_version(folder, 1, xla=True) for folder in (plain, compiled)]
    try:
        for signature in SIGNATURES:
            answers = [version.run(signature, texts)["translation"].tolist() for version in served]
            assert answers[0] == answers[1]
    finally:
        for version in served:
            version.close()


def test_evaluate_and_translate_commands(trained, tmp_path, capsys, monkeypatch):
    _, metrics = trained
    data = tmp_path / "pairs.tsv"
    # A source in a script no training sentence had is left out of the score and counted, not a stop.
    data.write_text("Привет, как дела?\thello\ndos\ttwo\nЗдравствуйте\thello\ntres mil\tthree thousand\n")
    result = main(["evaluate", "--model", str(Path(metrics["export"]).parent), "--data", str(data), "--beam"])
    assert result["pairs"] == 2 and result["refused"] == 2 and 0 <= result["bleu"] <= 100
    data.write_text("Привет, как дела?\thello\n")
    assert "there is nothing to score" in user_error(
        main, ["evaluate", "--model", metrics["export"], "--data", str(data)], capsys)
    capsys.readouterr()

    assert len(main(["translate", "--model", metrics["export"], "dos", "cien"])) == 2
    assert capsys.readouterr().out.count("\n") == 2  # one line per text, even an empty translation
    refused = user_error(main, ["translate", "--model", metrics["export"], "dos", "Привет, как дела?"], capsys)
    assert "text 2 ('Привет, как дела?') is written mostly in characters that no training example had" in refused
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("uno\nnueve\n"))
    assert len(main(["translate", "--model", metrics["export"]])) == 2


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("", "is empty"),
    ("only a source\n", "is not 'source<TAB>target'"),
    (b"\xff\xfe\tbad\n", "is not UTF-8 text"),
    ("a\tb\nc\td\n", "pairs are too few"),
    ("Go.\tVe.\nHi.\tHola.\n" * 100, "the 200 pairs hold only 2 different sentence group(s)"),
])
def test_bad_data_gets_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "pairs.tsv"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert message in user_error(main, ["--data", str(path), "--run-dir", str(tmp_path / "run"), *TINY], capsys)
    assert not (tmp_path / "exports").exists()


@pytest.mark.parametrize("argv,message", [
    (["--attention", "luong"], "invalid choice: 'luong'"),
    (["--max-length", "2"], "--max-length must be at least 3"),
    (["--beam-width", "0"], "--beam-width must be positive"),
    (["--target-vocab-size", "100"], "--target-vocab-size must be at least 300"),
    (["translate"], "the following arguments are required: --model"),
])
def test_bad_flags_get_one_line(argv, message, capsys):
    assert message in user_error(main, argv, capsys)


def test_naming_the_dataset_while_offline_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(main, ["--dataset", "spa-eng", "--cache-dir", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    assert "--dataset spa-eng needs a network connection" in capsys.readouterr().err


def test_export_folder_that_is_not_a_saved_model(tmp_path, capsys):
    assert "is not a SavedModel folder" in user_error(main, ["translate", "--model", str(tmp_path), "hola"], capsys)


def test_command_line_error_has_no_traceback(tmp_path):
    assert "does not exist" in command_line_error(
        "tasks.translation", ["--data", str(tmp_path / "missing.tsv")], tmp_path)
