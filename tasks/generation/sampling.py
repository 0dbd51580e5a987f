"""Character generation one step at a time, as a graph loop, and the exported `generate(prompt, length,
temperature) -> text` SavedModel.

It runs the zoo's step models of the trained language model (`zoo.inference_models(model)`: `read` takes the
prompts in one call, `step` one character at a time; characters and states in, logits and the next states out), so
generation and training share every weight.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
from tasks.common.export import add_endpoint_traced_once, write_extras
from tasks.common.text import CharacterIds
from tasks.generation.data import RESERVED, tbptt_batches


class Generator:
    """Sampling from a trained character model; `chars` is its vocabulary (ids from 2)."""

    def __init__(self, model, chars):
        self.model, self.chars = model, list(chars)
        # Any batch size, also for a stateful (TBPTT) model: `read` for the prompts, `step` for each new character.
        self.models = zoo.inference_models(model)
        self.state_names = [name for name in self.models["step"].input if name.startswith("state_")]
        self.lookup = CharacterIds(self.chars, name="characters")
        self.words = tf.constant([*RESERVED, *chars])

    def text_model(self):
        """The language model with its tokenizer inside: texts (strings [batch]) -> logits [batch, characters,
        vocabulary] of each next character. What `model.keras` holds."""
        text = keras.Input(shape=(), dtype="string", name="text")
        return keras.Model(text, self.model(self.lookup(text)), name="character_model")

    def run(self, model, ids, states):
        """ids int [batch, steps] (0 after a row's end) -> (logits [batch, steps, vocab], the states after each
        row's last character)."""
        out = self.models[model]({"tokens": ids, **states}, training=False)
        return out["logits"], {name: out[name] for name in self.state_names}

    def generate(self, prompt, length, temperature):
        """prompt string [batch], length int32 [batch], temperature float32 [batch] (0: always the most likely
        character) -> {"text": prompt + continuation, "continuation"} [batch]. An empty prompt starts after a newline.
        """
        prompt = tf.where(tf.strings.length(prompt) > 0, prompt, "\n")
        ids = self.lookup(prompt)  # [batch, prompt_length], 0 after each prompt
        prompt_lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
        batch = tf.shape(ids)[0]

        # Read every prompt in one call from zero states: padding steps leave a row's state as it was, and the
        # next character comes from the logits at the row's last character.
        zeros = {name: tf.zeros([batch, self.models["read"].input[name].shape[-1]]) for name in self.state_names}
        prompt_logits, states = self.run("read", ids, zeros)
        logits = tf.gather(prompt_logits, prompt_lengths - 1, batch_dims=1)

        # Sample `max(length)` characters, each fed back in.
        def sample(t, states, logits, out):
            scaled = logits / tf.maximum(temperature, 1e-6)[:, None]
            drawn = tf.random.categorical(scaled, 1, dtype=tf.int32)[:, 0]
            next_ids = tf.where(temperature > 0, drawn, tf.argmax(logits, axis=-1, output_type=tf.int32))
            step_logits, states = self.run("step", next_ids[:, None], states)
            logits = step_logits[:, -1]
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
    for tracked in (generator.model, *generator.models.values(), generator.lookup):
        archive.track(tracked)
    add_endpoint_traced_once(archive, "serving_default", generator.generate, [
        tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([None], tf.int32, name="length"),
        tf.TensorSpec([None], tf.float32, name="temperature")])
    archive.write_out(str(directory), verbose=False)
    extra = Path(directory) / "assets.extra"
    extra.mkdir()
    generator.text_model().save(extra / "model.keras")
    (extra / "vocabulary.json").write_text(json.dumps(generator.chars, ensure_ascii=False), encoding="utf-8")
    write_extras(extra, extras)
