"""TF Serving's REST predict format: JSON request -> named numpy inputs, named outputs -> JSON response.

Row format: `{"instances": [row, ...]}` -> `{"predictions": [...]}`. A row is a bare value when the signature has one
input, else an object `{input_name: value}`. Columnar format: `{"inputs": value or {input_name: value}}` ->
`{"outputs": value or {output_name: value}}`. Strings travel as JSON strings (UTF-8) or as `{"b64": "..."}`
for arbitrary bytes; a string output whose name ends in `_bytes`, or that is not UTF-8, is answered as `{"b64": ...}`.
Every problem with a request is a `ServingError(400, ...)` that names the input and what was expected.
"""

import base64
import binascii
import json
import math

import numpy as np
from tensorflow.core.framework import types_pb2

from tasks.serve.errors import ServingError


def parse_body(body):
    """The request JSON as a dict, or a 400 that says why not."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ServingError(400, f"JSON Parse error: {error}") from None
    if not isinstance(request, dict):
        raise ServingError(400, "JSON Value: the request body must be a JSON object with 'instances' or 'inputs'.")
    return request


def parse_inputs(request, specs):
    """(inputs {name: np.ndarray}, row_format) from a predict request, checked against `specs` {name: TensorSpec}."""
    if ("instances" in request) == ("inputs" in request):
        raise ServingError(400, "Missing 'instances' or 'inputs' key: give exactly one of them.")
    if "instances" in request:
        columns = _columns_from_rows(request["instances"], specs)
    else:
        columns = _named(request["inputs"], specs, where="'inputs'")
    inputs = {name: to_array(value, specs[name], name) for name, value in columns.items()}
    return inputs, "instances" in request


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _named(value, specs, *, where):
    """`{input_name: value}`, accepting a bare value when the signature has a single input."""
    if isinstance(value, dict) and not _is_b64(value):
        if set(value) != set(specs):
            raise ServingError(400, f"{where} names inputs {sorted(value)}; the signature takes {sorted(specs)}.")
        return value
    if len(specs) != 1:
        raise ServingError(400, f"{where} must be an object naming each of the inputs {sorted(specs)}.")
    return {next(iter(specs)): value}


def _columns_from_rows(instances, specs):
    if not isinstance(instances, list) or not instances:
        raise ServingError(400, "'instances' must be a non-empty list, one element per example.")
    rows = [_named(row, specs, where=f"instance {i}") for i, row in enumerate(instances)]
    return {name: [row[name] for row in rows] for name in specs}


def to_array(value, spec, name):
    """`value` (nested JSON lists) as an array of `spec`'s dtype, or a 400 naming the dtype or shape problem."""
    shape, leaves = _shape_and_leaves(value, name)
    dtype = spec.dtype
    if dtype.name == "string":
        array = np.array([_as_bytes(leaf, name) for leaf in leaves], dtype=object).reshape(shape)
    else:
        array = np.array([_as_number(leaf, dtype, name) for leaf in leaves],
                         dtype=dtype.as_numpy_dtype).reshape(shape)
    if not spec.shape.is_compatible_with(shape):
        expected = [-1 if d is None else d for d in spec.shape.as_list()]
        raise ServingError(400, f"input '{name}' has shape {list(shape)}; the signature takes {expected} "
                                "(-1: any size).")
    return array


def _shape_and_leaves(value, name):
    if not isinstance(value, list):
        return (), [value]
    if not value:
        return (0,), []
    parts = [_shape_and_leaves(v, name) for v in value]
    inner = parts[0][0]
    if any(shape != inner for shape, _ in parts):
        raise ServingError(400, f"input '{name}' is ragged (its lists have different lengths); pad it to one shape.")
    return (len(value), *inner), [leaf for _, leaves in parts for leaf in leaves]


def _as_bytes(leaf, name):
    if isinstance(leaf, str):
        return leaf.encode("utf-8")
    if _is_b64(leaf) and isinstance(leaf["b64"], str):
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except binascii.Error:
            raise ServingError(400, f"input '{name}' has a 'b64' value that is not valid base64.") from None
    raise ServingError(400, f"input '{name}' takes strings (DT_STRING); got {json.dumps(leaf)[:50]}.")


def _as_number(leaf, dtype, name):
    dtype_name = types_pb2.DataType.Name(dtype.as_datatype_enum)  # as the metadata names it: DT_FLOAT, DT_INT32
    if dtype.is_bool:
        if isinstance(leaf, bool):
            return leaf
    elif isinstance(leaf, (int, float)) and not isinstance(leaf, bool):
        if dtype.is_integer:
            if isinstance(leaf, float) and not leaf.is_integer():
                raise ServingError(400, f"input '{name}' takes integers ({dtype_name}); got {leaf}.")
            if not dtype.min <= leaf <= dtype.max:
                raise ServingError(400, f"input '{name}' value {leaf} is outside {dtype_name}'s range "
                                        f"[{dtype.min}, {dtype.max}].")
        return leaf
    raise ServingError(400, f"input '{name}' takes numbers ({dtype_name}); got {json.dumps(leaf)[:50]}.")


def format_outputs(outputs, row_format):
    """The response body for `outputs` {name: np.ndarray}: `predictions` per row, or columnar `outputs`."""
    if not row_format:
        values = {name: _to_json(array, name) for name, array in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    batch = {name: np.shape(array)[0] if np.ndim(array) else None for name, array in outputs.items()}
    if len(set(batch.values())) != 1 or None in batch.values():
        raise ServingError(400, f"outputs have different batch sizes {batch}; ask in the columnar format "
                                "('inputs') instead.")
    columns = {name: _to_json(array, name) for name, array in outputs.items()}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    rows = next(iter(batch.values()))
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(rows)]}


def _to_json(array, name):
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind == "S":
        return _map_nested(array.tolist(), lambda b: _bytes_to_json(b, name))
    if array.dtype.kind == "f":
        return _map_nested(array.tolist(), lambda x: x if math.isfinite(x) else str(x))  # JSON has no NaN
    return array.tolist()


def _bytes_to_json(value, name):
    if not name.endswith("_bytes"):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _map_nested(value, fn):
    return [_map_nested(v, fn) for v in value] if isinstance(value, list) else fn(value)
