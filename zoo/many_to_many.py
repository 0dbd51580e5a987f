"""many_to_many (aligned): a sequence -> one output per step, T_in == T_out (per-frame labels, tagging)."""

from zoo.sequence_model import sequence_model


def build_many_to_many(inputs, rnn, *, num_outputs, output_activation=None):
    """Sequence [batch, time, ...] -> [batch, time, num_outputs], one output per input step.

    Unidirectional, step t sees steps 0..t (causal: usable for streaming and language models); Bidirectional, every
    step sees the whole sequence. The output keeps the padding mask, so a compiled loss ignores padded steps.
    """
    return sequence_model(inputs, rnn, per_step=True, num_outputs=num_outputs, output_activation=output_activation)
