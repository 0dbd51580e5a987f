"""The server against TF Serving's documented answers: its REST API doc's examples, the cases of its
`http_rest_api_handler_test.cc` and its `testdata/*_metadata.json`, on the test models TF Serving itself serves
(built in `tfserving_models.py`), over a real loopback server started with TF Serving's own flags."""

import json

import pytest

from tests.tasks.serve.conftest import running_server
from tests.tasks.serve.tfserving_models import export_counter, export_half_plus

pytestmark = pytest.mark.xdist_group("serve")

CONFIG = """
model_config_list {
  config { name: 'half_plus_two' base_path: '%(base)s/half_plus_two' model_platform: 'tensorflow'
           model_version_policy { specific { versions: 123 versions: 124 } }
           version_labels { key: 'stable' value: 123 } }
  config { name: 'half_plus_three' base_path: '%(base)s/half_plus_three' }
  config { name: 'counter' base_path: '%(base)s/counter' }
}
"""


@pytest.fixture(scope="module")
def tfs(tmp_path_factory):
    base = tmp_path_factory.mktemp("tfserving")
    export_half_plus(base / "half_plus_two" / "00000123")
    export_half_plus(base / "half_plus_three" / "00000123", b=3.0)
    export_counter(base / "counter" / "00000123")
    (base / "models.config").write_text(CONFIG % {"base": base})
    with running_server("--model_config_file", base / "models.config",
                        "--file_system_poll_wait_seconds", "0") as client:
        yield client


def post(client, path, body):
    response = client.post(path, content=body if isinstance(body, (bytes, str)) else json.dumps(body))
    return response.status_code, response.json()


@pytest.mark.parametrize("path,body,expected", [
    # The REST API documentation's own example, and the leniency on TF1 shapes it relies on ([-1, 1] fed [3]).
    ("/v1/models/half_plus_three:predict", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [3.5, 4.0, 5.5]}),
    ("/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}, {"predictions": [2.5, 3.0, 4.5]}),
    # http_rest_api_handler_test.cc, Predict: latest, specific version, label, signature name, columnar.
    ("/v1/models/half_plus_two:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]},
     {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    ("/v1/models/half_plus_two/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/half_plus_two/labels/stable:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    ("/v1/models/half_plus_two/versions/123:predict", {"signature_name": "serving_default", "instances": [3.0, 4.0]},
     {"predictions": [3.5, 4.0]}),
    ("/v1/models/half_plus_two/versions/123:predict", {"signature_name": "serving_default", "inputs": [3.0, 4.0]},
     {"outputs": [3.5, 4.0]}),
    # ... Regress and Classify.
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]},
     {"results": [42.0]}),
    ("/v1/models/half_plus_two/labels/stable:regress", {"signature_name": "regress_x_to_y",
                                                        "examples": [{"x": 80.0}]}, {"results": [42.0]}),
    ("/v1/models/half_plus_two:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]},
     {"results": [[["", 12.0]]]}),
    ("/v1/models/half_plus_two/labels/stable:classify", {"signature_name": "classify_x_to_y",
                                                         "examples": [{"x": 10.0}]}, {"results": [[["", 7.0]]]}),
    # Context features join every example; the example's own win.
    ("/v1/models/half_plus_two:regress", {"signature_name": "regress_x_to_y2", "context": {"x": 2.0},
                                          "examples": [{}, {"x": 4.0}]}, {"results": [4.0, 5.0]}),
    # Case-insensitive paths, as TF Serving's patterns are.
    ("/V1/Models/half_plus_two/VERSIONS/123:predict", {"inputs": [[1.0]]}, {"outputs": [[2.5]]}),
    # NaN and Infinity in, NaN and Infinity out, as bare tokens.
    ("/v1/models/half_plus_two:predict", b'{"instances": [NaN, Infinity, -Infinity]}',
     {"predictions": [float("nan"), float("inf"), float("-inf")]}),
    # A signature that takes a scalar: the counter model, columnar.
    ("/v1/models/counter:predict", {"signature_name": "incr_counter_by", "inputs": {"delta": 0.0}},
     {"outputs": 0.0}),
])
def test_answers_as_tf_serving_documents(tfs, path, body, expected):
    status, answer = post(tfs, path, body)
    assert status == 200, answer
    assert json.dumps(answer) == json.dumps(expected)  # NaN-safe exact comparison


def test_float32_outputs_are_written_in_their_shortest_tf_serving_form(tfs):
    response = tfs.post("/v1/models/half_plus_two:predict", content='{"inputs": [[0.1], [1e-7], [2e7], [0.33333333]]}')
    # y = 0.5 x + 2 in float32: six significant digits when they read back as the same float32, else nine;
    # whole numbers with '.0'.
    assert response.text == '{"outputs":[[2.05],[2.0],[10000002.0],[2.16666675]]}'


@pytest.mark.parametrize("path,expected", [
    ("/v1/models/half_plus_two", {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}),
    ("/v1/models/half_plus_two/versions/123", {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}),
    ("/v1/models/half_plus_two/labels/stable", {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}),
])
def test_status_as_tf_serving(tfs, path, expected):
    response = tfs.get(path)
    assert response.status_code == 200 and response.json() == expected


def test_metadata_as_tf_serving(tfs):
    metadata = tfs.get("/v1/models/half_plus_two/metadata").json()
    assert metadata["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "123"}
    defs = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "classify_x_to_y", "regress_x_to_y", "regress_x_to_y2",
                         "regress_x2_to_y3"}
    # Every field printed, defaults included, with proto field names: testdata/half_plus_two_model_metadata.json.
    dim = [{"size": "-1", "name": ""}, {"size": "1", "name": ""}]
    assert defs["serving_default"] == {
        "inputs": {"x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dim, "unknown_rank": False}, "name": "x:0"}},
        "outputs": {"y": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dim, "unknown_rank": False}, "name": "y:0"}},
        "method_name": "tensorflow/serving/predict", "defaults": {}}
    assert defs["classify_x_to_y"]["inputs"]["inputs"]["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}],
                                                                           "unknown_rank": False}
    assert tfs.get("/v1/models/half_plus_two/labels/stable/metadata").json() == metadata


def test_the_counter_model_loads_and_keeps_its_state(tfs):
    assert post(tfs, "/v1/models/counter:predict", {"signature_name": "incr_counter_by",
                                                    "inputs": {"delta": 2.5}}) == (200, {"outputs": 2.5})
    assert post(tfs, "/v1/models/counter:predict", {"signature_name": "incr_counter_by",
                                                    "inputs": {"delta": 1.0}}) == (200, {"outputs": 3.5})
    # TF Serving's REST API cannot call a signature without inputs; neither can we, with its message.
    status, answer = post(tfs, "/v1/models/counter:predict", {"signature_name": "get_counter", "inputs": {}})
    assert status == 400 and "Failed to get input map for signature: get_counter" in answer["error"]


@pytest.mark.parametrize("method,path,body,status,message", [
    # http_rest_api_handler_test.cc: UnsupportedApiCalls
    ("GET", "/v1/foo", None, 400, "Malformed request"),
    ("POST", "/v1/foo", "", 400, "Malformed request"),
    ("GET", "/v1/models", None, 400, "Missing model name"),
    ("GET", "/v1/models/debug/model_name", None, 400, "Malformed request"),
    ("POST", "/v1/models", "", 400, "Malformed request"),
    ("GET", "/v1/models/foo:predict", None, 400, "Malformed request"),
    ("GET", "/v1/models/foo/version/50:predict", None, 400, "Malformed request"),
    ("POST", "/v1/models/foo/version/50:regress", "", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/HELLO:regress", "", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/18446744073709551615:regress", "", 400, "Failed to convert version"),
    ("POST", "/v1/models/foo/metadata", "", 400, "Malformed request"),
    ("POST", "/v1/models/foo/label/some_label:regress", "", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", "", 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/some_label:regress", "", 400, "Malformed request"),
    ("DELETE", "/v1/models/half_plus_two", None, 400, "Malformed request: DELETE"),
    # ... PredictModelNameVersionErrors
    ("POST", "/v1/models/foo:predict", '{"instances": [1]}', 404, "Servable not found for request: Latest(foo)"),
    ("POST", "/v1/models/foo/versions/50:predict", '{"instances": [1]}', 404, "Specific(foo, 50)"),
    ("POST", "/v1/models/half_plus_two/versions/99:predict", '{"instances": [1]}', 404,
     "Specific(half_plus_two, 99)"),
    # ... PredictRequestErrors
    ("POST", "/v1/models/half_plus_two:predict", "", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/half_plus_two:predict", "instances = [1, 2]", 400, "JSON Parse error"),
    ("POST", "/v1/models/half_plus_two:predict", '{ "instances": ["x", "y"] }', 400,
     "not of expected type: float"),
    ("POST", "/v1/models/half_plus_two/labels/nope:predict", '{ "instances": ["x", "y"] }', 400,
     "Unrecognized servable version label: nope"),
    ("POST", "/v1/models/half_plus_two:predict", '{ "signature_name": 100 }', 400,
     "'signature_name' key must be a string value."),
    # json_tensor.cc's rules
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [16777216]}', 400,
     "Cannot convert JSON value: 16777216 to float without loss of precision."),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [[1.0], [1.0, 2.0]]}', 400,
     "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 1 but "
     "got: 2"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [], "inputs": []}', 400,
     "expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": []}', 400, "No values in 'instances' array"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": 1}', 400, "Excepting 'instances' to be an list"),
    ("POST", "/v1/models/half_plus_two:predict", '{"rows": 1}', 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/half_plus_two:predict", '[1]', 400, "Is not object"),
    ("POST", "/v1/models/half_plus_two:predict", '{"inputs": [[1.0], 2.0]}', 400, "found at incorrect level"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [{"x": 1.0, "z": 2}]}', 400,
     "does not have named input: z"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [1.0, {"x": 1.0}]}', 400,
     "Expecting value/list but got object at item 1 of input list"),
    ("POST", "/v1/models/half_plus_two:predict", '{"instances": [{"b64": 5}]}', 400,
     "JSON object: does not have named input: b64"),
    ("POST", "/v1/models/half_plus_two:predict", '{"signature_name": "nope", "instances": [1.0]}', 400,
     'Serving signature name: "nope" not found in signature def'),
    # classify / regress
    ("POST", "/v1/models/half_plus_two:regress", '{"signature_name": "regress_x_to_y"}', 400,
     "key 'examples' is expected and was not found"),
    ("POST", "/v1/models/half_plus_two:regress", '{"signature_name": "regress_x_to_y", "examples": []}', 400,
     "'examples' value is an empty array"),
    ("POST", "/v1/models/half_plus_two:regress", '{"signature_name": "regress_x_to_y", "examples": [{"x": [1, 2.5]}]}',
     400, "Unexpected element type in feature: x expecting type: int64"),
    ("POST", "/v1/models/half_plus_two:regress", '{"signature_name": "regress_x_to_y", "examples": [[1]]}', 400,
     "Example must be JSON object but got JSON Array"),
    ("POST", "/v1/models/half_plus_two:classify", '{"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}',
     400, "Expected classification signature outputs to contain at least one of: classes, scores"),
    ("POST", "/v1/models/half_plus_two:regress", '{"signature_name": "nope", "examples": [{"x": 1.0}]}', 400,
     'Serving signature name: "nope" not found in signature def'),
    # status
    ("GET", "/v1/models/nobody", None, 404, "Could not find any versions of model nobody"),
    ("GET", "/v1/models/half_plus_two/versions/7", None, 404, "Could not find version 7 of model half_plus_two"),
    ("GET", "/v1/models/half_plus_two/labels/nope", None, 400, "Unrecognized servable version label: nope"),
])
def test_errors_as_tf_serving(tfs, method, path, body, status, message):
    response = tfs.request(method, path, content=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_prometheus_metrics(tfs):
    tfs.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]})
    page = tfs.get("/monitoring/prometheus/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert ':tensorflow:serving:request_count{model_name="half_plus_two",status="OK"}' in text
    assert ':tensorflow:serving:request_count{model_name="(not served)",status="NOT_FOUND"}' in text
    assert 'model_name="foo"' not in text  # unknown names share one label
    assert ':tensorflow:serving:request_latency_bucket{model_name="half_plus_two",API="predict",entrypoint="REST"' \
           in text
    assert ':tensorflow:cc:saved_model:load_attempt_count{model_path=' in text and 'status="success"} 1' in text
