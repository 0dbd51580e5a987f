import pytest

from tasks.translation.__main__ import main

# A tiny config: seconds, not minutes. Plumbing and properties are under test, not translation quality.
TINY = ["--epochs", "2", "--units", "16", "--embedding-dim", "16", "--max-length", "12", "--bucket-step", "4",
        "--batch-size", "64", "--max-pairs", "1500", "--examples", "2", "--beam-width", "3"]


def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"),
                 "--cache-dir", str(tmp_path / "cache"), *TINY, *flags])


@pytest.fixture
def trained(translation_run):
    """The offline-set run shared by the tests that only read its outputs (tests/tasks/conftest.py)."""
    return translation_run
