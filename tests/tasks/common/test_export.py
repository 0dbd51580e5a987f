"""`add_endpoint_traced_once`: the serving function is traced once however the SavedModel is written, and the export
answers as the function does."""

import keras
import numpy as np
import tensorflow as tf

from tasks.common.export import add_endpoint_traced_once


def test_an_endpoint_is_traced_once_and_the_export_answers_as_the_function(tmp_path):
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    traces = []

    def serve(features, scale):
        traces.append(1)  # Python runs once per trace
        return {"scores": dense(features) * scale[:, None]}

    archive = keras.export.ExportArchive()
    archive.track(dense)
    add_endpoint_traced_once(archive, "serving_default", serve, [tf.TensorSpec([None, 4], tf.float32, name="features"),
                                                                 tf.TensorSpec([None], tf.float32, name="scale")])
    archive.write_out(str(tmp_path / "export"), verbose=False)
    assert len(traces) == 1

    signature = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert sorted(signature.structured_input_signature[1]) == ["features", "scale"]
    features, scale = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32), np.arange(5, dtype=np.float32)
    answer = signature(features=tf.constant(features), scale=tf.constant(scale))["scores"].numpy()
    np.testing.assert_allclose(answer, dense(features).numpy() * scale[:, None], rtol=1e-6)
