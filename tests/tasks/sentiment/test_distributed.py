"""`--strategy multi-worker` (two processes on loopback ports) and `--strategy mirrored` (two logical CPU devices)
against a one-device run of the same config. Every run is a real subprocess: logical devices and collectives can only
be set up before TensorFlow starts, which in this test process it already has."""

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tasks.common.local_cluster import start_workers

pytestmark = pytest.mark.xdist_group("sentiment_distributed")

# Tiny, but converging: the accuracy comparison needs runs that learn. --batch-size is per replica, so two replicas
# of 16 make the same global batch as one device with 32.
TINY = ["--units", "8", "--embedding-dim", "8", "--vocab-size", "300", "--max-length", "30", "--bucket-step", "10",
        "--dataset", "offline", "--learning-rate", "0.01"]
RECIPE = [sys.executable, "-m", "tasks.sentiment"]
EPOCHS = ["--epochs", "3", "--patience", "3"]
FINGERPRINT = re.compile(r"training finished on worker (\d+): weights fingerprint (\w+)")


def outputs(folder):
    return ["--run-dir", str(folder / "run"), "--export-dir", str(folder / "exports")]


def run(command, tmp, timeout=300):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=_env(tmp))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def run_workers(command, tmp, count=2, timeout=300):
    """Start the workers, wait for all; returns their stdouts (all must succeed)."""
    processes = start_workers(command, count, env=_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    results = [p.communicate(timeout=timeout) for p in processes]
    for process, (_, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr[-3000:]
    return [stdout for stdout, _ in results]


def _env(tmp):
    """A private TMPDIR, to see that the non-chief workers clean up what they wrote."""
    folder = tmp / "tmp"
    folder.mkdir(exist_ok=True)
    return {"TMPDIR": str(folder), "PYTHONUNBUFFERED": "1"}


def accuracy_of(folder):
    return json.loads((folder / "run" / "metrics.json").read_text())["test"]["accuracy"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same config three ways: two workers, two mirrored CPU replicas, one device with the same global batch."""
    tmp = tmp_path_factory.mktemp("distributed")
    workers = run_workers([*RECIPE, *TINY, *EPOCHS, "--batch-size", "16", "--strategy", "multi-worker",
                           *outputs(tmp / "workers")], tmp)
    mirrored = run([*RECIPE, *TINY, *EPOCHS, "--batch-size", "16", "--strategy", "mirrored", "--cpu-replicas", "2",
                    *outputs(tmp / "mirrored")], tmp)
    single = run([*RECIPE, *TINY, *EPOCHS, "--batch-size", "32", "--strategy", "one-device",
                  *outputs(tmp / "single")], tmp)
    return tmp, workers, mirrored, single


def test_two_workers_end_with_identical_weights_and_one_export(runs):
    tmp, workers, _, _ = runs
    fingerprints = [FINGERPRINT.search(out).groups() for out in workers]
    assert [index for index, _ in fingerprints] == ["0", "1"]
    assert fingerprints[0][1] == fingerprints[1][1]
    assert "worker 0 of 2 (chief); 2 replica(s)" in workers[0] and "worker 1 of 2;" in workers[1]
    # Only the chief evaluates and exports; the other worker wrote nowhere the user sees.
    assert "exported:" in workers[0] and "exported:" not in workers[1]
    assert sorted(p.name for p in (tmp / "workers" / "exports" / "sentiment").iterdir()) == ["1"]
    assert (tmp / "workers" / "exports" / "sentiment" / "1" / "saved_model.pb").exists()
    assert not (tmp / "workers" / "run" / "backup").exists()
    assert list((tmp / "tmp").glob("zoo-worker*")) == []


def test_mirrored_on_two_cpu_devices_trains_exactly_like_two_workers(runs):
    tmp, workers, mirrored, _ = runs
    # The same batches reach the same replicas and a sum of two gradients does not depend on the order.
    assert FINGERPRINT.search(mirrored).group(2) == FINGERPRINT.search(workers[0]).group(2)
    assert "strategy: mirrored, 2 replica(s)" in mirrored
    assert accuracy_of(tmp / "mirrored") == accuracy_of(tmp / "workers")


def test_distributed_accuracy_matches_one_device_with_the_same_global_batch(runs):
    tmp, _, _, single = runs
    assert "strategy: one-device" in single
    assert accuracy_of(tmp / "single") > 0.85
    assert abs(accuracy_of(tmp / "workers") - accuracy_of(tmp / "single")) < 0.05


def test_a_dead_worker_fails_the_job_clearly_and_a_restart_resumes(tmp_path):
    flags = [*TINY, "--batch-size", "16", "--strategy", "multi-worker", *outputs(tmp_path)]
    command = [*RECIPE, *flags, "--epochs", "200", "--patience", "200"]
    chief, other = start_workers(command, 2, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
    backup = tmp_path / "run" / "backup" / "state.npz"
    deadline = time.monotonic() + 240
    while not backup.exists() and time.monotonic() < deadline and chief.poll() is None:
        time.sleep(0.2)
    assert backup.exists(), chief.communicate(timeout=5)
    other.send_signal(signal.SIGKILL)
    _, stderr = chief.communicate(timeout=120)
    other.communicate(timeout=30)
    assert chief.returncode == 2
    assert "error: a worker of the multi-worker job stopped answering" in stderr
    assert "Traceback" not in stderr

    # The same command again (with few epochs left) resumes from the chief's backup on both workers.
    with np.load(backup) as saved:
        epoch = int(saved["epoch"])
    resumed = run_workers([*RECIPE, *flags, "--epochs", str(epoch + 1), "--patience", "200"], tmp_path)
    for out in resumed:
        assert f"resuming from the backup of epoch {epoch}" in out
        assert f"Epoch {epoch + 1}/{epoch + 1}" in out
    assert FINGERPRINT.search(resumed[0]).group(2) == FINGERPRINT.search(resumed[1]).group(2)
    assert not backup.exists()
    assert (tmp_path / "exports" / "sentiment" / "1" / "saved_model.pb").exists()
