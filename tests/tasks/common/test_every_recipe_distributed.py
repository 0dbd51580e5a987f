"""Every recipe trains under `--strategy mirrored` on two logical CPU devices and exports like a one-device run.
Subprocesses: logical devices can only be made before TensorFlow starts. (Two workers: tests/tasks/sentiment.)"""

import subprocess
import sys

import pytest

from tests.tasks.cli_errors import ROOT

MIRRORED = ["--strategy", "mirrored", "--cpu-replicas", "2"]
# (module, export name, tiny flags): they check the strategy and the export, not what is learned, so each trains on
# little (translation 400 pairs, generation 64 windows a batch: 80 steps an epoch where 16 made 320).
RECIPES = [
    ("tasks.translation", "translation", ["--epochs", "2", "--units", "16", "--embedding-dim", "16", "--max-length",
                                          "12", "--bucket-step", "4", "--batch-size", "32", "--max-pairs", "400",
                                          "--examples", "2", "--beam-width", "3", "--dataset", "offline"]),
    ("tasks.video_frames", "video_frames", ["--epochs", "2", "--units", "8", "--filters", "4", "--train-clips", "120",
                                            "--eval-clips", "24", "--max-frames", "20", "--frame-size", "16",
                                            "--batch-size", "8"]),
    ("tasks.forecasting", "forecasting", ["--epochs", "2", "--units", "8", "--lookback", "14", "--batch-size", "64",
                                          "--dataset", "generated"]),
    ("tasks.generation", "generation", ["--epochs", "2", "--units", "16", "--num-layers", "1", "--embedding-dim",
                                        "8", "--bptt", "20", "--no-tbptt", "--no-xla", "--batch-size", "64",
                                        "--samples", "20", "--dataset", "generated"]),
    ("tasks.names", "names", ["--task", "generate", "--epochs", "2", "--units", "16", "--embedding-dim", "8",
                              "--batch-size", "16", "--dataset", "generated"]),
    ("tasks.names", "classify_names", ["--task", "classify", "--epochs", "2", "--units", "16", "--embedding-dim", "8",
                                       "--batch-size", "16", "--dataset", "generated"]),
]


@pytest.mark.parametrize("module, name, flags", RECIPES, ids=[name for _, name, _ in RECIPES])
def test_recipe_trains_on_two_mirrored_replicas_and_exports(tmp_path, module, name, flags):
    result = subprocess.run([sys.executable, "-m", module, *flags, *MIRRORED, "--run-dir", str(tmp_path / "run"),
                             "--export-dir", str(tmp_path / "exports")], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "strategy: mirrored, 2 replica(s)" in result.stdout
    assert "steps per epoch of 2 batches" in result.stdout
    assert "training finished on worker 0: weights fingerprint" in result.stdout
    assert (tmp_path / "exports" / name / "1" / "saved_model.pb").exists()
    assert (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "backup").exists()


def test_truncated_bptt_is_refused_on_several_devices_with_the_way_out():
    result = subprocess.run([sys.executable, "-m", "tasks.generation", "--dataset", "generated", *MIRRORED],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --tbptt keeps each stream's recurrent state")
    assert "--no-tbptt" in result.stderr
