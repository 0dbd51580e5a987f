"""What the zoo's written-out recurrent loops (`zoo.lstm_loop`, `zoo/fused_gru.py`) read of a layer's call and give
back, as Keras's loop does: the inputs after Keras's input dropout and the mask, in the order the layer reads them;
the outputs from the loop's states."""

import keras
import tensorflow as tf


def in_reading_order(layer, inputs, mask, training):
    """(inputs [batch, time, features], mask [batch, time] bool) as recurrent `layer` reads them: Keras's input
    dropout applied in training (one mask per row and feature, for every step), no mask meaning every step, and both
    reversed in time for a `go_backwards` layer (Keras reads the whole padded row backwards)."""
    cell = layer.cell
    if training and cell.dropout > 0:
        inputs = inputs * keras.random.dropout(tf.ones_like(inputs[:, 0]), cell.dropout,
                                               seed=cell.seed_generator)[:, None]
    mask = tf.ones(tf.shape(inputs)[:2], tf.bool) if mask is None else tf.cast(mask, tf.bool)
    if layer.go_backwards:
        inputs, mask = tf.reverse(inputs, [1]), tf.reverse(mask, [1])
    return inputs, mask


def keras_outputs(layer, states, mask):
    """`layer`'s output from its loop's states [batch, time, units] and mask, both in reading order: the whole
    sequence with `return_sequences`, else the last step's output. Outputs are zero before a row's first real step
    (Keras's loop starts its previous output at zeros) and, with `zero_output_for_mask`, at every masked step; at
    other masked steps they repeat the last real output, as the states do."""
    shown = mask if layer.zero_output_for_mask else tf.cast(tf.cumsum(tf.cast(mask, tf.int32), 1), tf.bool)
    outputs = tf.where(shown[..., None], states, tf.zeros_like(states))
    return outputs if layer.return_sequences else outputs[:, -1]
