"""Sentiment data: IMDB through tensorflow-datasets, a local file or aclImdb folder, or the offline stand-in;
then a validation split, in-graph tokenization and length-bucketed tf.data pipelines."""

import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.buckets import bucket_boundaries, bucketed_batches, token_balanced_sizes
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in
from tasks.common.splits import containing_sentence, held_out
from tasks.common.tables import read_column, read_labelled_texts, read_text_file
from tasks.common.text import at_least_one_step, head_and_tail, ragged_in_chunks
from tasks.common.training import finish_pipeline
from tasks.sentiment.offline import NAME as OFFLINE_NAME
from tasks.sentiment.offline import offline_reviews

LABEL_NAMES = ("negative", "positive")
# "0.0" and "1.0": how a table written from a float column (pandas, spreadsheets) spells 0 and 1.
# "false"/"true": a JSON file's boolean labels (pandas writes a bool column so), read as text
LABEL_VALUES = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1, "false": 0,
                "true": 1}
IMDB_HOST = "ai.stanford.edu"  # where tensorflow-datasets downloads imdb_reviews from


@dataclass
class Splits:
    train: tuple  # (texts, labels)
    validation: tuple
    test: tuple
    source: str  # what the data is, written into every output
    offline: bool = False


def load_splits(cfg):
    """Train / validation / test texts and 0/1 labels, as `cfg` (data, dataset, test_data, group_by, fractions,
    seed) asks. Validation, and a test part cut from --data, are grouped (`find_groups`) so that their figures
    predict the official test."""
    groups = None
    if cfg.data:
        train, test, source, groups, grouping = _local(cfg)
        offline = False
    elif cfg.dataset == "offline":
        train, test, source, offline = *_offline(cfg.seed), True
        grouping = "not grouped (generated reviews)"
    else:
        loaded = _imdb(cfg.tfds_dir, explicit=cfg.dataset == "imdb")
        if loaded is None:
            announce_stand_in("IMDB", "imdb", f"{OFFLINE_NAME} set", "local data")
            train, test, source, offline = *_offline(cfg.seed), True
            grouping = "not grouped (generated reviews)"
        else:
            (train, test), source, offline = loaded, "imdb_reviews (tensorflow-datasets, 25k train / 25k test)", False
            grouping = ("validation not grouped: tensorflow-datasets' imdb_reviews has no film ids (an aclImdb "
                        "folder has them); the test split is the official one, with none of the training films")
    if cfg.test_data:
        test = read_labelled_file(cfg.test_data)
        source += f"; test: file {cfg.test_data}"
    train, validation, _ = split_off(train, cfg.validation_fraction, cfg.seed, groups)
    print(f"splits: {grouping}")
    parts = (("training", train), ("validation", validation), ("test", test))
    for name, (_, labels) in parts:
        if len(set(labels)) < 2:
            raise UserError(_one_class(name, parts, grouping, grouped=groups is not None))
    return Splits(train, validation, test, source, offline)


def _one_class(name, parts, grouping, *, grouped):
    """Why a split holds one class: the data itself, or too few rows (or groups of rows) to give every part both."""
    if len({label for _, (_, labels) in parts for label in labels}) < 2:
        return f"the {name} split has only one class; the data needs both negative and positive rows."
    rows = ", ".join(f"{len(labels):,} {part}" for part, (_, labels) in parts)
    return (f"the {name} split has only one class, though the data has both: {rows} rows are too few to put both "
            f"classes in every part (splits: {grouping}); give more rows or a larger --validation-fraction or "
            f"--test-fraction{', or --group-by none' if grouped else ''}.")


def split_off(pair, fraction, seed, groups=None):
    """Split off `fraction` of `(texts, labels)`, stratified by label and keeping each group (`groups`, one per row)
    on one side: returns (rest, part, the rest's groups)."""
    texts, labels = pair
    rest, part = held_out(labels, fraction, seed, groups)
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return pick(rest), pick(part), None if groups is None else [groups[i] for i in rest]


def find_groups(cfg, path, texts):
    """(a group per row or None, the line that says how the held-out parts are made).

    --group-by COLUMN takes the column from the file itself or from its metadata beside it (`<name>_meta.tsv`,
    rows in the same order: how the shared IMDB file carries film ids); "auto" looks for a `movie` column there,
    else groups rows that are phrases of a longer row by that sentence (SST); "sentence" forces the latter; "none"
    turns grouping off.
    """
    if cfg.group_by == "none":
        return None, "not grouped (--group-by none): rows that belong together may fall on both sides"
    if cfg.group_by != "sentence":
        column = "movie" if cfg.group_by == "auto" else cfg.group_by
        for where in (path, *sorted(path.parent.glob(f"{path.stem}_meta.*"))):
            values = read_column(where, column)
            if values is None:
                continue
            if len(values) != len(texts):
                raise UserError(f"{where} has {len(values)} rows but {path} has {len(texts)}; the metadata must have "
                                "one row per review, in the same order.")
            return values, f"grouped by {column!r} from {where.name}: {len(set(values)):,} groups, none on both sides"
        if cfg.group_by != "auto":
            raise UserError(f"--group-by {column!r}: neither {path} nor a {path.stem}_meta.tsv beside it has that "
                            "column; name an existing column, or use --group-by sentence or none.")
    words = sorted(len(t.split()) for t in texts)
    if cfg.group_by == "sentence" or words[len(words) // 2] <= 60:
        groups = containing_sentence(texts)
        if cfg.group_by == "sentence" or len(set(groups)) < 0.9 * len(texts):
            return groups, (f"grouped by sentence: {len(texts):,} rows are phrases of {len(set(groups)):,} "
                            "sentences, each sentence's phrases on one side")
    return None, "not grouped (no `movie` column and no phrase rows found; --group-by COLUMN to name one)"


def parse_labels(raw, where):
    """0/1 from '0'/'1', 'pos'/'neg', 'positive'/'negative' or 'true'/'false' (any case); anything else is an
    error."""
    missing = [row for row, label in enumerate(raw, start=1) if not label]
    if missing:
        raise UserError(f"{where} has {len(missing)} row(s) with no label (the first is row {missing[0]} after the "
                        "header); fill in 0/1 (or neg/pos) or remove those rows.")
    unknown = sorted({r for r in raw if r.lower() not in LABEL_VALUES})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise UserError(f"{where} has labels {shown} that are not one of two classes; use 0/1 or neg/pos.")
    return [LABEL_VALUES[r.lower()] for r in raw]


def read_labelled_file(path):
    texts, raw = read_labelled_texts(path)
    return texts, parse_labels(raw, path)


def _local(cfg):
    """(train, test, source, the train rows' groups, the grouping line) from --data: a file, or an aclImdb folder
    (its test/ is the official test; its urls_*.txt give each review's film)."""
    path = Path(cfg.data)
    test = None
    if path.is_dir():
        if not (path / "train").is_dir():
            raise UserError(f"{path} is a folder but not aclImdb-style: expected {path}/train/pos and "
                            f"{path}/train/neg (and optionally test/...) holding one review per .txt file.")
        train, films = _read_class_folders(path / "train")
        groups, grouping = (None, "not grouped (--group-by none, or no urls_*.txt)") \
            if films is None or cfg.group_by == "none" else \
            (films, f"grouped by film (urls_*.txt): {len(set(films)):,} films, none on both sides")
        source = f"aclImdb folder {path}"
        if (path / "test").is_dir():
            test = _read_class_folders(path / "test")[0]
    else:
        train = read_labelled_file(path)
        groups, grouping = find_groups(cfg, path, train[0])
        source = f"file {path}"
    if test is None and not cfg.test_data:
        train, test, groups = split_off(train, cfg.test_fraction, cfg.seed, groups)
        source += f" ({cfg.test_fraction:.0%} held out as test)"
    return train, test, source, groups, grouping


def _read_class_folders(folder):
    """((texts, labels), each review's film or None) from an aclImdb split folder: neg/ and pos/ hold
    `<id>_<rating>.txt`; line `id` of urls_neg.txt / urls_pos.txt is that review's film page."""
    texts, labels, films = [], [], []
    for label, name in enumerate(("neg", "pos")):
        files = sorted((folder / name).glob("*.txt"))
        if not files:
            raise UserError(f"{folder / name} has no .txt reviews; an aclImdb-style folder needs both neg and pos.")
        texts += [read_text_file(f).strip() for f in files]
        labels += [label] * len(files)
        urls = folder / f"urls_{name}.txt"
        if films is not None and urls.exists():
            pages = read_text_file(urls).split()
            films += [_film(pages, f) for f in files]
        else:
            films = None
    return (texts, labels), films


def _film(pages, file):
    """The IMDb title id of review `<id>_<rating>.txt`, from line `id` of its urls file (the id itself if absent)."""
    index = int(file.stem.split("_")[0]) if file.stem.split("_")[0].isdigit() else -1
    page = pages[index] if 0 <= index < len(pages) else file.stem
    found = re.search(r"tt\d+", page)
    return found.group(0) if found else page


def _offline(seed):
    train = offline_reviews(3000, seed)
    test = offline_reviews(600, seed + 1)
    return train, test, OFFLINE_NAME


def imdb_unlabeled(tfds_dir):
    """The texts of IMDB's 50,000 unlabeled reviews (tensorflow-datasets' `imdb_reviews` split `unsupervised`), from
    the tfds cache or a download (`--unlabeled tfds`)."""
    loaded = _imdb(tfds_dir, explicit=True, splits=("unsupervised",), flag="--unlabeled tfds")
    return loaded[0][0]


def _imdb(tfds_dir, *, explicit, splits=("train", "test"), flag="--dataset imdb"):
    """IMDB's `splits` as (texts, labels) lists, from the tfds cache or a download; None when offline and not
    named."""
    import tensorflow_datasets as tfds

    def load(download):
        loaded = tfds.load("imdb_reviews", split=list(splits), as_supervised=True, data_dir=tfds_dir,
                           download=download)
        return [_as_lists(s) for s in loaded]

    from absl import logging as absl_logging

    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # tfds warns of the cache folder it probes: not the user's concern
    try:
        return load(download=False)  # already prepared in the cache
    except Exception:  # noqa: BLE001  (tfds raises several kinds for "not prepared")
        pass
    finally:
        absl_logging.set_verbosity(level)
    if not downloads.network_reachable(IMDB_HOST):  # tfds would retry for minutes before failing
        if explicit:
            local = "--unlabeled FILE" if flag.startswith("--unlabeled") else "--data PATH"
            raise UserError(f"{flag} needs a network connection to download IMDB ({IMDB_HOST} is not "
                            "reachable) or a prepared tensorflow-datasets cache in --tfds-dir; for local data "
                            f"pass {local}.")
        return None
    return load(download=True)


def _as_lists(dataset):
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8"))
        labels.append(int(label))
    return texts, labels


# ---- tokenization and pipelines -------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tasks.sentiment")
def standardize(text):
    """Lowercase, strip HTML tags such as <br />, keep letters, digits and apostrophes ("don't" stays one word)."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"<[^>]*>", " ")
    return tf.strings.regex_replace(text, r"[^\pL\pN']+", " ")


def make_vectorizer(vocab_size, vocabulary=None, *, ragged=True):
    """A TextVectorization giving int ids (0 = padding, 1 = out-of-vocabulary): ragged for the data pipelines, dense
    (padded to the longest text of a batch) inside a model. `vocabulary`: the words, as `text.read_vocabulary`
    gives them."""
    return keras.layers.TextVectorization(max_tokens=vocab_size, standardize=standardize, ragged=ragged,
                                          vocabulary=vocabulary)


def token_ids(vectorizer, texts, max_length, tail=0):
    """Dense ids [batch, time] for a batch of strings, cut to `max_length` (`head_and_tail`), at least one (padding)
    step long so an empty string still gets a prediction."""
    return at_least_one_step(head_and_tail(vectorizer(texts), max_length, tail).to_tensor())


def tokenize_all(vectorizer, texts, max_length, tail=0, chunk=4096):
    """Ragged int32 ids [len(texts), None] cut to `max_length` (`head_and_tail`), tokenized `chunk` texts per
    call."""
    return ragged_in_chunks(lambda batch: head_and_tail(vectorizer(batch), max_length, tail), texts, chunk)


def make_dataset(pair, vectorizer, cfg, *, training, weights=None):
    """(ids [batch, bucket_length], label [batch]) batches of reviews cut to `cfg.max_length` tokens (`cfg.tail` of
    them from a long review's end), bucketed by length, with each review's weight [batch] third when `weights` are
    given; shuffled when training.

    The texts are tokenized once, here, not in every epoch: on 2 cores, tokenizing inside the pipeline took a core
    away from the training step."""
    texts, labels = pair
    ids = tokenize_all(vectorizer, texts, cfg.max_length, cfg.tail)
    columns = (ids, tf.constant(labels, tf.float32), *(() if weights is None else (tf.constant(weights),)))
    boundaries = bucket_boundaries(cfg.max_length, cfg.bucket_step)
    dataset = bucketed_batches(columns, np.maximum(ids.row_lengths().numpy(), 1),  # an empty review: one padding step
                               boundaries, token_balanced_sizes(boundaries, cfg.batch_size, cfg.max_length),
                               shuffle_seed=cfg.seed if training else None)
    return finish_pipeline(dataset, autotune=cfg.autotune)
