"""A stack of recurrent layers: the encoder that every sequence pattern shares."""

from zoo.cells import make_rnn


def recurrent_stack(x, rnn, *, prefix, return_sequences, return_state=False):
    """Run `x` [batch, time, dim] through `rnn.num_layers` recurrent layers named `{prefix}_{i}`.

    Every layer but the last returns its whole sequence to feed the next one; the last returns a sequence only when
    `return_sequences`. Returns `(outputs, states)` where `states[i]` is layer i's final state list (empty unless
    `return_state`; forward then backward states for Bidirectional).
    """
    states = []
    for i in range(rnn.num_layers):
        layer = make_rnn(
            rnn.cell, rnn.units, name=f"{prefix}_{i}",
            return_sequences=return_sequences or i < rnn.num_layers - 1, return_state=return_state,
            bidirectional=rnn.bidirectional, merge_mode=rnn.merge_mode, dropout=rnn.dropout,
            recurrent_dropout=rnn.recurrent_dropout, activation=rnn.activation, stateful=rnn.stateful,
        )
        out = layer(x)
        if return_state:
            x, *layer_states = out
            states.append(layer_states)
        else:
            x = out
    return x, states
