"""The recipes' tf.data pipelines keep every example, with tf.data's autotuning off unless asked for; the training
step traced per frequent batch shape trains exactly as Keras's own."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.common.training import ShapeSpecializedSteps, bucket_by_length, finish_pipeline, wants_shape_graphs


def ragged_examples(lengths):
    rows = [np.arange(1, n + 1, dtype=np.int32) for n in lengths]
    return tf.data.Dataset.from_generator(
        lambda: ((row, np.float32(i)) for i, row in enumerate(rows)),
        output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.float32)))


@pytest.mark.parametrize("count", [1, 7, 50, 333])
def test_every_example_is_batched_once_whatever_the_bucket_remainders(count):
    lengths = np.random.default_rng(count).integers(1, 41, count)
    batches = list(bucket_by_length(ragged_examples(lengths), max_length=40, batch_size=8, step=10))
    seen = np.concatenate([labels.numpy() for _, labels in batches])
    assert sorted(seen.astype(int).tolist()) == list(range(count))  # none dropped, none twice
    for ids, labels in batches:
        assert ids.shape[1] in (10, 20, 30, 40)  # padded to a bucket edge
        real = (ids.numpy() != 0).sum(axis=1)
        np.testing.assert_array_equal(real, lengths[labels.numpy().astype(int)])


@pytest.mark.parametrize("autotune", [False, True])
def test_finish_pipeline_sets_autotuning_as_asked(autotune):
    dataset = finish_pipeline(tf.data.Dataset.range(5).batch(2), autotune=autotune)
    assert dataset.options().autotune.enabled is autotune
    assert [b.tolist() for b in dataset.as_numpy_iterator()] == [[0, 1], [2, 3], [4]]


def bucketed_toy_data(count=90):
    """(ids, label) batches of three bucket lengths, each with a partial last batch, in a fixed order."""
    lengths = np.random.default_rng(1).integers(1, 31, count)
    labels = (lengths > 15).astype(np.float32)
    rows = [np.random.default_rng(i).integers(1, 50, n).astype(np.int32) for i, n in enumerate(lengths)]
    dataset = tf.data.Dataset.from_generator(
        lambda: zip(rows, labels), output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.float32)))
    return bucket_by_length(dataset, max_length=30, batch_size=8, step=10)


def fitted_weights(specialized, epochs=3):
    keras.utils.set_random_seed(0)
    model = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="gru", units=6,
                      embedding_dim=4, bidirectional=True)  # no dropout: the same steps give the same weights
    # Plain SGD: Adam would blow float rounding in near-zero gradients up to visible differences.
    model.compile(keras.optimizers.SGD(0.5), keras.losses.BinaryCrossentropy(from_logits=True))
    callbacks = [ShapeSpecializedSteps.install(model)] if specialized else []
    history = model.fit(bucketed_toy_data(), epochs=epochs, verbose=0, shuffle=False, callbacks=callbacks)
    return model, history


def test_shape_specialized_steps_train_exactly_as_keras_own_step():
    keras_model, keras_history = fitted_weights(specialized=False)
    model, history = fitted_weights(specialized=True)
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"], keras_history.history["loss"], rtol=1e-4)
    shapes = [tuple(ids.shape) for ids, _ in bucketed_toy_data()]
    recurring = {s for s in shapes if shapes.count(s) >= 2}
    traced = {key[0] for key in model.train_function.steps}
    assert traced == recurring and len(traced) < len(set(shapes))  # once-an-epoch partial batches share one graph


def test_shape_graphs_are_chosen_per_model_unless_asked():
    """Unasked, Keras's loops get a graph per shape and a model on a fused kernel does not; a flag always wins."""
    lstm = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="lstm", units=4,
                     embedding_dim=3, bidirectional=True)
    gru = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="gru", units=4, embedding_dim=3)
    assert wants_shape_graphs(None, lstm) and wants_shape_graphs(None, gru)
    assert not wants_shape_graphs(None, zoo.fuse_lstms(lstm)) and not wants_shape_graphs(None, zoo.fuse_grus(gru))
    assert wants_shape_graphs(True, zoo.fuse_lstms(lstm)) and not wants_shape_graphs(False, gru)
