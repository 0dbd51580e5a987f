"""Training a language model over a large vocabulary: the sampled softmax (Jean et al. 2015).

A next-word head over V words costs V x units multiply-adds per word, which for a small recurrent encoder is most of
the step: a step of the default sentiment language model (20,000 words, LSTM 64) over 64 x 64 words took 1.02 s
with the full softmax and 48 ms with 512 sampled words on 2 CPU cores. Scoring the true word against a few hundred
sampled ones trains the same model about 20x faster (25x in `bench/language_model_speed.py`). Validation still
scores the full softmax, so its loss is the model's true cross-entropy (its perplexity), comparable with a model
trained on the full softmax.
"""

import keras
import tensorflow as tf


class SampledSoftmaxTraining(keras.Model):
    """Wraps a zoo language model (a many_to_many over tokens whose head, `outputs`, gives logits over the
    vocabulary) for `fit`: training steps score each next word against `num_sampled` words drawn from a log-uniform
    (Zipf) distribution, which fits ids numbered by falling frequency as `TextVectorization` numbers them; evaluation
    steps score the full softmax. Padding targets (id 0) count for nothing. `num_sampled=0`, or at least the
    vocabulary, trains on the full softmax.

    The wrapped model holds every weight: train the wrapper, then save or use `language_model` itself (the wrapper
    is not meant to be saved). TensorFlow backend only: the training step is TensorFlow's (`tf.nn.sampled_softmax_loss`
    under a `GradientTape`), where the rest of the zoo is backend-neutral Keras.
    """

    def __init__(self, language_model, num_sampled=512, **kwargs):
        super().__init__(**kwargs)
        self.language_model = language_model
        self.head = language_model.get_layer("outputs")
        self.features = keras.Model(language_model.input, _input_in(language_model, self.head), name="features")
        self.vocab_size = int(self.head.units)
        self.num_sampled = int(num_sampled) if 0 < num_sampled < self.vocab_size else 0
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs, training=False):
        return self.language_model(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        inputs, targets = data
        with tf.GradientTape() as tape:
            if self.num_sampled:
                loss = self._sampled_loss(self.features(inputs, training=True), targets)
            else:
                loss = self._full_loss(self.language_model(inputs, training=True), targets)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        inputs, targets = data
        self.loss_tracker.update_state(self._full_loss(self.language_model(inputs, training=False), targets))
        return {"loss": self.loss_tracker.result()}

    def _sampled_loss(self, features, targets):
        features = tf.reshape(features, [-1, features.shape[-1]])
        targets = tf.reshape(tf.cast(targets, tf.int64), [-1, 1])
        losses = tf.nn.sampled_softmax_loss(
            weights=tf.transpose(self.head.kernel), biases=self.head.bias, labels=targets, inputs=features,
            num_sampled=self.num_sampled, num_classes=self.vocab_size)
        return _mean_over_words(losses, targets[:, 0])

    @staticmethod
    def _full_loss(logits, targets):
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32), logits=logits)
        return _mean_over_words(losses, targets)


def _input_in(model, layer):
    """`layer`'s input in `model`'s own graph. A layer shared by two models (`zoo.fuse_lstms`'s copy shares the
    original's) was called once in each, and `layer.input` names the first call's."""
    own = {id(node) for nodes in model._nodes_by_depth.values() for node in nodes}  # Keras's graph; no public name
    return next((node.input_tensors[0] for node in layer._inbound_nodes if id(node) in own), layer.input)


def _mean_over_words(losses, targets):
    """The mean loss over real target words (id 0 is padding)."""
    real = tf.cast(tf.not_equal(tf.reshape(targets, tf.shape(losses)), 0), losses.dtype)
    return tf.reduce_sum(losses * real) / tf.maximum(tf.reduce_sum(real), 1.0)
