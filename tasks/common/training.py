"""fit() plumbing shared by the recipes: seeding, callbacks (early stopping, resume, TensorBoard, timing), and the
end of their tf.data pipelines (length bucketing: `tasks.common.buckets`)."""

import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.export import write_json_atomic


def set_seed(seed):
    """Seeds Python, NumPy and TF (initial weights, dropout, shuffling), so the same seed gives the same result on
    the same machine. Not `enable_op_determinism()`: Keras turns XLA off under it, and runs that train with XLA
    (generation's default, `--xla` elsewhere) would silently lose it."""
    keras.utils.set_random_seed(seed)


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time and training samples per second into the history logs."""

    def __init__(self, samples_per_epoch):
        super().__init__()
        self.samples_per_epoch = samples_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        if logs is not None:
            logs["epoch_seconds"] = seconds
            logs["samples_per_second"] = self.samples_per_epoch / seconds


def fit_callbacks(run_dir, *, patience, samples_per_epoch, monitor="val_loss", backup=True):
    """Early stopping that restores the best weights, a resumable backup, TensorBoard logs, and epoch timing.

    The backup (`<run_dir>/backup`) is written at every epoch end and deleted when training finishes, so running the
    same command again after Ctrl-C or a killed process resumes from the last finished epoch. (`backup=False`: the
    distributed loop keeps its own.)
    """
    run_dir = Path(run_dir)
    return [
        EpochTimer(samples_per_epoch),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=True, verbose=1),
        *([keras.callbacks.BackupAndRestore(str(run_dir / "backup"))] if backup else []),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
    ]


def train_model(model, placement, train_ds, *, validation_data, epochs, run_dir, patience, samples_per_epoch,
                callbacks=()):
    """Train with `fit_callbacks` plus `callbacks`: Keras `fit` on one device, the distributed loop on several
    (`tasks.common.distribute`). `run_dir` is this worker's (`placement.output_dir`). Returns the History."""
    standard = fit_callbacks(run_dir, patience=patience, samples_per_epoch=samples_per_epoch,
                             backup=placement.uses_fit)
    if placement.uses_fit:
        standard += set_up_steps(model, shape_graphs=wants_shape_graphs(placement.shape_graphs, model),
                                 steps_per_execution=placement.steps_per_execution)
        return model.fit(train_ds, validation_data=validation_data, epochs=epochs, verbose=fit_verbosity(),
                         callbacks=[*standard, *callbacks], shuffle=False)
    from tasks.common.distributed_loop import distributed_fit

    return distributed_fit(model, placement, train_ds, validation_data=validation_data, epochs=epochs,
                           callbacks=[*standard, *callbacks], verbose=fit_verbosity() if placement.is_chief else 2,
                           backup_dir=Path(run_dir) / "backup")


def set_up_steps(model, *, shape_graphs, steps_per_execution):
    """How `fit` will call `model`'s training step, set before fit makes its train function: a graph per frequent
    batch shape, one batch a call (`ShapeSpecializedSteps`), or Keras's own step, `steps_per_execution` batches a
    call. Returns the callbacks to pass to that `fit`."""
    if shape_graphs:
        return [ShapeSpecializedSteps.install(model)]
    model.steps_per_execution = steps_per_execution
    return []


def wants_shape_graphs(asked, model):
    """Whether `fit` trains `model` with `ShapeSpecializedSteps`: as `asked` (--shape-graphs / --no-shape-graphs), or
    when nothing was asked (None), unless the model runs a fused kernel. Per-shape graphs made sentiment's BiLSTM on
    Keras's loop 1.3x faster (translation's GRUs 1.03x), and the fused kernels no faster, for 1.3-2.1x the first
    epoch (bench/README.md)."""
    return asked if asked is not None else not zoo.runs_fused_kernel(model)


class ShapeSpecializedSteps:
    """A Keras `train_function` that gives each frequent batch shape a graph traced for that shape.

    Keras traces its training step once for any shape (`[None, None]` ids under length buckets). TensorFlow runs a
    recurrent step traced for one static shape markedly faster: a BiLSTM(64) step over 64 x 100 took 47 ms traced
    for that shape against 68 ms traced for any (bench/README.md). A trace costs about 2 s, so only shapes that
    come back within the first epoch (a length bucket's full batches) get their own; a shape seen once an epoch (a
    bucket's last, partial batch) and every shape first met after the first epoch run on the one any-shape graph.
    """

    def __init__(self, model):
        self.model = model
        self.steps = {}  # batch shapes -> the graph traced for them
        self.seen = {}  # batch shapes -> how often, during the first epoch
        self.first_epoch = True
        self.any_shape = self._function(reduce_retracing=True)
        # Graphs for one shape each are concrete functions of this one, called directly: made through
        # `get_concrete_function`, they do not set off tf.function's "frequent retracing" warning.
        self.per_shape = self._function(reduce_retracing=False)

    @classmethod
    def install(cls, model):
        """Make `model.fit` train with one of these (fit keeps a `train_function` it finds). Returns the callback to
        pass to that `fit`."""
        model.train_function = cls(model)
        return model.train_function.callback()

    def __call__(self, iterator):
        try:
            data = next(iterator)
        except StopIteration:  # the end of an epoch, as Keras expects from its own function
            self.end_first_epoch()
            raise
        key = tuple(tuple(t.shape) for t in tf.nest.flatten(data))
        step = self.steps.get(key)
        if step is None:
            if self.first_epoch:
                self.seen[key] = self.seen.get(key, 0) + 1
            step = self.any_shape
            if self.first_epoch and self.seen[key] >= 2:
                step = self.steps[key] = self.per_shape.get_concrete_function(data)
        return step(data)

    def end_first_epoch(self):
        """No more graphs after this (called at the first epoch's end by `callback()`: Keras stops asking for batches
        without a StopIteration when it knows the epoch's length)."""
        self.first_epoch = False

    def callback(self):
        """The callback to pass to `fit`, which tells this when the first epoch ends."""
        return keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: self.end_first_epoch())

    def _function(self, *, reduce_retracing):
        model = self.model
        return tf.function(lambda data: model.distribute_strategy.run(model.train_step, args=(data,)),
                           reduce_retracing=reduce_retracing, jit_compile=model.jit_compile)


# Flags that may change between an interrupted run and its resumption. Not --strategy: single-device runs keep
# Keras's backup format, distributed runs their own. --shape-graphs changes how steps are traced, not what they
# compute (a run before its default became per-model recorded it as on), nor does --steps-per-execution.
RESUMABLE_CHANGES = ("epochs", "patience", "cpu_replicas", "shape_graphs", "steps_per_execution")


# Where a finished training keeps its weights and history until the export is written (see Run.fit).
TRAINED = "trained"


def prepare_run_dir(run_dir, cfg):
    """Create `run_dir` and record `cfg` (a dataclass) in it. Returns True when an interrupted run with the same
    config left a backup (or its finished training, `TRAINED`) to resume from; a different config there is a
    UserError (changing only those in RESUMABLE_CHANGES is allowed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "config.json"
    current = dataclasses.asdict(cfg)
    resuming = (run_dir / "backup").exists() or (run_dir / TRAINED).exists()
    if resuming and config_file.exists():
        previous = json.loads(config_file.read_text())
        changed = sorted(k for k in current if previous.get(k) != current[k] and k not in RESUMABLE_CHANGES)
        if changed:
            raise UserError(f"{run_dir} holds an interrupted run with different {', '.join(changed)}; rerun with "
                            "the same flags to resume, or pass another --run-dir.")
    if resuming:
        print(f"resuming the interrupted run in {run_dir}")
    write_json_atomic(config_file, current)
    return resuming


def fit_verbosity():
    """A progress bar on a terminal, one line per epoch in logs and CI."""
    return 1 if sys.stdout.isatty() else 2


def count_batches(dataset):
    """Batches in one pass of `dataset`: its cardinality when tf.data knows it, else counted by reading it."""
    known = int(dataset.cardinality())
    if known >= 0:
        return known
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


# tf.data's parallelism for the recipes' per-batch maps: fixed, not tf.data.AUTOTUNE (see `finish_pipeline`).
PARALLEL_CALLS = 2


def finish_pipeline(dataset, *, autotune=False):
    """Prefetch two batches, with tf.data's autotuning off unless asked for.

    On the 2-core machine the tuner's threads compete with the training step for the same cores: with autotuning on,
    the sentiment recipe trained at 0.81x the speed, its epochs swinging between 233 and 328 samples/s
    (bench/README.md; #16 saw the wait for an epoch's first batch reach 3-18 s). Machines with idle cores can turn
    it back on (`--autotune`).
    """
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return dataset.prefetch(tf.data.AUTOTUNE if autotune else 2).with_options(options)


def balanced_sample_weights(labels, classes, real=None):
    """A weight per example that gives every class the same total weight: n / (classes present x examples of its
    class), as scikit-learn's "balanced" class weights. With them a classifier cannot win by leaning on the majority
    class (names: 0.825 accuracy but 0.497 balanced accuracy without). `labels` may have any shape (a label per
    frame); `real` (same shape) marks the ones that count, the others get weight 0."""
    labels = np.asarray(labels)
    real = np.ones(labels.shape, bool) if real is None else np.asarray(real, bool)
    counts = np.bincount(labels[real], minlength=classes)
    per_class = real.sum() / (max(np.count_nonzero(counts), 1) * np.maximum(counts, 1))
    return np.where(real, per_class[labels], 0).astype(np.float32)


def class_weights(choice, parts, classes, unit):
    """{part name: sample weights} for each part's labels (or (labels, real) pair) when `choice` is "balanced",
    else None. Training and validation are both weighted, so that early stopping judges the loss that is trained."""
    if choice != "balanced":
        return None
    weights = {}
    for name, labels in parts.items():
        labels, real = labels if isinstance(labels, tuple) else (labels, None)
        weights[name] = balanced_sample_weights(labels, classes, real)
    train = next(iter(weights.values()))
    counted = train[train > 0]
    print(f"class weights: balanced, {counted.min():.2f} to {counted.max():.2f} per {unit} (--class-weights none "
          "to train without)")
    return weights


def history_summary(history):
    """The last epoch's timing and the best epoch's metrics from a fit() History."""
    logs = history.history
    seconds = logs.get("epoch_seconds", [])
    return {
        "epochs_run": len(seconds),
        "train_seconds": float(np.sum(seconds)),
        "samples_per_second": float(np.median(logs["samples_per_second"])) if seconds else None,
    }
