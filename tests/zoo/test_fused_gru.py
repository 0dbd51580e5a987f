"""zoo.fuse_grus: GRU layers on the written-out loop give Keras's outputs, states and gradients, masks included."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.fused_gru import FusedGRU, can_fuse_gru

MASKS = {
    "right-padded": tf.sequence_mask([9, 0, 3, 5, 1, 8, 2], 9),
    "gaps": tf.constant(np.random.default_rng(0).random((7, 9)) > 0.4),  # masked steps anywhere
    "none": None,
}


def moved_weights(layer, inputs, seed):
    """`layer` built on `inputs`, its weights moved away from the initial zero biases."""
    layer(inputs)
    rng = np.random.default_rng(seed)
    layer.set_weights([w + np.float32(0.3) * rng.standard_normal(w.shape).astype("float32")
                       for w in layer.get_weights()])
    return layer


def as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@pytest.mark.parametrize("mask", MASKS, ids=list(MASKS))
@pytest.mark.parametrize("options", [
    dict(),
    dict(return_sequences=True),
    dict(return_sequences=True, zero_output_for_mask=True),
    dict(return_sequences=True, go_backwards=True, return_state=True),
    dict(go_backwards=True, zero_output_for_mask=True, use_bias=False),
    dict(return_state=True, use_bias=False),
], ids=["last", "sequences", "zero-outputs", "backwards-states", "backwards-no-bias", "states"])
@pytest.mark.parametrize("initial", [False, True], ids=["zero-state", "initial-state"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])  # the forward loop alone, or kept
def test_a_gru_layer_gives_keras_outputs_and_states(mask, options, initial, training):
    inputs = tf.random.stateless_normal([7, 9, 4], seed=[1, 2])
    layer = moved_weights(keras.layers.GRU(5, **options), inputs, seed=1)
    state = [tf.random.stateless_normal([7, 5], seed=[3, 4])] if initial else None
    expected = as_list(layer(inputs, mask=MASKS[mask], initial_state=state))
    got = as_list(FusedGRU(layer)(inputs, mask=MASKS[mask], initial_state=state, training=training))
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, atol=1e-6)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_a_bidirectional_gru_gives_keras_outputs_and_both_states(merge_mode):
    inputs = tf.random.stateless_normal([7, 9, 4], seed=[5, 6])
    layer = moved_weights(keras.layers.Bidirectional(
        keras.layers.GRU(5, return_sequences=True, return_state=True), merge_mode=merge_mode), inputs, seed=2)
    states = [tf.random.stateless_normal([7, 5], seed=[7, i]) for i in range(2)]
    for mask in MASKS.values():
        for expected, got in zip(layer(inputs, mask=mask, initial_state=states),
                                 FusedGRU(layer)(inputs, mask=mask, initial_state=states), strict=True):
            np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("layer", [
    keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True, return_state=True)),
    keras.layers.GRU(5, go_backwards=True, return_state=True),
    keras.layers.GRU(5, return_sequences=True, return_state=True),
    keras.layers.GRU(5, return_sequences=True, use_bias=False, return_state=True),
], ids=["bidirectional", "backwards", "sequences", "no-bias"])
@pytest.mark.parametrize("mask", ["right-padded", "gaps"])
@pytest.mark.parametrize("training", [True, False], ids=["written-out", "inference"])  # inference: TF's own autodiff
def test_gradients_are_keras_gradients(layer, mask, training):
    inputs = tf.random.stateless_normal([7, 9, 4], seed=[8, 9])
    moved_weights(layer, inputs, seed=3)
    count = 2 if isinstance(layer, keras.layers.Bidirectional) else 1
    states = [tf.random.stateless_normal([7, 5], seed=[10, i]) for i in range(count)]

    def gradients(run):
        with tf.GradientTape() as tape:
            tape.watch([inputs, *states])
            outputs = as_list(run(inputs, mask=MASKS[mask], initial_state=states))
            # weigh every output and state differently, so each one's gradient path counts
            loss = sum(tf.reduce_sum(o * tf.reshape(tf.sin(tf.range(tf.size(o), dtype=o.dtype)), tf.shape(o)))
                       for o in outputs)
        return tape.gradient(loss, [inputs, *states, *layer.trainable_variables])

    fused = FusedGRU(layer)
    for expected, got in zip(gradients(layer), gradients(lambda *a, **k: fused(*a, **k, training=training)),
                             strict=True):
        np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


def test_one_row_and_one_step_batches():
    inputs = tf.random.stateless_normal([1, 1, 3], seed=[11, 12])
    layer = moved_weights(keras.layers.GRU(4, return_state=True), inputs, seed=4)
    for expected, got in zip(layer(inputs), FusedGRU(layer)(inputs), strict=True):  # a chain of zero rows
        np.testing.assert_allclose(got, expected, atol=1e-6)
    state = tf.ones([1, 4])  # a lone tensor, not a list, as Keras also takes it
    for expected, got in zip(layer(inputs, initial_state=state), FusedGRU(layer)(inputs, initial_state=state),
                             strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_only_layers_it_computes_exactly_are_fused():
    assert can_fuse_gru(keras.layers.GRU(3))
    assert can_fuse_gru(keras.layers.Bidirectional(keras.layers.GRU(3, return_state=True)))
    assert can_fuse_gru(keras.layers.GRU(3, dropout=0.2))
    assert not can_fuse_gru(keras.layers.LSTM(3))
    assert not can_fuse_gru(keras.layers.GRU(3, reset_after=False))
    assert not can_fuse_gru(keras.layers.GRU(3, activation="relu"))
    assert not can_fuse_gru(keras.layers.GRU(3, stateful=True))
    assert not can_fuse_gru(keras.layers.GRU(3, dropout=0.2, implementation=1))  # a dropout mask per gate
    assert not can_fuse_gru(keras.layers.Bidirectional(keras.layers.GRU(3), merge_mode=None))
    with pytest.raises(ValueError, match="cannot run on the fused GRU loop"):
        FusedGRU(keras.layers.LSTM(3))


def seq2seq(seed=0):
    keras.utils.set_random_seed(seed)
    return zoo.build("seq2seq", input="tokens", vocab_size=30, target_vocab_size=25, embedding_dim=6,
                     target_embedding_dim=6, cell="gru", units=8, bidirectional=True, attention="additive")


def seq2seq_batch(rows, seed):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 30, (rows, 7)).astype("int32")
    previous = rng.integers(1, 25, (rows, 5)).astype("int32")
    for row in range(rows):  # right-padded, some rows full
        source[row, rng.integers(2, 8):] = 0
        previous[row, rng.integers(1, 6):] = 0
    target = np.where(previous > 0, rng.integers(1, 25, previous.shape), 0).astype("int32")
    return {"tokens": source, "previous_tokens": previous}, target


def test_a_fused_seq2seq_answers_what_the_model_answers():
    model = seq2seq()
    fused = zoo.fuse_grus(model)
    assert sum(isinstance(layer, FusedGRU) for layer in fused.layers) == 2  # the encoder and the decoder
    assert fused.count_params() == model.count_params()  # no weights of its own
    inputs, _ = seq2seq_batch(6, seed=1)
    np.testing.assert_allclose(fused(inputs), model(inputs), atol=1e-5)


def test_training_the_fused_copy_trains_the_model_as_keras_would():
    inputs, targets = seq2seq_batch(48, seed=2)
    trained, losses = [], []
    for fuse in (False, True):
        original = seq2seq()
        trainer = zoo.fuse_grus(original) if fuse else original
        trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = trainer.fit(inputs, targets, batch_size=16, epochs=3, shuffle=False, verbose=0)
        trained.append(original.get_weights())
        losses.append(history.history["loss"])
    for plain, fused in zip(*trained, strict=True):
        np.testing.assert_allclose(fused, plain, atol=1e-4)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    assert losses[1][-1] < losses[1][0]  # it learned


def test_training_with_recurrent_dropout_runs_keras_loop():
    layer = keras.layers.GRU(4, recurrent_dropout=0.3, return_sequences=True)
    inputs = tf.random.stateless_normal([2, 5, 3], seed=[15, 16])
    layer(inputs)
    np.testing.assert_allclose(FusedGRU(layer)(inputs), layer(inputs), atol=1e-6)  # inference: fused, exact

    def loops(training):
        graph = tf.function(lambda x: FusedGRU(layer)(x, training=training)).get_concrete_function(inputs).graph
        return {op.name for op in graph.get_operations() if op.type in ("While", "StatelessWhile")}

    assert len(loops(training=False)) == 2  # the two half-batch chains
    assert len(loops(training=True)) == 1  # Keras's one loop


def test_a_fused_copy_describes_itself_and_rebuilds_from_its_config():
    model = seq2seq()
    fused = zoo.fuse_grus(model)
    rebuilt = keras.Model.from_config(fused.get_config())
    assert [type(layer).__name__ for layer in rebuilt.layers] == [type(layer).__name__ for layer in fused.layers]
    rebuilt.set_weights(model.get_weights())
    inputs, _ = seq2seq_batch(3, seed=3)
    np.testing.assert_allclose(rebuilt(inputs), model(inputs), atol=1e-5)
    assert fused.to_json()  # what Keras's TensorBoard callback writes


def test_the_fused_copy_serves_from_a_saved_model(tmp_path):
    """Inference runs the forward loop alone, which a SavedModel can hold (the training loop's custom gradient
    captures the loop's tensors and cannot be saved); the reloaded function answers what Keras's layers answer."""
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 6, mask_zero=True)(tokens)
    states = keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True))(embedded)
    model = keras.Model(tokens, keras.layers.GRU(4)(states))
    fused = zoo.fuse_grus(model)
    module = tf.Module()
    module.model = fused  # tracks the weights
    module.serve = tf.function(lambda ids: fused(ids, training=False),
                               input_signature=[tf.TensorSpec([None, None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "export"))
    ids = tf.constant([[3, 4, 5, 0, 0], [7, 1, 2, 9, 11], [5, 0, 0, 0, 0]])
    loaded = tf.saved_model.load(str(tmp_path / "export"))  # kept: its function reads the variables it holds
    np.testing.assert_allclose(loaded.serve(ids), model(ids), atol=1e-6)


def test_fuse_recurrent_runs_lstms_and_grus_on_their_fast_paths():
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, 6, mask_zero=True)(tokens)
    states = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True))(embedded)
    model = keras.Model(tokens, keras.layers.GRU(4)(states))
    assert zoo.fuses_every_recurrent_layer(model) and not zoo.fuses_every_layer(model)
    fused = zoo.fuse_recurrent(model)
    assert {type(layer).__name__ for layer in fused.layers} >= {"FusedLSTM", "FusedGRU"}
    ids = tf.constant([[3, 4, 5, 0, 0], [7, 1, 2, 9, 11]])
    np.testing.assert_allclose(fused(ids), model(ids), atol=1e-5)
    simple = zoo.build("many_to_one", input="tokens", vocab_size=20, num_outputs=1, cell="simple_rnn", units=3,
                       embedding_dim=2)
    assert not zoo.fuses_every_recurrent_layer(simple)
