"""`:classify` and `:regress`: JSON examples -> serialized `tf.train.Example`s -> the signature -> results.

Request: `{"signature_name"?, "context"?: {feature: value(s)}, "examples": [{feature: value(s)}, ...]}`. A feature's
values are all strings (bytes, or `{"b64": ...}`), all integers (and booleans), or all floats; the context's
features join every example (the example's own win on a clash), as TF Serving merges them. The signature takes
the serialized examples as its one input and answers `scores` and/or `classes` (classify: `[batch, classes]`) or
`outputs` (regress: `[batch]` or `[batch, 1]`).

Response: classify `{"results": [[[label, score], ...], ...]}`, regress `{"results": [value, ...]}`.
"""

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2

from tasks.serve.errors import invalid
from tasks.serve.json_tensors import (
    _b64decode,
    _is_b64,
    _string_bytes,
    format_float,
    json_type,
    signature_name,
    value_text,
    write_results,
)

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
_MAX_FLOAT32_INT = (1 << 24) - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def serialized_examples(document):
    """The request's examples as serialized `tf.train.Example` bytes, context merged in."""
    signature_name(document)  # the same check as predict's
    context = _example(document["context"]) if "context" in document else None
    examples = document.get("examples")
    if "examples" not in document:
        raise invalid(f"JSON Value: {value_text(document)} When method is classify, key 'examples' is expected and "
                      "was not found")
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {value_text(document)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {value_text(document)} 'examples' value is an empty array")
    serialized = []
    for value in examples:
        example = _example(value)
        if context is not None:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            for name, feature in example.features.feature.items():
                merged.features.feature[name].CopyFrom(feature)
            example = merged
        serialized.append(example.SerializeToString())
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _example(value):
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature = feature_pb2.Feature()
        for item in content if isinstance(content, list) else [content]:
            _add_to_feature(item, name, feature)
        example.features.feature[name].CopyFrom(feature)
    return example


def _add_to_feature(value, name, feature):
    if isinstance(value, bool):
        _require_kind(feature, "int64_list", name).value.append(int(value))
    elif isinstance(value, str):
        _require_kind(feature, "bytes_list", name).value.append(value.encode("utf-8"))
    elif _is_b64(value):
        _require_kind(feature, "bytes_list", name).value.append(_b64decode(value["b64"]))
    elif isinstance(value, int) and abs(value) < (1 << 64):
        if value >= (1 << 63) or value < -(1 << 63):
            raise invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        _require_kind(feature, "int64_list", name).value.append(value)
    elif isinstance(value, (int, float)):
        number = _as_float32(value)
        _require_kind(feature, "float_list", name).value.append(number)
    else:
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")


def _as_float32(value):
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond any float
        raise invalid(f"Cannot convert JSON value: {value_text(value)} to float without loss of precision.") \
            from None
    if np.isfinite(number) and abs(number) > _FLOAT32_MAX:
        raise invalid(f"Cannot convert JSON value: {value_text(value)} to float without loss of precision.")
    return number


def _require_kind(feature, kind, name):
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        expected = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}[current]
        raise invalid(f"Unexpected element type in feature: {name} expecting type: {expected}")
    return getattr(feature, kind)


def _input_alias(signature, method, check_method):
    """The signature's one input, which takes the serialized examples (and its method name, when checked)."""
    if check_method and signature.method_name != method:
        kind = "classification" if method == CLASSIFY_METHOD else "regression"
        raise invalid(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    return next(iter(signature.inputs))


def classify(version, document, *, check_method=False):
    """The body of a `:classify` answer from `version` (a LoadedVersion)."""
    name = signature_name(document)
    signature = version.signature(name)
    input_alias = _input_alias(signature, CLASSIFY_METHOD, check_method)
    if len(signature.outputs) not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise invalid("Expected classification signature outputs to contain at least one of: classes, scores. "
                      f"Signature was: {sorted(signature.outputs)}")
    examples = serialized_examples(document)
    outputs = version.run(name, {input_alias: examples})
    batch = len(examples)
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for alias, tensor, dtype in (("classes", classes, types_pb2.DT_STRING), ("scores", scores, types_pb2.DT_FLOAT)):
        if tensor is None:
            continue
        if signature.outputs[alias].dtype != dtype:
            raise invalid(f"Expected {alias} Tensor of {types_pb2.DataType.Name(dtype)}. Got: "
                          f"{types_pb2.DataType.Name(signature.outputs[alias].dtype)}")
        if tensor.ndim != 2:
            raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}")
        if tensor.shape[0] != batch:
            raise invalid(f"Input batch size did not match output batch size: {batch} vs. {tensor.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid(f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. "
                      f"{scores.shape[1]}")
    width = (classes if classes is not None else scores).shape[1]

    def write_row(row):
        pairs = []
        for j in range(width):
            label = classes[row, j] if classes is not None else b""
            score = float(scores[row, j]) if scores is not None else 0.0
            pairs.append(b"[" + _string_bytes(label) + b"," + format_float(score).encode() + b"]")
        return b"[" + b",".join(pairs) + b"]"

    return write_results(range(batch), write_row)


def regress(version, document, *, check_method=False):
    """The body of a `:regress` answer from `version`."""
    name = signature_name(document)
    signature = version.signature(name)
    input_alias = _input_alias(signature, REGRESS_METHOD, check_method)
    if len(signature.outputs) != 1:
        raise invalid("Expected one output Tensor.")
    if "outputs" not in signature.outputs:
        raise invalid(f"No output Tensor named 'outputs' in signature: {sorted(signature.outputs)}")
    if signature.outputs["outputs"].dtype != types_pb2.DT_FLOAT:
        raise invalid("Expected output Tensor of DT_FLOAT.  Got: "
                      f"{types_pb2.DataType.Name(signature.outputs['outputs'].dtype)}")
    examples = serialized_examples(document)
    values = version.run(name, {input_alias: examples})["outputs"]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise invalid(f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                      f"{list(values.shape)}")
    if values.shape[0] != len(examples):
        raise invalid(f"Input batch size did not match output batch size: {len(examples)} vs. {values.shape[0]}")
    return write_results(values.reshape(-1).tolist(), lambda v: format_float(v).encode())

