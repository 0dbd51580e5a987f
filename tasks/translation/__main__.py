"""Translation recipe: an attention seq2seq from the zoo, trained with teacher forcing, scored with sacreBLEU and
chrF on held-out pairs, exported as a SavedModel that maps source strings to translated strings.

    python -m tasks.translation                               # Tatoeba Spanish -> English (downloaded), or offline
    python -m tasks.translation --data pairs.tsv              # your own source<TAB>target pairs (--reverse swaps)
    python -m tasks.translation evaluate --model saved_models/translation --data pairs.tsv
    python -m tasks.translation translate --model saved_models/translation "¿Dónde está la estación?"
"""

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common import cli  # noqa: E402
from tasks.common.cli import UserError, dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import DistributionFlags  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(DistributionFlags):
    # data
    data: str | None = flag(None, "local pairs: a TSV file of source<TAB>target lines (extra columns ignored)")
    dataset: str = flag("auto", "auto: Tatoeba spa-eng, or the offline set when it cannot be downloaded; spa-eng: "
                                 "Tatoeba or an error; offline: the built-in generated set",
                        choices=("auto", "spa-eng", "offline"))
    cache_dir: str | None = flag(None, "download cache folder (default: ~/.keras)")
    reverse: bool = flag(False, "swap the direction (translate the target column into the source one)")
    max_pairs: int = flag(0, "use only the first N pairs (the files run from short to long sentences); 0: all")
    test_fraction: float = flag(0.02, "pairs held out for the test split, grouped by sentence (none on both sides)")
    validation_fraction: float = flag(0.02, "pairs held out from training for validation and early stopping")
    source_vocab_size: int = flag(8000, "source subword vocabulary size (SentencePiece, learned from the training "
                                        "sentences), 256 byte pieces and 4 markers included")
    target_vocab_size: int = flag(8000, "target subword vocabulary size, as for the source")
    max_length: int = flag(32, "sentences are cut to this many subword pieces (markers included); also the decode "
                               "limit")
    bucket_step: int = flag(6, "width of the length buckets; batches are padded to a multiple of it")
    # model
    cell: str = flag("gru", "recurrent cell of the encoder and the decoder", choices=("simple_rnn", "lstm", "gru"))
    bidirectional: bool = flag(True, "bidirectional encoder (the decoder is always left to right)")
    attention: str = flag("additive", "attention over the encoder's outputs", choices=("additive", "dot", "none"))
    num_layers: int = flag(1, "stacked recurrent layers in the encoder and in the decoder")
    units: int = flag(256, "units per direction and layer")
    embedding_dim: int = flag(128, "width of the source and target word embeddings")
    dropout: float = flag(0.2, "dropout on each recurrent layer's inputs")
    # training
    epochs: int = flag(12, "maximum epochs (early stopping may end sooner)")
    batch_size: int = flag(64, "sentence pairs per batch (per replica when distributed)")
    learning_rate: float = flag(1e-3, "Adam learning rate")
    patience: int = flag(2, "epochs without a better validation loss before stopping")
    # Off by default: measured on spa-eng on this 2-core CPU, XLA made this model's steps slower (86 vs 66 ms for a
    # batch of 64), unlike the sentiment LSTM.
    xla: bool = flag(False, "compile the training step with XLA")
    fused_gru: bool = flag(True, "train GRU layers on the zoo's GRU loop with its gradient written out "
                                 "(zoo.fuse_grus: the same results, faster steps on CPU; see bench/README.md), and "
                                 "LSTM layers (--cell lstm) on zoo.fuse_lstms' loop; Keras's own loop with "
                                 "--no-fused-gru, --xla, a GPU (cuDNN) or a distributed strategy")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    # evaluation and export
    beam_width: int = flag(5, "beams kept by beam search (evaluation and the export's beam_search signature)")
    length_penalty: float = flag(1.0, "beam search ranks finished translations by log-probability / length**this")
    examples: int = flag(5, "test translations printed and plotted with their attention")
    xla_serving: bool = flag(False, "the export's greedy and beam search run XLA-compiled for a fixed set of shapes, "
                                    "compiled by its warm-up at load (12 s; 1.84x faster at batch 1 on CPU, "
                                    "bench/README.md); TF Serving runs XLA only with "
                                    "--xla_cpu_compilation_enabled=true, and without it the version fails to load")
    run_dir: str = flag("runs/translation", "checkpoints, TensorBoard logs, metrics and plots; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/translation/<version>/")

    def __post_init__(self):
        require_positive(self, "source_vocab_size", "target_vocab_size", "bucket_step", "num_layers", "units",
                               "embedding_dim", "epochs", "batch_size", "beam_width")
        if self.max_length < 3:
            raise UserError(f"--max-length must be at least 3 ([START], a word, [END]); got {self.max_length}.")
        if self.max_pairs < 0 or self.examples < 0:
            raise UserError("--max-pairs and --examples must not be negative.")
        require_fraction(self, "validation_fraction", "test_fraction", "dropout")
        for name in ("source_vocab_size", "target_vocab_size"):
            if getattr(self, name) < 300:
                raise UserError(f"--{name.replace('_', '-')} must be at least 300 (256 byte pieces, 4 markers and "
                                f"the common characters); got {getattr(self, name)}.")


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export. Returns the metrics dict."""
    from tasks.common.run import Run

    run = Run("translation", cfg, unit="pairs")

    import tensorflow as tf

    from tasks.translation.data import load_splits, make_dataset
    from tasks.translation.evaluation import plot_attention, translate_and_score
    from tasks.translation.serving import Translator, write_export
    from tasks.translation.subwords import Subwords, learn_subwords

    # Data: validation and test are held out by sentence (source and target); the test split is used once, at the end.
    splits = load_splits(cfg)
    run.data(splits.source, f"{len(splits.train)} train / {len(splits.validation)} validation / "
                            f"{len(splits.test)} test pairs", offline=splits.offline,
             marker="OFFLINE GENERATED DATA, NOT TATOEBA")
    subwords = {}
    for side, index, size in (("source", 0, cfg.source_vocab_size), ("target", 1, cfg.target_vocab_size)):
        model_file = run.dir / f"{side}.spm"
        if run.resuming and model_file.exists():  # the same ids as the interrupted run
            subwords[side] = Subwords.read(model_file)
        else:  # learned from the training pairs only
            subwords[side] = Subwords(learn_subwords([pair[index] for pair in splits.train], size, cfg.seed))
            subwords[side].write(model_file)
    # One device without XLA trains the logits of real target steps only (XLA compiles fixed shapes alone)
    real_steps = run.placement.uses_fit and not cfg.xla
    train_ds, val_ds = (make_dataset(pairs, subwords["source"], subwords["target"], cfg, training=training,
                                     real_steps=real_steps)
                        for pairs, training in ((splits.train, True), (splits.validation, False)))

    # Model from the zoo: (Bi)RNN encoder -> RNN decoder with attention, trained with teacher forcing.
    with run.scope():
        model, trainer = build_model(cfg, subwords, fused=run.trains_cpu_fast_path(cfg.fused_gru),
                                     real_steps=real_steps)
    trained = run.fit(trainer, train_ds, validation_data=val_ds, samples_per_epoch=len(splits.train))
    if not run.is_chief:
        return run.worker_result()
    # The plain Keras model is what decodes and is exported; what trained (compiled) scores the validation loss
    model = model if trained is trainer else trained

    # Evaluate once on the test split: greedy and beam search, with the very functions the export runs.
    translator = Translator(model, subwords["source"], subwords["target"], max_length=cfg.max_length,
                            beam_width=cfg.beam_width, length_penalty=cfg.length_penalty)
    functions = translator.functions()
    beam = f"beam_{cfg.beam_width}"
    test, decoded, scored = translate_and_score(
        {"greedy": functions["serving_default"], beam: functions["beam_search"]}, splits.test)
    sources, references = [s for s, _ in scored], [t for _, t in scored]
    examples = [{"source": s, "reference": r, "greedy": g, "beam": b} for s, r, g, b in list(zip(
        sources, references, decoded["greedy"], decoded[beam]))[:cfg.examples]]
    if cfg.examples and cfg.attention != "none":
        attention = functions["attention"](tf.constant(sources[:cfg.examples]))
        plot_attention(attention, run.figure("attention.png"), f"attention on test sentences{run.marker}")

    summary = [f"  {e['source']}\n    reference: {e['reference']}\n    greedy:    {e['greedy']}\n"
               f"    beam:      {e['beam']}" for e in examples]
    summary += [f"test{run.marker} {name}: BLEU {test[name]['bleu']:.1f} (lowercased "
                f"{test[name]['bleu_lowercase']:.1f})  chrF {test[name]['chrf']:.1f}  "
                f"({test['pairs']} pairs, {test[name]['decode_seconds']:.1f} s to decode)" for name in decoded]
    if test["refused"]:
        summary.append(f"test: {test['refused']} pair(s) left out: their source is written mostly in characters no "
                       "training sentence had, which the export refuses")
    return run.finish(
        {"test": test, "examples": examples,
         "validation": {k: float(v) for k, v in trained.evaluate(val_ds, verbose=0, return_dict=True).items()}},
        export=lambda folder, extras: write_export(folder, translator, extras=extras, example=splits.train[0][0],
                                                   compiled=cfg.xla_serving),
        config={"source_vocabulary_size": subwords["source"].size, "target_vocabulary_size": subwords["target"].size},
        summary=summary)


def build_model(cfg, subwords, fused=False, real_steps=False):
    """The zoo's seq2seq for these flags and subword vocabularies ({"source", "target"}), and what trains it,
    compiled for `fit`: the model itself, or a copy sharing its weights whose GRUs run `zoo.fuse_grus`'s loop and
    LSTMs `zoo.fuse_lstms`' paths (`fused`: `zoo.fuse_recurrent`) and whose logits are computed at the real target
    steps only (`real_steps`: `zoo.logits_at_real_steps`; train it on `make_dataset(..., real_steps=True)`)."""
    import keras

    import zoo

    model = zoo.build("seq2seq", input="tokens", vocab_size=subwords["source"].size,
                      target_vocab_size=subwords["target"].size, embedding_dim=cfg.embedding_dim,
                      target_embedding_dim=cfg.embedding_dim, cell=cfg.cell, units=cfg.units,
                      num_layers=cfg.num_layers, bidirectional=cfg.bidirectional, dropout=cfg.dropout,
                      attention=cfg.attention)
    trainer = zoo.fuse_recurrent(model) if fused else model
    # Without real_steps the logits carry the decoder's padding mask, so Keras counts real target tokens only in the
    # loss and accuracy; with it the padded steps' logits are never computed (1.07x a step, bench/README.md).
    trainer = zoo.logits_at_real_steps(trainer) if real_steps else trainer
    # zoo.SparseCrossEntropy: Keras's sparse cross-entropy from logits, 1.8x faster at 4,336 subwords on CPU.
    trainer.compile(optimizer=zoo.FusedAdam(cfg.learning_rate, clipnorm=1.0), loss=zoo.SparseCrossEntropy(),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name="token_accuracy")], jit_compile=cfg.xla)
    return model, trainer


def evaluate(args):
    from tasks.translation.data import read_pairs
    from tasks.translation.evaluation import translate_and_score
    from tasks.translation.serving import load_export

    decoder = "beam_search" if args.beam else "serving_default"
    pairs = read_pairs(args.data)
    if args.reverse:
        pairs = [(t, s) for s, t in pairs]
    scores, _, _ = translate_and_score({decoder: load_export(args.model, decoder)}, pairs)
    metrics = {"pairs": scores["pairs"], "refused": scores["refused"], **scores[decoder]}
    print(json.dumps(metrics, indent=2))
    return metrics


def translate(args):
    from tasks.translation.serving import load_export, translate_texts

    texts = cli.texts_or_stdin(args.texts)
    translations = translate_texts(load_export(args.model, "beam_search" if args.beam else "serving_default"), texts)
    for translation in translations:
        print(translation)
    return translations


def parser():
    top, commands = recipe_parser("python -m tasks.translation", __doc__, Config)
    ev = commands.add_parser("evaluate", help="BLEU and chrF of an export on a TSV of source<TAB>target pairs")
    ev.add_argument("--model", required=True, help="an export folder (saved_models/translation[/<version>])")
    ev.add_argument("--data", required=True, help="a TSV file of source<TAB>target pairs")
    ev.add_argument("--reverse", action="store_true", help="the file is target<TAB>source")
    tr = commands.add_parser("translate", help="translate texts given as arguments, or one per line on stdin")
    tr.add_argument("--model", required=True, help="an export folder (saved_models/translation[/<version>])")
    tr.add_argument("texts", nargs="*", help="texts to translate (default: read lines from stdin)")
    for sub in (ev, tr):
        sub.add_argument("--beam", action="store_true", help="use the beam_search signature instead of greedy")
    return top


def main(argv=None):
    return dispatch(argv, parser(), {"evaluate": evaluate, "translate": translate}, Config, train)


if __name__ == "__main__":
    run_cli(main)
