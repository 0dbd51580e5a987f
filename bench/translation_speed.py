"""Training speed of the translation recipe's seq2seq against a PyTorch encoder-decoder of the same sizes.

    python bench/translation_speed.py [--pairs 10000] [--epochs 3] [--rounds 2]

Both train the recipe's default model on the same Tatoeba pairs (a seeded sample of ../shared/data/spa-eng/train.tsv,
Spanish -> English as the README's run), SentencePiece 8k + 8k subwords, in the recipe's length-bucketed teacher-forcing
batches (64 pairs, padded to the bucket's top): embedding 128, bidirectional GRU(256) encoder, a tanh bridge from
its two final states to the decoder's first, GRU(256) decoder, additive (Bahdanau-score) attention over the encoder
outputs after the decoder, a linear combine and the logits over the target subwords; dropout 0.2 on the recurrent
inputs, Adam 1e-3 with gradient clipping at norm 1. TensorFlow reads the recipe's tf.data pipeline (tokenizing
included) with the recipe's thread settings; PyTorch gets the same batches as numpy arrays made before its clock
starts, masks exactly (the backward encoder reads each sentence reversed within its length) and counts real target
tokens only in its loss. The recipe computes the logits of real target steps only (`zoo.logits_at_real_steps`); the
bench runs it with and without that, and PyTorch both ways too. Rounds are interleaved; reported as in
`sentiment_speed.py`: first epoch seconds, steady pairs/s of the later epochs. Needs PyTorch (`pip install
torch==2.13.0`).
"""

import argparse
import functools
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.sentiment_speed import EpochClock, print_table, run_rounds, torch_available, without_grappler  # noqa: E402
from tasks.common.training import set_up_steps  # noqa: E402
from tasks.translation.__main__ import Config, build_model  # noqa: E402
from tasks.translation.data import make_dataset, read_pairs  # noqa: E402
from tasks.translation.subwords import Subwords, learn_subwords  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spa-eng" / "train.tsv"


def tokenizers(models):
    """The two sides' Subwords, made anew inside each contender: `keras.utils.set_random_seed` (called before each
    run) resets TensorFlow's eager context, which drops the SentencePiece resources of tokenizers made before it."""
    return {side: Subwords(model) for side, model in models.items()}


def tensorflow_contender(pairs, models, args, fused, shape_graphs=False, real_steps=True):
    cfg, subwords = Config(), tokenizers(models)
    data = make_dataset(pairs, subwords["source"], subwords["target"], cfg, training=True, real_steps=real_steps)
    samples = sum(int(tf.shape(x["tokens"])[0]) for x, _ in data)  # what one epoch trains
    _, model = build_model(cfg, subwords, fused=fused, real_steps=real_steps)  # the recipe's, compiled as it does
    clock = EpochClock()
    callbacks = [clock, *set_up_steps(model, shape_graphs=shape_graphs,  # as the recipe's train_model
                                      steps_per_execution=cfg.steps_per_execution)]
    model.fit(data, epochs=args.epochs, verbose=0, callbacks=callbacks, shuffle=False)
    return [(seconds, samples) for seconds in clock.seconds]


def pytorch_contender(pairs, models, args, real_steps=False):
    from bench.torch_contenders import Seq2SeqGRU, train_seq2seq_epochs

    cfg, subwords = Config(), tokenizers(models)
    data = make_dataset(pairs, subwords["source"], subwords["target"], cfg, training=True)
    epochs = [[(x["tokens"].numpy(), x["previous_tokens"].numpy(), y.numpy()) for x, y in data]
              for _ in range(args.epochs)]  # reshuffled each pass, as the TensorFlow contender's
    model = Seq2SeqGRU(subwords["source"].size, subwords["target"].size, cfg.embedding_dim, cfg.units, cfg.dropout)
    return train_seq2seq_epochs(model, epochs, learning_rate=cfg.learning_rate, real_steps=real_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="a TSV of (target, source) pairs (default: shared spa-eng)")
    parser.add_argument("--pairs", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per round (the first is reported apart)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", default=f"{Config.intra_op_threads},{Config.inter_op_threads}",
                        help="TensorFlow's intra-op,inter-op threads (default: the recipe's; 0,0: TensorFlow's)")
    parser.add_argument("--only", default="", help="run only the contenders whose name contains one of these "
                                                     "(comma-separated)")
    args = parser.parse_args()
    intra, inter = (int(x) for x in args.threads.split(","))
    tf.config.threading.set_intra_op_parallelism_threads(intra)  # before TensorFlow runs anything, as the recipe
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: pass --data with a TSV of sentence pairs.")
    every = read_pairs(args.data)  # (English, Spanish): the recipe's --reverse makes it Spanish -> English
    chosen = np.random.default_rng(0).permutation(len(every))[:args.pairs]  # the file is sorted by length
    pairs = [(every[i][1], every[i][0]) for i in chosen]
    cfg = Config()
    models = {side: learn_subwords([pair[i] for pair in pairs], size, cfg.seed)
              for side, i, size in (("source", 0, cfg.source_vocab_size), ("target", 1, cfg.target_vocab_size))}
    sizes = {side: Subwords(model).size for side, model in models.items()}
    runs = {}
    if torch_available():
        runs["PyTorch 2.13, GRU encoder-decoder, exact masking"] = pytorch_contender
        runs["PyTorch, logits at real target steps only"] = functools.partial(pytorch_contender, real_steps=True)
    runs["recipe default (GRUs on zoo.fuse_grus's loop)"] = functools.partial(tensorflow_contender, fused=True)
    runs["recipe default, logits at every step (before zoo.logits_at_real_steps)"] = functools.partial(
        tensorflow_contender, fused=True, real_steps=False)
    runs["recipe default, Grappler off"] = without_grappler(runs["recipe default (GRUs on zoo.fuse_grus's loop)"])
    runs["fused GRUs, a graph per frequent shape (--shape-graphs)"] = functools.partial(
        tensorflow_contender, fused=True, shape_graphs=True)
    runs["Keras's GRU layers (--no-fused-gru)"] = functools.partial(tensorflow_contender, fused=False)
    runs["Keras's GRU layers, a graph per frequent shape"] = functools.partial(
        tensorflow_contender, fused=False, shape_graphs=True)
    print(f"{len(pairs)} pairs, subwords {sizes['source']} + {sizes['target']}, {args.epochs} epochs "
          f"x {args.rounds} rounds, {os.cpu_count()} CPUs, TF {tf.__version__} (intra-op threads {intra}, inter-op "
          f"{inter}), Keras {keras.__version__}")
    runs = {name: run for name, run in runs.items() if any(part in name for part in args.only.split(","))}
    print_table(run_rounds(runs, (pairs, models), args))


if __name__ == "__main__":
    main()
