"""PPMI-SVD word vectors: words used alike get alike vectors, unseen words get none, too little text is an error."""

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.word_vectors import ppmi_svd_vectors


def corpus(rng, texts=400):
    """Ids 2-5 are "good" words, 6-9 "bad" words: each text uses words of one kind around shared filler 10-29."""
    rows = []
    for _ in range(texts):
        kind = rng.integers(2)
        rows.append([int(rng.integers(2, 6) if kind == 0 else rng.integers(6, 10)) if i % 3 == 0 else
                     int(rng.integers(10, 20) if kind == 0 else rng.integers(20, 30)) for i in range(12)])
    return tf.ragged.constant(rows, dtype=tf.int32)


def test_words_used_alike_get_alike_vectors_and_unseen_words_none():
    vectors, seen = ppmi_svd_vectors(corpus(np.random.default_rng(0)), 40, 8, window=3, scale=0.5)
    assert vectors.shape == (40, 8) and vectors.dtype == np.float32
    assert seen[2:30].all() and not seen[:2].any() and not seen[30:].any()  # padding, OOV, absent words
    assert not vectors[~seen].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[seen], axis=1), 0.5 * np.sqrt(8), rtol=1e-5)
    unit = vectors[2:10] / np.linalg.norm(vectors[2:10], axis=1, keepdims=True)
    similarity = unit @ unit.T
    same = np.mean([similarity[i, j] for i in range(8) for j in range(8) if i != j and (i < 4) == (j < 4)])
    other = np.mean([similarity[i, j] for i in range(8) for j in range(8) if (i < 4) != (j < 4)])
    assert same > other + 0.5


def test_a_vocabulary_smaller_than_the_width_still_gets_vectors_and_no_cooccurrence_is_an_error():
    ids = tf.ragged.constant([[2, 3, 4, 2, 3], [4, 3, 2]], dtype=tf.int32)
    vectors, seen = ppmi_svd_vectors(ids, 5, 16)
    assert vectors.shape == (5, 16) and seen[2:].all()
    with pytest.raises(ValueError, match="too little text"):
        ppmi_svd_vectors(tf.ragged.constant([[2], [3], [1, 1]], dtype=tf.int32), 5, 4)
