"""The shared body of many_to_one and many_to_many: input adapter -> recurrent stack -> output head."""

from zoo.heads import output_head
from zoo.inputs import embed_steps, sequence_input
from zoo.pooling import POOLINGS, MaskedPooling
from zoo.stack import recurrent_stack


def sequence_model(inputs, rnn, *, per_step, num_outputs, output_activation, pooling="last"):
    """Returns `(input, outputs)`: one output per step when `per_step`, else one for the whole sequence, from the
    final state (`pooling="last"`), the masked mean or max over every step's output, or all three side by side
    (`"concat"`, ULMFiT's pooling)."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} is not valid; choose one of: {', '.join(map(repr, POOLINGS))}.")
    x_in = sequence_input(inputs.input, name=inputs.input, **inputs.adapter_args())
    x = embed_steps(inputs.input, x_in, prefix="", **inputs.embed_args())
    x, _ = recurrent_stack(x, rnn, prefix="rnn", return_sequences=per_step or pooling != "last")
    if not per_step and pooling != "last":
        x = MaskedPooling(pooling, backward_half=rnn.bidirectional and rnn.merge_mode == "concat",
                          name=f"{pooling}_pooling")(x)
    return x_in, output_head(x, num_outputs=num_outputs, output_activation=output_activation)
