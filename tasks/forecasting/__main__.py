"""Forecasting recipe: windows of the past predict the next values of a series, scored against the naive
baselines, exported as a SavedModel that takes raw (unnormalized) windows and answers in the original units.

    python -m tasks.forecasting                              # daily minimum temperatures, Melbourne (downloaded)
    python -m tasks.forecasting --data series.csv --target temp_c --lookback 60 --horizon 7
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

    import zoo
    from tasks.forecasting.data import chronological_splits, load_series, make_dataset, windows
    from tasks.forecasting.evaluation import baselines, errors, plot_forecast
    from tasks.forecasting.serving import Normalizer, change_targets, forecast_from_changes, write_export

    # Data: chronological parts; the normalization sees the training part only.
    series = load_series(cfg)
    parts = chronological_splits(len(series.values), cfg.validation_fraction, cfg.test_fraction, cfg.lookback,
                                 cfg.horizon)
    normalizer = Normalizer.fit(series.values[parts[0].start:parts[0].stop], series.target)
    scaled = normalizer.scale(series.values)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (
        windows(scaled, series.target, part, cfg.lookback, cfg.horizon) for part in parts)
    run.data(series.source, f"{len(series.values)} steps, target {series.columns[series.target]!r} of "
                            f"{series.columns}; {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test "
                            "windows", offline=series.offline)

    # Model from the zoo: one forecast from the last state, or (horizon > 1) one at every step; it predicts the
    # change from a reference value (see change_targets). A seasonal reference is many-to-one: early steps of a
    # window have no value one season back.
    season = series.season if cfg.relative_to == "season" else 0
    if cfg.relative_to == "season" and not cfg.horizon <= series.season <= cfg.lookback:
        raise UserError(f"--relative-to season needs --horizon <= season <= --lookback; the season is "
                        f"{series.season} (set it with --season), the lookback {cfg.lookback}.")
    per_step = cfg.horizon > 1 and not season
    with run.scope():
        model = zoo.build("many_to_many" if per_step else "many_to_one", input="features",
                          feature_dim=len(series.columns), cell=cfg.cell, units=cfg.units,
                          num_layers=cfg.num_layers, dropout=cfg.dropout, num_outputs=cfg.horizon)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="mse", metrics=["mae"])

    def dataset(x, y, training):
        return make_dataset(x, change_targets(x, y, series.target, per_step, season),
                            batch_size=cfg.batch_size, seed=cfg.seed, training=training, autotune=cfg.autotune)

    model = run.fit(model, dataset(x_train, y_train, True), validation_data=dataset(x_val, y_val, False),
                    samples_per_epoch=len(x_train))
    if not run.is_chief:
        return run.worker_result()

    # Evaluate once on the test part, in the original units, against the naive forecasts.
    predicted = model.predict(x_test, verbose=0, batch_size=256)
    forecast = np.asarray(normalizer.unscale_target(
        forecast_from_changes(predicted, x_test, series.target, per_step, season)))
    truth = normalizer.unscale_target(y_test)
    first_target = parts[2].stop - cfg.horizon - len(x_test) + 1  # row of the first test window's first target
    naive = baselines(series.values[:, series.target], first_target, len(x_test), cfg.horizon, series.season)
    test = {"windows": len(x_test), "model": errors(forecast, truth),
            **{name: errors(values, truth) for name, values in naive.items()}}
    for name in naive:
        test[f"mae_vs_{name}"] = test["model"]["mae"] / test[name]["mae"]
    plot_forecast(series.times[first_target:first_target + len(x_test)], truth[:, 0], forecast[:, 0],
                  run.figure("forecast.png"),
                  f"test part{run.marker}: 1 step ahead, {series.columns[series.target]}")
    summary = [f"test{run.marker}: MAE {test['model']['mae']:.4f}  RMSE {test['model']['rmse']:.4f}  "
               f"({len(x_test)} windows)"]
    summary += [f"  {name}: MAE {test[name]['mae']:.4f}  RMSE {test[name]['rmse']:.4f}  "
                f"(model MAE / this: {test[f'mae_vs_{name}']:.3f})" for name in naive]
    return run.finish(
        {"target": series.columns[series.target], "season": series.season, "test": test},
        export=lambda folder, extras: write_export(folder, model, normalizer, lookback=cfg.lookback,
                                                   features=len(series.columns), per_step=per_step, season=season,
                                                   extras=extras),
        config={"columns": series.columns, "target_column": series.target}, summary=summary)


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
