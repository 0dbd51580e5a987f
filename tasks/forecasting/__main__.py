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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.cli import UserError, dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import DistributionFlags  # noqa: E402

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

    import keras
    import numpy as np
    import tensorflow as tf

    import zoo
    from tasks.forecasting.data import (
        chronological_splits,
        load_table,
        make_dataset,
        season_of,
        step_hours,
        times_of,
        windows,
    )
    from tasks.forecasting.evaluation import baselines, errors, plot_forecast
    from tasks.forecasting.preparation import Preparation, calendar_parts
    from tasks.forecasting.serving import change_targets, forecast_from_changes, write_export
    from tasks.forecasting.table import plan_columns

    # Data: each column's role (printed), chronological parts, the preparation fitted on the training part only.
    table = load_table(cfg)
    columns = plan_columns(table, cfg.target, cfg.inputs, name=cfg.data or "the data")
    hours = step_hours(table, columns)
    season = cfg.season or season_of(hours)
    if cfg.calendar:
        if hours is None:
            raise UserError("--calendar needs a time column that reads as dates (e.g. 2024-01-31 or 2024-01-31 "
                            "13:00, or year/month/day/hour columns).")
        columns.calendar = calendar_parts(hours)
        columns.notes.append(f"calendar: {', '.join(columns.calendar) or 'none (rows a year or more apart)'}")
    for note in columns.notes:
        print(note)
    parts = chronological_splits(table.rows, cfg.validation_fraction, cfg.test_fraction, cfg.lookback, cfg.horizon)
    prep = Preparation.fit(table, columns, slice(parts[0].start, parts[0].stop))
    parsed = {k: np.asarray(v)[0] for k, v in prep.parse({c: tf.constant([table.cells[c]]) for c in prep.raw}).items()}
    count = len(columns.targets)

    def prepared(part):
        inputs, future, starts, left_out = windows(parsed, part, cfg.lookback, cfg.horizon, count)
        features = np.concatenate([np.asarray(prep.features({k: v[i:i + 4096] for k, v in inputs.items()}))
                                   for i in range(0, max(len(starts), 1), 4096)]) if len(starts) else None
        return features, future, starts, left_out

    (x_train, y_train, _, skip_train), (x_val, y_val, _, skip_val), (x_test, y_test, test_starts, skip_test) = (
        prepared(part) for part in parts)
    for name, x in (("training", x_train), ("validation", x_val), ("test", x_test)):
        if x is None:
            raise UserError(f"the {name} part has no window whose {cfg.horizon} target value(s) are all known; "
                            "the target is missing too often there (or choose other --validation-fraction / "
                            "--test-fraction).")
    skipped = f"; {skip_train + skip_val + skip_test} left out for a missing target" if skip_train + skip_val + \
        skip_test else ""
    run.data(table.source, f"{table.rows} steps{f' ({hours:g} h apart)' if hours else ''}, season {season}; "
                           f"{len(x_train)} train / {len(x_val)} validation / {len(x_test)} test windows{skipped}",
             offline=table.offline)

    # Model from the zoo: one forecast from the last state, or (horizon > 1) one at every step; it predicts the
    # change from a reference value (see change_targets). A seasonal reference is many-to-one: early steps of a
    # window have no value one season back.
    reference_season = season if cfg.relative_to == "season" else 0
    if cfg.relative_to == "season" and not cfg.horizon <= season <= cfg.lookback:
        raise UserError(f"--relative-to season needs --horizon <= season <= --lookback; the season is "
                        f"{season} (set it with --season), the lookback {cfg.lookback}.")
    per_step = cfg.horizon > 1 and not reference_season
    with run.scope():
        model = zoo.build("many_to_many" if per_step else "many_to_one", input="features",
                          feature_dim=prep.feature_count, cell=cfg.cell, units=cfg.units,
                          num_layers=cfg.num_layers, dropout=cfg.dropout, num_outputs=cfg.horizon * count)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse", metrics=["mae"])

    def dataset(x, future, training):
        scaled = (future - prep.mean[:count]) / prep.std[:count]
        return make_dataset(x, change_targets(x, scaled, per_step, reference_season),
                            batch_size=cfg.batch_size, seed=cfg.seed, training=training, autotune=cfg.autotune)

    model = run.fit(model, dataset(x_train, y_train, True), validation_data=dataset(x_val, y_val, False),
                    samples_per_epoch=len(x_train))
    if not run.is_chief:
        return run.worker_result()

    # Evaluate once on the test part, in the original units, against the naive forecasts, target by target.
    scaled = forecast_from_changes(model.predict(x_test, verbose=0, batch_size=256), x_test, count, per_step,
                                   reference_season)
    forecast = np.asarray(prep.unscale(np.asarray(scaled), list(range(count))))
    test, summary = {"windows": len(x_test), "left_out_missing_target": skip_test}, []
    for i, target in enumerate(columns.targets):
        naive = baselines(parsed["numbers"][:, i], test_starts, cfg.horizon, season)
        scores = {"model": errors(forecast[..., i], y_test[..., i]),
                  **{name: errors(values, y_test[..., i]) for name, values in naive.items()}}
        scores.update({f"mae_vs_{name}": scores["model"]["mae"] / scores[name]["mae"] for name in naive})
        test[target] = scores
        summary.append(f"test{run.marker}: {target}: MAE {scores['model']['mae']:.4f}  RMSE "
                       f"{scores['model']['rmse']:.4f}  ({len(x_test)} windows)")
        summary += [f"  {name}: MAE {scores[name]['mae']:.4f}  RMSE {scores[name]['rmse']:.4f}  "
                    f"(model MAE / this: {scores[f'mae_vs_{name}']:.3f})" for name in naive]
    times = times_of(table, columns)
    plot_forecast([times[s] for s in test_starts], y_test[:, 0, 0], forecast[:, 0, 0], run.figure("forecast.png"),
                  f"test part{run.marker}: 1 step ahead, {columns.targets[0]}")
    return run.finish(
        {"targets": columns.targets, "season": season, "test": test},
        export=lambda folder, extras: write_export(folder, model, prep, lookback=cfg.lookback,
                                                   targets=columns.targets, per_step=per_step,
                                                   season=reference_season, extras=extras),
        config={"targets": columns.targets, "raw_columns": prep.raw, "season_found": season}, summary=summary)


def predict(args):
    """The forecast after the last `lookback` rows of a CSV, from an export: the rows go in as written."""
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up lines on stderr

    from tasks.common.export import version_folder
    from tasks.forecasting.table import read_table

    path = version_folder(args.model, "forecasting")
    config = json.loads((path / "assets.extra" / "config.json").read_text())
    names = json.loads((path / "assets.extra" / "preparation.json").read_text())
    table = read_table(args.data)
    absent = [c for c in config["raw_columns"] if c not in table.header]
    if absent:
        raise UserError(f"{args.data} lacks the column(s) {absent} that the model reads; its columns are "
                        f"{table.header}.")
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
