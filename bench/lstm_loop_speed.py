"""The zoo's LSTM loop against Keras's loop, TensorFlow's fused kernel and PyTorch: one layer, then the generation
recipe's model trained by truncated BPTT.

    python bench/lstm_loop_speed.py [--units 128,256,512 --rounds 5 --steps 3]

Part 1, one LSTM layer's training step (64 rows, 100 steps, as many input features as units, as a stacked layer
reads them; forward and the gradients of the inputs and every weight, the loss the outputs' sum), each TensorFlow
contender one traced `tf.function`: Keras's `LSTM` loop, `zoo.fuse_lstms`'s fused kernel (`BlockLSTMV2`) and its
written-out loop (`zoo.lstm_loop`) at every width, and PyTorch's `nn.LSTM`.

Part 2, the generation recipe's model (`tasks.generation.build_model` with its default sizes: embedding 64,
2 x LSTM(512), dropout 0.25) for 65 characters, stateful, trained with `train_on_batch` on chunks of 64 streams x
100 characters, compiled as the recipe compiles it: Keras's loop with XLA (the recipe's default before the loop),
Keras's loop without XLA, the zoo's loop (the recipe's default), and PyTorch (`bench.torch_contenders.CharLSTM`).

Rounds interleave the contenders; the tables give the median ms a step over rounds (each round the mean of --steps
steps), the range, and the speed as a multiple of PyTorch's (of the first row's without PyTorch). TensorFlow's and
PyTorch's default threads.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.sentiment_speed import torch_available  # noqa: E402
from zoo import lstm_loop  # noqa: E402
from zoo.fused import FusedLSTM  # noqa: E402

ROWS, STEPS = 64, 100
CHARACTERS = 65  # Tiny Shakespeare's


def layer_contenders(units, with_torch):
    """{name: one training step of an LSTM layer of `units`} (see the module doc)."""
    inputs = tf.random.stateless_normal([ROWS, STEPS, units], seed=[1, 2])
    layer = keras.layers.LSTM(units, return_sequences=True)
    layer(inputs)

    def traced(run):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(run(inputs, training=True))
            return tape.gradient(loss, [inputs, *layer.trainable_variables])
        return step

    runs = {"Keras's loop": traced(layer)}
    for name, loop_units in (("fused kernel (BlockLSTMV2)", 10 ** 9), ("zoo.lstm_loop", 1)):
        with mock.patch.object(lstm_loop, "LOOP_UNITS", loop_units):  # which path runs is chosen when traced
            runs[name] = traced(FusedLSTM(layer))
            runs[name]()
    if with_torch:
        import torch

        torch_layer = torch.nn.LSTM(units, units, batch_first=True)
        torch_inputs = torch.from_numpy(inputs.numpy()).requires_grad_()

        def torch_step():
            torch_layer.zero_grad()
            torch_inputs.grad = None
            torch_layer(torch_inputs)[0].sum().backward()
        runs["PyTorch nn.LSTM"] = torch_step
    return runs


def generation_contenders(with_torch, chunks):
    """{name: a function training one chunk of `chunks` ((inputs, targets) numpy arrays) a call, in turn}."""
    from tasks.generation.__main__ import Config, build_model

    cfg = Config()
    vocab_size = CHARACTERS + 2  # and the recipe's padding and unknown ids

    def keras_trainer(fused, xla):
        keras.utils.set_random_seed(0)
        model = build_model(cfg, vocab_size, stateful=True, batch_size=ROWS)
        trainer = zoo.fuse_lstms(model) if fused else model
        trainer.compile(optimizer=zoo.FusedAdam(cfg.learning_rate, clipnorm=5.0),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=xla)
        return trainer

    runs = {}
    for name, fused, xla in (("Keras's loop, XLA (the recipe's default before)", False, True),
                             ("Keras's loop, no XLA", False, False),
                             ("zoo.lstm_loop, no XLA (the recipe's default)", True, False)):
        trainer, turn = keras_trainer(fused, xla), iter(range(10 ** 9))
        runs[name] = lambda trainer=trainer, turn=turn: trainer.train_on_batch(*chunks[next(turn) % len(chunks)])
    if with_torch:
        from bench.torch_contenders import CharLSTM, tbptt_trainer

        step, turn = tbptt_trainer(CharLSTM(vocab_size, cfg.embedding_dim, cfg.units, cfg.num_layers, cfg.dropout),
                                   cfg.learning_rate), iter(range(10 ** 9))
        runs["PyTorch, nn.LSTM x 2"] = lambda: step(*chunks[next(turn) % len(chunks)])
    return runs


def timed_rounds(runs, rounds, steps):
    """{name: ms a step in each round}: every contender warmed up twice, then the rounds interleaved."""
    for run in runs.values():
        run()
        run()
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            for _ in range(steps):
                run()
            times[name].append(1000 * (time.perf_counter() - started) / steps)
    return times


def print_table(title, times):
    print(f"\n{title}\n")
    print("| contender | ms a step (median) | range | speed vs PyTorch |")
    print("|---|---:|---:|---:|")
    medians = {name: float(np.median(values)) for name, values in times.items()}
    base = next((ms for name, ms in medians.items() if name.startswith("PyTorch")), next(iter(medians.values())))
    for name, values in times.items():
        print(f"| {name} | {medians[name]:.1f} | {min(values):.1f}-{max(values):.1f} | {base / medians[name]:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", default="128,256,512", help="layer widths for part 1, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps a contender trains a round")
    parser.add_argument("--skip-generation", action="store_true", help="part 1 alone")
    args = parser.parse_args()
    with_torch = torch_available()
    for units in (int(width) for width in args.units.split(",")):
        print_table(f"One LSTM layer of {units} units, {ROWS} rows x {STEPS} steps, forward and gradients "
                    f"({args.rounds} rounds of {args.steps} steps, {os.cpu_count()} CPUs):",
                    timed_rounds(layer_contenders(units, with_torch), args.rounds, args.steps))
    if not args.skip_generation:
        ids = np.random.default_rng(0).integers(2, CHARACTERS + 2, (ROWS, 4 * STEPS + 1)).astype("int32")
        chunks = [(ids[:, start:start + STEPS], ids[:, start + 1:start + STEPS + 1])
                  for start in range(0, 4 * STEPS, STEPS)]
        print_table(f"The generation recipe's model, {ROWS} streams x {STEPS} characters a step, truncated BPTT "
                    f"({args.rounds} rounds of {args.steps} steps):",
                    timed_rounds(generation_contenders(with_torch, chunks), args.rounds, args.steps))


if __name__ == "__main__":
    main()
