"""Text preprocessing that travels inside a model, and the one vocabulary file format of a run folder."""

import re
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def at_least_one_step(ids):
    """Dense ids [batch, time] with at least one (padding) step, so an empty text still gets an answer."""
    return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])


def head_and_tail(ids, max_length, tail=0):
    """Ragged ids [batch, None] cut to `max_length` tokens: a longer text keeps its first `max_length - tail` tokens
    and its last `tail` (a review's verdict is often in its closing lines; Sun et al. 2019 found a head and tail cut
    of IMDB reviews better than the head alone). `tail` 0 keeps the first `max_length`."""
    if not tail:
        return ids[:, :max_length]
    lengths = ids.row_lengths()
    positions = tf.ragged.range(lengths)
    # A text of up to max_length tokens keeps them all: its last `tail` start at or before position max_length - tail.
    from_end = tf.repeat(lengths - tail, lengths)
    keep = positions.with_flat_values((positions.flat_values < max_length - tail) | (positions.flat_values >= from_end))
    return tf.ragged.boolean_mask(ids, keep)


@keras.saving.register_keras_serializable(package="tasks")
class FirstSteps(keras.layers.Layer):
    """Token ids [batch, time] (0 after each text's end) cut to `max_length` steps, the first ones, or with `tail`
    the first `max_length - tail` and the last `tail` (`head_and_tail`), and at least one step long (an empty text is
    a single padding step, so it still gets an answer)."""

    def __init__(self, max_length, tail=0, **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.tail = max_length, tail

    def call(self, ids):
        if self.tail:
            ids = head_and_tail(tf.RaggedTensor.from_tensor(ids, padding=0), self.max_length, self.tail).to_tensor()
        return at_least_one_step(ids[:, :self.max_length])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "tail": self.tail}


@keras.saving.register_keras_serializable(package="tasks")
class CharacterIds(keras.layers.Layer):
    """Strings [batch] -> int32 character ids [batch, time], 0 after each text's end: the tokenizer of the character
    models as a layer inside them, so their `model.keras` takes raw text and carries its vocabulary.

    Id 0 is padding, 1 a character `vocabulary` lacks, then `vocabulary` from 2 (a recipe's markers, such as
    `[START]`, first). `start`: a vocabulary entry read before every text (a decoder trained with teacher forcing
    reads `[START]` first). `refuse_unknown_script`: refuse a text written mostly in unknown characters
    (`require_known_characters`). The ids are at least one step long, so an empty text still gets an answer."""

    def __init__(self, vocabulary, *, start=None, refuse_unknown_script=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary, self.start, self.refuse_unknown_script = list(vocabulary), start, refuse_unknown_script
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, mask_token="", oov_token="[UNK]",
                                                num_oov_indices=1, name="lookup")

    def build(self, input_shape):
        self.lookup.build(None)  # a fixed vocabulary: nothing to size from the input

    def call(self, text):
        ids = tf.cast(self.lookup(tf.strings.unicode_split(text, "UTF-8")), tf.int32).to_tensor()
        if self.start is not None:
            start = tf.fill([tf.shape(ids)[0], 1], self.vocabulary.index(self.start) + 2)
            ids = tf.concat([start, ids], axis=1)
        ids = at_least_one_step(ids)
        if self.refuse_unknown_script:
            ids = require_known_characters(ids, tf.equal(ids, 1), ids > 0)
        return ids

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def compute_output_spec(self, text):
        return keras.KerasTensor((text.shape[0], None), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "start": self.start,
                "refuse_unknown_script": self.refuse_unknown_script}


def write_vocabulary(path, vectorizer):
    """The vectorizer's words, one per line, without the padding and out-of-vocabulary entries (which every
    TextVectorization adds itself): `read_vocabulary` gives back the same list."""
    words = vectorizer.get_vocabulary(include_special_tokens=False)
    Path(path).write_text("".join(f"{word}\n" for word in words), encoding="utf-8")


def read_vocabulary(path):
    # split("\n"), not splitlines(): a word may hold other line-break characters (U+2028, U+0085).
    return Path(path).read_text(encoding="utf-8").split("\n")[:-1]


# A text mostly made of characters no training example had is in another script: the model's answer would be noise.
MAX_UNKNOWN_SHARE = 0.5
UNKNOWN_SCRIPT = ("is written mostly in characters that no training example had; give text in the language and "
                  "script the model was trained on")


def require_known_characters(values, unknown, counted):
    """`values`, once checked that in no row more than half of the `counted` characters are `unknown` (both bool
    [batch, time]). A few unknown characters (a name in another script) pass. The failure is an
    `InvalidArgumentError` naming the first such row's index, which servers answer with a 400."""
    unknown_count = tf.reduce_sum(tf.cast(unknown & counted, tf.float32), axis=1)
    bad = tf.math.divide_no_nan(unknown_count, tf.reduce_sum(tf.cast(counted, tf.float32), axis=1)) > MAX_UNKNOWN_SHARE
    # One padded entry keeps the index of the first bad row valid for a batch with none (or no rows at all).
    first = tf.argmax(tf.cast(tf.concat([bad, [True]], 0), tf.int32), output_type=tf.int32)
    check = tf.debugging.Assert(~tf.reduce_any(bad), [
        tf.strings.format("text at index {} of the batch " + UNKNOWN_SCRIPT, first)])
    with tf.control_dependencies([check]):
        return tf.identity(values)


def refused_index(error):
    """The batch index of the text an `InvalidArgumentError` from `require_known_characters` refused; None for any
    other error."""
    found = re.search(r"text at index (\d+) of the batch", error.message)
    return int(found.group(1)) if found else None


def ragged_in_chunks(tokenize, texts, chunk=4096):
    """Ragged int32 ids [len(texts), None] from `tokenize` (strings [n] -> ragged ids [n, None]), called on `chunk`
    texts at a time: much faster than one by one, without one call's memory for a whole corpus."""
    parts = [tf.cast(tokenize(tf.constant(texts[start:start + chunk], tf.string)), tf.int32)
             for start in range(0, len(texts), chunk)]
    return tf.concat(parts, axis=0) if parts else tf.ragged.constant([], dtype=tf.int32, ragged_rank=1)


def decoder_inputs(target, end_id):
    """Target ids [batch, time] shifted right, as a teacher-forced decoder reads them: the end id is a label, never
    an input. The zoo's decoders mask the steps whose input is 0 and the loss follows that mask, so a padded row's
    end id read as an input would unmask one more step whose label is padding, the easiest prediction there is,
    counted in the loss and the accuracy. keras.ops: NumPy arrays, a dataset's tensors or a model's symbolic inputs."""
    previous = target[:, :-1]
    return keras.ops.where(keras.ops.equal(previous, end_id), keras.ops.zeros_like(previous), previous)


def answers_in_batches(call, texts, batch_size=256, *, skip_refused=False):
    """`call(tf.string [batch])` -> {output: array [batch, ...]} over a list of strings in batches: one
    {output: row} per text, in order. A text `require_known_characters` refuses is a UserError that quotes it; with
    `skip_refused` its answer is None instead (for scoring a labelled file, where one such row must not stop it)."""
    out = []
    for start in range(0, len(texts), batch_size):
        batch = list(range(start, min(start + batch_size, len(texts))))
        answers = dict.fromkeys(batch)
        while batch:
            try:
                result = call(tf.constant([texts[i] for i in batch], tf.string))
            except tf.errors.InvalidArgumentError as error:
                index = refused_index(error)
                if index is None:
                    raise
                if not skip_refused:
                    raise unknown_script_error(error, [texts[i] for i in batch], offset=batch[0]) from None
                del batch[index]  # the check names the first refused row: drop it and answer the rest again
                continue
            result = {name: np.asarray(values) for name, values in result.items()}
            answers.update((i, {name: values[row] for name, values in result.items()}) for row, i in enumerate(batch))
            batch = []
        out += answers.values()
    return out


def unknown_script_error(error, texts, offset=0):
    """The UserError for an `InvalidArgumentError` from `require_known_characters` on `texts` (the batch started at
    `offset` in the user's list); None for any other error."""
    index = refused_index(error)
    if index is None:
        return None
    from tasks.common.cli import UserError

    return UserError(f"text {offset + index + 1} ({texts[index][:40]!r}) {UNKNOWN_SCRIPT}.")
