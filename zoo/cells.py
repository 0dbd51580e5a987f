"""The one place that knows SimpleRNN, LSTM, GRU and Bidirectional.

Every builder asks this module for recurrent layers, so the facts about cells (how many state tensors each returns,
which activations are valid, how Bidirectional concatenates states) live here and nowhere else.
"""

import keras

CELLS = {
    "simple_rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}
# LSTM carries (h, c); SimpleRNN and GRU carry h only.
STATES_PER_CELL = {"simple_rnn": 1, "lstm": 2, "gru": 1}
ACTIVATIONS = ("tanh", "relu", "sigmoid")
MERGE_MODES = ("concat", "sum", "mul", "ave")


def state_count(cell):
    """Number of state tensors one direction of `cell` carries (LSTM: 2, others: 1)."""
    return STATES_PER_CELL[cell]


def make_rnn(
    cell,
    units,
    *,
    name,
    return_sequences,
    return_state=False,
    bidirectional=False,
    merge_mode="concat",
    dropout=0.0,
    recurrent_dropout=0.0,
    activation="tanh",
    stateful=False,
):
    """One recurrent layer, optionally wrapped in Bidirectional.

    Called with `return_state=True` the layer returns `[outputs, *states]`; with Bidirectional the states are the
    forward ones followed by the backward ones (see `split_bidirectional_states`).
    """
    layer = CELLS[cell](
        units,
        activation=activation,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        return_sequences=return_sequences,
        return_state=return_state,
        stateful=stateful,
        name=name if not bidirectional else f"{name}_cell",
    )
    if bidirectional:
        wrapper = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=name)
        # Bidirectional copies `layer` by serializing it, and inside `load_model` (Keras's object-sharing scope) that
        # copy is keyed by `id(layer)`. Once this temporary layer is freed, a layer built later at the same address
        # is handed a copy of an earlier one: about 1.6% of the wrappers built while loading failed with "Forward
        # layer and backward layer should have different `go_backwards` value". Keeping the template alive for as
        # long as the wrapper keeps every id in that scope unique. `object.__setattr__` so Keras does not track it as
        # a sublayer.
        object.__setattr__(wrapper, "_template_kept_alive", layer)
        return wrapper
    return layer


def split_bidirectional_states(cell, states):
    """Split the flat state list of a Bidirectional layer into (forward_states, backward_states)."""
    n = state_count(cell)
    return list(states[:n]), list(states[n:])
