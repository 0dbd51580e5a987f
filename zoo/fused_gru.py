"""The fast path for GRU layers on CPU: a GRU loop with its gradient written out, two loops per layer.

TensorFlow has no fused GRU sequence kernel on CPU, and Keras's loop does per step what could be done once: it
projects each step's input inside the loop, and autodiff of the loop slices gate matrices and sums the recurrent
kernel's gradient step by step. Measured on translation's decoder shapes (batch 64, 20 steps, GRU 256), Keras's loop
took 27-29 ms a training step where PyTorch's `nn.GRU` took 20 ms and this loop 18.9 ms (`bench/translation_speed.py`
has the whole model's figures).

What the loop here keeps, and what it moves out:
- the inputs of every step are projected in one product before the loop, and their gradient (inputs, kernel, input
  bias) in one product after it; the recurrent kernel's gradient is one product over all steps too;
- per step, forward: one product with the recurrent kernel and the gate math; backward: one product with its
  transpose and a few elementwise ops, from gate terms computed for all steps at once;
- two independent loops per layer: TensorFlow's small matrix products use one core, and two loops let its
  inter-op threads run one on each. A Bidirectional layer's two directions are two loops already; a lone GRU runs
  its batch as two halves (a 64 x 256 by 256 x 768 product took 180 us on one thread, and a loop of 20 of them was
  no faster with two intra-op threads; two half-batch loops ran in half the time). On translation's decoder shapes
  alone the halves took a training step from 22.7-24.4 ms to 18.9 ms; in the whole translation model, where other
  branches keep both cores busy, splitting each encoder direction as well was 2-5% slower, so it is not done.

Exact for any mask (masked steps carry the state, as Keras's loop does, not only right-padded masks), initial
states, returned states, `go_backwards`, Bidirectional, and Keras's input dropout (implementation 2: one mask per
row and feature for every step). The cell must be Keras's default GRU: `reset_after=True` (the cuDNN formulation),
tanh and sigmoid. A layer with recurrent dropout trains on Keras's loop, the only one that has it.

Inference (`training=False`) runs the forward loop alone, keeping nothing for a backward pass, and a SavedModel can
hold it, where the training loop's custom gradient, whose function captures the loop's tensors, cannot be saved: the
sentiment export of a BiGRU(64) network answers an IMDB review 1.77x faster than on Keras's loop
(`bench/gru_serving.py`).

TensorFlow backend only. `fuse_grus(model)` is a copy of a model sharing its weights: train it or serve it, and save
the original. On a GPU Keras's layer takes cuDNN, which is faster: fuse on CPU only.
"""

import keras
import tensorflow as tf

from zoo.fused import MERGES, FusedWrapper, can_fuse, fuse_lstms, fuses_every_layer, rewrite_layers
from zoo.loop_io import in_reading_order, keras_outputs

LOOPS = 2  # independent loops per layer: a Bidirectional's two directions, or a lone GRU's two batch halves


def fuse_grus(model):
    """A model computing what `model` computes, sharing its weights, whose GRU layers (alone or under
    Bidirectional) run the loop of this module; training it trains `model`. Layers it cannot run exactly (see
    `can_fuse_gru`) stay as they are. Nested functional models are rewritten too."""
    return rewrite_layers(model, can_fuse_gru, lambda layer: FusedGRU(layer, name=f"{layer.name}_fused"),
                          "fuse_grus")


def fuse_recurrent(model):
    """`fuse_grus(fuse_lstms(model))`: a copy of `model` sharing its weights, every LSTM it can run exactly on
    TensorFlow's fused kernel and every GRU on this module's loop; other layers stay as they are."""
    return fuse_grus(fuse_lstms(model))


def fuses_every_recurrent_layer(model):
    """Whether `fuse_recurrent(model)` runs every recurrent layer of `model` (nested models included) on a fast
    path, the fused LSTM kernel or this module's GRU loop."""
    return fuses_every_layer(model, lambda layer: can_fuse(layer) or can_fuse_gru(layer))


def can_fuse_gru(layer):
    """Whether `layer` (a GRU, or a Bidirectional of two) runs exactly as this module computes it."""
    if isinstance(layer, keras.layers.Bidirectional):
        return (layer.merge_mode in MERGES and can_fuse_gru(layer.forward_layer)
                and can_fuse_gru(layer.backward_layer))
    if not isinstance(layer, keras.layers.GRU):
        return False
    cell = layer.cell
    return (not layer.stateful and cell.reset_after and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and (cell.implementation == 2 or cell.dropout == 0))  # implementation 1 drops each gate's copy apart


@keras.saving.register_keras_serializable(package="zoo")
class FusedGRU(FusedWrapper):
    """`layer` (a GRU or a Bidirectional of GRUs, see `can_fuse_gru`) run by this module's loop. It shares
    `layer`'s weights, takes the same call arguments and returns what `layer` returns (states too with
    `return_state`); training with recurrent dropout runs `layer` itself."""

    fits, runner = staticmethod(can_fuse_gru), "the fused GRU loop"

    def call(self, inputs, initial_state=None, mask=None, training=False):
        if training and any(gru.recurrent_dropout > 0 for gru in self._directions()):
            return self.layer(inputs, initial_state=initial_state, mask=mask, training=True)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if initial_state is None:
            initial_state = [None] * len(self._directions())
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        chains = LOOPS // len(self._directions())  # batch parts per direction
        runs = [_run(gru, inputs, mask, state, training, chains) for gru, state in zip(self._directions(), states)]
        outputs = self._merged([output for output, _ in runs])
        return [outputs, *(final for _, final in runs)] if self.layer.return_state else outputs



def _run(layer, inputs, mask, initial_state, training, chains):
    """One GRU layer's (outputs as Keras gives them, final state): outputs [batch, time, units] in reading order
    with `return_sequences` (zeros, or the last real output, at masked steps as `zero_output_for_mask` says), else
    the last step's output [batch, units]. The batch runs as `chains` independent loops over its parts."""
    cell = layer.cell
    dtype = inputs.dtype
    batch = tf.shape(inputs)[0]
    inputs, mask = in_reading_order(layer, inputs, mask, training)
    state = tf.zeros([batch, cell.units], dtype) if initial_state is None else tf.cast(initial_state, dtype)
    bias = tf.cast(cell.bias, dtype) if cell.use_bias else tf.zeros([2, 3 * cell.units], dtype)
    kernel, recurrent_kernel = tf.cast(cell.kernel, dtype), tf.cast(cell.recurrent_kernel, dtype)
    sizes = [batch // chains] * (chains - 1) + [batch - (chains - 1) * (batch // chains)]
    states_of = _gru_states if training else _gru_states_forward
    parts = [_chain(x, m, h, kernel, recurrent_kernel, bias, cell.units, states_of)
             for x, m, h in zip(tf.split(inputs, sizes), tf.split(mask, sizes), tf.split(state, sizes))]
    states = tf.transpose(tf.concat(parts, 1), [1, 0, 2])  # [batch, time, units]
    return keras_outputs(layer, states, mask), states[:, -1]


def _chain(inputs, mask, state, kernel, recurrent_kernel, bias, units, states_of):
    """The states [time, rows, units] of one part of the batch: its inputs projected for every step in one product,
    then `states_of` (the loop with its written-out gradient, or the forward loop alone)."""
    steps, features = tf.shape(inputs)[1], tf.shape(inputs)[2]
    time_major = tf.reshape(tf.transpose(inputs, [1, 0, 2]), [-1, features])
    projected = tf.reshape(tf.matmul(time_major, kernel) + bias[0], [steps, -1, 3 * units])
    return states_of(projected, tf.transpose(mask), state, recurrent_kernel, bias[1])


def _loop(projected, mask, state, recurrent_kernel, recurrent_bias, keep_gates):
    """(states [time, rows, units], the gates when `keep_gates`, else None): the forward loop of a GRU (reset after
    the recurrent product, gates z, r, h) from the projected inputs [time, rows, 3 units] (input bias included), mask
    [time, rows] and initial state [rows, units]. The gates are each step's z and r [time, rows, 2 units], candidate
    and recurrent part [time, rows, units]. A masked step keeps the previous state."""
    units = recurrent_kernel.shape[0]
    steps = tf.shape(projected)[0]
    element = tf.TensorShape([None, units])

    def step(t, h, states, *gates):
        from_state = tf.matmul(h, recurrent_kernel) + recurrent_bias
        x_zr, x_h = tf.split(projected[t], [2 * units, units], 1)
        h_zr, h_h = tf.split(from_state, [2 * units, units], 1)
        zr = tf.sigmoid(x_zr + h_zr)
        z, r = tf.split(zr, 2, 1)
        candidate = tf.tanh(x_h + r * h_h)
        new = tf.where(mask[t][:, None], candidate + z * (h - candidate), h)
        # what the gradient needs of this step, kept rather than computed again: z and r, candidate, the state's
        # part. Three arrays, not one of them concatenated: a copy a step less (translation's decoder GRU, 64 x 17
        # steps, forward and gradients: 15.8-15.9 ms against 20.2-21.2)
        kept = [array.write(t, value) for array, value in zip(gates, (zr, candidate, h_h))] if keep_gates else []
        return t + 1, new, states.write(t, new), *kept

    shapes = [element] + ([tf.TensorShape([None, 2 * units]), element, element] if keep_gates else [])
    arrays = [tf.TensorArray(projected.dtype, size=steps, element_shape=shape) for shape in shapes]
    _, _, states, *gates = tf.while_loop(lambda t, *_: t < steps, step, (0, state, *arrays))
    return states.stack(), [array.stack() for array in gates] if keep_gates else None


def _gru_states_forward(projected, mask, state, recurrent_kernel, recurrent_bias):
    """`_gru_states` without its gradient: what inference runs. Nothing is kept for a backward pass, and a
    SavedModel can hold it (a custom gradient whose function captures the loop's tensors cannot be saved). A
    gradient through it, should one be taken, is TensorFlow's own for the loop."""
    return _loop(projected, mask, state, recurrent_kernel, recurrent_bias, keep_gates=False)[0]


@tf.custom_gradient
def _gru_states(projected, mask, state, recurrent_kernel, recurrent_bias):
    """A GRU's states [time, rows, units] (see `_loop`), for training: the gradient is written out, one product per
    step each way."""
    units = recurrent_kernel.shape[0]
    steps = tf.shape(projected)[0]
    element = tf.TensorShape([None, units])
    states, gates = _loop(projected, mask, state, recurrent_kernel, recurrent_bias, keep_gates=True)

    def gradient(states_grad):
        # Each step's gate terms, for all steps at once: with dh the gradient reaching a step's new state, the
        # projected inputs get tile(dh) * to_inputs, the recurrent product tile(dh) * to_recurrent, and the
        # previous state dh * keep plus the recurrent product's gradient through the kernel.
        previous = tf.concat([state[None], states[:-1]], 0)
        zr, candidate, h_h = gates
        z, r = tf.split(zr, 2, 2)
        real = tf.cast(mask, projected.dtype)[..., None]
        to_z = (previous - candidate) * z * (1 - z) * real
        to_candidate = (1 - z) * (1 - candidate * candidate) * real
        to_r = to_candidate * h_h * r * (1 - r)
        to_inputs = tf.concat([to_z, to_r, to_candidate], 2)
        to_recurrent = tf.concat([to_z, to_r, to_candidate * r], 2)
        keep = 1 - real + real * z

        def back(t, carry, grads):
            dh = states_grad[t] + carry
            through_kernel = tf.matmul(tf.tile(dh, [1, 3]) * to_recurrent[t], recurrent_kernel, transpose_b=True)
            return t - 1, dh * keep[t] + through_kernel, grads.write(t, dh)

        grads = tf.TensorArray(projected.dtype, size=steps, element_shape=element)
        _, state_grad, grads = tf.while_loop(lambda t, *_: t >= 0, back, (steps - 1, tf.zeros_like(state), grads))
        tiled = tf.tile(grads.stack(), [1, 1, 3])
        recurrent_grad = tf.reshape(tiled * to_recurrent, [-1, 3 * units])
        kernel_grad = tf.matmul(tf.reshape(previous, [-1, units]), recurrent_grad, transpose_a=True)
        return tiled * to_inputs, None, state_grad, kernel_grad, tf.reduce_sum(recurrent_grad, 0)

    return states, gradient
