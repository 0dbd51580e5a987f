"""ULMFiT's fine-tuning pieces: the slanted triangular schedule's shape, and DiscriminativeAdam's per-group rates and
gradual unfreezing on a zoo classifier (the head moves first, then each layer down, each at its own rate)."""

import keras
import numpy as np
import pytest

import zoo
from tasks.common.fine_tuning import DiscriminativeAdam, SlantedTriangular, ulmfit_optimizer


def test_the_slanted_triangular_rate_rises_fast_and_falls_slowly():
    schedule = SlantedTriangular(0.01, total_steps=100, warmup_fraction=0.1, ratio=32)
    rates = np.array([float(schedule(step)) for step in range(0, 121)])
    assert rates[0] == pytest.approx(0.01 / 32) and rates[10] == pytest.approx(0.01)
    assert rates[100] == pytest.approx(0.01 / 32) and rates[120] == pytest.approx(0.01 / 32)
    assert np.all(np.diff(rates[:11]) > 0) and np.all(np.diff(rates[10:101]) < 0)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(copy(55)) == pytest.approx(float(schedule(55)))


def classifier(num_layers=2):
    keras.utils.set_random_seed(0)
    return zoo.build("many_to_one", input="tokens", vocab_size=30, embedding_dim=4, cell="gru", units=3,
                     num_layers=num_layers, bidirectional=True, pooling="max", num_outputs=1)


def moved_after(model, optimizer, steps):
    """{layer: largest weight change} after `steps` training steps on a fixed batch."""
    before = {w.path: w.numpy() for w in model.trainable_weights}
    model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True))
    tokens = np.arange(1, 25, dtype="int32").reshape(8, 3)  # each word once: its embedding row's gradient is whole
    model.fit(tokens, np.arange(8) % 2, batch_size=8, epochs=steps, verbose=0, shuffle=False)
    moved = {}
    for weight in model.trainable_weights:
        layer = weight.path.split("/")[0]
        moved[layer] = max(moved.get(layer, 0.0), float(np.abs(weight.numpy() - before[weight.path]).max()))
    return moved


@pytest.mark.parametrize("steps, unfrozen", [(2, {"outputs"}), (4, {"outputs", "rnn_1"}),
                                             (6, {"outputs", "rnn_1", "rnn_0"}),
                                             (7, {"outputs", "rnn_1", "rnn_0", "embedding"})])
def test_gradual_unfreezing_moves_one_layer_group_more_at_a_time_from_the_top(steps, unfrozen):
    model = classifier()
    optimizer = ulmfit_optimizer(model, learning_rate=0.01, epochs=4, steps_per_epoch=2)
    assert [sorted(names) for names in optimizer.groups][1:] == [["rnn_1"], ["rnn_0"], ["embedding"]]
    moved = moved_after(model, optimizer, steps)
    assert {layer for layer, change in moved.items() if change > 0} == unfrozen


def test_each_group_down_learns_decay_times_slower():
    # Adam's first step moves every weight by about its learning rate (m / sqrt(v) = +-1), so the largest change
    # of each group is the group's rate.
    model = classifier(num_layers=1)
    optimizer = DiscriminativeAdam(groups=[["outputs"], ["rnn_0"], ["embedding"]], decay=2.0, learning_rate=0.01)
    moved = moved_after(model, optimizer, steps=1)
    assert moved["outputs"] == pytest.approx(0.01, rel=1e-3)
    assert moved["rnn_0"] == pytest.approx(0.005, rel=1e-3)
    assert moved["embedding"] == pytest.approx(0.0025, rel=1e-3)
