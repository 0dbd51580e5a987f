"""TF Serving's own test SavedModels, built here the way its `testdata/` scripts build them (TF1 graphs through
`tf.compat.v1`, SavedModelBuilder, the same tensor names and signatures), so the conformance tests serve what
TF Serving's tests serve without downloading anything.

- `half_plus_two`: y = 0.5 x + 2 from a parsed tf.Example, with an asset file and a main op; signatures
  `serving_default` (x -> y, both declared [-1, 1]), `classify_x_to_y`, `regress_x_to_y`, `regress_x_to_y2`
  (0.5 x + 3) and `regress_x2_to_y3` (x2 -> 0.5 x2 + 3).
- `half_plus_three`: the same graph with b = 3 (the REST API documentation's example).
- `counter`: a variable with `get_counter`, `incr_counter`, `incr_counter_by` and `reset_counter` signatures.
"""

import tensorflow as tf

v1 = tf.compat.v1


def _tensor_info(tensor):
    return v1.saved_model.utils.build_tensor_info(tensor)


def _signature(inputs, outputs, method):
    return v1.saved_model.signature_def_utils.build_signature_def(
        {k: _tensor_info(t) for k, t in inputs.items()}, {k: _tensor_info(t) for k, t in outputs.items()}, method)


def export_half_plus(path, b=2.0):
    """TF Serving's `saved_model_half_plus_two` (b=2) or `saved_model_half_plus_three` (b=3) in `path`."""
    predict, classify, regress = (v1.saved_model.signature_constants.PREDICT_METHOD_NAME,
                                  v1.saved_model.signature_constants.CLASSIFY_METHOD_NAME,
                                  v1.saved_model.signature_constants.REGRESS_METHOD_NAME)
    with tf.Graph().as_default(), v1.Session() as session:
        a, b_, c = v1.Variable(0.5, name="a"), v1.Variable(b, name="b"), v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32),
                                               "x2": v1.FixedLenFeature([1], tf.float32, default_value=[0.0])})
        x = tf.identity(parsed["x"], name="x")
        y = tf.identity(a * x + b_, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(parsed["x2"], name="x2")
        y3 = tf.identity(v1.Variable(0.5, name="a2") * x2 + v1.Variable(3.0, name="c2"), name="y3")
        asset = tf.constant(str(_asset(path)))
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset)
        filename = v1.Variable("foo.txt", name="filename_tensor", trainable=False, collections=[])
        signatures = {
            "serving_default": _signature({"x": x}, {"y": y}, predict),
            "classify_x_to_y": _signature({"inputs": serialized}, {"scores": y}, classify),
            "regress_x_to_y": _signature({"inputs": serialized}, {"outputs": y}, regress),
            "regress_x_to_y2": _signature({"inputs": serialized}, {"outputs": y2}, regress),
            "regress_x2_to_y3": _signature({"inputs": x2}, {"outputs": y3}, regress),
        }
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map=signatures,
            assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(filename.assign("foo.txt")))
        builder.save()


def _asset(path):
    folder = path.parent / f".assets-{path.name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "foo.txt").write_text("asset-file-contents")
    return folder / "foo.txt"


def export_counter(path):
    """TF Serving's `saved_model_counter` in `path`."""
    method = v1.saved_model.signature_constants.PREDICT_METHOD_NAME
    with tf.Graph().as_default(), v1.Session() as session:
        counter = v1.Variable(0.0, dtype=tf.float32, name="counter", use_resource=False)  # TF1's kind
        incr = counter.assign_add(1.0)
        delta = v1.placeholder(dtype=tf.float32, name="delta")
        incr_by = counter.assign_add(delta)
        reset = counter.assign(0.0)
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(str(path))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "get_counter": _signature({}, {"output": counter}, method),
            "incr_counter": _signature({}, {"output": incr}, method),
            "incr_counter_by": _signature({"delta": delta}, {"output": incr_by}, method),
            "reset_counter": _signature({}, {"output": reset}, method)})
        builder.save()
