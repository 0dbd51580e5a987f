"""many_to_one: a sequence -> one output (sentiment, clip classification, next-value forecasting)."""

from zoo.sequence_model import sequence_model


def build_many_to_one(inputs, rnn, *, num_outputs, output_activation=None):
    """Sequence [batch, time, ...] -> [batch, num_outputs] from the last layer's final state.

    With Bidirectional the backward direction's final state is the one at step 0, so the output sees the whole
    sequence from both ends. Padding is masked, so trailing zeros never change the output.
    """
    return sequence_model(inputs, rnn, per_step=False, num_outputs=num_outputs, output_activation=output_activation)
