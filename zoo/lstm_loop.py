"""The fast path for training wide LSTM layers, and for stateful ones and ones with initial or returned states, on
CPU: an LSTM loop with its gradient written out.

`zoo.fuse_lstms` runs small LSTM layers on TensorFlow's fused `BlockLSTMV2` kernel (zoo/fused.py), whose matrix
products are Eigen's; at generation's sizes they are slower than Keras's own loop, whose products are oneDNN's. This
loop keeps oneDNN's products and does once what Keras's loop does per step. One layer's training step (64 rows, 100
steps, as many input features as units; forward and all gradients; TensorFlow's default threads; `python
bench/lstm_loop_speed.py`, medians of 5 rounds):

| units | Keras's loop | fused kernel | this loop | PyTorch's `nn.LSTM` |
|---:|---:|---:|---:|---:|
| 512 | 833 ms | 1,279 ms | 528 ms | 463 ms |
| 256 | 215 ms | 356 ms | 172 ms | 128 ms |
| 128 | 49 ms | 104 ms | 60 ms | 44 ms |

So layers of `LOOP_UNITS` and more train on this loop, and narrower ones on the fused kernel: with the sentiment
recipe's threads (intra-op 1, inter-op 2), a BiLSTM over 64 x 400 masked steps trained in 130 ms on this loop, 103 ms
on the kernel and 151 ms on Keras's loop at 64 units, and in 304 / 322 / 298 ms at 128 units (embedding 128: 350 /
418 / 343; scratch timing). At inference the kernel stays ahead at every width measured (that BiLSTM over 200 steps,
one row: 3.1 ms on the kernel against 7.7 ms on this loop at 128 units, 5.1 against 7.8 at 256; 64 rows: 37.7
against 43.0 and 101.9 against 111.2), so the exports keep it. Stateful layers (truncated BPTT) run this loop at any
width, training or not, and so do layers called with initial states or returning theirs (a seq2seq's encoder and
decoder): the kernel's wrapper carries no state. The translation recipe with `--cell lstm` (BiLSTM(256) encoder,
LSTM(256) decoder, 3,840 pairs) trained its second epoch in 3.9 s on this loop against 5.1 s on Keras's.

What the loop keeps, and what it moves out:
- the inputs of every step are projected in one product before the loop; their gradient, the kernel's and the
  recurrent kernel's are one product each after the backward loop, over all steps;
- per step, forward: one product with the recurrent kernel and the gate math, keeping the gates' pre-activations;
  backward: one product with the recurrent kernel's transpose (transposed once: oneDNN's product with a transposed
  operand took 2.1 ms a step here against 0.8 ms) and a few elementwise ops, from gate terms computed for all steps
  at once.

Exact for any mask (masked steps carry both states, as Keras's loop does), `go_backwards`, initial and returned
states, stateful layers (the carried state is read from and written back to the layer's state variables) and
Keras's input dropout (implementation 2: one mask per row and feature for every step). Inference (`training=False`)
runs the forward loop alone, which a SavedModel can hold. TensorFlow backend only.
"""

import tensorflow as tf

from zoo.loop_io import in_reading_order, keras_outputs

LOOP_UNITS = 128  # LSTM layers this wide and wider train on this loop instead of the fused kernel (see above)


def runs_loop(layer, training):
    """Whether `zoo.fuse_lstms` runs LSTM `layer` on this loop (whatever its call's states): a stateful layer, or in
    training one of `LOOP_UNITS` units or more. A call with initial states, or a layer returning its states, runs it
    too (`FusedLSTM.call`)."""
    return layer.stateful or (training and layer.cell.units >= LOOP_UNITS)


def run(layer, inputs, mask, training, initial_state=None):
    """One LSTM layer's (outputs as Keras gives them, final states [h, c]): outputs [batch, time, units] in reading
    order with `return_sequences` (zeros, or the last real output, at masked steps as `zero_output_for_mask` says),
    else the last step's output [batch, units]. It starts from `initial_state` ([h, c]), else a stateful layer's
    state variables, else zeros; a stateful layer is left holding its final states."""
    cell = layer.cell
    dtype = inputs.dtype
    inputs, mask = in_reading_order(layer, inputs, mask, training)
    if initial_state is not None:
        state, carry = (tf.cast(part, dtype) for part in initial_state)
    elif layer.stateful:
        state, carry = (tf.cast(tf.convert_to_tensor(variable), dtype) for variable in layer.states)
    else:
        state = carry = tf.zeros([tf.shape(inputs)[0], cell.units], dtype)
    bias = cell.bias if cell.use_bias else tf.zeros([4 * cell.units], dtype)
    weights = [tf.cast(tf.convert_to_tensor(weight), dtype) for weight in (cell.kernel, cell.recurrent_kernel, bias)]
    sequence = _lstm_sequence if training else _lstm_sequence_forward
    states, carries = sequence(tf.transpose(inputs, [1, 0, 2]), tf.transpose(mask), state, carry, *weights)
    final = [states[-1], carries[-1]]
    if layer.stateful:
        for variable, value in zip(layer.states, final):
            variable.assign(tf.cast(value, variable.dtype))
    return keras_outputs(layer, tf.transpose(states, [1, 0, 2]), mask), final


def _loop(projected, mask, state, carry, recurrent_kernel, keep_gates):
    """(states h, carries c [time, rows, units], each step's gate pre-activations [time, rows, 4 units] when
    `keep_gates`, else None): the forward loop of an LSTM (Keras's gate order i, f, c, o) from the projected inputs
    [time, rows, 4 units] (bias included), mask [time, rows] and initial states [rows, units]. A masked step keeps
    both states."""
    units = recurrent_kernel.shape[0]
    steps = tf.shape(projected)[0]
    element = tf.TensorShape([None, units])

    def step(t, h, c, states, carries, *gates):
        z = projected[t] + tf.matmul(h, recurrent_kernel)
        z_i, z_f, z_c, z_o = tf.split(z, 4, 1)
        real = mask[t][:, None]
        new_c = tf.where(real, tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c), c)
        new_h = tf.where(real, tf.sigmoid(z_o) * tf.tanh(new_c), h)
        kept = [gates[0].write(t, z)] if keep_gates else []  # z itself: no copy a step
        return t + 1, new_h, new_c, states.write(t, new_h), carries.write(t, new_c), *kept

    shapes = [element, element] + ([tf.TensorShape([None, 4 * units])] if keep_gates else [])
    arrays = [tf.TensorArray(projected.dtype, size=steps, element_shape=shape) for shape in shapes]
    _, _, _, states, carries, *gates = tf.while_loop(lambda t, *_: t < steps, step, (0, state, carry, *arrays))
    return states.stack(), carries.stack(), gates[0].stack() if keep_gates else None


def _project(inputs, kernel, bias):
    """Time-major inputs [time, rows, features] -> (their rows [time * rows, features], projected [time, rows,
    4 units]): every step's input product in one."""
    steps, rows = tf.shape(inputs)[0], tf.shape(inputs)[1]
    flat = tf.reshape(inputs, [-1, tf.shape(inputs)[2]])
    return flat, tf.reshape(tf.matmul(flat, kernel) + bias, [steps, rows, -1])


def _lstm_sequence_forward(inputs, mask, state, carry, kernel, recurrent_kernel, bias):
    """`_lstm_sequence` without its gradient: what inference runs. Nothing is kept for a backward pass, and a
    SavedModel can hold it (a custom gradient whose function captures the loop's tensors cannot be saved)."""
    projected = _project(inputs, kernel, bias)[1]
    return _loop(projected, mask, state, carry, recurrent_kernel, keep_gates=False)[:2]


@tf.custom_gradient
def _lstm_sequence(inputs, mask, state, carry, kernel, recurrent_kernel, bias):
    """An LSTM's (states h, carries c) [time, rows, units] over time-major `inputs` [time, rows, features], for
    training: the gradient is written out, one product per step each way and one per weight over all steps."""
    units = recurrent_kernel.shape[0]
    flat, projected = _project(inputs, kernel, bias)
    states, carries, gates = _loop(projected, mask, state, carry, recurrent_kernel, keep_gates=True)

    def gradient(states_grad, carries_grad):
        # With dh and dc the gradients reaching a step's new states: dc gains dh * o * (1 - tanh(c)^2); the gate
        # pre-activations get [dc, dc, dc, dh] times each gate's term; the previous states get the recurrent
        # product's gradient and dc * f. A masked step passes dh and dc through and gives its gates nothing.
        real = tf.cast(mask, inputs.dtype)[..., None]
        z_i, z_f, z_c, z_o = tf.split(gates, 4, 2)
        i, f, o, candidate = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.sigmoid(z_o), tf.tanh(z_c)
        previous_carries = tf.concat([carry[None], carries[:-1]], 0)
        squashed = tf.tanh(carries)
        to_carry = o * (1 - squashed * squashed) * real
        to_gates = tf.concat([candidate * i * (1 - i), previous_carries * f * (1 - f), i * (1 - candidate * candidate),
                              squashed * o * (1 - o)], 2) * real
        carry_kept = f * real + (1 - real)
        state_kept = 1 - real
        recurrent_transposed = tf.transpose(recurrent_kernel)

        def back(t, dh, dc, gate_grads):
            dh = states_grad[t] + dh
            dc = carries_grad[t] + dc + dh * to_carry[t]
            dz = tf.concat([dc, dc, dc, dh], 1) * to_gates[t]
            return (t - 1, tf.matmul(dz, recurrent_transposed) + dh * state_kept[t], dc * carry_kept[t],
                    gate_grads.write(t, dz))

        gate_grads = tf.TensorArray(inputs.dtype, size=tf.shape(inputs)[0],
                                    element_shape=tf.TensorShape([None, 4 * units]))
        _, state_grad, carry_grad, gate_grads = tf.while_loop(
            lambda t, *_: t >= 0, back, (tf.shape(inputs)[0] - 1, tf.zeros_like(state), tf.zeros_like(carry),
                                         gate_grads))
        dz = tf.reshape(gate_grads.stack(), [-1, 4 * units])
        previous_states = tf.reshape(tf.concat([state[None], states[:-1]], 0), [-1, units])
        inputs_grad = tf.reshape(tf.matmul(dz, tf.transpose(kernel)), tf.shape(inputs))
        return (inputs_grad, None, state_grad, carry_grad, tf.matmul(tf.transpose(flat), dz),
                tf.matmul(tf.transpose(previous_states), dz), tf.reduce_sum(dz, 0))

    return (states, carries), gradient
