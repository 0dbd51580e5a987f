"""Strings in, strings out: the trained seq2seq with its vocabularies and the decode loops, in process and exported.

The exported SavedModel has three signatures, each taking a batch of source strings (input `text`):
- `serving_default`: greedy decoding -> `translation`
- `beam_search`: beam search of the configured width -> `translation`
- `attention`: greedy decoding -> `translation`, `attention` [batch, target_steps, source_steps], and the words on
  both axes (`source_tokens`, `target_tokens`), for plots and debugging.
"""

from pathlib import Path

import keras
import tensorflow as tf

import zoo
from tasks.common.cli import UserError
from tasks.common.export import version_folder, write_extras
from tasks.common.text import read_vocabulary, write_vocabulary
from tasks.translation.data import END, START, make_vectorizer, source_ids
from tasks.translation.decoding import beam_search, greedy_decode

SIGNATURES = ("serving_default", "beam_search", "attention")


class Translator:
    """The decode loops over a trained seq2seq model and its two vectorizers, as graph functions of strings."""

    def __init__(self, model, source_vectorizer, target_vectorizer, *, max_length, beam_width, length_penalty=1.0):
        self.model = model
        self.models = zoo.inference_models(model)
        self.source_vectorizer, self.target_vectorizer = source_vectorizer, target_vectorizer
        vocabulary = target_vectorizer.get_vocabulary()
        self.source_words = tf.constant(source_vectorizer.get_vocabulary())
        self.target_words = tf.constant(vocabulary)
        self.loop_args = dict(start_id=vocabulary.index(START), end_id=vocabulary.index(END), max_length=max_length)
        self.max_length, self.beam_width, self.length_penalty = max_length, beam_width, length_penalty

    def source(self, text):
        return source_ids(self.source_vectorizer, text, self.max_length)

    def greedy(self, text):
        ids, _ = greedy_decode(self.models, self.source(text), **self.loop_args)
        return {"translation": self.detokenize(ids)}

    def beam(self, text):
        ids = beam_search(self.models, self.source(text), beam_width=self.beam_width,
                          length_penalty=self.length_penalty, **self.loop_args)
        return {"translation": self.detokenize(ids)}

    def attention(self, text):
        source = self.source(text)
        ids, weights = greedy_decode(self.models, source, **self.loop_args)
        return {"translation": self.detokenize(ids), "attention": weights,
                "source_tokens": tf.gather(self.source_words, source),
                "target_tokens": tf.gather(self.target_words, ids)}

    def detokenize(self, ids):
        """ids [batch, steps] -> one string per row: words joined, markers and padding dropped, punctuation attached."""
        words = tf.ragged.boolean_mask(tf.gather(self.target_words, ids),
                                       (ids > 0) & tf.not_equal(ids, self.loop_args["end_id"]))
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        text = tf.strings.regex_replace(text, r" ([.?!,])", r"\1")
        return tf.strings.regex_replace(text, r"([¿¡]) ", r"\1")

    def functions(self):
        """{signature name: tf.function taking a batch of strings}, for evaluation in process."""
        spec = [tf.TensorSpec([None], tf.string, name="text")]
        return {name: tf.function(fn, input_signature=spec) for name, fn in zip(
            SIGNATURES, (self.greedy, self.beam, self.attention))}


def write_export(directory, translator, *, extras):
    """Write the SavedModel into `directory`; `extras` ({file name: dict, or a path to copy}), both vocabularies and
    the trained model (`model.keras`) go to `directory/assets.extra/`."""
    archive = keras.export.ExportArchive()
    for tracked in (translator.model, translator.models["encode"], translator.models["decode_step"],
                    translator.source_vectorizer, translator.target_vectorizer):
        archive.track(tracked)
    spec = [tf.TensorSpec([None], tf.string, name="text")]
    for name, fn in zip(SIGNATURES, (translator.greedy, translator.beam, translator.attention)):
        archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    translator.model.save(extra / "model.keras")
    for name, vectorizer in (("source", translator.source_vectorizer), ("target", translator.target_vectorizer)):
        write_vocabulary(extra / f"{name}_vocabulary.txt", vectorizer)
    write_extras(extra, extras)


def vectorizers_from_files(source_file, target_file):
    source, target = read_vocabulary(source_file), read_vocabulary(target_file)
    return make_vectorizer(len(source) + 2, source), make_vectorizer(len(target) + 2, target)


def load_export(path, signature="serving_default"):
    """One signature of a translation export. `path` is a version folder, or a model folder (newest version)."""
    path = version_folder(path, "translation")
    loaded = tf.saved_model.load(str(path))
    if signature not in loaded.signatures or "text" not in loaded.signatures[signature].structured_input_signature[1]:
        raise UserError(f"{path} has no '{signature}' signature taking 'text'; it is not a translation export.")
    return loaded.signatures[signature]


def translate_texts(signature, texts, batch_size=256):
    """Translations of a list of strings, in batches, through an exported signature or a `Translator` function."""
    out = []
    for start in range(0, len(texts), batch_size):
        result = signature(text=tf.constant(texts[start:start + batch_size], tf.string))
        out += [t.decode("utf-8") for t in result["translation"].numpy()]
    return out
