"""Input adapters: turn a raw sequence input into per-step vectors that carry a padding mask.

Three kinds of sequence input, each padded with zeros at the end:
- tokens:   int ids [batch, time]                      -> Embedding(mask_zero=True); id 0 is padding.
- features: floats [batch, time, feature_dim]          -> as is. No step is padding unless `mask_value=` is given
            (opt-in, as with Keras's own `Masking` layer): then a step whose values all equal it is padding. Zero is
            a real value in most feature data (a temperature, a normalized reading), so it never masks by default.
- frames:   floats [batch, time, height, width, chan]  -> a small CNN per frame (TimeDistributed); an all-zero
            frame is padding.
Downstream recurrent layers read the Keras mask, so padding never changes a result.
"""

import keras
from keras import ops

INPUT_KINDS = ("tokens", "features", "frames")
FRAME_POOLINGS = ("average", "flatten")


@keras.saving.register_keras_serializable(package="zoo")
class StepPaddingMask(keras.layers.Layer):
    """Returns `values` unchanged and masks the steps where `reference` is all `mask_value`.

    Called on `[values, reference]`, both [batch, time, ...]. `reference` is the raw input, so a mask can be attached
    after a transformation (a per-frame CNN) that would otherwise lose track of which frames were padding.
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.mask_value = mask_value

    def call(self, inputs):
        # A copy: called eagerly, Keras attaches the mask to the returned tensor, which must not be the caller's own
        # input (passed again to a model, it would carry a stale mask and set off Keras's "destroy the mask" warning).
        return ops.copy(inputs[0])

    def compute_mask(self, inputs, mask=None):
        return step_mask(inputs[1], self.mask_value)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="zoo")
class StepMask(keras.layers.Layer):
    """The padding mask of a raw sequence input as a tensor: bool [batch, time], True where a step is real.

    Attention layers take it explicitly, so the same call works in the training graph and in a decode-step model whose
    memory arrives as a plain input with no Keras mask attached. `mask_value=None`: every step is real.
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True  # a masked reference is fine: the mask is what this computes

    def compute_mask(self, reference, mask=None):
        return None

    def call(self, reference):
        if self.mask_value is None:
            return ops.ones(ops.shape(reference)[:2], dtype="bool")
        return step_mask(reference, self.mask_value)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_output_spec(self, reference):
        return keras.KerasTensor(reference.shape[:2], dtype="bool")


def step_mask(reference, mask_value=0):
    """True where a step of `reference` [batch, time, ...] has any value other than `mask_value` (padding is all
    `mask_value`)."""
    step_axes = tuple(range(2, len(reference.shape)))
    real = ops.not_equal(reference, ops.cast(mask_value, reference.dtype))
    return ops.any(real, axis=step_axes) if step_axes else real


@keras.saving.register_keras_serializable(package="zoo")
class WithoutMask(keras.layers.Layer):
    """Its input, with no Keras mask: for a tensor that one model hands to another model's plain input (the
    encoder's memory, whose padding travels as an explicit `memory_mask`), where an attached mask would set off
    Keras's "destroy the mask information" warning."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.copy(inputs)

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="zoo")
class FoldedTimeDistributed(keras.layers.TimeDistributed):
    """TimeDistributed that folds time into the batch: one call of the inner layer on [batch * time, ...].

    Why not plain TimeDistributed: in Keras 3.15, when the time axis is unknown while tracing (every exported
    SavedModel), it maps over `shape(inputs)[0]` taken before the batch/time transpose, i.e. over the batch size
    instead of the time steps, and returns the wrong number of frames. One batched call is also faster than a map.
    """

    def call(self, inputs, training=None, mask=None):
        shape = ops.shape(inputs)
        folded = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        outputs = self.layer(folded, training=training)
        return ops.reshape(outputs, (shape[0], shape[1], *outputs.shape[1:]))


def sequence_input(kind, *, name, batch_size=None, vocab_size=None, feature_dim=None, frame_shape=None,
                   sequence_length=None):
    """The `keras.Input` for a sequence of the given kind (its name is `name`)."""
    if kind == "tokens":
        return keras.Input(shape=(sequence_length,), batch_size=batch_size, dtype="int32", name=name)
    if kind == "features":
        return keras.Input(shape=(sequence_length, feature_dim), batch_size=batch_size, name=name)
    return keras.Input(shape=(sequence_length, *frame_shape), batch_size=batch_size, name=name)


def embed_steps(kind, inputs, *, prefix, vocab_size=None, embedding_dim=64, frame_filters=(16, 32),
                frame_pooling="average", mask_value=None):
    """Per-step vectors [batch, time, dim] from `inputs`, with the padding mask attached (features: only with a
    `mask_value`)."""
    if kind == "tokens":
        return keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name=f"{prefix}embedding")(inputs)
    if kind == "features":
        if mask_value is None:
            return inputs
        return StepPaddingMask(mask_value, name=f"{prefix}padding_mask")([inputs, inputs])
    frame_features = FoldedTimeDistributed(
        frame_encoder(inputs.shape[2:], frame_filters, pooling=frame_pooling, name=f"{prefix}frame_encoder"),
        name=f"{prefix}frame_cnn"
    )(inputs)
    return StepPaddingMask(name=f"{prefix}padding_mask")([frame_features, inputs])


def frame_encoder(frame_shape, filters, *, name, pooling="average"):
    """A small CNN that maps one frame [height, width, channels] to a vector: [filters[-1]] after global average
    pooling, which forgets where things are in the frame, or the whole last feature map flattened, which keeps it
    (needed to tell motion from one frame to the next)."""
    layers = [keras.Input(shape=tuple(frame_shape))]
    for i, width in enumerate(filters):
        layers += [
            keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}"),
            keras.layers.MaxPooling2D(2, padding="same", name=f"pool_{i}"),
        ]
    layers.append(keras.layers.GlobalAveragePooling2D(name="average") if pooling == "average"
                  else keras.layers.Flatten(name="flatten"))
    return keras.Sequential(layers, name=name)
