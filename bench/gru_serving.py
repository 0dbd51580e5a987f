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

A second table times the other recipes' default networks that serve on the zoo's fast paths, each as a `tf.function`
of the Keras model and of its `zoo.fuse_recurrent` copy (what their exports call): forecasting (LSTM(32) over
30-step windows of 2 features, on the fused LSTM kernel) on one window and on 64, video_frames (per-frame CNN 16,32 on
32 x 32 frames, BiGRU(64), a label per frame) on one 20-frame clip and on 16 clips of 12 frames padded to 20, and the
names classifier (BiGRU(128) over the characters of real names, strings in) on one name and on 64.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.sentiment_serving import export_contender, measure, mid_sized, review_arguments, reviews_and_vectorizer  # noqa: E402, E501
from tasks.sentiment.__main__ import Config  # noqa: E402

NAMES = Path(__file__).resolve().parents[2] / "shared" / "data" / "names" / "names.tsv"


def main():
    parser = review_arguments(__doc__)
    parser.add_argument("--units", type=int, default=Config.units, help="GRU units per direction")
    args = parser.parse_args()
    _, _, reviews, vectorizer, batches = reviews_and_vectorizer(args)
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
    print(f"\n| export | load s | batch 1 p50 ms | p99 ms | batch {args.batch} reviews/s | speed-up at batch 1 | "
          "throughput vs Keras's loop | " + " | ".join(f"batch {size} p50 ms" for size in batches)
          + " | max difference |")
    print("|---|" + "---:|" * (7 + len(batches)))
    for name, load_seconds, p50, p99, rate, answers, medians in rows:
        print(f"| {name} | {load_seconds:.1f} | {p50:.2f} | {p99:.2f} | {rate:.0f} | {base[2] / p50:.2f}x | "
              f"{rate / base[4]:.2f}x | " + " | ".join(f"{ms:.2f}" for ms in medians)
              + f" | {np.max(np.abs(answers - base[5])):.1e} |")
    other_networks()


def timed(function, inputs, calls):
    """p50 ms of `function(inputs)` over `calls` calls, after warming it up."""
    for _ in range(10):
        function(inputs)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        function(inputs)
        times.append(time.perf_counter() - started)
    return 1000 * np.median(times)


def other_networks(calls=200):
    """The video and names networks, Keras's layers against `zoo.fuse_recurrent`'s copy, as their exports run them."""
    from tasks.names.training import name_classifier

    video = zoo.build("many_to_many", input="frames", frame_shape=(32, 32, 3), num_outputs=4, cell="gru", units=64,
                      bidirectional=True, frame_filters=[16, 32], frame_pooling="flatten")
    clips = tf.random.stateless_uniform([16, 20, 32, 32, 3], seed=[0, 1])
    padded = tf.concat([clips[:, :12], tf.zeros([16, 8, 32, 32, 3])], 1)  # all-zero frames: padding
    names = [line.split("\t")[0] for line in NAMES.read_text(encoding="utf-8").splitlines()[1:]]
    names = [names[i] for i in np.random.default_rng(0).permutation(len(names))[:64]]
    chars = sorted({c for name in names for c in name})
    network = zoo.build("many_to_one", input="tokens", vocab_size=len(chars) + 4, cell="gru", units=128,
                        bidirectional=True, embedding_dim=32, num_outputs=18)
    frames, strings = tf.TensorSpec([None, None, 32, 32, 3], tf.float32), tf.TensorSpec([None], tf.string)
    classifier = name_classifier(network, chars)
    forecaster = zoo.build("many_to_one", input="features", feature_dim=2, cell="lstm", units=32, num_outputs=1)
    windows = tf.random.stateless_normal([64, 30, 2], seed=[2, 3])
    cases = [("forecasting (LSTM(32), 30-step windows), one window", forecaster, windows[:1],
              tf.TensorSpec([None, 30, 2], tf.float32)),
             ("forecasting, 64 windows", forecaster, windows, tf.TensorSpec([None, 30, 2], tf.float32)),
             ("video_frames, one 20-frame clip", video, clips[:1], frames),
             ("video_frames, 16 clips (12 frames + 8 padding)", video, padded, frames),
             ("names classifier, one name", classifier, tf.constant(names[:1]), strings),
             ("names classifier, 64 names", classifier, tf.constant(names), strings)]
    print("\n| network, request | Keras's layers p50 ms | zoo.fuse_recurrent p50 ms | speed-up | max difference |")
    print("|---|---:|---:|---:|---:|")
    for name, model, inputs, spec in cases:
        plain = tf.function(lambda x, m=model: m(x, training=False), input_signature=[spec])
        fused_model = zoo.fuse_recurrent(model)
        fused = tf.function(lambda x, m=fused_model: m(x, training=False), input_signature=[spec])
        keras_ms, fused_ms = timed(plain, inputs, calls), timed(fused, inputs, calls)
        difference = float(tf.reduce_max(tf.abs(plain(inputs) - fused(inputs))))
        print(f"| {name} | {keras_ms:.2f} | {fused_ms:.2f} | {keras_ms / fused_ms:.2f}x | {difference:.1e} |",
              flush=True)


if __name__ == "__main__":
    main()
