"""Masked pooling over time: summarize a whole output sequence instead of reading only the final state."""

import keras
from keras import ops

POOLINGS = ("last", "mean", "max")


@keras.saving.register_keras_serializable(package="zoo")
class MaskedPooling(keras.layers.Layer):
    """Mean or max over the real (unmasked) steps of [batch, time, dim] -> [batch, dim].

    Unlike Keras' GlobalMaxPooling1D it honours the mask (padded steps of a return_sequences RNN are zeros, which
    would win a max over negative values), and unlike GlobalAveragePooling1D it returns zeros, not NaN, for a
    sequence with no real step (an empty review).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max"):
            raise ValueError(f"MaskedPooling mode={mode!r} is not valid; choose 'mean' or 'max'.")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        real = ops.expand_dims(ops.cast(mask, "bool"), -1)
        any_real = ops.any(real, axis=1)
        if self.mode == "max":
            lowest = ops.full_like(inputs, float("-inf"))
            pooled = ops.max(ops.where(real, inputs, lowest), axis=1)
        else:
            weights = ops.cast(real, inputs.dtype)
            pooled = ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        return ops.where(any_real, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
