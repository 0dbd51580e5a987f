"""Held-out parts that predict the official test: stratified by label, and grouped, so that rows that belong
together (reviews of one film, phrases of one sentence) never fall on both sides."""

import numpy as np


def held_out(labels, fraction, seed, groups=None):
    """(rest, part): index arrays that split rows 0..n-1, `part` about `fraction` of the rows.

    Whole groups go to one side (`groups`: one hashable per row; None: every row is its own group). Groups are taken
    in an order where each label's groups (by their most common label) interleave in proportion, so a small file's
    part is not all one class.
    """
    labels = list(labels)
    keys = list(range(len(labels))) if groups is None else list(groups)
    members = {}
    for row, key in enumerate(keys):
        members.setdefault(key, []).append(row)
    units = list(members.values())
    majority = [max(set(labels[r] for r in rows), key=[labels[r] for r in rows].count) for rows in units]
    order = np.random.default_rng(seed).permutation(len(units))
    counts, seen, place = {}, {}, []
    for label in majority:
        counts[label] = counts.get(label, 0) + 1
    for i in order:  # the k-th unit of a label goes at (k + 0.5) / units of that label: the labels interleave
        seen[majority[i]] = seen.get(majority[i], 0) + 1
        place.append((seen[majority[i]] - 0.5) / counts[majority[i]])
    order = order[np.argsort(place, kind="stable")]
    cut, taken, part = max(1, int(round(len(labels) * fraction))), 0, []
    for i in order:
        if taken >= cut:
            break
        part += units[i]
        taken += len(units[i])
    chosen = np.zeros(len(labels), bool)
    chosen[part] = True
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)


def containing_sentence(texts, longest=80):
    """A group per row for phrase datasets (SST): each row that is a run of whole words of a longer row is grouped
    with the longest row that contains it, so the phrases of one sentence stay on one side. Rows of more than
    `longest` words are their own group (and are not searched: their phrases would be too many)."""
    words = [t.split() for t in texts]
    owner = {}  # a phrase (as a word tuple) -> index of the longest row found containing it
    for row in sorted(range(len(texts)), key=lambda r: -len(words[r])):
        tokens = words[row]
        if len(tokens) > longest:
            continue
        if tuple(tokens) in owner:  # part of a longer row already: its phrases belong to that row's group
            continue
        for start in range(len(tokens)):
            for stop in range(start + 1, len(tokens) + 1):
                owner.setdefault(tuple(tokens[start:stop]), row)
    return [owner.get(tuple(w), r) if len(w) <= longest else r for r, w in enumerate(words)]
