"""Masked pooling: padded steps never count, and a sequence with no real step pools to zeros, not NaN."""

import numpy as np
import pytest

from zoo.pooling import MaskedPooling


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_masked_steps_are_ignored_and_empty_gives_zeros(mode):
    x = np.array([[[-3.0, 1.0], [-1.0, 5.0], [0.0, 0.0]],
                  [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], "float32")
    mask = np.array([[True, True, False], [False, False, False]])
    out = np.asarray(MaskedPooling(mode)(x, mask=mask))
    expected = [-2.0, 3.0] if mode == "mean" else [-1.0, 5.0]
    np.testing.assert_allclose(out, [expected, [0.0, 0.0]])


def test_unknown_mode():
    with pytest.raises(ValueError, match="choose 'mean', 'max' or 'concat'"):
        MaskedPooling("sum")


def test_concat_pools_the_final_output_the_max_and_the_mean_of_real_steps():
    x = np.array([[[-3.0, 1.0], [-1.0, 5.0], [0.0, 0.0]],
                  [[2.0, 4.0], [0.0, 0.0], [0.0, 0.0]],
                  [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]], "float32")
    mask = np.array([[True, True, False], [True, False, False], [False, False, False]])
    out = np.asarray(MaskedPooling("concat")(x, mask=mask))
    np.testing.assert_allclose(out, [[-1.0, 5.0, -1.0, 5.0, -2.0, 3.0], [2.0, 4.0] * 3, [0.0] * 6])
    # A Bidirectional output: its second half (the backward direction) is final at the first step.
    halves = np.asarray(MaskedPooling("concat", backward_half=True)(x, mask=mask))
    np.testing.assert_allclose(halves[:, :2], [[-1.0, 1.0], [2.0, 4.0], [0.0, 0.0]])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_concat_pooling_final_part_is_the_recurrent_layers_final_state(bidirectional):
    import keras

    import zoo

    tokens = np.array([[5, 9, 3, 7, 0, 0], [11, 4, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]], "int32")
    settings = {"input": "tokens", "vocab_size": 20, "embedding_dim": 4, "cell": "lstm", "units": 3,
                "bidirectional": bidirectional, "num_outputs": 1}
    concat, last = zoo.build("many_to_one", pooling="concat", **settings), zoo.build("many_to_one", **settings)
    for name in ("embedding", "rnn_0"):
        last.get_layer(name).set_weights(concat.get_layer(name).get_weights())
    pooled = keras.Model(concat.input, concat.get_layer("concat_pooling").output)(tokens).numpy()
    final = keras.Model(last.input, last.get_layer("rnn_0").output)(tokens).numpy()
    width = final.shape[-1]
    assert pooled.shape == (3, 3 * width)
    np.testing.assert_allclose(pooled[:, :width], final, atol=1e-6)
