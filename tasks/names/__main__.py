"""Names recipe (the PyTorch char-RNN tutorials' data): which language a surname comes from (many-to-one), or new
surnames for a language (one-to-many), exported as a SavedModel that takes and returns strings.

    python -m tasks.names                                  # classify: a surname's language
    python -m tasks.names --task generate                  # new surnames for a language
    python -m tasks.names --data names.tsv                 # your own name<TAB>language file
    python -m tasks.names --data data/names                # the tutorial's folder of <Language>.txt files
    python -m tasks.names classify --model saved_models/classify_names Nakamura Schmidt
    python -m tasks.names generate --model saved_models/names --language Japanese --count 5
    python -m tasks.names evaluate --model saved_models/classify_names --data names.tsv
"""

import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common import cli  # noqa: E402  (cli.ClassWeightFlags: the classifiers' shared flag)
from tasks.common.cli import dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import DistributionFlags  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(cli.ClassWeightFlags, DistributionFlags):
    task: str = flag("classify", "classify: a surname's language (many-to-one); generate: new surnames for a "
                                 "language (one-to-many)", choices=("classify", "generate"))
    # data
    data: str | None = flag(None, "a TSV of name<TAB>language lines, a CSV or JSON Lines table with name and "
                                  "language columns, or the tutorial's data/names folder of <Language>.txt files "
                                  "(or its data.zip)")
    dataset: str = flag("auto", "auto: the tutorial's names, or generated names when they cannot be downloaded; "
                                "names: those or an error; generated: the built-in stand-in",
                        choices=("auto", "names", "generated"))
    cache_dir: str | None = flag(None, "download cache folder (default: ~/.keras)")
    validation_fraction: float = flag(0.1, "names held out for validation")
    test_fraction: float = flag(0.1, "names held out for the test")
    # model
    cell: str = flag("gru", "recurrent cell", choices=("simple_rnn", "lstm", "gru"))
    num_layers: int = flag(1, "stacked recurrent layers")
    units: int = flag(128, "units per direction and layer")
    embedding_dim: int = flag(32, "width of the character embedding")
    dropout: float = flag(0.2, "dropout on each recurrent layer's inputs")
    # training
    epochs: int = flag(20, "maximum epochs (early stopping may end sooner)")
    batch_size: int = flag(64, "names per batch (per replica when distributed)")
    learning_rate: float = flag(2e-3, "Adam learning rate")
    patience: int = flag(3, "epochs without a better validation loss before stopping")
    xla: bool = flag(False, "compile the training step with XLA")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    run_dir: str = flag("runs/names", "checkpoints, TensorBoard logs, metrics and plots; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/classify_names (or names)/<version>/")

    def __post_init__(self):
        require_positive(self, "num_layers", "units", "embedding_dim", "epochs", "batch_size")
        require_fraction(self, "validation_fraction", "test_fraction", "dropout")


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export, for the task `cfg` names. Returns the metrics dict."""
    from tasks.common.run import Run

    run = Run("classify_names" if cfg.task == "classify" else "names", cfg, unit="names")
    from tasks.names.training import train_classifier, train_generator

    return (train_classifier if cfg.task == "classify" else train_generator)(cfg, run)


def parser():
    top, commands = recipe_parser("python -m tasks.names", __doc__, Config)
    cl = commands.add_parser("classify", help="the language of names given as arguments, or one per line on stdin")
    cl.add_argument("--model", required=True, help="a classify export (saved_models/classify_names[/<version>])")
    cl.add_argument("names", nargs="*", help="names to classify (default: read lines from stdin)")
    ge = commands.add_parser("generate", help="new surnames for a language")
    ge.add_argument("--model", required=True, help="a generate export (saved_models/names[/<version>])")
    ge.add_argument("--language", required=True, help="one of the languages the model was trained on")
    ge.add_argument("--prefix", default="", help="the start of every name")
    ge.add_argument("--count", type=int, default=5, help="names to generate")
    ge.add_argument("--temperature", type=float, default=0.8, help="0: always the most likely character")
    ev = commands.add_parser("evaluate", help="accuracy (classify export) or nats per character (generate "
                                              "export) on a TSV of name<TAB>language lines")
    ev.add_argument("--model", required=True, help="an export folder (saved_models/classify_names or names)")
    ev.add_argument("--data", required=True, help="a TSV of name<TAB>language lines, or a folder of <Language>.txt "
                                                  "files (or a zip of them)")
    return top


def main(argv=None):
    from tasks.names.commands import classify, evaluate, generate

    return dispatch(argv, parser(), {"classify": classify, "generate": generate, "evaluate": evaluate}, Config,
                    train)


if __name__ == "__main__":
    run_cli(main)
