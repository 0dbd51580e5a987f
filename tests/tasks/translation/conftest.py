import pytest

from tasks.translation.__main__ import main

# A tiny config: seconds, not minutes. Plumbing and properties are under test, not translation quality.
TINY = ["--epochs", "2", "--units", "16", "--embedding-dim", "16", "--max-length", "12", "--bucket-step", "4",
        "--batch-size", "64", "--max-pairs", "1500", "--examples", "2", "--beam-width", "3"]



def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"),
                 "--cache-dir", str(tmp_path / "cache"), *TINY, *flags])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run on the offline set (the default when offline), shared by the tests that only read its outputs."""
    tmp_path = tmp_path_factory.mktemp("translation")
    return tmp_path, run_recipe(tmp_path)
