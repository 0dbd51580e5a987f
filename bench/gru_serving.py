"""Served latency of the sentiment export when its network is a GRU: the zoo's GRU loop against Keras's loop.

    python bench/gru_serving.py [--reviews 320] [--samples 5000] [--units 64]

The recipe's default network with `--cell gru` (Embedding 64, BiGRU(64), masked max pooling; weights as initialised:
latency does not depend on them) is exported by the recipe's own `write_export` three ways: on the zoo's GRU loop
(`zoo.fuse_recurrent`, its forward loop alone at inference; the default export for GRUs since), on Keras's loop (the
default before, "plain"), and XLA-compiled over length buckets (`--xla-serving`, which a stock TF Serving runs only
with `--xla_cpu_compilation_enabled=true`). Each is loaded as TF Serving loads it (`tasks.serve.loading`, warm-up
records run) and answers the same real IMDB reviews through its signature with raw strings: one at a time (p50/p99),
64 at a time (reviews/s) and the mid-sized requests of `--batches`. Ratios are against Keras's loop, run in the same
process; the last column checks that every export computes the same.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.sentiment_serving import DATA, export_contender, measure, mid_sized  # noqa: E402
from tasks.common.tables import read_labelled_texts  # noqa: E402
from tasks.sentiment.__main__ import Config  # noqa: E402
from tasks.sentiment.data import make_vectorizer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="a TSV with a text column (default: shared IMDB)")
    parser.add_argument("--reviews", type=int, default=320, help="reviews each contender answers")
    parser.add_argument("--samples", type=int, default=5000, help="reviews the vocabulary is built from")
    parser.add_argument("--units", type=int, default=Config.units, help="GRU units per direction")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", default="4,8,16", help="mid-sized request sizes for the second table")
    args = parser.parse_args()
    batches = [int(size) for size in args.batches.split(",") if size]
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: pass --data with a TSV of reviews (e.g. the shared IMDB train.tsv).")
    texts, _ = read_labelled_texts(args.data)
    vectorizer = make_vectorizer(Config().vocab_size)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts[:args.samples]).batch(1024))
    vectorizer(tf.constant(["built"]))  # an export tracks built layers only
    reviews = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:args.reviews]]
    model = zoo.build("many_to_one", input="tokens", vocab_size=vectorizer.vocabulary_size(), num_outputs=1,
                      cell="gru", bidirectional=Config.bidirectional, units=args.units,
                      num_layers=Config.num_layers, embedding_dim=Config.embedding_dim, pooling=Config.pooling)
    print(f"{len(reviews)} IMDB reviews (cut at {Config.max_length} tokens), BiGRU({args.units}), batch {args.batch}, "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fast_path in [("Keras's loop (plain; the default before)", "plain"),
                                ("the zoo's GRU loop (fused; the default)", "fused"),
                                ("XLA over length buckets (--xla-serving)", "xla")]:
            load_seconds, predict = export_contender(model, vectorizer, Path(tmp) / fast_path, fast_path)
            answers = np.concatenate([predict(reviews[i:i + 64]) for i in range(0, len(reviews), 64)])
            p50, p99, rate = measure(predict, reviews, args.batch)
            rows.append((name, load_seconds, p50, p99, rate, answers, mid_sized(predict, reviews, batches)))
            print(f"  {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rate:.0f} reviews/s", flush=True)
    base = rows[0]
    print(f"\n| export | load s | batch 1 p50 ms | p99 ms | batch {args.batch} reviews/s | p50 vs Keras's loop | "
          "throughput vs Keras's loop | " + " | ".join(f"batch {size} p50 ms" for size in batches)
          + " | max difference |")
    print("|---|" + "---:|" * (7 + len(batches)))
    for name, load_seconds, p50, p99, rate, answers, medians in rows:
        print(f"| {name} | {load_seconds:.1f} | {p50:.2f} | {p99:.2f} | {rate:.0f} | {base[2] / p50:.2f}x faster | "
              f"{rate / base[4]:.2f}x | " + " | ".join(f"{ms:.2f}" for ms in medians)
              + f" | {np.max(np.abs(answers - base[5])):.1e} |")


if __name__ == "__main__":
    main()
