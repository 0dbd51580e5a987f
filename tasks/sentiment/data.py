"""Sentiment data: IMDB through tensorflow-datasets, a local file or aclImdb folder, or the offline stand-in;
then a validation split, in-graph tokenization and length-bucketed tf.data pipelines."""

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in
from tasks.common.tables import read_labelled_texts, read_text_file
from tasks.common.training import bucket_by_length, finish_pipeline
from tasks.sentiment.offline import NAME as OFFLINE_NAME
from tasks.sentiment.offline import offline_reviews

LABEL_NAMES = ("negative", "positive")
LABEL_VALUES = {"0": 0, "1": 1, "neg": 0, "pos": 1, "negative": 0, "positive": 1}
IMDB_HOST = "ai.stanford.edu"  # where tensorflow-datasets downloads imdb_reviews from


@dataclass
class Splits:
    train: tuple  # (texts, labels)
    validation: tuple
    test: tuple
    source: str  # what the data is, written into every output
    offline: bool = False


def load_splits(cfg):
    """Train / validation / test texts and 0/1 labels, as `cfg` (data, dataset, fractions, seed) asks."""
    if cfg.data:
        train, test, source = _local(cfg.data, cfg.test_fraction, cfg.seed)
        offline = False
    elif cfg.dataset == "offline":
        train, test, source, offline = *_offline(cfg.seed), True
    else:
        loaded = _imdb(cfg.tfds_dir, explicit=cfg.dataset == "imdb")
        if loaded is None:
            announce_stand_in("IMDB", "imdb", f"{OFFLINE_NAME} set", "local data")
            train, test, source, offline = *_offline(cfg.seed), True
        else:
            (train, test), source, offline = loaded, "imdb_reviews (tensorflow-datasets, 25k train / 25k test)", False
    train, validation = split_off(train, cfg.validation_fraction, cfg.seed)
    for name, (_, labels) in (("training", train), ("validation", validation), ("test", test)):
        if len(set(labels)) < 2:
            raise UserError(f"the {name} split has only one class; the data needs both negative and positive rows.")
    return Splits(train, validation, test, source, offline)


def split_off(pair, fraction, seed):
    """Shuffle `(texts, labels)` with `seed` and split off `fraction` of it, each class in its share (stratified, so a
    small file's validation or test part is not all one class): returns (rest, part)."""
    texts, labels = pair
    order = np.random.default_rng(seed).permutation(len(texts))
    counts, seen, place = {}, {}, []
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    for i in order:  # the k-th row of a class goes at (k + 0.5) / class size: the classes interleave in proportion
        seen[labels[i]] = seen.get(labels[i], 0) + 1
        place.append((seen[labels[i]] - 0.5) / counts[labels[i]])
    order = order[np.argsort(place, kind="stable")]
    cut = max(1, int(round(len(texts) * fraction)))
    pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
    return pick(order[cut:]), pick(order[:cut])


def parse_labels(raw, where):
    """0/1 from '0'/'1', 'pos'/'neg' or 'positive'/'negative' (any case); anything else is an error."""
    unknown = sorted({r for r in raw if r.lower() not in LABEL_VALUES})
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise UserError(f"{where} has labels {shown} that are not one of two classes; use 0/1 or neg/pos.")
    return [LABEL_VALUES[r.lower()] for r in raw]


def read_labelled_file(path):
    texts, raw = read_labelled_texts(path)
    return texts, parse_labels(raw, path)


def _local(path, test_fraction, seed):
    path = Path(path)
    if path.is_dir():
        if not (path / "train").is_dir():
            raise UserError(f"{path} is a folder but not aclImdb-style: expected {path}/train/pos and "
                            f"{path}/train/neg (and optionally test/...) holding one review per .txt file.")
        train = _read_class_folders(path / "train")
        if (path / "test").is_dir():
            return train, _read_class_folders(path / "test"), f"aclImdb folder {path}"
        rest, test = split_off(train, test_fraction, seed)
        return rest, test, f"aclImdb folder {path} (train only; {test_fraction:.0%} held out as test)"
    rest, test = split_off(read_labelled_file(path), test_fraction, seed)
    return rest, test, f"file {path} ({test_fraction:.0%} held out as test)"


def _read_class_folders(folder):
    texts, labels = [], []
    for label, name in enumerate(("neg", "pos")):
        files = sorted((folder / name).glob("*.txt"))
        if not files:
            raise UserError(f"{folder / name} has no .txt reviews; an aclImdb-style folder needs both neg and pos.")
        texts += [read_text_file(f).strip() for f in files]
        labels += [label] * len(files)
    return texts, labels


def _offline(seed):
    train = offline_reviews(3000, seed)
    test = offline_reviews(600, seed + 1)
    return train, test, OFFLINE_NAME


def _imdb(tfds_dir, *, explicit):
    """IMDB's train and test splits as lists, from the tfds cache or a download; None when offline and not named."""
    import tensorflow_datasets as tfds

    def load(download):
        splits = tfds.load("imdb_reviews", split=["train", "test"], as_supervised=True, data_dir=tfds_dir,
                           download=download)
        return [_as_lists(s) for s in splits]

    try:
        return load(download=False)  # already prepared in the cache
    except Exception:  # noqa: BLE001  (tfds raises several kinds for "not prepared")
        pass
    if not downloads.network_reachable(IMDB_HOST):  # tfds would retry for minutes before failing
        if explicit:
            raise UserError(f"--dataset imdb needs a network connection to download IMDB ({IMDB_HOST} is not "
                            "reachable) or a prepared tensorflow-datasets cache in --tfds-dir; for local data "
                            "pass --data PATH.")
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


def token_ids(vectorizer, texts, max_length):
    """Dense ids [batch, time] for a batch of strings, cut to `max_length`, at least one (padding) step long so an
    empty string still gets a prediction."""
    ids = vectorizer(texts)[:, :max_length].to_tensor()
    return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])


def tokenize_all(vectorizer, texts, max_length, chunk=4096):
    """Ragged int32 ids [len(texts), None] cut to `max_length`, tokenized `chunk` texts per call."""
    parts = [tf.cast(vectorizer(tf.constant(texts[start:start + chunk], tf.string))[:, :max_length], tf.int32)
             for start in range(0, len(texts), chunk)]
    return tf.concat(parts, axis=0) if parts else tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)


def make_dataset(pair, vectorizer, cfg, *, training, weights=None):
    """(ids [batch, bucket_length], label [batch]) batches, bucketed by length, with each review's weight [batch]
    third when `weights` are given; shuffled when training.

    The texts are tokenized once, here, not in every epoch: on 2 cores, tokenizing inside the pipeline took a core
    away from the training step."""
    texts, labels = pair
    ids = tokenize_all(vectorizer, texts, cfg.max_length)
    columns = (ids, tf.constant(labels, tf.float32), *(() if weights is None else (tf.constant(weights),)))
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        dataset = dataset.shuffle(len(texts), seed=cfg.seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda ids, *rest: (tf.pad(ids, [[0, tf.maximum(0, 1 - tf.shape(ids)[0])]]), *rest))
    dataset = bucket_by_length(dataset, max_length=cfg.max_length, batch_size=cfg.batch_size, step=cfg.bucket_step)
    return finish_pipeline(dataset, autotune=cfg.autotune)
