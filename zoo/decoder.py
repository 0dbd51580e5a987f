"""A causal recurrent decoder, shared by seq2seq and the autoregressive one_to_many.

Its layers are created once and named, so the teacher-forced training graph and the single-step inference model
(`decode_step`) run the very same weights: `decoder_layers` makes them for a new model, `trained_decoder_layers`
fetches them from a built one, and `run_decoder` wires either.
"""

import keras

from zoo.cells import make_rnn, state_count
from zoo.inputs import StepMask

ATTENTIONS = ("additive", "dot", None)


def check_attention(attention):
    """`attention` normalized to 'additive', 'dot' or None ('none' accepted)."""
    attention = None if attention in (None, "none") else attention
    if attention not in ATTENTIONS:
        raise ValueError(f"attention={attention!r} is not valid; choose one of: 'additive', 'dot', 'none'.")
    return attention


def decoder_layer_names(rnn, attention):
    names = ["decoder_embedding", *(f"decoder_rnn_{i}" for i in range(rnn.num_layers)), "logits"]
    if attention:
        names += ["attention", "attention_combine"]
    return names


def decoder_layers(rnn, *, vocab_size, embedding_dim, attention):
    """The decoder's layers for a new model. Never Bidirectional or stateful: a decoder must not see its future."""
    layers = {
        "decoder_embedding": keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True,
                                                    name="decoder_embedding"),
        "logits": keras.layers.Dense(vocab_size, name="logits"),
    }
    for i in range(rnn.num_layers):
        layers[f"decoder_rnn_{i}"] = make_rnn(
            rnn.cell, rnn.units, name=f"decoder_rnn_{i}", return_sequences=True, return_state=True,
            dropout=rnn.dropout, recurrent_dropout=rnn.recurrent_dropout, activation=rnn.activation,
        )
    if attention == "additive":  # Bahdanau: v . tanh(W q + U k)
        layers["attention"] = keras.layers.AdditiveAttention(name="attention")
    elif attention == "dot":  # Luong: q . k, with a learned scale
        layers["attention"] = keras.layers.Attention(use_scale=True, name="attention")
    if attention:
        # Linear, not Luong's tanh: measured on Tatoeba spa-eng (GRU 256, Adam 1e-3), a tanh here saturated and
        # training stalled at the unigram loss (5.4 nats after an epoch), while linear or relu learned at once.
        layers["attention_combine"] = keras.layers.Dense(rnn.units, name="attention_combine")
    return layers


def trained_decoder_layers(model, rnn, attention):
    return {name: model.get_layer(name) for name in decoder_layer_names(rnn, attention)}


def initial_state_names(rnn):
    """Names of the decoder's initial-state tensors: `decoder_init_{layer}_{state}`."""
    return [f"decoder_init_{i}_{j}" for i in range(rnn.num_layers) for j in range(state_count(rnn.cell))]


def group_states(rnn, flat_states):
    """A flat list of states (in `initial_state_names` order) as one list per decoder layer."""
    n = state_count(rnn.cell)
    return [list(flat_states[i * n:(i + 1) * n]) for i in range(rnn.num_layers)]


def run_decoder(layers, previous_tokens, states, *, memory=None, memory_mask=None):
    """Decode `previous_tokens` [batch, time] (teacher forcing, or time == 1 for one step).

    `states` holds each decoder layer's initial state list; `memory` [batch, source_time, units] and `memory_mask`
    [batch, source_time] are the encoder's outputs when there is attention. Returns `(logits [batch, time, vocab],
    final states per layer, attention weights [batch, time, source_time] or None)`.
    """
    x = layers["decoder_embedding"](previous_tokens)
    final_states = []
    for i, layer_states in enumerate(states):
        x, *new_states = layers[f"decoder_rnn_{i}"](x, initial_state=layer_states)
        final_states.append(new_states)
    weights = None
    if "attention" in layers:
        query_mask = StepMask(name="decoder_mask")(previous_tokens)
        context, weights = layers["attention"](
            [x, memory], mask=[query_mask, memory_mask], return_attention_scores=True
        )
        x = layers["attention_combine"](keras.layers.Concatenate(name="decoder_concat")([context, x]))
    return layers["logits"](x), final_states, weights


def decode_step_model(layers, rnn, *, memory_width=None):
    """The single-step decoder as a model: {previous_token [batch, 1], decoder_init_*, memory?, memory_mask?} ->
    {logits [batch, 1, vocab], decoder_init_* (the next states), attention? [batch, 1, source_time]}."""
    inputs = {"previous_token": keras.Input(shape=(1,), dtype="int32", name="previous_token")}
    for name in initial_state_names(rnn):
        inputs[name] = keras.Input(shape=(rnn.units,), name=name)
    memory = memory_mask = None
    if memory_width is not None:
        memory = inputs["memory"] = keras.Input(shape=(None, memory_width), name="memory")
        memory_mask = inputs["memory_mask"] = keras.Input(shape=(None,), dtype="bool", name="memory_mask")
    states = group_states(rnn, [inputs[n] for n in initial_state_names(rnn)])
    logits, final_states, weights = run_decoder(layers, inputs["previous_token"], states, memory=memory,
                                                memory_mask=memory_mask)
    outputs = {"logits": logits}
    outputs.update(zip(initial_state_names(rnn), (s for layer in final_states for s in layer)))
    if weights is not None:
        outputs["attention"] = weights
    return keras.Model(inputs, outputs, name="decode_step")
