"""Language-model pretraining speed: the full softmax against the sampled softmax (`zoo.SampledSoftmaxTraining`),
with the LSTM on Keras's loop or on TensorFlow's fused kernel (`zoo.fuse_lstms`).

    python bench/language_model_speed.py [--vocab 20000] [--units 64] [--samples 512] [--steps 30] [--rounds 2]

The sentiment recipe's language model (embedding 64, LSTM 64, a next-word head over the vocabulary) trains on real
IMDB windows (the first unlabeled reviews of ../shared/data/imdb/unsup.txt.gz, tokenized with a vocabulary learned
from them; random ids when the file is absent), 64 windows of 64 words a batch, under the sentiment recipe's thread
settings (intra-op 1, inter-op 2). Each contender trains through Keras `fit` on the same batches; rounds are
interleaved and the first steps (tracing) are not timed. Prints words per second and the ratio to the full softmax.
"""

import argparse
import gzip
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

UNLABELED = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "unsup.txt.gz"
BATCH, LENGTH = 64, 64


def windows(vocab, count):
    """`count` (inputs, targets) windows of LENGTH words from IMDB's unlabeled reviews, or random ids."""
    if not UNLABELED.exists():
        ids = np.random.default_rng(0).integers(2, vocab, size=count * LENGTH + 1)
    else:
        with gzip.open(UNLABELED, "rt", encoding="utf-8") as file:
            texts = [next(file) for _ in range(4001)][1:]  # after the `text` header
        vectorizer = keras.layers.TextVectorization(max_tokens=vocab)
        vectorizer.adapt(texts)
        ids = vectorizer(tf.constant(texts)).numpy().ravel()  # dense rows: drop their padding
        ids = np.resize(ids[ids > 0], count * LENGTH + 1)
    return ids[:-1].reshape(count, LENGTH).astype("int32"), ids[1:].reshape(count, LENGTH).astype("int32")


def trainer(args, num_sampled, fused=False):
    model = zoo.build("many_to_many", input="tokens", vocab_size=args.vocab, embedding_dim=64, cell="lstm",
                      units=args.units, dropout=0.5, num_outputs=args.vocab)
    wrapped = zoo.SampledSoftmaxTraining(zoo.fuse_lstms(model) if fused else model, num_sampled=num_sampled)
    wrapped.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    return wrapped


def words_per_second(wrapped, data, steps):
    inputs, targets = data
    wrapped.fit(inputs[:3 * BATCH], targets[:3 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    wrapped.fit(inputs[:steps * BATCH], targets[:steps * BATCH], batch_size=BATCH, epochs=1, verbose=0)
    return steps * BATCH * LENGTH / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=20000)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--samples", type=int, default=512, help="sampled words per step")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    data = windows(args.vocab, args.steps * BATCH)
    sampled = f"sampled softmax, {args.samples} words"
    contenders = {"full softmax": trainer(args, 0), sampled: trainer(args, args.samples),
                  f"{sampled}, fused LSTM kernel (zoo.fuse_lstms; pretraining keeps Keras's loop)":
                      trainer(args, args.samples, True)}
    rates = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, wrapped in contenders.items():
            rates[name].append(words_per_second(wrapped, data, args.steps))
    base = np.median(rates["full softmax"])
    print(f"language model: vocabulary {args.vocab:,}, LSTM {args.units}, batches {BATCH} x {LENGTH} words, "
          f"{args.rounds} rounds of {args.steps} steps")
    print("| contender | words/s (median) | rounds | vs full softmax |\n|---|---:|---|---:|")
    for name, values in rates.items():
        print(f"| {name} | {np.median(values):,.0f} | {', '.join(f'{v:,.0f}' for v in values)} | "
              f"{np.median(values) / base:.1f}x |")


if __name__ == "__main__":
    main()
