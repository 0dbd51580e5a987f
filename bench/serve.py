"""Serving throughput and latency: the REST server with and without batching, next to the SavedModel in-process.

    python bench/serve.py --model-dir saved_models/sentiment [--requests 400 --concurrency 16]

A bounded load on loopback only: N requests of one review each, C in flight at a time, then it stops. The baseline
is the same SavedModel called in this process, one review per call, one call at a time (what a Python app that
embeds the model gets). Reviews come from ../shared/data/imdb/train.tsv where present, else short generated ones.
Prints one table row per contender: requests/s, p50 and p99 latency, and throughput as a ratio to the baseline.
"""

import argparse
import asyncio
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parents[1]))

import httpx  # noqa: E402
import tensorflow as tf  # noqa: E402

from tasks.serve.launch import serving  # noqa: E402

IMDB = Path(__file__).parents[2] / "shared" / "data" / "imdb" / "train.tsv"


def reviews(n):
    if IMDB.exists():
        with IMDB.open(encoding="utf-8") as f:
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows)
            return [row[0] for _, row in zip(range(n), rows)]
    words = ["a", "great", "dull", "film", "not", "bad", "at", "all", "the", "plot", "was", "superb"]
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(40 + i % 200)) for i in range(n)]


def in_process(model_dir, texts):
    """Latencies of calling the newest version's serving_default in this process, one text per call."""
    version = max((p for p in Path(model_dir).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    serve(text=tf.constant(texts[:1]))  # the first call traces
    latencies = []
    started = time.perf_counter()
    for text in texts:
        t = time.perf_counter()
        serve(text=tf.constant([text]))
        latencies.append(time.perf_counter() - t)
    return time.perf_counter() - started, latencies


async def load(url, name, texts, concurrency):
    """Send every text as its own :predict request, `concurrency` in flight; returns (seconds, latencies)."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await client.post(f"/v1/models/{name}:predict", json={"instances": texts[:1]})  # warm up

        async def one(text):
            async with gate:
                t = time.perf_counter()
                response = await client.post(f"/v1/models/{name}:predict", json={"instances": [text]})
                response.raise_for_status()
                return time.perf_counter() - t

        started = time.perf_counter()
        latencies = await asyncio.gather(*(one(t) for t in texts))
    return time.perf_counter() - started, latencies


def row(label, seconds, latencies, baseline_rps=None):
    rps = len(latencies) / seconds
    q = statistics.quantiles(latencies, n=100)
    ratio = f"{rps / baseline_rps:.2f}x" if baseline_rps else "1.00x"
    print(f"| {label} | {rps:.0f} | {q[49] * 1000:.1f} | {q[98] * 1000:.1f} | {ratio} |")
    return rps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="saved_models/sentiment", help="a model folder of versions")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-window-ms", type=float, default=5)
    parser.add_argument("--max-batch-size", type=int, default=32)
    args = parser.parse_args()
    model_dir = Path(args.model_dir).resolve()
    if not model_dir.is_dir():
        sys.exit(f"error: {model_dir} does not exist; export one first: python -m tasks.sentiment")
    name = model_dir.name
    texts = reviews(args.requests)
    print(f"{args.requests} requests of one review each, {args.concurrency} in flight, loopback; {len(texts)} "
          f"{'IMDB' if IMDB.exists() else 'generated'} reviews\n")
    print("| contender | requests/s | p50 ms | p99 ms | throughput vs in-process |")
    print("|---|---|---|---|---|")
    baseline = row("SavedModel in-process, batch 1, sequential", *in_process(model_dir, texts))
    for label, flags in [
        ("REST server, no batching", []),
        (f"REST server, batching ({args.batch_window_ms:g} ms window, max {args.max_batch_size})",
         ["--batch-window-ms", args.batch_window_ms, "--max-batch-size", args.max_batch_size]),
    ]:
        with serving("--model", f"{name}={model_dir}", "--poll-seconds", 0, "--log-level", "warning", *flags) as url:
            row(label, *asyncio.run(load(url, name, texts, args.concurrency)), baseline_rps=baseline)


if __name__ == "__main__":
    main()
