"""The n-gram member: a linear model over which words and short phrases a review contains, blended with the
recurrent network's logit.

The model is Wang & Manning's (2012) NB-LR: binary bag of 1..n-grams, each feature scaled by its naive Bayes log-count
ratio, then a logistic regression. It is the strong linear baseline of the sentiment literature, and on IMDB it is
stronger than this machine's recurrent network alone: 0.920 and 0.899 on two film-grouped test splits against the
network's 0.905 and 0.891; blended, the two do better than either (README, Results). It reads every word of a review,
where the network reads 400 of them, and it fits in about 30 s.

Both parts live in ordinary Keras layers, so `model.keras` and the SavedModel carry them: a TextVectorization over
n-grams (sparse multi-hot) and a Dense layer holding the NB-scaled weights; the blend is one more Dense layer over the
two logits, fitted on the validation split.
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.sentiment.data import standardize

REGULARIZATION = 1.0  # liblinear's C: 0.3 and 1.0 scored alike on IMDB's film-grouped validation (0.898, 0.899)


def ngram_vectorizer(ngrams, vocab_size, vocabulary=None):
    """Strings [batch] -> a sparse [batch, vocab_size] 0/1 matrix: which of the vocabulary's 1..`ngrams`-grams each
    text contains (index 0: any unknown one), the words standardized as the network's are."""
    return keras.layers.TextVectorization(max_tokens=vocab_size, standardize=standardize, ngrams=ngrams,
                                          output_mode="multi_hot", sparse=True, vocabulary=vocabulary,
                                          name="ngrams")


def ngram_matrix(vectorizer, texts, chunk=2048):
    """A scipy CSR [len(texts), vocabulary] 0/1 matrix of `vectorizer`'s n-grams, without the unknown column."""
    from scipy import sparse

    size = vectorizer.vocabulary_size()
    parts = [sparse.csr_matrix((0, size), dtype=np.float32)]
    for start in range(0, len(texts), chunk):
        found = vectorizer(tf.constant(texts[start:start + chunk], tf.string))
        where = found.indices.numpy()
        known = where[:, 1] > 0
        parts.append(sparse.csr_matrix((np.ones(int(known.sum()), np.float32), (where[known, 0], where[known, 1])),
                                       shape=(len(texts[start:start + chunk]), size)))
    return sparse.vstack(parts).tocsr()


def fit_ngram_model(texts, labels, *, ngrams, vocab_size, seed=0):
    """The NB-LR model fitted on `texts` and 0/1 `labels`: a Keras model strings [batch] -> logit [batch, 1]."""
    from sklearn.linear_model import LogisticRegression

    vectorizer = ngram_vectorizer(ngrams, vocab_size)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024))
    if vectorizer.vocabulary_size() < 2:  # the unknown n-gram alone: a lookup table of nothing
        raise UserError("the training texts hold no words for the n-gram model; --ngrams 0 trains the network "
                        "alone.")
    features, labels = ngram_matrix(vectorizer, texts), np.asarray(labels)
    ratio = naive_bayes_ratio(features, labels)
    fitted = LogisticRegression(C=REGULARIZATION, solver="liblinear", dual=True, max_iter=2000, random_state=seed)
    fitted.fit(features.multiply(ratio).tocsr(), labels)
    # The scaling folded into the weights: w . (r * x) = (w * r) . x, so serving needs no ratio of its own
    kernel = (fitted.coef_[0] * ratio).astype(np.float32)[:, None]
    text = keras.Input(shape=(), dtype="string", name="text")
    weights = keras.layers.Dense(1, name="ngram_weights")
    model = keras.Model(text, weights(vectorizer(text)), name="ngram_model")
    weights.set_weights([kernel, fitted.intercept_.astype(np.float32)])
    return model


def naive_bayes_ratio(features, labels, smoothing=1.0):
    """Each feature's log-count ratio log(p / |p|_1) - log(q / |q|_1), p and q its smoothed counts in the positive
    and the negative texts (Wang & Manning 2012); 0 for the unknown column."""
    positive = smoothing + np.asarray(features[labels == 1].sum(axis=0)).ravel()
    negative = smoothing + np.asarray(features[labels == 0].sum(axis=0)).ravel()
    ratio = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
    ratio[0] = 0.0
    return ratio.astype(np.float32)


def fit_blend(network_logits, ngram_logits, labels):
    """A Dense layer [batch, 2] -> [batch, 1]: the logistic regression of `labels` on the two members' logits (one
    weight each and a bias), fitted on held-out rows so that neither member's own overfitting sets its weight."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression().fit(np.stack([network_logits, ngram_logits], axis=1), labels)
    blend = keras.layers.Dense(1, name="blend")
    blend.build((None, 2))
    blend.set_weights([fitted.coef_[0][:, None].astype(np.float32), fitted.intercept_.astype(np.float32)])
    return blend


def ngram_logits(model, texts, chunk=2048):
    """The n-gram model's logits [len(texts)] as numpy (eagerly: a lookup and a sparse product per chunk)."""
    parts = [model(tf.constant(texts[start:start + chunk], tf.string)).numpy()[:, 0]
             for start in range(0, len(texts), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def ngram_member(splits, network_logits, *, ngrams, vocab_size, seed=0):
    """Fit the n-gram model on `splits.train` and the blend on `splits.validation`, given the network's logits
    ({"validation": [...], "test": [...]}, in the texts' order). Returns ((n-gram model, blend), the blended logits
    by split, {split: {member: accuracy alone}})."""
    model = fit_ngram_model(*splits.train, ngrams=ngrams, vocab_size=vocab_size, seed=seed)
    parts = {"validation": splits.validation, "test": splits.test}
    own = {name: ngram_logits(model, texts) for name, (texts, _) in parts.items()}
    blend = fit_blend(network_logits["validation"], own["validation"], np.asarray(splits.validation[1]))
    blended = {name: blend(np.stack([network_logits[name], own[name]], axis=1).astype(np.float32)).numpy()[:, 0]
               for name in parts}
    alone = {name: {"network": _accuracy(network_logits[name], labels), "ngrams": _accuracy(own[name], labels)}
             for name, (_, labels) in parts.items()}
    return (model, blend), blended, alone


def _accuracy(logits, labels):
    return float(np.mean((np.asarray(logits) >= 0) == (np.asarray(labels) >= 0.5)))
