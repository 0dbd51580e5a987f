"""Adversarial training on word embeddings (Miyato, Dai & Goodfellow 2017, "Adversarial Training Methods for
Semi-Supervised Text Classification").

A text model's input is discrete, so the perturbation lives where the input becomes continuous: each training step
also scores every example with its embedded words moved by `epsilon` (the L2 norm over the whole example) in the
direction that raises its loss the most, as the loss's gradient at the embedding output says (the fast gradient
method), and trains on both losses. The model learns to answer alike for texts whose words mean nearly the same,
a regularizer that took Miyato et al.'s IMDB LSTM (pretrained as a language model, 1,024 units) from 7.39% to 6.21%
test error; here it took the sentiment recipe's network alone up by 0.6 and 1.0 points on two film-grouped IMDB
splits (README). A step costs two forward and two backward passes instead of one each.
"""

import threading

import keras
import tensorflow as tf

from zoo.fused import rewrite_layers


@keras.saving.register_keras_serializable(package="zoo")
class AdversarialTraining(keras.Model):
    """Wraps a functional model with token inputs (a zoo model, its `fuse_lstms` copy, or an ensemble's trainer) for
    `fit`: each training step adds the loss of the adversarially perturbed embeddings (weighted by `weight`) to the
    clean loss and trains on their sum; evaluation and prediction are the wrapped model's own. Every `Embedding`
    layer's output is perturbed, each by `epsilon` per example.

    The wrapped model (`network`) holds every weight (the wrapper runs a copy of it sharing them): train the
    wrapper, then save or use `network`. The training step reports the clean loss as `loss` (comparable with a run
    without adversarial training) and the perturbed one as `adversarial_loss`. TensorFlow backend only.
    """

    def __init__(self, model, epsilon=1.0, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        if epsilon <= 0 or weight <= 0:
            raise ValueError(f"AdversarialTraining needs epsilon > 0 and weight > 0 (got {epsilon}, {weight}).")
        self.network = model
        self.epsilon, self.weight = float(epsilon), float(weight)
        self.perturbed = []
        self.runner = rewrite_layers(model, _is_embedding, self._perturbable, "AdversarialTraining")
        if not self.perturbed:
            raise ValueError(f"AdversarialTraining perturbs embedded words, and {model.name} has no Embedding layer.")
        self.adversarial_loss = keras.metrics.Mean(name="adversarial_loss")
        self.built = True  # its weights are the built model's

    def _perturbable(self, layer):
        wrapper = PerturbableEmbedding(layer, name=f"{layer.name}_perturbable")
        self.perturbed.append(wrapper)
        return wrapper

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def test_step(self, data):
        logs = super().test_step(data)
        logs.pop("adversarial_loss", None)  # evaluation scores the clean model alone
        return logs

    def get_config(self):  # a distributed run's one-device copy is rebuilt from it
        return {**super().get_config(), "model": keras.saving.serialize_keras_object(self.network),
                "epsilon": self.epsilon, "weight": self.weight}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config.pop("model")), **config)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        # The clean pass records every embedding output, so the loss's gradient there comes from the same backward
        # pass as the weights'.
        with tf.GradientTape() as tape:
            y_pred, loss, embedded = self._loss(x, y, sample_weight)
            scaled = self.optimizer.scale_loss(loss)
        outputs = tf.nest.flatten(embedded)
        gradients = tape.gradient(scaled, [*variables, *outputs])
        clean, directions = gradients[:len(variables)], gradients[len(variables):]
        perturbations = tf.nest.pack_sequence_as(embedded, [  # an embedding output the loss does not read: none
            self.epsilon * _unit_per_example(tf.stop_gradient(d if d is not None else tf.zeros_like(e)))
            for d, e in zip(directions, outputs)])
        with tf.GradientTape() as tape:
            _, adversarial, _ = self._loss(x, y, sample_weight, perturbations)
            scaled = self.optimizer.scale_loss(self.weight * adversarial)
        gradients = [_add(a, b) for a, b in zip(clean, tape.gradient(scaled, variables))]
        self.optimizer.apply_gradients(zip(gradients, variables))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync  # compute_loss scaled each replica's share
        batch = tf.shape(tf.nest.flatten(x)[0])[0]
        if getattr(self, "_loss_tracker", None) is not None:  # Keras's own tracker of the loss it reports
            self._loss_tracker.update_state(loss * replicas, sample_weight=batch)
        self.adversarial_loss.update_state(adversarial * replicas, sample_weight=batch)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _loss(self, x, y, sample_weight, perturbations=None):
        """(predictions, loss, each embedding layer's outputs, a list per layer in call order) of the runner, each
        embedding output moved by its perturbation (`perturbations`: as the outputs of a pass without them)."""
        for layer, pending in zip(self.perturbed, perturbations or [[] for _ in self.perturbed]):
            layer.start(list(pending))
        try:
            y_pred = self.runner(x, training=True)
        finally:
            embedded = [layer.finish() for layer in self.perturbed]
        return y_pred, self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True), embedded


class PerturbableEmbedding(keras.layers.Layer):
    """An `Embedding` layer (shared, weights and all) that a training step can watch and move: between `start` and
    `finish` each call adds the next of the step's perturbations (if any) to its output and records the output.
    Per thread, since a distribution strategy traces each replica's step in a thread of its own."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True
        self._step = threading.local()

    def start(self, perturbations):
        """Record the calls from now on, adding `perturbations` to their outputs in turn (empty: none)."""
        self._step.perturbations, self._step.outputs = perturbations, []

    def finish(self):
        """The outputs recorded since `start`, in call order; stops recording."""
        outputs, self._step.outputs = getattr(self._step, "outputs", None) or [], None
        return outputs

    def call(self, ids):
        embedded = self.layer(ids)
        outputs = getattr(self._step, "outputs", None)
        if outputs is None:  # outside a step (building, evaluating)
            return embedded
        if self._step.perturbations:
            embedded = embedded + self._step.perturbations.pop(0)
        outputs.append(embedded)
        return embedded

    def compute_mask(self, ids, mask=None):
        return self.layer.compute_mask(ids, mask)

    def compute_output_shape(self, ids_shape):
        return self.layer.compute_output_shape(ids_shape)


def _is_embedding(layer):
    return isinstance(layer, keras.layers.Embedding)


def _unit_per_example(direction):
    """`direction` [batch, ...] scaled to an L2 norm of 1 over each example (all-zero examples stay zero). Divided by
    its largest entry first, so a tiny gradient's squares do not underflow."""
    axes = list(range(1, len(direction.shape)))
    scaled = tf.math.divide_no_nan(direction, tf.reduce_max(tf.abs(direction), axis=axes, keepdims=True))
    return tf.math.divide_no_nan(scaled, tf.sqrt(tf.reduce_sum(tf.square(scaled), axis=axes, keepdims=True)))


def _add(a, b):
    """The sum of two gradients of one variable. Both passes read an embedding by the same lookup, so its gradients
    are both sparse: they are joined (duplicate rows add up where the optimizer applies them, as within one
    gradient already)."""
    if isinstance(a, tf.IndexedSlices) and isinstance(b, tf.IndexedSlices):
        return tf.IndexedSlices(tf.concat([a.values, b.values], 0),
                                tf.concat([tf.cast(a.indices, tf.int64), tf.cast(b.indices, tf.int64)], 0),
                                a.dense_shape)
    return tf.convert_to_tensor(a) + tf.convert_to_tensor(b)
