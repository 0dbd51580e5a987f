"""A built-in parallel set, generated offline, for when Tatoeba cannot be downloaded: Spanish number words -> English.

Numbers written out by `num2words` need real translation, not word-for-word lookup: "veintiuno" -> "twenty-one",
"mil doscientos treinta y cuatro" -> "one thousand, two hundred and thirty-four" (English adds "one", "and" and
commas that Spanish does not have, and Spanish fuses 21-29 into one word). It keeps the recipe runnable end to end;
it is not a benchmark, and every output made from it is marked OFFLINE.
"""

import random

from num2words import num2words

NAME = "offline-generated (NOT Tatoeba: Spanish number words -> English, built-in stand-in)"


def offline_pairs(seed, count=6000):
    """`count` distinct (Spanish, English) pairs for numbers below one million, mostly small ones."""
    rng = random.Random(seed)
    numbers = set()
    while len(numbers) < count:
        numbers.add(int(10 ** rng.uniform(0, 6)))  # log-uniform: as many two-digit numbers as five-digit ones
    return [(num2words(n, lang="es"), num2words(n, lang="en")) for n in sorted(numbers)]
