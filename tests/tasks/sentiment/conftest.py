import pytest

from tasks.sentiment.__main__ import main

# A tiny config: seconds, not minutes. Shapes and plumbing are what is under test, not accuracy.
TINY = ["--epochs", "2", "--units", "8", "--embedding-dim", "8", "--vocab-size", "300", "--max-length", "30",
        "--bucket-step", "10", "--batch-size", "32"]


def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"),
                 "--tfds-dir", str(tmp_path / "tfds"), *TINY, *flags])


@pytest.fixture
def trained(sentiment_run):
    """The offline-data run shared by the tests that only read its outputs (tests/tasks/conftest.py)."""
    return sentiment_run
