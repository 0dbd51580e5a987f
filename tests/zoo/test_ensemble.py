"""zoo.ensemble: the model answers the members' mean, the trainer trains each member as if it trained alone."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo

IDS = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2], [2, 0, 0, 0, 0], [9, 8, 7, 6, 5]], np.int32)
LABELS = np.array([0.0, 1.0, 1.0, 0.0], np.float32)


def member(i):
    return zoo.build("many_to_one", name=f"member_{i}", input="tokens", vocab_size=12, embedding_dim=4, cell="lstm",
                     units=3, bidirectional=True, pooling="max", num_outputs=1)


def test_the_model_answers_the_mean_and_the_trainer_each_member():
    keras.utils.set_random_seed(0)
    members = [member(i) for i in range(3)]
    model, trainer = zoo.ensemble(members)
    each = np.concatenate([m(IDS).numpy() for m in members], axis=1)
    np.testing.assert_allclose(trainer(IDS).numpy(), each, atol=1e-6)
    np.testing.assert_allclose(model(IDS).numpy(), each.mean(axis=1, keepdims=True), atol=1e-6)
    assert model.output.shape[1:] == (1,) and len(model.weights) == len(trainer.weights) == 3 * len(members[0].weights)
    assert zoo.fuses_every_layer(model)


def test_each_member_learns_from_its_own_loss_as_if_it_trained_alone():
    keras.utils.set_random_seed(1)
    members = [member(i) for i in range(2)]
    alone = member(1)
    alone.set_weights(members[1].get_weights())
    _, trainer = zoo.ensemble(members)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    # A member's gradient in the trainer is its own loss's over the number of members: twice the rate makes up for it
    for model, labels, rate in ((trainer, np.tile(LABELS[:, None], [1, 2]), 0.2), (alone, LABELS, 0.1)):
        model.compile(optimizer=keras.optimizers.SGD(rate), loss=loss)
        model.fit(IDS, labels, batch_size=4, epochs=3, shuffle=False, verbose=0)
    for together, by_itself in zip(members[1].get_weights(), alone.get_weights()):
        np.testing.assert_allclose(together, by_itself, atol=1e-6)
    assert not np.allclose(members[0].get_weights()[0], members[1].get_weights()[0])


def test_an_ensemble_saves_loads_and_trains_on_the_fused_kernel(tmp_path):
    keras.utils.set_random_seed(2)
    model, trainer = zoo.ensemble([member(0), member(1)])
    fused = zoo.fuse_lstms(trainer)
    fused.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    before = model(IDS).numpy()
    fused.fit(tf.data.Dataset.from_tensor_slices((IDS, np.tile(LABELS[:, None], [1, 2]))).batch(4), epochs=2,
              verbose=0)
    after = model(IDS).numpy()
    assert not np.allclose(before, after)  # the fused copy trained the model's own weights
    model.save(tmp_path / "ensemble.keras")
    reloaded = keras.models.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(reloaded(IDS).numpy(), after, atol=1e-6)


def test_one_member_is_its_own_ensemble_and_bad_members_are_refused():
    single = member(0)
    assert zoo.ensemble([single]) == (single, single)
    with pytest.raises(ValueError, match="distinct names"):
        zoo.ensemble([member(0), member(0)])
    wider = zoo.build("many_to_one", name="member_1", input="tokens", vocab_size=12, units=3, num_outputs=2)
    with pytest.raises(ValueError, match="outputs of one shape"):
        zoo.ensemble([member(0), wider])
    with pytest.raises(ValueError, match="at least one member"):
        zoo.ensemble([])
