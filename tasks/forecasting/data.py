"""Forecasting data: a CSV with a time column and numeric value columns (the Melbourne daily minimum temperatures by
default, from their public URL), or a generated seasonal series; chronological splits, normalization fitted on the
training part only, and (window, next values) pairs."""

import csv
import datetime
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in, unreachable_error
from tasks.common.tables import read_text_file
from tasks.common.training import finish_pipeline

TEMPERATURES_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/daily-min-temperatures.csv"
TEMPERATURES_HOST = "raw.githubusercontent.com"
GENERATED_NAME = "offline-generated seasonal series (NOT real data: built-in stand-in)"
TIME_COLUMNS = ("date", "time", "month", "timestamp", "datetime", "day", "year")


@dataclass
class Series:
    times: list  # the time column's text, one per row
    values: np.ndarray  # float32 [rows, features]
    columns: list  # feature names; the target is one of them
    target: int  # index of the predicted column
    season: int  # steps per season for the seasonal naive baseline (0: none)
    source: str
    offline: bool = False


def load_series(cfg):
    """The series `cfg` (data, dataset, target, season, seed) asks for."""
    if cfg.data:
        series = read_series(cfg.data, cfg.target)
    elif cfg.dataset == "generated":
        series = generated_series(cfg.seed)
    else:
        path = _download_temperatures(cfg.cache_dir, explicit=cfg.dataset == "temperatures")
        if path is None:
            announce_stand_in("the temperature series", "temperatures", GENERATED_NAME, "a local CSV")
            series = generated_series(cfg.seed)
        else:
            series = read_series(path, cfg.target)
            series.source = "daily minimum temperatures, Melbourne 1981-1990"
    if cfg.season:
        series.season = cfg.season
    return series


def read_series(path, target=None):
    """A CSV with a header: a time column (by name, or the first non-numeric one) and numeric value columns."""
    rows = list(csv.reader(line for line in read_text_file(path).splitlines() if line.strip()))
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise UserError(f"{path} has a header but no rows.")
    numeric = [i for i in range(len(header)) if all(_is_number(row[i]) for row in body if len(row) > i)]
    if not numeric:
        raise UserError(f"{path} has no numeric column (columns: {header}); it needs at least one column of values.")
    short = next((n for n, row in enumerate(body, start=2) if len(row) < len(header)), None)
    if short:
        raise UserError(f"{path} line {short} has fewer fields than the header ({len(header)}).")
    time_col = next((i for i, h in enumerate(header) if h.lower() in TIME_COLUMNS), None)
    if time_col is None:
        time_col = next((i for i in range(len(header)) if i not in numeric), None)
    features = [i for i in numeric if i != time_col]
    if target is None:
        target_col = features[-1]
    elif target in header and header.index(target) in features:
        target_col = header.index(target)
    else:
        raise UserError(f"--target {target!r} is not a numeric column of {path}; choose one of "
                        f"{[header[i] for i in features]}.")
    values = np.array([[float(row[i]) for i in features] for row in body], np.float32)
    times = [row[time_col] for row in body] if time_col is not None else [str(i) for i in range(len(body))]
    return Series(times, values, [header[i] for i in features], features.index(target_col), infer_season(times),
                  f"file {path}")


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def infer_season(times):
    """Steps per year for daily (365) or monthly (12) data, per day for hourly (24); 0 when the spacing is unknown."""
    parsed = []
    for text in times[:50]:
        for fmt in ("%Y-%m-%d", "%Y-%m", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M:%S"):
            try:
                parsed.append(datetime.datetime.strptime(text.strip(), fmt))
                break
            except ValueError:
                continue
    if len(parsed) < 2:
        return 0
    gap = np.median([(b - a).total_seconds() for a, b in zip(parsed, parsed[1:])]) / 3600
    return {24: 365, 1: 24}.get(round(gap)) or (12 if 27 * 24 <= gap <= 32 * 24 else 0)


def generated_series(seed, days=3650):
    """Ten years of a daily series with a yearly cycle, a weak weekly cycle, a slow trend and autocorrelated noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    noise = np.zeros(days)
    for i in range(1, days):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 1.2)
    values = 11 + 4 * np.sin(2 * np.pi * t / 365.25) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.0004 * t + noise
    start = datetime.date(2000, 1, 1)
    times = [(start + datetime.timedelta(days=int(d))).isoformat() for d in t]
    return Series(times, values[:, None].astype(np.float32), ["value"], 0, 365, GENERATED_NAME, offline=True)


def _download_temperatures(cache_dir, *, explicit):
    import keras

    if not downloads.network_reachable(TEMPERATURES_HOST):
        if explicit:
            raise unreachable_error("temperatures", TEMPERATURES_HOST, "a local CSV")
        return None
    return keras.utils.get_file("daily-min-temperatures.csv", TEMPERATURES_URL, cache_dir=cache_dir)


@dataclass
class Split:
    start: int  # first row of the part
    stop: int  # one past its last row


def chronological_splits(rows, validation_fraction, test_fraction, lookback, horizon):
    """Train / validation / test row ranges in time order. Validation and test windows may look back into the
    previous part (that past is known when forecasting), but no target value is in two parts."""
    n_test, n_val = int(rows * test_fraction), int(rows * validation_fraction)
    train = Split(0, rows - n_test - n_val)
    if min(train.stop, n_val, n_test) < lookback + horizon:
        raise UserError(f"the series has {rows} steps: too short for --lookback {lookback} and --horizon {horizon} "
                        f"in each of train, validation and test; use a shorter lookback or a longer series.")
    return train, Split(train.stop, train.stop + n_val), Split(rows - n_test, rows)


def windows(values, target, split, lookback, horizon):
    """(inputs [n, lookback, features], targets [n, horizon]) whose targets all lie inside `split`."""
    first = max(split.start, lookback)
    starts = np.arange(first, split.stop - horizon + 1)  # index of each window's first target step
    inputs = np.stack([values[s - lookback:s] for s in starts])
    targets = np.stack([values[s:s + horizon, target] for s in starts])
    return inputs.astype(np.float32), targets.astype(np.float32)


def make_dataset(inputs, targets, *, batch_size, seed, training, autotune=False):
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if training:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return finish_pipeline(dataset.batch(batch_size), autotune=autotune)
