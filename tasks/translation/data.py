"""Translation data: Tatoeba spa-eng from its public URL, a local TSV of pairs, or the offline stand-in; held-out
splits grouped by sentence (no source or target sentence on both sides); in-graph subword tokenization
(`subwords`); length-bucketed teacher-forcing batches."""

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.buckets import bucketed_batches
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in, unreachable_error
from tasks.common.splits import held_out
from tasks.common.tables import read_rows, read_text_file
from tasks.common.text import decoder_inputs, ragged_in_chunks
from tasks.common.training import finish_pipeline
from tasks.translation.offline import NAME as OFFLINE_NAME
from tasks.translation.offline import offline_pairs
from tasks.translation.subwords import END_ID, cut

# The file the TensorFlow "NMT with attention" tutorial uses: English<TAB>Spanish per line.
SPA_ENG_URL = "https://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
SPA_ENG_HOST = "storage.googleapis.com"


@dataclass
class Splits:
    train: list  # [(source, target)]
    validation: list
    test: list
    source: str  # what the data is, written into every output
    offline: bool = False


def load_splits(cfg):
    """Train / validation / test pairs as `cfg` (data, dataset, reverse, max_pairs, fractions, seed) asks."""
    offline = False
    if cfg.data:
        pairs, source = read_pairs(cfg.data), f"file {cfg.data}"
    elif cfg.dataset == "offline":
        pairs, source, offline = offline_pairs(cfg.seed), OFFLINE_NAME, True
    else:
        path = _download_spa_eng(cfg.cache_dir, explicit=cfg.dataset == "spa-eng")
        if path is None:
            announce_stand_in("Tatoeba spa-eng", "spa-eng", f"{OFFLINE_NAME} set", "local pairs")
            pairs, source, offline = offline_pairs(cfg.seed), OFFLINE_NAME, True
        else:
            # The file is English<TAB>Spanish; the default direction is Spanish -> English, as in the tutorial.
            pairs, source = [(s, t) for t, s in read_pairs(path)], "Tatoeba spa-eng (Spanish -> English)"
    if cfg.reverse:
        pairs = [(t, s) for s, t in pairs]
        source += ", reversed"
    if cfg.max_pairs:
        pairs = pairs[:cfg.max_pairs]  # the files run from short to long sentences, as the tutorials take them
    rest, test = split_by_sentence(pairs, cfg.test_fraction, cfg.seed)
    train, validation = split_by_sentence(rest, cfg.validation_fraction, cfg.seed + 1)
    for name, part in (("training", train), ("validation", validation), ("test", test)):
        if not part:
            raise UserError(f"the {name} split is empty: {_too_few(pairs)}")
    return Splits(train, validation, test, source, offline)


def _too_few(pairs):
    """Why `pairs` cannot fill three splits, for the error: too few pairs, or too few groups of pairs sharing a
    sentence (each group is held out whole), as in a file of a few pairs repeated."""
    groups = len(set(sentence_groups(pairs)))
    if groups == len(pairs):
        return f"{len(pairs)} pairs are too few; give at least 20."
    return (f"the {len(pairs)} pairs hold only {groups} different sentence group(s) (pairs that share a source or "
            "target sentence stay on one side of a split, so copies of a pair count once); give at least 20 pairs "
            "of different sentences.")


def read_pairs(path):
    """(source, target) pairs, Unicode NFC, extra columns ignored: from a TSV of `source<TAB>target` lines (as
    Tatoeba's and manythings' files), or from a CSV with a header whose first two columns are the source and the
    target (as many published pair tables)."""
    if Path(path).name.lower().removesuffix(".gz").endswith(".csv"):
        header, rows = read_rows(path)
        if len(header) < 2:
            raise UserError(f"{path} has the columns {header}; a CSV of pairs needs a source and a target column.")
        numbered = enumerate(rows, start=2)
        expected, needs = "a source and a target field", "a source sentence and its translation, the first two columns"
    else:
        content = read_text_file(path, "a TSV file of source<TAB>target lines", "source<TAB>target lines")
        lines = [line.rstrip("\r") for line in content.split("\n") if line.strip()]
        numbered = ((n, line.split("\t")) for n, line in enumerate(lines, start=1))
        expected, needs = "'source<TAB>target'", "a source sentence, a tab and its translation"
    pairs, empty = [], []
    for number, fields in numbered:
        if len(fields) < 2:
            raise UserError(f"{path} line {number} is not {expected} (found {len(fields)} field); each line needs "
                            f"{needs}.")
        if not fields[0].strip() or not fields[1].strip():
            empty.append((number, "source" if not fields[0].strip() else "target"))
        pairs.append((unicodedata.normalize("NFC", fields[0].strip()), unicodedata.normalize("NFC", fields[1].strip())))
    if empty:
        (number, side), more = empty[0], len(empty) - 1
        raise UserError(f"{path} line {number} has an empty {side}" + (f" (and {more} more line(s) an empty side)"
                        if more else "") + f"; each line needs {needs}: fill them in or remove those lines.")
    return pairs


def split_by_sentence(pairs, fraction, seed):
    """Hold out about `fraction` of the pairs, so that no sentence, source or target, is on both sides. Tatoeba
    translates one sentence several ways and one translation serves several sentences; held out by target alone,
    8% of the spa-eng test pairs (Spanish -> English, 2% held out) had their source sentence in training (22% of
    them English -> Spanish, 10% held out). Pairs that share a sentence, directly or through others, form a group
    (at most 42 pairs in spa-eng), and whole groups are held out. Deterministic for a seed. Returns (rest, held_out)."""
    group = sentence_groups(pairs)
    rest, held = held_out([0] * len(pairs), fraction, seed, group)
    return [pairs[i] for i in rest], [pairs[i] for i in held]


def sentence_groups(pairs):
    """One group id per pair: the connected part of the graph whose nodes are sentences and whose edges are pairs
    (union-find with path halving)."""
    parent = {}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for source, target in pairs:
        a, b = root(("source", source)), root(("target", target))
        if a != b:
            parent[a] = b
    return [root(("source", source)) for source, _ in pairs]


def _download_spa_eng(cache_dir, *, explicit):
    import keras

    cached = Path(cache_dir or Path.home() / ".keras") / "datasets" / "spa-eng_extracted" / "spa-eng" / "spa.txt"
    if cached.exists():
        return cached
    if not downloads.network_reachable(SPA_ENG_HOST):
        if explicit:
            raise unreachable_error("spa-eng", SPA_ENG_HOST, "local pairs")
        return None
    folder = keras.utils.get_file("spa-eng.zip", SPA_ENG_URL, extract=True, cache_dir=cache_dir)
    return Path(folder) / "spa-eng" / "spa.txt"


# ---- tokenization and pipelines -------------------------------------------------------------------------------


def source_ids(subwords, texts, max_length):
    """Dense source ids [batch, time] cut to `max_length` ([END] kept last), at least one step long."""
    return cut(subwords.tokenize(texts), max_length).to_tensor()


def teacher_forcing(source, target):
    """Inputs and labels for one batch: the decoder reads the target shifted right and predicts it.

    target [START] a b [END] -> previous_tokens [START] a b, labels a b [END]. Padding (0) in the labels is masked
    by Keras through the decoder's embedding mask: the loss and accuracy count real tokens only.
    """
    return {"tokens": source, "previous_tokens": decoder_inputs(target, END_ID)}, target[:, 1:]


def make_dataset(pairs, source_subwords, target_subwords, cfg, *, training, real_steps=False):
    """Teacher-forcing batches, bucketed by length into a fixed set of padded shapes (one XLA compile each); shuffled
    when training. The pairs are tokenized once, here, not in every epoch. With `real_steps` the labels are those of
    the real target steps, flattened (`zoo.labels_at_real_steps`), for a trainer that computes logits there alone."""
    sources = ragged_in_chunks(lambda texts: cut(source_subwords.tokenize(texts), cfg.max_length),
                               [source for source, _ in pairs], chunk=1024)
    targets = ragged_in_chunks(lambda texts: cut(target_subwords.tokenize(texts), cfg.max_length + 1),
                               [target for _, target in pairs], chunk=1024)
    # Every pair is padded (source and target alike) to its bucket's top length; the last edge is above the longest
    # possible pair (a target of max_length + 1 ids).
    edges = sorted(set(range(cfg.bucket_step + 1, cfg.max_length + 2, cfg.bucket_step)) | {cfg.max_length + 2})
    lengths = np.maximum(sources.row_lengths().numpy(), targets.row_lengths().numpy())
    dataset = bucketed_batches((sources, targets), lengths, edges, [cfg.batch_size] * len(edges),
                               shuffle_seed=cfg.seed if training else None)
    dataset = dataset.map(teacher_forcing)
    if real_steps:
        dataset = dataset.map(at_real_steps)
    return finish_pipeline(dataset, autotune=cfg.autotune)


def at_real_steps(inputs, labels):
    """The labels of the steps the decoder's embedding keeps (previous tokens not padding), flattened."""
    import zoo

    return inputs, zoo.labels_at_real_steps(labels, inputs["previous_tokens"] != 0)
