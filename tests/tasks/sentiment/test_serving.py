"""The sentiment export's fast paths: every one answers what the trained network answers."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import zoo
from tasks.common.serving_shapes import WARMUP_FILE
from tasks.sentiment.data import make_vectorizer
from tasks.sentiment.serving import write_export
from tasks.serve.xla import signatures_running_xla

# Lengths from empty to past max_length, and more rows than a length group (16), so grouping is exercised
TEXTS = [" ".join(f"w{(i * 7 + j) % 50}" for j in range(i % 37)) for i in range(40)] + ["", "w1 " * 500]


@pytest.fixture(scope="module")
def vectorizer():
    layer = make_vectorizer(60)
    layer.adapt(tf.data.Dataset.from_tensor_slices(TEXTS).batch(8))
    layer(tf.constant(["built"]))  # an export tracks built layers only
    return layer


@pytest.mark.parametrize("cell, fast_path, warmup_records, tail", [
    ("lstm", "auto", 0, 0), ("lstm", "fused", 0, 0), ("lstm", "xla", 3 * 7, 0), ("lstm", "plain", 0, 0),
    ("gru", "auto", 0, 0), ("gru", "plain", 0, 0), ("lstm", "auto", 0, 12), ("gru", "xla", 3 * 7, 12),
])
def test_every_fast_path_answers_what_the_network_answers(tmp_path, vectorizer, cell, fast_path, warmup_records,
                                                          tail):
    model = zoo.build("many_to_one", input="tokens", vocab_size=vectorizer.vocabulary_size(), num_outputs=1,
                      cell=cell, units=6, embedding_dim=5, bidirectional=True, pooling="max")
    export = tmp_path / "export"
    write_export(export, model, vectorizer, max_length=30, bucket_step=10, extras={"config.json": {}},
                 tail=tail, fast_path=fast_path)
    serve = tf.saved_model.load(str(export)).signatures["serving_default"]
    probability = serve(text=tf.constant(TEXTS))["probability"].numpy()
    expected = keras.models.load_model(export / "assets.extra" / "model.keras")(tf.constant(TEXTS)).numpy()[:, 0]
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    one = serve(text=tf.constant(TEXTS[5:6]))["probability"].numpy()
    np.testing.assert_allclose(one, expected[5:6], atol=1e-5)
    fused = fast_path in ("auto", "fused")
    graph = (export / "saved_model.pb").read_bytes()
    assert (b"BlockLSTMV2" in graph) == (fused and cell == "lstm")
    if cell == "gru":  # the zoo's GRU loop (a layer named <gru>_fused) serves it on its forward loop alone
        assert (b"_fused" in graph) == fused
    # the XLA path's records compile its shapes; the others get the recipe's warm-up (`Run.finish`), not this one's
    warmup = export / "assets.extra" / WARMUP_FILE
    assert (len(list(tf.data.TFRecordDataset(str(warmup)))) if warmup.exists() else 0) == warmup_records
    saved = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    assert signatures_running_xla(saved.meta_graphs[0]) == ({"serving_default"} if fast_path == "xla" else set())
    assert json.loads((export / "assets.extra" / "config.json").read_text()) == {}


def test_an_unknown_fast_path_is_refused(tmp_path, vectorizer):
    model = zoo.build("many_to_one", input="tokens", vocab_size=60, num_outputs=1, units=2, embedding_dim=2)
    with pytest.raises(ValueError, match="fast_path='jit'; choose one of auto, fused, xla, plain"):
        write_export(tmp_path / "x", model, vectorizer, max_length=30, bucket_step=10, extras={}, fast_path="jit")
    assert not (tmp_path / "x").exists()
