"""Forecasting recipe: windows of the past predict the next values of a series, scored against the naive
baselines, exported as a SavedModel that takes the last rows as the CSV writes them (text: numbers, missing values,
categories, the time) and answers in the original units.

    python -m tasks.forecasting                              # daily minimum temperatures, Melbourne (downloaded)
    python -m tasks.forecasting --data series.csv --target temp_c --lookback 60 --horizon 7
    python -m tasks.forecasting --data air.csv --target pm2.5,TEMP --inputs DEWP,PRES,cbwd --calendar
    python -m tasks.forecasting predict --model saved_models/forecasting --data series.csv   # the next values
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.cli import UserError, dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import SHAPE_GRAPHS_HELP, DistributionFlags  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(DistributionFlags):
    # data
    data: str | None = flag(None, "a CSV with a header: a time column (or year, month, day, hour columns) and value "
                                  "columns; missing values (NA, empty, ...) and category columns are handled")
    dataset: str = flag("auto", "auto: the Melbourne temperatures, or a generated series when they cannot be "
                                "downloaded; temperatures: those or an error; generated: the built-in series",
                        choices=("auto", "temperatures", "generated"))
    cache_dir: str | None = flag(None, "download cache folder (default: ~/.keras)")
    missing_values: str | None = flag(None, "cells that also mean no value, comma-separated, such as a dataset's "
                                            "-200 or -999,9999 (empty, NA, n/a, ?, null and the like always do)")
    target: str | None = flag(None, "the column to forecast, or several, comma-separated (default: the last numeric "
                                    "one)")
    inputs: str | None = flag(None, "the other columns the model reads, comma-separated, or 'none' (default: every "
                                    "numeric column and every text column with at most 50 values, one-hot)")
    calendar: bool = flag(False, "add the time's hour of day, day of week and day of year (sine and cosine, those "
                                 "that change between rows) as inputs")
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
    num_layers: int = flag(1, "stacked recurrent layers")
    units: int = flag(32, "units per layer")
    dropout: float = flag(0.1, "dropout on each recurrent layer's inputs")
    # training
    # Off: on these small windows Keras's own step, 8 batches a call (--steps-per-execution), trained 1.02-1.55x
    # faster than a graph per shape one batch a call, with a shorter first epoch (five runs on three shared series,
    # bench/README.md).
    shape_graphs: bool | None = flag(False, SHAPE_GRAPHS_HELP + "; off here: Keras's step, --steps-per-execution "
                                            "batches a call, measured faster on these windows")
    epochs: int = flag(40, "maximum epochs (early stopping may end sooner)")
    batch_size: int = flag(64, "windows per batch (per replica when distributed)")
    learning_rate: float = flag(2e-3, "Adam learning rate")
    patience: int = flag(6, "epochs without a better validation loss before stopping")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    run_dir: str = flag("runs/forecasting", "checkpoints, TensorBoard logs, metrics and plots; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/forecasting/<version>/")

    def __post_init__(self):
        require_positive(self, "lookback", "horizon", "num_layers", "units", "epochs", "batch_size")
        if self.season < 0:
            raise UserError(f"--season must not be negative (got {self.season}).")
        require_fraction(self, "validation_fraction", "test_fraction", "dropout")


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export. Returns the metrics dict."""
    from tasks.common.run import Run

    run = Run("forecasting", cfg, unit="windows")

    import numpy as np

    import zoo
    from tasks.forecasting.data import load_data, make_dataset, times_of
    from tasks.forecasting.evaluation import plot_forecast, score
    from tasks.forecasting.serving import change_targets, forecast_from_changes, signature_names, write_export

    # Data: each column's role (printed), chronological parts, the preparation fitted on the training part only.
    data = load_data(cfg)
    run.data(data.table.source, data.counts(), offline=data.table.offline)
    train_part, validation_part, test_part = data.parts
    targets, prep = data.columns.targets, data.preparation

    # Model from the zoo: one forecast from the last state, or (horizon > 1) one at every step; it predicts the
    # change from a reference value (see change_targets). A seasonal reference is many-to-one: early steps of a
    # window have no value one season back.
    reference_season = data.season if cfg.relative_to == "season" else 0
    if cfg.relative_to == "season" and not cfg.horizon <= data.season <= cfg.lookback:
        raise UserError(f"--relative-to season needs --horizon <= season <= --lookback; the season is "
                        f"{data.season} (set it with --season), the lookback {cfg.lookback}.")
    per_step = cfg.horizon > 1 and not reference_season
    with run.scope():
        model = zoo.build("many_to_many" if per_step else "many_to_one", input="features",
                          feature_dim=prep.feature_count, cell=cfg.cell, units=cfg.units,
                          num_layers=cfg.num_layers, dropout=cfg.dropout, num_outputs=cfg.horizon * len(targets))
        model.compile(optimizer=zoo.FusedAdam(cfg.learning_rate), loss="mse", metrics=["mae"])

    def dataset(part, training):
        scaled = (part.future - prep.mean[:len(targets)]) / prep.std[:len(targets)]
        return make_dataset(part.features, change_targets(part.features, scaled, per_step, reference_season),
                            batch_size=cfg.batch_size, seed=cfg.seed, training=training, autotune=cfg.autotune)

    model = run.fit(model, dataset(train_part, True), validation_data=dataset(validation_part, False),
                    samples_per_epoch=len(train_part.starts))
    if not run.is_chief:
        return run.worker_result()

    # Evaluate once on the test part, in the original units, against the naive forecasts, target by target.
    x_test = test_part.features
    scaled = forecast_from_changes(model.predict(x_test, verbose=0, batch_size=256), x_test, len(targets), per_step,
                                   reference_season)
    forecast = np.asarray(prep.unscale(np.asarray(scaled), list(range(len(targets)))))
    test, summary = score(forecast, test_part, data.history, targets, cfg.horizon, data.season, run.marker)
    times = times_of(data.table, data.columns)
    plot_forecast([times[s] for s in test_part.starts], test_part.future[:, 0, 0], forecast[:, 0, 0],
                  run.figure("forecast.png"), f"test part{run.marker}: 1 step ahead, {targets[0]}")
    return run.finish(
        {"targets": targets, "season": data.season, "test": test},
        export=lambda folder, extras: write_export(folder, model, prep, lookback=cfg.lookback, targets=targets,
                                                   per_step=per_step, season=reference_season, extras=extras),
        warmup={"serving_default": {name: data.table.cells[column][:cfg.lookback]  # the first rows, as written
                                    for column, name in signature_names(prep.raw).items()}},
        config={"targets": targets, "raw_columns": prep.raw, "season_found": data.season}, summary=summary)


def predict(args):
    """The forecast after the last `lookback` rows of a CSV, from an export: the rows go in as written, oldest first
    (a file listed newest first is read the other way round, as in training)."""
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up lines on stderr

    from tasks.common.export import version_folder
    from tasks.forecasting.data import in_time_order
    from tasks.forecasting.table import read_table

    path = version_folder(args.model, "forecasting")
    config = json.loads((path / "assets.extra" / "config.json").read_text())
    names = json.loads((path / "assets.extra" / "preparation.json").read_text())
    table = read_table(args.data)
    absent = [c for c in config["raw_columns"] if c not in table.header]
    if absent:
        raise UserError(f"{args.data} lacks the column(s) {absent} that the model reads; its columns are "
                        f"{table.header}.")
    if all(c in table.header for c in names["time"]):
        reordered, _ = in_time_order(table, names["time"], names["time_order"])
        if reordered:
            print(reordered, file=sys.stderr)  # stdout is the forecast's JSON
    lookback = config["lookback"]
    if table.rows < lookback:
        raise UserError(f"{args.data} has {table.rows} rows; the model reads the last {lookback}.")
    window = {names["inputs"][c]: tf.constant([table.cells[c][-lookback:]]) for c in config["raw_columns"]}
    answer = tf.saved_model.load(str(path)).signatures["serving_default"](**window)
    forecast = {t: answer[names["outputs"][t]].numpy()[0].tolist() for t in config["targets"]}
    after = " ".join(table.cells[c][-1] for c in names["time"]) or f"row {table.rows}"
    print(json.dumps({"after": after, "forecast": forecast}))
    return forecast


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
