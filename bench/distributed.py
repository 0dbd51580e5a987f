"""Throughput of the sentiment recipe on one worker against two workers (MultiWorkerMirroredStrategy) on this machine.

    python bench/distributed.py [--samples 6000] [--epochs 3] [--batch-size 64]

Every contender runs the real recipe (`python -m tasks.sentiment`) as subprocess(es) on the same IMDB reviews (a
random subset of ../shared/data/imdb/train.tsv), one after another, and reports training samples/s of its first and
of its later epochs (median; from the chief's metrics.json), plus the test accuracy. Rows:
- one device, `fit` + XLA: the recipe's default single-device path (the baseline);
- one device, `fit`, no XLA: the same without XLA, since the distributed loop runs without it;
- multi-worker, 1 worker: the distributed loop with nobody to talk to (its own cost);
- multi-worker, 2 workers: two processes on loopback ports, `--batch-size` each, so twice the global batch;
- mirrored, 2 logical CPU devices: the same split inside one process.
Scaling efficiency = 2-worker throughput / (2 x 1-worker throughput). On this machine the two workers share its
cores with each other, where one worker had them all: this measures the machinery, not a cluster's speed-up.
"""

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.common.local_cluster import start_workers  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "imdb" / "train.tsv"
RECIPE = [sys.executable, "-m", "tasks.sentiment"]


def subset(path, samples, seed, folder):
    """A random `samples`-row subset of the labelled TSV, written to `folder`."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header, rows = rows[0], rows[1:]
    random.Random(seed).shuffle(rows)
    out = folder / "reviews.tsv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(header)
        writer.writerows(rows[:samples])
    return out


def run(name, flags, folder, workers=0):
    """Run one contender; returns its row. `workers` > 0: that many multi-worker processes."""
    run_dir = folder / name.replace(" ", "_").replace(",", "")
    command = [*RECIPE, *flags, "--run-dir", str(run_dir / "run"), "--export-dir", str(run_dir / "exports")]
    started = time.perf_counter()
    if workers:
        processes = start_workers(command, workers, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        errors = [p.communicate()[1] for p in processes]
        failed = [e for p, e in zip(processes, errors) if p.returncode]
    else:
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        failed = [result.stderr] if result.returncode else []
    if failed:
        raise SystemExit(f"{name} failed:\n{failed[0][-3000:]}")
    metrics = json.loads((run_dir / "run" / "metrics.json").read_text())
    rates = metrics["history"]["samples_per_second"]
    return {"name": name, "first": rates[0], "later": statistics.median(rates[1:] or rates),
            "accuracy": metrics["test"]["accuracy"],
            "wall": time.perf_counter() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=12000, help="IMDB reviews used (train + validation + test)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="per replica")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs {DATA} (the shared IMDB train split)")

    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        folder = Path(tmp)
        data = subset(DATA, args.samples, args.seed, folder)
        common = ["--data", str(data), "--epochs", str(args.epochs), "--patience", str(args.epochs),
                  "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
        rows = [
            run("one device, fit + XLA (baseline)", [*common, "--strategy", "one-device"], folder),
            run("one device, fit, no XLA", [*common, "--strategy", "one-device", "--no-xla"], folder),
            run("multi-worker, 1 worker", [*common, "--strategy", "multi-worker"], folder, workers=1),
            run("multi-worker, 2 workers", [*common, "--strategy", "multi-worker"], folder, workers=2),
            run("mirrored, 2 logical CPU devices", [*common, "--strategy", "mirrored", "--cpu-replicas", "2"],
                folder),
        ]
    base = rows[0]["later"]
    one_worker = next(r for r in rows if r["name"] == "multi-worker, 1 worker")["later"]
    two_workers = next(r for r in rows if r["name"] == "multi-worker, 2 workers")["later"]
    print(f"\n{args.samples} IMDB reviews (80% trained on), {args.epochs} epochs, batch {args.batch_size} per "
          f"replica, {sys.platform}, one machine\n")
    print("| contender | first epoch samples/s | later epochs samples/s | vs baseline | test accuracy | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['first']:.0f} | {r['later']:.0f} | {r['later'] / base:.2f}x | "
              f"{r['accuracy']:.4f} | {r['wall']:.0f} |")
    print(f"\nscaling efficiency, 2 workers vs 1 (later epochs): {two_workers / (2 * one_worker):.2f} "
          f"({two_workers / one_worker:.2f}x the throughput of one worker)")


if __name__ == "__main__":
    main()
