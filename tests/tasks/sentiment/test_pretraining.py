"""Language-model pretraining in the sentiment recipe: `--unlabeled` pretrains forward and backward language models
that start the classifier and travel with the export; `--encoder` starts another run from them; bad files and
encoders that do not fit are one error line, before anything is written."""

import gzip
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tasks.sentiment.offline import offline_reviews
from tasks.sentiment.pretraining import language_model_data
from tests.tasks.cli_errors import user_error
from tests.tasks.sentiment.conftest import TINY, run_recipe

pytestmark = [pytest.mark.xdist_group("sentiment_pretraining"), pytest.mark.filterwarnings("error::UserWarning")]
PRETRAIN = ["--dataset", "offline", "--pretrain", "language-model", "--pretrain-length", "8", "--pretrain-epochs", "1"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """One run pretrained on 400 generated unlabeled reviews (gzip, with the dataset's `text` header)."""
    tmp_path = tmp_path_factory.mktemp("pretrained")
    texts, _ = offline_reviews(400, seed=7)
    unlabeled = tmp_path / "unsup.txt.gz"
    unlabeled.write_bytes(gzip.compress(("text\n" + "\n".join(texts) + "\n").encode()))
    return tmp_path, unlabeled, run_recipe(tmp_path, *PRETRAIN, "--unlabeled", str(unlabeled))


def test_unlabeled_text_pretrains_both_directions_and_the_export_carries_the_encoder(pretrained, capsys):
    tmp_path, unlabeled, metrics = pretrained
    encoder = Path(metrics["export"]) / "assets.extra" / "encoder"
    assert sorted(p.name for p in encoder.iterdir()) == ["backward.keras", "encoder.json", "forward.keras",
                                                          "vocabulary.txt"]
    vocabulary = (encoder / "vocabulary.txt").read_text().split("\n")[:-1]
    for direction in ("forward", "backward"):
        report = metrics["pretraining"][direction]
        assert report["words"] > 0 and report["seconds"] > 0
        # The language model learned: its held-out loss is below guessing among the vocabulary's words.
        assert report["validation_loss"] < math.log(len(vocabulary) + 2)
    models = {d: keras.models.load_model(encoder / f"{d}.keras") for d in ("forward", "backward")}
    # One embedding for both directions: the backward model trained with the forward one's, frozen.
    np.testing.assert_array_equal(models["forward"].get_layer("embedding").get_weights()[0],
                                  models["backward"].get_layer("embedding").get_weights()[0])
    assert models["forward"].get_layer("rnn_0").get_config()["units"] == 8
    assert 0 <= metrics["test"]["accuracy"] <= 1


def test_a_run_starts_from_an_exported_encoder_and_a_rerun_reuses_its_own(pretrained, tmp_path, capsys):
    _, unlabeled, metrics = pretrained
    encoder = Path(metrics["export"]) / "assets.extra" / "encoder"
    capsys.readouterr()
    again = run_recipe(tmp_path, "--dataset", "offline", "--encoder", str(encoder))
    out = capsys.readouterr().out
    assert "pretraining the" not in out and "starts from the pretrained encoder: embedding, rnn_0 (forward)" in out
    assert again["pretraining"]["encoder"] == str(encoder)
    vocabulary = (Path(again["export"]) / "assets.extra" / "encoder" / "vocabulary.txt").read_text()
    assert (tmp_path / "run" / "vocabulary.txt").read_text() == vocabulary == (encoder / "vocabulary.txt").read_text()

    # The same pretraining flags in a run folder that holds their encoder: it is reused, not pretrained again.
    first, _ = pretrained[0], capsys.readouterr()
    run_recipe(first, *PRETRAIN, "--unlabeled", str(unlabeled))
    assert "pretraining the" not in capsys.readouterr().out


@pytest.mark.parametrize("fine_tuning", ["ulmfit", "plain"])
def test_ulmfit_fine_tuning_trains_the_head_alone_in_the_first_epoch(pretrained, tmp_path, fine_tuning):
    import tasks.layers  # noqa: F401  (registers the export's layers)

    encoder = Path(pretrained[2]["export"]) / "assets.extra" / "encoder"
    metrics = run_recipe(tmp_path, "--dataset", "offline", "--encoder", str(encoder), "--epochs", "1",
                         "--fine-tuning", fine_tuning)
    exported = keras.models.load_model(Path(metrics["export"]) / "assets.extra" / "model.keras")
    classifier = exported.get_layer("many_to_one")
    forward = keras.models.load_model(encoder / "forward.keras")
    kept = [np.array_equal(a, b) for a, b in zip(classifier.get_layer("embedding").get_weights() +
                                                 classifier.get_layer("rnn_0").forward_layer.get_weights(),
                                                 forward.get_layer("embedding").get_weights() +
                                                 forward.get_layer("rnn_0").get_weights())]
    # ulmfit: the encoder unfreezes from the second epoch on, so after one it is exactly as pretrained.
    assert kept == [fine_tuning == "ulmfit"] * len(kept)


def test_an_encoder_that_does_not_fit_is_one_error(pretrained, tmp_path, capsys):
    encoder = Path(pretrained[2]["export"]) / "assets.extra" / "encoder"
    base = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, "--dataset",
            "offline"]
    from tasks.sentiment.__main__ import main

    assert "does not fit this classifier: the forward language model has units=8 and the target units=16" in \
        user_error(main, [*base, "--encoder", str(encoder), "--units", "16"], capsys)
    assert "a bidirectional classifier needs the backward one too" in user_error(
        main, [*base, "--encoder", str(_forward_only(encoder, tmp_path))], capsys)
    assert "is not a pretrained encoder folder" in user_error(main, [*base, "--encoder", str(tmp_path)], capsys)
    assert "give one" in user_error(main, [*base, "--encoder", str(encoder), "--unlabeled", "x.txt"], capsys)
    assert not (tmp_path / "exports").exists()


def _forward_only(encoder, tmp_path):
    copy = tmp_path / "forward_only"
    shutil.copytree(encoder, copy)
    (copy / "backward.keras").unlink()
    return copy


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("", "has no text"),
    ("text\n\n  \n", "has no text"),
    (b"\x00\x01binary\x00", "is a binary file"),
    (b"caf\xe9 latin-1\n", "is not UTF-8 text"),
    (b"\x1f\x8bnot really gzip", "is a damaged gzip file"),
])
def test_a_bad_unlabeled_file_is_one_error_before_the_run_starts(tmp_path, capsys, content, message):
    from tasks.sentiment.__main__ import main

    path = tmp_path / "unlabeled.txt"
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    argv = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, "--dataset",
            "offline", "--unlabeled", str(path)]
    assert message in user_error(main, argv, capsys)
    assert not (tmp_path / "run").exists() and not (tmp_path / "exports").exists()


def test_language_model_windows_read_each_text_forward_or_reversed():
    import tensorflow as tf

    ids = tf.ragged.constant([[5, 6, 7], [8, 9], [10, 11, 12, 13]], dtype=tf.int32)
    train, validation, words = language_model_data(ids, reverse=True, length=2, batch_size=8, seed=0,
                                                   validation_fraction=0.25)
    windows = [(x.tolist(), y.tolist()) for x, y in train.unbatch().as_numpy_iterator()]
    held = [(x.tolist(), y.tolist()) for x, y in validation.unbatch().as_numpy_iterator()]
    # Reversed stream: 7 6 5 9 8 13 12 11 10; windows of two words and the two that follow each.
    assert sorted(windows + held) == [([5, 9], [9, 8]), ([7, 6], [6, 5]), ([8, 13], [13, 12]), ([12, 11], [11, 10])]
    assert held == [([12, 11], [11, 10])] and words == 6
    _, _, capped = language_model_data(ids, reverse=False, length=2, batch_size=8, seed=0, max_tokens=5)
    assert capped == 2  # 5 words (and the one after them) make two windows; one is held out


def test_language_model_batches_have_one_shape_each_so_each_model_traces_once():
    import tensorflow as tf

    ids = tf.ragged.constant([[5, 6, 7], [8, 9], [10, 11, 12, 13]], dtype=tf.int32)  # 9 words: 8 windows of 1
    train, validation, words = language_model_data(ids, reverse=False, length=1, batch_size=4, seed=0,
                                                   validation_fraction=0.25)
    # 6 training windows: one full batch of 4 (the short rest is left out this epoch); 2 held out, one batch.
    assert [tuple(x.shape) for x, _ in train] == [(4, 1)] and words == 4
    assert [tuple(x.shape) for x, _ in validation] == [(2, 1)]


def test_word_vectors_from_unlabeled_text_start_the_embedding(tmp_path, capsys):
    import zoo
    from tasks.sentiment.pretraining import start_embedding

    texts, _ = offline_reviews(300, seed=3)
    unlabeled = tmp_path / "unsup.txt"
    unlabeled.write_text("\n".join(texts) + "\n")
    metrics = run_recipe(tmp_path, "--dataset", "offline", "--unlabeled", str(unlabeled))  # word vectors: the default
    report = metrics["pretraining"]["word_vectors"]
    assert 0 < report["words_with_vectors"] <= report["vocabulary_size"] and report["words"] > 0
    assert "word vectors for" in capsys.readouterr().out
    assert not (Path(metrics["export"]) / "assets.extra" / "encoder").exists()  # no language models to carry
    assert 0 <= metrics["test"]["accuracy"] <= 1

    model = zoo.build("many_to_one", input="tokens", vocab_size=6, embedding_dim=3, units=4, num_outputs=1)
    before = model.get_layer("embedding").get_weights()[0]
    seen = np.array([False, False, True, True, False, True])
    start_embedding(model, {"vectors": np.full((6, 3), 7.0, np.float32), "seen": seen})
    after = model.get_layer("embedding").get_weights()[0]
    assert (after[seen] == 7.0).all() and (after[~seen] == before[~seen]).all()


def test_the_vocabulary_is_larger_when_word_vectors_start_the_embedding():
    from tasks.sentiment.__main__ import Config

    assert Config().vocab_size == 20000
    assert Config(unlabeled="unsup.txt").vocab_size == 40000  # rare words start from their use in the text
    assert Config(unlabeled="unsup.txt", pretrain="language-model").vocab_size == 20000  # its softmax's size
    assert Config(unlabeled="unsup.txt", vocab_size=5000).vocab_size == 5000  # a given size wins
