"""Serving latency, throughput and memory: the REST server against its floor and the SavedModel in-process.

    python bench/serve.py --model-dir saved_models/sentiment [--requests 1000 --memory-requests 20000]

A bounded load on loopback only: N requests of one real review each (../shared/data/imdb/train.tsv where present,
else generated ones), C in flight at a time, then it stops. Rows, each in one run:
- the floor: the same client against the status endpoint (no model work): what the client itself costs on
  these cores, so client-side latency is reported as a multiple of it;
- the baseline: the SavedModel called in this process, one review per call, one at a time;
- the server without and with batching at 16 in flight, with batching at 200 in flight: requests/s, client p50
  and p99, the server's own p99 (from its access log: request in to response out), non-200 answers;
- memory: the server's resident memory before and after `--memory-requests` more requests (batching, 16 in
  flight, the same reviews over again);
- one large request (`--big-rows` short reviews, about 3.6 MB) while status requests keep coming: how long it takes,
  the worst status latency meanwhile (the event loop must stay free), and the server's memory after it.
"""

import argparse
import asyncio
import csv
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parents[1]))

import tensorflow as tf  # noqa: E402

from tasks.serve.launch import serving  # noqa: E402

IMDB = Path(__file__).parents[2] / "shared" / "data" / "imdb" / "train.tsv"
LOG_LINE = re.compile(r"POST \S+:predict (\d+) ([\d.]+)ms")


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
    return time.perf_counter() - started, latencies, 0


async def load(url, path, bodies, concurrency):
    """Send every body (None: GET `path`), `concurrency` in flight on as many keep-alive connections; returns
    (seconds, latencies, non-200s). A minimal HTTP/1.1 client on asyncio streams: a general-purpose client (httpx)
    costs about a core at these rates, which on two cores would be measured as the server's latency."""
    host, port = url.split("//")[1].split(":")
    requests = [(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() if body is None else
                 f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data := json.dumps(body).encode())}\r\n\r\n".encode() + data)
                for body in bodies]
    latencies, failures = [], 0

    async def connection(share):
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, int(port))
        for request in share:
            t = time.perf_counter()
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            failures += status != 200
        writer.close()

    await asyncio.gather(*(connection(requests[i:i + 1]) for i in range(concurrency)))  # warm up
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(connection(requests[i::concurrency]) for i in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def server_p99(log_path, skip):
    """The server's own p99 (ms) over its predict log lines after the first `skip` ones (the warm-up)."""
    times = [float(m[2]) for m in LOG_LINE.finditer(Path(log_path).read_text())][skip:]
    return statistics.quantiles(times, n=100)[98] if len(times) > 2 else float("nan")


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def row(label, seconds, latencies, failures, *, baseline_rps=None, floor_p99=None, server=None, ratio=True):
    rps = len(latencies) / seconds
    q = statistics.quantiles(latencies, n=100)
    cells = [label, f"{rps:.0f}", f"{q[49] * 1000:.1f}", f"{q[98] * 1000:.1f}",
             f"{q[98] / floor_p99:.2f}x" if floor_p99 else "-", "-" if server is None else f"{server:.1f}",
             str(failures), f"{rps / baseline_rps:.2f}x" if baseline_rps else ("1.00x" if ratio else "-")]
    print("| " + " | ".join(cells) + " |", flush=True)
    return rps, q[98]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="saved_models/sentiment", help="a model folder of versions")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--memory-requests", type=int, default=20000)
    parser.add_argument("--batch-window-ms", type=float, default=2)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--big-rows", type=int, default=9000)
    parser.add_argument("--threads", default="0,0", help="the server's intra-op,inter-op threads (TF Serving's "
                                                          "--tensorflow_*_parallelism flags; 0,0: TensorFlow's choice)")
    args = parser.parse_args()
    model_dir = Path(args.model_dir).resolve()
    if not model_dir.is_dir():
        sys.exit(f"error: {model_dir} does not exist; export one first: python -m tasks.sentiment")
    name = model_dir.name
    texts = reviews(args.requests)
    bodies = [{"instances": [t]} for t in texts]
    print(f"{len(texts)} requests of one {'IMDB' if IMDB.exists() else 'generated'} review each, loopback, "
          f"{os.cpu_count()} cores\n")
    print("| contender | requests/s | client p50 ms | client p99 ms | p99 / floor p99 | server p99 ms | non-200 | "
          "throughput vs in-process |")
    print("|---|---|---|---|---|---|---|---|")
    baseline, _ = row("SavedModel in-process, batch 1, sequential", *in_process(model_dir, texts))
    intra, inter = (int(x) for x in args.threads.split(","))
    common = ("--model", f"{name}={model_dir}", "--poll-seconds", 0, "--tensorflow_intra_op_parallelism", intra,
              "--tensorflow_inter_op_parallelism", inter)
    batching = ("--batch-window-ms", args.batch_window_ms, "--max-batch-size", args.max_batch_size)
    with serving(*common, "--log-level", "warning") as url:
        _, floor = row("floor: status endpoint, 16 in flight", *asyncio.run(load(
            url, f"/v1/models/{name}", [None] * len(texts), 16)), ratio=False)
    p99_at_16 = None
    for label, flags, concurrency in [("REST, no batching, 16 in flight", (), 16),
                                      ("REST, batching, 16 in flight", batching, 16),
                                      ("REST, batching, 200 in flight", batching, 200)]:
        with serving(*common, *flags) as url:
            measured = asyncio.run(load(url, f"/v1/models/{name}:predict", bodies, concurrency))
            _, p99 = row(label, *measured, baseline_rps=baseline, floor_p99=floor,
                         server=server_p99(url.log_path, concurrency))
        if "batching, 16" in label:
            p99_at_16 = p99
        elif "200" in label:
            print(f"\n200 in flight: client p99 {p99 / p99_at_16:.2f}x the 16-in-flight p99 (goal: at most 4x)")
    with serving(*common, *batching, "--log-level", "warning") as url:
        asyncio.run(load(url, f"/v1/models/{name}:predict", bodies, 16))
        before = rss_mb(url.pid)
        many = [bodies[i % len(bodies)] for i in range(args.memory_requests)]
        _, _, failures = asyncio.run(load(url, f"/v1/models/{name}:predict", many, 16))
        after = rss_mb(url.pid)
    print(f"memory: {before:.0f} MB after the warm-up, {after:.0f} MB after {len(many)} more requests "
          f"({after - before:+.0f} MB; goal: at most +100 MB), {failures} non-200")
    with serving(*common, "--log-level", "warning") as url:
        before = rss_mb(url.pid)
        seconds, worst, answered = asyncio.run(big_request(url, name, args.big_rows))
        print(f"one request of {args.big_rows} reviews: {seconds:.1f} s; {answered} status requests answered "
              f"meanwhile, the slowest in {worst * 1000:.0f} ms; memory {before:.0f} -> {rss_mb(url.pid):.0f} MB")


async def big_request(url, name, rows):
    """(seconds of one request of `rows` short reviews, worst latency and count of status requests meanwhile)."""
    body = {"instances": ["word " * 80] * rows}
    done, worst, answered = asyncio.Event(), 0.0, 0

    async def statuses():
        nonlocal worst, answered
        while not done.is_set():
            _, latencies, _ = await load(url, f"/v1/models/{name}", [None] * 20, 1)
            worst, answered = max(worst, *latencies), answered + len(latencies)

    watcher = asyncio.create_task(statuses())
    seconds, _, failures = await load(url, f"/v1/models/{name}:predict", [body], 1)
    done.set()
    await watcher
    if failures:
        raise RuntimeError("the large request failed")
    return seconds, worst, answered


if __name__ == "__main__":
    main()
