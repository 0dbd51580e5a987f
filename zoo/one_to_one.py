"""one_to_one: one input vector -> one output; the feed-forward baseline the sequence patterns are compared with."""

import keras

from zoo.heads import output_head
from zoo.stack import recurrent_stack


def build_one_to_one(inputs, rnn, *, num_outputs, output_activation=None):
    """Vector [batch, feature_dim] -> [batch, num_outputs].

    The vector is a sequence of one step, so the chosen cell, unrolled once from a zero state, is a feed-forward layer
    (SimpleRNN: activation(Wx + b); LSTM/GRU: the gated form). Stacking `num_layers` gives a deep feed-forward net.
    This is the "no recurrence" baseline: the same cells and sizes as the other patterns, with nothing to remember.
    """
    vector = keras.Input(shape=(inputs.feature_dim,), batch_size=inputs.batch_size, name="vector")
    one_step = keras.layers.Reshape((1, inputs.feature_dim), name="as_one_step")(vector)
    x, _ = recurrent_stack(one_step, rnn, prefix="rnn", return_sequences=False)
    return vector, output_head(x, num_outputs=num_outputs, output_activation=output_activation)
