"""The output layer every classifier/regressor pattern ends with."""

import keras

OUTPUT_ACTIVATIONS = (None, "linear", "softmax", "sigmoid")


def output_head(x, *, num_outputs, output_activation, name="outputs"):
    """Dense(num_outputs) on the last axis: logits by default (compile with from_logits=True).

    On a sequence [batch, time, dim] it is applied to every step and keeps the padding mask, so a masked loss ignores
    padded steps.
    """
    if output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"output_activation={output_activation!r} is not valid; choose one of: "
                         f"{', '.join(map(repr, OUTPUT_ACTIVATIONS))}.")
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs <= 0:
        raise ValueError(f"num_outputs={num_outputs!r} is not valid; it must be a positive integer.")
    return keras.layers.Dense(num_outputs, activation=output_activation, name=name)(x)
