"""SimpleRNN vs LSTM vs GRU, left-to-right vs bidirectional, on the moving-digits video set (a label per frame).

    python bench/video_cells.py [--train-clips 1500 --epochs 6]

Every contender trains through the recipe itself (`tasks.video_frames.train`, same data, seed and CNN), one after
another in this process, and the table shows test accuracy over all frames and over the first 3 frames of each clip
(frame 0's label is the move that comes next: only a model that reads ahead can know it), and seconds per epoch.
A second run of each trains the clip target (one label per clip: the direction it moved in most often), which needs
the whole clip remembered, where vanishing gradients should hurt a SimpleRNN most. The baseline for the ratio
column is SimpleRNN, left to right.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.video_frames.__main__ import Config, train  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-clips", type=int, default=1500)
    parser.add_argument("--eval-clips", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for cell in ("simple_rnn", "lstm", "gru"):
            for bidirectional in (False, True):
                results = {}
                for target in ("frames", "clip"):
                    folder = f"{work}/{cell}-{bidirectional}-{target}"
                    results[target] = train(Config(
                        cell=cell, bidirectional=bidirectional, target=target, train_clips=args.train_clips,
                        eval_clips=args.eval_clips, epochs=args.epochs, patience=args.epochs,
                        run_dir=f"{folder}/run", export_dir=folder))
                training = results["frames"]["training"]
                rows.append((cell, bidirectional, results["frames"]["test"], results["clip"]["test"],
                             training["train_seconds"] / training["epochs_run"]))
    print(f"\n{args.train_clips} training clips, {args.eval_clips} test clips, {args.epochs} epochs each, "
          f"{os.cpu_count()} CPUs; the other settings are the recipe's defaults: {dataclasses.asdict(Config())}\n")
    print("| cell | direction | frame accuracy | first 3 frames | frame 0 | clip target accuracy | s per epoch "
          "(frames) | time vs SimpleRNN |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    base = rows[0][4]
    for cell, bidirectional, frames, clip, seconds in rows:
        print(f"| {cell} | {'bidirectional' if bidirectional else 'left to right'} | {frames['frame_accuracy']:.4f} "
              f"| {frames['first_3_frames_accuracy']:.4f} | {frames['accuracy_by_position'][0]:.4f} | "
              f"{clip['clip_accuracy']:.4f} | {seconds:.1f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
