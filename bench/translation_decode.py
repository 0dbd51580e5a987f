"""Decoding speed of a trained translation export: the tutorials' Python loop at batch 1 against our graph loops.

    python bench/translation_decode.py --model-dir saved_models/translation [--sentences 200]

All contenders translate the same held-out-style sentences (Spanish, from ../shared/data/spa-eng/train.tsv where
present, else --data) with the same weights, one after another in this process:
- Python loop, batch 1: one sentence at a time, one eager `decode_step` call per word (keras-io's lstm_seq2seq way).
- graph greedy, batch 1: our tf.while_loop, one sentence per call.
- graph greedy, batch N: our tf.while_loop over N sentences per call (the SavedModel's serving_default).
- SavedModel serving_default and beam_search, batch N: the export itself, tokenization and all.
Prints ms per sentence and the speed-up over the Python loop. The first call of each graph function (tracing) is
not timed.

A second table writes the export's network again both ways, with the plain decode loops (the default) and
XLA-compiled (`--xla-serving`), loads each as `tasks.serve` does (its warm-up records run at load, timed), and times
greedy and beam search at batch 1 (one sentence per call) and batch N.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (the SentencePiece ops of the export's graph)

import zoo  # noqa: E402,F401  (registers the zoo's layers for load_model)
from tasks.common.export import version_folder  # noqa: E402
from tasks.serve.loading import load_version  # noqa: E402
from tasks.translation.data import read_pairs  # noqa: E402
from tasks.translation.decoding import greedy_decode, python_loop_greedy  # noqa: E402
from tasks.translation.serving import translator_from_export, write_export  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spa-eng" / "train.tsv"


def timed(fn, items):
    fn(items[0])  # trace / warm up
    started = time.perf_counter()
    for item in items:
        fn(item)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="saved_models/translation", help="an export (model or version folder)")
    parser.add_argument("--data", default=str(DATA), help="TSV of pairs; the sentences to translate (default: spa-eng)")
    parser.add_argument("--column", type=int, default=1, help="which column holds the source (spa-eng: 1, Spanish)")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--loop-sentences", type=int, default=50, help="how many the slow Python loop translates")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    export = version_folder(args.model_dir, "translation")
    extra = export / "assets.extra"
    config = json.loads((extra / "config.json").read_text())
    pairs = read_pairs(args.data)
    step = max(1, len(pairs) // args.sentences)  # spread over the file, which runs from short to long sentences
    texts = [pair[args.column] for pair in pairs[::step][:args.sentences]]

    translator = translator_from_export(export, beam_width=config["beam_width"])
    sources = [translator.source(tf.constant([t])) for t in texts]
    graph_greedy = tf.function(lambda s: greedy_decode(translator.models, s, **translator.loop_args),
                               reduce_retracing=True)
    batches = [texts[i:i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    loaded = tf.saved_model.load(str(export))

    loop_items = sources[:args.loop_sentences]
    rows = [
        ("Python loop, batch 1 (eager decode_step per word)", len(loop_items),
         timed(lambda s: python_loop_greedy(translator.models, s, **translator.loop_args), loop_items)),
        ("graph greedy, batch 1", len(sources), timed(graph_greedy, sources)),
        (f"graph greedy, batch {args.batch_size}", len(texts),
         timed(lambda b: graph_greedy(translator.source(tf.constant(b))), batches)),
    ]
    for signature in ("serving_default", "beam_search"):
        fn = loaded.signatures[signature]
        rows.append((f"SavedModel {signature}, batch {args.batch_size}", len(texts),
                     timed(lambda b, fn=fn: fn(text=tf.constant(b)), batches)))
    print(f"{len(texts)} sentences from {args.data} (Python loop: the first {len(loop_items)}); export {export}; "
          f"{os.cpu_count()} CPUs, TF {tf.__version__}\n")
    print("| decoder | ms per sentence | speed-up over the Python loop |")
    print("|---|---:|---:|")
    base = rows[0][2] / rows[0][1]
    for name, count, seconds in rows:
        print(f"| {name} | {seconds / count * 1000:.2f} | {base / (seconds / count):.1f}x |")
    served_table(translator, texts, batches, args.batch_size)


def served_table(translator, texts, batches, batch_size):
    """The export written with plain and with compiled decode loops, each loaded as the server loads it."""
    print(f"\n| export | load s (warm-up included) | greedy, batch 1 ms | greedy, batch {batch_size} ms per "
          f"sentence | beam, batch 1 ms | beam, batch {batch_size} ms per sentence |\n|---|---:|---:|---:|---:|---:|")
    baseline = None
    with tempfile.TemporaryDirectory() as scratch:
        for name, compiled in (("plain loops (the default)", False), ("XLA-compiled (--xla-serving)", True)):
            folder = Path(scratch) / str(compiled)
            write_export(folder, translator, extras={}, example=texts[0], compiled=compiled)
            started = time.perf_counter()
            version = load_version(folder, 1, xla=True)  # as TF Serving with --xla_cpu_compilation_enabled=true
            load = time.perf_counter() - started
            cells = []
            for signature in ("serving_default", "beam_search"):
                def call(items, signature=signature):
                    return version.run(signature, {"text": np.array(items, dtype=object)})
                cells.append(timed(call, [[t] for t in texts]) / len(texts) * 1000)
                cells.append(timed(call, batches) / len(texts) * 1000)
            version.close()
            baseline = baseline or cells
            print(f"| {name} | {load:.1f} | " + " | ".join(
                f"{ms:.2f} ({base / ms:.2f}x)" for ms, base in zip(cells, baseline)) + " |")


if __name__ == "__main__":
    main()
