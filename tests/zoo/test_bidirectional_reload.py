"""Bidirectional layers built while Keras loads a model (its object-sharing scope) each get layers of their own.

Keras copies the layer given to Bidirectional by serializing it and, while loading, keys that copy by the layer's
`id()`. The zoo rebuilds its graph inside `load_model`, making a temporary layer per Bidirectional; when a freed
temporary's address was reused, the next wrapper was handed an earlier copy, and CI saw a reload fail with "Forward
layer and backward layer should have different `go_backwards` value" (about 1.6% of wrappers built in the scope).
"""

# Private, but it is the scope `keras.models.load_model` opens; building wrappers in it directly is ~100x faster than
# saving and loading models often enough to meet the reused address.
from keras.src.saving.serialization_lib import ObjectSharingScope

from zoo.cells import make_rnn

WRAPPERS = 200  # at 1.6% per wrapper, the old code failed here 96% of the time


def test_every_wrapper_built_while_loading_has_its_own_directions():
    with ObjectSharingScope():
        wrappers = [make_rnn("simple_rnn", 2, name=f"rnn_{i}", return_sequences=True, bidirectional=True)
                    for i in range(WRAPPERS)]
    directions = [layer for w in wrappers for layer in (w.forward_layer, w.backward_layer)]
    assert len({id(layer) for layer in directions}) == 2 * WRAPPERS
    assert [w.forward_layer.go_backwards for w in wrappers] == [False] * WRAPPERS
    assert [w.backward_layer.go_backwards for w in wrappers] == [True] * WRAPPERS
