"""Translation data: reading pairs, the grouped split, batches of subword ids."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError
from tasks.translation.data import (
    load_splits,
    make_dataset,
    read_pairs,
    source_ids,
    split_by_sentence,
    teacher_forcing,
)
from tasks.translation.offline import offline_pairs
from tasks.translation.subwords import END_ID, Subwords, learn_subwords


def test_a_csv_of_pairs_with_a_header_reads_its_first_two_columns(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('english,spanish,source\r\nHello.,Hola.,tatoeba\r\n"Yes, sir.","Sí, señor.",x\r\n')
    assert read_pairs(path) == [("Hello.", "Hola."), ("Yes, sir.", "Sí, señor.")]
    path.write_text("english;spanish\nHello.;Hola.\nBye.;\n")
    with pytest.raises(UserError, match="line 3 has an empty target; each line needs a source sentence and its"):
        read_pairs(path)


def test_read_pairs_ignores_extra_columns_and_normalizes_unicode(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("Hola.\tHello.\tCC-BY 2.0 attribution\ncafe\u0301\tcoffee\n", encoding="utf-8")
    assert read_pairs(path) == [("Hola.", "Hello."), ("café", "coffee")]


@pytest.mark.parametrize("content,message", [
    ("just one column\n", "line 1 is not 'source<TAB>target'"),
    ("a\tb\n\tb\n", "line 2 has an empty source; .* fill them in or remove those lines"),
    ("a\tb\n\tb\nc\t \n", r"line 2 has an empty source \(and 1 more line\(s\) an empty side\)"),
    ("", "is empty; it needs source<TAB>target lines"),
])
def test_bad_pair_files(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_pairs(path)


def test_split_by_sentence_keeps_each_source_and_target_on_one_side():
    # Several translations of one target, and sources translated several ways, chained: s3 -> t3 and t4, s4 -> t4.
    pairs = [(f"s{i % 70}", f"t{i % 30}") for i in range(300)] + [(f"u{i}", f"v{i}") for i in range(300)]
    rest, held = split_by_sentence(pairs, 0.1, seed=3)
    assert sorted(rest + held) == sorted(pairs) and 40 <= len(held) <= 110
    assert not {t for _, t in rest} & {t for _, t in held}
    assert not {s for s, _ in rest} & {s for s, _ in held}
    assert split_by_sentence(pairs, 0.1, seed=3) == (rest, held)  # deterministic


def test_reverse_swaps_the_direction_and_keeps_each_sentence_in_one_part(tmp_path):
    """--reverse (English -> Spanish on the Tatoeba file, French -> English on manythings' English<TAB>French one):
    sources and targets swap, and no sentence of either side is in two parts."""
    path = tmp_path / "eng-spa.tsv"
    path.write_text("".join(f"English {i % 40}\tEspañol {i}\n" for i in range(400)), encoding="utf-8")
    cfg = types.SimpleNamespace(data=str(path), dataset="auto", cache_dir=None, reverse=True, max_pairs=0,
                                test_fraction=0.1, validation_fraction=0.1, seed=0)
    splits = load_splits(cfg)
    assert splits.source.endswith(", reversed")
    assert all(s.startswith("Español") and t.startswith("English") for s, t in splits.train + splits.test)
    assert not {t for _, t in splits.train} & {t for _, t in splits.test}  # an English target on one side only
    assert not {s for s, _ in splits.train} & {s for s, _ in splits.test}
    forward = load_splits(types.SimpleNamespace(**{**vars(cfg), "reverse": False}))
    assert all(s.startswith("English") for s, _ in forward.train)


def test_offline_pairs_are_deterministic_and_need_reordering():
    pairs = offline_pairs(0, count=300)
    assert pairs == offline_pairs(0, count=300) and len(set(pairs)) == 300
    assert ("veintiuno", "twenty-one") in offline_pairs(0, count=3000)


def test_teacher_forcing_shifts_the_target_right_and_reads_no_end():
    target = tf.constant([[2, 5, 6, 3, 0], [2, 5, 6, 7, 3]])
    inputs, labels = teacher_forcing(tf.constant([[2, 7, 3], [2, 7, 3]]), target)
    assert inputs["previous_tokens"].numpy().tolist() == [[2, 5, 6, 0], [2, 5, 6, 7]]
    assert labels.numpy().tolist() == [[5, 6, 3, 0], [5, 6, 7, 3]]
    # The decoder's mask (a step per input token) covers exactly the real labels, [END] included
    assert (inputs["previous_tokens"].numpy() > 0).tolist() == (labels.numpy() > 0).tolist()


def test_batches_have_fixed_bucket_shapes_and_padding_only_at_the_end():
    pairs = offline_pairs(1, count=400)
    source, target = (Subwords(learn_subwords([pair[side] for pair in pairs], 400, seed=0)) for side in (0, 1))
    cfg = types.SimpleNamespace(seed=0, max_length=10, bucket_step=4, batch_size=32, autotune=False)
    seen = 0
    for inputs, labels in make_dataset(pairs, source, target, cfg, training=False):
        src, prev = inputs["tokens"].numpy(), inputs["previous_tokens"].numpy()
        assert src.shape[1] in (4, 8, 11) and prev.shape == labels.shape == (len(src), src.shape[1] - 1)
        for row in labels.numpy():
            n = np.count_nonzero(row)
            assert (row[:n] > 0).all() and (row[n:] == 0).all() and row[n - 1] == END_ID
        seen += len(src)
    assert seen == len(pairs)
    ids = source_ids(source, tf.constant(["uno " * 50, ""]), 10).numpy()
    assert ids.shape == (2, 10) and ids[0, -1] == END_ID
