"""Masked pooling over time: summarize a whole output sequence instead of reading only the final state."""

import keras
from keras import ops

POOLINGS = ("last", "mean", "max", "concat")


@keras.saving.register_keras_serializable(package="zoo")
class MaskedPooling(keras.layers.Layer):
    """Mean, max or ULMFiT's concat pooling over the real (unmasked) steps of [batch, time, dim] -> [batch, dim]
    ([batch, 3 * dim] for concat: the final output, the max and the mean, Howard & Ruder 2018).

    Unlike Keras' GlobalMaxPooling1D it honours the mask (padded steps of a return_sequences RNN are zeros, which
    would win a max over negative values), and unlike GlobalAveragePooling1D it returns zeros, not NaN, for a
    sequence with no real step (an empty review). Padding is at the end, as the zoo's inputs pad. `backward_half`
    (a Bidirectional layer's concatenated output): concat's final output takes the second half of the features from
    the first step, where the backward direction has read the whole sequence.
    """

    def __init__(self, mode, backward_half=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "max", "concat"):
            raise ValueError(f"MaskedPooling mode={mode!r} is not valid; choose 'mean', 'max' or 'concat'.")
        self.mode, self.backward_half = mode, bool(backward_half)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        real = ops.expand_dims(ops.cast(mask, "bool"), -1)
        weights = ops.cast(real, inputs.dtype)
        pooled = []
        if self.mode == "concat":
            pooled.append(self._final(inputs, weights))
        if self.mode in ("max", "concat"):
            pooled.append(ops.max(ops.where(real, inputs, ops.full_like(inputs, float("-inf"))), axis=1))
        if self.mode in ("mean", "concat"):
            pooled.append(ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0))
        pooled = ops.concatenate(pooled, axis=-1) if len(pooled) > 1 else pooled[0]
        return ops.where(ops.any(real, axis=1), pooled, ops.zeros_like(pooled))

    def _final(self, inputs, weights):
        """The output at the last real step (and, with `backward_half`, the second half's at the first step)."""
        steps = ops.shape(inputs)[1]
        last = ops.maximum(ops.cast(ops.sum(weights[..., 0], axis=1), "int32") - 1, 0)
        final = ops.sum(inputs * ops.expand_dims(ops.one_hot(last, steps, dtype=inputs.dtype), -1), axis=1)
        if not self.backward_half:
            return final
        half = inputs.shape[-1] // 2
        return ops.concatenate([final[:, :half], inputs[:, 0, half:]], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2] * (3 if self.mode == "concat" else 1))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "backward_half": self.backward_half}
