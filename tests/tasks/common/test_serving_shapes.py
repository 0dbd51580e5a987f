"""The serving fast path's fixed shapes and TF Serving warm-up records."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tasks.common.serving_shapes import (
    MAX_WARMUP_RECORDS,
    example_warmup_requests,
    length_buckets,
    pad_to_bucket,
    predict_by_length,
    predict_in_buckets,
    text_warmup_requests,
    write_warmup_requests,
)


def test_length_buckets_end_at_the_maximum_length():
    assert length_buckets(400, 50) == [50, 100, 150, 200, 250, 300, 350, 400]
    assert length_buckets(30, 20) == [20, 30]
    assert length_buckets(5, 50) == [5]


@pytest.mark.parametrize("rows, steps, padded_rows, padded_steps", [
    (1, 1, 1, 10), (3, 10, 4, 10), (5, 11, 8, 20), (64, 25, 64, 30), (65, 30, 128, 30), (9, 0, 16, 10)])
def test_ids_are_padded_to_the_next_bucket_with_zeros(rows, steps, padded_rows, padded_steps):
    ids = tf.ones([rows, steps], tf.int64)
    padded, real_rows = pad_to_bucket(ids, [10, 20, 30])
    assert padded.shape == (padded_rows, padded_steps) and int(real_rows) == rows
    np.testing.assert_array_equal(padded[:rows, :steps], ids)
    assert int(tf.reduce_sum(padded)) == rows * steps  # everything added is padding (0)


def test_warmup_records_are_prediction_logs_tf_serving_reads(tmp_path):
    requests = text_warmup_requests([3, 5], batches=(1, 2))
    write_warmup_requests(tmp_path / "warmup", requests)
    records = list(tf.data.TFRecordDataset(str(tmp_path / "warmup")).as_numpy_iterator())
    shapes = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        assert request.model_spec.signature_name == "serving_default"
        texts = tf.make_ndarray(request.inputs["text"])
        shapes.append((len(texts), len(texts[0].split())))
    assert shapes == [(1, 3), (2, 3), (1, 5), (2, 5)]


def test_example_warmup_repeats_one_row_per_signature_keeping_its_type(tmp_path):
    frames = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    requests = example_warmup_requests({"generate": {"prompt": "Der", "length": np.int32(4)},
                                        "frames": {"frames": frames}}, rows=(1, 3))
    write_warmup_requests(tmp_path / "warmup", requests)
    read = [prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
            for record in tf.data.TFRecordDataset(str(tmp_path / "warmup")).as_numpy_iterator()]
    assert [(r.model_spec.signature_name, len(tf.make_ndarray(next(iter(r.inputs.values()))))) for r in read] == [
        ("generate", 1), ("generate", 3), ("frames", 1), ("frames", 3)]
    assert tf.make_ndarray(read[1].inputs["prompt"]).tolist() == [b"Der"] * 3
    assert tf.make_ndarray(read[1].inputs["length"]).dtype == np.int32
    np.testing.assert_array_equal(tf.make_ndarray(read[3].inputs["frames"]), np.stack([frames] * 3))
    assert tf.make_ndarray(read[3].inputs["frames"]).dtype == np.uint8


def test_more_warmup_records_than_tf_serving_reads_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at most 1000"):
        write_warmup_requests(tmp_path / "warmup", [("serving_default", {"x": np.zeros(1)})] * (MAX_WARMUP_RECORDS + 1))


@pytest.mark.parametrize("rows", [1, 5, 64, 65, 200])
def test_predict_in_buckets_answers_every_row_using_bucket_shapes_only(rows):
    seen = []

    def network(ids):  # one value per row; records the shapes it was given
        seen.append(tuple(ids.shape))
        return tf.cast(tf.reduce_sum(ids, axis=1), tf.float32)

    ids = tf.constant(np.random.default_rng(rows).integers(0, 9, (rows, 13)), tf.int32)
    out = predict_in_buckets(network, ids, [10, 20, 30])
    np.testing.assert_array_equal(out.numpy(), tf.reduce_sum(ids, axis=1).numpy())
    assert all(r in (1, 2, 4, 8, 16, 32, 64) and t == 20 for r, t in seen)


@pytest.mark.parametrize("rows", [1, 7, 8, 15, 16, 17, 32, 50])
def test_predict_by_length_answers_every_row_in_groups_of_similar_length(rows):
    seen = []

    def network(ids):  # one value per row, from its real ids; records the shapes it was given
        seen.append(tuple(ids.shape))
        return tf.cast(tf.reduce_sum(ids * tf.range(1, tf.shape(ids)[1] + 1), axis=1), tf.float32)

    rng = np.random.default_rng(rows)
    lengths = rng.integers(0, 40, rows)
    ids = np.zeros((rows, 40), np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, 9, length)
    out = predict_by_length(network, tf.constant(ids), group=16, min_rows=8)
    np.testing.assert_array_equal(out.numpy(), network(tf.constant(ids)).numpy())
    seen.pop()
    if rows >= 8:  # at least two groups of at most 16, each cut to its own longest row, the longest rows first
        size = min(16, (rows + 1) // 2)
        assert [r for r, _ in seen] == [size] * (rows // size) + ([rows % size] if rows % size else [])
        assert len(seen) >= 2
        assert [t for _, t in seen] == sorted((t for _, t in seen), reverse=True)
        assert seen[-1][1] == max(1, sorted(lengths, reverse=True)[size * (len(seen) - 1)])
    else:  # a small request runs as it came
        assert seen == [(rows, 40)]
