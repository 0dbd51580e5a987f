"""The inference fast path for LSTM layers on CPU: TensorFlow's fused sequence kernel in place of Keras's loop.

Keras runs a recurrent layer as a `while` loop of small ops: at batch 1 the per-step bookkeeping, not the matrix
products, is the cost (a BiLSTM(64) answers a 250-token review in about 1.6 ms XLA-compiled, where ONNX Runtime's
native LSTM op takes under 1 ms). TensorFlow has the same kind of kernel: `BlockLSTMV2` runs a whole sequence in
one C++ op, Keras's gate order (i, f, c, o) and weights, no peepholes. It knows one length for the whole batch, so
the masks' real lengths are restored around it: each row's backward direction reads its own real steps reversed
(`tf.reverse_sequence`), the final state is read at each row's last real step, and outputs at padded steps are what
Keras gives there. That is exact only when every mask is right-padded (real steps first), as the zoo's token
inputs are; any other mask runs Keras's own loop instead, decided per batch.

TensorFlow backend only, and for inference: `fused_inference(model)` is a copy of a trained model sharing its
weights, for exports and prediction; train and save the original.
"""

import keras
import tensorflow as tf
from keras.src.models.functional import Functional  # what clone_model can rebuild; no public name


def fused_inference(model):
    """A model computing what `model` computes, sharing its weights, whose LSTM layers (alone or under
    Bidirectional) run TensorFlow's fused sequence kernel when their masks are right-padded. Layers it cannot
    run exactly (other cells, activations other than tanh/sigmoid, stateful layers, returned states) stay as they
    are. Nested functional models are rewritten too."""

    def replace(layer):
        if isinstance(layer, keras.Model) and _is_functional(layer):
            return fused_inference(layer)
        return FusedLSTM(layer, name=f"{layer.name}_fused") if can_fuse(layer) else layer

    if not _is_functional(model):
        raise ValueError(f"fused_inference needs a functional model (zoo.build gives one), not {type(model).__name__}.")
    return keras.models.clone_model(model, clone_function=replace)


def can_fuse(layer):
    """Whether `layer` (an LSTM, or a Bidirectional of two) runs exactly as the fused kernel computes."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.merge_mode in MERGES and can_fuse(layer.forward_layer) and can_fuse(layer.backward_layer)
    return (isinstance(layer, keras.layers.LSTM) and not layer.stateful and not layer.return_state
            and layer.cell.activation is keras.activations.tanh
            and layer.cell.recurrent_activation is keras.activations.sigmoid)


MERGES = {"concat": lambda a, b: tf.concat([a, b], -1), "sum": tf.add, "mul": tf.multiply,
          "ave": lambda a, b: (a + b) / 2}


class FusedLSTM(keras.layers.Layer):
    """`layer` (an LSTM or a Bidirectional of LSTMs, see `can_fuse`) run by TensorFlow's `BlockLSTMV2` kernel. It
    shares `layer`'s weights and falls back to `layer` itself for a batch whose mask is not right-padded."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not can_fuse(layer):
            raise ValueError(f"{layer.name} ({type(layer).__name__}) cannot run on the fused LSTM kernel; see "
                             "zoo.fused.can_fuse.")
        self.layer = layer
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return self._fused(inputs, tf.fill(tf.shape(inputs)[:1], tf.shape(inputs)[1]))
        mask = tf.cast(mask, tf.bool)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
        return tf.cond(right_padded, lambda: self._fused(inputs, lengths),
                       lambda: self.layer(inputs, mask=mask, training=False))

    def _fused(self, inputs, lengths):
        if isinstance(self.layer, keras.layers.Bidirectional):
            forward = _run(self.layer.forward_layer, inputs, lengths)
            backward = _run(self.layer.backward_layer, inputs, lengths)
            if self.layer.return_sequences:  # Bidirectional puts the backward outputs back in time order
                backward = tf.reverse(backward, [1])
            return MERGES[self.layer.merge_mode](forward, backward)
        return _run(self.layer, inputs, lengths)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


def _run(layer, inputs, lengths):
    """One LSTM layer's outputs as Keras gives them, for rows whose first `lengths` steps are real.

    [batch, time, features] -> [batch, time, units] (return_sequences; in reading order, so reversed in time for a
    go_backwards layer, and zeros or the last real output at padded steps, as `zero_output_for_mask` says) or the
    final output [batch, units] (zeros for a row with no real step)."""
    cell = layer.cell
    steps = tf.shape(inputs)[1]
    read = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0) if layer.go_backwards else inputs
    bias = cell.bias if cell.use_bias else tf.zeros([4 * cell.units])
    zeros = tf.zeros([tf.shape(inputs)[0], cell.units], inputs.dtype)
    peephole = tf.zeros([cell.units], inputs.dtype)
    outputs = tf.raw_ops.BlockLSTMV2(
        seq_len_max=tf.cast(tf.reduce_max(tf.concat([lengths, [0]], 0)), tf.int64),
        x=tf.transpose(read, [1, 0, 2]), cs_prev=zeros, h_prev=zeros,
        w=tf.concat([cell.kernel, cell.recurrent_kernel], 0), wci=peephole, wcf=peephole, wco=peephole, b=bias,
        cell_clip=0.0, use_peephole=False)[6]
    outputs = tf.transpose(outputs, [1, 0, 2])  # [batch, time, units]; row r is exact up to lengths[r]
    real = tf.sequence_mask(lengths, steps)[..., None]
    if not layer.return_sequences:
        last = tf.gather(outputs, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
        # Keras's final output is the last step's output, which zero_output_for_mask zeroes when that step is padding
        kept = steps if layer.zero_output_for_mask and not layer.go_backwards else 1
        return tf.where(lengths[:, None] >= kept, last, tf.zeros_like(last))
    if layer.go_backwards:
        # In time order, each real step's output is the one after reading from the row's end back to it; Keras
        # reads the whole padded row backwards (padding first, outputs zero there) and returns reading order
        return tf.reverse(tf.where(real, tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0), 0.0), [1])
    if layer.zero_output_for_mask:
        return tf.where(real, outputs, 0.0)
    last = tf.gather(outputs, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)[:, None]
    return tf.where(real, outputs, tf.where(lengths[:, None, None] > 0, last, 0.0))


def _is_functional(model):
    return isinstance(model, Functional)


def fuses_every_layer(model):
    """Whether every recurrent layer of `model` (nested models included) runs on the fused kernel in
    `fused_inference(model)`: then nothing of it needs Keras's loop or XLA to be fast."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if not fuses_every_layer(layer):
                return False
        elif isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) and not can_fuse(layer):
            return False
    return True
