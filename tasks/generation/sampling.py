"""Character generation one step at a time, as a graph loop, with the trained model's own layers, and the exported
`generate(prompt, length, temperature) -> text` SavedModel.

The zoo's many_to_many language model is `embedding -> rnn_0 .. rnn_{n-1} -> outputs`; a step runs each recurrent
layer's cell once (`cell(x, states) -> (h, states)`), so generation and training share every weight.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.export import write_extras
from tasks.generation.data import RESERVED, tbptt_batches


class Generator:
    """Sampling from a trained character model; `chars` is its vocabulary (ids from 2)."""

    def __init__(self, model, chars):
        self.model, self.chars = model, list(chars)
        self.embedding = model.get_layer("embedding")
        depth = sum(layer.name.startswith("rnn_") for layer in model.layers)
        self.rnns = [model.get_layer(f"rnn_{i}") for i in range(depth)]
        self.head = model.get_layer("outputs")
        self.lookup = keras.layers.StringLookup(vocabulary=list(chars), mask_token="", num_oov_indices=1)
        self.words = tf.constant([*RESERVED, *chars])

    def zero_states(self, batch):
        sizes = [rnn.cell.state_size for rnn in self.rnns]
        return [[tf.zeros([batch, s]) for s in (size if isinstance(size, (list, tuple)) else [size])]
                for size in sizes]

    def step(self, ids, states):
        """ids int [batch] -> (logits [batch, vocab], next states)."""
        x = tf.gather(self.embedding.embeddings, ids)
        new_states = []
        for rnn, layer_states in zip(self.rnns, states):
            x, layer_states = rnn.cell(x, layer_states, training=False)
            new_states.append(list(layer_states))
        return self.head(x), new_states

    def generate(self, prompt, length, temperature):
        """prompt string [batch], length int32 [batch], temperature float32 [batch] (0: always the most likely
        character) -> {"text": prompt + continuation, "continuation"} [batch]. An empty prompt starts after a newline.
        """
        prompt = tf.where(tf.strings.length(prompt) > 0, prompt, "\n")
        chars = tf.strings.unicode_split(prompt, "UTF-8")
        ids = tf.cast(self.lookup(chars), tf.int32).to_tensor()  # [batch, prompt_length], 0 after each prompt
        prompt_lengths = tf.cast(chars.row_lengths(), tf.int32)
        batch = tf.shape(ids)[0]

        # Read the prompt; each row's state stops changing after its last character.
        def read(t, states, logits):
            step_logits, new_states = self.step(ids[:, t], states)
            active = t < prompt_lengths
            keep = lambda new, old: tf.where(active[:, None], new, old)  # noqa: E731
            return t + 1, tf.nest.map_structure(keep, new_states, states), keep(step_logits, logits)

        vocab = tf.shape(self.words)[0]
        _, states, logits = tf.while_loop(lambda t, *_: t < tf.shape(ids)[1], read,
                                          (tf.constant(0), self.zero_states(batch), tf.zeros([batch, vocab])))

        # Sample `max(length)` characters, each fed back in.
        def sample(t, states, logits, out):
            scaled = logits / tf.maximum(temperature, 1e-6)[:, None]
            drawn = tf.random.categorical(scaled, 1, dtype=tf.int32)[:, 0]
            next_ids = tf.where(temperature > 0, drawn, tf.argmax(logits, axis=-1, output_type=tf.int32))
            logits, states = self.step(next_ids, states)
            return t + 1, states, logits, out.write(t, next_ids)

        steps = tf.reduce_max(tf.concat([length, [0]], axis=0))
        _, _, _, out = tf.while_loop(lambda t, *_: t < steps, sample,
                                     (tf.constant(0), states, logits, tf.TensorArray(tf.int32, size=steps)))
        generated = tf.transpose(tf.reshape(out.stack(), [steps, batch]))
        text = tf.strings.reduce_join(tf.gather(self.words, generated), axis=-1)
        continuation = tf.strings.substr(text, tf.zeros_like(length), tf.maximum(length, 0), unit="UTF8_CHAR")
        return {"text": tf.strings.join([prompt, continuation]), "continuation": continuation}


def stream_loss(model, ids, batch_size, bptt):
    """Mean cross-entropy (nats per character) of a stateful `model` reading `ids` as `batch_size` streams in chunks
    of `bptt`, state carried from the start: how a language model is scored on a held-out text."""
    zoo.reset_states(model)
    step = tf.function(lambda x, y: tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
        y, model(x, training=False), from_logits=True)))
    total, count = 0.0, 0
    for x, y in tbptt_batches(ids, batch_size, bptt):
        total += float(step(x, y))
        count += int(np.prod(y.shape))
    zoo.reset_states(model)
    return total / count


def write_export(directory, generator, *, extras):
    """`serving_default`: `prompt` [batch] strings, `length` [batch] int32, `temperature` [batch] float32 ->
    `text` and `continuation` [batch]. `extras` and the model (`model.keras`) go to `assets.extra/`."""
    archive = keras.export.ExportArchive()
    archive.track(generator.model)
    archive.track(generator.lookup)
    archive.add_endpoint("serving_default", generator.generate, input_signature=[
        tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([None], tf.int32, name="length"),
        tf.TensorSpec([None], tf.float32, name="temperature")])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    generator.model.save(extra / "model.keras")
    (extra / "vocabulary.json").write_text(json.dumps(generator.chars, ensure_ascii=False), encoding="utf-8")
    write_extras(extra, extras)
