"""`zoo.SampledSoftmaxTraining`: a language model trained on a sampled softmax learns what the full softmax scores,
its evaluation is the full softmax's true cross-entropy, padding targets count for nothing, and frozen layers stay
frozen."""

import math

import keras
import numpy as np
import pytest

import zoo

VOCAB, LENGTH = 300, 12


def language_model(**overrides):
    return zoo.build("many_to_many", **{"input": "tokens", "vocab_size": VOCAB, "embedding_dim": 16, "cell": "gru",
                                        "units": 32, "num_outputs": VOCAB, **overrides})


def counting_windows(count, seed=0):
    """Windows of a stream where each word is the one before plus one (ids 2..VOCAB-1, wrapping): predictable from
    the current word alone, so a learning model's loss falls far below log(VOCAB)."""
    starts = np.random.default_rng(seed).integers(0, VOCAB - 2, size=(count, 1))
    stream = (starts + np.arange(LENGTH + 1)) % (VOCAB - 2) + 2
    return stream[:, :-1].astype("int32"), stream[:, 1:].astype("int32")


def trained(num_sampled, **overrides):
    keras.utils.set_random_seed(0)
    model = language_model(**overrides)
    trainer = zoo.SampledSoftmaxTraining(model, num_sampled=num_sampled)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01))
    inputs, targets = counting_windows(512)
    history = trainer.fit(inputs, targets, validation_data=counting_windows(64, seed=1), epochs=4, batch_size=32,
                          verbose=0)
    return model, trainer, history.history


def full_cross_entropy(model, inputs, targets):
    logits = model(inputs, training=False)
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(targets, logits))


def test_a_sampled_softmax_teaches_what_the_full_softmax_scores():
    model, trainer, history = trained(num_sampled=20)
    assert trainer.num_sampled == 20
    inputs, targets = counting_windows(64, seed=1)
    # Validation is the full softmax over all VOCAB words of the wrapped model, not the sampled training loss.
    assert history["val_loss"][-1] == pytest.approx(full_cross_entropy(model, inputs, targets), rel=1e-4)
    assert history["val_loss"][-1] < 0.5 * math.log(VOCAB)  # far below guessing among the words
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_no_samples_or_too_many_trains_on_the_full_softmax():
    assert zoo.SampledSoftmaxTraining(language_model(), num_sampled=VOCAB).num_sampled == 0
    model, trainer, history = trained(num_sampled=0)
    assert trainer.num_sampled == 0 and history["loss"][-1] < history["loss"][0]


def test_padding_targets_count_for_nothing():
    trainer = zoo.SampledSoftmaxTraining(language_model(), num_sampled=0)
    inputs, targets = counting_windows(8)
    padded_inputs = np.concatenate([inputs, np.zeros((8, 5), "int32")], axis=1)
    padded_targets = np.concatenate([targets, np.zeros((8, 5), "int32")], axis=1)
    trainer.compile()
    assert trainer.evaluate(padded_inputs, padded_targets, verbose=0) == pytest.approx(
        trainer.evaluate(inputs, targets, verbose=0), rel=1e-5)


def test_a_frozen_embedding_stays_as_it_was():
    keras.utils.set_random_seed(1)
    model = language_model()
    model.get_layer("embedding").trainable = False
    before = [w.numpy() for w in model.weights]
    trainer = zoo.SampledSoftmaxTraining(model, num_sampled=20)
    trainer.compile(optimizer=keras.optimizers.Adam(0.01))
    trainer.fit(*counting_windows(64), epochs=1, batch_size=32, verbose=0)
    after = {w.path: w.numpy() for w in model.weights}
    for weight, old in zip(model.weights, before):
        changed = not np.array_equal(after[weight.path], old)
        assert changed == ("embedding" not in weight.path), weight.path


def test_it_wraps_a_fused_copy_whose_layers_the_original_shares():
    model = language_model(cell="lstm")
    copy = zoo.fuse_lstms(model)  # shares the head with `model`, which was called first
    wrapper = zoo.SampledSoftmaxTraining(copy, num_sampled=20)
    inputs, targets = counting_windows(64)
    wrapper.compile(optimizer=keras.optimizers.Adam(0.01))
    before = model.get_layer("outputs").get_weights()[0].copy()
    wrapper.fit(inputs, targets, batch_size=32, epochs=1, verbose=0)
    assert not np.allclose(model.get_layer("outputs").get_weights()[0], before)  # the original's head trained
    np.testing.assert_allclose(wrapper.features(inputs[:2]), copy.get_layer("rnn_0_fused")(
        copy.get_layer("embedding")(inputs[:2]), mask=inputs[:2] != 0), atol=1e-6)
