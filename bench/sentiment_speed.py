"""Training speed of the sentiment recipe's pipeline against the keras-io "Bidirectional LSTM on IMDB" baseline.

    python bench/sentiment_speed.py [--samples 5000] [--max-length 400] [--epochs 2]

Every contender trains on the same reviews cut to the same maximum length, one after another in this process, and
reports samples/s of its first epoch (XLA compilation included) and of its last epoch (steady state). Rows:
- keras-io baseline: 2 x BiLSTM(64), Embedding(20000, 128), sequences padded to max-length numpy arrays, default
  `fit` (batch 32, no XLA): the reference architecture and input handling.
- zoo 2 x BiLSTM(64) via our pipeline: the same architecture through our length-bucketed tf.data + XLA.
- recipe default: our default model (1 x BiLSTM(64), max pooling, dropout 0.5) through our pipeline.
To compare another framework, add a function to CONTENDERS that returns (first, last) samples/s.
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
from tasks.common.training import EpochTimer  # noqa: E402
from tasks.sentiment.__main__ import Config  # noqa: E402
from tasks.sentiment.data import make_dataset, make_vectorizer, parse_labels, token_ids  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.tsv"


def timed_fit(model, data, epochs, samples, **fit_args):
    timer = EpochTimer(samples)
    history = model.fit(data, epochs=epochs, verbose=0, callbacks=[timer], **fit_args)
    rates = history.history["samples_per_second"]
    return rates[0], rates[-1]


def keras_io_baseline(texts, labels, vectorizer, args):
    ids = token_ids(vectorizer, tf.constant(texts), args.max_length).numpy()
    ids = np.pad(ids, [(0, 0), (0, args.max_length - ids.shape[1])])  # keras-io pads every review to maxlen
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(args.vocab_size, 128)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return timed_fit(model, ids, args.epochs, len(texts), y=np.asarray(labels, "float32"), batch_size=32)


def our_pipeline(texts, labels, vectorizer, args, **model_args):
    cfg = Config(max_length=args.max_length, vocab_size=args.vocab_size)
    data = make_dataset((texts, labels), vectorizer, cfg, training=True)
    model = zoo.build("many_to_one", input="tokens", vocab_size=args.vocab_size, num_outputs=1,
                      bidirectional=True, units=64, **model_args)
    model.compile(keras.optimizers.Adam(cfg.learning_rate), keras.losses.BinaryCrossentropy(from_logits=True),
                  jit_compile=cfg.xla)
    return timed_fit(model, data, args.epochs, len(texts))


CONTENDERS = {
    "keras-io baseline (padded numpy, default fit)": keras_io_baseline,
    "zoo 2 x BiLSTM(64), our pipeline": lambda *a: our_pipeline(*a, num_layers=2, embedding_dim=128),
    "recipe default (1 x BiLSTM(64), max pool), ours": lambda *a: our_pipeline(
        *a, num_layers=1, embedding_dim=Config.embedding_dim, dropout=Config.dropout, pooling=Config.pooling),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="a TSV with text and label columns (default: shared IMDB)")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--max-length", type=int, default=400)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: pass --data with a labelled TSV (e.g. the shared IMDB train.tsv).")
    keras.utils.set_random_seed(0)
    texts, raw = read_labelled_texts(args.data)
    texts, labels = texts[:args.samples], parse_labels(raw[:args.samples], args.data)
    vectorizer = make_vectorizer(args.vocab_size)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(1024))
    lengths = [min(len(t.split()), args.max_length) for t in texts]
    print(f"{len(texts)} reviews, max length {args.max_length}, mean length after cut {np.mean(lengths):.0f} words, "
          f"{args.epochs} epochs each, {os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}")
    rows = []
    for name, run in CONTENDERS.items():
        started = time.perf_counter()
        first, last = run(texts, labels, vectorizer, args)
        rows.append((name, first, last, time.perf_counter() - started))
    base = rows[0][2]
    print(f"\n| {'contender':48} | first epoch samples/s | last epoch samples/s | vs baseline | wall s |")
    print(f"|{'-' * 50}|----------------------:|---------------------:|------------:|-------:|")
    for name, first, last, wall in rows:
        print(f"| {name:48} | {first:21.0f} | {last:20.0f} | {last / base:10.2f}x | {wall:6.0f} |")


if __name__ == "__main__":
    main()
