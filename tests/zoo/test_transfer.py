"""Pretrained language models into a classifier: after `zoo.transfer_encoder`, the classifier's recurrent layers
compute what the language models compute, direction by direction, padding included; mismatches are one error."""

import keras
import numpy as np
import pytest

import zoo
from tests.zoo.harness import CELLS

VOCAB, EMBED, UNITS = 40, 6, 5
# Right-padded rows of different lengths: padding must not change what either direction reads.
TOKENS = np.array([[5, 9, 3, 7, 2, 0, 0], [11, 4, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]], "int32")


def language_model(cell, num_layers=1, **overrides):
    return zoo.build("many_to_many", **{"input": "tokens", "vocab_size": VOCAB, "embedding_dim": EMBED, "cell": cell,
                                        "units": UNITS, "num_layers": num_layers, "num_outputs": VOCAB, **overrides})


def classifier(cell, **overrides):
    return zoo.build("many_to_one", **{"input": "tokens", "vocab_size": VOCAB, "embedding_dim": EMBED, "cell": cell,
                                       "units": UNITS, "num_outputs": 1, "pooling": "max", **overrides})


def outputs_of(model, layer, tokens):
    return keras.Model(model.input, model.get_layer(layer).output)(tokens).numpy()


@pytest.mark.parametrize("cell", CELLS)
def test_a_unidirectional_stack_computes_what_the_language_model_computes(cell):
    forward = language_model(cell, num_layers=2)
    target = classifier(cell, num_layers=3)
    assert zoo.transfer_encoder(target, forward) == ["embedding", "rnn_0", "rnn_1"]
    np.testing.assert_allclose(outputs_of(target, "rnn_1", TOKENS), outputs_of(forward, "rnn_1", TOKENS), atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_a_bidirectional_layer_reads_forward_and_reversed_like_its_two_language_models(cell):
    forward, backward = language_model(cell), language_model(cell)
    backward.get_layer("embedding").set_weights(forward.get_layer("embedding").get_weights())  # one shared embedding
    target = classifier(cell, bidirectional=True)
    assert zoo.transfer_encoder(target, forward, backward) == ["embedding", "rnn_0 (forward)", "rnn_0 (backward)"]

    both = outputs_of(target, "rnn_0", TOKENS)  # [batch, time, 2 * units]: forward, then backward
    lengths = (TOKENS > 0).sum(1)
    reversed_tokens = np.zeros_like(TOKENS)
    for row, length in enumerate(lengths):
        reversed_tokens[row, :length] = TOKENS[row, :length][::-1]
    ahead, behind = outputs_of(forward, "rnn_0", TOKENS), outputs_of(backward, "rnn_0", reversed_tokens)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(both[row, :length, :UNITS], ahead[row, :length], atol=1e-6)
        # The backward direction's output at step t has read steps t..end: the reversed reader's step length-1-t.
        np.testing.assert_allclose(both[row, :length, UNITS:], behind[row, :length][::-1], atol=1e-6)


def test_without_a_backward_model_only_the_forward_direction_transfers():
    target = classifier("gru", bidirectional=True)
    before = target.get_layer("rnn_0").backward_layer.get_weights()
    assert zoo.transfer_encoder(target, language_model("gru")) == ["embedding", "rnn_0 (forward)"]
    for kept, now in zip(before, target.get_layer("rnn_0").backward_layer.get_weights()):
        np.testing.assert_array_equal(kept, now)


@pytest.mark.parametrize("target,source,message", [
    (lambda: classifier("lstm"), lambda: language_model("lstm", vocab_size=41), "vocab_size=41 and the target"),
    (lambda: classifier("lstm"), lambda: language_model("gru"), "cell='gru' and the target cell='lstm'"),
    (lambda: classifier("lstm", units=7), lambda: language_model("lstm"), "units=5 and the target units=7"),
    (lambda: classifier("lstm"), lambda: language_model("lstm", embedding_dim=4), "embedding_dim=4"),
    (lambda: classifier("lstm"), lambda: language_model("lstm", bidirectional=True), "is not a language model"),
    (lambda: classifier("lstm"), lambda: classifier("lstm"), "is not a language model"),
    (lambda: zoo.build("many_to_one", input="features", feature_dim=3, num_outputs=1),
     lambda: language_model("lstm"), "fits a model over input='tokens' only"),
    (lambda: classifier("lstm"), lambda: keras.Sequential([keras.layers.Dense(1)]), "is not a zoo model"),
])
def test_a_mismatch_is_one_clear_error(target, source, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        zoo.transfer_encoder(target(), source())
