"""seq2seq: encoder-decoder many-to-many (T_in != T_out), optionally with attention (translation, captioning).

Training uses teacher forcing: the decoder reads the target shifted right (`previous_tokens`, starting with the
caller's start id) and predicts the target. The decoder masks its steps where `previous_tokens` is 0, and the
loss follows that mask, so a padded row must not read its end id as an input (zero it, as
`tasks.common.text.decoder_inputs` does): that step's label is padding and would be counted. For inference
the same weights are split into `encode` and `decode_step` models (see `inference_models`), which a greedy,
sampling or beam-search loop calls step by step.
"""

import dataclasses

import keras

from zoo.cells import split_bidirectional_states
from zoo.decoder import (
    check_attention,
    decode_step_model,
    decoder_layers,
    group_states,
    initial_state_names,
    run_decoder,
    trained_decoder_layers,
)
from zoo.inputs import StepMask, WithoutMask, embed_steps, sequence_input
from zoo.stack import recurrent_stack


def build_seq2seq(inputs, rnn, *, target_vocab_size, target_embedding_dim=64, attention="additive"):
    """Source sequence + previous target tokens -> next-token logits [batch, target_time, target_vocab_size].

    Inputs: the source (named by its kind: `tokens`, `features` or `frames`) and `previous_tokens` (int ids
    [batch, target_time], 0 = padding). Each of the `num_layers` decoder layers starts from the final state of the
    matching encoder layer; with a Bidirectional encoder the two directions' states are joined by a Dense bridge.
    `attention` is 'additive' (Bahdanau), 'dot' (Luong) or None; with attention the decoder's output at each step is
    combined with a context vector over the (masked) encoder outputs.
    """
    attention = check_attention(attention)
    source = sequence_input(inputs.input, name=inputs.input, **inputs.adapter_args())
    previous = keras.Input(shape=(None,), dtype="int32", name="previous_tokens")
    x = embed_steps(inputs.input, source, prefix="encoder_", **inputs.embed_args())
    encoder_outputs, encoder_states = recurrent_stack(x, rnn, prefix="encoder_rnn", return_sequences=True,
                                                      return_state=True)
    init = [_decoder_initial_state(rnn, i, j, states) for i, states in enumerate(encoder_states)
            for j in range(len(states) // (2 if rnn.bidirectional else 1))]
    memory = memory_mask = None
    if attention:
        memory = keras.layers.Dense(rnn.units, use_bias=False, name="memory")(encoder_outputs)
        memory_mask = StepMask(inputs.padding_value, name="memory_mask")(source)
    decoder_rnn = dataclasses.replace(rnn, bidirectional=False)
    layers = decoder_layers(decoder_rnn, vocab_size=target_vocab_size, embedding_dim=target_embedding_dim,
                            attention=attention)
    logits, _, _ = run_decoder(layers, previous, group_states(decoder_rnn, init), memory=memory,
                               memory_mask=memory_mask)
    return {source.name: source, "previous_tokens": previous}, logits


def _decoder_initial_state(rnn, layer, j, states):
    name = f"decoder_init_{layer}_{j}"
    if not rnn.bidirectional:
        return keras.layers.Identity(name=name)(states[j])
    forward, backward = split_bidirectional_states(rnn.cell, states)
    joined = keras.layers.Concatenate(name=f"{name}_joined")([forward[j], backward[j]])
    return keras.layers.Dense(rnn.units, activation="tanh", name=name)(joined)


def seq2seq_inference_models(model, inputs, rnn, *, attention="additive", **_):
    """`{"encode", "decode_step"}` models sharing `model`'s weights.

    encode: source -> {decoder_init_* states, memory and memory_mask (with attention)}.
    decode_step: {previous_token [batch, 1], decoder_init_*, memory, memory_mask} -> {logits [batch, 1, vocab],
    next decoder_init_* states, attention weights [batch, 1, source_time]}.
    """
    attention = check_attention(attention)
    decoder_rnn = dataclasses.replace(rnn, bidirectional=False)
    outputs = {name: model.get_layer(name).output for name in initial_state_names(decoder_rnn)}
    if attention:
        outputs["memory"] = WithoutMask(name="memory_without_mask")(model.get_layer("memory").output)
        outputs["memory_mask"] = model.get_layer("memory_mask").output
    encode = keras.Model(model.get_layer(inputs.input).output, outputs, name="encode")
    layers = trained_decoder_layers(model, decoder_rnn, attention)
    step = decode_step_model(layers, decoder_rnn, memory_width=rnn.units if attention else None)
    return {"encode": encode, "decode_step": step}
