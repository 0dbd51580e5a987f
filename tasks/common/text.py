"""Text preprocessing that travels inside a model, and the one vocabulary file format of a run folder."""

from pathlib import Path

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tasks")
class FirstSteps(keras.layers.Layer):
    """Token ids [batch, time] cut to their first `max_length` steps and at least one step long (an empty text is a
    single padding step, so it still gets an answer)."""

    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def call(self, ids):
        ids = ids[:, :self.max_length]
        return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


def write_vocabulary(path, vectorizer):
    """The vectorizer's words, one per line, without the padding and out-of-vocabulary entries (which every
    TextVectorization adds itself): `read_vocabulary` gives back the same list."""
    words = vectorizer.get_vocabulary(include_special_tokens=False)
    Path(path).write_text("".join(f"{word}\n" for word in words), encoding="utf-8")


def read_vocabulary(path):
    # split("\n"), not splitlines(): a word may hold other line-break characters (U+2028, U+0085).
    return Path(path).read_text(encoding="utf-8").split("\n")[:-1]
