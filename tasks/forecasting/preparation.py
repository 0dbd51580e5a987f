"""Raw CSV cells -> model features, in TensorFlow ops only, so that training and the export run the very same code.

    prep = Preparation.fit(table, columns, training_rows)
    parsed = prep.parse({column: tf.constant([cells])})     # numbers (NaN where missing), category ids, calendar
    features = prep.features(windows_of(parsed))            # [windows, steps, features], scaled, gaps filled

The export calls `prep.features(prep.parse(raw))` on the text a client sends; training parses the whole series once
and fills each window on its own, exactly as the export does (filling across a window's end would read the future).
"""

import math
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from tasks.forecasting.table import NUMBER, is_missing, is_number

CALENDAR = ("hour", "day_of_week", "day_of_year")  # each becomes a sine and a cosine
FIELDS = "ymdhis"  # year, month, day, hour, minute, second
FIELD_DEFAULTS = (math.nan, 1.0, 1.0, 0.0, 0.0, 0.0)  # a field the time does not write (a year cannot be guessed)


def to_number(cells, decimal_comma=False):
    """Text -> float32; NaN where the cell is not a number (missing, or anything else). `decimal_comma`: 20,5 is
    20.5 (a column the table was read that way: table.Table.decimal_comma)."""
    if decimal_comma:
        cells = tf.strings.regex_replace(cells, ",", ".")
    ok = tf.strings.regex_full_match(cells, NUMBER)
    values = tf.strings.to_number(tf.where(ok, tf.strings.strip(cells), "0"), tf.float32)
    return tf.where(ok, values, math.nan)


def time_fields(raw, columns, order):
    """[..., 6] float64 year, month, day, hour, minute, second of each step; NaN where the time cannot be read."""
    if len(columns) == 1 or len(order) > len(columns):  # one column, or a date and a time of day: the digit groups
        # of their text; otherwise year, month, day[, hour[, minute]] columns, one number each
        cells = [tf.strings.strip(raw[c]) for c in columns]
        # A time of day without its date (or the other way round) is no time at all, not a time in year 18.
        text = tf.where(tf.reduce_any(tf.stack([c == "" for c in cells]), 0), "", tf.strings.join(cells, " "))
        compact = tf.strings.regex_replace(text, r"^(\d{4})(\d{2})(\d{2})(\D|$)",
                                           r"\1 \2 \3\4")  # 20240131 -> 2024 01 31
        digits = tf.strings.regex_replace(compact, "[^0-9]+", " ")
        groups = tf.strings.split(tf.strings.strip(digits))  # ragged [..., groups]
        shape = tf.concat([tf.shape(digits), [len(order)]], 0)
        cells = groups.to_tensor(default_value="", shape=shape)
        found = tf.unstack(tf.cast(to_number(cells), tf.float64), num=len(order), axis=-1)
    else:
        found = [tf.cast(to_number(raw[c]), tf.float64) for c in columns]
    by_field = dict(zip(order, found))
    year = by_field["y"]
    # A field the format does not have, or a cell does not write (a date without its hour), takes its default; a
    # step whose year cannot be read has no time at all.
    return tf.stack([year, *(tf.where(tf.math.is_nan(by_field.get(f, year + math.nan)) & ~tf.math.is_nan(year),
                                      tf.constant(d, tf.float64), by_field.get(f, year + math.nan))
                             for f, d in zip(FIELDS[1:], FIELD_DEFAULTS[1:]))], -1)


def days_since_epoch(year, month, day):
    """Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil), elementwise."""
    year = year - tf.cast(month <= 2, tf.float64)
    era = tf.math.floordiv(year, 400)
    year_of_era = year - era * 400
    shifted_month = month + tf.where(month > 2, tf.constant(-3.0, tf.float64), 9.0)  # March is month 0
    day_of_year = tf.math.floordiv(153 * shifted_month + 2, 5) + day - 1
    day_of_era = year_of_era * 365 + tf.math.floordiv(year_of_era, 4) - tf.math.floordiv(year_of_era, 100) \
        + day_of_year
    return era * 146097 + day_of_era - 719468


def hours_since_epoch(fields):
    """[...] float64 hours from 1970-01-01 00:00 of time fields [..., 6]."""
    year, month, day, hour, minute, second = tf.unstack(fields, axis=-1)
    return days_since_epoch(year, month, day) * 24 + hour + minute / 60 + second / 3600


def calendar_features(fields, parts):
    """[..., 2 * len(parts)] float32: sine and cosine of each part's position in its cycle."""
    year, month, day = fields[..., 0], fields[..., 1], fields[..., 2]
    hours = hours_since_epoch(fields)
    hour_of_day = hours - days_since_epoch(year, month, day) * 24
    angles = {"hour": hour_of_day / 24,
              # 1970-01-01 was a Thursday: day 0 of the week is Thursday, which does not matter to a sine.
              "day_of_week": tf.math.floormod(hours / 24, 7) / 7,
              "day_of_year": (hours / 24 - days_since_epoch(year, tf.ones_like(month), tf.ones_like(day))) / 365.25}
    out = []
    for part in parts:
        angle = 2 * math.pi * angles[part]
        out += [tf.sin(angle), tf.cos(angle)]
    return tf.cast(tf.stack(out, -1), tf.float32)


def calendar_parts(hours_between_steps):
    """The calendar features that vary within a few steps: hour of day for sub-daily steps, day of week for steps
    shorter than a week, day of year for steps shorter than a year."""
    parts = []
    if hours_between_steps < 24:
        parts.append("hour")
    if hours_between_steps < 24 * 7:
        parts.append("day_of_week")
    if hours_between_steps < 24 * 360:
        parts.append("day_of_year")
    return parts


def _running(values, combine, fill):
    """Running `combine` (tf.maximum / tf.minimum) along axis 1 by doubling: log2(steps) whole-tensor ops."""
    shift, steps = 1, values.shape[1]
    while shift < steps:
        shifted = tf.concat([tf.fill(tf.shape(values[:, :shift]), fill), values[:, :-shift]], 1)
        values = combine(values, shifted)
        shift *= 2
    return values


def fill_gaps(values):
    """values [batch, steps, features] with NaN -> no NaN: each gap linear between the known values around it, the
    nearest known value before the first or after the last one, and 0 where a window has none (after scaling: the
    training mean)."""
    steps = values.shape[1]
    known = tf.logical_not(tf.math.is_nan(values))
    index = tf.broadcast_to(tf.range(steps)[None, :, None], tf.shape(values))
    before = _running(tf.where(known, index, -1), tf.maximum, -1)
    after = steps - 1 - tf.reverse(_running(tf.reverse(tf.where(known, steps - 1 - index, -1), [1]), tf.maximum, -1),
                                   [1])  # steps where none follows
    zeroed = tf.where(known, values, 0.0)
    value_before = keras.ops.take_along_axis(zeroed, tf.maximum(before, 0), axis=1)
    value_after = keras.ops.take_along_axis(zeroed, tf.minimum(after, steps - 1), axis=1)
    has_before, has_after = before >= 0, after < steps
    weight = tf.cast(index - before, values.dtype) / tf.cast(tf.maximum(after - before, 1), values.dtype)
    between = value_before + (value_after - value_before) * weight
    return tf.where(has_before & has_after, between,
                    tf.where(has_before, value_before, tf.where(has_after, value_after, 0.0)))


@dataclass
class Preparation:
    """What turns raw cells into features: the column roles, the training part's mean and standard deviation of each
    numeric column, each category column's vocabulary (index 0: unseen or missing)."""

    numeric: list
    categorical: list
    time: list
    time_order: str
    calendar: list
    mean: np.ndarray  # [numeric]
    std: np.ndarray  # [numeric]
    vocabularies: dict  # category column -> its values, most frequent first
    decimal_comma: list = field(default_factory=list)  # numeric columns written with a decimal comma (20,5)
    missing_values: list = field(default_factory=list)  # cells that mean no value besides NA and the like (-200)

    @classmethod
    def fit(cls, table, columns, training_rows, missing_values=()):
        """Statistics from the rows of the training part only (whose `missing_values` cells are already blank:
        table.blank_missing_values)."""
        decimal_comma = [c for c in columns.numeric if c in table.decimal_comma]
        numbers = np.stack([to_number(tf.constant(table.cells[c][training_rows]), c in decimal_comma)
                            for c in columns.numeric])
        known = ~np.isnan(numbers)
        counts = known.sum(1)
        mean = np.where(counts > 0, np.nansum(numbers, 1) / np.maximum(counts, 1), 0)
        std = np.sqrt(np.nansum((numbers - mean[:, None]) ** 2, 1) / np.maximum(counts, 1))
        vocabularies = {}
        for c in columns.categorical:
            seen = [cell.strip() for cell in table.cells[c][training_rows] if not is_missing(cell)]
            vocabularies[c] = sorted(set(seen), key=lambda v: (-seen.count(v), v))
        return cls(columns.numeric, columns.categorical, columns.time, columns.time_order, columns.calendar,
                   mean.astype(np.float32), np.where(std > 0, std, 1).astype(np.float32), vocabularies,
                   decimal_comma, list(missing_values))

    def __post_init__(self):
        # Lookup tables (tracked by the export) map each category to its one-hot slot; missing and unseen values
        # share slot 0.
        self.lookups = {c: keras.layers.StringLookup(vocabulary=vocab,
                                                     num_oov_indices=1, output_mode="int")
                        for c, vocab in self.vocabularies.items()}

    @property
    def raw(self):
        """The columns the model reads, in the export's input order."""
        return [*self.numeric, *self.categorical, *(self.time if self.calendar else [])]

    @property
    def feature_count(self):
        return len(self.numeric) + sum(len(v) + 1 for v in self.vocabularies.values()) + 2 * len(self.calendar)

    def parse(self, raw):
        """raw {column: text [..., steps]} -> {"numbers": [..., steps, numeric] with NaN, "categories":
        [..., steps, categorical] int ids, "calendar": [..., steps, 2 * parts], NaN where the time is unreadable}."""
        like = raw[(self.numeric + self.categorical)[0]]
        parsed = {"numbers": tf.stack([self._number(raw[c], c in self.decimal_comma) for c in self.numeric], -1)}
        ids = [tf.cast(self.lookups[c](self._category(raw[c])), tf.int32) for c in self.categorical]
        parsed["categories"] = tf.stack(ids, -1) if ids else tf.zeros(tf.concat([tf.shape(like), [0]], 0), tf.int32)
        parsed["calendar"] = calendar_features(time_fields(raw, self.time, self.time_order), self.calendar) \
            if self.calendar else tf.zeros(tf.concat([tf.shape(like), [0]], 0), tf.float32)
        return parsed

    def _number(self, cells, decimal_comma):
        """to_number, NaN where the cell is one of `missing_values`."""
        return tf.where(self._marked(cells, decimal_comma), math.nan, to_number(cells, decimal_comma))

    def _category(self, cells):
        """Stripped cells, empty (missing: slot 0) where the cell is one of `missing_values`."""
        return tf.where(self._marked(cells), "", tf.strings.strip(cells))

    def _marked(self, cells, decimal_comma=False):
        """Where a cell is one of `missing_values`: the same text, or the same number (-200.0 for -200), as
        table.is_one_of decides it in Python."""
        marked = tf.zeros(tf.shape(cells), tf.bool)
        for value in self.missing_values:
            marked |= tf.strings.strip(cells) == value
            if is_number(value):
                marked |= to_number(cells, decimal_comma) == float(value)
        return marked

    def features(self, parsed):
        """Parsed windows {[batch, steps, ...]} -> features [batch, steps, feature_count]: scaled numbers and the
        calendar with gaps filled, then the categories one-hot."""
        scaled = (parsed["numbers"] - self.mean) / self.std
        filled = fill_gaps(tf.concat([scaled, parsed["calendar"]], -1))
        one_hot = [tf.one_hot(parsed["categories"][..., i], len(self.vocabularies[c]) + 1)
                   for i, c in enumerate(self.categorical)]
        return tf.concat([filled, *one_hot], -1)

    def unscale(self, values, positions):
        """Scaled values [..., len(positions)] of the numeric columns at `positions` -> original units."""
        return values * self.std[positions] + self.mean[positions]

    def to_json(self):
        return {"numeric": self.numeric, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "categories": self.vocabularies, "time": self.time, "time_order": self.time_order,
                "calendar": self.calendar, "decimal_comma": self.decimal_comma,
                "missing_values": self.missing_values}

    @classmethod
    def from_json(cls, saved):
        """The preparation an export recorded (`assets.extra/preparation.json`), to prepare rows in Python."""
        return cls(saved["numeric"], list(saved["categories"]), saved["time"], saved["time_order"],
                   saved["calendar"], np.float32(saved["mean"]), np.float32(saved["std"]), saved["categories"],
                   saved.get("decimal_comma", []), saved.get("missing_values", []))  # absent in older exports
