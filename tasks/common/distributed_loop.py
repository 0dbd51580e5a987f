"""The training loop for mirrored and multi-worker runs, with fit()'s behaviour: the compiled loss and metrics, Keras
callbacks (progress, early stopping, resume, TensorBoard, timing) and a History.

Keras 3's `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so this loop drives the model's own
`train_step` / `test_step` with `strategy.run`. Keras already scales each replica's loss by 1 / replicas and the
optimizer sums the gradients across replicas, which is `tf.nn.compute_average_loss` over the global batch.

How the data is split, and why every worker runs the same number of steps (a worker that stops early would leave the
others waiting in an all-reduce forever):
- the training batches are counted once (the same count on every worker: same data, same seed); an epoch is
  `batches // replicas` steps;
- each worker reads the repeated batch stream and keeps every `workers`-th batch (`shard`), so a step sees
  `replicas` different batches, and the global batch is `--batch-size x replicas`. Every worker thus runs the whole
  input pipeline and drops the others' share: simple and deterministic, and cheap next to the recurrent model for
  these recipes' pipelines (tokenizing, bucketing, in-memory arrays);
- validation is not split: every replica scores the whole validation set and the metrics are summed across replicas,
  which leaves means unchanged. It costs one validation pass per replica, in parallel, and makes every worker's
  early-stopping decision identical.
"""

import hashlib
import os
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.common.training import count_batches

# Errors that mean a peer went away (killed, crashed, network down) while a collective waited on it.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
               tf.errors.AbortedError)


class WorkerLost(UserError):
    """Another worker of a multi-worker job stopped answering."""


def distributed_fit(model, placement, train_ds, *, validation_data, epochs, callbacks, verbose, backup_dir):
    """Train `model` (built and compiled under `placement.scope()`) like `model.fit` does; returns the History.

    The chief keeps a backup in `backup_dir` at every epoch end and removes it when training ends; running the same
    command(s) again after a kill resumes from it.
    """
    backup = ChiefBackup(backup_dir) if placement.is_chief else None
    try:
        with placement.scope():
            return _Loop(model, placement, train_ds, validation_data, backup).run(epochs, callbacks, verbose)
    except PEER_ERRORS as error:
        if placement.kind != "multi-worker":
            raise
        raise WorkerLost(f"a worker of the multi-worker job stopped answering ({_peer_failure(error)}). Start every "
                         "worker again with the same command: training resumes from the last finished epoch.") from None


def _peer_failure(error):
    """Which peer failed and how, from TF's long multi-line error text."""
    text = str(error)
    peer = re.search(r"remote target (/job:[^\s]+)", text) or re.search(r"(/job:\w+/replica:\d+/task:\d+)", text)
    reason = re.search(r'grpc_message:"([^"]*)"', text)
    parts = [type(error).__name__, f"peer {peer.group(1)}" if peer else None, reason.group(1) if reason else None]
    return ", ".join(p for p in parts if p)


class _Loop:
    def __init__(self, model, placement, train_ds, validation_data, backup):
        self.model, self.placement, self.strategy, self.backup = model, placement, placement.strategy, backup
        batches = count_batches(train_ds)
        self.steps = batches // placement.replicas
        if self.steps == 0:
            raise UserError(f"the training data makes {batches} batch(es), fewer than the {placement.replicas} "
                            "replicas of this job: use a smaller --batch-size or more data.")
        print(f"distributed: {batches} batches per pass, {self.steps} steps per epoch of {placement.replicas} "
              f"batches (one per replica); {batches - self.steps * placement.replicas} left over each pass")

        def worker_batches(context):
            return train_ds.repeat().shard(context.num_input_pipelines, context.input_pipeline_id)

        self.first_batch = next(iter(train_ds))
        self.iterator = iter(self.strategy.distribute_datasets_from_function(worker_batches))
        self.validation = validation_data

        @tf.function
        def train_step(iterator):
            outputs = self.strategy.run(model.train_step, args=(next(iterator),))
            return {name: self.strategy.experimental_local_results(value)[0] for name, value in outputs.items()}

        @tf.function(reduce_retracing=True)
        def test_step(batch):
            outputs = self.strategy.run(model.test_step, args=(batch,))
            return {name: self.strategy.experimental_local_results(value)[0] for name, value in outputs.items()}

        self.train_step, self.test_step = train_step, test_step

    def run(self, epochs, callbacks, verbose):
        model = self.model
        callbacks = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                                 verbose=verbose, epochs=epochs, steps=self.steps, model=model)
        model.stop_training = False
        # Create every variable (layers, optimizer, compiled metrics) the way fit() does before its callbacks start:
        # under MultiWorkerMirroredStrategy creating a variable is a collective that every worker must join.
        model._symbolic_build(data_batch=self.first_batch)
        callbacks.on_train_begin()
        initial_epoch = self._start_from_chief()
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            for step in range(self.steps):
                callbacks.on_train_batch_begin(step)
                logs = self.train_step(self.iterator)  # this worker's first replica's running metrics, for the bar
                callbacks.on_train_batch_end(step, {k: float(v) for k, v in logs.items()})
            epoch_logs = self._results()
            if self.validation is not None:
                model.reset_metrics()
                reported = {}
                for batch in self.validation:
                    reported = self.test_step(batch)
                # What the model's test_step reports, over all replicas (a metric only training updates is left out)
                epoch_logs.update({f"val_{name}": value for name, value in self._results().items() if name in reported})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if self.backup:
                self.backup.save(self._state_variables(), epoch + 1)
            if self._anyone(bool(model.stop_training)):
                break
        callbacks.on_train_end(logs=epoch_logs)
        if self.backup:
            self.backup.remove()
        print(f"training finished on worker {self.placement.worker_index}: weights fingerprint "
              f"{weights_fingerprint(model)}")
        return model.history

    def _results(self):
        """The epoch's metrics over all replicas (reading on-read metric variables sums them across replicas)."""
        return {name: float(value) for name, value in self.model.get_metrics_result().items()}

    def _anyone(self, flag):
        """True on every worker when `flag` is true on any of them (early stopping must stop all or none)."""
        return float(self._sum(tf.constant(float(flag)))) > 0

    @tf.function
    def _sum(self, value):
        per_replica = self.strategy.run(lambda: tf.identity(value))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _start_from_chief(self):
        """Every worker takes the chief's weights, optimizer state and next epoch: from the chief's backup when an
        interrupted run left one, else its current values (a broadcast also mends any drift between workers)."""
        variables = self._state_variables()
        saved = self.backup.load() if self.backup else None
        if saved and [a.shape for a in saved[0]] != [tuple(v.shape) for v in variables]:
            raise UserError(f"the backup in {self.backup.folder} was written by another model; delete it to start "
                            "over, or pass another --run-dir.")
        values, epoch = (saved if saved else ([v.numpy() for v in variables], 0))
        if self.placement.workers == 1:
            received = values
        else:
            received = self._broadcast([*values, np.array(epoch, np.int64)])
            received, epoch = received[:-1], received[-1]
        for variable, value in zip(variables, received):
            variable.assign(tf.cast(value, variable.dtype))
        if int(epoch):
            print(f"resuming from the backup of epoch {int(epoch)}")
        return int(epoch)

    def _state_variables(self):
        model = self.model
        return [*model.variables, *model.optimizer.variables]

    def _broadcast(self, arrays):
        """The chief's `arrays` on every worker: a sum where only the chief's first replica adds its values and every
        other replica adds zeros, which is exact. Integers travel as int64 (collectives have no uint32)."""
        chief, seen = self.placement.is_chief, []
        wire = [a.astype(np.int64) if np.issubdtype(a.dtype, np.integer) else a for a in map(np.asarray, arrays)]

        def contribution(context):
            seen.append(context.replica_id_in_sync_group)
            own = chief and len(seen) == 1
            return [tf.constant(a) if own else tf.zeros(a.shape, a.dtype) for a in wire]

        per_replica = self.strategy.experimental_distribute_values_from_function(contribution)
        return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy() for value in per_replica]


class ChiefBackup:
    """The loop's resumable state, written by the chief alone at each epoch end: every model and optimizer variable
    and the next epoch, in one .npz (a temporary file, then a rename, so a kill never leaves half a backup). Keras's
    BackupAndRestore cannot be used here: its restore runs on the chief only and issues collectives the others do not.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.file = self.folder / "state.npz"

    def load(self):
        """(arrays, next epoch), or None when there is no backup."""
        if not self.file.exists():
            return None
        with np.load(self.file) as saved:
            count = len(saved.files) - 1
            return [saved[f"v{i}"] for i in range(count)], int(saved["epoch"])

    def save(self, variables, epoch):
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / "state.partial.npz"
        np.savez(partial, epoch=np.int64(epoch), **{f"v{i}": v.numpy() for i, v in enumerate(variables)})
        os.replace(partial, self.file)

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)


def weights_fingerprint(model):
    """A short hash of every weight's bytes: equal on two workers exactly when their weights are equal."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
