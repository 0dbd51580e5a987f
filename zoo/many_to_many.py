"""many_to_many (aligned): a sequence -> one output per step, T_in == T_out (per-frame labels, tagging), and the
step model of its causal (unidirectional) form, for language models that generate one step at a time."""

import keras

from zoo.cells import state_count
from zoo.inputs import StepMask, embed_steps, sequence_input
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
    """For the causal (unidirectional) form: `{"step": ...}`, a model sharing `model`'s weights that continues a
    sequence from given states: {<input> [batch, steps, ...], state_* [batch, units]} -> {"logits" [batch, steps,
    num_outputs], state_* (the states after the last real step of each row)}. Zero states start a sequence; padding
    steps leave a row's state as it was, so a batch of prompts of different lengths is read in one call. It works
    for stateful (truncated BPTT) models too: the step model keeps no state of its own, any batch size."""
    if rnn.bidirectional:
        raise ValueError("A bidirectional many_to_many reads the whole sequence before its first output; only the "
                         "unidirectional (causal) form has a step model.")
    if inputs.input == "frames":
        raise ValueError("The step model reads tokens or features; a frames many_to_many has no step model.")
    step_input = sequence_input(inputs.input, name=inputs.input, **{**inputs.adapter_args(), "batch_size": None,
                                                                     "sequence_length": None})
    state_inputs = {name: keras.Input(shape=(rnn.units,), name=name) for name in state_names(rnn)}
    if inputs.input == "tokens":
        x = model.get_layer("embedding")(step_input)  # the trained embedding: its mask marks padding steps
    else:
        x = embed_steps(inputs.input, step_input, prefix="step_", **inputs.embed_args())  # no weights: a mask only
    # Passed to each layer explicitly: Keras 3.15 drops the padding mask of a recurrent layer called with
    # `initial_state` in a functional model, and padding steps would then move the state on (measured: 0.014 off).
    mask = StepMask(inputs.padding_value, name="step_mask")(step_input)
    outputs = {}
    for i in range(rnn.num_layers):
        trained = model.get_layer(f"rnn_{i}")
        # The trained layer's cell (its weights) in a plain layer that takes and returns states.
        layer = keras.layers.RNN(trained.cell, return_sequences=True, return_state=True, name=f"step_rnn_{i}")
        names = state_names(rnn)[i * state_count(rnn.cell):(i + 1) * state_count(rnn.cell)]
        x, *states = layer(x, initial_state=[state_inputs[n] for n in names], mask=mask)
        outputs.update(zip(names, states))
    outputs = {"logits": model.get_layer("outputs")(x), **outputs}
    return {"step": keras.Model({inputs.input: step_input, **state_inputs}, outputs, name="step")}
