"""Forecasting: CSV parsing, chronological windows, targets as changes, baselines, the recipe end to end with an
export that takes raw windows and answers in the original units, and every bad-input error."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.forecasting.__main__ import main
from tasks.forecasting.data import chronological_splits, generated_series, infer_season, read_series, windows
from tasks.forecasting.evaluation import baselines
from tasks.forecasting.serving import change_targets, forecast_from_changes
from tests.tasks.cli_errors import user_error

pytestmark = pytest.mark.xdist_group("forecasting")
TINY = ["--epochs", "3", "--units", "8", "--lookback", "14", "--batch-size", "128"]



def write_csv(path, rows=400, columns=("humidity", "temp")):
    t = np.arange(rows)
    lines = ["date," + ",".join(columns)]
    start = np.datetime64("2001-01-01")
    for i in t:
        values = [50 + 10 * np.sin(i / 9) + j for j in range(len(columns) - 1)] + [20 + 5 * np.sin(i / 7) + 0.05 * i]
        lines.append(f"{start + i}," + ",".join(f"{v:.3f}" for v in values))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_series_finds_the_time_and_value_columns(tmp_path):
    series = read_series(write_csv(tmp_path / "s.csv"), "temp")
    assert series.columns == ["humidity", "temp"] and series.target == 1 and series.values.shape == (400, 2)
    assert series.season == 365 and series.times[0] == "2001-01-01"
    assert infer_season(["1949-01", "1949-02", "1949-03"]) == 12


def test_windows_never_put_one_target_in_two_parts():
    values = np.arange(100, dtype=np.float32)[:, None]
    parts = chronological_splits(100, 0.2, 0.2, lookback=5, horizon=3)
    targets = [windows(values, 0, part, 5, 3)[1] for part in parts]
    seen = [set(t.ravel().tolist()) for t in targets]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and max(seen[2]) == 99
    x, y = windows(values, 0, parts[2], 5, 3)
    np.testing.assert_array_equal(x[0, :, 0], np.arange(75, 80)) and np.testing.assert_array_equal(y[0], [80, 81, 82])


def test_change_targets_round_trip_to_the_values():
    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    for per_step in (False, True):
        changes = change_targets(x, y, 1, per_step)
        assert changes.shape == ((4, 6, 3) if per_step else (4, 3))
        np.testing.assert_allclose(forecast_from_changes(changes, x, 1, per_step), y, atol=1e-6)
    per_step = change_targets(x, y, 1, True)
    np.testing.assert_allclose(per_step[:, 2, 0], x[:, 3, 1] - x[:, 2, 1], atol=1e-6)  # step 2 predicts step 3
    seasonal = change_targets(x, y, 1, False, season=4)  # each step against the value 4 steps before it
    np.testing.assert_allclose(seasonal[:, 0], y[:, 0] - x[:, 2, 1], atol=1e-6)
    np.testing.assert_allclose(seasonal[:, 2], y[:, 2] - x[:, 4, 1], atol=1e-6)
    np.testing.assert_allclose(forecast_from_changes(seasonal, x, 1, False, season=4), y, atol=1e-6)


def test_baselines():
    values = np.arange(50, dtype=np.float32)
    naive = baselines(values, first=20, count=3, horizon=2, season=7)
    np.testing.assert_array_equal(naive["last_value"], [[19, 19], [20, 20], [21, 21]])
    np.testing.assert_array_equal(naive["seasonal_naive"], [[13, 14], [14, 15], [15, 16]])


def test_recipe_end_to_end_multivariate_with_a_horizon(tmp_path, capsys):
    csv = write_csv(tmp_path / "s.csv")
    metrics = main(["--data", str(csv), "--target", "temp", "--horizon", "3", "--season", "7",
                    "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY])
    export = Path(metrics["export"])
    assert {"model", "last_value", "seasonal_naive"} <= set(metrics["test"])
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    for name in ("model.keras", "normalization.json", "forecast.png", "metrics.json", "config.json"):
        assert (export / "assets.extra" / name).exists()
    # The export takes raw windows and answers in the original units: compare with the Keras model by hand.
    import keras

    series = read_series(csv, "temp")
    window = series.values[-14:][None]
    served = tf.saved_model.load(str(export)).signatures["serving_default"](window=tf.constant(window))["forecast"]
    norm = json.loads((export / "assets.extra" / "normalization.json").read_text())
    mean, std = np.array(norm["mean"]), np.array(norm["std"])
    scaled = (window - mean) / std
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    changes = np.asarray(model(scaled.astype(np.float32)))
    expected = (scaled[:, -1, 1:2] + changes[:, -1]) * std[1] + mean[1]
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-4)
    assert 10 < float(np.mean(served)) < 60  # degrees, not standard deviations

    capsys.readouterr()
    forecast = main(["predict", "--model", str(export.parent), "--data", str(csv)])
    assert len(forecast) == 3 and json.loads(capsys.readouterr().out)["after"] == series.times[-1]


def test_seasonal_reference_export_matches_the_recipe(tmp_path):
    csv = write_csv(tmp_path / "s.csv", rows=300, columns=("temp",))
    metrics = main(["--data", str(csv), "--relative-to", "season", "--season", "7", "--horizon", "2",
                    "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY])
    window = read_series(csv).values[-14:][None]
    out = tf.saved_model.load(metrics["export"]).signatures["serving_default"](window=tf.constant(window))
    assert out["forecast"].shape == (1, 2) and 10 < float(np.mean(out["forecast"])) < 50


def test_offline_fallback_uses_the_generated_series(tmp_path, capsys):
    metrics = main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY,
                    "--epochs", "1"])
    assert metrics["offline_data"] is True and "could not be downloaded" in capsys.readouterr().out
    assert generated_series(0).values.shape == (3650, 1)


def run_error(argv, capsys):
    return user_error(main, argv, capsys)


@pytest.mark.parametrize("content,flags,message", [
    ("date,city\n2001-01-01,Paris\n2001-01-02,Rome\n", [], "has no numeric column"),
    ("", [], "is empty"),
    ("date,temp\n", [], "has a header but no rows"),
    (None, ["--target", "pressure"], "--target 'pressure' is not a numeric column"),
    (None, ["--lookback", "300"], "too short for --lookback 300"),
    (None, ["--relative-to", "season", "--season", "30"], "--relative-to season needs --horizon <= season <= "),
])
def test_bad_input_gets_one_clear_error(tmp_path, capsys, content, flags, message):
    path = tmp_path / "s.csv"
    if content is None:
        write_csv(path, rows=400)
    else:
        path.write_text(content)
    assert message in run_error(["--data", str(path), "--run-dir", str(tmp_path / "run"), *TINY, *flags], capsys)
    assert not (tmp_path / "exports").exists()


def test_naming_the_dataset_while_offline_and_bad_flags(tmp_path, capsys):
    assert "--dataset temperatures needs a network connection" in run_error(
        ["--dataset", "temperatures", "--run-dir", str(tmp_path / "run")], capsys)
    assert "--horizon must be positive" in run_error(["--horizon", "0"], capsys)
    with pytest.raises(UserError, match="has fewer fields"):
        (tmp_path / "short.csv").write_text("date,a,b\n2001-01-01,1,2\n2001-01-02,3\n")
        read_series(tmp_path / "short.csv")
