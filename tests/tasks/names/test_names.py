"""The names tasks: a surname's language (many-to-one) and surnames for a language (one-to-many), end to end with
their exports, on a small TSV written here."""

import json
import random
import types
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import UserError, run_cli
from tasks.common.text import decoder_inputs
from tasks.names.__main__ import main
from tasks.names.data import END, START, char_ids, load_names, read_names, split

pytestmark = pytest.mark.xdist_group("names")
TINY = ["--epochs", "2", "--units", "16", "--embedding-dim", "8", "--batch-size", "32"]



@pytest.fixture(scope="module")
def names_file(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("names") / "names.tsv"
    rows = ["name\tlanguage"]
    syllables = {"Alpha": ["ka", "ro", "mi"], "Beta": ["sch", "berg", "ow"], "Gamma": ["é", "lu", "ç"]}
    for language, parts in syllables.items():
        rows += [f"{''.join(rng.choice(parts) for _ in range(3)).capitalize()}\t{language}" for _ in range(120)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_char_ids_with_and_without_markers():
    ids = char_ids(["ab", "c", "az"], ["a", "b", "c"], markers=True)
    assert ids.tolist() == [[START, 4, 5, END], [START, 6, END, 0], [START, 4, 1, END]]
    assert char_ids(["ab"], ["a", "b"], markers=False).tolist() == [[4, 5]]


def test_the_generator_reads_no_end_so_its_mask_covers_exactly_the_labels():
    ids = char_ids(["ab", "c"], ["a", "b", "c"], markers=True)  # [START] a b [END] / [START] c [END] 0
    previous, labels = np.asarray(decoder_inputs(ids, END)), ids[:, 1:]
    assert previous.tolist() == [[START, 4, 5], [START, 6, 0]]
    assert (previous > 0).tolist() == (labels > 0).tolist()


def test_split_keeps_every_copy_of_a_name_on_one_side_and_every_language_in_each_part():
    names = types.SimpleNamespace(names=["Abel", "Abel", "Abel", "Bo", "Cy", "Di", "Ed", "Fa", "Gu", "Ho", "Io", "Ju"],
                                  languages=["A", "A", "B", "A", "A", "A", "B", "B", "B", "B", "A", "B"])
    for seed in range(20):
        parts = split(names, seed, 0.2, 0.2)
        assert sorted(np.concatenate(parts).tolist()) == list(range(12))
        seen = [{names.names[i] for i in part} for part in parts]
        assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
        assert all({names.languages[i] for i in part} == {"A", "B"} for part in parts[1:])


def test_the_tutorials_folder_its_zip_and_a_csv_read_as_the_tsv(names_file, tmp_path):
    rows = [line.split("\t") for line in names_file.read_text(encoding="utf-8").splitlines()[1:]]
    by_language = {}
    for name, language in rows:
        by_language.setdefault(language, []).append(name)
    folder = tmp_path / "data" / "names"
    folder.mkdir(parents=True)
    for language, names in by_language.items():
        (folder / f"{language}.txt").write_text("\n".join(names) + "\n\n", encoding="utf-8")
    (folder / "README").write_text("not a language")
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        for language in by_language:
            archive.write(folder / f"{language}.txt", f"data/names/{language}.txt")
        archive.writestr("data/eng-fra.txt", "a translation file the tutorial's zip holds too")
    expected = sorted(map(tuple, rows))
    for path in (folder, tmp_path / "data.zip"):
        names, languages = read_names(path)
        assert sorted(zip(names, languages)) == expected
    (tmp_path / "names.csv").write_text("id,language,name\n" + "".join(f"{i},{lang},{n}\n" for i, (n, lang)
                                                                        in enumerate(rows)), encoding="utf-8")
    assert sorted(zip(*read_names(tmp_path / "names.csv"))) == expected
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .txt files; pass a TSV of name<TAB>language lines, or a folder"):
        read_names(tmp_path / "empty")


def test_offline_without_a_dataset_named_uses_generated_names(capsys):
    cfg = types.SimpleNamespace(data=None, dataset="auto", cache_dir=None, seed=0)
    names = load_names(cfg)
    assert names.offline and len(set(names.languages)) == 4 and "could not be downloaded" in capsys.readouterr().out


def test_classify_names_end_to_end(names_file, tmp_path):
    metrics = main(["--task", "classify", "--data", str(names_file), "--run-dir", str(tmp_path / "run"),
                    "--export-dir", str(tmp_path / "exports"), *TINY])
    held_out_names = split(load_names(types.SimpleNamespace(data=str(names_file), dataset="auto", cache_dir=None,
                                                            seed=0, task="classify")), 0, 0.1, 0.1)[2]
    assert metrics["languages"] == ["Alpha", "Beta", "Gamma"] and metrics["test"]["examples"] == len(held_out_names)
    assert 0 <= metrics["test"]["balanced_accuracy"] <= 1
    assert metrics["history"]["loss"][-1] < metrics["history"]["loss"][0]
    serve = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    names = ["Kamiro", "", "Xyz Kamiro", "Schberg"]  # a few unknown characters are fine
    out = serve(name=tf.constant(names))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1, atol=1e-5)
    assert {x.decode() for x in out["language"].numpy()} <= {"Alpha", "Beta", "Gamma"}
    # model.keras takes names as strings and answers what the export answers; both read characters with the ids
    # the network was trained on.
    model = keras.models.load_model(Path(metrics["export"]) / "assets.extra" / "model.keras")
    np.testing.assert_allclose(model(tf.constant(names)).numpy(), out["probabilities"].numpy(), atol=1e-5)
    chars = json.loads((Path(metrics["export"]) / "assets.extra" / "config.json").read_text())["characters"]
    for name, probabilities in zip(names, out["probabilities"].numpy()):
        expected = tf.nn.softmax(model.get_layer("many_to_one")(char_ids([name], chars, markers=False))).numpy()[0]
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="written mostly in characters"):
        model(tf.constant(["Иванов"]))
    # A name mostly in characters no training name had (another script) is refused, naming it; a server gives a 400.
    with pytest.raises(tf.errors.InvalidArgumentError, match="text at index 1 of the batch is written mostly in"):
        serve(name=tf.constant(["Kamiro", "Иванов"]))
    # The commands on the export: `classify` answers as the signature does, `evaluate` on the test names gives the
    # run's own test figures, and leaves out (and counts) a name in another script.
    answers = main(["classify", "--model", str(tmp_path / "exports" / "classify_names"), *names[:2]])
    assert answers == [(language.decode(), pytest.approx(float(p.max()), abs=1e-5))
                       for language, p in zip(out["language"].numpy()[:2], out["probabilities"].numpy()[:2])]
    held_out = held_out_file(names_file, held_out_names, tmp_path / "test.tsv", extra=["Иванов\tBeta"])
    scored = main(["evaluate", "--model", metrics["export"], "--data", str(held_out)])
    assert scored["refused"] == 1 and scored["examples"] == len(held_out_names)
    assert scored["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert scored["balanced_accuracy"] == pytest.approx(metrics["test"]["balanced_accuracy"])


def test_generate_names_end_to_end(names_file, tmp_path, capsys):
    metrics = main(["--task", "generate", "--data", str(names_file), "--run-dir", str(tmp_path / "run"),
                    "--export-dir", str(tmp_path / "exports"), *TINY])
    assert set(metrics["samples"]) == {"Alpha", "Beta", "Gamma"} and metrics["test"]["nats_per_char"] > 0
    generate = tf.saved_model.load(metrics["export"]).signatures["serving_default"]
    args = dict(language=tf.constant(["Beta", "Alpha"]), prefix=tf.constant(["Sch", ""]),
                temperature=tf.constant([0.0, 0.0]))
    first, again = generate(**args)["name"].numpy(), generate(**args)["name"].numpy()
    assert first.tolist() == again.tolist()  # temperature 0 is deterministic
    assert first[0].decode().startswith("Sch") and all(len(n.decode()) <= 3 + 20 for n in first)
    # model.keras takes a language and a name as strings and gives the logits of each next character, [END] last:
    # its own greedy choice after [START] + "Sch" is the export's fourth character.
    model = keras.models.load_model(Path(metrics["export"]) / "assets.extra" / "model.keras")
    logits = model({"language": tf.constant(["Beta"]), "name": tf.constant(["Sch"])}).numpy()
    chars = json.loads((Path(metrics["export"]) / "assets.extra" / "config.json").read_text())["characters"]
    assert logits.shape == (1, 4, len(chars) + 4)
    chosen = int(np.argmax(logits[0, -1]))
    assert first[0].decode()[3:4] == ("" if chosen == END else (["", "[UNK]", "[START]", "[END]"] + chars)[chosen])
    # The commands on the export: `generate` samples what the signature samples; `evaluate` on the test names gives
    # the run's own nats per character.
    assert main(["generate", "--model", metrics["export"], "--language", "Beta", "--prefix", "Sch", "--count", "2",
                 "--temperature", "0"]) == [first[0].decode()] * 2
    held_out_names = split(load_names(types.SimpleNamespace(data=str(names_file), dataset="auto", cache_dir=None,
                                                            seed=0, task="generate")), 0, 0.1, 0.1)[2]
    scored = main(["evaluate", "--model", metrics["export"], "--data",
                   str(held_out_file(names_file, held_out_names, tmp_path / "test.tsv"))])
    assert scored["names"] == len(held_out_names)
    assert scored["nats_per_char"] == pytest.approx(metrics["test"]["nats_per_char"], rel=1e-4)
    for command, said in (
            (["generate", "--language", "Klingon"], "--language names language(s) the model was not trained on: "
                                                    "Klingon; it knows Alpha, Beta, Gamma"),
            (["classify", "Kamiro"], "is a names export; `classify` needs a classify_names export"),
            (["generate", "--language", "Beta", "--count", "0"], "--count must be at least 1")):
        with pytest.raises(SystemExit):
            run_cli(main, [command[0], "--model", metrics["export"], *command[1:]])
        assert said in capsys.readouterr().err


def held_out_file(names_file, rows, path, extra=()):
    """A name<TAB>language file of `names_file`'s data rows `rows` (and `extra` lines)."""
    lines = names_file.read_text(encoding="utf-8").splitlines()[1:]
    path.write_text("\n".join([*(lines[i] for i in rows), *extra]) + "\n", encoding="utf-8")
    return path


def test_new_names_of_a_single_language(tmp_path):
    """Generating needs one language (a classifier needs two, below)."""
    syllables = ["ro", "ma", "ti", "ne", "lu", "ca", "sa", "ri", "no", "be"]
    path = tmp_path / "italian.tsv"
    path.write_text("".join(f"{(a + b + c).title()}\tItalian\n" for a in syllables for b in syllables[:4]
                            for c in syllables[:3]))
    metrics = main(["--task", "generate", "--data", str(path), "--run-dir", str(tmp_path / "run"),
                    "--export-dir", str(tmp_path / "exports"), *TINY, "--epochs", "1"])
    assert Path(metrics["export"]).is_dir() and np.isfinite(metrics["test"]["nats_per_char"])


def test_bad_names_input(tmp_path, capsys):
    (tmp_path / "one.tsv").write_text("Smith\tEnglish\nJones\tEnglish\n")
    with pytest.raises(SystemExit):
        run_cli(main, ["--task", "classify", "--data", str(tmp_path / "one.tsv"), "--run-dir", str(tmp_path / "r")])
    assert "has 1 language(s); at least two are needed" in capsys.readouterr().err
    (tmp_path / "bad.tsv").write_text("Smith English\n")
    with pytest.raises(SystemExit):
        run_cli(main, ["--task", "classify", "--data", str(tmp_path / "bad.tsv")])
    assert "line 1 is not 'name<TAB>language'" in capsys.readouterr().err
