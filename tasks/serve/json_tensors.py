"""TF Serving's JSON <-> tensor rules for `:predict`, as its `json_tensor.cc` applies them.

Request: `{"signature_name"?, "instances": [row, ...]}` (row format) or `{"inputs": value or {name: value}}`
(columnar). Each JSON value becomes a tensor of the dtype the signature declares; its shape is the nesting of the
JSON lists, and the signature's declared shape is *not* enforced (TF Serving feeds `[1.0, 2.0]` to an input declared
`[-1, 1]`, and so do we). Numbers must convert without loss (a float input takes `16777215` but not `16777216`),
strings are UTF-8 or `{"b64": "..."}`.

Response: `{"predictions": [...]}` per row, or `{"outputs": ...}`; floats in TF Serving's form (six significant
digits when they round-trip, else nine for float32 / seventeen for float64, a `.0` on whole numbers, `NaN` and
`Infinity` as bare tokens); a string output whose name ends in `_bytes` as `{"b64": ...}`; other strings as their
raw bytes, as TF Serving writes them.

Every problem is an `invalid(...)` ServingError carrying TF Serving's own message.
"""

import base64
import binascii
import json
import math
import re

import numpy as np
from tensorflow.core.framework import types_pb2

from tasks.serve.errors import ServingError, invalid

MAX_RANK = 254  # TensorFlow's limit on the number of dimensions of a tensor
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# dtype enum -> (name in messages, numpy dtype)
_DTYPES = {
    types_pb2.DT_FLOAT: ("float", np.float32), types_pb2.DT_DOUBLE: ("double", np.float64),
    types_pb2.DT_INT32: ("int32", np.int32), types_pb2.DT_INT16: ("int16", np.int16),
    types_pb2.DT_INT8: ("int8", np.int8), types_pb2.DT_UINT8: ("uint8", np.uint8),
    types_pb2.DT_INT64: ("int64", np.int64), types_pb2.DT_UINT32: ("uint32", np.uint32),
    types_pb2.DT_UINT64: ("uint64", np.uint64), types_pb2.DT_BOOL: ("bool", np.bool_),
    types_pb2.DT_STRING: ("string", object),
}
_INT32_LIKE = {types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8}
_INTEGER_RANGES = {types_pb2.DT_INT64: (-(1 << 63), (1 << 63) - 1), types_pb2.DT_UINT32: (0, (1 << 32) - 1),
                   types_pb2.DT_UINT64: (0, (1 << 64) - 1)}
_FLOAT_LIMITS = {types_pb2.DT_FLOAT: ((1 << 24) - 1, float(np.finfo(np.float32).max)),
                 types_pb2.DT_DOUBLE: ((1 << 53) - 1, float(np.finfo(np.float64).max))}


def dtype_name(dtype):
    return _DTYPES[dtype][0] if dtype in _DTYPES else types_pb2.DataType.Name(dtype)[3:].lower()


# ---------------------------------------------------------------------------------------------------- parsing

def parse_json(body):
    """The request body as a JSON object, or TF Serving's `JSON Parse error` (NaN and Infinity are accepted,
    as TF Serving's parser accepts them)."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        document = json.loads(body)
    except RecursionError:
        raise invalid("JSON Parse error: The document is nested too deeply") from None
    except UnicodeDecodeError:
        raise invalid("JSON Parse error: Invalid encoding in string.") from None
    except ValueError as error:
        offset = getattr(error, "pos", 0)
        raise invalid(f"JSON Parse error: {getattr(error, 'msg', error)} at offset: {offset}") from None
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(document):
        raise invalid("JSON Parse error: The surrogate pair in string is invalid.")
    if not isinstance(document, dict):
        raise invalid(f"JSON Value: {value_text(document)} Is not object")
    return document


def _has_lone_surrogate(value):
    """Whether a string anywhere in `value` holds half a surrogate pair (`"\\ud800"` alone is not text)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def signature_name(document):
    """The request's `signature_name` ('' when absent: the default signature)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid(f"JSON Value: {value_text(document)} not formatted correctly. 'signature_name' key must be "
                      "a string value.")
    return name


def tensors_from_request(document, input_dtypes):
    """({input name: np.ndarray}, row_format) from a predict request; `input_dtypes` is {name: DataType enum}."""
    if not input_dtypes:
        raise invalid(f"Failed to get input map for signature: {document.get('signature_name') or 'DEFAULT'}")
    has_rows, has_columns = "instances" in document, "inputs" in document
    if has_rows and has_columns:
        raise invalid(f"JSON Value: {value_text(document)} Not formatted correctly expecting only one of 'inputs' "
                      "or 'instances' keys to exist ")
    if has_rows:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise invalid(f"JSON Value: {value_text(document)} Excepting 'instances' to be an list/array")
        if not instances:
            raise invalid(f"JSON Value: {value_text(document)} No values in 'instances' array")
        return _tensors_from_instances(instances, input_dtypes), True
    if has_columns:
        return _tensors_from_inputs(document["inputs"], input_dtypes), False
    raise invalid("Missing 'inputs' or 'instances' key")


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named(value):
    return isinstance(value, dict) and not _is_b64(value)


def _tensors_from_instances(instances, input_dtypes):
    names = sorted(input_dtypes)
    if not isinstance(instances[0], dict) and len(names) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors required "
                      "as per tensorinfo_map")
    named = _is_named(instances[0])
    columns = {}  # name -> (row shape, leaves of every row)
    for index, element in enumerate(instances):
        if named:
            if not _is_named(element):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for name, value in element.items():
                try:
                    _add_row(columns, name, value, input_dtypes)
                except ServingError as error:
                    raise _wrapped(error, f"Failed to process element: {index} key: {name} of 'instances' list. "
                                          "Error: ") from None
            if set(element) != set(names):
                raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                              f"{value_text(element)} must only have keys: {','.join(names)}")
        else:
            if _is_named(element):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                _add_row(columns, names[0], element, input_dtypes)
            except ServingError as error:
                raise _wrapped(error, f"Failed to process element: {index} of 'instances' list. Error: ") from None
    return {name: _array(leaves, input_dtypes[name], (len(instances), *shape))
            for name, (shape, leaves) in columns.items()}


def _wrapped(error, prefix):
    return invalid(f"{prefix}{error.code}: {error.message}")


def _add_row(columns, name, value, input_dtypes):
    if name not in input_dtypes:
        raise invalid(f"JSON object: does not have named input: {name}")
    shape, leaves = _dense(value, input_dtypes[name])
    if name not in columns:
        columns[name] = (shape, leaves)
        return
    first_shape, all_leaves = columns[name]
    if math.prod(first_shape) != math.prod(shape):
        raise invalid(f"Expecting tensor size: {math.prod(first_shape)} but got: {math.prod(shape)}")
    if first_shape != shape:
        raise invalid(f"Expecting shape {_shape_text(first_shape)} but got: {_shape_text(shape)}")
    all_leaves.extend(leaves)


def _tensors_from_inputs(value, input_dtypes):
    names = sorted(input_dtypes)
    if not _is_named(value):
        if len(names) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                          "required as per tensorinfo_map")
        shape, leaves = _dense(value, input_dtypes[names[0]])
        return {names[0]: _array(leaves, input_dtypes[names[0]], shape)}
    tensors = {}
    for name in names:  # other keys are ignored, as TF Serving ignores them
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        shape, leaves = _dense(value[name], input_dtypes[name])
        tensors[name] = _array(leaves, input_dtypes[name], shape)
    return tensors


def _dense(value, dtype):
    """(shape, leaves) of a nested JSON list: the shape follows the first element at every level, and every list
    must have its level's length, every leaf be at the deepest level."""
    shape, probe = [], value
    while isinstance(probe, list):
        shape.append(len(probe))
        if len(shape) > MAX_RANK:
            raise invalid(f"JSON Value nested more than {MAX_RANK} lists deep: a tensor has at most {MAX_RANK} "
                          "dimensions")
        if not probe:
            break
        probe = probe[0]
    leaves = []
    convert = _leaf_converter(dtype)
    _collect(value, 0, shape, convert, leaves)
    return tuple(shape), leaves


def _collect(value, level, shape, convert, leaves):
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid(f"JSON Value: {value_text(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                          f"Expected at level: {len(shape)}")
        leaves.append(convert(value))
        return
    if level >= len(shape):
        raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: "
                      f"{shape[level]}")
    if level == len(shape) - 1 and not any(isinstance(v, list) for v in value):
        leaves.extend(map(convert, value))  # the innermost level: no further nesting to check
        return
    for item in value:
        _collect(item, level + 1, shape, convert, leaves)


def _leaf_converter(dtype):
    """A function that checks one JSON leaf against `dtype` and returns the Python value to store."""
    if dtype not in _DTYPES:
        def unsupported(leaf):
            raise ServingError(501, f"Conversion of JSON Value: {value_text(leaf)} to type: {dtype_name(dtype)}",
                               "UNIMPLEMENTED")
        return unsupported
    if dtype == types_pb2.DT_STRING:
        return _string_leaf
    if dtype == types_pb2.DT_BOOL:
        def boolean(leaf):
            if isinstance(leaf, bool):
                return leaf
            raise _type_error(leaf, dtype)
        return boolean
    if dtype in _FLOAT_LIMITS:
        max_int, max_float = _FLOAT_LIMITS[dtype]

        def decimal(leaf):
            if isinstance(leaf, bool) or not isinstance(leaf, (int, float)):
                raise _type_error(leaf, dtype)
            if isinstance(leaf, int) and abs(leaf) < (1 << 64):
                if abs(leaf) > max_int:
                    raise invalid(f"Cannot convert JSON value: {leaf} to {dtype_name(dtype)} without loss of "
                                  "precision.")
            elif not _finite_or_fits(leaf, max_float):
                raise invalid(f"Cannot convert JSON value: {value_text(leaf)} to {dtype_name(dtype)} without loss "
                              "of precision.")
            return leaf
        return decimal
    low, high = _INTEGER_RANGES.get(dtype, (-(1 << 31), (1 << 31) - 1))

    def integer(leaf):
        if isinstance(leaf, int) and not isinstance(leaf, bool) and low <= leaf <= high:
            return leaf
        raise _type_error(leaf, dtype)
    return integer


def _finite_or_fits(number, max_float):
    """Whether a JSON number fits the float type: NaN and infinities do, as in TF Serving."""
    try:
        value = float(number)
    except OverflowError:  # an integer literal beyond any float
        return False
    return not math.isfinite(value) or abs(value) <= max_float


def _string_leaf(leaf):
    if isinstance(leaf, str):
        return leaf.encode("utf-8")
    if isinstance(leaf, dict):
        if not _is_b64(leaf):
            raise invalid(f"JSON Value: {value_text(leaf)} not formatted correctly for base64 data")
        return _b64decode(leaf["b64"])
    raise _type_error(leaf, types_pb2.DT_STRING)


def _b64decode(text):
    """Standard or URL-safe base64, padded or not (as absl's Base64Unescape takes it)."""
    cleaned = "".join(text.split())
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_" if "-" in cleaned or
                                "_" in cleaned else None, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def _type_error(leaf, dtype):
    return invalid(f"JSON Value: {value_text(leaf)} Type: {json_type(leaf)} is not of expected type: "
                   f"{dtype_name(dtype)}")


def _array(leaves, dtype, shape):
    numpy_dtype = _DTYPES[dtype][1]
    if dtype in _INT32_LIKE and numpy_dtype is not np.int32:
        # TF Serving stores int8/int16/uint8 values as int32 and narrows them when it builds the tensor.
        return np.array(leaves, dtype=np.int64).astype(numpy_dtype).reshape(shape)
    if numpy_dtype is object:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        return array.reshape(shape)
    return np.array(leaves, dtype=numpy_dtype).reshape(shape)


def json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def value_text(value, limit=2000):
    """A JSON value as error messages quote it (cut at `limit` characters: a message never echoes a whole body)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=True)
    return text if len(text) <= limit else text[:limit] + "..."


def _shape_text(shape):
    return "[" + ",".join(map(str, shape)) + "]"


# ---------------------------------------------------------------------------------------------------- writing

def format_float(value, double=False):
    """One float as TF Serving writes it: `%.6g` if that reads back as the same value, else full precision;
    whole numbers get `.0`; NaN and infinities as the bare tokens JSON parsers in JavaScript and Python accept."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%.6g" % value
    if (float(text) if double else np.float32(text)) != value:
        text = ("%.17g" if double else "%.9g") % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


_ESCAPES = {b'"': b'\\"', b"\\": b"\\\\", b"\b": b"\\b", b"\f": b"\\f", b"\n": b"\\n", b"\r": b"\\r",
            b"\t": b"\\t"}
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')


def _string_bytes(value):
    """A JSON string of `value`'s bytes, escaped as rapidjson escapes (the bytes themselves are written as they
    are, so a string output that is not UTF-8 comes out as TF Serving writes it)."""
    return b'"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m[0], b"\\u%04x" % m[0][0]), value) + b'"'


def _leaf_writer(array, name):
    kind = array.dtype.kind
    if kind in "OS":
        if name.endswith("_bytes"):
            return lambda b: b'{"b64":"' + base64.b64encode(b) + b'"}'
        return _string_bytes
    if kind == "f":
        if array.dtype == np.float32:
            return lambda x: format_float(x).encode()
        if array.dtype == np.float64:
            return lambda x: format_float(x, double=True).encode()
    elif kind == "b":
        return lambda x: b"true" if x else b"false"
    elif kind in "iu":
        return lambda x: str(x).encode()
    raise invalid(f"Failed to write JSON value for tensor type: {array.dtype}")


def _write(value, write_leaf, out):
    if isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            if i:
                out.append(b",")
            _write(item, write_leaf, out)
        out.append(b"]")
    else:
        out.append(write_leaf(value))


def response_body(outputs, row_format):
    """The JSON bytes of a predict response for `outputs` {name: np.ndarray}."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    out = []
    if row_format:
        batch = None
        for name in names:
            shape = np.shape(outputs[name])
            if not shape:
                raise invalid(f"Tensor name: {name} has no shape information ")
            if shape[0] < 1:
                raise invalid(f"Tensor name: {name} has invalid batch size: {shape[0]}")
            if batch is not None and batch != shape[0]:
                raise invalid(f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}")
            batch = shape[0]
        writers = {name: _leaf_writer(np.asarray(outputs[name]), name) for name in names}
        values = {name: np.asarray(outputs[name]).tolist() for name in names}
        out.append(b'{"predictions":[')
        for row in range(batch):
            if row:
                out.append(b",")
            if len(names) == 1:
                _write(values[names[0]][row], writers[names[0]], out)
                continue
            out.append(b"{")
            for i, name in enumerate(names):
                out.append(b"," * bool(i) + json.dumps(name).encode() + b":")
                _write(values[name][row], writers[name], out)
            out.append(b"}")
        out.append(b"]}")
    else:
        out.append(b'{"outputs":')
        if len(names) > 1:
            out.append(b"{")
        for i, name in enumerate(names):
            array = np.asarray(outputs[name])
            if len(names) > 1:
                out.append(b"," * bool(i) + json.dumps(name).encode() + b":")
            _write(array.tolist(), _leaf_writer(array, name), out)
        if len(names) > 1:
            out.append(b"}")
        out.append(b"}")
    return b"".join(out)


def write_results(results, write_item):
    """`{"results": [...]}` for classify and regress, each item written by `write_item(item) -> bytes`."""
    return b'{"results":[' + b",".join(write_item(item) for item in results) + b"]}"
