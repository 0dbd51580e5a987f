"""many_to_one: a sequence -> one output (sentiment, clip classification, next-value forecasting)."""

from zoo.sequence_model import sequence_model


def build_many_to_one(inputs, rnn, *, num_outputs, output_activation=None, pooling="last"):
    """Sequence [batch, time, ...] -> [batch, num_outputs].

    pooling='last' reads the last layer's final state (with Bidirectional the backward direction's final state is
    the one at step 0, so it sees the whole sequence from both ends); 'mean' or 'max' pool every step's output over
    the real steps, which keeps evidence from the middle of a long sequence that a final state may have forgotten;
    'concat' gives the final output, the max and the mean side by side (ULMFiT's concat pooling).
    Padding is masked, so trailing zeros never change the output.
    """
    return sequence_model(inputs, rnn, per_step=False, num_outputs=num_outputs, output_activation=output_activation,
                          pooling=pooling)
