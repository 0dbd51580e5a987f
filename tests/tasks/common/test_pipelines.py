"""The recipes' tf.data pipelines keep every example, with tf.data's autotuning off unless asked for; the training
step traced per frequent batch shape, and Keras's step running several batches a call, train exactly as Keras's own
step one batch a call."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.common.buckets import bucket_boundaries, bucketed_batches, token_balanced_sizes
from tasks.common.distribute import Placement
from tasks.common.training import ShapeSpecializedSteps, finish_pipeline, train_model, wants_shape_graphs


def ragged_rows(lengths, first=1):
    """Ragged int32 rows [first, first + 1, ...] of these lengths: nonzero, so a row's real length can be read back."""
    return tf.ragged.constant([list(range(first, first + n)) for n in lengths], dtype=tf.int32, ragged_rank=1)


def epoch(dataset):
    return [tuple(t.numpy() for t in batch) for batch in dataset]


@pytest.mark.parametrize("count", [1, 7, 50, 333])
def test_every_example_is_batched_once_an_epoch_padded_to_its_bucket(count):
    lengths = np.random.default_rng(count).integers(0, 41, count)
    boundaries = bucket_boundaries(40, 10)
    sizes = token_balanced_sizes(boundaries, 8, 40)
    dataset = bucketed_batches((ragged_rows(lengths), tf.range(count)), np.maximum(lengths, 1), boundaries, sizes,
                               shuffle_seed=0)
    epochs = [epoch(dataset) for _ in range(2)]
    for batches in epochs:
        assert len(batches) == dataset.cardinality()  # known to Keras without a counting pass
        seen = np.concatenate([index for _, index in batches])
        assert sorted(seen.tolist()) == list(range(count))  # none dropped, none twice
        for ids, index in batches:
            assert ids.shape[1] in (10, 20, 30, 40)  # padded to a bucket edge ...
            real = (ids != 0).sum(axis=1)
            np.testing.assert_array_equal(real, lengths[index])
            assert (np.maximum(real, 1) > ids.shape[1] - 10).all()  # ... its own bucket's
            assert len(index) <= sizes[ids.shape[1] // 10 - 1]
    orders = [np.concatenate([index for _, index in batches]).tolist() for batches in epochs]
    assert count < 50 or orders[0] != orders[1]  # each epoch deals the examples anew


def test_ragged_columns_are_padded_together_and_dense_ones_gathered():
    """Translation's source and target: a pair's bucket is its longer side, both padded to the bucket's top."""
    sources, targets = [3, 12, 5, 1], [9, 4, 2, 2]
    labels = tf.constant([0.0, 1.0, 2.0, 3.0])
    dataset = bucketed_batches((ragged_rows(sources), ragged_rows(targets, first=7), labels),
                               np.maximum(sources, targets), [11, 21], [2, 2])
    batches = epoch(dataset)
    assert [(s.shape, t.shape) for s, t, _ in batches] == [((2, 10), (2, 10)), ((1, 10), (1, 10)), ((1, 20), (1, 20))]
    assert [labels.tolist() for _, _, labels in batches] == [[0.0, 2.0], [3.0], [1.0]]  # no shuffle: in order
    assert epoch(dataset)[0][1][0].tolist() == [7, 8, 9, 10, 11, 12, 13, 14, 15, 0]
    with pytest.raises(ValueError, match="past the last bucket edge"):
        bucketed_batches((ragged_rows([30]),), [30], [11, 21], [2, 2])


def test_no_examples_give_no_batches():
    assert epoch(bucketed_batches((ragged_rows([]), tf.zeros([0])), [], [11], [4], shuffle_seed=1)) == []


@pytest.mark.parametrize("autotune", [False, True])
def test_finish_pipeline_sets_autotuning_as_asked(autotune):
    dataset = finish_pipeline(tf.data.Dataset.range(5).batch(2), autotune=autotune)
    assert dataset.options().autotune.enabled is autotune
    assert [b.tolist() for b in dataset.as_numpy_iterator()] == [[0, 1], [2, 3], [4]]


def bucketed_toy_data(count=90):
    """(ids, label) batches of three bucket lengths, each with a partial last batch, in a fixed order."""
    lengths = np.random.default_rng(1).integers(1, 31, count)
    labels = (lengths > 15).astype(np.float32)
    rows = tf.ragged.constant([np.random.default_rng(i).integers(1, 50, n) for i, n in enumerate(lengths)], tf.int32)
    return bucketed_batches((rows, tf.constant(labels)), lengths, bucket_boundaries(30, 10), [8, 8, 8])


def toy_model():
    keras.utils.set_random_seed(0)
    model = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="gru", units=6,
                      embedding_dim=4, bidirectional=True)  # no dropout: the same steps give the same weights
    # Plain SGD: Adam would blow float rounding in near-zero gradients up to visible differences.
    model.compile(keras.optimizers.SGD(0.5), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def fitted_weights(specialized, epochs=3):
    model = toy_model()
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


@pytest.mark.parametrize("steps_per_execution", [5, 100])
def test_several_batches_a_call_train_every_batch_as_one_a_call(tmp_path, steps_per_execution):
    """train_model's --steps-per-execution: the same weights and losses, every batch of every epoch trained (the
    toy epoch's 12 batches are not a multiple of 5; 100 is more than an epoch)."""
    batches = len(list(bucketed_toy_data()))
    assert batches % 5 and batches < 100
    results = []
    for per_call in (1, steps_per_execution):
        model = toy_model()
        placement = Placement(tf.distribute.get_strategy(), "one-device", shape_graphs=False,
                              steps_per_execution=per_call)
        history = train_model(model, placement, bucketed_toy_data(), validation_data=bucketed_toy_data(), epochs=3,
                              run_dir=tmp_path / str(per_call), patience=3, samples_per_epoch=90)
        assert model.steps_per_execution == per_call and int(model.optimizer.iterations) == 3 * batches
        results.append((model.get_weights(), history.history))
    (one_weights, one_history), (several_weights, several_history) = results
    for several, one in zip(several_weights, one_weights):
        np.testing.assert_allclose(several, one, rtol=1e-4, atol=1e-6)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(several_history[key], one_history[key], rtol=1e-4)


def test_shape_graphs_are_chosen_per_model_unless_asked():
    """Unasked, Keras's loops get a graph per shape and a model on a fused kernel does not; a flag always wins."""
    lstm = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="lstm", units=4,
                     embedding_dim=3, bidirectional=True)
    gru = zoo.build("many_to_one", input="tokens", vocab_size=50, num_outputs=1, cell="gru", units=4, embedding_dim=3)
    assert wants_shape_graphs(None, lstm) and wants_shape_graphs(None, gru)
    assert not wants_shape_graphs(None, zoo.fuse_lstms(lstm)) and not wants_shape_graphs(None, zoo.fuse_grus(gru))
    assert wants_shape_graphs(True, zoo.fuse_lstms(lstm)) and not wants_shape_graphs(False, gru)
