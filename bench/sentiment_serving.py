"""Served latency of the sentiment export against ONNX Runtime and PyTorch on the same weights.

    python bench/sentiment_serving.py [--reviews 300] [--samples 5000]

The recipe's default model (Embedding 64, BiLSTM(64), masked max pooling; weights as initialised: latency does not
depend on them) is exported three times by the recipe's own `write_export`: as served (LSTMs on TensorFlow's fused
kernel, `zoo.fuse_lstms`, a large request's rows grouped by length), with the earlier fast path (the network
compiled by XLA for length buckets x power-of-two batches, warm-up records), and plain (Keras's loop, no
compilation). All are loaded as TF Serving loads them (`tasks.serve.loading`: a TF1 session, warm-up records run at
load) and called through their signature with raw strings. ONNX Runtime runs the same weights with ONNX's native LSTM
op, PyTorch with `nn.LSTM` in inference mode; both get ids from a Python tokenizer with the export's vocabulary
(its time included), as their users would. Every contender answers the same real IMDB reviews, one at a time
(p50/p99 latency) and 64 at a time (reviews/s); the last column checks that it computes what the export computes.
The recipe's default export adds the n-gram members (1..3-grams of words and 2..5-character word pieces,
`tasks/sentiment/ngrams.py`, fitted here on the vocabulary's reviews; `--preset imdb` the words alone): their rows
show what reading every review's n-grams and blending costs on top of the network (their answers differ from the
network's alone by design, so their difference column is empty).
A second table gives each contender's p50 per call for mid-sized requests (`--batches`, the sizes a server's
batcher hands the model under moderate load).
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from tasks.common.tables import read_labelled_texts  # noqa: E402
from tasks.sentiment.__main__ import Config  # noqa: E402
from tasks.sentiment.data import make_vectorizer, parse_labels  # noqa: E402
from tasks.sentiment.serving import write_export  # noqa: E402
from tasks.serve.loading import load_version  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.tsv"


class PythonTokenizer:
    """The export's standardization and vocabulary in plain Python (what an ONNX Runtime user would write)."""

    def __init__(self, vocabulary, max_length):
        self.index = {word: i for i, word in enumerate(vocabulary)}
        self.max_length = max_length

    def __call__(self, texts):
        rows = []
        for text in texts:
            words = re.split(r"(?:[^\w']|_)+", re.sub(r"<[^>]*>", " ", text.lower()))  # letters, digits, '

            rows.append([self.index.get(w, 1) for w in words if w][:self.max_length] or [0])
        ids = np.zeros((len(rows), max(len(r) for r in rows)), np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        return ids


def export_contender(model, vectorizer, folder, fast_path, ngrams=None):
    write_export(folder, model, vectorizer, max_length=Config.max_length, bucket_step=Config.bucket_step,
                 extras={}, fast_path=fast_path, ngrams=ngrams)
    started = time.perf_counter()
    loaded = load_version(folder, 1, xla=True)  # runs the warm-up records, as TF Serving does (XLA enabled)
    load_seconds = time.perf_counter() - started
    return load_seconds, lambda texts: loaded.run("serving_default", {"text": np.array(texts, dtype=object)})[
        "probability"]


def ngram_members_for_latency(model, tokenizer, texts, labels, kinds):
    """([n-gram models], blend) as the recipe fits them, one model per kind, on `texts`; the blend on the untrained
    network's logits (its weights do not change the cost)."""
    from tasks.sentiment.ngrams import fit_blend, fit_ngram_model, ngram_logits

    models = [fit_ngram_model(texts, labels, kind, vocab_size=Config.ngram_vocab_size, ngrams=Config.ngrams)
              for kind in kinds]
    network = np.concatenate([model(tokenizer(texts[i:i + 64])).numpy()[:, 0] for i in range(0, 256, 64)])
    logits = [network, *(ngram_logits(member, texts[:256]) for member in models)]
    return models, fit_blend(logits, np.asarray(labels[:256]))


def onnx_contender(model, tokenizer):
    import onnxruntime

    from bench.onnx_contender import sentiment_onnx

    started = time.perf_counter()
    session = onnxruntime.InferenceSession(sentiment_onnx(model), providers=["CPUExecutionProvider"])
    return time.perf_counter() - started, lambda texts: session.run(None, {"ids": tokenizer(texts)})[0]


def torch_contender(model, tokenizer):
    import torch

    from bench.torch_contenders import sentiment_from_keras

    started = time.perf_counter()
    torch_model = sentiment_from_keras(model)

    def predict(texts):
        with torch.inference_mode():
            return torch.sigmoid(torch_model(torch.from_numpy(tokenizer(texts)))).numpy()
    return time.perf_counter() - started, predict


def mid_sized(predict, reviews, batches, calls=60):
    """p50 ms per call of each size in `batches`, over `calls` calls of consecutive reviews."""
    medians = []
    for size in batches:
        times = []
        for call in range(calls):
            start = call * size % max(1, len(reviews) - size)
            started = time.perf_counter()
            predict(reviews[start:start + size])
            times.append(time.perf_counter() - started)
        medians.append(1000 * np.percentile(times, 50))
    return medians


def measure(predict, reviews, batch):
    for review in reviews[:20]:  # first calls (allocations, lazy initialisation) are not the steady state
        predict([review])
    times = []
    for review in reviews:
        started = time.perf_counter()
        predict([review])
        times.append(time.perf_counter() - started)
    chunks = [reviews[i:i + batch] for i in range(0, len(reviews) - batch + 1, batch)]
    started = time.perf_counter()
    for chunk in chunks:
        predict(chunk)
    rate = len(chunks) * batch / (time.perf_counter() - started)
    return 1000 * np.percentile(times, 50), 1000 * np.percentile(times, 99), rate


def review_arguments(description):
    """The arguments of the serving benches: the reviews, the vocabulary's sample and the request sizes."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA), help="a TSV with a text column (default: shared IMDB)")
    parser.add_argument("--reviews", type=int, default=320, help="reviews each contender answers")
    parser.add_argument("--samples", type=int, default=5000, help="reviews the vocabulary is built from")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", default="4,8,16", help="mid-sized request sizes for the second table")
    return parser


def reviews_and_vectorizer(args):
    """(every text, their labels, the reviews each contender answers, the recipe's vectorizer adapted to the
    first `--samples` texts, the mid-sized request sizes)."""
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: pass --data with a TSV of reviews (e.g. the shared IMDB train.tsv).")
    texts, labels = read_labelled_texts(args.data)
    labels = parse_labels(labels, args.data)
    vectorizer = make_vectorizer(Config().vocab_size)  # the default without --unlabeled (set on construction)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts[:args.samples]).batch(1024))
    vectorizer(tf.constant(["built"]))  # an export tracks built layers only
    reviews = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:args.reviews]]
    return texts, labels, reviews, vectorizer, [int(size) for size in args.batches.split(",") if size]


def main():
    args = review_arguments(__doc__).parse_args()
    texts, labels, reviews, vectorizer, batches = reviews_and_vectorizer(args)
    tokenizer = PythonTokenizer(vectorizer.get_vocabulary(), Config.max_length)
    model = zoo.build("many_to_one", input="tokens", vocab_size=vectorizer.vocabulary_size(), num_outputs=1,
                      cell=Config.cell, bidirectional=Config.bidirectional, units=Config.units,
                      num_layers=Config.num_layers, embedding_dim=Config.embedding_dim, pooling=Config.pooling)
    ngrams = {kinds: ngram_members_for_latency(model, tokenizer, texts[:args.samples], labels[:args.samples], kinds)
              for kinds in (("words", "characters"), ("words",))}
    words = [min(len(tokenizer([r])[0]), Config.max_length) for r in reviews]
    print(f"{len(reviews)} IMDB reviews, {np.mean(words):.0f} tokens on average (cut at {Config.max_length}), "
          f"batch {args.batch}, {os.cpu_count()} CPUs, TF {tf.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        contenders = {
            "export, fused LSTM kernel (served)": lambda: export_contender(model, vectorizer, Path(tmp) / "fused",
                                                                           "fused"),
            "export + n-grams of words and word pieces (the recipe's default)": lambda: export_contender(
                model, vectorizer, Path(tmp) / "ngrams", "fused", ngrams["words", "characters"]),
            "export + n-grams of words (`--preset imdb`)": lambda: export_contender(
                model, vectorizer, Path(tmp) / "words", "fused", ngrams["words",]),
            "export, XLA over length buckets (earlier)": lambda: export_contender(model, vectorizer,
                                                                                  Path(tmp) / "xla", "xla"),
            "export, plain Keras loop": lambda: export_contender(model, vectorizer, Path(tmp) / "plain", "plain"),
            "ONNX Runtime, native LSTM op": lambda: onnx_contender(model, tokenizer),
            "PyTorch, inference mode": lambda: torch_contender(model, tokenizer),
        }
        rows, reference = [], None
        for name, make in contenders.items():
            load_seconds, predict = make()
            answers = np.concatenate([predict(reviews[i:i + 64]) for i in range(0, len(reviews), 64)])
            reference = answers if reference is None else reference
            p50, p99, rate = measure(predict, reviews, args.batch)
            difference = "" if "n-gram" in name else f"{np.max(np.abs(answers - reference)):.1e}"
            rows.append((name, load_seconds, p50, p99, rate, difference, mid_sized(predict, reviews, batches)))
            print(f"  {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {rate:.0f} reviews/s", flush=True)
    onnx = next(r for r in rows if r[0].startswith("ONNX"))
    print(f"\n| contender | load s | batch 1 p50 ms | p99 ms | batch {args.batch} reviews/s | p50 vs ONNX Runtime | "
          f"throughput vs ONNX Runtime | max difference from the export |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, load_seconds, p50, p99, rate, difference, _ in rows:
        print(f"| {name} | {load_seconds:.1f} | {p50:.2f} | {p99:.2f} | {rate:.0f} | {p50 / onnx[2]:.2f}x | "
              f"{rate / onnx[4]:.2f}x | {difference} |")
    print("\n| contender | " + " | ".join(f"batch {size} p50 ms (vs ONNX Runtime)" for size in batches) + " |")
    print("|---|" + "---:|" * len(batches))
    for name, *_, medians in rows:
        print(f"| {name} | " + " | ".join(f"{ms:.2f} ({ms / ref:.2f}x)" for ms, ref in zip(medians, onnx[6])) + " |")


if __name__ == "__main__":
    main()
