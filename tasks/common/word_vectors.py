"""Word vectors counted from unlabeled text: positive pointwise mutual information of words within a window,
reduced by a truncated SVD (Levy, Goldberg & Dagan 2015, "Improving Distributional Similarity with Lessons Learned
from Word Embeddings": context counts smoothed to the power 0.75, singular values weighted by their square root).

It needs no training loop: counting IMDB's 11.7 million unlabeled words and the SVD take about 30 s on 2 CPU cores,
and the nearest words come out as a sentiment model wants them (awful: terrible, horrible, atrocious; boring: dull,
tedious). Started from them, the sentiment classifier's held-out accuracy rose 1.9 and 3.1 points on two IMDB
splits and 2.3 on SST-2 (README, Results).
"""

import numpy as np


def ppmi_svd_vectors(ids, vocab_size, dim, *, window=5, smoothing=0.75, scale=0.7, seed=0):
    """(vectors [vocab_size, dim] float32, seen [vocab_size] bool) from `ids`, a ragged [texts, words] int tensor
    (0 = padding, 1 = out of vocabulary; neither is counted). Words within `window` of each other in one text
    co-occur with weight 1/distance. Each vector is scaled to a norm of `scale * sqrt(dim)` (about `scale` per
    dimension), large enough that a fine-tuned embedding keeps what the vectors know through the first epochs of
    Adam's fixed-size steps. Words that never co-occur (`seen` false) get zeros: the caller keeps their initial
    vectors. Raises ValueError when the text has no co-occurring words at all."""
    import scipy.sparse as sparse
    from sklearn.utils.extmath import randomized_svd

    words = ids.flat_values.numpy().astype(np.int32)
    splits = ids.row_splits.numpy()
    text = np.repeat(np.arange(len(splits) - 1, dtype=np.int32), np.diff(splits))
    # Summed one distance at a time: every pair of the text at once took 2.9 GB more memory for IMDB's 11.7 million
    # unlabeled words, this way 0.5 GB (and half the time: 9 s against 17 s).
    counts = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    for distance in range(1, window + 1):
        left, right = words[:-distance], words[distance:]
        keep = (text[:-distance] == text[distance:]) & (left > 1) & (right > 1)
        pairs = sparse.coo_matrix((np.full(int(keep.sum()), 1.0 / distance, np.float32), (left[keep], right[keep])),
                                  shape=(vocab_size, vocab_size)).tocsr()  # duplicates summed
        counts = counts + pairs + pairs.T  # both orders: co-occurrence is symmetric
    counts = counts.tocoo()
    if counts.nnz == 0:
        raise ValueError("no two known words occur near each other in the text: too little text for word vectors")
    total = counts.data.sum()
    word_totals = np.asarray(counts.sum(axis=1)).ravel()
    context = np.asarray(counts.sum(axis=0)).ravel() ** smoothing
    pmi = (np.log(counts.data / total) - np.log(word_totals[counts.row] / total)
           - np.log(context[counts.col] / context.sum()))
    positive = pmi > 0
    matrix = sparse.csr_matrix((pmi[positive], (counts.row[positive], counts.col[positive])),
                               shape=(vocab_size, vocab_size))
    rank = min(dim, vocab_size - 1)
    left_vectors, singular, _ = randomized_svd(matrix, rank, random_state=seed)
    vectors = np.zeros((vocab_size, dim), np.float32)
    vectors[:, :rank] = left_vectors * np.sqrt(singular)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    seen = (np.diff(matrix.indptr) > 0) & (norms[:, 0] > 0)  # a word with some positive association
    vectors[~seen] = 0
    vectors[seen] *= scale * np.sqrt(dim) / norms[seen]
    return vectors, seen
