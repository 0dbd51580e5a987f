"""Every recipe in one registry, with what a harness (the recipe contract test, a smoke check) needs to run it
without per-recipe code: its module, the models it exports, a config that trains in seconds, and a writer of a small
data file in the format its `--data` flag reads (made from the recipe's built-in generated data, so it needs no
download).

    from tasks.recipes import RECIPES
    recipe = RECIPES["sentiment"]                   # keyed by the model name it exports
    flags = recipe.write_sample(folder, rows=50)   # ["--data", ".../sample.tsv"]
    recipe.main([*recipe.tiny, *flags, "--run-dir", ..., "--export-dir", ...])
"""

import dataclasses
import importlib
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str  # python -m tasks.<name>
    export: str  # the model name of its export: <export-dir>/<export>/<version>/
    tiny: tuple  # flags for a run of seconds: plumbing under test, not accuracy
    write_sample: object  # (folder, rows) -> the flags that train on a `rows`-row file written into `folder`
    offline: tuple = ()  # flags that select the recipe's built-in generated data
    raw_input: str = "string"  # the dtype every input of its `model.keras` takes: the data as users hold it

    @property
    def module(self):
        return f"tasks.{self.name}"

    def main(self, argv):
        """The recipe's command line, in this process: `python -m tasks.<name> <argv>`."""
        return importlib.import_module(f"{self.module}.__main__").main(argv)


def _lines(folder, file_name, header, rows):
    path = Path(folder) / file_name
    path.write_text("\n".join([*([header] if header else []), *rows]) + "\n", encoding="utf-8")
    return ["--data", str(path)]


def sentiment_sample(folder, rows):
    from tasks.sentiment.offline import offline_reviews

    texts, labels = offline_reviews(rows, seed=1)
    return _lines(folder, "reviews.tsv", "text\tlabel", [f"{t}\t{y}" for t, y in zip(texts, labels)])


def translation_sample(folder, rows):
    from tasks.translation.offline import offline_pairs

    return _lines(folder, "pairs.tsv", None, [f"{s}\t{t}" for s, t in offline_pairs(seed=1, count=rows)])


def forecasting_sample(folder, rows):
    from tasks.forecasting.data import generated_csv

    header, *lines = generated_csv(seed=1, days=rows).splitlines()
    return _lines(folder, "series.csv", header, lines)


def generation_sample(folder, rows):
    from tasks.generation.data import generated_play

    return _lines(folder, "play.txt", None, generated_play(seed=1, lines=rows).splitlines()[:rows])


def names_sample(folder, rows):
    from tasks.names.data import generated_names

    names, languages = generated_names(seed=1, per_language=-(-rows // 4))
    return _lines(folder, "names.tsv", "name\tlanguage", [f"{n}\t{x}" for n, x in list(zip(names, languages))[:rows]])


def video_sample(folder, rows):
    from tasks.video_frames.synthetic import write_video_folder

    return ["--data", str(write_video_folder(Path(folder) / "videos", rows)[0])]



# Keyed by export name: the names recipe has two tasks, each its own entry.
RECIPES = {recipe.export: recipe for recipe in [
    Recipe("sentiment", "sentiment", ("--epochs", "2", "--units", "8", "--embedding-dim", "8", "--vocab-size", "300",
                                      "--max-length", "30", "--bucket-step", "10", "--batch-size", "32"),
           sentiment_sample, offline=("--dataset", "offline")),
    Recipe("translation", "translation", ("--epochs", "2", "--units", "16", "--embedding-dim", "16", "--max-length",
                                          "12", "--bucket-step", "4", "--batch-size", "64", "--examples", "2",
                                          "--beam-width", "3"),
           translation_sample, offline=("--dataset", "offline", "--max-pairs", "1500")),
    Recipe("video_frames", "video_frames", ("--epochs", "2", "--units", "8", "--filters", "4", "--max-frames", "20",
                                            "--frame-size", "16", "--batch-size", "16"),
           video_sample, offline=("--train-clips", "120", "--eval-clips", "24"), raw_input="float32"),  # frames
    Recipe("forecasting", "forecasting", ("--epochs", "2", "--units", "8", "--lookback", "5", "--batch-size", "64"),
           forecasting_sample, offline=("--dataset", "generated")),
    Recipe("generation", "generation", ("--epochs", "2", "--units", "16", "--num-layers", "1", "--embedding-dim", "8",
                                        "--bptt", "10", "--batch-size", "8", "--samples", "20"),
           generation_sample, offline=("--dataset", "generated")),
    Recipe("names", "classify_names", ("--task", "classify", "--epochs", "2", "--units", "16", "--embedding-dim",
                                       "8", "--batch-size", "16"),
           names_sample, offline=("--dataset", "generated")),
    Recipe("names", "names", ("--task", "generate", "--epochs", "2", "--units", "16", "--embedding-dim", "8",
                              "--batch-size", "16"),
           names_sample, offline=("--dataset", "generated")),
]}
