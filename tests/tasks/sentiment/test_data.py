"""Data: every accepted --data format, the offline fallback, the tfds path, and tokenization eagerly and in tf.data."""

import json
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tasks.common.cli import UserError
from tasks.sentiment import data
from tasks.sentiment.offline import offline_reviews

CFG = dict(validation_fraction=0.2, test_fraction=0.25, seed=0, dataset="auto", tfds_dir=None, test_data=None,
           group_by="auto")


def cfg(**overrides):
    return types.SimpleNamespace(**{**CFG, **overrides})


def test_tsv_with_numeric_labels_and_stray_tab_and_quotes(tmp_path):
    path = tmp_path / "reviews.tsv"
    rows = [f'a "quoted"\treview {i}\t{i % 2}' for i in range(20)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    splits = data.load_splits(cfg(data=str(path)))
    texts = splits.train[0] + splits.validation[0] + splits.test[0]
    assert len(texts) == 20 and len(splits.test[0]) == 5 and len(splits.validation[0]) == 3
    assert all(t.startswith('a "quoted"\treview') for t in texts)


@pytest.mark.parametrize("separator", [",", ";"])  # ';': a spreadsheet's CSV where the decimal mark is a comma
def test_csv_with_label_names(tmp_path, separator):
    path = tmp_path / "reviews.csv"
    path.write_text(f"sentiment{separator}review\n" + "".join(f'{"pos" if i % 2 else "NEG"}{separator}"good, {i}"\n'
                                                                for i in range(20)))
    splits = data.load_splits(cfg(data=str(path)))
    pairs = list(zip(*splits.train))
    assert len(pairs) == 12 and all(label == int(text.split(", ")[1]) % 2 for text, label in pairs)


@pytest.mark.parametrize("layout", ["lines", "array", "columns"])  # pandas' to_json writes columns by default
def test_json_lines_a_json_array_and_json_columns_read_as_a_table(tmp_path, layout):
    # pandas writes a bool column as JSON's true/false
    objects = [{"text": f'good, "{i}"\tone', "label": i % 2 if layout != "array" else bool(i % 2), "extra": None}
               for i in range(20)]
    path = tmp_path / ("reviews.jsonl" if layout == "lines" else "reviews.json")
    columns = {k: {str(i): o[k] for i, o in enumerate(objects)} for k in objects[0]}
    path.write_text({"lines": "\n".join(map(json.dumps, objects)) + "\n", "array": json.dumps(objects),
                     "columns": json.dumps(columns)}[layout])
    splits = data.load_splits(cfg(data=str(path)))
    pairs = list(zip(*splits.train))
    assert len(pairs) == 12 and all(label == int(text.split('"')[1]) % 2 for text, label in pairs)
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{"text": oops}\n')
    with pytest.raises(UserError, match="line 2 is not JSON"):
        data.load_splits(cfg(data=str(tmp_path / "bad.jsonl")))


@pytest.mark.parametrize("name", ["reviews.tsv.gz", "reviews.csv.gz"])
def test_a_gzipped_table_with_labels_written_as_floats(tmp_path, name):
    import gzip

    separator = "," if ".csv" in name else "\t"
    rows = [f'"good, {i}"{separator}{float(i % 2)}' if separator == "," else f"good {i}\t{float(i % 2)}"
            for i in range(20)]
    with gzip.open(tmp_path / name, "wt", encoding="utf-8") as file:
        file.write(f"text{separator}label\n" + "\n".join(rows) + "\n")
    splits = data.load_splits(cfg(data=str(tmp_path / name)))
    pairs = list(zip(*splits.train)) + list(zip(*splits.validation)) + list(zip(*splits.test))
    assert len(pairs) == 20 and {label for _, label in pairs} == {0, 1}
    assert all(label == int(text.replace(",", "").split()[1]) % 2 for text, label in pairs)


def _acl_folder(root, parts):
    for part in parts:
        for name in ("neg", "pos"):
            folder = root / part / name
            folder.mkdir(parents=True)
            for i in range(6):
                (folder / f"{i}_{3 if name == 'neg' else 8}.txt").write_text(f"{name} review {i}<br /><br />end")


def test_aclimdb_folder_with_and_without_test(tmp_path):
    _acl_folder(tmp_path / "full", ("train", "test"))
    splits = data.load_splits(cfg(data=str(tmp_path / "full")))
    assert len(splits.test[0]) == 12 and sorted(splits.test[1]) == [0] * 6 + [1] * 6
    assert all(("pos" in t) == bool(y) for t, y in zip(*splits.train))
    _acl_folder(tmp_path / "trainonly", ("train",))
    splits = data.load_splits(cfg(data=str(tmp_path / "trainonly")))
    assert len(splits.test[0]) == 3 and "held out" in splits.source


def test_reviews_of_one_film_stay_on_one_side(tmp_path, capsys):
    rng = np.random.default_rng(0)
    films = [f"tt{rng.integers(0, 40):07d}" for _ in range(400)]
    labels = rng.integers(0, 2, 400)
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + "".join(f"review {i} of {f}\t{y}\n"
                                                                  for i, (f, y) in enumerate(zip(films, labels))))
    (tmp_path / "train_meta.tsv").write_text("id\trating\tmovie\n" + "".join(f"{i}\t1\t{f}\n"
                                                                              for i, f in enumerate(films)))
    splits = data.load_splits(cfg(data=str(tmp_path / "train.tsv")))
    film_sets = [{t.split(" of ")[1] for t in part[0]} for part in (splits.train, splits.validation, splits.test)]
    assert not (film_sets[0] & film_sets[1]) and not (film_sets[0] & film_sets[2]) and not (film_sets[1] & film_sets[2])
    assert 60 <= len(splits.test[0]) <= 140 and "grouped by 'movie' from train_meta.tsv" in capsys.readouterr().out
    ungrouped = data.load_splits(cfg(data=str(tmp_path / "train.tsv"), group_by="none"))
    assert {t.split(" of ")[1] for t in ungrouped.train[0]} & {t.split(" of ")[1] for t in ungrouped.test[0]}
    with pytest.raises(data.UserError, match="--group-by 'film': neither"):
        data.load_splits(cfg(data=str(tmp_path / "train.tsv"), group_by="film"))
    (tmp_path / "train_meta.tsv").write_text("movie\ntt1\n")
    with pytest.raises(data.UserError, match="has 1 rows but"):
        data.load_splits(cfg(data=str(tmp_path / "train.tsv")))


def test_phrases_of_one_sentence_stay_on_one_side(tmp_path, capsys):
    sentences = [f"film {i} was {'good' if i % 2 else 'bad'} and long" for i in range(60)]
    rows = [(s, i % 2) for i, s in enumerate(sentences)]
    rows += [(" ".join(s.split()[1:4]), i % 2) for i, s in enumerate(sentences)]  # a phrase of each: "{i} was good"
    rows += [(s.split()[1], i % 2) for i, s in enumerate(sentences)]  # and a word of it
    (tmp_path / "sst.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    splits = data.load_splits(cfg(data=str(tmp_path / "sst.tsv")))
    number = lambda text: next(w for w in text.split() if w.isdigit())  # noqa: E731
    seen = [{number(t) for t in part[0]} for part in (splits.train, splits.validation, splits.test)]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert "180 rows are phrases of 60 sentences" in capsys.readouterr().out


def test_aclimdb_urls_group_by_film_and_test_data_replaces_the_test(tmp_path, capsys):
    _acl_folder(tmp_path / "acl", ("train",))
    for name, film in (("neg", 1), ("pos", 2)):  # two reviews per film: 0-1, 2-3, 4-5
        (tmp_path / "acl" / "train" / f"urls_{name}.txt").write_text(
            "".join(f"http://www.imdb.com/title/tt{film}{i // 2}/usercomments\n" for i in range(6)))
    splits = data.load_splits(cfg(data=str(tmp_path / "acl"), test_fraction=0.25, validation_fraction=0.34))
    assert "grouped by film (urls_*.txt): 6 films" in capsys.readouterr().out
    pairs = lambda part: {(t.split()[0], int(t.split()[2].split("<")[0]) // 2) for t in part[0]}  # noqa: E731
    assert not (pairs(splits.train) & pairs(splits.test)) and not (pairs(splits.train) & pairs(splits.validation))
    assert len(splits.test[0]) == 4
    test_file = tmp_path / "official.tsv"
    test_file.write_text("text\tlabel\nfine\t1\nawful\t0\n")
    splits = data.load_splits(cfg(data=str(tmp_path / "acl"), test_data=str(test_file), validation_fraction=0.34))
    assert splits.test == (["fine", "awful"], [1, 0]) and len(splits.train[0]) + len(splits.validation[0]) == 12


def test_folder_that_is_not_aclimdb(tmp_path):
    with pytest.raises(data.UserError, match="not aclImdb-style"):
        data.load_splits(cfg(data=str(tmp_path)))


def test_offline_fallback_when_imdb_cannot_be_downloaded(tmp_path, monkeypatch, capsys):
    splits = data.load_splits(cfg(data=None, tfds_dir=str(tmp_path)))
    assert splits.offline and "NOT IMDB" in splits.source
    assert "IMDB could not be downloaded" in capsys.readouterr().out
    with pytest.raises(data.UserError, match="needs a network connection"):
        data.load_splits(cfg(data=None, dataset="imdb", tfds_dir=str(tmp_path)))


def test_imdb_through_tensorflow_datasets(tmp_path):
    with tfds.testing.mock_data(num_examples=40):
        splits = data.load_splits(cfg(data=None, dataset="imdb", tfds_dir=str(tmp_path)))
    assert not splits.offline and "imdb_reviews" in splits.source
    assert len(splits.test[0]) == 40 and len(splits.train[0]) + len(splits.validation[0]) == 40
    assert all(isinstance(t, str) for t in splits.train[0]) and set(splits.train[1]) <= {0, 1}


def test_offline_set_is_deterministic_balanced_and_order_sensitive():
    texts, labels = offline_reviews(400, seed=3)
    assert (texts, labels) == offline_reviews(400, seed=3)
    assert sum(labels) == 200
    negated = [(t, y) for t, y in zip(texts, labels) if " but " not in t and " not " in t]
    assert negated and all((any(w in t for w in ("dull", "boring", "awful", "terrible", "bland", "clumsy",
                                                   "tedious", "lifeless", "silly", "messy"))) == bool(y)
                           for t, y in negated)


def test_standardize_eagerly_and_in_tf_data():
    raw = ["Great <br /><br />movie!!", "DON'T watch", "Ünïcode ça"]
    expected = [b"great movie ", b"don't watch", "ünïcode ça".encode()]
    assert [s.strip() for s in data.standardize(tf.constant(raw)).numpy()] == [e.strip() for e in expected]
    mapped = list(tf.data.Dataset.from_tensor_slices(raw).map(data.standardize).as_numpy_iterator())
    assert [s.strip() for s in mapped] == [e.strip() for e in expected]


def test_token_ids_cut_pad_and_handle_empty_eagerly_and_in_tf_data():
    vectorizer = data.make_vectorizer(50, ["good", "bad", "film"])
    texts = tf.constant(["good film", "", "bad " * 100])
    ids = data.token_ids(vectorizer, texts, max_length=5).numpy()
    assert ids.shape == (3, 5)
    assert ids[0].tolist() == [2, 4, 0, 0, 0] and ids[1].tolist() == [0] * 5 and ids[2].tolist() == [3] * 5
    only_empty = data.token_ids(vectorizer, tf.constant([""]), max_length=5).numpy()
    assert only_empty.shape == (1, 1)
    batched = next(iter(tf.data.Dataset.from_tensors(texts).map(lambda t: data.token_ids(vectorizer, t, 5))))
    np.testing.assert_array_equal(batched.numpy(), ids)


def test_a_tail_cut_keeps_a_long_texts_first_and_last_words_the_same_way_everywhere():
    from tasks.common.text import FirstSteps

    vectorizer = data.make_vectorizer(50, [f"w{i}" for i in range(20)])  # word w<i> is id i + 2
    texts = [" ".join(f"w{i}" for i in range(12)), "w1 w2 w3 w4 w5", "w1 w2", ""]
    ids = data.token_ids(vectorizer, tf.constant(texts), max_length=5, tail=3).numpy()
    assert ids.tolist() == [[2, 3, 11, 12, 13], [3, 4, 5, 6, 7], [3, 4, 0, 0, 0], [0] * 5]
    ragged = data.tokenize_all(vectorizer, texts, 5, tail=3).to_list()
    assert ragged == [[2, 3, 11, 12, 13], [3, 4, 5, 6, 7], [3, 4], []]
    assert data.token_ids(vectorizer, tf.constant(texts[:1]), 5, tail=5).numpy().tolist() == [[9, 10, 11, 12, 13]]
    # inside model.keras: the dense ids a TextVectorization pads with zeros
    dense = data.make_vectorizer(50, [f"w{i}" for i in range(20)], ragged=False)(tf.constant(texts))
    np.testing.assert_array_equal(FirstSteps(5, 3)(dense).numpy(), ids)
    assert FirstSteps(5, 3).get_config()["tail"] == 3


def test_pipeline_buckets_to_fixed_shapes_and_keeps_every_example():
    vectorizer = data.make_vectorizer(50, ["w"])
    texts = [" ".join(["w"] * n) for n in range(0, 45)]
    config = types.SimpleNamespace(seed=0, max_length=40, tail=0, batch_size=4, bucket_step=10, autotune=False)
    for training in (False, True):  # training keeps each bucket's last, partial batch too
        batches = list(data.make_dataset((texts, [i % 2 for i in range(45)]), vectorizer, config, training=training))
        assert {b[0].shape[1] for b in batches} <= {10, 20, 30, 40}
        assert sum(b[0].shape[0] for b in batches) == 45


def test_imdb_unlabeled_reviews_through_tensorflow_datasets(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        texts = data.imdb_unlabeled(str(tmp_path))
    assert len(texts) == 12 and all(isinstance(t, str) for t in texts)


def test_imdb_unlabeled_reviews_without_a_network_is_one_error(tmp_path):
    with pytest.raises(data.UserError, match="--unlabeled tfds needs a network connection.*--unlabeled FILE"):
        data.imdb_unlabeled(str(tmp_path))
