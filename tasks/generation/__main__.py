"""Text generation recipe: a character-level recurrent language model trained with truncated backpropagation
through time, scored in nats and bits per character on a held-out tail, exported as a SavedModel
`generate(prompt, length, temperature) -> text` with the sampling loop in the graph.

    python -m tasks.generation                          # Tiny Shakespeare (downloaded), or a generated stand-in
    python -m tasks.generation --data book.txt          # any UTF-8 text file
    python -m tasks.generation --data books/            # a folder of .txt files, one after another
    python -m tasks.generation --no-tbptt               # independent windows instead, for comparison
    python -m tasks.generation sample --model saved_models/generation "ROMEO:" --length 300 --temperature 0.8
"""

import dataclasses
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common import cli  # noqa: E402
from tasks.common.cli import UserError, dispatch, flag, recipe_parser, require_fraction, require_positive, run_cli  # noqa: E402
from tasks.common.distribute import DistributionFlags  # noqa: E402

# TensorFlow and the zoo are imported inside the commands, so that `--help` and flag errors answer at once.


@dataclasses.dataclass
class Config(DistributionFlags):
    # data
    data: str | None = flag(None, "any UTF-8 text file, or a folder of .txt files (read in name order)")
    dataset: str = flag("auto", "auto: Tiny Shakespeare, or a generated stand-in when it cannot be downloaded; "
                                "shakespeare: that or an error; generated: the built-in stand-in",
                        choices=("auto", "shakespeare", "generated"))
    cache_dir: str | None = flag(None, "download cache folder (default: ~/.keras)")
    validation_fraction: float = flag(0.1, "the held-out tail of the text, for validation")
    # model
    cell: str = flag("lstm", "recurrent cell", choices=("simple_rnn", "lstm", "gru"))
    num_layers: int = flag(2, "stacked recurrent layers")
    units: int = flag(512, "units per layer")
    embedding_dim: int = flag(64, "width of the character embedding")
    dropout: float = flag(0.25, "dropout on each recurrent layer's inputs")
    # training
    tbptt: bool = flag(True, "truncated BPTT: parallel streams with the state carried from chunk to chunk (reset "
                             "each epoch); --no-tbptt: independent windows, each from a zero state")
    bptt: int = flag(100, "characters per chunk (or window) that gradients flow back through")
    batch_size: int = flag(64, "parallel streams (or windows per batch, per replica when distributed)")
    epochs: int = flag(14, "maximum epochs (early stopping may end sooner); about 30 minutes on 2 CPU cores")
    learning_rate: float = flag(2e-3, "Adam learning rate")
    patience: int = flag(2, "epochs without a better validation loss before stopping")
    xla: bool = flag(False, "compile the training step with XLA (off: the LSTM loop below is as fast without it, and "
                            "the first epoch compiles nothing)")
    fused_lstm: bool = flag(True, "train LSTM layers on the zoo's CPU fast path (zoo.fuse_lstms: the same results, "
                                  "1.5x faster steps at 512 units, see bench/README.md); Keras's own loop with "
                                  "--no-fused-lstm, --xla, a GPU (cuDNN) or a distributed strategy")
    seed: int = flag(0, "random seed: the same seed gives the same result on the same machine")
    # outputs
    samples: int = flag(300, "characters sampled at each temperature after training")
    run_dir: str = flag("runs/generation", "checkpoints, TensorBoard logs, metrics and samples; rerun to resume")
    export_dir: str = flag("saved_models", "exports go to <export-dir>/generation/<version>/")

    def __post_init__(self):
        require_positive(self, "num_layers", "units", "embedding_dim", "bptt", "batch_size", "epochs")
        require_fraction(self, "validation_fraction", "dropout")
        if self.samples < 0:
            raise UserError("--samples must not be negative.")

    def refuse_conflicts(self, placement):
        if self.tbptt and not placement.uses_fit:
            raise UserError(f"--tbptt keeps each stream's recurrent state in the model between batches, one state "
                            f"per replica that --strategy {placement.kind} cannot hold; pass --no-tbptt (independent "
                            "windows) to train on several devices.")
        super().refuse_conflicts(placement)


def build_model(cfg, vocab_size, *, stateful, batch_size=None):
    import zoo

    return zoo.build("many_to_many", input="tokens", vocab_size=vocab_size, embedding_dim=cfg.embedding_dim,
                     cell=cfg.cell, units=cfg.units, num_layers=cfg.num_layers, dropout=cfg.dropout,
                     num_outputs=vocab_size, stateful=stateful, batch_size=batch_size)


def copy_weights(source, target):
    """Same architecture, another batch size or statefulness: the trainable weights are the same list."""
    for from_variable, to_variable in zip(source.trainable_variables, target.trainable_variables):
        to_variable.assign(from_variable)


def train(cfg):
    """config -> data -> model -> fit -> evaluate -> export. Returns the metrics dict."""
    from tasks.common.run import Run

    run = Run("generation", cfg, unit="characters")

    import keras
    import numpy as np
    import tensorflow as tf

    import zoo
    from tasks.generation.data import RESERVED, encode, load_text, tbptt_batches, vocabulary, window_batches
    from tasks.generation.sampling import Generator, stream_loss, write_export

    # Data: the last part of the text is held out; the vocabulary comes from the training part.
    text = load_text(cfg)
    chars = vocabulary(text.train)
    train_ids, val_ids = encode(text.train, chars), encode(text.validation, chars)
    vocab_size = len(chars) + len(RESERVED)
    run.data(text.source, f"{len(train_ids)} train / {len(val_ids)} held-out characters, {len(chars)} distinct; "
                          f"{'truncated BPTT' if cfg.tbptt else 'independent windows'} of {cfg.bptt}",
             offline=text.offline, marker="GENERATED TEXT")
    if cfg.tbptt:
        train_ds = tbptt_batches(train_ids, cfg.batch_size, cfg.bptt)
        val_ds = tbptt_batches(val_ids, cfg.batch_size, min(cfg.bptt, (len(val_ids) - 1) // cfg.batch_size))
    else:
        train_ds = window_batches(train_ids, cfg.batch_size, cfg.bptt, cfg.seed)
        val_ds = window_batches(val_ids, cfg.batch_size, cfg.bptt, cfg.seed)

    # Model from the zoo: embedding -> stacked RNN -> next-character logits at every step; stateful for TBPTT.
    with run.scope():
        model = build_model(cfg, vocab_size, stateful=cfg.tbptt, batch_size=cfg.batch_size if cfg.tbptt else None)
        # What trains: the model, or a copy sharing its weights whose LSTMs run the zoo's CPU fast path
        trainer = zoo.fuse_lstms(model) if run.trains_cpu_fast_path(cfg.fused_lstm) else model
        trainer.compile(optimizer=zoo.FusedAdam(cfg.learning_rate, clipnorm=5.0),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=cfg.xla)
    callbacks = []
    if cfg.tbptt:  # every epoch and every validation starts the streams from a zero state
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: zoo.reset_states(model),
                                                        on_test_begin=lambda *_: zoo.reset_states(model)))
    model = run.fit(trainer, train_ds, validation_data=val_ds, samples_per_epoch=len(train_ids), callbacks=callbacks)
    if not run.is_chief:
        return run.worker_result()

    # Evaluate once, the same way for both training modes: the held-out tail read as 16 streams, state carried.
    scorer = build_model(cfg, vocab_size, stateful=True, batch_size=16)
    copy_weights(model, scorer)
    nats = stream_loss(scorer, val_ids, 16, min(256, (len(val_ids) - 1) // 16))
    generator = Generator(build_model(cfg, vocab_size, stateful=False), chars)
    copy_weights(model, generator.model)
    generate = tf.function(generator.generate)
    samples = {}
    for temperature in (0.0, 0.5, 0.8, 1.0):
        out = generate(tf.constant(["\n"]), tf.constant([cfg.samples]), tf.constant([temperature]))
        samples[str(temperature)] = out["continuation"].numpy()[0].decode("utf-8", "replace")
    return run.finish(
        {"tbptt": cfg.tbptt, "validation": {"nats_per_char": nats, "bits_per_char": nats / math.log(2)},
         "samples": samples},
        export=lambda folder, extras: write_export(folder, generator, extras=extras),
        warmup={"serving_default": {"prompt": text.train[:40], "length": np.int32(8), "temperature": np.float32(0.8)}},
        summary=[*(f"--- temperature {t}{run.marker}\n{sample}" for t, sample in samples.items()),
                 f"held-out{run.marker}: {nats:.4f} nats per character, {nats / math.log(2):.4f} bits per character"])


def sample(args):
    from zoo.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up lines on stderr

    from tasks.common.export import version_folder

    path = version_folder(args.model, "generation")
    if args.length < 0 or args.temperature < 0:
        raise UserError("--length and --temperature must not be negative.")
    cli.require_utf8(args.prompt, "the prompt")
    generate = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = generate(prompt=tf.constant([args.prompt]), length=tf.constant([args.length]),
                   temperature=tf.constant([args.temperature]))
    text = out["text"].numpy()[0].decode("utf-8", "replace")
    print(text)
    return text


def parser():
    top, commands = recipe_parser("python -m tasks.generation", __doc__, Config)
    sa = commands.add_parser("sample", help="continue a prompt with an exported model")
    sa.add_argument("--model", required=True, help="an export folder (saved_models/generation[/<version>])")
    sa.add_argument("prompt", nargs="?", default="", help="text to continue (default: start a new text)")
    sa.add_argument("--length", type=int, default=300, help="characters to generate")
    sa.add_argument("--temperature", type=float, default=0.8, help="0: always the most likely character")
    return top


def main(argv=None):
    return dispatch(argv, parser(), {"sample": sample}, Config, train)


if __name__ == "__main__":
    run_cli(main)
