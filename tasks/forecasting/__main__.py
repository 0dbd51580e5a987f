"""Forecasting recipe: windows of the past predict the next values of a series, scored against the naive
baselines, exported as a SavedModel that takes raw (unnormalized) windows and answers in the original units.

    python -m tasks.forecasting                              # daily minimum temperatures, Melbourne (downloaded)
    python -m tasks.forecasting --data series.csv --target temp_c --lookback 60 --horizon 7
    python -m tasks.forecasting predict --model saved_models/forecasting --data series.csv   # the next values
"""

import dataclasses
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.cli import (UserError, dispatch, flag, recipe_parser, require_fraction,  # noqa: E402
                              require_positive, run_cli)
from tasks.common.distribute import DistributionFlags  # noqa: E402
from tasks.common.export import write_json_atomic  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(DistributionFlags):
    # data
    data: str | None = flag(None, "a CSV with a header: a time column and one or more numeric value columns")
    dataset: str = flag("auto", "auto: the Melbourne temperatures, or a generated series when they cannot be "
                                "downloaded; temperatures: those or an error; generated: the built-in series",
                        choices=("auto", "temperatures", "generated"))
    cache_dir: str | None = flag(None, "download cache folder (default: ~/.keras)")
    target: str | None = flag(None, "the column to forecast (default: the last numeric one); the other numeric "
                                    "columns are inputs too")
    lookback: int = flag(30, "steps of the past each forecast reads")
    horizon: int = flag(1, "steps ahead to forecast (1: many-to-one; more: many-to-many, a forecast at every step)")
    season: int = flag(0, "steps per season for the seasonal naive baseline (0: from the time column: 365 for "
                          "daily, 12 for monthly, 24 for hourly data)")
    relative_to: str = flag("last", "the model predicts the change from the last value seen, or from the value one "
                                    "season before (for trending seasonal series; needs --lookback >= season)",
                            choices=("last", "season"))
    validation_fraction: float = flag(0.15, "the part after training, in time order, for early stopping")
    test_fraction: float = flag(0.15, "the last part of the series, scored once at the end")
    # model
    cell: str = flag("lstm", "recurrent cell", choices=("simple_rnn", "lstm", "gru"))
    layers: int = flag(1, "stacked recurrent layers")
    units: int = flag(32, "units per layer")
    dropout: float = flag(0.1, "dropout on each recurrent layer's inputs")
    # training
    epochs: int = flag(40, "maximum epochs (early stopping may end sooner)")
    batch_size: int = flag(64, "windows per batch (per replica when distributed)")
    learning_rate: float = flag(2e-3, "Adam learning rate")
    patience: int = flag(6, "epochs without a better validation loss before stopping")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    run_dir: str = flag("runs/forecasting", "checkpoints, TensorBoard logs, metrics and plots; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/forecasting/<version>/")

    def __post_init__(self):
        require_positive(self, "lookback", "horizon", "layers", "units", "epochs", "batch_size")
        if self.season < 0:
            raise UserError(f"--season must not be negative (got {self.season}).")
        require_fraction(self, "validation_fraction", "test_fraction", "dropout")


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export. Returns the metrics dict."""
    from tasks.common.distribute import start_run

    placement, run_dir, _ = start_run(cfg)  # first: devices and collectives are set up before TensorFlow starts

    import keras
    import numpy as np

    import zoo
    from tasks.common.export import atomic_export, library_versions
    from tasks.common.reports import plot_history
    from tasks.common.training import history_summary, train_model
    from tasks.forecasting.data import chronological_splits, load_series, make_dataset, windows
    from tasks.forecasting.evaluation import baselines, errors, plot_forecast
    from tasks.forecasting.serving import Normalizer, change_targets, forecast_from_changes, write_export


    # Data: chronological parts; the normalization sees the training part only.
    series = load_series(cfg)
    marker = " [GENERATED DATA]" if series.offline else ""
    parts = chronological_splits(len(series.values), cfg.validation_fraction, cfg.test_fraction, cfg.lookback,
                                 cfg.horizon)
    normalizer = Normalizer.fit(series.values[parts[0].start:parts[0].stop], series.target)
    scaled = normalizer.scale(series.values)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        windows(scaled, series.target, part, cfg.lookback, cfg.horizon) for part in parts)
    print(f"data: {series.source}: {len(series.values)} steps, target {series.columns[series.target]!r} of "
          f"{series.columns}; {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test windows{marker}")

    # Model from the zoo: one forecast from the last state, or (horizon > 1) one at every step; it predicts the
    # change from a reference value (see change_targets). A seasonal reference is many-to-one: early steps of a
    # window have no value one season back.
    season = series.season if cfg.relative_to == "season" else 0
    if cfg.relative_to == "season" and not cfg.horizon <= series.season <= cfg.lookback:
        raise UserError(f"--relative-to season needs --horizon <= season <= --lookback; the season is "
                        f"{series.season} (set it with --season), the lookback {cfg.lookback}.")
    per_step = cfg.horizon > 1 and not season
    with placement.scope():
        model = zoo.build("many_to_many" if per_step else "many_to_one", input="features",
                          feature_dim=len(series.columns) + 1, cell=cfg.cell, units=cfg.units, num_layers=cfg.layers,
                          dropout=cfg.dropout, num_outputs=cfg.horizon)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse", metrics=["mae"])

    def inputs_and_targets(x, y):
        return normalizer.model_inputs(x), change_targets(x, y, series.target, per_step, season)

    train_ds = make_dataset(*inputs_and_targets(x_train, y_train), batch_size=cfg.batch_size, seed=cfg.seed,
                            training=True, autotune=cfg.autotune)
    val_ds = make_dataset(*inputs_and_targets(x_val, y_val), batch_size=cfg.batch_size, seed=cfg.seed,
                          training=False, autotune=cfg.autotune)
    started = time.perf_counter()
    history = train_model(model, placement, train_ds, validation_data=val_ds, epochs=cfg.epochs, run_dir=run_dir,
                          patience=cfg.patience, samples_per_epoch=len(x_train))
    wall = time.perf_counter() - started
    if not placement.is_chief:  # the chief evaluates, writes the metrics and exports
        return placement.worker_summary(history)
    model = placement.local_copy(model)

    # Evaluate once on the test part, in the original units, against the naive forecasts.
    predicted = model.predict(normalizer.model_inputs(x_test), verbose=0, batch_size=256)
    forecast = np.asarray(normalizer.unscale_target(
        forecast_from_changes(predicted, x_test, series.target, per_step, season)))
    truth = normalizer.unscale_target(y_test)
    first_target = parts[2].stop - cfg.horizon - len(x_test) + 1  # row of the first test window's first target
    naive = baselines(series.values[:, series.target], first_target, len(x_test), cfg.horizon, series.season)
    test = {"windows": len(x_test), "model": errors(forecast, truth),
            **{name: errors(values, truth) for name, values in naive.items()}}
    for name in naive:
        test[f"mae_vs_{name}"] = test["model"]["mae"] / test[name]["mae"]
    metrics = {"data": series.source, "offline_data": series.offline, "target": series.columns[series.target],
               "season": series.season, "test": test, "training": {**history_summary(history), "wall_seconds": wall},
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}
    write_json_atomic(run_dir / "metrics.json", metrics)
    plot_history(history.history, run_dir / "training_curves.png", f"forecasting: {series.source}")
    plot_forecast(series.times[first_target:first_target + len(x_test)], truth[:, 0], forecast[:, 0],
                  run_dir / "forecast.png", f"test part{marker}: 1 step ahead, {series.columns[series.target]}")

    export = atomic_export(Path(cfg.export_dir) / "forecasting", lambda tmp: write_export(
        tmp, model, normalizer, lookback=cfg.lookback, features=len(series.columns), per_step=per_step, season=season,
        extras={
            "config.json": {**dataclasses.asdict(cfg), "columns": series.columns, "target_column": series.target,
                            "data": series.source},
            "metrics.json": metrics, "versions.json": library_versions(),
            "training_curves.png": run_dir / "training_curves.png", "forecast.png": run_dir / "forecast.png",
        }))
    print(f"test{marker}: MAE {test['model']['mae']:.4f}  RMSE {test['model']['rmse']:.4f}  ({len(x_test)} windows)")
    for name in naive:
        print(f"  {name}: MAE {test[name]['mae']:.4f}  RMSE {test[name]['rmse']:.4f}  "
              f"(model MAE / this: {test[f'mae_vs_{name}']:.3f})")
    print(f"training: {metrics['training']['epochs_run']} epochs this run, {wall:.0f} s")
    print(f"exported: {export}")
    return {**metrics, "export": str(export)}


def predict(args):
    """The forecast after the last `lookback` rows of a CSV, from an export."""
    import numpy as np
    import tensorflow as tf

    from tasks.common.export import version_folder
    from tasks.forecasting.data import read_series

    path = version_folder(args.model, "forecasting")
    config = json.loads((path / "assets.extra" / "config.json").read_text())
    series = read_series(args.data, config["columns"][config["target_column"]])
    if series.columns != config["columns"]:
        raise UserError(f"{args.data} has the value columns {series.columns}; the model was trained on "
                        f"{config['columns']}.")
    if len(series.values) < config["lookback"]:
        raise UserError(f"{args.data} has {len(series.values)} rows; the model reads the last {config['lookback']}.")
    window = series.values[-config["lookback"]:][None]
    forecast = tf.saved_model.load(str(path)).signatures["serving_default"](window=tf.constant(window))["forecast"]
    values = np.asarray(forecast)[0].tolist()
    print(json.dumps({"after": series.times[-1], "forecast": values}))
    return values


def parser():
    top, commands = recipe_parser("python -m tasks.forecasting", __doc__, Config)
    pr = commands.add_parser("predict", help="forecast what follows the last rows of a CSV")
    pr.add_argument("--model", required=True, help="an export folder (saved_models/forecasting[/<version>])")
    pr.add_argument("--data", required=True, help="a CSV with the same columns as the training data")
    return top


def main(argv=None):
    return dispatch(argv, parser(), {"predict": predict}, Config, train)


if __name__ == "__main__":
    run_cli(main)
