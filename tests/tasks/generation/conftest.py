from tasks.generation.__main__ import main

# A tiny config: seconds, not minutes. Plumbing and properties are under test, not text quality.
TINY = ["--epochs", "2", "--units", "16", "--num-layers", "1", "--embedding-dim", "8", "--bptt", "20",
        "--batch-size", "64", "--samples", "40", "--dataset", "generated"]


def run_recipe(tmp_path, *flags):
    """Train, evaluate and export into `tmp_path`; returns the metrics dict (with the export path)."""
    return main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, *flags])
