"""End to end: `python -m tasks.video_frames` trains, evaluates, exports; the export on uint8 and float frames and
on clips of different lengths; predict on a real video file; evaluate; bad input."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo  # noqa: F401  (registers the zoo's layers for load_model)
from tasks.common.cli import UserError
from tasks.video_frames.__main__ import main
from tasks.video_frames.synthetic import generate_clips
from tests.tasks.cli_errors import command_line_error, user_error
from tests.tasks.conftest import SHARES_TRAINED_RUNS
from tests.tasks.video_frames.conftest import TINY, run_recipe, write_video_folder

pytestmark = SHARES_TRAINED_RUNS


def test_run_writes_metrics_plots_and_a_versioned_export(trained):
    tmp_path, metrics = trained
    export = Path(metrics["export"])
    assert export == tmp_path / "exports" / "video_frames" / "1"
    for name in ("model.keras", "classes.txt", "config.json", "metrics.json", "versions.json", "training_curves.png",
                 "confusion_matrix.png", "accuracy_by_position.png", "test_clip.png"):
        assert (export / "assets.extra" / name).exists(), name
    test = json.loads((export / "assets.extra" / "metrics.json").read_text())["test"]
    assert test["clips"] == 24 and len(test["accuracy_by_position"]) == 20
    assert 0 <= test["first_3_frames_accuracy"] <= 1 and np.sum(test["confusion_matrix"]) == test["frames"]
    recall = test["recall_by_class"]  # per frame, like the confusion matrix
    assert test["balanced_accuracy"] == pytest.approx(np.mean(list(recall.values())))
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]


def test_export_gives_the_same_answer_for_uint8_and_float_and_for_any_clip_length(trained):
    _, metrics = trained
    export = Path(metrics["export"])
    loaded = tf.saved_model.load(str(export))
    clips, _, lengths, _ = generate_clips(3, seed=99, size=16, min_frames=5, max_frames=9)
    as_uint8 = loaded.signatures["serving_uint8"](frames=tf.constant(clips))
    as_float = loaded.signatures["serving_default"](frames=tf.constant(clips / np.float32(255)))
    np.testing.assert_allclose(as_uint8["probabilities"], as_float["probabilities"], atol=1e-6)
    assert as_uint8["probabilities"].shape == (3, 9, 4)
    np.testing.assert_allclose(as_uint8["probabilities"].numpy().sum(-1), 1, atol=1e-5)
    # Each clip alone at its own length gives what it got inside the zero-padded batch.
    for clip, length, batched in zip(clips, lengths, as_uint8["probabilities"].numpy()):
        alone = loaded.signatures["serving_uint8"](frames=tf.constant(clip[None, :length]))["probabilities"]
        np.testing.assert_allclose(alone[0], batched[:length], atol=1e-5)
    # The same numbers from the .keras model (frames already at the training size: no resize).
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    expected = tf.nn.softmax(model(clips / np.float32(255)), axis=-1)
    np.testing.assert_allclose(as_float["probabilities"], expected, atol=1e-5)
    # A larger frame size is resized in the graph.
    big = np.repeat(np.repeat(clips, 2, axis=2), 2, axis=3)
    assert loaded.signatures["serving_uint8"](frames=tf.constant(big))["labels"].shape == (3, 9)


def test_predict_a_real_video_file_and_evaluate_a_folder(trained, tmp_path, capsys):
    _, metrics = trained
    folder, videos = write_video_folder(tmp_path / "videos", count=4)
    labels = main(["predict", "--model", metrics["export"], str(folder / "clip0.gif"), str(folder / "clip1.gif")])
    assert [len(x) for x in labels] == [len(videos[0]), len(videos[1])]
    assert capsys.readouterr().out.count("clip") == 2
    result = main(["evaluate", "--model", str(Path(metrics["export"]).parent), "--data", str(folder)])
    assert result["clips"] == 4 and 0 <= result["frame_accuracy"] <= 1


def test_clip_target_trains_a_many_to_one_model(tmp_path):
    metrics = run_recipe(tmp_path, "--target", "clip", "--epochs", "1", "--no-bidirectional", "--cell", "lstm")
    assert metrics["target"] == "clip" and 0 <= metrics["test"]["clip_accuracy"] <= 1
    out = tf.saved_model.load(metrics["export"]).signatures["serving_uint8"](
        frames=tf.constant(generate_clips(2, seed=5, size=16, min_frames=4, max_frames=6)[0]))
    assert out["probabilities"].shape == (2, 4) and out["labels"].shape == (2,)


def run_error(argv, capsys):
    return user_error(main, argv, capsys)


def test_bad_videos_and_clips_get_one_clear_error(trained, tmp_path, capsys):
    _, metrics = trained
    (tmp_path / "notes.mp4").write_text("this is not a video")
    assert "could not be read as a video" in run_error(["predict", "--model", metrics["export"],
                                                         str(tmp_path / "notes.mp4")], capsys)
    from tasks.video_frames.serving import classify_clips, load_export

    signature, _ = load_export(metrics["export"])
    with pytest.raises(UserError, match="has 1 channels per frame; this model takes 3"):
        classify_clips(signature, np.zeros((1, 4, 16, 16, 1), np.uint8))
    with pytest.raises(UserError, match="zero frames"):
        classify_clips(signature, np.zeros((1, 0, 16, 16, 3), np.uint8))
    assert "must be a folder holding the videos and a labels.csv" in run_error(
        ["--data", str(tmp_path), "--run-dir", str(tmp_path / "run"), *TINY], capsys)
    assert "is not a SavedModel folder" in run_error(["predict", "--model", str(tmp_path), "x.gif"], capsys)


@pytest.mark.parametrize("argv,message", [
    (["--target", "pixels"], "invalid choice: 'pixels'"),
    (["--frame-size", "30"], "--frame-size must be a multiple of 4"),
    (["--filters", "16,x"], "--filters must be positive integers"),
    (["predict", "--model", "m"], "the following arguments are required: videos"),
])
def test_bad_flags_get_one_line(argv, message, capsys):
    assert message in run_error(argv, capsys)


def test_command_line_error_has_no_traceback(tmp_path):
    assert "must be a folder" in command_line_error(
        "tasks.video_frames", ["--data", str(tmp_path / "missing")], tmp_path)


def test_ucf101_clip_labels_through_tensorflow_datasets(tmp_path, capsys):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):  # random clips in UCF101's real format; nothing is downloaded
        metrics = run_recipe(tmp_path, "--dataset", "ucf101", "--target", "clip", "--train-clips", "6",
                             "--eval-clips", "3", "--epochs", "1", "--max-frames", "8")
        assert metrics["data"].startswith("ucf101") and len(metrics["classes"]) == 101
        assert metrics["test"]["clips"] == 3
        capsys.readouterr()
        assert "--dataset ucf101 has clip labels only" in run_error(
            ["--dataset", "ucf101", "--run-dir", str(tmp_path / "other"), *TINY], capsys)
