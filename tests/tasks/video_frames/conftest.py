import imageio.v3 as iio
import numpy as np
import pytest

from tasks.video_frames.__main__ import main
from tasks.video_frames.synthetic import FRAME_CLASSES, generate_clips

# A tiny config: seconds, not minutes. Plumbing and properties are under test, not accuracy.
TINY = ["--epochs", "2", "--units", "8", "--filters", "4", "--train-clips", "120", "--eval-clips", "24",
        "--max-frames", "20", "--frame-size", "16", "--batch-size", "16"]


def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, *flags])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("video")
    return tmp_path, run_recipe(tmp_path)


def write_video_folder(folder, count=8, per_frame=True, size=16):
    """Real GIF files of generated clips and a labels.csv, as a user would bring them."""
    folder.mkdir(parents=True, exist_ok=True)
    clips, labels, lengths, clip_labels = generate_clips(count, seed=11, size=size, min_frames=6, max_frames=10)
    rows = ["file,frame,label" if per_frame else "file,label"]
    for i, (clip, label, length) in enumerate(zip(clips, labels, lengths)):
        name = f"clip{i}.gif"
        iio.imwrite(folder / name, clip[:length], extension=".gif", loop=0)
        if per_frame:
            rows += [f"{name},{t},{FRAME_CLASSES[label[t]]}" for t in range(length)]
        else:
            rows.append(f"{name},{FRAME_CLASSES[clip_labels[i]]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder, np.array([c[:n] for c, n in zip(clips, lengths)], dtype=object)
