"""zoo.SparseCrossEntropy gives Keras's SparseCategoricalCrossentropy(from_logits=True): the same losses and gradients,
under a decoder's padding mask and sample weights, and it saves with a model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo


def loss_and_gradient(loss, labels, logits, sample_weight=None):
    logits = tf.Variable(logits)
    with tf.GradientTape() as tape:
        value = loss(labels, logits, sample_weight=sample_weight)
    return float(value), tape.gradient(value, logits).numpy()


@pytest.mark.parametrize("shape", [(6, 11), (4, 5, 11)])
def test_losses_and_gradients_equal_keras(shape):
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=shape) * 8).astype(np.float32)  # large logits: the log-sum-exp must stay stable
    labels = rng.integers(0, shape[-1], shape[:-1])
    weights = rng.uniform(0, 2, shape[:-1]).astype(np.float32)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for weight in (None, weights):
        ours, our_gradient = loss_and_gradient(zoo.SparseCrossEntropy(), labels, logits, weight)
        theirs, their_gradient = loss_and_gradient(keras_loss, labels, logits, weight)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
        np.testing.assert_allclose(our_gradient, their_gradient, atol=1e-7)
    ours = zoo.SparseCrossEntropy(reduction=None)(labels[..., None], logits)  # [..., 1] labels, as Keras takes them
    np.testing.assert_allclose(ours, keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(
        labels, logits), rtol=1e-5)


def test_a_decoders_padding_mask_counts_real_tokens_only():
    """The translation recipe's case: padded target steps carry the embedding's mask to the logits."""
    tokens = keras.Input((None,), dtype="int32")
    logits = keras.layers.Dense(7)(keras.layers.Embedding(9, 4, mask_zero=True)(tokens))
    model = keras.Model(tokens, logits)
    inputs = np.array([[3, 4, 0, 0], [5, 6, 7, 0]])
    labels = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    results = {}
    for name, loss in (("ours", zoo.SparseCrossEntropy()),
                       ("keras", keras.losses.SparseCategoricalCrossentropy(from_logits=True))):
        with tf.GradientTape() as tape:
            value = loss(labels, model(inputs))
        results[name] = (float(value), tape.gradient(value, model.trainable_variables))
    np.testing.assert_allclose(results["ours"][0], results["keras"][0], rtol=1e-6)
    for ours, theirs in zip(results["ours"][1], results["keras"][1]):
        np.testing.assert_allclose(tf.convert_to_tensor(ours), tf.convert_to_tensor(theirs), atol=1e-7)
    unmasked = zoo.SparseCrossEntropy()(labels, keras.ops.convert_to_tensor(model(inputs)) + 0)
    assert abs(float(unmasked) - results["ours"][0]) > 1e-4  # the mask did change the figure


def test_a_compiled_model_saves_and_loads_with_it(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss=zoo.SparseCrossEntropy())
    labels, features = np.array([0, 3, 1, 2]), np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    history = model.fit(features, labels, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, zoo.SparseCrossEntropy)
    np.testing.assert_allclose(loaded.evaluate(features, labels, verbose=0),
                               model.evaluate(features, labels, verbose=0), rtol=1e-6)
