"""Forecasting data: a CSV with a time and value columns (the Melbourne daily minimum temperatures by default, from
their public URL), or a generated seasonal series; the step length and season read from the time; chronological
splits; and windows of parsed rows with the values that follow them."""

import datetime
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in, unreachable_error
from tasks.common.training import finish_pipeline
from tasks.forecasting.preparation import Preparation, calendar_parts, hours_since_epoch, time_fields
from tasks.forecasting.table import (
    Columns,
    Table,
    blank_missing_values,
    drop_unseen,
    missing_values,
    plan_columns,
    read_table,
    table_from_text,
)

TEMPERATURES_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/daily-min-temperatures.csv"
TEMPERATURES_HOST = "raw.githubusercontent.com"
GENERATED_NAME = "offline-generated seasonal series (NOT real data: built-in stand-in)"


def load_table(cfg):
    """The table `cfg` (data, dataset, cache_dir, seed) asks for."""
    if cfg.data:
        return read_table(cfg.data)
    if cfg.dataset != "generated":
        path = _download_temperatures(cfg.cache_dir, explicit=cfg.dataset == "temperatures")
        if path is not None:
            table = read_table(path)
            table.source = "daily minimum temperatures, Melbourne 1981-1990"
            return table
        announce_stand_in("the temperature series", "temperatures", GENERATED_NAME, "a local CSV")
    table = table_from_text(generated_csv(cfg.seed), GENERATED_NAME)
    table.offline = True
    return table


def generated_csv(seed, days=3650):
    """Ten years of a daily series (CSV text, `date,value`) with a yearly cycle, a weak weekly cycle, a slow trend
    and autocorrelated noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    noise = np.zeros(days)
    for i in range(1, days):
        noise[i] = 0.7 * noise[i - 1] + rng.normal(0, 1.2)
    values = 11 + 4 * np.sin(2 * np.pi * t / 365.25) + 0.5 * np.sin(2 * np.pi * t / 7) + 0.0004 * t + noise
    start = datetime.date(2000, 1, 1)
    return "date,value\n" + "".join(f"{start + datetime.timedelta(days=int(d))},{v:.3f}\n" for d, v in zip(t, values))


def row_hours(table, time, order):
    """float64 [rows]: each row's time in hours since 1970, read from the columns `time` in the field order `order`
    (NaN where it cannot be read); None without a time."""
    if not order:
        return None
    raw = {c: tf.constant(table.cells[c]) for c in time}
    return np.asarray(hours_since_epoch(time_fields(raw, time, order)))


def in_time_order(table, time, order):
    """Put the rows oldest first when the time (columns `time`, field order `order`) says they are not (many
    exports list the newest first): the parts are cut in time order, so a table read as written would train on the
    newest rows and test on the oldest, and a forecast would follow the oldest rows. Returns (the note that says
    what was done or None, `row_hours` in the rows' new order: the time is parsed once). A time that goes back and
    also repeats is an error, not sorted: that is several series one after another (a station's rows, then the
    next one's), which no order makes one series; so is a table out of order with times that cannot be read (there
    is no telling where their rows belong)."""
    hours = row_hours(table, time, order)
    if hours is None:
        return None, None
    readable = np.flatnonzero(np.isfinite(hours))
    steps = np.diff(hours[readable])
    if not (steps < 0).any():
        return None, hours
    back = readable[int(np.argmax(steps < 0)) + 1]  # the first row whose time is before the row read before it
    if (steps <= 0).all():
        rows, note = np.arange(table.rows)[::-1], "the rows run newest first: read oldest first"
    elif len(readable) == table.rows and len(np.unique(hours)) == table.rows:
        rows, note = np.argsort(hours, kind="stable"), "the rows are not in time order: sorted by time"
    else:
        cells = " ".join(table.cells[c][back] for c in time)
        why = (f"{table.rows - len(readable)} time(s) cannot be read, so the rows cannot be sorted; sort the file "
               "by time, oldest first" if len(readable) < table.rows else
               "repeats earlier times: the file looks like several series one after another; give each series a "
               "file of its own, oldest row first")
        raise UserError(f"the time ({', '.join(time)}) goes back at data row {back + 1} ({cells!r}) and {why}.")
    table.cells = {column: [cells[i] for i in rows] for column, cells in table.cells.items()}
    return note, hours[rows]


def step_hours(hours):
    """The typical (median) hours between rows, from each row's `row_hours`; None without a readable time."""
    if hours is None:
        return None
    gaps = np.diff(hours)
    gaps = gaps[np.isfinite(gaps) & (gaps > 0)]
    return float(np.median(gaps)) if len(gaps) else None


def season_of(hours):
    """Steps per season for the seasonal naive baseline: a year of daily (365) or monthly (12) rows, a week of daily
    rows is not used (the yearly cycle is the stronger one in the classic series), a day of hourly rows (24)."""
    if hours is None:
        return 0
    if 27 * 24 <= hours <= 32 * 24:
        return 12
    return {24: 365, 1: 24, 24 * 7: 52}.get(round(hours), 0)


def times_of(table, columns):
    """One label per row for plots and predictions: the time as written, or the row number."""
    if not columns.time:
        return [str(i) for i in range(table.rows)]
    return [" ".join(cells) for cells in zip(*(table.cells[c] for c in columns.time))]


def _download_temperatures(cache_dir, *, explicit):
    import keras

    if not downloads.network_reachable(TEMPERATURES_HOST):
        if explicit:
            raise unreachable_error("temperatures", TEMPERATURES_HOST, "a local CSV")
        return None
    return keras.utils.get_file("daily-min-temperatures.csv", TEMPERATURES_URL, cache_dir=cache_dir)


@dataclass
class Part:
    """One chronological part's windows, ready to train on or score."""

    features: np.ndarray  # float32 [n, lookback, features]: prepared (scaled, gaps filled, one-hot, calendar)
    future: np.ndarray  # float32 [n, horizon, targets]: the values to forecast, in the original units
    starts: np.ndarray  # [n]: the row of each window's first target
    left_out: int  # windows of this part with a missing target value


@dataclass
class ForecastData:
    """A table made ready for forecasting: the columns' roles, the preparation fitted on the training part, and the
    three parts' windows."""

    table: Table
    columns: Columns
    preparation: Preparation
    history: np.ndarray  # float32 [rows, targets]: the targets as read (NaN where missing), for the baselines
    hours: float | None  # between rows, from the time
    season: int  # steps per season of the seasonal naive baseline
    parts: tuple  # train, validation, test: Part each

    def counts(self):
        """The data line's counts: steps, spacing, season, windows per part, windows left out."""
        left_out = sum(p.left_out for p in self.parts)
        spacing = f" ({self.hours:g} h apart)" if self.hours else ""
        return (f"{self.table.rows} steps{spacing}, season {self.season}; {len(self.parts[0].starts)} train / "
                f"{len(self.parts[1].starts)} validation / {len(self.parts[2].starts)} test windows"
                + (f"; {left_out} left out for a missing target" if left_out else ""))


def load_data(cfg):
    """The table `cfg` asks for, each column's role decided and printed, prepared into windows of the three
    chronological parts; the preparation sees the training part only."""
    table = load_table(cfg)
    marks = missing_values(cfg.missing_values)
    blank_missing_values(table, marks)
    columns = plan_columns(table, cfg.target, cfg.inputs, name=cfg.data or "the data")
    reordered, row_times = in_time_order(table, columns.time, columns.time_order)
    if reordered:
        columns.notes.insert(1, reordered)  # after the time's own note
    hours = step_hours(row_times)
    if cfg.calendar:
        if hours is None:
            raise UserError("--calendar needs a time column that reads as dates (e.g. 2024-01-31 or 2024-01-31 "
                            "13:00, or year/month/day/hour columns).")
        columns.calendar = calendar_parts(hours)
        columns.notes.append(f"calendar: {', '.join(columns.calendar) or 'none (rows a year or more apart)'}")
    bounds = chronological_splits(table.rows, cfg.validation_fraction, cfg.test_fraction, cfg.lookback, cfg.horizon)
    drop_unseen(columns, table, slice(bounds[0].start, bounds[0].stop))
    for note in columns.notes:
        print(note)
    preparation = Preparation.fit(table, columns, slice(bounds[0].start, bounds[0].stop), marks)
    raw = {c: tf.constant([table.cells[c]]) for c in preparation.raw}
    parsed = {name: np.asarray(values)[0] for name, values in preparation.parse(raw).items()}
    parts = []
    for name, bound in zip(("training", "validation", "test"), bounds):
        inputs, future, starts, left_out = windows(parsed, bound, cfg.lookback, cfg.horizon, len(columns.targets))
        if not len(starts):
            raise UserError(f"the {name} part has no window whose {cfg.horizon} target value(s) are all known; "
                            "the target is missing too often there (or choose other --validation-fraction / "
                            "--test-fraction).")
        features = np.concatenate([np.asarray(preparation.features({k: v[i:i + 4096] for k, v in inputs.items()}))
                                   for i in range(0, len(starts), 4096)])  # 4096 windows at a time: bounded memory
        parts.append(Part(features, future, starts, left_out))
    return ForecastData(table, columns, preparation, parsed["numbers"][:, :len(columns.targets)], hours,
                        cfg.season or season_of(hours), tuple(parts))


@dataclass
class Split:
    start: int  # first row of the part
    stop: int  # one past its last row


def chronological_splits(rows, validation_fraction, test_fraction, lookback, horizon):
    """Train / validation / test row ranges in time order. Validation and test windows may look back into the
    previous part (that past is known when forecasting), but no target value is in two parts."""
    n_test, n_val = int(rows * test_fraction), int(rows * validation_fraction)
    train = Split(0, rows - n_test - n_val)
    # Training needs one whole window; validation and test only one window's targets (their windows look back into
    # the part before them, which starts after at least `lookback` rows of training).
    if min(n_val, n_test) < horizon:
        raise UserError(f"the series has {rows} steps: its validation and test parts ({n_val} and {n_test} steps) "
                        f"are shorter than --horizon {horizon}; use a shorter horizon, larger --validation-fraction "
                        "and --test-fraction, or a longer series.")
    if train.stop < lookback + horizon:
        shorter = f"--lookback {train.stop - horizon} or less, or " if train.stop > horizon else ""
        raise UserError(f"the series has {rows} steps: too short for --lookback {lookback} and --horizon {horizon} "
                        f"in its {train.stop} training steps; use {shorter}a longer series.")
    return train, Split(train.stop, train.stop + n_val), Split(rows - n_test, rows)


def windows(parsed, split, lookback, horizon, targets):
    """The windows whose targets all lie inside `split` and are all known.

    parsed: {name: [rows, ...]} (Preparation.parse of the whole series); the first `targets` numeric columns are
    the targets. Returns (inputs {name: [n, lookback, ...]}, future [n, horizon, targets] in the original units,
    starts [n] (the row of each window's first target), how many windows were left out for a missing target).
    """
    starts = np.arange(max(split.start, lookback), split.stop - horizon + 1)
    future = parsed["numbers"][starts[:, None] + np.arange(horizon), :targets]
    keep = ~np.isnan(future).any(axis=(1, 2))
    starts = starts[keep]
    inputs = {name: values[starts[:, None] + np.arange(-lookback, 0)] for name, values in parsed.items()}
    return inputs, future[keep], starts, int((~keep).sum())


def make_dataset(inputs, targets, *, batch_size, seed, training, autotune=False):
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if training:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return finish_pipeline(dataset.batch(batch_size), autotune=autotune)
