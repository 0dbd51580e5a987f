"""A small built-in review set, generated offline, for when IMDB cannot be downloaded.

The reviews are short and made so that word order matters, which a bag of words cannot learn but an RNN can:
negation ("not bad at all" is positive), intensifiers ("really dull"), and contrast, where the clause after "but"
decides ("great cast but a dull plot" is negative). It is a stand-in that keeps the recipe runnable end to end,
not a benchmark: every output made from it is marked OFFLINE.
"""

import random

NAME = "offline-generated (NOT IMDB: built-in stand-in)"
GOOD = ["great", "wonderful", "brilliant", "moving", "funny", "superb", "charming", "gripping", "beautiful", "clever"]
BAD = ["dull", "boring", "awful", "terrible", "bland", "clumsy", "tedious", "lifeless", "silly", "messy"]
NOUNS = ["plot", "cast", "script", "film", "movie", "ending", "soundtrack", "pacing", "dialogue", "direction"]
INTENSIFIERS = ["", "very ", "really ", "truly ", "quite ", "so "]
OPENERS = ["", "honestly, ", "overall ", "i thought ", "in short, "]


def _clause(rng, positive):
    adjective = rng.choice(GOOD if positive else BAD)
    noun = rng.choice(NOUNS)
    if rng.random() < 0.3:  # negation flips the adjective
        adjective = rng.choice(BAD if positive else GOOD)
        return f"the {noun} was not {adjective} at all"
    return f"the {noun} was {rng.choice(INTENSIFIERS)}{adjective}"


def review(rng, positive):
    """One short review whose label is `positive`."""
    if rng.random() < 0.4:  # contrast: the clause after "but" decides
        return f"{rng.choice(OPENERS)}{_clause(rng, not positive)} but {_clause(rng, positive)}"
    return f"{rng.choice(OPENERS)}{_clause(rng, positive)}"


def offline_reviews(count, seed):
    """`count` (text, label) pairs with balanced labels (1 = positive), the same for the same seed."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(count)]
    rng.shuffle(labels)
    return [review(rng, bool(label)) for label in labels], labels
