"""The graph decode loops against the Python loop at batch 1, and beam search of width 1 against greedy."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tasks.translation.decoding import beam_search, greedy_decode, python_loop_greedy

START, END, MAX = 1, 2, 9
SOURCE = np.array([[5, 6, 7, 8, 2], [9, 3, 2, 0, 0], [4, 2, 0, 0, 0]], np.int32)


def trimmed(ids):
    """A row of ids up to and including the first END (or all of it)."""
    ids = list(ids)
    return ids[:ids.index(END) + 1] if END in ids else ids


@pytest.fixture(scope="module", params=[("gru", "additive", True), ("lstm", "dot", False), ("gru", "none", True)],
                ids=["gru-additive-bi", "lstm-dot", "gru-none-bi"])
def models(request):
    cell, attention, bidirectional = request.param
    keras_model = zoo.build("seq2seq", input="tokens", vocab_size=12, target_vocab_size=7, units=8, cell=cell,
                            attention=attention, bidirectional=bidirectional, num_layers=2)
    # Random weights rarely say END; bias the logits a little toward it so that rows finish at different steps.
    bias = keras_model.get_layer("logits").bias
    bias.assign(bias.numpy() + np.eye(7)[END] * 0.3)
    return zoo.inference_models(keras_model)


def test_graph_greedy_equals_the_python_loop_row_by_row(models):
    ids, attention = tf.function(lambda s: greedy_decode(models, s, start_id=START, end_id=END, max_length=MAX))(
        tf.constant(SOURCE))
    for row, source in zip(ids.numpy(), SOURCE):
        length = int(np.count_nonzero(source))
        expected = python_loop_greedy(models, source[None, :length], start_id=START, end_id=END, max_length=MAX)
        assert trimmed(row) == expected
        assert (row[len(expected):] == 0).all()  # padding after END
    assert attention.shape[:2] == ids.shape and attention.shape[2] == SOURCE.shape[1]


def test_padding_weight_of_attention_is_zero(models):
    _, attention = greedy_decode(models, tf.constant(SOURCE), start_id=START, end_id=END, max_length=MAX)
    attention = attention.numpy()
    if attention.any():  # models with attention
        np.testing.assert_allclose(attention[2, :, 2:], 0, atol=1e-6)  # row 2 has 2 real source steps
        np.testing.assert_allclose(attention[2].sum(-1), 1, atol=1e-5)


def test_beam_search_of_width_one_is_greedy(models):
    greedy, _ = greedy_decode(models, tf.constant(SOURCE), start_id=START, end_id=END, max_length=MAX)
    beam = beam_search(models, tf.constant(SOURCE), start_id=START, end_id=END, max_length=MAX, beam_width=1)
    for g, b in zip(greedy.numpy(), beam.numpy()):
        assert trimmed(g) == trimmed(b)


def test_wider_beam_finds_a_sequence_at_least_as_likely_as_greedy(models):
    """Score both results under the model (teacher-forced log-probability, no length penalty)."""
    def log_prob(source, ids):
        out_ids, states, total = trimmed(ids), None, 0.0
        encoded = models["encode"](source[None], training=False)
        states = {k: v for k, v in encoded.items() if k.startswith("decoder_init")}
        context = {k: v for k, v in encoded.items() if k not in states}
        token = START
        for next_id in out_ids:
            out = models["decode_step"]({"previous_token": tf.constant([[token]], tf.int32), **states, **context})
            total += float(tf.nn.log_softmax(out["logits"][0, -1])[next_id])
            states, token = {k: out[k] for k in states}, next_id
        return total

    greedy, _ = greedy_decode(models, tf.constant(SOURCE), start_id=START, end_id=END, max_length=MAX)
    beam = beam_search(models, tf.constant(SOURCE), start_id=START, end_id=END, max_length=MAX, beam_width=4,
                       length_penalty=0.0)
    for source, g, b in zip(SOURCE, greedy.numpy(), beam.numpy()):
        source = source[:np.count_nonzero(source)]
        if END in trimmed(b) and END in trimmed(g):  # both finished: beam search is never worse
            assert log_prob(source, b) >= log_prob(source, g) - 1e-4
