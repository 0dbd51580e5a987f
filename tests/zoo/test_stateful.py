"""The stateful form for truncated BPTT: a sequence fed in chunks gives what it gives fed whole."""

import numpy as np
import pytest

import zoo
from tests.zoo.harness import CELLS, call


@pytest.mark.parametrize("pattern", ["many_to_one", "many_to_many"])
@pytest.mark.parametrize("cell", CELLS)
def test_chunks_equal_whole(pattern, cell):
    model = zoo.build(pattern, input="tokens", vocab_size=30, embedding_dim=8, num_outputs=4, cell=cell, units=8,
                      num_layers=2, stateful=True, batch_size=3)
    tokens = np.random.default_rng(0).integers(1, 30, size=(3, 10)).astype("int32")

    zoo.reset_states(model)
    whole = call(model, tokens)
    zoo.reset_states(model)
    first, second = call(model, tokens[:, :4]), call(model, tokens[:, 4:])
    chunked = np.concatenate([first, second], axis=1) if pattern == "many_to_many" else second
    np.testing.assert_allclose(chunked, whole, atol=1e-5)

    # Without a reset the state carries on, so the same chunk gives a different answer.
    assert not np.allclose(call(model, tokens[:, 4:]), second, atol=1e-4)
    zoo.reset_states(model)
    np.testing.assert_allclose(call(model, tokens[:, :4]), first, atol=1e-6)
