"""Forecasting: reading messy CSVs (missing values, categories, split time columns), the preparation in the graph,
chronological windows, targets as changes, baselines, the recipe end to end with an export that takes the rows as
written and answers in the original units, and every bad-input error."""

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.forecasting.__main__ import main
from tasks.forecasting.data import (
    chronological_splits,
    generated_csv,
    in_time_order,
    row_hours,
    season_of,
    step_hours,
    windows,
)
from tasks.forecasting.evaluation import baselines
from tasks.forecasting.preparation import Preparation, calendar_features, fill_gaps, time_fields
from tasks.forecasting.serving import change_targets, forecast_from_changes, signature_names
from tasks.forecasting.table import (
    blank_missing_values,
    drop_unseen,
    plan_columns,
    read_table,
    table_from_text,
    time_order,
)
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


def write_air_quality(path, hours=24 * 40, seed=0):
    """Like the Beijing PM2.5 file: a row number, the time in four columns, a target with NA cells (one long gap),
    numeric covariates, a wind-direction category, and a free-text column."""
    rng = np.random.default_rng(seed)
    lines, pm = ["No,year,month,day,hour,pm2.5,DEWP,TEMP,cbwd,Iws,station note"], 80.0
    start = datetime.datetime(2010, 1, 1)
    for i in range(hours):
        t = start + datetime.timedelta(hours=i)
        wind = ["NE", "NW", "SE", "cv"][(i // 37) % 4]
        pm = max(0.0, 0.9 * pm + 8 + (12 if wind == "SE" else -5) + rng.normal(0, 5))
        cell = "NA" if rng.random() < 0.05 or 300 < i < 320 else f"{pm:.0f}"
        temp = 10 * np.sin(2 * np.pi * i / 24) + rng.normal()
        lines.append(f"{i + 1},{t.year},{t.month},{t.day},{t.hour},{cell},{temp / 2 - 10:.0f},{temp:.1f},{wind},"
                     f"{rng.random() * 10:.2f},reading {i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def typical_step(table, columns):
    return step_hours(row_hours(table, columns.time, columns.time_order))


def test_read_series_finds_the_time_and_value_columns(tmp_path):
    table = read_table(write_csv(tmp_path / "s.csv"))
    columns = plan_columns(table, "temp")
    assert columns.targets == ["temp"] and columns.numeric == ["temp", "humidity"] and columns.time == ["date"]
    assert columns.time_order == "ymd" and season_of(typical_step(table, columns)) == 365
    assert time_order(["1949-01", "1949-02"]) == "ym" and time_order(["01.01.2009 00:10:00"]) == "dmyhis"
    for text, season in (("month,v\n1949-01,1\n1949-02,2\n1949-03,3\n", 12),
                         ("date,co2\n19580329,316.1\n19580405,317.3\n19580412,NA\n", 52)):
        table = table_from_text(text, "x")
        assert season_of(typical_step(table, plan_columns(table))) == season


def test_a_messy_table_gets_every_column_a_role_and_says_so(tmp_path):
    table = read_table(write_air_quality(tmp_path / "air.csv"))
    columns = plan_columns(table, "pm2.5")
    assert columns.time == ["year", "month", "day", "hour"] and columns.time_order == "ymdh"
    assert columns.targets == ["pm2.5"] and columns.numeric == ["pm2.5", "DEWP", "TEMP", "Iws"]
    assert columns.categorical == ["cbwd"] and typical_step(table, columns) == 1
    notes = "\n".join(columns.notes)
    for said in ("from the columns year, month, day, hour", "No (a row number)", "cbwd (one-hot, 4 values)",
                 "station note (text with 960 distinct values)", "pm2.5 "):
        assert said in notes
    chosen = plan_columns(table, "pm2.5,TEMP", inputs="cbwd")
    assert chosen.targets == ["pm2.5", "TEMP"] and chosen.numeric == ["pm2.5", "TEMP"]
    assert chosen.categorical == ["cbwd"] and "DEWP (not in --inputs)" in "".join(chosen.notes)
    assert plan_columns(table, "TEMP", inputs="none").numeric == ["TEMP"]
    late = table_from_text("v,w,kind\n1,,\n2,,\n3,,\n4,7,a\n", "x")  # w and kind start after the training rows
    columns = plan_columns(late, "v")
    drop_unseen(columns, late, slice(0, 3))
    assert columns.numeric == ["v"] and not columns.categorical and "w, kind (no value in the training part)" in \
        columns.notes[-1]
    with pytest.raises(UserError, match="--target 'w' has no value in the training part"):
        drop_unseen(plan_columns(late, "w"), late, slice(0, 3))


def write_spreadsheet_export(path, days=200):
    """write_csv's series as a spreadsheet in a comma-decimal locale saves it (like UCI's AirQualityUCI.csv):
    ';' between fields, 20,5 for 20.5, dates day first and the time of day in a column of its own, -200 for a
    missing value, a ';' at each line's end, and lines of separators alone at the end of the file. Returns (its
    path, the same series as a plain CSV, NA where the spreadsheet has -200)."""
    header, *rows = write_csv(path.with_suffix(".plain.csv"), rows=days).read_text().splitlines()
    lines, plain = ["Date;Time;humidity;temp;;"], [header]
    for i, row in enumerate(rows):
        date, humidity, temp = row.split(",")
        year, month, day = date.split("-")
        humidity, marked = (humidity, humidity) if i % 17 != 5 else ("NA", "-200")
        plain.append(f"{date},{humidity},{temp}")
        lines.append(f"{day}/{month}/{year};00.00.00;{marked.replace('.', ',')};{temp.replace('.', ',')};;")
    path.write_text("\r\n".join([*lines, ";;;;;", ";;;;;"]) + "\r\n")
    path.with_suffix(".plain.csv").write_text("\n".join(plain) + "\n")
    return path, path.with_suffix(".plain.csv")


def test_a_spreadsheet_export_with_semicolons_and_decimal_commas_reads_as_its_plain_csv(tmp_path):
    european, plain = write_spreadsheet_export(tmp_path / "s.csv")
    table, reference = read_table(european), read_table(plain)
    blank_missing_values(table, ["-200"])
    assert table.header == ["Date", "Time", "humidity", "temp"] and table.rows == reference.rows == 200
    assert table.decimal_comma == ["humidity", "temp"] and reference.decimal_comma == []
    columns, reference_columns = plan_columns(table, "temp"), plan_columns(reference, "temp")
    assert columns.numeric == ["temp", "humidity"] and columns.time == ["Date", "Time"]
    assert columns.time_order == "dmyhis" and typical_step(table, columns) == 24
    notes = "\n".join(columns.notes)
    for said in ("read as semicolon-separated", "2 row(s) with no value in any column",
                 "2 unnamed column(s) with no value", "decimal commas: humidity, temp",
                 "-200: read as a missing value (12 cells)", "humidity 12 of 200"):
        assert said in notes
    # The same statistics, and the same numbers and calendar from the cells as each file writes them: the graph
    # reads 20,5 as 20.5, -200 as missing and 31/01/2001 as the 31st of January.
    reference_columns.calendar = columns.calendar = ["day_of_week", "day_of_year"]
    prep = Preparation.fit(table, columns, slice(0, 150), ["-200"])
    expected = Preparation.fit(reference, reference_columns, slice(0, 150))
    np.testing.assert_allclose(prep.mean, expected.mean)
    np.testing.assert_allclose(prep.std, expected.std)
    as_written = read_table(european)  # -200 still in it, as a client sends it
    parsed = prep.parse({c: tf.constant([as_written.cells[c]]) for c in prep.raw})
    wanted = expected.parse({c: tf.constant([reference.cells[c]]) for c in expected.raw})
    for name in ("numbers", "calendar"):
        np.testing.assert_allclose(parsed[name], wanted[name], atol=1e-6)
    saved = Preparation.from_json(prep.to_json())
    assert saved.decimal_comma == ["temp", "humidity"] and saved.missing_values == ["-200"]  # the numeric order
    # -200,0 is the same number; a time of day without its date is no time.
    odd = {"temp": ["-200,0", "1,5"], "humidity": ["1", "2"], "Date": ["", "02/01/2001"],
           "Time": ["10.00.00", "10.30.00"]}
    parsed = prep.parse({c: tf.constant([cells]) for c, cells in odd.items()})
    assert np.isnan(parsed["numbers"][0, 0, 0]) and parsed["numbers"][0, 1, 0] == 1.5
    hours = time_fields({c: tf.constant(cells) for c, cells in odd.items()}, ["Date", "Time"], "dmyhis")
    assert np.isnan(hours[0]).all() and hours[1].numpy().tolist() == [2001, 1, 2, 10, 30, 0]
    # Slashes with no day above 12 stay month first; one above 12 anywhere makes the column day first.
    assert time_order(["01/02/2001", "03/04/2001"]) == "mdy" and time_order(["01/02/2001", "13/02/2001"]) == "dmy"


def test_a_date_column_and_an_hour_column_make_an_hourly_time():
    rows = "".join(f"2024-01-{1 + i // 24:02d},{i % 24},{i}\n" for i in range(96))
    table = table_from_text("date,hour,load\n" + rows, "x")
    columns = plan_columns(table)
    assert columns.time == ["date", "hour"] and columns.time_order == "ymdh" and columns.numeric == ["load"]
    assert typical_step(table, columns) == 1 and season_of(typical_step(table, columns)) == 24


def test_the_recipe_trains_on_a_spreadsheet_export_and_its_export_reads_it_as_written(tmp_path, capsys):
    european, plain = write_spreadsheet_export(tmp_path / "s.csv")
    metrics = main(["--data", str(european), "--target", "temp", "--missing-values=-200", "--run-dir",
                    str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY, "--epochs", "1"])
    assert "decimal commas: humidity, temp" in capsys.readouterr().out
    # The cells as the spreadsheet writes them, and as the plain file writes them: the same forecasts.
    rows = [50, 90, 200]
    answer, _ = served(metrics["export"], read_table(european), rows)
    reference, _ = served(metrics["export"], read_table(plain), rows)
    np.testing.assert_allclose(answer["temp"], reference["temp"], rtol=1e-6)
    assert 10 < float(answer["temp"][-1, 0]) < 60  # degrees: the commas were read as decimal marks
    capsys.readouterr()
    forecast = main(["predict", "--model", metrics["export"], "--data", str(european)])
    np.testing.assert_allclose(forecast["temp"], answer["temp"][-1], rtol=1e-5)


def test_fill_gaps_stays_inside_each_window():
    x = np.array([[np.nan, 1, np.nan, np.nan, 4, np.nan], [np.nan] * 6, [2, 2, 2, 2, 2, 2]], np.float32)[..., None]
    filled = fill_gaps(tf.constant(x)).numpy()[..., 0]
    np.testing.assert_allclose(filled, [[1, 1, 2, 3, 4, 4], [0] * 6, [2] * 6])  # nearest at the ends, linear inside
    # The same window in a longer batch, and a window of one step, are filled the same way.
    np.testing.assert_allclose(fill_gaps(tf.constant(np.repeat(x[:1], 5, 0))).numpy()[3, :, 0], filled[0])
    np.testing.assert_allclose(fill_gaps(tf.constant([[[np.nan]]], tf.float32)).numpy(), [[[0]]])


def test_calendar_features_agree_with_python_datetime():
    rng = np.random.default_rng(0)
    moments = [datetime.datetime(1900, 1, 1) + datetime.timedelta(hours=int(h)) for h in rng.integers(0, 1.3e6, 50)]
    cells = tf.constant([[m.strftime("%Y-%m-%d %H:%M:%S") for m in moments]])
    features = calendar_features(time_fields({"t": cells}, ["t"], "ymdhis"), ["hour", "day_of_week", "day_of_year"])
    for m, row in zip(moments, features.numpy()[0]):
        day_of_year = (m - datetime.datetime(m.year, 1, 1)).total_seconds() / 86400
        angles = [m.hour / 24, ((m.weekday() - 3) % 7 + m.hour / 24) / 7, day_of_year / 365.25]
        expected = [f(2 * np.pi * a) for a in angles for f in (np.sin, np.cos)]
        np.testing.assert_allclose(row, expected, atol=1e-4)
    unreadable = calendar_features(time_fields({"t": tf.constant(["NA", "2001-02-03"])}, ["t"], "ymd"), ["hour"])
    assert np.isnan(unreadable.numpy()[0]).all() and not np.isnan(unreadable.numpy()[1]).any()


def test_preparation_scales_fills_and_one_hots_from_the_training_rows(tmp_path):
    table = table_from_text("date,v,kind\n2001-01-01,1,a\n2001-01-02,NA,b\n2001-01-03,3,a\n2001-01-04,100,zz\n"
                            "2001-01-05,,\n", "x")
    columns = plan_columns(table, "v")
    prep = Preparation.fit(table, columns, slice(0, 3))
    np.testing.assert_allclose([prep.mean[0], prep.std[0]], [2, 1])  # rows 0-2, the missing one skipped
    assert prep.vocabularies == {"kind": ["a", "b"]}
    parsed = prep.parse({c: tf.constant([table.cells[c]]) for c in prep.raw})
    features = prep.features(parsed).numpy()[0]
    np.testing.assert_allclose(features[:, 0], [-1, 0, 1, 98, 98])  # the gap linear, the end from the last value
    np.testing.assert_array_equal(features[:, 1:], [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 0]])
    again = Preparation.from_json(json.loads(json.dumps(prep.to_json())))
    np.testing.assert_allclose(again.features(again.parse({c: tf.constant([table.cells[c]]) for c in prep.raw})),
                               features[None])
    assert signature_names(["pm2.5", "2nd", "pm2_5", "a b"]) == {"pm2.5": "pm2_5", "2nd": "c_2nd", "pm2_5": "pm2_5_",
                                                                  "a b": "a_b"}


def test_windows_never_put_one_target_in_two_parts_and_skip_missing_targets():
    values = np.arange(100, dtype=np.float32)
    values[90] = np.nan
    parsed = {"numbers": values[:, None]}
    parts = chronological_splits(100, 0.2, 0.2, lookback=5, horizon=3)
    found = [windows(parsed, part, 5, 3, 1) for part in parts]
    seen = [set(future.ravel().tolist()) for _, future, _, _ in found]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and max(seen[2]) == 99
    inputs, future, starts, left_out = found[2]
    assert left_out == 3 and 90 not in starts and not np.isnan(future).any()  # windows whose targets hold row 90
    np.testing.assert_array_equal(inputs["numbers"][0, :, 0], np.arange(75, 80))
    np.testing.assert_array_equal(future[0, :, 0], [80, 81, 82])


def test_a_short_series_needs_one_training_window_and_one_held_out_window_per_part():
    # 50 daily steps at the default lookback (30): validation and test look back into the parts before them
    parsed = {"numbers": np.arange(50, dtype=np.float32)[:, None]}
    parts = chronological_splits(50, 0.15, 0.15, lookback=30, horizon=1)
    assert [len(windows(parsed, part, 30, 1, 1)[2]) for part in parts] == [6, 7, 7]
    with pytest.raises(UserError, match="use --lookback 35 or less"):
        chronological_splits(50, 0.15, 0.15, lookback=36, horizon=1)
    with pytest.raises(UserError, match="shorter than --horizon 8"):
        chronological_splits(50, 0.15, 0.15, lookback=5, horizon=8)


def test_change_targets_round_trip_to_the_values():
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(4, 3, 2)).astype(np.float32)  # 3 steps ahead of 2 targets
    for per_step in (False, True):
        changes = change_targets(x, y, per_step)
        assert changes.shape == ((4, 6, 6) if per_step else (4, 6))
        np.testing.assert_allclose(forecast_from_changes(changes, x, 2, per_step), y, atol=1e-6)
    per_step = change_targets(x, y, True).reshape(4, 6, 3, 2)
    np.testing.assert_allclose(per_step[:, 2, 0], x[:, 3, :2] - x[:, 2, :2], atol=1e-6)  # step 2 predicts step 3
    seasonal = change_targets(x, y, False, season=4).reshape(4, 3, 2)  # each step against the value 4 before it
    np.testing.assert_allclose(seasonal[:, 0], y[:, 0] - x[:, 2, :2], atol=1e-6)
    np.testing.assert_allclose(seasonal[:, 2], y[:, 2] - x[:, 4, :2], atol=1e-6)
    np.testing.assert_allclose(forecast_from_changes(seasonal.reshape(4, 6), x, 2, False, season=4), y, atol=1e-6)


def test_baselines():
    values = np.arange(50, dtype=np.float32)
    naive = baselines(values, np.arange(20, 23), horizon=2, season=7)
    np.testing.assert_array_equal(naive["last_value"], [[19, 19], [20, 20], [21, 21]])
    np.testing.assert_array_equal(naive["seasonal_naive"], [[13, 14], [14, 15], [15, 16]])
    values[[19, 13]] = np.nan  # a naive forecaster repeats the last value it knows
    naive = baselines(values, np.arange(20, 21), horizon=2, season=7)
    np.testing.assert_array_equal(naive["last_value"], [[18, 18]])
    np.testing.assert_array_equal(naive["seasonal_naive"], [[12, 14]])


def served(export, table, rows):
    """The export's answer for windows of raw cells ending at each of `rows`, as a client would send them."""
    names = json.loads((Path(export) / "assets.extra" / "preparation.json").read_text())
    lookback = json.loads((Path(export) / "assets.extra" / "config.json").read_text())["lookback"]
    window = {name: tf.constant([table.cells[c][r - lookback:r] for r in rows]) for c, name in names["inputs"].items()}
    answer = tf.saved_model.load(str(export)).signatures["serving_default"](**window)
    return {t: answer[name].numpy() for t, name in names["outputs"].items()}, window


def test_recipe_on_a_messy_multivariate_table_exports_the_whole_preparation(tmp_path, capsys):
    import keras

    csv = write_air_quality(tmp_path / "air.csv")
    metrics = main(["--data", str(csv), "--target", "pm2.5,TEMP", "--horizon", "3", "--calendar",
                    "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY])
    out = capsys.readouterr().out
    assert "calendar: hour, day_of_week, day_of_year" in out and "left out for a missing target" in out
    assert metrics["season"] == 24 and metrics["test"]["left_out_missing_target"] >= 0
    for target in ("pm2.5", "TEMP"):
        assert {"model", "last_value", "seasonal_naive"} <= set(metrics["test"][target])
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    export = Path(metrics["export"])
    for name in ("model.keras", "preparation.json", "forecast.png", "metrics.json", "config.json"):
        assert (export / "assets.extra" / name).exists()

    # The export takes the cells as written and answers what the recipe's own preparation and model answer.
    table = read_table(csv)
    rows = [100, 320, table.rows]  # the second window ends inside the long gap of the target
    answer, window = served(export, table, rows)
    assert set(answer) == {"pm2.5", "TEMP"} and answer["TEMP"].shape == (3, 3)
    # model.keras is the same model with the preparation inside: raw cells in, forecasts out.
    model = keras.models.load_model(export / "assets.extra" / "model.keras")
    expected = model(window)
    np.testing.assert_allclose(answer["pm2.5"], expected["pm2_5"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(answer["TEMP"], expected["TEMP"], rtol=1e-4, atol=1e-3)
    # Its preparation is the recorded one, rebuilt in Python: the features agree, and the network's changes from the
    # last value seen, unscaled, are the forecast.
    saved = json.loads((export / "assets.extra" / "preparation.json").read_text())
    prep = Preparation.from_json(saved)
    features = prep.features(prep.parse({c: window[name] for c, name in saved["inputs"].items()}))
    np.testing.assert_allclose(model.get_layer("prepare_rows")(window), features, atol=1e-6)
    network = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    by_hand = prep.unscale(np.asarray(forecast_from_changes(network(features), features, 2, True)), [0, 1])
    np.testing.assert_allclose(answer["TEMP"], by_hand[..., 1], rtol=1e-4, atol=1e-3)
    assert -20 < float(np.mean(answer["TEMP"])) < 20 and np.isfinite(answer["pm2.5"]).all()

    # A category never seen in training and missing cells are answered, not refused.
    odd = dict(window)
    odd["cbwd"] = tf.fill(tf.shape(window["cbwd"]), "SSW")
    odd["pm2_5"] = tf.fill(tf.shape(window["pm2_5"]), "NA")
    odd["hour"] = tf.fill(tf.shape(window["hour"]), "")
    answer = tf.saved_model.load(str(export)).signatures["serving_default"](**odd)
    assert all(np.isfinite(v.numpy()).all() for v in answer.values())

    capsys.readouterr()
    forecast = main(["predict", "--model", str(export.parent), "--data", str(csv)])
    assert len(forecast["TEMP"]) == 3 and json.loads(capsys.readouterr().out)["after"] == "2010 2 9 23"
    # The same file listed newest first: the forecast follows the same last rows.
    header, *rows = csv.read_text().splitlines()
    (tmp_path / "newest_first.csv").write_text("\n".join([header, *rows[::-1]]) + "\n")
    assert main(["predict", "--model", str(export.parent), "--data", str(tmp_path / "newest_first.csv")]) == forecast
    printed = capsys.readouterr()
    assert json.loads(printed.out)["after"] == "2010 2 9 23" and "the rows run newest first" in printed.err


def test_single_series_export_matches_the_keras_model(tmp_path):
    csv = write_csv(tmp_path / "s.csv")
    metrics = main(["--data", str(csv), "--target", "temp", "--season", "7", "--run-dir", str(tmp_path / "run"),
                    "--export-dir", str(tmp_path / "exports"), *TINY])
    table = read_table(csv)
    answer, window = served(metrics["export"], table, [table.rows])
    assert answer["temp"].shape == (1, 1) and 10 < float(answer["temp"][0, 0]) < 60  # degrees, not std deviations
    assert set(window) == {"temp", "humidity"}  # no calendar asked: the time is not an input
    assert {"model", "last_value", "seasonal_naive"} <= set(metrics["test"]["temp"])


def test_a_constant_series_trains_scores_and_exports(tmp_path):
    """A stuck sensor: every naive forecast is exact, so the model-to-naive ratios are None, not a division by zero
    after training."""
    csv = tmp_path / "stuck.csv"
    csv.write_text("date,value\n" + "".join(f"{np.datetime64('2001-01-01') + i},5.0\n" for i in range(200)))
    metrics = main(["--data", str(csv), "--season", "7", "--run-dir", str(tmp_path / "run"),
                    "--export-dir", str(tmp_path / "exports"), *TINY, "--epochs", "1"])
    scores = metrics["test"]["value"]
    assert scores["last_value"]["mae"] == 0 and scores["mae_vs_last_value"] is None
    assert np.isfinite(scores["model"]["mae"]) and Path(metrics["export"]).is_dir()
    answer, _ = served(metrics["export"], read_table(csv), [200])
    np.testing.assert_allclose(answer["value"], 5.0, atol=0.5)


def test_seasonal_reference_export_matches_the_recipe(tmp_path):
    csv = write_csv(tmp_path / "s.csv", rows=300, columns=("temp",))
    metrics = main(["--data", str(csv), "--relative-to", "season", "--season", "7", "--horizon", "2",
                    "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY])
    table = read_table(csv)
    answer, _ = served(metrics["export"], table, [table.rows])
    assert answer["temp"].shape == (1, 2) and 10 < float(np.mean(answer["temp"])) < 50


def test_offline_fallback_uses_the_generated_series(tmp_path, capsys):
    metrics = main(["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports"), *TINY,
                    "--epochs", "1"])
    assert metrics["offline_data"] is True and "could not be downloaded" in capsys.readouterr().out
    assert generated_csv(0).count("\n") == 3651  # a header and ten years of days


def day(i):
    return datetime.date(2001, 1, 1) + datetime.timedelta(days=i)


def run_error(argv, capsys):
    return user_error(main, argv, capsys)


@pytest.mark.parametrize("content,flags,message", [
    ("date,city\n2001-01-01,Paris\n2001-01-02,Rome\n", [], "has no numeric column"),
    ("", [], "is empty"),
    ("date,temp\n", [], "has a header but no rows"),
    ("date,temp,temp\n2001-01-01,1,2\n", [], "names a column twice"),
    (None, ["--target", "pressure"], "--target 'pressure' is not a column of"),
    (None, ["--target", "date"], "--target 'date' is the time"),
    (None, ["--target", " , "], "--target names no column"),
    ("date,city,temp\n" + "".join(f"{day(i)},Paris,{i}\n" for i in range(200)), ["--target", "city"],
     "--target 'city' is not a numeric column of"),
    (None, ["--inputs", "wind"], "--inputs 'wind' is not a column of"),
    (None, ["--lookback", "300"], "too short for --lookback 300"),
    (None, ["--relative-to", "season", "--season", "30"], "--relative-to season needs --horizon <= season <= "),
    ("step,value\n" + "".join(f"{i},NA\n" for i in range(200)), ["--target", "value"], "every value of it"),
    ("date,value\n" + "".join(f"{day(i)},{i if i < 150 else 'NA'}\n" for i in range(200)), [],
     "the test part has no window whose"),
    ("value\n" + "".join(f"{i % 7}\n" for i in range(200)), ["--calendar"], "--calendar needs a time column"),
    ("date,value\n" + "".join(f"{day(i % 100)},{i}\n" for i in range(200)), [],
     "goes back at data row 101 ('2001-01-01') and repeats earlier times: the file looks like several series"),
    ("date,value\n" + "".join(f"{day(i) if i != 50 else 'soon'},{i}\n" for i in (*range(150), 151, 150)), [],
     "1 time(s) cannot be read, so the rows cannot be sorted"),
])
def test_bad_input_gets_one_clear_error(tmp_path, capsys, content, flags, message):
    path = tmp_path / "s.csv"
    if content is None:
        write_csv(path, rows=400)
    else:
        path.write_text(content)
    assert message in run_error(["--data", str(path), "--run-dir", str(tmp_path / "run"), *TINY, *flags], capsys)
    assert not (tmp_path / "exports").exists()


@pytest.mark.parametrize("order", ["newest first", "shuffled"])
def test_rows_out_of_time_order_are_read_oldest_first_and_say_so(tmp_path, order):
    header, *rows = write_csv(tmp_path / "s.csv", rows=300).read_text().splitlines()
    shuffled = rows[::-1] if order == "newest first" else [rows[i] for i in np.random.default_rng(0).permutation(300)]
    (tmp_path / "out_of_order.csv").write_text("\n".join([header, *shuffled]) + "\n")
    prepared = {}
    for name in ("s.csv", "out_of_order.csv"):
        table = read_table(tmp_path / name)
        columns = plan_columns(table, "temp")
        prepared[name] = (in_time_order(table, columns.time, columns.time_order)[0], table.cells)
    assert prepared["out_of_order.csv"][1] == prepared["s.csv"][1]
    assert prepared["s.csv"][0] is None and prepared["out_of_order.csv"][0] == (
        "the rows run newest first: read oldest first" if order == "newest first" else
        "the rows are not in time order: sorted by time")


def test_naming_the_dataset_while_offline_and_bad_flags(tmp_path, capsys):
    assert "--dataset temperatures needs a network connection" in run_error(
        ["--dataset", "temperatures", "--run-dir", str(tmp_path / "run")], capsys)
    assert "--horizon must be positive" in run_error(["--horizon", "0"], capsys)
    (tmp_path / "short.csv").write_text("date,a,b\n2001-01-01,1,2\n2001-01-02,3\n")
    with pytest.raises(UserError, match="line 3 has 2 fields; the header has 3"):
        read_table(tmp_path / "short.csv")
