"""Training a sequence model's output layer at its real steps only: no logits for padded steps.

A decoder's output layer is its widest product: translation's 64 sentences x 17 target steps x 256 units x 4,336
subwords, three times a training step (forward, the kernel's gradient, the input's gradient), then the
cross-entropy over all of it. In length-bucketed batches a quarter of those steps are padding (24.5% of the target
steps of 10,000 spa-eng pairs in the recipe's buckets), whose losses Keras masks out only after computing them.
`logits_at_real_steps(model)` is a copy of the model, sharing its weights, whose output layer reads only the steps
its input's mask keeps and returns them flattened, [real steps, classes]; train it on labels flattened with the same
mask (`labels_at_real_steps`). The loss is the same mean over real steps that Keras's masked loss is. In the
translation recipe's trainer a step took 1/1.07 of the time (paired passes over the same batches, bench/README.md).

TensorFlow backend, one device: the number of real steps changes from batch to batch, which XLA cannot compile.
Serve and decode with the original model.
"""

import keras
import tensorflow as tf

from zoo.fused import rewrite_layers


def logits_at_real_steps(model, layer="logits"):
    """A copy of functional `model`, sharing its weights, whose output layer `layer` (applied per step to a masked
    sequence [batch, time, features]) runs only at the steps the mask keeps: that output becomes [real steps,
    classes], the steps in row-major (batch, then time) order. Train it on `labels_at_real_steps` of the labels."""
    names = [output._keras_history.operation.name for output in model.outputs]
    if layer not in names:
        raise ValueError(f"logits_at_real_steps: {layer!r} is not an output layer of {model.name} (its outputs come "
                         f"from {names}); pass layer= the name of the layer that makes the per-step logits.")
    return rewrite_layers(model, lambda candidate: candidate.name == layer,
                          lambda found: RealSteps(found, name=f"{found.name}_at_real_steps"), "logits_at_real_steps")


def labels_at_real_steps(labels, mask):
    """Labels [batch, time, ...] -> [real steps, ...]: the steps `mask` [batch, time] keeps, in the order
    `logits_at_real_steps` gives its logits. `mask` must be the one the model's output layer receives (a decoder's
    `previous_tokens != 0` under `mask_zero`); None keeps every step, as the layer does without a mask."""
    if mask is None:
        return tf.reshape(labels, tf.concat([[-1], tf.shape(labels)[2:]], 0))
    return tf.boolean_mask(labels, mask)


@keras.saving.register_keras_serializable(package="zoo")
class RealSteps(keras.layers.Wrapper):
    """`layer`, a per-step layer (a Dense over [batch, time, features]), run only at the real steps of its masked
    input: [batch, time, features] -> [real steps, layer's outputs]. Shares `layer`'s weights. Without a mask every
    step is real."""

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)  # Wrapper keeps `layer` and saves it in the config
        self.supports_masking = True

    def call(self, inputs, mask=None):
        steps = tf.reshape(inputs, [-1, inputs.shape[-1]]) if mask is None else tf.boolean_mask(inputs, mask)
        return self.layer(steps)

    def compute_mask(self, inputs, mask=None):
        return None  # every row it returns is real

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape((None, input_shape[-1]))
