"""zoo.FusedAdam: Keras's Adam, one TensorFlow kernel per variable update; the same training, saved and loaded."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo


def trained_weights(optimizer, steps=5):
    """A small model with an embedding (sparse gradients) and dense layers, after `steps` steps of `optimizer`."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4),
                              keras.layers.GRU(5), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    ids, targets = rng.integers(0, 20, (32, 6)), rng.normal(size=(32, 1))
    model.fit(ids, targets, batch_size=8, epochs=steps // 4 + 1, verbose=0, shuffle=False)
    return model, [w.numpy() for w in model.trainable_weights], [v.numpy() for v in model.optimizer.variables]


@pytest.mark.parametrize("options", [dict(learning_rate=0.01), dict(learning_rate=0.01, clipnorm=0.1, epsilon=1e-4),
                                     dict(learning_rate=0.02, beta_1=0.8, beta_2=0.95, weight_decay=0.01)],
                         ids=["defaults", "clipped", "betas-decay"])
def test_it_trains_as_keras_adam_does(options):
    _, expected, expected_slots = trained_weights(keras.optimizers.Adam(**options))
    _, got, got_slots = trained_weights(zoo.FusedAdam(**options))
    for want, have in zip(expected + expected_slots, got + got_slots, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-6)
    assert not np.allclose(got[0], trained_weights(zoo.FusedAdam(learning_rate=0.0))[1][0])  # it moved them


def test_its_step_is_one_kernel_per_variable():
    variable = keras.Variable(np.ones((3, 2), "float32"))
    optimizer = zoo.FusedAdam(0.1)
    optimizer.build([variable])
    graph = tf.function(lambda g: optimizer.apply([g], [variable])).get_concrete_function(tf.ones((3, 2))).graph
    types = {op.type for op in graph.get_operations()}
    assert "ResourceApplyAdam" in types and "Sqrt" not in types
    clipping = zoo.FusedAdam(0.1, clipnorm=1.0)
    clipping.build([variable])
    graph = tf.function(lambda g: clipping.apply([g], [variable])).get_concrete_function(tf.ones((3, 2))).graph
    types = [op.type for op in graph.get_operations()]
    assert types.count("L2Loss") == 1 and "Square" not in types  # the norm in one kernel


def test_amsgrad_runs_keras_update():
    _, expected, _ = trained_weights(keras.optimizers.Adam(0.01, amsgrad=True))
    _, got, _ = trained_weights(zoo.FusedAdam(0.01, amsgrad=True))
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-7)


def test_a_compiled_model_saves_and_loads_with_it(tmp_path):
    model, weights, slots = trained_weights(zoo.FusedAdam(0.01, clipnorm=1.0))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.optimizer, zoo.FusedAdam) and loaded.optimizer.clipnorm == 1.0
    for want, have in zip(weights + slots, [w.numpy() for w in loaded.trainable_weights]
                          + [v.numpy() for v in loaded.optimizer.variables], strict=True):
        np.testing.assert_allclose(have, want)
