"""Malformed requests, generated: every answer is a 200 or a 4xx JSON error, never a 5xx, and the server lives.

A bounded, seeded load on loopback: a few hundred requests mixing broken JSON, wrong types, odd shapes, hostile
strings and numbers, and odd paths, to a TF1 model (half_plus_two) and a TF2 model with string and integer inputs.
"""

import collections
import json
import random

import pytest
import tensorflow as tf

from tests.tasks.serve.conftest import running_server
from tests.tasks.serve.tfserving_models import export_half_plus

pytestmark = pytest.mark.xdist_group("serve")
REQUESTS = 600


class Words(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.int32)])
    def serve(self, text, ids):
        return {"length": tf.cast(tf.strings.length(text), tf.float32), "total": tf.reduce_sum(ids, axis=-1)}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    export_half_plus(base / "half_plus_two" / "1")
    module = Words()
    tf.saved_model.save(module, str(base / "words" / "1"), signatures={"serving_default": module.serve})
    with running_server("--model-base-path", base, "--poll-seconds", "0", "--max-body-bytes", 100000,
                        "--max-rows-per-request", 500, "--log-level", "warning") as client:
        yield client


def random_value(rng, depth=0):
    kind = rng.randrange(12 if depth < 4 else 8)
    return [
        lambda: rng.choice([0, 1, -1, 2 ** 31, 2 ** 63, 2 ** 64, -2 ** 70, 10 ** 30]),
        lambda: rng.choice([0.5, -0.0, 1e38, 1e39, 1e-45, 3.4e38, float("nan"), float("inf")]),
        lambda: rng.choice(["", "a", "é", "\u0000", "\ud83d\ude00", "x" * 1000, "\\", '"']),
        lambda: rng.choice([True, False, None]),
        lambda: {"b64": rng.choice(["AQ==", "AQ", "***", "", "-_-_"])},
        lambda: {"b64": rng.randrange(5)},
        lambda: {},
        lambda: [],
        lambda: [random_value(rng, depth + 1) for _ in range(rng.randrange(1, 4))],
        lambda: [[random_value(rng, depth + 2)] * 2] * rng.randrange(1, 3),
        lambda: {rng.choice(["x", "text", "ids", "b64", "inputs", ""]): random_value(rng, depth + 1)},
        lambda: [rng.random() for _ in range(rng.randrange(1, 5))],
    ][kind]()


def random_body(rng):
    choice = rng.randrange(10)
    if choice == 0:
        return rng.choice([b"", b"{", b"null", b"[]", b'{"instances": [1,', b"\xff\xfe", b'"\\ud800"',
                           b"[" * 2000, b'{"instances": [' + b"1," * 50000 + b"1]}", b'{"a":' * 900 + b"1" +
                           b"}" * 900, b'{"instances": ["\\udc00"]}', b'{"inputs": 1e999}'])
    if choice in (1, 2, 3):  # near-valid: right keys and types, values from the hostile set
        number = rng.choice([0.5, -0.0, 1e38, 1e-45, float("nan"), 7, 2 ** 24])
        text = rng.choice(["", "é", "\u0000", "x" * 1000, "\ud83d\ude00"])
        return json.dumps(rng.choice([
            {"instances": [number] * rng.randrange(1, 4)},
            {"inputs": [[number]] * rng.randrange(1, 4)},
            {"instances": [{"text": text, "ids": [rng.randrange(-9, 9)] * 3}] * rng.randrange(1, 4)},
            {"inputs": {"text": [text], "ids": [[1, 2]]}},
            {"signature_name": "regress_x_to_y", "examples": [{"x": number}], "context": {"x2": 1.0}},
            {"signature_name": "classify_x_to_y", "examples": [{"x": [number]}]},
        ]), allow_nan=True).encode()
    document = {}
    for key in rng.sample(["instances", "inputs", "signature_name", "examples", "context"], rng.randrange(1, 3)):
        document[key] = random_value(rng)
    if rng.random() < 0.3:
        document["signature_name"] = rng.choice(["serving_default", "regress_x_to_y", "classify_x_to_y", "", "nope"])
    if rng.random() < 0.2:
        document["instances"] = [{"text": random_value(rng), "ids": random_value(rng)} for _ in range(2)]
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


def random_path(rng):
    if rng.random() < 0.4:  # well-formed paths, so that many bodies reach the models
        return rng.choice(["/v1/models/half_plus_two:predict", "/v1/models/words:predict",
                           "/v1/models/half_plus_two:regress", "/v1/models/half_plus_two:classify"])
    model = rng.choice(["half_plus_two", "words", "nobody", "HALF_PLUS_TWO", "%2e%2e", "a%00b", "é"])
    spec = rng.choice(["", "/versions/1", "/versions/2", "/versions/" + "9" * 40, "/versions/²", "/labels/x",
                       "/versions/-1", "/labels/%ff"])
    verb = rng.choice([":predict", ":classify", ":regress", ":PREDICT", ":explain", "/metadata", ""])
    return f"/v1/models/{model}{spec}{verb}"


def test_generated_malformed_requests_never_get_a_5xx(fuzz_server):
    rng = random.Random(20261122)
    seen = collections.Counter()
    for i in range(REQUESTS):
        method = rng.choice(["POST", "POST", "POST", "GET", "PUT"])
        path = random_path(rng)
        body = random_body(rng) if method != "GET" else b""
        response = fuzz_server.request(method, path, content=body)
        seen[response.status_code] += 1
        assert response.status_code < 500, (method, path, body[:300], response.text[:500])
        if response.status_code != 200:
            assert isinstance(response.json()["error"], str), (path, response.text[:200])
        if i % 100 == 0:
            assert fuzz_server.get("/healthz").status_code == 200
    assert fuzz_server.post("/v1/models/half_plus_two:predict", json={"instances": [1.0]}).json() == {
        "predictions": [2.5]}
    assert {200, 400, 404} <= set(seen) and seen[200] >= 10, seen  # the mix reached the models, not only the parser
