"""one_to_many: one input vector -> a sequence of outputs (generation conditioned on a class or an embedding)."""

import keras

from zoo.decoder import (
    decode_step_model,
    decoder_layers,
    group_states,
    initial_state_names,
    run_decoder,
    trained_decoder_layers,
)
from zoo.heads import output_head
from zoo.stack import recurrent_stack

DECODERS = ("repeat", "autoregressive")


def build_one_to_many(inputs, rnn, *, num_outputs, decoder="repeat", output_steps=None, output_activation=None,
                      target_embedding_dim=64):
    """Vector [batch, feature_dim] -> a sequence [batch, time, num_outputs].

    decoder='repeat': the vector is repeated `output_steps` times and read by the recurrent stack, which emits one
    output per step (fixed length; Bidirectional allowed since no output feeds back).
    decoder='autoregressive': the vector sets the initial state of a causal decoder that reads the previous output
    tokens (`previous_tokens`, ids in [1, num_outputs), 0 = padding) and predicts the next one: a conditioned
    language model. Train with teacher forcing; generate with `inference_models` (`encode` + `decode_step`) in a
    sampling loop. Outputs are logits over `num_outputs` token ids.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r} is not valid; choose one of: {', '.join(map(repr, DECODERS))}.")
    vector = keras.Input(shape=(inputs.feature_dim,), batch_size=inputs.batch_size, name="vector")
    if decoder == "repeat":
        if isinstance(output_steps, bool) or not isinstance(output_steps, int) or output_steps <= 0:
            raise ValueError(f"decoder='repeat' needs output_steps=<positive int> (got {output_steps!r}).")
        x = keras.layers.RepeatVector(output_steps, name="repeat")(vector)
        x, _ = recurrent_stack(x, rnn, prefix="rnn", return_sequences=True)
        return vector, output_head(x, num_outputs=num_outputs, output_activation=output_activation)
    if rnn.bidirectional:
        raise ValueError("bidirectional=True is not valid with decoder='autoregressive': a causal decoder must not "
                         "see the tokens it is about to predict. Use decoder='repeat' or bidirectional=False.")
    if output_activation not in (None, "linear"):
        raise ValueError("decoder='autoregressive' returns logits; leave output_activation unset.")
    previous = keras.Input(shape=(None,), dtype="int32", name="previous_tokens")
    # The vector becomes every decoder layer's initial state(s).
    init = [keras.layers.Dense(rnn.units, activation="tanh", name=name)(vector) for name in initial_state_names(rnn)]
    layers = decoder_layers(rnn, vocab_size=num_outputs, embedding_dim=target_embedding_dim, attention=None)
    logits, _, _ = run_decoder(layers, previous, group_states(rnn, init))
    return {"vector": vector, "previous_tokens": previous}, logits


def one_to_many_inference_models(model, inputs, rnn, *, decoder="repeat", **_):
    """For decoder='autoregressive': `{"encode": vector -> decoder_init_* states, "decode_step": ...}` sharing
    `model`'s weights (see `zoo.decoder.decode_step_model` for the step's inputs and outputs)."""
    if decoder != "autoregressive":
        raise ValueError("Only decoder='autoregressive' has step-by-step inference models; a 'repeat' decoder "
                         "emits its whole sequence in one call.")
    outputs = {name: model.get_layer(name).output for name in initial_state_names(rnn)}
    encode = keras.Model(model.get_layer("vector").output, outputs, name="encode")
    step = decode_step_model(trained_decoder_layers(model, rnn, None), rnn)
    return {"encode": encode, "decode_step": step}
