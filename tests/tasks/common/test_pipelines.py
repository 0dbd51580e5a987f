"""The recipes' tf.data pipelines keep every example, with tf.data's autotuning off unless asked for."""

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.training import bucket_by_length, finish_pipeline


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
