"""Reading labelled text tables (TSV or CSV) with one clear error for each way a file can be wrong."""

import csv
import gzip
import json
from pathlib import Path

from tasks.common.cli import UserError

TEXT_COLUMNS = ("text", "review", "sentence", "content")
LABEL_COLUMNS = ("label", "sentiment", "polarity", "target")


def read_text_file(path, kind="a TSV or CSV file", needs="a header row and at least one labelled row"):
    """The text of a `--data` file; errors say it should be `kind` holding `needs`."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; pass an existing file with --data.")
    if path.is_dir():
        raise UserError(f"{path} is a folder; expected {kind}.")
    content = _decoded(path, path.read_bytes(), "--data takes UTF-8 text, gzip-compressed or not")
    if not content.strip():
        raise UserError(f"{path} is empty; it needs {needs}.")
    return content


def read_texts(path, flag):
    """The texts of a file with one text per line, gzip-compressed or not (a first line `text` is a header, as in
    IMDB's unsup.txt.gz). `flag` names the option in errors."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; pass an existing text file with {flag}.")
    if path.is_dir():
        raise UserError(f"{path} is a folder; {flag} takes a text file with one text per line.")
    content = _decoded(path, path.read_bytes(), f"{flag} takes UTF-8 text, one text per line")
    lines = [line.strip() for line in content.split("\n")]
    texts = [line for number, line in enumerate(lines) if line and not (number == 0 and line == "text")]
    if not texts:
        raise UserError(f"{path} has no text; {flag} takes a file with one text per line.")
    return texts


def _decoded(path, raw, wanted):
    """The text of a file's bytes, gunzipped when they are gzip's (a `.tsv.gz` as users keep large tables). A binary
    file (an archive, a spreadsheet) is one error that says so, where decoding would name a byte. `wanted` says what
    the file should be instead."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise UserError(f"{path} is a damaged gzip file ({error}); give it again or uncompressed.") from None
    if b"\x00" in raw or raw[:4] == b"PK\x03\x04":
        raise UserError(f"{path} is a binary file (an archive or a spreadsheet?), not text; unpack or export it: "
                        f"{wanted}.")
    return _utf8(path, raw)


def _utf8(path, raw):
    """`raw` as text, with the line ends Python's text mode gives (CR LF and a lone CR read as LF)."""
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text (undecodable byte at position {error.start}); re-save it as "
                        "UTF-8.") from None


def read_rows(path):
    """(header, rows) of a TSV (tab-separated, quotes not special), CSV or JSON file (`.jsonl`, `.json`: one object
    per line, an array of objects, or one object of columns, as Hugging Face datasets' and pandas' `to_json` write
    them). In a TSV, a stray tab inside the first column (a review's text) stays in it."""
    content = read_text_file(path)
    suffix = _without_gz(Path(path)).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return _json_rows(path, content)
    # Only \n (or \r\n) ends a row: str.splitlines() would also split on \x85, \u2028 and others inside reviews.
    lines = [line.rstrip("\r") for line in content.split("\n") if line.strip()]
    if suffix == ".csv":
        rows = list(csv.reader(lines, delimiter=csv_delimiter(lines)))
    else:  # IMDB reviews contain '"', so TSV is split on tabs only
        width = lines[0].count("\t") + 1
        rows = [line.rsplit("\t", width - 1) for line in lines]
    return [h.strip() for h in rows[0]], rows[1:]


def _json_rows(path, content):
    """(header, rows) of JSON objects: the first object's keys are the header, each object's values (as text) a
    row; a key an object lacks is an empty cell."""
    if content.lstrip().startswith("["):
        objects = _json(path, content, "the file")
    else:
        objects = [_json(path, line, f"line {number}") for number, line in enumerate(content.split("\n"), start=1)
                   if line.strip()]
    if isinstance(objects, dict):
        objects = [objects]
    if len(objects) == 1 and isinstance(objects[0], dict) and objects[0] and all(
            isinstance(v, dict | list) for v in objects[0].values()):
        objects = _records_of_columns(objects[0]) or objects
    bad = next((i for i, o in enumerate(objects, start=1) if not isinstance(o, dict)), None)
    if not objects or bad is not None:
        raise UserError(f'{path} needs JSON objects with named fields, such as {{"text": "...", "label": 1}}'
                        + (f"; item {bad} is not one." if bad else "; it has none."))
    header = list(objects[0])
    return header, [["" if o.get(k) is None else str(o[k]) for k in header] for o in objects]


def _records_of_columns(columns):
    """Rows of a column-oriented object (pandas' default `to_json`: {"text": {"0": ...}, "label": {"0": ...}}, or
    {"text": [...], "label": [...]}), or None when its columns differ in length."""
    values = {k: list(v.values()) if isinstance(v, dict) else v for k, v in columns.items()}
    if len({len(v) for v in values.values()}) != 1:
        return None
    return [dict(zip(values, row)) for row in zip(*values.values())]


def _json(path, text, where):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: {where} is not JSON ({error.msg}); a .jsonl file holds one object per line, such "
                        'as {"text": "...", "label": 1}.') from None


# Field separators of a CSV, tried in this order: a spreadsheet saved as CSV where the decimal mark is a comma (most
# of Europe) separates fields with ';'.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def csv_delimiter(lines):
    """The first of DELIMITERS that splits the header and the first rows into the same number of fields, more than
    one; a comma when none does (a one-column file, or a ragged one, whose error then names the line)."""
    for delimiter in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines[:100], delimiter=delimiter)}
        if len(widths) == 1 and widths.pop() > 1:
            return delimiter
    return ","


def _without_gz(path):
    """`reviews.csv` for `reviews.csv.gz`: the table's own format decides how it is split."""
    return path.with_suffix("") if path.suffix.lower() == ".gz" else path


def read_column(path, column):
    """The cells of one column (matched without regard to case), or None when the file has no such column."""
    header, rows = read_rows(path)
    lower = [h.lower() for h in header]
    if column.lower() not in lower:
        return None
    index = lower.index(column.lower())
    for number, row in enumerate(rows, start=2):
        if len(row) <= index:
            raise UserError(f"{path} line {number} has {len(row)} field(s); expected {len(header)}.")
    return [row[index].strip() for row in rows]


def read_labelled_texts(path):
    """Rows of a TSV (tab-separated, quotes not special) or CSV file with a header naming a text and a label column.

    Returns `(texts, raw_labels)`, two lists of strings.
    """
    names, rows = read_rows(path)
    header = [h.lower() for h in names]
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    label_col = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if text_col is None or label_col is None:
        shown = [h if len(h) <= 30 else h[:27] + "..." for h in names]
        # A file without a header row (as Amazon's and Yelp's polarity CSVs) shows a review where a name should be
        found = f"'s first row looks like data, not a header ({shown})" if max(map(len, names)) > 40 else \
            f" has columns {shown}"
        raise UserError(f"{path}{found}; it needs a text column (one of "
                        f"{', '.join(TEXT_COLUMNS)}) and a label column (one of {', '.join(LABEL_COLUMNS)}) named in "
                        "its first row: add or rename that row.")
    texts, labels = [], []
    for number, row in enumerate(rows, start=2):
        if len(row) <= max(text_col, label_col):
            raise UserError(f"{path} line {number} has {len(row)} field(s); expected {len(header)}.")
        texts.append(row[text_col])
        labels.append(row[label_col].strip())
    if not texts:
        raise UserError(f"{path} has a header but no rows.")
    return texts, labels
