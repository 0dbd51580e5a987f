"""Character-level text data: Tiny Shakespeare from its public URL, any text file, or a generated stand-in; a
character vocabulary; and the two ways to cut a text for training:

- truncated BPTT: the text is cut into `batch_size` parallel streams (row b holds the b-th slice of the text), and
  batch i is columns [i*k, (i+1)*k) of every stream, so row b of batch i+1 continues row b of batch i and the
  recurrent state can be carried from one to the next (`k` = bptt);
- independent windows: non-overlapping windows of k characters in a shuffled order, each starting from a zero state.
"""

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in, unreachable_error
from tasks.common.tables import read_text_file

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_HOST = "raw.githubusercontent.com"
GENERATED_NAME = "offline-generated play (NOT Tiny Shakespeare: built-in stand-in)"
RESERVED = ("", "[UNK]")  # ids 0 (padding, never in a text) and 1 (a character the vocabulary lacks)


@dataclass
class Text:
    train: str
    validation: str  # the held-out tail
    source: str
    offline: bool = False


def read_texts_of(path):
    """(text, source) of a text file, or of a folder's .txt files one after another (a corpus kept as one file per
    book), in name order, a blank line between them."""
    path = Path(path)
    if not path.is_dir():
        return read_text_file(path, "a text file", "text to learn from"), f"file {path}"
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not files:
        raise UserError(f"{path} is a folder with no .txt files; pass a text file, or a folder of .txt files.")
    texts = [read_text_file(f, "a text file", "text to learn from").strip("\n") for f in files]
    return "\n\n".join(texts) + "\n", f"{len(files)} .txt files in {path}"


def load_text(cfg):
    """The text `cfg` (data, dataset, validation_fraction, seed) asks for, split into train and a held-out tail."""
    offline = False
    if cfg.data:
        text, source = read_texts_of(cfg.data)
    elif cfg.dataset == "generated":
        text, source, offline = generated_play(cfg.seed), GENERATED_NAME, True
    else:
        path = _download_shakespeare(cfg.cache_dir, explicit=cfg.dataset == "shakespeare")
        if path is None:
            announce_stand_in("Tiny Shakespeare", "shakespeare", GENERATED_NAME, "a local text")
            text, source, offline = generated_play(cfg.seed), GENERATED_NAME, True
        else:
            text, source = read_text_file(path), "Tiny Shakespeare"
    cut = int(len(text) * (1 - cfg.validation_fraction))
    needed = 2 * (cfg.bptt + 1) * cfg.batch_size
    if cut < needed or len(text) - cut < cfg.bptt + 2:
        raise UserError(f"the text has {len(text)} characters: too short for --batch-size {cfg.batch_size} streams "
                        f"of --bptt {cfg.bptt} (at least {needed} for training plus a held-out tail); use a longer "
                        f"text or smaller values{_values_that_fit(len(text), cfg)}.")
    return Text(text[:cut], text[cut:], source, offline)


def _values_that_fit(length, cfg):
    """', such as --batch-size B [--bptt T]': the largest batch that fits this text at the asked --bptt, or at a
    --bptt that fits it; '' when no window of 2 characters fits."""
    cut = int(length * (1 - cfg.validation_fraction))
    held_out = length - cut
    bptt = min(cfg.bptt, held_out - 2, cut // 2 - 1)  # a held-out window, and two training windows of one stream
    if bptt < 2:
        return ""
    batch = min(cfg.batch_size, cut // (2 * (bptt + 1)))
    return f", such as --batch-size {batch}" + (f" --bptt {bptt}" if bptt != cfg.bptt else "")


def _download_shakespeare(cache_dir, *, explicit):
    import keras

    if not downloads.network_reachable(SHAKESPEARE_HOST):
        if explicit:
            raise unreachable_error("shakespeare", SHAKESPEARE_HOST, "a local text")
        return None
    return keras.utils.get_file("tinyshakespeare.txt", SHAKESPEARE_URL, cache_dir=cache_dir)


def generated_play(seed, lines=6000):
    """A play-like text from a tiny grammar: speaker names in capitals, then a line of verse-like words."""
    rng = random.Random(seed)
    speakers = ["KING", "QUEEN", "HAMLET", "NURSE", "FOOL", "DUKE"]
    subjects = ["my lord", "the king", "thy heart", "this night", "the sea", "our love", "his sword", "her eyes"]
    verbs = ["doth fear", "shall see", "hath lost", "must keep", "would know", "cannot bear", "will find"]
    objects = ["the crown", "a grave", "my name", "the morning", "thy words", "no peace", "the truth"]
    out = []
    for _ in range(lines):
        out.append(f"{rng.choice(speakers)}:\n")
        clause = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"
        out.append(f"{clause[0].upper()}{clause[1:]}{rng.choice([',', '.', '!', '?', ';'])}\n\n")
    return "".join(out)


def vocabulary(text):
    """The characters of `text`, sorted: id i + 2 is the i-th (0 and 1 are RESERVED)."""
    return sorted(set(text))


def encode(text, chars):
    """int32 ids of each character (1 for one that `chars` lacks)."""
    index = {c: i + len(RESERVED) for i, c in enumerate(chars)}
    return np.fromiter((index.get(c, 1) for c in text), dtype=np.int32, count=len(text))


def tbptt_batches(ids, batch_size, bptt):
    """(inputs, targets) batches [batch_size, bptt] in stream order, for a stateful model (see the module doc)."""
    length = (len(ids) - 1) // batch_size
    if length < bptt:
        raise UserError(f"{len(ids)} characters are too few for --batch-size {batch_size} streams of --bptt {bptt}.")
    streams = ids[:length * batch_size + 1]
    inputs = streams[:-1].reshape(batch_size, length)
    targets = streams[1:length * batch_size + 1].reshape(batch_size, length)
    chunks = length // bptt
    split = lambda a: a[:, :chunks * bptt].reshape(batch_size, chunks, bptt).transpose(1, 0, 2)  # noqa: E731
    return tf.data.Dataset.from_tensor_slices((split(inputs), split(targets)))


def window_batches(ids, batch_size, bptt, seed):
    """(inputs, targets) batches of independent windows of `bptt` characters, reshuffled every epoch."""
    count = (len(ids) - 1) // bptt
    inputs = ids[:count * bptt].reshape(count, bptt)
    targets = ids[1:count * bptt + 1].reshape(count, bptt)
    return (tf.data.Dataset.from_tensor_slices((inputs, targets))
            .shuffle(count, seed=seed, reshuffle_each_iteration=True).batch(batch_size))
