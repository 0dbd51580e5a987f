"""A forecasting CSV as users have it, and the role of each of its columns.

Every cell is kept as text (the export takes the same text), and each column's role is decided here and printed:
the time (one column, or year/month/day/hour columns), numeric columns (numbers, with missing values allowed),
categories (text with few distinct values: one-hot encoded), and what is left out and why.
"""

import collections
import csv
import io
import re
from dataclasses import dataclass, field

from tasks.common.cli import UserError
from tasks.common.tables import DELIMITERS, csv_delimiter, read_text_file

# What a CSV writes for "no value" (compared lowercased and stripped). Anything else that is not a number makes the
# column text.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "-", "?", "#n/a", "missing", "nat"})
# A number as the export's graph reads it (preparation.to_number): the same pattern on both sides.
NUMBER = r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*"
MOST_CATEGORIES = 50  # a text column with more distinct values is free text (left out), not a category
INDEX_NAMES = ("no", "index", "id", "row", "rownames", "unnamed: 0")  # a row counter's usual names
TIME_NAMES = ("date", "time", "timestamp", "datetime", "month", "day", "year", "period", "ds")
TIME_PARTS = ("year", "month", "day", "hour", "minute")
# Field orders of one time column, tried on its first cells in this order: y=year, m=month, d=day, h=hour, i=minute,
# s=second. Only the order of the digit groups matters to the graph, which reads every group of digits.
TIME_FORMATS = (("ymdhis", r"\d{4}\D\d{1,2}\D\d{1,2}\D\d{1,2}\D\d{1,2}\D\d{1,2}"),
                ("ymdhi", r"\d{4}\D\d{1,2}\D\d{1,2}\D\d{1,2}\D\d{1,2}"),
                ("ymdh", r"\d{4}\D\d{1,2}\D\d{1,2}\D\d{1,2}"),
                ("ymd", r"\d{4}\D\d{1,2}\D\d{1,2}"),
                ("ym", r"\d{4}\D\d{1,2}"),
                ("dmyhis", r"\d{1,2}\.\d{1,2}\.\d{4}\D\d{1,2}\D\d{1,2}\D\d{1,2}"),
                ("dmyhi", r"\d{1,2}\.\d{1,2}\.\d{4}\D\d{1,2}\D\d{1,2}"),
                ("dmy", r"\d{1,2}\.\d{1,2}\.\d{4}"),
                ("mdyhi", r"\d{1,2}/\d{1,2}/\d{4}\D\d{1,2}\D\d{1,2}"),
                ("mdy", r"\d{1,2}/\d{1,2}/\d{4}"),
                ("ymd", r"\d{8}"),  # 20240131: the graph splits it into 2024 01 31 first (preparation.time_fields)
                ("y", r"\d{4}"))
TIME_SUFFIX = r"(\D.*)?"  # seconds' fractions, time zones, AM/PM: read past, not used
# A time of day in a column of its own, beside a date column (Date 10/03/2004, Time 18.00.00): read together.
CLOCK = r"\d{1,2}[:.]\d{2}([:.]\d{2})?"


def is_missing(cell):
    return cell.strip().lower() in MISSING


def is_number(cell, decimal_comma=False):
    return re.fullmatch(NUMBER, cell.replace(",", ".") if decimal_comma else cell) is not None


@dataclass
class Table:
    header: list  # column names, in file order
    cells: dict  # column name -> its cells (text), in row order
    source: str
    offline: bool = False
    decimal_comma: list = field(default_factory=list)  # numeric columns written with a decimal comma (20,7)
    notes: list = field(default_factory=list)  # how the file was read, where it was not a plain comma CSV

    @property
    def rows(self):
        return len(self.cells[self.header[0]])


def read_table(path):
    """A CSV file with a header row, every cell kept as text. One clear error for each way it can be wrong."""
    return table_from_text(read_text_file(path), f"file {path}", str(path))


def table_from_text(content, source, name="the data", offline=False):
    lines = [line for line in content.split("\n") if line.strip()]
    delimiter = csv_delimiter(lines)  # ';' where the decimal mark is a comma: 20,7 is read as 20.7 then
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    notes = [] if delimiter == "," else [f"read as {DELIMITERS[delimiter]}-separated"]
    kept = [rows[0], *(row for row in rows[1:] if any(cell.strip() for cell in row))]  # not separators alone
    blank, rows = len(rows) - len(kept), kept
    if not rows[1:]:
        raise UserError(f"{name} has a header but no rows.")
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserError(f"{name} line {number} has {len(row)} fields; the header has {len(header)}.")
    # Separators at the ends of lines (a spreadsheet's export) make unnamed columns with nothing in them.
    trailing = [i for i, h in enumerate(header) if not h and not any(row[i].strip() for row in rows[1:])]
    if blank or trailing:
        notes.append("left out: " + "; ".join(
            ([f"{blank} row(s) with no value in any column"] if blank else [])
            + ([f"{len(trailing)} unnamed column(s) with no value"] if trailing else [])))
        header = [h for i, h in enumerate(header) if i not in trailing]
        rows = [[cell for i, cell in enumerate(row) if i not in trailing] for row in rows]
    duplicated = [h for h, count in collections.Counter(header).items() if count > 1]
    if duplicated or "" in header:
        raise UserError(f"{name}'s header names a column twice or leaves one unnamed ({duplicated or ['']}); "
                        "give every column its own name.")
    cells = {h: [row[i] for row in rows[1:]] for i, h in enumerate(header)}
    decimal_comma = [h for h in header if delimiter != "," and _written_with_decimal_commas(cells[h])]
    if decimal_comma:
        notes.append(f"decimal commas: {', '.join(decimal_comma)} (20,5 is read as 20.5)")
    return Table(header, cells, source, offline, decimal_comma, notes)


def _written_with_decimal_commas(cells):
    present = [c for c in cells if not is_missing(c)]
    return any("," in c for c in present) and all(is_number(c, decimal_comma=True) for c in present)


@dataclass
class Columns:
    """The role of each column, decided by `plan_columns`."""

    targets: list  # the numeric columns forecast (their past is an input too)
    numeric: list  # every numeric input column, the targets first
    categorical: list  # text inputs with few distinct values, one-hot encoded
    time: list = field(default_factory=list)  # the column the time is read from, or year/month/day[/hour[/minute]]
    time_order: str = ""  # which time field each digit group is (TIME_FORMATS); "" without a time
    calendar: list = field(default_factory=list)  # calendar features asked for: hour, day_of_week, day_of_year
    notes: list = field(default_factory=list)  # what was decided without being asked, printed by the recipe


def missing_values(text):
    """The cells `--missing-values` names (comma-separated: -200 or -999,9999), as a list of strings."""
    return _names(text or "")


def is_one_of(cell, values, decimal_comma=False):
    """Whether `cell` is one of `values`: the same text, or the same number (-200 and -200.0)."""
    cell = cell.strip()
    number = float(cell.replace(",", ".") if decimal_comma else cell) if is_number(cell, decimal_comma) else None
    return any(cell == v or (number is not None and is_number(v) and number == float(v)) for v in values)


def blank_missing_values(table, values):
    """Empty every cell that is one of `values` (a dataset's own mark for no value, such as -200), so that it is
    missing like NA; a note says how many."""
    if not values:
        return
    blanked = 0
    for column, cells in table.cells.items():
        marked = [is_one_of(c, values, column in table.decimal_comma) for c in cells]
        blanked += sum(marked)
        table.cells[column] = ["" if m else c for c, m in zip(cells, marked)]
    table.notes.append(f"{', '.join(values)}: read as a missing value ({blanked:,} cells)")


def column_kind(cells, decimal_comma=False):
    """numeric (every present cell a number), text, or empty (every cell missing)."""
    present = [c for c in cells if not is_missing(c)]
    if not present:
        return "empty"
    return "numeric" if all(is_number(c, decimal_comma) for c in present) else "text"


def plan_columns(table, target=None, inputs=None, name="the data"):
    """Decide each column's role. `target`: one column or several, comma-separated (default: the last numeric
    one); `inputs`: the covariates, comma-separated, or "none" (default: every numeric column and every text column
    with at most MOST_CATEGORIES values)."""
    kinds = {h: column_kind(table.cells[h], h in table.decimal_comma) for h in table.header}
    time, order, time_note = find_time(table, kinds)
    notes = [*table.notes, time_note]
    usable = [h for h in table.header if h not in time]
    rows_counted = [h for h in usable if kinds[h] == "numeric" and is_row_number(table.cells[h])
                    and (h == table.header[0] or h.lower() in INDEX_NAMES)]
    numeric = [h for h in usable if kinds[h] == "numeric" and h not in rows_counted]

    if target is None:
        if not numeric:
            raise UserError(f"{name} has no numeric column (columns: {table.header}); it needs at least one column "
                            "of values.")
        targets = numeric[-1:]
        notes.append(f"target: {targets[0]!r}, the last numeric column (choose with --target)")
    else:
        targets = _names(target)
        if not targets:
            raise UserError("--target names no column; give one, or several separated by commas.")
        for t in targets:
            _require_column(table, t, "--target", name)
            if t in time:
                raise UserError(f"--target {t!r} is the time; choose one of {numeric}.")
            if kinds[t] == "empty":
                raise UserError(f"--target {t!r}: every value of it in {name} is missing; choose a column with "
                                "values.")
            if kinds[t] != "numeric":
                example = next(c for c in table.cells[t] if not is_missing(c) and not is_number(c)) \
                    if kinds[t] == "text" else table.cells[t][0]
                raise UserError(f"--target {t!r} is not a numeric column of {name} (it holds {example!r}); "
                                f"choose one of {numeric}.")

    left_out = {h: "a row number" for h in rows_counted if h not in targets}
    left_out.update({h: "every value missing" for h in usable if kinds[h] == "empty"})
    categories = {h: len({c.strip() for c in table.cells[h] if not is_missing(c)}) for h in usable
                  if kinds[h] == "text"}
    if inputs is None:
        chosen = [h for h in usable if h not in targets and h not in left_out
                  and (kinds[h] == "numeric" or categories.get(h, MOST_CATEGORIES + 1) <= MOST_CATEGORIES)]
        left_out.update({h: f"text with {n} distinct values" for h, n in categories.items()
                         if n > MOST_CATEGORIES})
    else:
        chosen = [] if inputs.strip().lower() == "none" else [h for h in _names(inputs) if h not in targets]
        for h in chosen:
            _require_column(table, h, "--inputs", name)
            if h in time:
                raise UserError(f"--inputs {h!r} is the time column; use --calendar for calendar features.")
            if kinds[h] == "empty" or categories.get(h, 0) > MOST_CATEGORIES:
                why = "every value is missing" if kinds[h] == "empty" else \
                    f"it is text with {categories[h]} distinct values (at most {MOST_CATEGORIES} make a category)"
                raise UserError(f"--inputs {h!r} cannot be an input: {why}.")
        left_out = {h: "not in --inputs" for h in usable if h not in chosen and h not in targets}
    numeric_inputs = [*targets, *(h for h in chosen if kinds[h] == "numeric")]
    categorical = [h for h in chosen if kinds[h] == "text"]
    described = [f"{h} (one-hot, {categories[h]} values)" for h in categorical]
    notes.append(f"inputs: the past of {', '.join(targets)}"
                 + (f"; {', '.join([*numeric_inputs[len(targets):], *described])}"
                    if len(numeric_inputs) > len(targets) or categorical else ""))
    if left_out:
        notes.append("left out: " + "; ".join(f"{h} ({why})" for h, why in left_out.items()))
    missing = {h: sum(is_missing(c) for c in table.cells[h]) for h in [*numeric_inputs, *categorical]}
    if any(missing.values()):
        notes.append("missing values: " + ", ".join(f"{h} {n:,} of {table.rows:,}" for h, n in missing.items() if n)
                     + " (numbers are filled within each window, linearly between known values and from the nearest "
                       "one at its ends; windows with a missing target value are neither trained nor scored"
                     + ("; a missing category is its own one-hot slot)" if any(missing[h] for h in categorical)
                        else ")"))
    return Columns(targets, numeric_inputs, categorical, time, order, notes=notes)


def drop_unseen(columns, table, rows):
    """Leave out the inputs with no value in the training `rows` (a slice): they could be neither scaled nor
    encoded. A target like that is an error. The note says what was left out."""
    unseen = [c for c in [*columns.numeric, *columns.categorical] if all(is_missing(x) for x in table.cells[c][rows])]
    for target in columns.targets:
        if target in unseen:
            raise UserError(f"--target {target!r} has no value in the training part (the first rows); the series "
                            "needs known target values there.")
    if unseen:
        columns.numeric = [c for c in columns.numeric if c not in unseen]
        columns.categorical = [c for c in columns.categorical if c not in unseen]
        columns.notes.append(f"left out: {', '.join(unseen)} (no value in the training part)")


def _names(text):
    """The comma-separated names in `text`, each once, in order."""
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def _require_column(table, column, flag, name):
    if column not in table.header:
        raise UserError(f"{flag} {column!r} is not a column of {name}; its columns are {table.header}.")


def is_row_number(cells):
    """A column counting rows (0, 1, 2, ... or 1, 2, 3, ...): an index, not a measurement, when it is also the first
    column or named like one (a measurement may count up for a while)."""
    try:
        values = [float(c) for c in cells]
    except ValueError:
        return False
    return len(values) > 2 and values[0] in (0, 1) and all(b - a == 1 for a, b in zip(values, values[1:]))


def find_time(table, kinds):
    """(time columns, field order, the note that says so). Year and month columns (with day, hour, minute when
    present) make the time together; otherwise the column named like a time, or the first text column that reads as
    a date. No time: ([], "", note), and the rows are the steps."""
    lower = {h.lower(): h for h in table.header}
    parts = [lower[p] for p in TIME_PARTS if p in lower and kinds[lower[p]] == "numeric"]
    if {"year", "month"} <= {p.lower() for p in parts}:
        return parts, "".join(p[0] if p[0] != "m" or p == "month" else "i" for p in map(str.lower, parts)), \
            f"time: from the columns {', '.join(parts)}"
    named = [h for h in table.header if h.lower() in TIME_NAMES]
    candidates = named + [h for h in table.header if kinds[h] == "text" and h not in named]
    for h in candidates:
        order = time_order(table.cells[h])
        clock, fields = _time_of_day_beside(table, kinds, h) if order in ("ymd", "dmy", "mdy") else (None, "")
        if clock:
            return [h, clock], order + fields, f"time: the columns {h!r} (the date) and {clock!r} (the time of day)"
        if order:
            return [h], order, f"time: the column {h!r}"
    if named:
        return [named[0]], "", f"time: the column {named[0]!r} (not read as dates: no calendar features)"
    return [], "", "time: no time column; the rows are the steps, in file order"


def _time_of_day_beside(table, kinds, date):
    """(the column holding the time of day beside the column `date`, the fields it writes): text like 18:00 or
    18.00.00 in every present cell ("his"; one named like a time first), or a column named hour of whole numbers
    0-24 ("h"); (None, "") when there is none."""
    for h in sorted((h for h in table.header if h != date and kinds[h] == "text"),
                    key=lambda h: h.lower() not in TIME_NAMES):
        present = [c.strip() for c in table.cells[h] if not is_missing(c)]
        if present and all(re.fullmatch(CLOCK + TIME_SUFFIX, c) for c in present):
            return h, "his"
    for h in table.header:
        if h.lower() in ("hour", "hr") and kinds[h] == "numeric" and all(
                re.fullmatch(r"\s*\d{1,2}\s*", c) and int(c) <= 24 for c in table.cells[h] if not is_missing(c)):
            return h, "h"
    return None, ""


def time_order(cells):
    """The TIME_FORMATS order that the first present cells all match, or "". Dates written with slashes are
    month/day/year, unless a first number above 12 anywhere in the column says day/month/year (most of the world's
    order: 31/03/2004)."""
    present = [c.strip() for c in cells if not is_missing(c)]
    sample = present[:50]
    for order, pattern in TIME_FORMATS:
        if sample and all(re.fullmatch(pattern + TIME_SUFFIX, c) for c in sample):
            if order.startswith("md") and any(int(re.match(r"\d+", c).group()) > 12 for c in present
                                              if re.match(r"\d+/", c)):
                return "dm" + order[2:]
            return order
    return ""
