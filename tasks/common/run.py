"""The lifecycle every recipe shares, so that a recipe's `train()` holds only its own steps.

    run = Run("sentiment", cfg, unit="reviews")   # placement, seed, run folder (resume), before TensorFlow starts
    run.data(source, "900 train / 100 validation / 100 test", offline=False)
    with run.scope():
        model = zoo.build(...); model.compile(...)
    model = run.fit(model, train_ds, validation_data=val_ds, samples_per_epoch=900)
    if not run.is_chief:
        return run.worker_result()            # the chief alone evaluates, writes the metrics and exports
    ... evaluate, draw figures at run.figure("name.png") ...
    return run.finish({"test": ...}, export=lambda folder, extras: write_export(folder, model, extras=extras),
                      summary=["test: accuracy 0.88"])
"""

import dataclasses
import json
import shutil
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from tasks.common.distribute import start_run
from tasks.common.export import atomic_export, library_versions, write_json_atomic


class Run:
    """One recipe run, from its start (placement, seed, run folder) to its finish (metrics, plots, export).

    `name` is the export's model name (`<export-dir>/<name>/<version>/`), `unit` what one training sample is
    ("reviews", "pairs", ...), for the speed the summary prints.
    """

    def __init__(self, name, cfg, *, unit="samples"):
        self.name, self.cfg, self.unit = name, cfg, unit
        # First: devices and collectives are set up before TensorFlow starts, and flag conflicts are refused before
        # anything is written.
        self.placement, self.dir, self.resuming = start_run(cfg)
        self.source, self.offline, self.marker = None, False, ""
        self.history, self.wall_seconds = None, 0.0
        self.figures = []

    @property
    def is_chief(self):
        return self.placement.is_chief

    def data(self, source, counts, *, offline=False, marker="GENERATED DATA"):
        """Announce the data (`data: <source>: <counts>`). Offline stand-in data is flagged in every line the run
        prints about results (`self.marker`), so a generated set's numbers are never mistaken for real ones."""
        self.source, self.offline = source, offline
        self.marker = f" [{marker}]" if offline else ""
        print(f"data: {source}: {counts}{self.marker}")

    def trains_cpu_fast_path(self, wanted):
        """Whether a model trains on the zoo's CPU fast path (`zoo.fuse_lstms`, `zoo.fuse_grus`) when the recipe's
        flag asks for it (`wanted`): on one CPU device, where it is measured faster. XLA is asked for by name, cuDNN
        is faster on a GPU, and the distributed loop keeps its own model copies."""
        import tensorflow as tf

        return (wanted and not getattr(self.cfg, "xla", False) and self.placement.uses_fit
                and not tf.config.list_physical_devices("GPU"))

    def scope(self):
        """Build and compile the model inside this, so its variables are placed on every replica."""
        return self.placement.scope()

    def fit(self, model, train_ds, *, validation_data, samples_per_epoch, callbacks=()):
        """Train with early stopping, resume, TensorBoard and timing (`training.train_model`). Returns the trained
        model as a plain one-device model on the chief (for evaluation and export), None on other workers."""
        from tasks.common.training import TRAINED, train_model

        # Keras deletes its backup when training ends, so a crash in evaluation or export would lose the whole
        # training: the trained weights are kept in the run folder until the export is written, and the same
        # command again goes straight to evaluation. (One device: a distributed job trains on all its workers.)
        trained = self.dir / TRAINED
        if self.placement.uses_fit and trained.exists():
            with np.load(trained / "weights.npz") as saved_weights:  # the weights alone: no optimizer state
                model.set_weights([saved_weights[f"arr_{i}"] for i in range(len(saved_weights.files))])
            saved = json.loads((trained / "history.json").read_text())
            self.history, self.wall_seconds = types.SimpleNamespace(history=saved["history"]), saved["wall_seconds"]
            print(f"training finished in an earlier run that stopped before its export: evaluating and exporting its "
                  f"weights (delete {trained} to train again)")
            return model
        started = time.perf_counter()
        self.history = train_model(model, self.placement, train_ds, validation_data=validation_data,
                                   epochs=self.cfg.epochs, run_dir=self.dir, patience=self.cfg.patience,
                                   samples_per_epoch=samples_per_epoch, callbacks=callbacks)
        self.wall_seconds = time.perf_counter() - started
        if self.placement.uses_fit:
            _keep_trained(trained, model, self.history.history, self.wall_seconds)
        return self.placement.local_copy(model) if self.is_chief else None

    def worker_result(self):
        """What a non-chief worker's run returns."""
        return self.placement.worker_summary(self.history)

    def figure(self, file_name):
        """The path to draw a figure at; it is copied into the export beside the metrics."""
        path = self.dir / file_name
        self.figures.append(path)
        return path

    def finish(self, metrics, *, export, warmup=None, config=None, summary=()):
        """Write metrics.json and the training curves, export atomically, print the summary. Returns the metrics with
        the export's path.

        `export(folder, extras)` writes the SavedModel into `folder` and `extras` (file name -> dict or path:
        `export.write_extras`) into its assets.extra; `config` adds entries to the config.json recorded there;
        `summary` is the recipe's result lines, printed before the training and export lines. `warmup` ({signature
        name: {input alias: one row's value}}: a real input from the recipe's data for every signature) becomes the
        export's TF Serving warm-up file, unless `export` wrote its own.
        """
        from tasks.common.reports import plot_history
        from tasks.common.training import TRAINED, history_summary

        logs = self.history.history
        metrics = {"data": self.source, "offline_data": self.offline, **metrics,
                   "training": {**history_summary(self.history), "wall_seconds": self.wall_seconds},
                   "history": {key: [float(v) for v in values] for key, values in logs.items()}}
        write_json_atomic(self.dir / "metrics.json", metrics)
        plot_history(logs, self.figure("training_curves.png"), f"{self.name}: {self.source}")
        # config.json: the run's flags exactly (it rebuilds the same run), then what the run found out.
        extras = {"config.json": {**dataclasses.asdict(self.cfg), "data_source": self.source,
                                  "offline_data": self.offline, **(config or {})},
                  "metrics.json": metrics, "versions.json": library_versions(),
                  **{path.name: path for path in self.figures}}

        def write(folder):
            export(folder, extras)
            _write_warmup(folder, warmup)

        path = atomic_export(Path(self.cfg.export_dir) / self.name, write)
        shutil.rmtree(self.dir / TRAINED, ignore_errors=True)  # exported: a rerun trains anew
        for line in summary:
            print(line)
        training = metrics["training"]
        print(f"training: {training['epochs_run']} epochs this run, {self.wall_seconds:.0f} s, "
              f"{training['samples_per_second'] or 0:.0f} {self.unit}/s")
        print(f"exported: {path}")
        return {**metrics, "export": str(path)}


def _write_warmup(folder, examples):
    """The warm-up records TF Serving and `tasks.serve` run at load (`serving_shapes.example_warmup_requests`)."""
    from tasks.common.serving_shapes import WARMUP_FILE, example_warmup_requests, write_warmup_requests

    path = Path(folder) / "assets.extra" / WARMUP_FILE
    if examples and not path.exists():
        write_warmup_requests(path, example_warmup_requests(examples))


def _keep_trained(folder, model, history, wall_seconds):
    """The trained weights and the history in `folder`, written beside it and renamed, so it is whole or absent."""
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-trained-", dir=folder.parent))
    try:
        np.savez(tmp / "weights.npz", *model.get_weights())
        logs = {key: [float(v) for v in values] for key, values in history.items()}
        (tmp / "history.json").write_text(json.dumps({"history": logs, "wall_seconds": wall_seconds}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
