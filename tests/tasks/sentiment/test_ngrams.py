"""The n-gram members: naive Bayes ratios, the NB-LR models as Keras layers (words, word pieces), the blend."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import sparse

from tasks.common.cli import UserError
from tasks.sentiment.ngrams import fit_blend, fit_ngram_model, naive_bayes_ratio, ngram_logits, word_pieces

POSITIVE = ["a fine film", "fine acting and a fine plot", "not bad at all, fine", "a moving story"]
NEGATIVE = ["a dull film", "dull acting and a bad plot", "bad, not fine at all", "a dull story"]


def test_a_feature_seen_only_with_one_class_leans_to_it_and_the_unknown_column_weighs_nothing():
    features = sparse.csr_matrix(np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 1, 1]], np.float32))
    ratio = naive_bayes_ratio(features, np.array([1, 1, 0, 0]))
    assert ratio[0] == 0  # the unknown n-gram
    assert ratio[1] > 0 > ratio[2]  # only in positive texts / only in negative ones
    assert abs(ratio[3]) < 1e-6  # in every text


def test_the_model_scores_which_ngrams_a_text_holds_once_each_and_reads_phrases():
    texts = (POSITIVE + NEGATIVE) * 3
    model = fit_ngram_model(texts, ([1] * 4 + [0] * 4) * 3, "words", ngrams=2, vocab_size=1000)
    logits = ngram_logits(model, ["a fine film", "a dull film", "fine fine fine", "fine"])
    assert logits[0] > 0 > logits[1]
    assert logits[2] == pytest.approx(logits[3], abs=1e-6)  # present or not, not how often
    vocabulary = model.get_layer("words_ngrams").get_vocabulary()
    kernel, bias = model.get_layer("words_ngram_weights").get_weights()
    weight = dict(zip(vocabulary, kernel[:, 0]))
    assert "a fine" in weight and "fine film" in weight  # bigrams are features of their own
    expected = bias[0] + sum(weight[g] for g in ("a", "fine", "film", "a fine", "fine film"))
    assert logits[0] == pytest.approx(expected, abs=1e-5)
    assert weight["[UNK]"] == 0
    np.testing.assert_allclose(ngram_logits(model, ["zzz qqq"]), bias, atol=1e-6)


def test_texts_without_words_get_one_clear_error():
    with pytest.raises(UserError, match="no words for the n-gram models; --ngrams 0 --no-char-ngrams"):
        fit_ngram_model(["!!", "?? ..."], [1, 0], "characters", vocab_size=100)


def test_word_pieces_are_sklearns_char_wb_ngrams():
    from sklearn.feature_extraction.text import CountVectorizer

    texts = ["a fine film", "ünïcödé x", ""]
    pieces = word_pieces(tf.constant(texts))
    analyzer = CountVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    for row, text in zip(pieces.to_list(), texts):
        assert sorted(piece.decode() for piece in row) == sorted(analyzer(text))


def test_a_word_pieces_model_knows_a_word_it_never_saw_by_its_parts():
    texts = ["wonderful", "wonderfully done", "awful", "awfully done"] * 3
    model = fit_ngram_model(texts, [1, 1, 0, 0] * 3, "characters", vocab_size=1000)
    logits = ngram_logits(model, ["wonderfulness", "awfulness"])
    assert logits[0] > 0 > logits[1]


def test_the_blend_weighs_the_member_that_predicts_the_labels():
    rng = np.random.default_rng(0)
    informative, noise = rng.normal(size=400), rng.normal(size=400)
    labels = (informative + 0.3 * rng.normal(size=400) > 0).astype(int)
    kernel, _ = fit_blend([informative, noise], labels).get_weights()
    assert kernel[0, 0] > 1 and abs(kernel[1, 0]) < 0.5 * kernel[0, 0]
    both = fit_blend([informative, noise], labels)(tf.constant([[3.0, 0.0], [-3.0, 0.0]])).numpy()[:, 0]
    assert both[0] > 0 > both[1]
