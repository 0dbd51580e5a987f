"""Subword tokenization: learned from training sentences, case kept, never [UNK], normalized in the graph, and
text in a script the model never saw refused with a clear message."""

import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.common.text import UNKNOWN_SCRIPT
from tasks.translation.offline import offline_pairs
from tasks.translation.subwords import (
    END_ID,
    PAD_ID,
    START_ID,
    UNK_ID,
    Subwords,
    learn_subwords,
    require_known_script,
)

TRAINING = [f"{spanish.capitalize()}. ¿Dónde está Tom? Él es mi amigo." for spanish, _ in offline_pairs(0, count=400)]


@pytest.fixture(scope="module")
def subwords():
    return Subwords(learn_subwords(TRAINING, 400, seed=0))


def test_learning_is_deterministic_and_the_vocabulary_is_a_soft_limit(subwords):
    assert learn_subwords(TRAINING, 400, seed=0) == subwords.model
    assert 260 < subwords.size <= 400  # 4 markers and 256 byte pieces, then what the text holds


def test_round_trip_keeps_case_and_needs_no_unknown_token(subwords):
    texts = ["¿Dónde está Tom?", "Zürich, Łódź y QWERTY: palabras jamás vistas!", "Él ES mi AMIGO.", ""]
    ids = subwords.tokenize(tf.constant(texts))
    for row in ids.to_list():
        assert row[0] == START_ID and row[-1] == END_ID and UNK_ID not in row and PAD_ID not in row
    back = [t.decode() for t in subwords.detokenize(ids).numpy()]
    assert back == texts
    # Dense ids with padding (as the decoder emits them) detokenize the same.
    assert [t.decode() for t in subwords.detokenize(ids.to_tensor()).numpy()] == texts


def test_unicode_is_normalized_in_the_graph(subwords):
    composed, decomposed = "¿Dónde está?", unicodedata.normalize("NFD", "¿Dónde está?")
    assert composed != decomposed
    ids = subwords.tokenize(tf.constant([composed, decomposed])).to_list()
    assert ids[0] == ids[1]


def test_undecodable_bytes_do_not_fail(subwords):
    out = subwords.detokenize(subwords.tokenize(tf.constant([b"caf\xff bar"]))).numpy()[0].decode()
    assert out.startswith("caf") and out.endswith("bar")


def test_pieces_name_each_id(subwords):
    ids = subwords.tokenize(tf.constant(["Tom"])).to_tensor()
    pieces = [p.decode() for p in subwords.pieces(tf.pad(ids, [[0, 0], [0, 2]])).numpy()[0]]
    assert pieces[0] == "[START]" and pieces[-3] == "[END]" and pieces[-2:] == ["", ""]
    assert "".join(pieces[1:-3]).replace("\u2581", " ").strip() == "Tom"


def test_a_text_mostly_in_an_unseen_script_is_refused_and_a_name_in_one_is_not(subwords):
    check = tf.function(lambda texts: require_known_script(subwords.tokenize(texts).to_tensor()))
    assert check(tf.constant(["Él es mi amigo Wang 王小明.", "", "¿Dónde?"])).shape[0] == 3
    assert check(tf.constant([], tf.string)).shape[0] == 0
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"text at index 1 of the batch {UNKNOWN_SCRIPT}"):
        check(tf.constant(["Hola.", "Привет, как дела?"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="text at index 0"):
        check(tf.constant(["你好，世界"]))


def test_too_small_a_vocabulary_is_a_user_error():
    with pytest.raises(UserError, match="could not be learned with 50 pieces"):
        learn_subwords(TRAINING, 50, seed=0)


def test_a_model_file_round_trips(subwords, tmp_path):
    subwords.write(tmp_path / "side.spm")
    again = Subwords.read(tmp_path / "side.spm")
    text = tf.constant(["¿Dónde está Tom?"])
    np.testing.assert_array_equal(again.tokenize(text).to_tensor(), subwords.tokenize(text).to_tensor())
