"""Names by language (the PyTorch char-RNN tutorials' data): which language a surname comes from (many-to-one), and
new surnames for a language (one-to-many: the language vector sets the state of a character decoder).

Data: `--data PATH`: a TSV of `name<TAB>language`, or the tutorial's own layout (its `data/names/` folder of
`<Language>.txt` files, one name per line, or its `data.zip`); else that `data.zip` from its public URL, else
(offline, no dataset named) generated names from a few made-up syllable sets, marked as such.
"""

import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasks.common import downloads  # downloads.network_reachable: the tests' one patch point
from tasks.common.cli import UserError
from tasks.common.downloads import announce_stand_in, unreachable_error
from tasks.common.tables import read_rows, read_text_file, read_texts
from tasks.common.text import CharacterIds

NAMES_URL = "https://download.pytorch.org/tutorial/data.zip"
NAMES_HOST = "download.pytorch.org"
GENERATED_NAME = "offline-generated names (NOT the tutorial's names: built-in stand-in)"
MARKERS = ("", "[UNK]", "[START]", "[END]")  # ids 0-3; characters follow
START, END = 2, 3
MAX_NAME = 20  # characters generated at most


@dataclass
class Names:
    names: list
    languages: list  # one per name
    source: str
    offline: bool = False


def load_names(cfg):
    if cfg.data:  # a classifier needs two languages to tell apart; new names of one language are a fine task
        return Names(*read_names(cfg.data, languages_needed=1 if cfg.task == "generate" else 2), f"file {cfg.data}")
    if cfg.dataset != "generated":
        path = _download_names(cfg.cache_dir, explicit=cfg.dataset == "names")
        if path is not None:
            return Names(*path, "names by language (PyTorch tutorial data.zip)")
        announce_stand_in("the names data", "names", GENERATED_NAME, "a local TSV")
    return Names(*generated_names(cfg.seed), GENERATED_NAME, offline=True)


def read_names(path, languages_needed=2):
    """(names, languages) from a TSV of name<TAB>language lines (a `name<TAB>language` header is skipped), a folder
    of `<Language>.txt` files or a zip holding them (the tutorial's `data/names/` and `data.zip`); training needs two
    languages or more, scoring an export one."""
    path = Path(path)
    if path.is_dir():
        names, languages = _names_by_file((file.stem, read_texts(file, "--data")) for file in _language_files(path))
    elif zipfile.is_zipfile(path):
        names, languages = _names_from_zip(path)
    elif path.name.lower().removesuffix(".gz").endswith((".csv", ".jsonl", ".json")):
        names, languages = _names_from_table(path)
    else:
        names, languages = _names_from_tsv(path)
    if len(set(languages)) < languages_needed:
        needed = "two are" if languages_needed > 1 else "one is"
        raise UserError(f"{path} has {len(set(languages))} language(s); at least {needed} needed.")
    return names, languages


def _names_from_tsv(path):
    names, languages = [], []
    for number, line in enumerate(read_text_file(path, needs="name<TAB>language lines").splitlines(), start=1):
        if not line.strip() or (number == 1 and line.lower().startswith("name\t")):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
            raise UserError(f"{path} line {number} is not 'name<TAB>language' (or pass a folder of <Language>.txt "
                            "files).")
        names.append(fields[0].strip())
        languages.append(fields[1].strip())
    return names, languages


def _names_from_table(path):
    """A CSV or JSON Lines table with a header: its `name` column (else the first) and its `language` column (else
    one named like it, else the second)."""
    header, rows = read_rows(path)
    lower = [h.lower() for h in header]
    name = lower.index("name") if "name" in lower else 0
    language = next((lower.index(h) for h in ("language", "nationality", "origin", "label") if h in lower),
                    1 if name != 1 else 0)
    if len(header) < 2:
        raise UserError(f"{path} has the columns {header}; it needs a name and a language column.")
    names, languages = [], []
    for number, row in enumerate(rows, start=2):
        if len(row) <= max(name, language) or not row[name].strip() or not row[language].strip():
            raise UserError(f"{path} line {number} lacks a name or a language ({header[name]!r}, "
                            f"{header[language]!r}).")
        names.append(row[name].strip())
        languages.append(row[language].strip())
    return names, languages


def _language_files(folder):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
    if not files:
        raise UserError(f"{folder} is a folder with no .txt files; pass a TSV of name<TAB>language lines, or a folder "
                        "with one <Language>.txt file of names (one per line) for each language.")
    return files


def _names_from_zip(path):
    """The tutorial's data.zip (or any zip): every `<Language>.txt` in it under data/names/, or anywhere."""
    with zipfile.ZipFile(path) as z:
        members = sorted(m for m in z.namelist() if m.lower().endswith(".txt") and not m.startswith("__MACOSX"))
        tutorial = [m for m in members if m.startswith("data/names/")]
        if not members:
            raise UserError(f"{path} is a zip with no .txt files; the names tutorial's data.zip holds "
                            "data/names/<Language>.txt.")
        try:
            return _names_by_file((Path(m).stem, z.read(m).decode("utf-8").splitlines()) for m in tutorial or members)
        except UnicodeDecodeError:
            raise UserError(f"{path} holds a .txt file that is not UTF-8 text; re-save its files as UTF-8.") from None


def _names_by_file(files):
    """(names, languages) from (language, lines) pairs: each non-empty line of a language's file is one name."""
    names, languages = [], []
    for language, lines in files:
        for name in lines:
            if name.strip():
                names.append(name.strip())
                languages.append(language)
    return names, languages


def _download_names(cache_dir, *, explicit):
    import keras

    if not downloads.network_reachable(NAMES_HOST):
        if explicit:
            raise unreachable_error("names", NAMES_HOST, "a local TSV")
        return None
    return _names_from_zip(Path(keras.utils.get_file("names-data.zip", NAMES_URL, cache_dir=cache_dir)))


def generated_names(seed, per_language=400):
    rng = random.Random(seed)
    syllables = {"Aldric": ["al", "dor", "ric", "wen", "bert", "hal"], "Miran": ["mi", "ra", "no", "sa", "ki", "to"],
                 "Ostvik": ["ost", "vik", "sen", "berg", "lund", "ström"], "Zelay": ["ze", "la", "yo", "quez", "ar"]}
    names, languages = [], []
    for language, parts in syllables.items():
        for _ in range(per_language):
            names.append("".join(rng.choice(parts) for _ in range(rng.randint(2, 3))).capitalize())
            languages.append(language)
    return names, languages


def split(names, seed, validation_fraction, test_fraction):
    """Index arrays (train, validation, test), shuffled with `seed`. Each language's distinct names are split in these
    proportions (at least one held out where it has three or more), so a small file still validates and tests on
    every language it has; every copy of a name (the lists repeat some, within and across languages) goes where its
    first copy went, so no test name is also a training name."""
    rng = np.random.default_rng(seed)
    part_of = {}  # name -> 0 train, 1 validation, 2 test
    for language in sorted(set(names.languages)):
        fresh = sorted({n for n, x in zip(names.names, names.languages) if x == language and n not in part_of})
        fresh = [fresh[i] for i in rng.permutation(len(fresh))]
        held = [max(int(round(len(fresh) * f)), 1 if len(fresh) >= 3 else 0)
                for f in (validation_fraction, test_fraction)]
        for k, name in enumerate(fresh):
            part_of[name] = 1 if k < held[0] else 2 if k < held[0] + held[1] else 0
    return tuple(rng.permutation(np.array([i for i, n in enumerate(names.names) if part_of[n] == p], int))
                 for p in range(3))


def char_ids(texts, chars, *, markers):
    """Padded int32 ids [n, longest] of each text's characters (1 for unknown), wrapped in [START] ... [END] when
    `markers`."""
    index = {c: i + len(MARKERS) for i, c in enumerate(chars)}
    rows = [([START] if markers else []) + [index.get(c, 1) for c in t] + ([END] if markers else []) for t in texts]
    out = np.zeros((len(rows), max(1, max(map(len, rows)))), np.int32)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


class NameGenerator:
    """Sampling names from the zoo's autoregressive one_to_many model, in the graph."""

    def __init__(self, model, chars, languages):
        import keras

        import zoo

        self.model, self.chars, self.languages = model, list(chars), list(languages)
        self.models = zoo.inference_models(model)
        self.lookup = CharacterIds([*MARKERS[2:], *self.chars], name="characters")
        self.language_lookup = keras.layers.StringLookup(vocabulary=self.languages, num_oov_indices=0)
        self.words = tf.constant([*MARKERS, *self.chars])

    def generate(self, language, prefix, temperature):
        """language, prefix strings [batch] and temperature float32 [batch] -> {"name": prefix + sampled characters
        up to [END]}. An unknown language is an error from the lookup; unknown prefix characters read as [UNK]."""
        vector = tf.one_hot(self.language_lookup(language), len(self.languages))
        states = {k: tf.identity(v) for k, v in self.models["encode"](vector, training=False).items()}
        ids = self.lookup(prefix)  # [batch, steps], 0 after each prefix (one 0 step for an empty one)
        # The prefix is read after [START], one step at a time; a row's state stops once its prefix is read.
        prefix_ids = tf.concat([tf.fill([tf.shape(vector)[0], 1], START), ids], axis=1)
        lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1) + 1
        batch = tf.shape(vector)[0]

        def step(token, states):
            out = self.models["decode_step"]({"previous_token": token[:, None], **states}, training=False)
            return out["logits"][:, -1], {k: out[k] for k in states}

        def read(t, states, logits):
            new_logits, new_states = step(prefix_ids[:, t], states)
            active = t < lengths
            keep = lambda new, old: tf.where(active[:, None], new, old)  # noqa: E731
            return t + 1, tf.nest.map_structure(keep, new_states, states), keep(new_logits, logits)

        _, states, logits = tf.while_loop(lambda t, *_: t < tf.shape(prefix_ids)[1], read,
                                          (tf.constant(0), states, tf.zeros([batch, tf.shape(self.words)[0]])))

        def sample(t, states, logits, done, out):
            drawn = tf.random.categorical(logits / tf.maximum(temperature, 1e-6)[:, None], 1, dtype=tf.int32)[:, 0]
            next_id = tf.where(temperature > 0, drawn, tf.argmax(logits, axis=-1, output_type=tf.int32))
            done = done | tf.equal(next_id, END)
            out = out.write(t, tf.where(done, 0, next_id))
            logits, states = step(next_id, states)
            return t + 1, states, logits, done, out

        _, _, _, _, out = tf.while_loop(
            lambda t, states, logits, done, out: (t < MAX_NAME) & ~tf.reduce_all(done), sample,
            (tf.constant(0), states, logits, tf.zeros([batch], tf.bool), tf.TensorArray(tf.int32, size=0,
                                                                                      dynamic_size=True)))
        generated = tf.transpose(tf.reshape(out.stack(), [-1, batch]))
        return {"name": tf.strings.join([prefix, tf.strings.reduce_join(tf.gather(self.words, generated), axis=-1)])}
