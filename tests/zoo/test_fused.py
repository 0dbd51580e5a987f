"""zoo.fuse_lstms: LSTM layers on TensorFlow's fused kernel give Keras's outputs, masks included (and input
dropout as Keras draws it, for the GRU fast path too)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.zoo.harness import gradients_through
from zoo.fused import FusedLSTM, can_fuse
from zoo.fused_gru import FusedGRU


def padded_ids(rows, steps, seed, vocab=40):
    """Right-padded token ids: lengths from 0 to `steps` (the first row full, one row empty)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, (rows, steps)).astype(np.int32)
    lengths = rng.integers(1, steps + 1, rows)
    lengths[0], lengths[1] = steps, 0
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


@pytest.mark.parametrize("options", [
    dict(bidirectional=True, num_layers=2, pooling="max"),
    dict(bidirectional=True, pooling="concat", merge_mode="sum"),
    dict(bidirectional=True, pooling="last", merge_mode="mul"),
    dict(bidirectional=False, pooling="last"),
    dict(bidirectional=False, num_layers=2, pooling="mean"),
])
def test_a_fused_model_answers_what_the_model_answers(options):
    model = zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=3, cell="lstm", units=8,
                      embedding_dim=6, **options)
    model.set_weights([w + np.float32(0.3) * np.random.default_rng(1).standard_normal(w.shape).astype("float32")
                       for w in model.get_weights()])  # away from the initial zero biases
    fused = zoo.fuse_lstms(model)
    assert sum(isinstance(layer, FusedLSTM) for layer in fused.layers) == options.get("num_layers", 1)
    ids = padded_ids(9, 13, seed=0)
    np.testing.assert_allclose(fused(ids), model(ids), atol=1e-5)
    assert fused.count_params() == model.count_params()  # no weights of its own
    model.get_layer("outputs").bias.assign([5.0, 6.0, 7.0])
    np.testing.assert_allclose(fused(ids), model(ids), atol=1e-5)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
def test_a_lstm_layer_gives_keras_outputs_at_real_and_padded_steps(go_backwards, zero_output_for_mask,
                                                                   return_sequences, use_bias):
    layer = keras.layers.LSTM(5, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
                              return_sequences=return_sequences, use_bias=use_bias)
    inputs = tf.random.stateless_normal([6, 9, 4], seed=[1, 2])
    mask = tf.sequence_mask([9, 0, 3, 5, 1, 8], 9)
    expected = layer(inputs, mask=mask)
    np.testing.assert_allclose(FusedLSTM(layer)(inputs, mask=mask), expected, atol=1e-6)
    np.testing.assert_allclose(FusedLSTM(layer)(inputs), layer(inputs), atol=1e-6)  # no mask: every step


def test_a_mask_that_is_not_right_padded_runs_keras_loop():
    layer = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))
    inputs = tf.random.stateless_normal([3, 7, 2], seed=[3, 4])
    mask = tf.constant([[True] * 7, [False, True, True, False, True, True, True], [True] * 3 + [False] * 4])
    np.testing.assert_allclose(FusedLSTM(layer)(inputs, mask=mask), layer(inputs, mask=mask), atol=1e-6)


def test_only_layers_it_computes_exactly_are_fused():
    assert can_fuse(keras.layers.LSTM(3))
    assert can_fuse(keras.layers.Bidirectional(keras.layers.LSTM(3)))
    assert not can_fuse(keras.layers.GRU(3))
    assert not can_fuse(keras.layers.LSTM(3, activation="relu"))
    assert not can_fuse(keras.layers.Bidirectional(keras.layers.LSTM(3), merge_mode=None))
    with pytest.raises(ValueError, match="cannot run on the fused LSTM kernel"):
        FusedLSTM(keras.layers.GRU(3))


def test_other_cells_stay_as_they_are_and_are_reported():
    gru = zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=1, cell="gru", units=4,
                    embedding_dim=3)
    assert not zoo.fuses_every_layer(gru)
    fused = zoo.fuse_lstms(gru)
    assert not any(isinstance(layer, FusedLSTM) for layer in fused.layers)
    assert not zoo.runs_fused_kernel(fused)
    ids = padded_ids(4, 6, seed=2)
    np.testing.assert_allclose(fused(ids), gru(ids), atol=1e-6)
    lstm = zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=1, cell="lstm", units=4,
                     embedding_dim=3)
    assert zoo.fuses_every_layer(lstm)


def test_a_model_nested_inside_another_is_fused_too():
    network = zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=1, cell="lstm", units=4,
                        embedding_dim=3, bidirectional=True)
    ids = keras.Input((None,), dtype="int32")
    outer = keras.Model(ids, keras.layers.Activation("sigmoid")(network(ids)))
    assert zoo.fuses_every_layer(outer)
    fused = zoo.fuse_lstms(outer)
    inner = next(layer for layer in fused.layers if isinstance(layer, keras.Model))
    assert any(isinstance(layer, FusedLSTM) for layer in inner.layers)
    assert zoo.runs_fused_kernel(fused) and not zoo.runs_fused_kernel(outer)
    data = padded_ids(5, 8, seed=3)
    np.testing.assert_allclose(fused(data), outer(data), atol=1e-6)


@pytest.mark.parametrize("fuse", [zoo.fuse_lstms, zoo.fuse_grus], ids=["lstms", "grus"])
def test_a_model_that_is_not_functional_is_refused(fuse):
    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(ValueError, match=f"{fuse.__name__} needs a functional model"):
        fuse(Subclassed())


@pytest.mark.parametrize("layer", [
    keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
    keras.layers.LSTM(5, go_backwards=True),
    keras.layers.LSTM(5, return_sequences=True),
], ids=["bidirectional", "backwards", "sequences"])
def test_gradients_are_keras_gradients(layer):
    inputs = tf.random.stateless_normal([4, 7, 3], seed=[5, 6])
    mask = tf.sequence_mask([7, 2, 0, 5], 7)
    layer(inputs, mask=mask)
    fused = FusedLSTM(layer)
    for expected, got in zip(gradients_through(layer, layer, inputs, mask),
                             gradients_through(fused, layer, inputs, mask), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_training_the_fused_copy_trains_the_model_as_keras_would():
    def model():
        keras.utils.set_random_seed(0)
        return zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=1, cell="lstm", units=6,
                         embedding_dim=4, bidirectional=True, pooling="max")

    ids, labels = padded_ids(64, 12, seed=4), np.random.default_rng(4).integers(0, 2, (64, 1)).astype("float32")
    trained = []
    for fuse in (False, True):
        original = model()
        trainer = zoo.fuse_lstms(original) if fuse else original
        trainer.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        trainer.fit(ids, labels, batch_size=16, epochs=2, shuffle=False, verbose=0)
        trained.append(original.get_weights())
    for plain, fused in zip(*trained, strict=True):
        np.testing.assert_allclose(fused, plain, atol=1e-4)
    assert not np.allclose(trained[0][1], model().get_weights()[1])  # it did train


@pytest.mark.parametrize("cell, fused", [(keras.layers.LSTM, FusedLSTM), (keras.layers.GRU, FusedGRU)],
                         ids=["lstm", "gru"])
def test_training_drops_the_same_input_features_at_every_step(cell, fused):
    layer = cell(4, dropout=0.5, return_sequences=True, seed=3)
    inputs = tf.random.stateless_normal([5, 6, 8], seed=[9, 10])
    layer(inputs)
    generator = layer.cell.seed_generator
    state = generator.state.numpy()
    dropped = fused(layer)(inputs, training=True)
    generator.state.assign(state)  # the same draw again, by hand
    keep = keras.random.dropout(tf.ones([5, 8]), 0.5, seed=generator)
    np.testing.assert_allclose(dropped, layer(inputs * keep[:, None], training=False), atol=1e-6)
    assert not np.allclose(dropped, layer(inputs, training=False))


def test_training_with_recurrent_dropout_runs_keras_loop():
    layer = keras.layers.LSTM(4, recurrent_dropout=0.3, return_sequences=True)
    inputs = tf.random.stateless_normal([2, 5, 3], seed=[11, 12])
    layer(inputs)
    np.testing.assert_allclose(FusedLSTM(layer)(inputs), layer(inputs), atol=1e-6)  # inference: fused, exact
    graph = tf.function(lambda x: FusedLSTM(layer)(x, training=True)).get_concrete_function(inputs).graph
    assert "BlockLSTMV2" not in {op.type for op in graph.get_operations()}


def test_a_fused_copy_describes_itself_and_rebuilds_from_its_config():
    model = zoo.build("many_to_one", input="tokens", vocab_size=40, num_outputs=1, cell="lstm", units=4,
                      embedding_dim=3, bidirectional=True)
    fused = zoo.fuse_lstms(model)
    rebuilt = keras.Model.from_config(fused.get_config())
    assert [type(layer).__name__ for layer in rebuilt.layers] == [type(layer).__name__ for layer in fused.layers]
    rebuilt.set_weights(model.get_weights())
    ids = padded_ids(3, 5, seed=5)
    np.testing.assert_allclose(rebuilt(ids), model(ids), atol=1e-6)
    assert fused.to_json()  # what Keras's TensorBoard callback writes
