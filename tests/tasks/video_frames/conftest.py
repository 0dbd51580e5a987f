import pytest

from tasks.video_frames.__main__ import main
from tasks.video_frames.synthetic import write_video_folder  # noqa: F401  (the tests' video files)

# A tiny config: seconds, not minutes. Plumbing and properties are under test, not accuracy.
TINY = ["--epochs", "2", "--units", "8", "--filters", "4", "--train-clips", "120", "--eval-clips", "24",
        "--max-frames", "20", "--frame-size", "16", "--batch-size", "16"]


def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, *flags])


@pytest.fixture
def trained(video_frames_run):
    """The generated-clips run shared by the tests that only read its outputs (tests/tasks/conftest.py)."""
    return video_frames_run
