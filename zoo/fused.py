"""The fast path for LSTM layers on CPU: TensorFlow's fused sequence kernel in place of Keras's loop.

Keras runs a recurrent layer as a `while` loop of small ops, and on a small model the per-step bookkeeping, not the
matrix products, is much of the cost: the sentiment export answered a 205-token review in 1.67 ms XLA-compiled,
where ONNX Runtime's native LSTM op took 0.72 ms (`bench/sentiment_serving.py`). TensorFlow has that kind of kernel
too: `BlockLSTMV2` runs a whole sequence in one C++ op, with Keras's gate order (i, f, c, o) and weights and no
peepholes. It knows one length for the whole batch, so the masks' real lengths are restored around it: each row's
backward direction reads its own real steps reversed (`tf.reverse_sequence`), the final state is read at each row's
last real step, and outputs at padded steps are what Keras gives there. That is exact only when every mask is
right-padded (real steps first), as the zoo's token inputs are; any other mask runs Keras's own loop instead,
decided per batch.

It trains too. TensorFlow registers the gradient of `BlockLSTMV2` with the first version's gradient kernel, which
assumes another gate order and gives wrong gradients, so the layer here pairs it with `BlockLSTMGradV2` itself.
Input dropout is Keras's: one mask per row and feature for every step; a layer with recurrent dropout trains on
Keras's loop, the only one that has it.

Wide layers in training (`zoo.lstm_loop.LOOP_UNITS` units and more), where this kernel's products are slower than
Keras's, and stateful layers, calls with initial states and layers that return their states run `zoo.lstm_loop`'s
loop with its gradient written out instead (that module has the figures).

TensorFlow backend only. `fuse_lstms(model)` is a copy of a model sharing its weights: train it or serve it, and
save the original.
"""

import keras
import tensorflow as tf
from keras.src.models.functional import Functional  # what clone_model can rebuild; no public name

from zoo import lstm_loop


def fuse_lstms(model):
    """A model computing what `model` computes, sharing its weights, whose LSTM layers (alone or under
    Bidirectional) run TensorFlow's fused sequence kernel when their masks are right-padded (wide ones in training,
    stateful ones and ones with initial or returned states `zoo.lstm_loop`); training it trains `model`. Layers it
    cannot run exactly (other cells, activations other than tanh/sigmoid) stay as they are. Nested functional models
    are rewritten too."""
    return rewrite_layers(model, can_fuse, lambda layer: FusedLSTM(layer, name=f"{layer.name}_fused"),
                          "fuse_lstms")


def rewrite_layers(model, can, wrap, caller):
    """A copy of functional `model` sharing its weights, where each layer `can(layer)` accepts is `wrap(layer)`;
    nested functional models are rewritten the same way. `caller` names the public function in the error."""

    def replace(layer):
        if isinstance(layer, keras.Model) and _is_functional(layer):
            return rewrite_layers(layer, can, wrap, caller)
        return wrap(layer) if can(layer) else layer

    if not _is_functional(model):
        raise ValueError(f"{caller} needs a functional model (zoo.build gives one), not {type(model).__name__}.")
    return keras.models.clone_model(model, clone_function=replace)


def can_fuse(layer):
    """Whether `layer` (an LSTM, or a Bidirectional of two) runs exactly as the fused kernel (or, wide or stateful,
    `zoo.lstm_loop`) computes."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.merge_mode in MERGES and can_fuse(layer.forward_layer) and can_fuse(layer.backward_layer)
    return (isinstance(layer, keras.layers.LSTM) and layer.cell.activation is keras.activations.tanh
            and layer.cell.recurrent_activation is keras.activations.sigmoid)


MERGES = {"concat": lambda a, b: tf.concat([a, b], -1), "sum": tf.add, "mul": tf.multiply,
          "ave": lambda a, b: (a + b) / 2}


class FusedWrapper(keras.layers.Layer):
    """What the fast paths' layers share: a wrapped Keras layer (`layer`, which `fits` accepts), its masks, output
    shapes and config. Subclasses set `fits` and `runner` (what runs it, for the error) and write `call`."""

    fits, runner = None, ""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not type(self).fits(layer):
            raise ValueError(f"{layer.name} ({type(layer).__name__}) cannot run on {self.runner}; see "
                             f"{type(self).fits.__module__}.{type(self).fits.__name__}.")
        self.layer = layer
        self.supports_masking = True

    def _directions(self):
        """The recurrent layers it runs: a Bidirectional's forward and backward layers, or the layer itself."""
        if isinstance(self.layer, keras.layers.Bidirectional):
            return [self.layer.forward_layer, self.layer.backward_layer]
        return [self.layer]

    def _merged(self, outputs):
        """The layer's output from its directions' outputs (`_directions` order), as Bidirectional merges them."""
        if len(outputs) == 1:
            return outputs[0]
        forward, backward = outputs
        if self.layer.return_sequences:  # Bidirectional puts the backward outputs back in time order
            backward = tf.reverse(backward, [1])
        return MERGES[self.layer.merge_mode](forward, backward)

    def compute_mask(self, inputs, mask=None):
        return self.layer.compute_mask(inputs, mask)

    def compute_output_shape(self, inputs_shape, initial_state_shape=None):  # Keras names both of call's inputs
        return self.layer.compute_output_shape(inputs_shape)

    def get_config(self):  # Keras's callbacks describe the model (TensorBoard writes its JSON)
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("layer")), **config)


@keras.saving.register_keras_serializable(package="zoo")
class FusedLSTM(FusedWrapper):
    """`layer` (an LSTM or a Bidirectional of LSTMs, see `can_fuse`) run by TensorFlow's `BlockLSTMV2` kernel, or
    by `zoo.lstm_loop` in training where that is faster, for a stateful layer (`lstm_loop.runs_loop`), and for
    initial or returned states. It takes the same call arguments and returns what `layer` returns; it shares
    `layer`'s weights and falls back to `layer` itself for a kernel batch whose mask is not right-padded, and for
    training with recurrent dropout."""

    fits, runner = staticmethod(can_fuse), "the fused LSTM kernel"

    def call(self, inputs, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if training and any(lstm.recurrent_dropout > 0 for lstm in self._directions()):
            return self.layer(inputs, initial_state=initial_state, mask=mask, training=True)
        if (initial_state is not None or self.layer.return_state
                or any(lstm_loop.runs_loop(lstm, training) for lstm in self._directions())):
            return self._looped(inputs, initial_state, mask, training)
        if mask is None:
            return self._fused(inputs, tf.fill(tf.shape(inputs)[:1], tf.shape(inputs)[1]), training)
        mask = tf.cast(mask, tf.bool)
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
        return tf.cond(right_padded, lambda: self._fused(inputs, lengths, training),
                       lambda: self.layer(inputs, mask=mask, training=training))

    def _looped(self, inputs, initial_state, mask, training):
        """The layer's call on `zoo.lstm_loop`, initial and returned states included (the kernel's wrapper here
        takes neither): Keras's [h, c] per direction, a Bidirectional's forward pair first."""
        directions = self._directions()
        states = [] if initial_state is None else list(initial_state)
        pairs = [states[i:i + 2] for i in range(0, len(states), 2)] or [None] * len(directions)
        runs = [lstm_loop.run(lstm, inputs, mask, training, pair) for lstm, pair in zip(directions, pairs, strict=True)]
        outputs = self._merged([output for output, _ in runs])
        return [outputs, *(state for _, final in runs for state in final)] if self.layer.return_state else outputs

    def _fused(self, inputs, lengths, training):
        return self._merged([_run(lstm, inputs, lengths, training) for lstm in self._directions()])


def _run(layer, inputs, lengths, training=False):
    """One LSTM layer's outputs as Keras gives them, for rows whose first `lengths` steps are real.

    [batch, time, features] -> [batch, time, units] (return_sequences; in reading order, so reversed in time for a
    go_backwards layer, and zeros or the last real output at padded steps, as `zero_output_for_mask` says) or the
    final output [batch, units] (zeros for a row with no real step)."""
    cell = layer.cell
    steps = tf.shape(inputs)[1]
    if training and cell.dropout > 0:  # Keras's input dropout: one mask per row and feature, for every step
        inputs = inputs * keras.random.dropout(tf.ones_like(inputs[:, 0]), cell.dropout,
                                               seed=cell.seed_generator)[:, None]
    read = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0) if layer.go_backwards else inputs
    bias = cell.bias if cell.use_bias else tf.zeros([4 * cell.units])
    outputs = _block_lstm(tf.transpose(read, [1, 0, 2]), tf.concat([cell.kernel, cell.recurrent_kernel], 0),
                          tf.convert_to_tensor(bias), tf.reduce_max(tf.concat([lengths, [0]], 0)))
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


@tf.custom_gradient
def _block_lstm(x, w, b, steps):
    """The hidden outputs [time, batch, units] of an LSTM from zero states over time-major `x` for its first `steps`
    steps (Keras's gate order i, f, c, o; `w` = [kernel; recurrent kernel]), with the matching gradient kernel."""
    zeros = tf.zeros([tf.shape(x)[1], tf.shape(w)[1] // 4], x.dtype)
    no_peephole = zeros[0]
    kernel_inputs = dict(seq_len_max=tf.cast(steps, tf.int64), x=x, cs_prev=zeros, h_prev=zeros, w=w,
                         wci=no_peephole, wcf=no_peephole, wco=no_peephole, b=b, use_peephole=False)
    i, cs, f, o, ci, co, h = tf.raw_ops.BlockLSTMV2(cell_clip=0.0, **kernel_inputs)

    def gradient(h_grad):
        x_grad, _, _, w_grad, _, _, _, b_grad = tf.raw_ops.BlockLSTMGradV2(
            i=i, cs=cs, f=f, o=o, ci=ci, co=co, h=h, cs_grad=tf.zeros_like(cs), h_grad=h_grad, **kernel_inputs)
        return x_grad, w_grad, b_grad, None

    return h, gradient


def _is_functional(model):
    return isinstance(model, Functional)


def fuses_every_layer(model, can=can_fuse):
    """Whether every recurrent layer of `model` (nested models included) runs on the fused kernel in
    `fuse_lstms(model)`: then nothing of it needs Keras's loop or XLA to be fast. `can` says which layers a fast
    path runs (`zoo.fuses_every_recurrent_layer` counts GRUs too)."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if not fuses_every_layer(layer, can):
                return False
        elif isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)) and not can(layer):
            return False
    return True


def runs_fused_kernel(model):
    """Whether `model` (nested models included) holds a layer on a fused kernel: a copy made by `fuse_lstms` or
    `zoo.fuse_grus` whose recurrent layers could be rewritten."""
    return any(isinstance(layer, FusedWrapper) or (isinstance(layer, keras.Model) and runs_fused_kernel(layer))
               for layer in model.layers)
