"""TF Serving's JSON <-> tensor rules without a server: dtypes, shapes, lossless numbers, b64, the writer."""

import base64
import json

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2 as t

from tasks.serve.errors import ServingError
from tasks.serve.json_tensors import format_float, parse_json, response_body, tensors_from_request

TEXT = {"text": t.DT_STRING}
PAIR = {"ids": t.DT_INT32, "scale": t.DT_FLOAT}


def test_row_format_bare_and_named_values_and_b64():
    inputs, rows = tensors_from_request({"instances": ["a", {"b64": base64.b64encode(b"\xff\x00").decode()}]}, TEXT)
    assert rows and inputs["text"].tolist() == [b"a", b"\xff\x00"]
    inputs, _ = tensors_from_request({"instances": [{"ids": [1, 2], "scale": 0.5}, {"ids": [3, 4], "scale": 2}]},
                                     PAIR)
    assert inputs["ids"].dtype == np.int32 and inputs["ids"].shape == (2, 2)
    assert inputs["scale"].dtype == np.float32 and inputs["scale"].tolist() == [0.5, 2.0]


def test_columnar_format_takes_any_shape_and_ignores_other_keys():
    inputs, rows = tensors_from_request({"inputs": {"ids": [[1], [2]], "scale": 3, "extra": "ignored"}}, PAIR)
    assert not rows and inputs["ids"].tolist() == [[1], [2]] and inputs["scale"].shape == ()
    inputs, _ = tensors_from_request({"inputs": ["x", "y"]}, TEXT)
    assert inputs["text"].tolist() == [b"x", b"y"]


def test_integer_dtypes_narrow_as_tf_serving_does():
    inputs, _ = tensors_from_request({"inputs": [1, 255, 256]}, {"x": t.DT_UINT8})
    assert inputs["x"].dtype == np.uint8 and inputs["x"].tolist() == [1, 255, 0]  # stored as int32, then narrowed
    inputs, _ = tensors_from_request({"inputs": [2 ** 40]}, {"x": t.DT_INT64})
    assert inputs["x"].tolist() == [2 ** 40]


@pytest.mark.parametrize("body,dtypes,status,message", [
    ({"instances": [{"ids": [1], "scale": 1}, {"ids": [1, 2], "scale": 1}]}, PAIR, 400,
     "Failed to process element: 1 key: ids of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: "
     "1 but got: 2"),
    ({"instances": [[[1, 2]], [[1], [2]]]}, {"x": t.DT_INT32}, 400, "Expecting shape [1,2] but got: [2,1]"),
    ({"inputs": {"ids": [[1]], "scale": [True]}}, PAIR, 400,
     "JSON Value: true Type: True is not of expected type: float"),
    ({"inputs": {"ids": [[3e10]], "scale": [1]}}, PAIR, 400, "Type: Number is not of expected type: int32"),
    ({"inputs": {"ids": [[1.0]], "scale": [1]}}, PAIR, 400, "JSON Value: 1.0 Type: Number is not of expected"),
    ({"inputs": {"ids": [[1]]}}, PAIR, 400, "Missing named input: scale in 'inputs' object."),
    ({"inputs": [1]}, PAIR, 400, "inputs is a plain value/list, but expecting an object"),
    ({"instances": [1]}, PAIR, 400, "instances is a plain list, but expecting list of objects"),
    ({"instances": [{"ids": [1]}]}, PAIR, 400, "must only have keys: ids,scale"),
    ({"inputs": [[1, 2], [3]]}, {"x": t.DT_INT32}, 400, "Encountered list at unexpected size: 1 at level: 1"),
    ({"inputs": [1, [2]]}, {"x": t.DT_INT32}, 400, "Encountered list at unexpected level: 1 expected < 1"),
    ({"inputs": [{"b64": "***"}]}, TEXT, 400, "Unable to base64 decode"),
    ({"inputs": [{"bytes": "x"}]}, TEXT, 400, "not formatted correctly for base64 data"),
    ({"inputs": [3.4e38, 3.5e39]}, {"x": t.DT_FLOAT}, 400,
     "Cannot convert JSON value: 3.5e+39 to float without loss of precision."),
    ({"inputs": [1.0]}, {"x": t.DT_HALF}, 501, "Conversion of JSON Value: 1.0 to type: half"),
    ({"inputs": 1}, {}, 400, "Failed to get input map for signature: DEFAULT"),
])
def test_bad_inputs_get_tf_servings_messages(body, dtypes, status, message):
    with pytest.raises(ServingError) as error:
        tensors_from_request(body, dtypes)
    assert error.value.status == status and message in error.value.message


@pytest.mark.parametrize("body,message", [
    (b"", "The document is empty"),
    (b"{not json", "JSON Parse error"),
    (b'{"a": "\\ud800"}', "The surrogate pair in string is invalid."),
    (b"[" * 100000 + b"]" * 100000, "JSON Parse error"),
    (b'{"instances": [' + b"9" * 5000 + b"]}", "JSON Parse error"),
    (b"[1]", "Is not object"),
])
def test_bodies_that_are_not_json_objects(body, message):
    with pytest.raises(ServingError) as error:
        parse_json(body)
    assert error.value.status == 400 and message in error.value.message


def test_a_deep_but_valid_nesting_is_refused_past_tensorflows_rank_limit():
    deep = json.loads("[" * 300 + "1" + "]" * 300)
    with pytest.raises(ServingError, match="at most 254 dimensions"):
        tensors_from_request({"inputs": deep}, {"x": t.DT_INT32})


@pytest.mark.parametrize("value,double,text", [
    (0.5, False, "0.5"), (3.0, False, "3.0"), (float(np.float32(0.1)), False, "0.1"),
    (float(np.float32(1 / 3)), False, "0.333333343"), (1e-5, True, "1e-05"), (9e6, False, "9e+06"),
    (1 / 3, True, "0.33333333333333331"), (float("nan"), False, "NaN"), (float("-inf"), True, "-Infinity"),
])
def test_floats_are_written_as_tf_serving_writes_them(value, double, text):
    assert format_float(value, double) == text


def test_response_rows_columns_bytes_and_raw_strings():
    outputs = {"score": np.float32([0.25, 0.5]), "label": np.array([b"pos", b'"q"\n'], dtype=object),
               "raw_bytes": np.array([b"\x01", b"\x02"], dtype=object)}
    rows = json.loads(response_body(outputs, row_format=True))["predictions"]
    assert rows[0] == {"score": 0.25, "label": "pos", "raw_bytes": {"b64": "AQ=="}}
    assert rows[1]["label"] == '"q"\n'
    assert response_body({"score": np.float32([0.25, np.nan])}, row_format=False) == b'{"outputs":[0.25,NaN]}'
    assert response_body({"x": np.array([b"\xff"], dtype=object)}, False) == b'{"outputs":["\xff"]}'  # as is
    for outputs, message in (({"a": np.zeros(2), "b": np.zeros(3)}, "inconsistent batch size: 3 expecting: 2"),
                             ({"a": np.float32(1)}, "has no shape information"),
                             ({"a": np.zeros(0)}, "invalid batch size: 0")):
        with pytest.raises(ServingError, match=message):
            response_body(outputs, row_format=True)
