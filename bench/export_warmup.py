"""The first requests after an export loads, with and without its warm-up records, for every recipe's export.

    python bench/export_warmup.py [--exports DIR]

DIR holds exports as `<model>/<version>/` (`saved_models`); without it each recipe in `tasks.recipes` trains for
one epoch on its built-in generated data with its default model sizes (latency does not depend on the weights) into
a temporary folder. Each export is then loaded in two fresh processes the way `tasks.serve` loads a version
(`load_version`, one session): as exported, which runs its warm-up records at load as TF Serving does, and a copy
without the warm-up file, the baseline (exports before this change). Each process times the load, then every
signature's first request of one row, its first request of 8 rows, and one more request of one row, fed the warm-up
file's own inputs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.common.serving_shapes import EXAMPLE_WARMUP_ROWS, WARMUP_FILE  # noqa: E402


def requests_of(records):
    """{(signature, rows): {alias: array}} from warm-up records."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    requests = {}
    for record in tf.data.TFRecordDataset(str(records)).as_numpy_iterator():
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        inputs = {alias: tf.make_ndarray(tensor) for alias, tensor in request.inputs.items()}
        requests[request.model_spec.signature_name, len(next(iter(inputs.values())))] = inputs
    return requests


def measure(path, records):
    """One fresh process: load `path`, then time each signature's first requests (ms)."""
    from tasks.serve.loading import load_version

    requests = requests_of(records)
    started = time.perf_counter()
    loaded = load_version(path, 1, xla=True)  # (an --xla-serving export too, as with TF Serving's flag on)
    result = {"load_ms": (time.perf_counter() - started) * 1000}
    one, several = EXAMPLE_WARMUP_ROWS[0], EXAMPLE_WARMUP_ROWS[-1]
    for signature in sorted({name for name, _ in requests}):
        for label, rows in (("first", one), (f"first {several} rows", several), ("second", one)):
            started = time.perf_counter()
            loaded.run(signature, requests[signature, rows])
            result[f"{signature}: {label}"] = (time.perf_counter() - started) * 1000
    loaded.close()
    print(json.dumps(result))


def in_fresh_process(path, records):
    output = subprocess.run([sys.executable, __file__, "--measure", str(path), "--records", str(records)],
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def trained_exports(folder):
    from tasks.recipes import RECIPES

    for key, recipe in RECIPES.items():
        tiny = list(recipe.tiny)
        task = tiny[tiny.index("--task"):tiny.index("--task") + 2] if "--task" in tiny else []  # names: two exports
        subprocess.run([sys.executable, "-m", recipe.module, *recipe.offline, *task,
                        "--epochs", "1", "--run-dir", str(folder / key / "run"), "--export-dir",
                        str(folder / "exports")], check=True, capture_output=True)
    return folder / "exports"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exports", help="a folder of <model>/<version>/ exports (default: train each recipe)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--records", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure, args.records)
    scratch = Path(tempfile.mkdtemp(prefix="export-warmup-"))
    try:
        exports = Path(args.exports) if args.exports else trained_exports(scratch)
        print("| export | signature, request | with warm-up ms | without ms |\n|---|---|---:|---:|")
        for model in sorted(p for p in exports.iterdir() if p.is_dir()):
            version = max((p for p in model.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
            records = version / "assets.extra" / WARMUP_FILE
            if not records.exists():
                print(f"| {model.name} | (no warm-up records) | | |")
                continue
            bare = scratch / "bare" / model.name / "1"
            shutil.copytree(version, bare)
            (bare / "assets.extra" / WARMUP_FILE).unlink()
            warm, cold = in_fresh_process(version, records), in_fresh_process(bare, records)
            for key in warm:
                print(f"| {model.name} | {key} | {warm[key]:.1f} | {cold[key]:.1f} |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
