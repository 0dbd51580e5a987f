"""zoo.AdversarialTraining: the perturbed pass adds its own gradient, raises the loss, and the wrapped model saves."""

import keras
import numpy as np
import pytest

import zoo
from zoo.adversarial import _unit_per_example

VOCAB = 50


def batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, (32, 12))
    ids[:8, 6:] = 0  # padding
    return ids, (ids[:, 0] > VOCAB // 2).astype("float32")[:, None]


def network(cell="lstm", name="many_to_one"):
    keras.utils.set_random_seed(1)
    return zoo.build("many_to_one", name=name, input="tokens", vocab_size=VOCAB, embedding_dim=8, cell=cell, units=8,
                     bidirectional=True, pooling="max", num_outputs=1, dropout=0.0)


def one_sgd_step(trainer, ids, labels):
    trainer.compile(keras.optimizers.SGD(0.1), keras.losses.BinaryCrossentropy(from_logits=True))
    return trainer.fit(ids, labels, batch_size=len(ids), epochs=1, verbose=0, shuffle=False).history


@pytest.mark.parametrize("fused", [False, True])
def test_a_vanishing_perturbation_steps_as_the_clean_loss_times_one_plus_weight(fused):
    # With epsilon near 0 the perturbed loss is the clean one, so each weight (the embedding's sparse gradient
    # included) moves 1 + weight times as far as plain training moves it.
    ids, labels = batch()
    plain, model = network(), network()
    start = model.get_weights()
    one_sgd_step(plain, ids, labels)
    one_sgd_step(zoo.AdversarialTraining(zoo.fuse_lstms(model) if fused else model, epsilon=1e-6, weight=0.5),
                 ids, labels)
    for before, adversarial, clean in zip(start, model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(adversarial - before, 1.5 * (clean - before), rtol=2e-3, atol=1e-7)


def test_the_perturbation_raises_the_loss_and_has_the_norm_epsilon():
    ids, labels = batch()
    history = one_sgd_step(zoo.AdversarialTraining(network(), epsilon=1.0), ids, labels)
    assert history["adversarial_loss"][0] > history["loss"][0] + 0.01
    direction = np.random.default_rng(1).normal(size=(4, 7, 3)).astype("float32") * [[[1e-20]], [[1.0]], [[1e3]],
                                                                                        [[0.0]]]
    norms = np.sqrt((np.asarray(_unit_per_example(direction)) ** 2).sum(axis=(1, 2)))
    np.testing.assert_allclose(norms, [1, 1, 1, 0], atol=1e-4)


def test_every_member_of_an_ensemble_is_perturbed_and_learns():
    ids, labels = batch()
    members = [network("gru", name=f"member_{i}") for i in range(2)]
    _, together = zoo.ensemble(members)
    trainer = zoo.AdversarialTraining(together, epsilon=0.5)
    assert len(trainer.perturbed) == 2
    trainer.compile(keras.optimizers.Adam(0.01), keras.losses.BinaryCrossentropy(from_logits=True))
    history = trainer.fit(ids, np.tile(labels, [1, 2]), epochs=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert "adversarial_loss" not in trainer.evaluate(ids, np.tile(labels, [1, 2]), verbose=0, return_dict=True)


def test_the_wrapped_network_saves_and_the_wrapper_restores_its_weights(tmp_path):
    ids, labels = batch()
    model = network()
    trainer = zoo.AdversarialTraining(model, epsilon=0.5)
    one_sgd_step(trainer, ids, labels)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "model.keras")(ids), model(ids), atol=1e-6)
    trainer.save_weights(tmp_path / "trainer.weights.h5")
    copy = zoo.AdversarialTraining.from_config(trainer.get_config())  # what a distributed run's local copy does
    copy.load_weights(tmp_path / "trainer.weights.h5")
    np.testing.assert_allclose(copy.network(ids), model(ids), atol=1e-6)


def test_a_model_without_embedding_or_a_bad_epsilon_is_refused():
    features = zoo.build("many_to_one", input="features", feature_dim=3, cell="gru", units=4, num_outputs=1)
    with pytest.raises(ValueError, match="no Embedding layer"):
        zoo.AdversarialTraining(features)
    with pytest.raises(ValueError, match="epsilon > 0"):
        zoo.AdversarialTraining(network(), epsilon=0)


def test_a_seq2seq_model_perturbs_its_source_and_target_words_each_by_its_own_shape():
    rng = np.random.default_rng(0)
    source, target = rng.integers(1, VOCAB, (16, 9)), rng.integers(1, 30, (16, 5))
    keras.utils.set_random_seed(1)
    model = zoo.build("seq2seq", input="tokens", vocab_size=VOCAB, embedding_dim=8, target_vocab_size=30,
                      target_embedding_dim=6, cell="gru", units=8, attention="dot")
    trainer = zoo.AdversarialTraining(model, epsilon=0.5)
    assert len(trainer.perturbed) == 2
    trainer.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = trainer.fit({"tokens": source, "previous_tokens": target[:, :-1]}, target[:, 1:], epochs=6,
                          verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and history["adversarial_loss"][0] > history["loss"][0]
