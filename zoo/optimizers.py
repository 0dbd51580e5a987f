"""Keras's Adam with each variable's update in one TensorFlow kernel.

Keras's Adam updates a variable with about ten elementwise ops (two moments, a square root, a division and three
assignments), each a pass over the variable. On 3.8 million weights shaped as the translation recipe's, all with
dense gradients, that took 12.5-13.6 ms a step, where TensorFlow's `ResourceApplyAdam` kernel, one pass per
variable, took 5.3-7.2 ms with the same results to float rounding (a scratch run of 60 steps: largest difference
1e-6). Embeddings' sparse gradients keep Keras's update (see `FusedAdam`). Its formula is Keras's: m and v move
toward the gradient and its square, and the variable moves by lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m /
(sqrt(v) + epsilon).

With `clipnorm`, each gradient's norm is one `L2Loss` kernel and the clipping one product by a scalar, where
`tf.clip_by_norm` makes four passes over the gradient (square, sum, a product and a division): on the translation
recipe's 3.8 million weights 2.0 ms a step against 3.7-3.9 ms, the results equal to 1.5e-8.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (same arguments, results and saved slots) whose per-variable update is TensorFlow's
    fused `ResourceApplyAdam` kernel. Keras's own update runs instead for a sparse gradient (an embedding's: Keras
    moves m and v only at the rows the batch touched, which the kernel cannot), with `amsgrad`, under a distribution
    strategy (whose mirrored variables the kernel does not know) or on another backend."""

    def update_step(self, gradient, variable, learning_rate):
        if (self.amsgrad or isinstance(gradient, tf.IndexedSlices) or keras.backend.backend() != "tensorflow"
                or tf.distribute.has_strategy()):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype))

    def _clip_by_norm(self, values, axes=None):
        """Keras's clipping of one gradient (`values` times clipnorm / max(its norm, clipnorm)) in two passes: the
        norm from TensorFlow's one-kernel `L2Loss` (half the sum of squares), then one product. A sparse gradient's
        norm is its rows', as `tf.clip_by_norm` takes it."""
        if axes is not None or keras.backend.backend() != "tensorflow":
            return super()._clip_by_norm(values, axes)
        dense = values.values if isinstance(values, tf.IndexedSlices) else values
        norm = tf.sqrt(2 * tf.raw_ops.L2Loss(t=dense))
        clipped = dense * tf.cast(self.clipnorm / tf.maximum(norm, self.clipnorm), dense.dtype)
        if isinstance(values, tf.IndexedSlices):
            return tf.IndexedSlices(clipped, values.indices, values.dense_shape)
        return clipped


def _handle(variable):
    """The resource handle of a Keras variable or of the TensorFlow variable under one."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle
