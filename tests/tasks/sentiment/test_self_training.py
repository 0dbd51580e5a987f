"""Self-training: `--self-train F` adds the unlabeled texts the word n-gram model is surest of, with its labels, to
the network's training split (never to validation or test)."""

import gzip

import pytest

from tasks.common.cli import UserError
from tasks.sentiment.data import Splits
from tasks.sentiment.offline import offline_reviews
from tasks.sentiment.self_training import grow_training_split, pseudo_labeled
from tests.tasks.cli_errors import user_error
from tests.tasks.sentiment.conftest import run_recipe

pytestmark = pytest.mark.xdist_group("sentiment_self_training")
TRAIN = (["the wonderful film", "the wonderful cast", "the awful film", "the awful cast"] * 5, [1, 1, 0, 0] * 5)


def test_the_surest_unlabeled_texts_come_first_with_the_models_labels():
    unlabeled = ["awful", "the film", "wonderful", "the cast", "the awful plot"]
    texts, labels = pseudo_labeled(TRAIN, unlabeled, 0.6, vocab_size=100, ngrams=2)
    # Three of five: "the film" and "the cast" hold nothing that leans either way (each of their words came with
    # both labels), so they are the ones left out
    assert dict(zip(texts, labels)) == {"awful": 0, "wonderful": 1, "the awful plot": 0}
    assert texts[0] == "the awful plot"  # "awful" and the phrase "the awful": the surest
    assert pseudo_labeled(TRAIN, unlabeled, 0.0, vocab_size=100, ngrams=2) == ([], [])
    assert len(pseudo_labeled(TRAIN, unlabeled, 1.0, vocab_size=100, ngrams=2)[0]) == 5


def test_an_unlabeled_text_that_is_also_held_out_never_joins_training():
    splits = Splits(TRAIN, (["The awful  plot"], [0]), (["a wonderful cast!"], [1]), source="test")
    unlabeled = ["the awful plot", "A wonderful cast!", "the awful cast", "the wonderful film"]
    grown, report = grow_training_split(splits, unlabeled, 1.0, vocab_size=100, ngrams=2)
    assert sorted(grown.train[0][len(TRAIN[0]):]) == ["the awful cast", "the wonderful film"]
    assert report["left_out_as_held_out"] == 2 and report["added"] == 2
    assert grown.validation == splits.validation and grown.test == splits.test


def test_no_unlabeled_texts_is_one_clear_error():
    with pytest.raises(UserError, match="--self-train labels the --unlabeled texts, and there are none"):
        pseudo_labeled(TRAIN, [], 0.5, vocab_size=100, ngrams=2)


def test_the_recipe_trains_on_the_grown_split_and_reports_it(tmp_path, capsys, monkeypatch):
    from tasks.sentiment import data

    trained_on, make_dataset = [], data.make_dataset

    def recording(pair, *args, training, **kwargs):
        if training:
            trained_on.append(len(pair[0]))
        return make_dataset(pair, *args, training=training, **kwargs)

    monkeypatch.setattr(data, "make_dataset", recording)
    texts, _ = offline_reviews(300, seed=11)
    unlabeled = tmp_path / "unsup.txt.gz"
    unlabeled.write_bytes(gzip.compress(("\n".join(texts) + "\n").encode()))
    plain = run_recipe(tmp_path / "plain", "--dataset", "offline", "--epochs", "1", "--unlabeled", str(unlabeled))
    capsys.readouterr()
    grown = run_recipe(tmp_path / "grown", "--dataset", "offline", "--epochs", "1", "--unlabeled", str(unlabeled),
                       "--self-train", "0.5")
    out = capsys.readouterr().out
    left_out = grown["self_training"]["left_out_as_held_out"]  # generated reviews repeat: some are held-out ones
    added = round(0.5 * (300 - left_out))
    assert grown["self_training"] == {"added": added, "of_unlabeled": 300, "fraction": 0.5, "left_out_as_held_out":
                                      left_out, "positive": grown["self_training"]["positive"]}
    assert 0.2 < grown["self_training"]["positive"] < 0.8  # the generated reviews are half positive
    assert f"self-training: {added} of 300 unlabeled texts" in out
    # Validation and test are the same rows either way; only training grew
    assert grown["test"]["examples"] == plain["test"]["examples"]
    assert grown["validation"]["examples"] == plain["validation"]["examples"]
    assert trained_on[1] == trained_on[0] + added


@pytest.mark.parametrize("argv,message", [
    (["--self-train", "0.5"], "--self-train labels the --unlabeled texts with the word n-gram model"),
    (["--self-train", "0.5", "--unlabeled", "x.txt", "--ngrams", "0"], "give --unlabeled FILE and --ngrams of 1"),
    (["--self-train", "1.5"], "--self-train must be in [0, 1] (got 1.5)"),
])
def test_bad_self_training_flags_get_one_line(argv, message, capsys):
    from tasks.sentiment.__main__ import main

    assert message in user_error(main, argv, capsys)
