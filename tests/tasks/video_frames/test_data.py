"""Reading real videos and label files, and the tf.data pipeline (eagerly and inside Dataset.map)."""

import types

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.video_frames.data import (
    ClipSet,
    make_dataset,
    pad_clips,
    read_labelled_videos,
    read_labels_csv,
    read_video,
    scale,
)
from tests.tasks.video_frames.conftest import write_video_folder


def test_read_video_decodes_resizes_and_subsamples(tmp_path):
    frames = np.random.default_rng(0).integers(1, 255, size=(12, 20, 24, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "clip.gif", frames, extension=".gif")
    video = read_video(tmp_path / "clip.gif", frame_size=16, max_frames=5)
    assert video.shape == (5, 16, 16, 3) and video.dtype == np.uint8
    assert read_video(tmp_path / "clip.gif").shape == (12, 20, 24, 3)


def test_grey_video_becomes_rgb(tmp_path):
    grey = np.stack([np.full((8, 8), v, np.uint8) for v in (50, 100, 150)])  # [t, h, w]: no channel axis
    iio.imwrite(tmp_path / "grey.gif", grey, extension=".gif")
    assert read_video(tmp_path / "grey.gif").shape == (3, 8, 8, 3)


@pytest.mark.parametrize("shape", [(6, 10, 3), (6, 10, 4), (6, 10)])  # RGB, RGBA, grey
def test_a_still_image_is_a_one_frame_clip(tmp_path, shape):
    """Not a grey video of 6 frames 10 pixels by 3 (the image's rows read as frames)."""
    image = np.random.default_rng(0).integers(0, 255, size=shape, dtype=np.uint8)
    iio.imwrite(tmp_path / "still.png", image)
    video = read_video(tmp_path / "still.png")
    assert video.shape == (1, 6, 10, 3)
    np.testing.assert_array_equal(video[0], image[..., :3] if len(shape) == 3 else np.repeat(image[..., None], 3, -1))


@pytest.mark.parametrize("make,message", [
    (lambda p: p, "does not exist"),
    (lambda p: (p.write_text("not a video at all"), p)[1], "could not be read as a video"),
])
def test_bad_video_files(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        read_video(make(tmp_path / "clip.mp4"))


def test_a_labels_file_separated_by_semicolons_reads_as_with_commas(tmp_path):
    (tmp_path / "labels.csv").write_text("file;frame;label\r\nx.gif;0;a\r\nx.gif;1;b\r\n\r\n")
    assert read_labels_csv(tmp_path / "labels.csv", "frames") == {"x.gif": {0: "a", 1: "b"}}


def test_labelled_folder_with_per_frame_and_clip_labels(tmp_path):
    folder, videos = write_video_folder(tmp_path / "frames", count=4)
    clips, classes = read_labelled_videos(folder, target="frames", frame_size=16, max_frames=12)
    assert clips.clips.shape == (4, 12, 16, 16, 3) and clips.labels.shape == (4, 12)
    assert list(clips.lengths) == [len(v) for v in videos]
    folder, _ = write_video_folder(tmp_path / "clips", count=4, per_frame=False)
    clips, _ = read_labelled_videos(folder, target="clip", frame_size=16, max_frames=12)
    assert clips.labels.shape == (4,)
    with pytest.raises(UserError, match="that the model does not know"):
        read_labelled_videos(folder, target="clip", frame_size=16, max_frames=12, classes=("a", "b"))


@pytest.mark.parametrize("content,message", [
    ("name,label\nx.gif,a\n", "needs a header with the columns file, frame, label"),
    ("file,frame,label\nx.gif,first,a\n", "is not a frame number"),
    ("file,frame,label\nx.gif,0,a\nx.gif,1\n", "line 3 has no label; every row needs file, frame, label"),
    ("file,frame,label\n,0,a\n", "line 2 has no file; every row needs"),
])
def test_bad_label_files(tmp_path, content, message):
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(UserError, match=message):
        read_labels_csv(tmp_path / "labels.csv", "frames")


def test_a_few_unusable_videos_are_left_out_and_named_and_many_are_one_error(tmp_path, capsys):
    folder, videos = write_video_folder(tmp_path, count=20)
    (folder / "clip3.gif").write_bytes(b"GIF89a, cut short")
    (folder / "clip7.gif").unlink()
    clips, _ = read_labelled_videos(folder, target="frames", frame_size=16, max_frames=12)
    kept = [i for i in range(20) if i not in (3, 7)]
    assert list(clips.lengths) == [len(videos[i]) for i in sorted(kept, key=lambda i: f"clip{i}.gif")]
    line = capsys.readouterr().out
    assert "left out: 2 of 20 videos that cannot be used" in line
    assert "clip3.gif could not be read as a video" in line and "clip7.gif does not exist" in line
    (folder / "clip5.gif").write_text("not a video")  # 3 of 20: more than a tenth
    with pytest.raises(UserError, match="3 of the 20 videos in .* cannot be used, more than a tenth"):
        read_labelled_videos(folder, target="frames", frame_size=16, max_frames=12)


def test_missing_frame_label_is_named(tmp_path):
    folder, _ = write_video_folder(tmp_path, count=2)
    rows = (folder / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text("\n".join(r for r in rows if not r.startswith("clip0.gif,2,")) + "\n")
    with pytest.raises(UserError, match="no label for frame 2 of clip0.gif"):
        read_labelled_videos(folder, target="frames", frame_size=16, max_frames=12)


def test_scale_eagerly_and_in_tf_data_keeps_padding_zero():
    clips = pad_clips([np.full((2, 4, 4, 3), 255, np.uint8), np.full((3, 4, 4, 3), 51, np.uint8)], [0, 1], 4)
    eager = scale(clips.clips).numpy()
    mapped = np.stack(list(tf.data.Dataset.from_tensor_slices(clips.clips).map(scale).as_numpy_iterator()))
    np.testing.assert_array_equal(eager, mapped)
    assert eager[0, :2].min() == 1.0 and not eager[0, 2:].any() and np.allclose(eager[1, :3], 0.2)
    cfg = types.SimpleNamespace(seed=0, batch_size=2, autotune=False)
    (x, y), = list(make_dataset(ClipSet(clips.clips, clips.labels, clips.lengths), cfg, training=False))
    assert x.shape == (2, 4, 4, 4, 3) and x.dtype == tf.float32 and y.numpy().tolist() == [0, 1]
