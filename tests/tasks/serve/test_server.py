"""The real server over loopback: TF Serving's status, metadata and predict contract, hot pick-up, every error."""

import base64
import concurrent.futures
import os
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the translation export's SentencePiece ops, for in_process)

from tests.tasks.conftest import SHARES_TRAINED_RUNS
from tests.tasks.serve.conftest import running_server

pytestmark = SHARES_TRAINED_RUNS

TEXTS = ["not bad at all", "a dull plot", "", "ünïcödé <br /> review"]
FEATURES = [[[0.5, -1.0, 2.0], [1.0, 0.0, 0.3], [0.0, 0.0, 0.0]], [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [1.0, 1.0, 1.0]]]


@pytest.fixture(scope="module")
def server(model_base):
    with running_server("--model-base-path", model_base, "--poll-seconds", "0.2", "--max-body-bytes", 200000) as c:
        yield c


def in_process(model_base, name, version=1, signature="serving_default", **inputs):
    """What the SavedModel itself answers, loaded with tf.saved_model.load."""
    fn = tf.saved_model.load(str(model_base / name / str(version))).signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def test_status_and_metadata(server):
    for name in ("sentiment", "translation", "video_frames", "generation", "forecasting", "tagger", "translator"):
        status = server.get(f"/v1/models/{name}").json()
        assert status == {"model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
        assert server.get(f"/v1/models/{name}/versions/1").json() == status
    metadata = server.get("/v1/models/sentiment/metadata").json()
    assert metadata["model_spec"] == {"name": "sentiment", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
    assert signature["inputs"]["text"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert {k: v["dtype"] for k, v in signature["outputs"].items()} == {"probability": "DT_FLOAT",
                                                                        "label": "DT_STRING"}
    translator = server.get("/v1/models/translator/versions/1/metadata").json()
    inputs = translator["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert {k: v["dtype"] for k, v in inputs.items()} == {"tokens": "DT_INT32", "previous_tokens": "DT_INT32"}


def test_row_and_columnar_predictions_equal_the_saved_model(server, model_base):
    expected = in_process(model_base, "sentiment", text=TEXTS)
    rows = server.post("/v1/models/sentiment:predict", json={"instances": TEXTS}).json()["predictions"]
    assert [r["label"] for r in rows] == [label.decode() for label in expected["label"]]
    np.testing.assert_allclose([r["probability"] for r in rows], expected["probability"], rtol=1e-6)

    b64 = [{"b64": base64.b64encode(t.encode()).decode()} for t in TEXTS]
    columns = server.post("/v1/models/sentiment/versions/1:predict", json={"inputs": {"text": b64}}).json()
    np.testing.assert_allclose(columns["outputs"]["probability"], expected["probability"], rtol=1e-6)
    named_rows = server.post("/v1/models/sentiment:predict", json={
        "signature_name": "serving_default", "instances": [{"text": t} for t in TEXTS]}).json()
    assert named_rows["predictions"] == rows

    expected = in_process(model_base, "tagger", features=np.float32(FEATURES))["output_0"]
    rows = server.post("/v1/models/tagger:predict", json={"instances": FEATURES}).json()
    np.testing.assert_allclose(rows["predictions"], expected, rtol=1e-5, atol=1e-6)  # one output: bare rows
    columns = server.post("/v1/models/tagger:predict", json={"inputs": FEATURES}).json()
    np.testing.assert_allclose(columns["outputs"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("signature", ["serving_default", "beam_search"])
def test_translation_strings_in_and_out_with_each_signature(server, model_base, signature):
    texts = ["ciento dos", "mil", ""]
    expected = [t.decode() for t in in_process(model_base, "translation", signature=signature, text=texts)[
        "translation"]]
    response = server.post("/v1/models/translation:predict", json={"signature_name": signature, "instances": texts})
    assert response.json() == {"predictions": expected}
    attention = server.post("/v1/models/translation:predict",
                            json={"signature_name": "attention", "inputs": {"text": texts}}).json()["outputs"]
    assert set(attention) == {"translation", "attention", "source_tokens", "target_tokens"}
    assert len(attention["attention"]) == 3
    refused = server.post("/v1/models/translation:predict", json={"signature_name": signature,
                                                                  "instances": ["ciento", "你好，世界"]})
    assert refused.status_code == 400
    assert "text at index 1 of the batch is written mostly in characters that no training" in refused.json()["error"]


def test_video_frames_as_uint8_or_float_with_any_clip_length(server, model_base):
    from tasks.video_frames.synthetic import generate_clips

    clips = generate_clips(2, seed=4, size=16, min_frames=5, max_frames=7)[0]
    expected = in_process(model_base, "video_frames", signature="serving_uint8", frames=clips)
    rows = server.post("/v1/models/video_frames:predict", json={"signature_name": "serving_uint8",
                                                                "instances": clips.tolist()}).json()["predictions"]
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected["probabilities"], atol=1e-6)
    assert [r["labels"] for r in rows] == [[label.decode() for label in row] for row in expected["labels"]]
    floats = server.post("/v1/models/video_frames:predict",
                         json={"inputs": (clips[:1] / 255).tolist()}).json()["outputs"]
    np.testing.assert_allclose(floats["probabilities"], expected["probabilities"][:1], atol=1e-5)
    not_an_int = server.post("/v1/models/video_frames:predict",
                             json={"signature_name": "serving_uint8", "inputs": [[[[[0.5, 0, 0]]]]]})
    assert not_an_int.status_code == 400 and "is not of expected type: uint8" in not_an_int.json()["error"]


def test_generation_and_forecasting_exports(server, model_base):
    rows = [{"prompt": "KING:", "length": 10, "temperature": 0.0}, {"prompt": "", "length": 3, "temperature": 0.0}]
    expected = in_process(model_base, "generation", prompt=[r["prompt"] for r in rows],
                          length=np.int32([r["length"] for r in rows]), temperature=np.float32([0, 0]))
    answer = server.post("/v1/models/generation:predict", json={"instances": rows}).json()["predictions"]
    assert [a["text"] for a in answer] == [t.decode() for t in expected["text"]]
    # The forecaster takes the CSV's cells as written, a missing value included.
    rows = [[f"{10 + np.sin(i):.3f}" for i in range(10)], ["11.5", "NA", *["12"] * 7, ""]]
    expected = in_process(model_base, "forecasting", value=np.array(rows, object))["value"]
    answer = server.post("/v1/models/forecasting:predict", json={"instances": [{"value": r} for r in rows]})
    np.testing.assert_allclose(answer.json()["predictions"], expected, rtol=1e-5)
    for bad in ({"instances": [{"values": rows[0]}]}, {"instances": [{"value": [float(v) for v in rows[0]]}]}):
        refused = server.post("/v1/models/forecasting:predict", json=bad)  # a misspelt column; numbers, not text
        assert refused.status_code == 400 and "error" in refused.json()


def test_two_input_model_takes_named_rows(server, model_base):
    tokens, previous = [[3, 4, 5, 0], [7, 2, 0, 0]], [[1, 6], [1, 9]]
    expected = in_process(model_base, "translator", tokens=np.int32(tokens), previous_tokens=np.int32(previous))
    instances = [{"tokens": t, "previous_tokens": p} for t, p in zip(tokens, previous)]
    rows = server.post("/v1/models/translator:predict", json={"instances": instances}).json()["predictions"]
    np.testing.assert_allclose(rows, expected["output_0"], rtol=1e-5, atol=1e-6)


BAD_REQUESTS = [
    ("post", "/v1/models/sentiment:predict", b"{not json", 400, "JSON Parse error"),
    ("post", "/v1/models/sentiment:predict", b"[1, 2]", 400, "Is not object"),
    ("post", "/v1/models/sentiment:predict", {"rows": ["x"]}, 400, "Missing 'inputs' or 'instances' key"),
    ("post", "/v1/models/sentiment:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("post", "/v1/models/nobody:predict", {"instances": ["x"]}, 404, "Servable not found"),
    ("post", "/v1/models/sentiment/versions/9:predict", {"instances": ["x"]}, 404, "Specific(sentiment, 9)"),
    ("get", "/v1/models/sentiment/versions/9", None, 404, "Could not find version 9 of model sentiment"),
    ("get", "/v1/models/nobody/metadata", None, 404, "Servable not found"),
    ("post", "/v1/models/sentiment:predict", {"signature_name": "nope", "instances": ["x"]}, 400,
     "\"nope\" not found in signature def"),
    ("post", "/v1/models/sentiment:predict", {"inputs": {"review": ["x"]}}, 400,
     "Missing named input: text in 'inputs' object."),
    ("post", "/v1/models/sentiment:predict", {"instances": [3, 4]}, 400, "is not of expected type: string"),
    ("post", "/v1/models/sentiment:predict", {"instances": [{"b64": "***"}]}, 400, "Unable to base64 decode"),
    ("post", "/v1/models/tagger:predict", {"instances": [[["a", 1, 2]]]}, 400, "is not of expected type: float"),
    ("post", "/v1/models/tagger:predict", {"instances": [[[1, 2, 3]], [[1, 2, 3], [4, 5, 6]]]}, 400,
     "Expecting tensor size: 3 but got: 6"),
    ("post", "/v1/models/translator:predict", {"instances": [{"tokens": [1.5], "previous_tokens": [1]}]}, 400,
     "is not of expected type: int32"),
    ("post", "/v1/models/translator:predict", {"instances": [[1, 2]]}, 400,
     "instances is a plain list, but expecting list of objects"),
    ("post", "/v1/models/sentiment:predict", {"instances": ["x" * 300000]}, 413, "over the limit of 200000"),
    ("get", "/v1/models/sentiment:predict", None, 400, "Malformed request: GET"),
    ("post", "/v1/models/sentiment:classify", {"examples": [{"text": "x"}]}, 400,
     "Expected classification signature outputs to contain at least one of"),
    ("get", "/v2/anything", None, 404, "no such endpoint"),
]


@pytest.mark.parametrize("method,path,body,status,message", BAD_REQUESTS, ids=[r[-1] for r in BAD_REQUESTS])
def test_bad_requests_get_a_json_error_and_the_server_stays_up(server, method, path, body, status, message):
    if isinstance(body, bytes):
        response = server.post(path, content=body)
    elif method == "post":
        response = server.post(path, json=body)
    else:
        response = server.get(path)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert server.get("/healthz").json()["ready"] is True


def test_concurrent_requests_get_their_own_answers(server, model_base):
    texts = [f"review number {i} was {'great' if i % 2 else 'dull'}" for i in range(24)]
    expected = in_process(model_base, "sentiment", text=texts)["probability"]

    def ask(text):
        return server.post("/v1/models/sentiment:predict", json={"instances": [text]}).json()["predictions"][0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, texts))
    np.testing.assert_allclose([a["probability"] for a in answers], expected, rtol=1e-6)


def test_batching_merges_concurrent_requests_with_the_same_answers(model_base):
    texts = [f"{'not ' * (i % 3)}a good film, take {i}" for i in range(32)]
    expected = in_process(model_base, "sentiment", text=texts)["probability"]
    with running_server("--model-base-path", model_base, "--batch-window-ms", 50, "--max-batch-size", 8,
                        "--poll-seconds", 0) as client:
        def ask(text):
            return client.post("/v1/models/sentiment:predict", json={"instances": [text]}).json()

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, texts))
        # A request bigger than a batch runs alone; a tagger request has other dtypes and is never merged with it.
        big = client.post("/v1/models/sentiment:predict", json={"inputs": texts}).json()
        tagger = client.post("/v1/models/tagger:predict", json={"instances": FEATURES})
    np.testing.assert_allclose([a["predictions"][0]["probability"] for a in answers], expected, rtol=1e-5)
    np.testing.assert_allclose(big["outputs"]["probability"], expected, rtol=1e-5)
    assert tagger.status_code == 200


def test_a_new_version_is_picked_up_without_a_restart(server, model_base):
    # As our exports do: write under a hidden name, then rename to the next version.
    staging = model_base / "tagger" / ".tmp-copy"
    shutil.copytree(model_base / "tagger" / "1", staging)
    os.rename(staging, model_base / "tagger" / "2")
    # A folder still being written (no saved_model.pb yet) is not a version.
    (model_base / "tagger" / "3" / "variables").mkdir(parents=True)
    deadline = time.monotonic() + 30
    while server.get("/v1/models/tagger").json()["model_version_status"][0] != {
            "version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}:
        assert time.monotonic() < deadline, "version 2 was not picked up"
        time.sleep(0.2)
    response = server.post("/v1/models/tagger/versions/2:predict", json={"instances": FEATURES})
    assert response.status_code == 200
    time.sleep(1)  # several polls later, the half-written 3 is still not served
    status = server.get("/v1/models/tagger").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [("2", "AVAILABLE"), ("1", "END")]
