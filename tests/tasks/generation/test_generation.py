"""Text generation: stream layout for truncated BPTT, state carried across chunks, the recipe end to end in both
training modes, the exported generate signature against a plain Python loop, and every bad-input error."""

import json
from pathlib import Path
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.generation.__main__ import Config, build_model, copy_weights, main
from tasks.generation.data import encode, read_texts_of, tbptt_batches, vocabulary, window_batches
from tests.tasks.cli_errors import user_error
from tests.tasks.conftest import SHARES_TRAINED_RUNS
from tests.tasks.generation.conftest import TINY, run_recipe
from zoo import lstm_loop

pytestmark = SHARES_TRAINED_RUNS


def test_tbptt_batches_continue_each_stream_from_one_batch_to_the_next():
    ids = np.arange(1, 202, dtype=np.int32)  # 201 "characters"
    batches = list(tbptt_batches(ids, batch_size=4, bptt=10))
    assert len(batches) == 5 and batches[0][0].shape == (4, 10)
    stream_0 = np.concatenate([x[0] for x, _ in batches])
    np.testing.assert_array_equal(stream_0, np.arange(1, 51))  # row 0 reads the first quarter, in order
    np.testing.assert_array_equal(batches[1][0][2], np.arange(111, 121))  # row 2 starts at 101
    for x, y in batches:
        np.testing.assert_array_equal(y, x + 1)  # the target is the next character
    windows = list(window_batches(ids, batch_size=4, bptt=10, seed=0))
    assert len(windows) == 5 and all(np.array_equal(y, x + 1) for x, y in windows)


def test_a_folder_of_books_reads_as_one_text_in_name_order(tmp_path):
    (tmp_path / "b.txt").write_text("Second book.\n")
    (tmp_path / "a.txt").write_text("\nFirst book.\n\n")
    (tmp_path / "notes.md").write_text("not a book")
    assert read_texts_of(tmp_path) == ("First book.\n\nSecond book.\n", f"2 .txt files in {tmp_path}")


def test_vocabulary_and_unknown_characters():
    chars = vocabulary("abca")
    assert chars == ["a", "b", "c"] and encode("abz", chars).tolist() == [2, 3, 1]


def test_state_carried_across_chunks_equals_reading_the_stream_whole():
    cfg = Config(units=8, num_layers=2, embedding_dim=4)
    stateful = build_model(cfg, 12, stateful=True, batch_size=3)
    whole = build_model(cfg, 12, stateful=False)
    copy_weights(stateful, whole)
    ids = np.random.default_rng(0).integers(2, 12, size=3 * 30 + 1).astype(np.int32)
    zoo.reset_states(stateful)
    chunked = np.concatenate([stateful(x).numpy() for x, _ in tbptt_batches(ids, 3, 10)], axis=1)
    streams = ids[:-1].reshape(3, 30)
    np.testing.assert_allclose(chunked, whole(streams).numpy(), atol=1e-5)


def test_run_writes_metrics_samples_and_an_export(generation_run):
    tmp_path, metrics = generation_run
    export = Path(metrics["export"])
    for name in ("model.keras", "vocabulary.json", "config.json", "metrics.json", "training_curves.png"):
        assert (export / "assets.extra" / name).exists(), name
    assert metrics["tbptt"] is True and metrics["offline_data"] is True
    assert metrics["validation"]["bits_per_char"] == pytest.approx(metrics["validation"]["nats_per_char"] / np.log(2))
    assert set(metrics["samples"]) == {"0.0", "0.5", "0.8", "1.0"}
    assert all(len(s) == 40 for s in metrics["samples"].values())
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]


def test_truncated_bptt_trains_on_the_zoo_lstm_loop_and_keras_loop_on_request(tmp_path):
    for flags, loop_trains in (([], True), (["--no-fused-lstm"], False)):
        with mock.patch.object(lstm_loop, "run", wraps=lstm_loop.run) as loop:
            metrics = run_recipe(tmp_path / str(loop_trains), "--epochs", "1", *flags)
        assert any(call.args[3] for call in loop.call_args_list) == loop_trains  # a call with training=True
        assert np.isfinite(metrics["validation"]["nats_per_char"])


def test_export_generates_greedily_like_a_python_loop_and_samples_at_temperature(generation_run):
    _, metrics = generation_run
    export = Path(metrics["export"])
    generate = tf.saved_model.load(str(export)).signatures["serving_default"]
    prompts = ["KING:\n", "", "zz\u00e9 unknown"]
    out = generate(prompt=tf.constant(prompts), length=tf.constant([12, 5, 0]),
                   temperature=tf.constant([0.0, 0.0, 0.0]))
    continuations = [c.decode() for c in out["continuation"].numpy()]
    assert [len(c) for c in continuations] == [12, 5, 0]
    assert out["text"].numpy()[0].decode() == prompts[0] + continuations[0]
    again = generate(prompt=tf.constant(prompts), length=tf.constant([12, 5, 0]),
                     temperature=tf.constant([0.0, 0.0, 0.0]))["continuation"]
    assert [c.decode() for c in again.numpy()] == continuations  # temperature 0 is deterministic

    # The same greedy continuation from the .keras model (text in: its tokenizer is inside), re-reading the whole
    # text at every step; it reads characters with the ids the network was trained on.
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    chars = json.loads((export / "assets.extra" / "vocabulary.json").read_text())
    text = prompts[0]
    for _ in range(12):
        logits = model(tf.constant([text]))[0, -1].numpy()
        np.testing.assert_allclose(logits, model.get_layer("many_to_many")(encode(text, chars)[None])[0, -1], atol=1e-5)
        text += (["", "[UNK]"] + chars)[int(np.argmax(logits))]
    assert text[len(prompts[0]):] == continuations[0]

    hot = generate(prompt=tf.constant(["K"] * 4), length=tf.constant([30] * 4), temperature=tf.constant([1.5] * 4))
    assert len({c for c in hot["continuation"].numpy()}) > 1  # sampling, not argmax


def test_independent_windows_mode_and_the_sample_command(tmp_path, capsys, generation_run):
    metrics = run_recipe(tmp_path, "--no-tbptt", "--epochs", "1")
    assert metrics["tbptt"] is False and metrics["validation"]["nats_per_char"] > 0
    capsys.readouterr()
    text = main(["sample", "--model", generation_run[1]["export"], "QUEEN:", "--length", "25", "--temperature", "0"])
    assert text.startswith("QUEEN:") and len(text) == len("QUEEN:") + 25


def run_error(argv, capsys):
    return user_error(main, argv, capsys)


def test_a_short_text_is_refused_with_values_that_fit_it_and_they_train(tmp_path, capsys):
    short = tmp_path / "poem.txt"
    short.write_text("Shall I compare thee to a summer's day?\nThou art more lovely and more temperate.\n" * 6)
    error = run_error(["--data", str(short), *TINY, "--bptt", "100"], capsys)
    suggested = error.split("such as ")[1].rstrip(".").split()
    assert suggested[0] == "--batch-size" and "--bptt" in suggested  # 100 characters do not fit the held-out tail
    metrics = run_recipe(tmp_path, "--data", str(short), "--epochs", "1", *suggested)
    assert np.isfinite(metrics["validation"]["nats_per_char"])


def test_bad_input_gets_one_clear_error(tmp_path, capsys, generation_run):
    (tmp_path / "empty.txt").write_text("")
    assert "is empty; it needs text to learn from" in run_error(["--data", str(tmp_path / "empty.txt"), *TINY], capsys)
    (tmp_path / "books").mkdir()
    assert "is a folder with no .txt files" in run_error(["--data", str(tmp_path / "books"), *TINY], capsys)
    (tmp_path / "short.txt").write_text("To be or not to be.")
    assert "too short for --batch-size 64 streams of --bptt 20" in run_error(
        ["--data", str(tmp_path / "short.txt"), "--run-dir", str(tmp_path / "run"), *TINY], capsys)
    assert "--dataset shakespeare needs a network connection" in run_error(
        ["--dataset", "shakespeare", "--run-dir", str(tmp_path / "run2")], capsys)
    assert "--bptt must be positive" in run_error(["--bptt", "0"], capsys)
    export = generation_run[1]["export"]
    assert "must not be negative" in run_error(["sample", "--model", export, "--length", "-1"], capsys)
    undecodable = b"\xffROMEO".decode("utf-8", "surrogateescape")  # as sys.argv holds bytes that are not UTF-8
    assert "the prompt is not UTF-8 text" in run_error(["sample", "--model", export, undecodable], capsys)
    assert not (tmp_path / "exports").exists()
