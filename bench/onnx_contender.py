"""The sentiment recipe's default model as an ONNX graph with ONNX's native LSTM op, for ONNX Runtime; bench only
(`pip install onnx onnxruntime`).

Built by hand from the Keras weights, not with tf2onnx: tf2onnx's conversion of this model turns the masked max
pooling's select-with-minus-infinity into a multiply and answers NaN. Tokenizing stays in Python (the vectorizer),
as an ONNX Runtime user would do it.
"""

import numpy as np


def _gates_onnx_order(weights):
    """Keras's gate blocks i, f, c, o along the last axis -> ONNX's i, o, f, c."""
    i, f, c, o = np.split(weights, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def sentiment_onnx(model):
    """A serialized ONNX model: int64 ids [batch, time] (0 = padding) -> probability [batch], the same function as
    the zoo's many_to_one BiLSTM with masked max pooling."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bidirectional = model.get_layer("rnn_0")
    units = bidirectional.forward_layer.units
    kernels, recurrents, biases = [], [], []
    for layer in (bidirectional.forward_layer, bidirectional.backward_layer):
        kernel, recurrent, bias = (w.numpy() for w in layer.cell.weights)
        kernels.append(_gates_onnx_order(kernel).T)
        recurrents.append(_gates_onnx_order(recurrent).T)
        biases.append(np.concatenate([_gates_onnx_order(bias), np.zeros(4 * units, np.float32)]))
    dense_kernel, dense_bias = (w.numpy() for w in model.get_layer("outputs").weights)
    initializers = [numpy_helper.from_array(np.asarray(a, np.float32), name) for name, a in (
        ("embeddings", model.get_layer("embedding").embeddings.numpy()), ("W", np.stack(kernels)),
        ("R", np.stack(recurrents)), ("B", np.stack(biases)), ("dense_kernel", dense_kernel),
        ("dense_bias", dense_bias), ("minus_inf", np.array(-np.inf, np.float32)))]
    initializers += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (
        ("zero", 0), ("time_axis", [1]), ("last_axis", [-1]), ("flat_shape", [0, 0, -1]))]
    nodes = [
        helper.make_node("Gather", ["embeddings", "ids"], ["embedded"]),
        helper.make_node("Transpose", ["embedded"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node("Equal", ["ids", "zero"], ["is_padding"]),
        helper.make_node("Not", ["is_padding"], ["is_real"]),
        helper.make_node("Cast", ["is_real"], ["real_int"], to=TensorProto.INT32),
        helper.make_node("ReduceSum", ["real_int", "time_axis"], ["lengths"], keepdims=0),
        helper.make_node("LSTM", ["time_major", "W", "R", "B", "lengths"], ["Y"], direction="bidirectional",
                         hidden_size=units),
        helper.make_node("Transpose", ["Y"], ["batch_major"], perm=[2, 0, 1, 3]),  # [batch, time, 2, units]
        helper.make_node("Reshape", ["batch_major", "flat_shape"], ["outputs"]),
        helper.make_node("Unsqueeze", ["is_real", "last_axis"], ["real_steps"]),
        helper.make_node("Where", ["real_steps", "outputs", "minus_inf"], ["masked"]),
        helper.make_node("ReduceMax", ["masked", "time_axis"], ["pooled"], keepdims=0),
        helper.make_node("MatMul", ["pooled", "dense_kernel"], ["logit_matrix"]),
        helper.make_node("Add", ["logit_matrix", "dense_bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probability_matrix"]),
        helper.make_node("Squeeze", ["probability_matrix", "last_axis"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "sentiment", [helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None])], initializers)
    # IR version 9 (ONNX 1.15, opset 18's own): a newer onnx package would stamp one older runtimes refuse
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()
