"""zoo.logits_at_real_steps: a trainer whose output layer runs at the real steps only computes the model's logits
there, trains to the same weights as the model under Keras's masked loss, and refuses a layer that is not an
output."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.zoo.harness import CaseData

SEQ2SEQ = dict(input="tokens", vocab_size=20, target_vocab_size=5, embedding_dim=8, units=8, cell="gru",
               bidirectional=True, attention="additive")


def seq2seq(seed=0):
    keras.utils.set_random_seed(seed)
    return zoo.build("seq2seq", **SEQ2SEQ)


def batch():
    data = CaseData("seq2seq", SEQ2SEQ)
    inputs = data.as_tensors()
    return inputs, data.targets, inputs["previous_tokens"] != 0


def test_logits_are_the_models_at_the_real_steps_in_row_major_order():
    model = seq2seq()
    inputs, _, mask = batch()
    assert 0 < int(tf.reduce_sum(tf.cast(mask, tf.int32))) < mask.shape[0] * mask.shape[1]  # some padding
    trainer = zoo.logits_at_real_steps(model)
    real = trainer(inputs, training=False)
    assert real.shape == (int(tf.reduce_sum(tf.cast(mask, tf.int32))), SEQ2SEQ["target_vocab_size"])
    np.testing.assert_allclose(real, tf.boolean_mask(model(inputs, training=False), mask), atol=1e-6)
    assert trainer.get_layer("logits_at_real_steps").layer is model.get_layer("logits")  # shared weights


@pytest.mark.parametrize("fused", [False, True])
def test_a_training_step_gives_the_weights_keras_masked_loss_gives(fused):
    """Two copies of one model, each a step of SGD: the whole logits under Keras's padding mask, and the real steps'
    logits against labels_at_real_steps. The loss is the same mean over real steps, so the weights come out the same."""
    inputs, labels, mask = batch()
    trained = {}
    for name in ("every step", "real steps"):
        model = seq2seq()
        trainer = zoo.fuse_recurrent(model) if fused else model
        targets = labels
        if name == "real steps":
            trainer, targets = zoo.logits_at_real_steps(trainer), zoo.labels_at_real_steps(labels, mask)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5), loss=zoo.SparseCrossEntropy())
        loss = trainer.train_on_batch(inputs, targets) if name == "every step" else _train_on(trainer, inputs, targets)
        trained[name] = (float(loss), [w.numpy() for w in model.weights])
    assert trained["every step"][0] == pytest.approx(trained["real steps"][0], rel=1e-5)
    for ours, theirs in zip(trained["real steps"][1], trained["every step"][1]):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert any(not np.allclose(w, v) for w, v in zip(trained["real steps"][1], seq2seq().get_weights()))  # it moved


def _train_on(trainer, inputs, targets):
    """One step through `fit` (a dataset: Keras checks that arrays given to train_on_batch have one batch size, and
    the real steps' labels have as many rows as the batch has real steps)."""
    history = trainer.fit(tf.data.Dataset.from_tensors((inputs, targets)), epochs=1, verbose=0)
    return history.history["loss"][0]


def test_without_a_mask_every_step_is_real():
    steps = keras.Input((4, 3))
    model = keras.Model(steps, keras.layers.Dense(2, name="logits")(keras.layers.GRU(5, return_sequences=True)(steps)))
    features = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    flat = zoo.logits_at_real_steps(model)(features)
    np.testing.assert_allclose(flat, np.reshape(model(features), (8, 2)), atol=1e-6)
    labels = np.arange(8).reshape(2, 4)
    np.testing.assert_array_equal(zoo.labels_at_real_steps(labels, None), np.arange(8))


def test_a_layer_that_is_not_an_output_is_refused():
    with pytest.raises(ValueError, match="'attention_combine' is not an output layer of seq2seq"):
        zoo.logits_at_real_steps(seq2seq(), layer="attention_combine")


def test_its_config_rebuilds_it():
    """Keras's callbacks describe a model through its config (TensorBoard writes it)."""
    trainer = zoo.logits_at_real_steps(seq2seq())
    layer = trainer.get_layer("logits_at_real_steps")
    again = type(layer).from_config(layer.get_config())
    assert again.layer.units == SEQ2SEQ["target_vocab_size"] and again.name == layer.name
