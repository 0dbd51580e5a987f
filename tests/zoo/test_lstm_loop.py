"""zoo.lstm_loop: wide LSTM layers in training and stateful ones at any time run a loop with its gradient written
out, giving Keras's outputs, gradients and carried states for any mask."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.zoo.harness import gradients_through
from zoo import lstm_loop
from zoo.fused import FusedLSTM, can_fuse


@pytest.fixture
def every_layer_runs_the_loop(monkeypatch):
    """Small layers run the loop too, so the tests stay fast."""
    monkeypatch.setattr(lstm_loop, "LOOP_UNITS", 1)


def scattered_mask(rows, steps, seed):
    """A mask with padding anywhere (not only at the end), one row empty and one full."""
    mask = np.random.default_rng(seed).random((rows, steps)) > 0.4
    mask[0], mask[1] = True, False
    return tf.constant(mask)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_a_layer_gives_keras_outputs_for_any_mask(go_backwards, zero_output_for_mask, return_sequences, training):
    layer = keras.layers.LSTM(5, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
                              return_sequences=return_sequences)
    inputs = tf.random.stateless_normal([6, 9, 4], seed=[1, 2])
    mask = scattered_mask(6, 9, seed=0)
    expected = layer(inputs, mask=mask)
    np.testing.assert_allclose(lstm_loop.run(layer, inputs, mask, training)[0], expected, atol=1e-6)
    np.testing.assert_allclose(lstm_loop.run(layer, inputs, None, training)[0], layer(inputs), atol=1e-6)


def kernel_ops(layer, training):
    """The op types of a FusedLSTM of `layer` traced for `training`."""
    inputs = tf.zeros([2, 3, 4])
    graph = tf.function(lambda x: FusedLSTM(layer)(x, training=training)).get_concrete_function(inputs).graph
    return {op.type for op in graph.get_operations()}


def test_wide_layers_train_on_the_loop_serve_on_the_kernel_and_stateful_ones_always_run_the_loop():
    wide, narrow = keras.layers.LSTM(lstm_loop.LOOP_UNITS), keras.layers.LSTM(lstm_loop.LOOP_UNITS - 1)
    stateful = keras.layers.LSTM(3, stateful=True)
    for layer in (wide, narrow):
        layer(tf.zeros([2, 3, 4]))
    stateful(tf.zeros([2, 3, 4]))
    assert "BlockLSTMV2" not in kernel_ops(wide, training=True)
    assert "BlockLSTMV2" in kernel_ops(wide, training=False)
    assert "BlockLSTMV2" in kernel_ops(narrow, training=True)
    assert {"BlockLSTMV2" in kernel_ops(stateful, training) for training in (False, True)} == {False}
    assert can_fuse(stateful)


@pytest.mark.usefixtures("every_layer_runs_the_loop")
@pytest.mark.parametrize("layer", [
    keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True)),
    keras.layers.LSTM(5, go_backwards=True),
    keras.layers.LSTM(5, return_sequences=True, use_bias=False),
], ids=["bidirectional", "backwards", "no-bias"])
def test_gradients_are_keras_gradients_for_any_mask(layer):
    inputs = tf.random.stateless_normal([5, 7, 3], seed=[5, 6])
    mask = scattered_mask(5, 7, seed=1)
    layer(inputs, mask=mask)
    for expected, got in zip(gradients_through(layer, layer, inputs, mask),
                             gradients_through(FusedLSTM(layer), layer, inputs, mask), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def stateful_lm(units):
    keras.utils.set_random_seed(0)
    return zoo.build("many_to_many", input="tokens", vocab_size=30, embedding_dim=6, num_outputs=30, cell="lstm",
                     units=units, num_layers=2, dropout=0.25, stateful=True, batch_size=4)


def test_a_stateful_model_carries_its_state_from_chunk_to_chunk_as_keras_does():
    model = stateful_lm(units=5)
    fused = zoo.fuse_lstms(model)
    assert sum(isinstance(layer, FusedLSTM) for layer in fused.layers) == 2
    tokens = np.random.default_rng(0).integers(1, 30, size=(4, 12)).astype("int32")
    answers = {}
    for name, runner in (("keras", model), ("loop", fused)):
        zoo.reset_states(model)
        answers[name] = [runner(tokens[:, :5]), runner(tokens[:, 5:])]
        answers[name].append([variable.numpy() for layer in model.layers if getattr(layer, "stateful", False)
                              for variable in layer.states])
    for keras_answer, loop_answer in zip(answers["keras"], answers["loop"], strict=True):
        np.testing.assert_allclose(loop_answer, keras_answer, atol=1e-5)
    assert np.abs(answers["loop"][2]).max() > 0  # the states were written


def test_training_a_stateful_copy_trains_the_model_as_keras_would():
    """Truncated BPTT as the generation recipe trains: chunks in stream order, the state carried, two epochs."""
    tokens = np.random.default_rng(1).integers(1, 30, size=(4, 25)).astype("int32")
    chunks = [(tokens[:, s:s + 6], tokens[:, s + 1:s + 7]) for s in range(0, 18, 6)]
    trained = []
    for fuse in (False, True):
        model = stateful_lm(units=5)
        trainer = zoo.fuse_lstms(model) if fuse else model
        trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        losses = []
        for _ in range(2):
            zoo.reset_states(model)
            losses += [float(trainer.train_on_batch(inputs, targets)) for inputs, targets in chunks]
        trained.append((model.get_weights(), losses))
    (keras_weights, keras_losses), (loop_weights, loop_losses) = trained
    np.testing.assert_allclose(loop_losses, keras_losses, rtol=1e-4)
    assert loop_losses[-1] < loop_losses[0]
    for expected, got in zip(keras_weights, loop_weights, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("layer", [
    keras.layers.LSTM(5, return_sequences=True, return_state=True),
    keras.layers.LSTM(5, return_state=True, go_backwards=True),
    keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True, return_state=True)),
], ids=["sequences", "backwards", "bidirectional"])
@pytest.mark.parametrize("training", [False, True])
def test_initial_and_returned_states_are_keras_states_and_gradients(layer, training):
    inputs = tf.random.stateless_normal([5, 7, 3], seed=[3, 4])
    mask = scattered_mask(5, 7, seed=2)
    pairs = 2 if isinstance(layer, keras.layers.Bidirectional) else 1
    states = [tf.random.stateless_normal([5, 5], seed=[5, i]) for i in range(2 * pairs)]
    layer(inputs, initial_state=states, mask=mask)

    def answers(run):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *states])
            outputs = run(inputs, initial_state=states, mask=mask, training=training)
            # every output and state weighed differently, so each one's gradient path counts
            loss = sum(tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), tf.shape(o))))
                       for o in outputs)
        return outputs, tape.gradient(loss, [inputs, *states, *layer.trainable_variables])

    (expected, expected_grads), (got, got_grads) = answers(layer), answers(FusedLSTM(layer))
    assert len(got) == len(expected) == 1 + 2 * pairs
    for want, have in zip([*expected, *expected_grads], [*got, *got_grads], strict=True):
        np.testing.assert_allclose(have, want, atol=1e-5)


def test_a_seq2seq_model_with_lstm_cells_runs_every_lstm_fused_and_trains_as_keras_would():
    def model():
        keras.utils.set_random_seed(0)
        return zoo.build("seq2seq", input="tokens", vocab_size=30, target_vocab_size=20, embedding_dim=6,
                         target_embedding_dim=6, cell="lstm", units=8, bidirectional=True)

    rng = np.random.default_rng(3)
    source, previous = rng.integers(1, 30, (8, 7)).astype("int32"), rng.integers(1, 20, (8, 5)).astype("int32")
    source[2:, 5:], previous[3:, 4:] = 0, 0  # padding on both sides
    targets = rng.integers(1, 20, (8, 5)).astype("int32")
    inputs = {"tokens": source, "previous_tokens": previous}
    plain = model()
    fused = zoo.fuse_lstms(plain)
    assert zoo.fuses_every_layer(plain) and sum(isinstance(layer, FusedLSTM) for layer in fused.layers) == 2
    np.testing.assert_allclose(fused(inputs), plain(inputs), atol=1e-5)
    trained = []
    for fuse in (False, True):
        original = model()
        trainer = zoo.fuse_lstms(original) if fuse else original
        trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        trainer.fit(inputs, targets, batch_size=4, epochs=2, shuffle=False, verbose=0)
        trained.append(original.get_weights())
    for expected, got in zip(*trained, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-4)
