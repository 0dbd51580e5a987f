"""The n-gram members: linear models over which words and short phrases (and which pieces of words) a text contains,
blended with the recurrent network's logit.

Each is Wang & Manning's (2012) NB-LR: a binary bag of n-grams, each feature scaled by its naive Bayes log-count ratio,
then a logistic regression. It is the strong linear baseline of the sentiment literature, and on IMDB the one over
1..3-grams of words is stronger than this machine's recurrent network alone: 0.921 and 0.900 on two film-grouped
test splits against the network's 0.904 and 0.891 (README, Results); it reads every word of a review, where the
network reads 400 of them, and it fits in about 30 s. The one over 2..5 characters of each word (sklearn's
`char_wb`) reads spelling: on SST-2's short phrases it added 0.8 points to the blend of the network and the word
n-grams (0.863 -> 0.871), on IMDB 0.0-0.2.

Everything lives in ordinary Keras layers, so `model.keras` and the SavedModel carry it: per member a
TextVectorization (sparse multi-hot) and a Dense layer holding the NB-scaled weights; the blend is one more Dense
layer over the network's and the members' logits, fitted on the validation split.
"""

import keras
import numpy as np
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.sentiment.data import standardize

REGULARIZATION = 1.0  # liblinear's C: 0.3 and 1.0 scored alike on IMDB's film-grouped validation (0.898, 0.899)
CHARACTER_WIDTHS = (2, 3, 4, 5)  # sklearn's char_wb (2, 5), the range the SST-2 measurement used


@keras.saving.register_keras_serializable(package="tasks.sentiment")
def word_pieces(text):
    """Standardized strings [batch] -> ragged [batch, pieces]: the 2..5-character n-grams of each word with a space
    on either side (" fine " gives " f", "fi", ..., "fine "), as sklearn's `char_wb` analyzer makes them."""
    words = tf.strings.split(text)
    padded = tf.ragged.map_flat_values(lambda word: " " + word + " ", words)
    pieces = tf.strings.ngrams(tf.strings.unicode_split(padded, "UTF-8"), ngram_width=CHARACTER_WIDTHS, separator="")
    return pieces.merge_dims(1, 2)


def ngram_vectorizer(kind, vocab_size, *, ngrams=3):
    """Strings [batch] -> a sparse [batch, vocab_size] 0/1 matrix: which of the vocabulary's n-grams each text
    contains (index 0: any unknown one), the words standardized as the network's are. `kind`: "words" (1..`ngrams`
    words) or "characters" (`word_pieces`)."""
    pieces = {"words": {"ngrams": ngrams}, "characters": {"split": word_pieces}}[kind]
    return keras.layers.TextVectorization(max_tokens=vocab_size, standardize=standardize, output_mode="multi_hot",
                                          sparse=True, name=f"{kind}_ngrams", **pieces)


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


def fit_ngram_model(texts, labels, kind, *, vocab_size, ngrams=3, seed=0):
    """The NB-LR model over `kind` n-grams (`ngram_vectorizer`) fitted on `texts` and 0/1 `labels`: a Keras model
    named `<kind>_ngram_model`, strings [batch] -> logit [batch, 1]."""
    from sklearn.linear_model import LogisticRegression

    vectorizer = ngram_vectorizer(kind, vocab_size, ngrams=ngrams)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024))
    if vectorizer.vocabulary_size() < 2:  # the unknown n-gram alone: a lookup table of nothing
        raise UserError("the training texts hold no words for the n-gram models; --ngrams 0 --no-char-ngrams "
                        "trains the network alone.")
    features, labels = ngram_matrix(vectorizer, texts), np.asarray(labels)
    ratio = naive_bayes_ratio(features, labels)
    fitted = LogisticRegression(C=REGULARIZATION, solver="liblinear", dual=True, max_iter=2000, random_state=seed)
    fitted.fit(features.multiply(ratio).tocsr(), labels)
    # The scaling folded into the weights: w . (r * x) = (w * r) . x, so serving needs no ratio of its own
    kernel = (fitted.coef_[0] * ratio).astype(np.float32)[:, None]
    text = keras.Input(shape=(), dtype="string", name="text")
    weights = keras.layers.Dense(1, name=f"{kind}_ngram_weights")
    model = keras.Model(text, weights(vectorizer(text)), name=f"{kind}_ngram_model")
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


def fit_blend(logits, labels):
    """A Dense layer [batch, members] -> [batch, 1]: the logistic regression of `labels` on the members' logits
    (`logits`: one array per member; one weight each and a bias), fitted on held-out rows so that no member's own
    overfitting sets its weight."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression().fit(np.stack(logits, axis=1), labels)
    blend = keras.layers.Dense(1, name="blend")
    blend.build((None, len(logits)))
    blend.set_weights([fitted.coef_[0][:, None].astype(np.float32), fitted.intercept_.astype(np.float32)])
    return blend


def ngram_logits(model, texts, chunk=2048):
    """An n-gram model's logits [len(texts)] as numpy (eagerly: a lookup and a sparse product per chunk)."""
    parts = [model(tf.constant(texts[start:start + chunk], tf.string)).numpy()[:, 0]
             for start in range(0, len(texts), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def ngram_members(splits, network_logits, kinds, *, vocab_size, ngrams=3, seed=0):
    """Fit an n-gram model of each of `kinds` on `splits.train` and the blend on `splits.validation`, given the
    network's logits ({"validation": [...], "test": [...]}, in the texts' order). Returns (([n-gram models], blend),
    the blended logits by split, {split: {member: accuracy alone}})."""
    models = [fit_ngram_model(*splits.train, kind, vocab_size=vocab_size, ngrams=ngrams, seed=seed) for kind in kinds]
    parts = {"validation": splits.validation, "test": splits.test}
    logits = {name: {"network": network_logits[name], **{kind: ngram_logits(model, texts)
                                                          for kind, model in zip(kinds, models)}}
              for name, (texts, _) in parts.items()}
    blend = fit_blend(list(logits["validation"].values()), np.asarray(splits.validation[1]))
    blended = {name: blend(np.stack(list(logits[name].values()), axis=1).astype(np.float32)).numpy()[:, 0]
               for name in parts}
    alone = {name: {member: _accuracy(values, parts[name][1]) for member, values in logits[name].items()}
             for name in parts}
    return (models, blend), blended, alone


def _accuracy(logits, labels):
    return float(np.mean((np.asarray(logits) >= 0) == (np.asarray(labels) >= 0.5)))
