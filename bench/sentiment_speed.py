"""Training speed of the sentiment recipe's model against PyTorch on the same batches, and against our earlier
defaults.

    python bench/sentiment_speed.py [--samples 5000] [--max-length 400] [--epochs 3] [--rounds 3]
    python bench/sentiment_speed.py --lengths 100,200,400,800      # how cost grows with review length

Every contender trains the recipe's default model (its LSTM on TensorFlow's fused kernel, `zoo.fuse_lstms`, or
on Keras's loop: Embedding 64, 1 x BiLSTM(64), dropout 0.5, masked max pooling,
Adam 1e-3, batch 64 at the longest bucket) on the same reviews, cut to the same length, in the same
length-bucketed batches: TensorFlow reads them through the recipe's tf.data pipeline (tokenizing included), PyTorch
gets the same batches as numpy arrays made before its clock starts. Rounds are interleaved (A B C, A B C, ...) so
that a slow minute of the machine hits every contender. Reported: the first epoch's seconds (tracing and any XLA
compilation included; median over rounds) and the steady samples/s of the later epochs (median, with the range over
every later epoch of every round), counting the samples that were trained. Needs PyTorch (`pip install
torch==2.13.0`); without it the PyTorch row is left out and the ratios are against the first TensorFlow row.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from tasks.common.tables import read_labelled_texts  # noqa: E402
from tasks.common.training import set_up_steps  # noqa: E402
from tasks.sentiment.__main__ import Config  # noqa: E402
from tasks.sentiment.data import make_dataset, make_vectorizer, parse_labels  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.tsv"


def recipe_model(vocab_size):
    return zoo.build("many_to_one", input="tokens", vocab_size=vocab_size, num_outputs=1, cell=Config.cell,
                     bidirectional=Config.bidirectional, units=Config.units, num_layers=Config.num_layers,
                     embedding_dim=Config.embedding_dim, dropout=Config.dropout, pooling=Config.pooling)


class EpochClock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def tensorflow_contender(*, xla=False, autotune=False, shape_graphs=True, fused_lstm=False,
                         steps_per_execution=Config.steps_per_execution):
    def run(texts, labels, vectorizer, args):
        cfg = Config(max_length=args.max_length, vocab_size=args.vocab_size, xla=xla, autotune=autotune,
                     shape_graphs=shape_graphs, fused_lstm=fused_lstm, steps_per_execution=steps_per_execution)
        data = make_dataset((texts, labels), vectorizer, cfg, training=True)
        samples = sum(int(tf.shape(y)[0]) for _, y in data)  # what one epoch trains
        model = recipe_model(args.vocab_size)
        if cfg.fused_lstm:  # as the recipe trains on one CPU
            model = zoo.fuse_lstms(model)
        # FusedAdam, as the recipe trains
        model.compile(zoo.FusedAdam(cfg.learning_rate), keras.losses.BinaryCrossentropy(from_logits=True),
                      jit_compile=cfg.xla)
        clock = EpochClock()
        callbacks = [clock, *set_up_steps(model, shape_graphs=cfg.shape_graphs,  # as train_model
                                          steps_per_execution=cfg.steps_per_execution)]
        model.fit(data, epochs=args.epochs, verbose=0, callbacks=callbacks, shuffle=False)
        return [(seconds, samples) for seconds in clock.seconds]
    return run


def without_grappler(run):
    """`run` with TensorFlow's graph optimizer (Grappler) off while it traces and runs, restored after: does its
    rewriting of each step's graph pay for itself on a model this small?"""
    def run_unoptimized(*args, **kwargs):
        before = tf.config.optimizer.get_experimental_options()
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
        try:
            return run(*args, **kwargs)
        finally:
            tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False, **before})
    return run_unoptimized


def pytorch_contender(texts, labels, vectorizer, args):
    from bench.torch_contenders import SentimentLSTM, train_epochs

    cfg = Config(max_length=args.max_length, vocab_size=args.vocab_size)
    data = make_dataset((texts, labels), vectorizer, cfg, training=True)
    epochs = [[(ids.numpy(), y.numpy()) for ids, y in data] for _ in range(args.epochs)]  # reshuffled each pass
    model = SentimentLSTM(args.vocab_size, Config.embedding_dim, Config.units, Config.dropout)
    return train_epochs(model, epochs)


def contenders(with_torch, everything):
    rows = {}
    if with_torch:
        rows["PyTorch 2.13, exact masking"] = pytorch_contender
    rows["recipe default (fused LSTM kernel, one graph for every shape)"] = tensorflow_contender(fused_lstm=True,
                                                                                                 shape_graphs=False)
    rows["recipe default, one batch a call (--steps-per-execution 1)"] = tensorflow_contender(
        fused_lstm=True, shape_graphs=False, steps_per_execution=1)
    rows["recipe default, Grappler off"] = without_grappler(rows["recipe default (fused LSTM kernel, one graph for "
                                                                 "every shape)"])
    rows["fused LSTM kernel, a graph per frequent shape"] = tensorflow_contender(fused_lstm=True)
    rows["Keras's loop, a graph per frequent shape (earlier default)"] = tensorflow_contender()
    if everything:
        rows["Keras's own step (one graph for every shape)"] = tensorflow_contender(shape_graphs=False)
    if everything:  # more rows; XLA compiles every batch shape: minutes per round on 2 cores
        rows["tf.data autotune on"] = tensorflow_contender(autotune=True)
        rows["XLA"] = tensorflow_contender(xla=True)
        rows["earlier default (XLA, autotune on, one graph)"] = tensorflow_contender(xla=True, autotune=True,
                                                                                    shape_graphs=False)
    return rows


def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        print("PyTorch is not installed (pip install torch==2.13.0): its row is left out.")
        return False


def run_rounds(runs, data, args):
    """{name: [per-round [(seconds, samples), ...]]}, rounds interleaved; each run is called as run(*data, args)."""
    results = {name: [] for name in runs}
    for round_index in range(args.rounds):
        for name, run in runs.items():
            keras.utils.set_random_seed(round_index)
            results[name].append(run(*data, args))
            first = results[name][-1][0]
            print(f"  round {round_index + 1}: {name}: first epoch {first[0]:.1f} s, then "
                  + ", ".join(f"{n / s:.0f}" for s, n in results[name][-1][1:]) + " samples/s", flush=True)
    return results


def summarize(rounds):
    first = float(np.median([epochs[0][0] for epochs in rounds]))
    steady = [n / s for epochs in rounds for s, n in epochs[1:]] or [rounds[0][0][1] / rounds[0][0][0]]
    return first, float(np.median(steady)), min(steady), max(steady)


def print_table(results):
    summaries = {name: summarize(rounds) for name, rounds in results.items()}
    base_name = next(iter(summaries))
    base = summaries[base_name]
    print(f"\n| contender | first epoch s | steady samples/s (range) | speed vs {base_name.split(',')[0]} | "
          "first epoch vs it |")
    print("|---|---:|---:|---:|---:|")
    for name, (first, steady, low, high) in summaries.items():
        print(f"| {name} | {first:.1f} | {steady:.0f} ({low:.0f}-{high:.0f}) | {steady / base[1]:.2f}x | "
              f"{first / base[0]:.2f}x |")


def length_sweep(runs, texts, labels, vectorizer, args):
    lengths = [int(x) for x in args.lengths.split(",")]
    table = {name: [] for name in runs}
    for length in lengths:
        args.max_length = length
        for name, run in runs.items():
            keras.utils.set_random_seed(0)
            table[name].append(summarize([run(texts, labels, vectorizer, args)])[1])
            print(f"  {length} tokens: {name}: {table[name][-1]:.0f} samples/s", flush=True)
    print("\n| contender | " + " | ".join(f"{n} tokens" for n in lengths) + " |")
    print("|---|" + "---:|" * len(lengths))
    for name, rates in table.items():
        print(f"| {name} | " + " | ".join(f"{r:.0f}" for r in rates) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="a TSV with text and label columns (default: shared IMDB)")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per round (the first is reported apart)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lengths", help="comma-separated review lengths: the cost-vs-length table instead")
    parser.add_argument("--only", help="run only the contenders whose name contains one of these (comma-separated)")
    parser.add_argument("--all", action="store_true", help="add the autotune and XLA rows (XLA is slow: a "
                                                           "compilation per shape)")
    parser.add_argument("--threads", default=f"{Config.intra_op_threads},{Config.inter_op_threads}",
                        help="TensorFlow's intra-op,inter-op threads (default: the recipe's; 0,0: TensorFlow's)")
    args = parser.parse_args()
    intra, inter = (int(x) for x in args.threads.split(","))
    tf.config.threading.set_intra_op_parallelism_threads(intra)  # before TensorFlow runs anything, as the recipe
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: pass --data with a labelled TSV (e.g. the shared IMDB train.tsv).")
    texts, raw = read_labelled_texts(args.data)
    texts, labels = texts[:args.samples], parse_labels(raw[:args.samples], args.data)
    vectorizer = make_vectorizer(args.vocab_size)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
    with_torch = torch_available()
    print(f"{len(texts)} reviews, {args.epochs} epochs x {args.rounds} rounds, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__} (intra-op threads {intra}, inter-op {inter}), Keras {keras.__version__}")
    runs = {name: run for name, run in contenders(with_torch, args.all).items() if not args.only
            or any(part in name for part in args.only.split(","))}
    if args.lengths:
        return length_sweep(runs if args.only else {name: run for name, run in runs.items()
                                                    if not name.startswith("fused")}, texts, labels, vectorizer, args)
    print_table(run_rounds(runs, (texts, labels, vectorizer), args))


if __name__ == "__main__":
    main()
