"""many_to_many (aligned): a sequence -> one output per step, T_in == T_out (per-frame labels, tagging), and the
step model of its causal (unidirectional) form, for language models that generate one step at a time."""

import keras

from zoo.cells import state_count
from zoo.inputs import StepMask, WithoutMask, embed_steps, sequence_input
from zoo.sequence_model import sequence_model


def build_many_to_many(inputs, rnn, *, num_outputs, output_activation=None):
    """Sequence [batch, time, ...] -> [batch, time, num_outputs], one output per input step.

    Unidirectional, step t sees steps 0..t (causal: usable for streaming and language models); Bidirectional, every
    step sees the whole sequence. The output keeps the padding mask, so a compiled loss ignores padded steps.
    """
    return sequence_model(inputs, rnn, per_step=True, num_outputs=num_outputs, output_activation=output_activation)


def state_names(rnn):
    """Names of the step model's state inputs and outputs: `state_{layer}_{state}`."""
    return [f"state_{i}_{j}" for i in range(rnn.num_layers) for j in range(state_count(rnn.cell))]


def many_to_many_inference_models(model, inputs, rnn, **_):
    """For the causal (unidirectional) form: `{"read": ..., "step": ...}`, models sharing `model`'s weights that
    continue a sequence from given states: {<input> [batch, steps, ...], state_* [batch, units]} -> {"logits" [batch,
    steps, num_outputs], state_* (the states after the last real step of each row)}. Zero states start a sequence.

    `read` takes any number of steps; padding steps leave a row's state as it was, so a batch of prompts of different
    lengths is read in one call. `step` takes exactly one step, as one call of each layer's cell (no loop, no mask
    inside): a generation loop's body (measured on a tiny generation export: 300 characters in 26 ms with `step`,
    35-39 ms with `read` one step at a time). Both work for stateful (truncated BPTT) models too: they keep no state
    of their own, and take any batch size."""
    if rnn.bidirectional:
        raise ValueError("A bidirectional many_to_many reads the whole sequence before its first output; only the "
                         "unidirectional (causal) form has step models.")
    if inputs.input == "frames":
        raise ValueError("The step models read tokens or features; a frames many_to_many has none.")
    return {"read": _continuation_model(model, inputs, rnn, steps=None, name="read"),
            "step": _single_step_model(model, inputs, rnn)}


class CellStep(keras.layers.Layer):
    """One call of a trained recurrent layer's cell (its weights): (x [batch, dim], states) -> [h, *next states]. A
    layer of its own so that each stacked cell gets a unique node name (Keras names every GRU cell "gru_cell")."""

    def __init__(self, cell, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell

    def call(self, x, states):
        h, next_states = self.cell(x, states, training=False)
        return [h, *(next_states if isinstance(next_states, (list, tuple)) else [next_states])]


def _single_step_model(model, inputs, rnn):
    """One step, as the trained layers' cells called once: no loop and no mask (a step is never padding)."""
    shape = (1,) if inputs.input == "tokens" else (1, inputs.feature_dim)
    step_input = keras.Input(shape=shape, dtype="int32" if inputs.input == "tokens" else "float32",
                             name=inputs.input)
    state_inputs = {state: keras.Input(shape=(rnn.units,), name=state) for state in state_names(rnn)}
    if inputs.input == "tokens":  # the trained embedding; its padding mask means nothing for one real step
        x = WithoutMask(name="step_embedding")(model.get_layer("embedding")(step_input))
    else:
        x = step_input
    x = keras.layers.Reshape((x.shape[-1],), name="step_vector")(x)
    outputs = {}
    for i in range(rnn.num_layers):
        names = state_names(rnn)[i * state_count(rnn.cell):(i + 1) * state_count(rnn.cell)]
        x, *states = CellStep(model.get_layer(f"rnn_{i}").cell, name=f"step_cell_{i}")(
            x, [state_inputs[n] for n in names])
        outputs.update(zip(names, states))
    logits = keras.layers.Reshape((1, -1), name="step_logits")(model.get_layer("outputs")(x))
    return keras.Model({inputs.input: step_input, **state_inputs}, {"logits": logits, **outputs}, name="step")


def _continuation_model(model, inputs, rnn, *, steps, name):
    step_input = sequence_input(inputs.input, name=inputs.input, **{**inputs.adapter_args(), "batch_size": None,
                                                                     "sequence_length": steps})
    state_inputs = {state: keras.Input(shape=(rnn.units,), name=state) for state in state_names(rnn)}
    if inputs.input == "tokens":
        x = model.get_layer("embedding")(step_input)  # the trained embedding
    else:
        x = embed_steps(inputs.input, step_input, prefix=f"{name}_", **inputs.embed_args())  # no weights: a mask only
    # Passed to each layer explicitly: Keras 3.15 drops the padding mask of a recurrent layer called with
    # `initial_state` in a functional model, and padding steps would then move the state on (measured: 0.014 off).
    mask = StepMask(inputs.padding_value, name=f"{name}_mask")(step_input)
    outputs = {}
    for i in range(rnn.num_layers):
        trained = model.get_layer(f"rnn_{i}")
        # The trained layer's cell (its weights) in a plain layer that takes and returns states.
        layer = keras.layers.RNN(trained.cell, return_sequences=True, return_state=True, unroll=steps is not None,
                                 name=f"{name}_rnn_{i}")
        names = state_names(rnn)[i * state_count(rnn.cell):(i + 1) * state_count(rnn.cell)]
        x, *states = layer(x, initial_state=[state_inputs[n] for n in names], mask=mask)
        outputs.update(zip(names, states))
    outputs = {"logits": model.get_layer("outputs")(x), **outputs}
    return keras.Model({inputs.input: step_input, **state_inputs}, outputs, name=name)
