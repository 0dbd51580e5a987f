"""Every recipe trains under `--strategy mirrored` on two logical CPU devices and exports like a one-device run.
In a subprocess, since logical devices can only be made before TensorFlow starts: one for all the recipes, run in
turn (`run_recipes_in_turn`), so TensorFlow starts once (128 s for the six where six processes took 200 s), and
so that several mirrored runs in one process are checked too, as a notebook makes them (each run's strategy takes
collective keys of its own). (Two workers: tests/tasks/sentiment.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tasks.cli_errors import ROOT

pytestmark = pytest.mark.xdist_group("mirrored_recipes")  # the module's one subprocess runs on one worker

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
    # Adversarial training's step under a strategy, and a validation that reports only what its test_step does
    ("tasks.sentiment", "sentiment", ["--epochs", "2", "--units", "8", "--embedding-dim", "8", "--vocab-size", "300",
                                      "--max-length", "30", "--batch-size", "32", "--ngrams", "0", "--no-char-ngrams",
                                      "--adversarial", "1", "--dataset", "offline"]),
    ("tasks.names", "classify_names", ["--task", "classify", "--epochs", "2", "--units", "16", "--embedding-dim", "8",
                                       "--batch-size", "16", "--dataset", "generated"]),
]


# A run that must be refused, in the same process: truncated BPTT keeps a state per stream that replicas cannot share.
REFUSED = ("tasks.generation", "refused_tbptt", ["--dataset", "generated"])


@pytest.fixture(scope="module")
def mirrored_runs(tmp_path_factory):
    """{name: (its folder, its entry in the plan, the process's stderr)} for every recipe above and the refused run,
    one subprocess."""
    tmp = tmp_path_factory.mktemp("mirrored")
    plan = [{"module": module, "name": name, "stdout": str(tmp / f"{name}.out"), "stderr": str(tmp / f"{name}.err"),
             "argv": [*flags, *MIRRORED, "--run-dir", str(tmp / name / "run"),
                      "--export-dir", str(tmp / name / "exports")]}
            for module, name, flags in [*RECIPES, REFUSED]]
    (tmp / "plan.json").write_text(json.dumps(plan))
    result = subprocess.run([sys.executable, "-m", "tests.tasks.common.run_recipes_in_turn", str(tmp / "plan.json")],
                            capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return {run["name"]: (tmp / run["name"], run, result.stderr) for run in json.loads((tmp / "plan.json").read_text())}


@pytest.mark.parametrize("name", [name for _, name, _ in RECIPES])
def test_recipe_trains_on_two_mirrored_replicas_and_exports(mirrored_runs, name):
    folder, run, stderr = mirrored_runs[name]
    assert run["returncode"] == 0, run.get("traceback") or stderr[-3000:]
    stdout = Path(run["stdout"]).read_text()
    assert "strategy: mirrored, 2 replica(s)" in stdout
    assert "steps per epoch of 2 batches" in stdout
    assert "training finished on worker 0: weights fingerprint" in stdout
    assert (folder / "exports" / name / "1" / "saved_model.pb").exists()
    assert (folder / "run" / "metrics.json").exists()
    assert not (folder / "run" / "backup").exists()


def test_adversarial_training_reports_its_loss_in_training_alone(mirrored_runs):
    folder, run, _ = mirrored_runs["sentiment"]
    epochs = [line for line in Path(run["stdout"]).read_text().splitlines() if "val_loss" in line]
    assert len(epochs) == 2 and all(" adversarial_loss" in line and "val_adversarial" not in line for line in epochs)


def test_truncated_bptt_is_refused_on_several_devices_with_the_way_out(mirrored_runs):
    folder, run, _ = mirrored_runs[REFUSED[1]]
    stderr = Path(run["stderr"]).read_text()
    assert run["returncode"] == 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("error: --tbptt keeps each stream's recurrent state")
    assert "--no-tbptt" in stderr and not (folder / "exports").exists()
