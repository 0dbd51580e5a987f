"""--strategy and TF_CONFIG handling, the distributed loop in one process, its backup, and the loopback cluster."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.distribute import DistributionFlags, place
from tasks.common.distributed_loop import ChiefBackup, weights_fingerprint
from tasks.common.local_cluster import tf_configs
from tasks.common.training import count_batches, train_model
from tests.tasks.cli_errors import ROOT, command_line_error


def flags(strategy="auto", cpu_replicas=1):
    return DistributionFlags(strategy=strategy, cpu_replicas=cpu_replicas)


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ("[1, 2]", "TF_CONFIG must be a JSON object"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'needs a "cluster" and a "task"'),
    ('{"cluster": {"worker": ["a:1"], "ps": ["c:3"]}, "task": {"type": "worker", "index": 0}}', "ps jobs"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "is not in its cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "is not in its cluster"),
])
def test_multi_worker_names_what_is_wrong_with_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError, match=message):
        place(flags("multi-worker"))


def test_cpu_replicas_is_refused_outside_mirrored_and_must_be_positive():
    with pytest.raises(UserError, match="only applies to --strategy mirrored"):
        place(flags("one-device", cpu_replicas=2))
    with pytest.raises(UserError, match="must be positive"):
        place(flags("mirrored", cpu_replicas=0))


def test_auto_is_one_device_here_and_multi_worker_when_tf_config_names_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    placement = place(flags())
    assert (placement.kind, placement.replicas, placement.is_chief, placement.uses_fit) == ("one-device", 1, True,
                                                                                            True)
    with placement.scope():  # no strategy of its own: zoo.FusedAdam runs its one-kernel update there
        assert not tf.distribute.has_strategy()
    assert "local devices: /cpu:0" in placement.describe()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}}')  # no task: the multi-worker error
    with pytest.raises(UserError, match='needs a "cluster" and a "task"'):
        place(flags())


def test_the_recipe_command_line_reports_a_missing_tf_config_in_one_line():
    err = command_line_error("tasks.sentiment", ["--strategy", "multi-worker", "--dataset", "offline"], ROOT)
    assert err.startswith("error: --strategy multi-worker needs the TF_CONFIG environment variable")


def test_loopback_cluster_configs_give_each_worker_its_own_port_and_index():
    configs = [json.loads(c) for c in tf_configs(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("localhost:") for a in addresses)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


def test_count_batches_knows_or_counts():
    assert count_batches(tf.data.Dataset.range(10).batch(3)) == 4
    assert count_batches(tf.data.Dataset.range(10).filter(lambda x: x % 2 == 0).batch(2)) == 3


def test_backup_round_trip_is_whole_or_absent(tmp_path):
    backup = ChiefBackup(tmp_path / "backup")
    assert backup.load() is None
    variables = [tf.Variable(np.arange(6, dtype="float32").reshape(2, 3)), tf.Variable(np.int64(7))]
    backup.save(variables, epoch=3)
    arrays, epoch = backup.load()
    assert epoch == 3 and [a.tolist() for a in arrays] == [v.numpy().tolist() for v in variables]
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["state.npz"]  # no partial file left
    backup.remove()
    assert not (tmp_path / "backup").exists()


def tiny_run(placement, tmp_path, epochs):
    """A GRU classifier on a learnable toy task, trained with train_model under `placement`."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 30, size=(256, 12))
    labels = (ids[:, 0] > 15).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(32)
    validation = tf.data.Dataset.from_tensor_slices((ids[:64], labels[:64])).batch(32)
    with placement.scope():
        model = zoo.build("many_to_one", input="tokens", vocab_size=30, embedding_dim=8, cell="gru", units=8,
                          num_outputs=1)
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)])
    history = train_model(model, placement, train, validation_data=validation, epochs=epochs, run_dir=tmp_path,
                          patience=epochs, samples_per_epoch=256)
    return model, history


def test_the_loop_in_one_process_learns_and_reports_like_fit(tmp_path):
    """The distributed loop with one mirrored replica: a falling loss, fit()'s history keys, logs, no backup left."""
    model, history = tiny_run(place(flags("mirrored")), tmp_path, epochs=6)
    logs = history.history
    assert set(logs) >= {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "samples_per_second"}
    assert len(logs["loss"]) == 6 and logs["loss"][-1] < logs["loss"][0]
    assert not (tmp_path / "backup").exists()  # removed when training ends
    assert (tmp_path / "logs").exists()
    assert len(weights_fingerprint(model)) == 16


def test_a_backup_from_another_model_is_refused_not_loaded(tmp_path):
    ChiefBackup(tmp_path / "backup").save([tf.Variable(np.zeros((3, 3), "float32"))], epoch=2)
    with pytest.raises(UserError, match="was written by another model; delete it"):
        tiny_run(place(flags("mirrored")), tmp_path, epochs=3)


def test_local_cluster_runs_one_prefixed_process_per_worker_and_passes_on_a_failure():
    show_task = "import json, os, sys; task = json.loads(os.environ['TF_CONFIG'])['task']; print(task['index']); " \
                "sys.exit(3 * task['index'])"
    result = subprocess.run([sys.executable, "-m", "tasks.common.local_cluster", "--workers", "2", "--",
                             sys.executable, "-c", show_task], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert sorted(result.stdout.splitlines()) == ["[worker 0] 0", "[worker 1] 1"]
    assert result.returncode == 3
    err = command_line_error("tasks.common.local_cluster", ["--", "no-such-program"], ROOT)
    assert err.strip() == "error: cannot start 'no-such-program': No such file or directory"


def test_bad_thread_and_step_counts_are_one_clear_error():
    with pytest.raises(UserError, match="--intra-op-threads and --inter-op-threads must be 0 or more"):
        place(DistributionFlags(strategy="one-device", intra_op_threads=-1))
    with pytest.raises(UserError, match=r"--steps-per-execution must be positive \(got 0\)"):
        place(DistributionFlags(strategy="one-device", steps_per_execution=0))
