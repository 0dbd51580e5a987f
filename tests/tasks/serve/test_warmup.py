"""Warm-up records (`assets.extra/tf_serving_warmup_requests`) run once at load, as TF Serving runs them."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tasks.common.serving_shapes import write_warmup_requests
from tasks.serve.loading import load_version, run_warmup
from tests.tasks.serve.tfserving_models import export_counter, export_half_plus


def write_records(path, logs):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())


def warmup_count(folder):
    """Load `folder` (which runs its warm-up once) and return how many records a second run finds."""
    loaded = load_version(folder, 1)
    try:
        return run_warmup(loaded)
    finally:
        loaded.close()


def test_predict_records_run_before_the_version_is_served(tmp_path):
    export_counter(tmp_path / "1")
    incr = prediction_log_pb2.PredictionLog()
    incr.predict_log.request.model_spec.signature_name = "incr_counter"
    write_records(tmp_path / "1" / "assets.extra" / "tf_serving_warmup_requests", [incr] * 3)
    loaded = load_version(tmp_path / "1", 1)
    try:
        assert float(loaded.run("get_counter", {})["output"]) == 3.0  # each record ran once
    finally:
        loaded.close()


def test_a_model_without_warmup_records_loads_as_before(tmp_path):
    export_half_plus(tmp_path / "1")
    assert warmup_count(tmp_path / "1") == 0


def test_records_written_by_the_exports_helper_run(tmp_path):
    export_half_plus(tmp_path / "1")
    (tmp_path / "1" / "assets.extra").mkdir()
    write_warmup_requests(tmp_path / "1" / "assets.extra" / "tf_serving_warmup_requests",
                          [("serving_default", {"x": np.array([[1.0], [2.0]], np.float32)})] * 2)
    assert warmup_count(tmp_path / "1") == 2


def test_a_failing_warmup_request_fails_the_load(tmp_path):
    export_counter(tmp_path / "1")
    bad = prediction_log_pb2.PredictionLog()
    bad.predict_log.request.model_spec.signature_name = "no_such_signature"
    write_records(tmp_path / "1" / "assets.extra" / "tf_serving_warmup_requests", [bad])
    with pytest.raises(Exception, match="no_such_signature"):
        load_version(tmp_path / "1", 1)


def test_more_records_than_tf_serving_reads_fail_the_load(tmp_path):
    export_counter(tmp_path / "1")
    incr = prediction_log_pb2.PredictionLog()
    incr.predict_log.request.model_spec.signature_name = "incr_counter"
    write_records(tmp_path / "1" / "assets.extra" / "tf_serving_warmup_requests", [incr] * 1001)
    with pytest.raises(ValueError, match="exceeds the maximum"):
        load_version(tmp_path / "1", 1)


def test_regress_records_run_on_their_examples(tmp_path):
    export_half_plus(tmp_path / "1")
    log = prediction_log_pb2.PredictionLog()
    request = log.regress_log.request
    request.model_spec.signature_name = "regress_x_to_y"
    request.input.example_list.examples.add().features.feature["x"].float_list.value.append(1.0)
    write_records(tmp_path / "1" / "assets.extra" / "tf_serving_warmup_requests", [log])
    assert warmup_count(tmp_path / "1") == 1
