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
    with pytest.raises(ValueError, match="choose 'mean' or 'max'"):
        MaskedPooling("sum")
