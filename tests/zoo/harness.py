"""Shared test harness: one tiny case per registered pattern x cell x bidirectional x input kind, with data.

Each case knows how to make a padded input batch and learnable targets, so the contract test is the same ~10
checks for every model.
"""

import itertools

import numpy as np
import tensorflow as tf

import zoo

CELLS = ("simple_rnn", "lstm", "gru")
TINY = dict(units=8, embedding_dim=8)
INPUT_SIZES = {
    "tokens": dict(vocab_size=20),
    "features": dict(feature_dim=3),
    "frames": dict(frame_shape=(8, 8, 1), frame_filters=(4,)),
}
NUM_OUTPUTS = 5  # classes, or output token ids for decoders
BATCH, STEPS, TARGET_STEPS = 4, 6, 5


def contract_cases():
    """(id, pattern, config) for every valid combination, varying depth and attention across them."""
    cases = []
    for cell in CELLS:
        cases.append(("one_to_one", dict(cell=cell, input="features", num_outputs=NUM_OUTPUTS)))
        cases.append(("one_to_many", dict(cell=cell, input="features", decoder="autoregressive",
                                          num_outputs=NUM_OUTPUTS)))
        for bidirectional in (False, True):
            cases.append(("one_to_many", dict(cell=cell, input="features", decoder="repeat",
                                              output_steps=TARGET_STEPS, num_outputs=NUM_OUTPUTS,
                                              bidirectional=bidirectional)))
    attentions = itertools.cycle(("additive", "dot", "none"))
    poolings = itertools.cycle(("last", "mean", "max", "concat"))
    frame_poolings = itertools.cycle(("average", "flatten"))
    for pattern in ("many_to_one", "many_to_many", "seq2seq"):
        for i, (cell, bidirectional, kind) in enumerate(itertools.product(CELLS, (False, True), INPUT_SIZES)):
            config = dict(cell=cell, bidirectional=bidirectional, input=kind, num_layers=1 + i % 2)
            if pattern == "seq2seq":
                config.update(target_vocab_size=NUM_OUTPUTS, attention=next(attentions))
            else:
                config.update(num_outputs=NUM_OUTPUTS)
            if pattern == "many_to_one":
                config.update(pooling=next(poolings))
            if kind == "frames":
                config.update(frame_pooling=next(frame_poolings))
            if kind == "features":  # padded with zero steps, which mask only when asked to
                config.update(mask_value=0.0)
            cases.append((pattern, config))
    return [(case_id(p, c), p, {**TINY, **INPUT_SIZES.get(c["input"], {}), **_vector_size(c), **c})
            for p, c in cases]


def _vector_size(config):
    return dict(feature_dim=3) if config["input"] == "features" else {}


def case_id(pattern, config):
    parts = [pattern, config["cell"], config["input"]]
    parts += ["bidirectional"] * bool(config.get("bidirectional"))
    parts += [f"{k}={config[k]}" for k in ("decoder", "attention", "pooling", "frame_pooling") if k in config]
    parts += [f"layers={config.get('num_layers')}"] * (config.get("num_layers", 1) > 1)
    return "-".join(str(p) for p in parts)


def padded_sequence(kind, rng, lengths, steps, config):
    """A batch of sequences with the given true lengths, zero-padded to `steps`."""
    batch = len(lengths)
    if kind == "tokens":
        x = rng.integers(1, config["vocab_size"], size=(batch, steps)).astype("int32")
    elif kind == "features":
        x = rng.uniform(0.1, 1.0, size=(batch, steps, config["feature_dim"])).astype("float32")
    else:
        # Each frame gets its own brightness, so a tiny CNN can tell frames apart and per-frame labels are learnable.
        brightness = rng.uniform(0.2, 2.0, size=(batch, steps, 1, 1, 1))
        x = (brightness * rng.uniform(0.1, 1.0, size=(batch, steps, *config["frame_shape"]))).astype("float32")
    for row, length in enumerate(lengths):
        x[row, length:] = 0
    return x


def pad_steps(x, extra):
    """`x` with `extra` more zero steps on axis 1."""
    widths = [(0, 0)] * x.ndim
    widths[1] = (0, extra)
    return np.pad(x, widths)


class CaseData:
    """Inputs and targets for one case. `seq_keys` are the inputs with a time axis that padding may extend."""

    def __init__(self, pattern, config, seed=0):
        rng = np.random.default_rng(seed)
        self.pattern, self.config = pattern, config
        lengths = [STEPS, STEPS - 2, 3, STEPS - 1][:BATCH]
        target_lengths = [TARGET_STEPS, 3, TARGET_STEPS - 1, 2][:BATCH]
        vector = rng.uniform(-1, 1, size=(BATCH, config.get("feature_dim", 3))).astype("float32")
        previous = padded_sequence("tokens", rng, target_lengths, TARGET_STEPS, {"vocab_size": NUM_OUTPUTS})
        targets_seq = padded_sequence("tokens", rng, target_lengths, TARGET_STEPS, {"vocab_size": NUM_OUTPUTS})
        self.per_step_output = True
        if pattern == "one_to_one":
            self.inputs, self.targets, self.per_step_output = vector, rng.integers(0, NUM_OUTPUTS, BATCH), False
        elif pattern == "one_to_many" and config["decoder"] == "repeat":
            self.inputs, self.targets = vector, rng.integers(0, NUM_OUTPUTS, (BATCH, TARGET_STEPS))
        elif pattern == "one_to_many":
            self.inputs, self.targets = {"vector": vector, "previous_tokens": previous}, targets_seq
        else:
            kind = config["input"]
            source = padded_sequence(kind, rng, lengths, STEPS, config)
            if pattern == "seq2seq":
                self.inputs, self.targets = {kind: source, "previous_tokens": previous}, targets_seq
            elif pattern == "many_to_many":
                self.inputs = source
                self.targets = rng.integers(0, NUM_OUTPUTS, (BATCH, STEPS))
            else:
                self.inputs, self.targets, self.per_step_output = source, rng.integers(0, NUM_OUTPUTS, BATCH), False

    def sequence_keys(self):
        """The inputs that have a padded time axis."""
        if isinstance(self.inputs, dict):
            return [k for k in self.inputs if k != "vector"]
        return [] if self.pattern in ("one_to_one", "one_to_many") else [None]

    def with_extra_padding(self, extra):
        if not isinstance(self.inputs, dict):
            return pad_steps(self.inputs, extra)
        return {k: pad_steps(v, extra) if k in self.sequence_keys() else v for k, v in self.inputs.items()}

    def as_tensors(self, inputs=None):
        inputs = self.inputs if inputs is None else inputs
        if isinstance(inputs, dict):
            return {k: tf.constant(v) for k, v in inputs.items()}
        return tf.constant(inputs)


def call(model, inputs):
    return np.asarray(model(inputs, training=False))


def valid_steps(data):
    """bool [batch, time] of the output steps that are real (not padding), or None for one output per example."""
    if not data.per_step_output:
        return None
    if isinstance(data.inputs, dict):
        return data.inputs["previous_tokens"] != 0
    if data.pattern == "one_to_many":  # repeat decoder: every step is real
        return np.ones(data.targets.shape, bool)
    return np.asarray(tf.reduce_any(tf.reshape(data.inputs, (*data.inputs.shape[:2], -1)) != 0, axis=-1))


def trim_row(data, row):
    """Example `row` alone, each padded input cut to that example's own length."""

    def trim(x):
        x = x[row:row + 1]
        steps = np.asarray(tf.reduce_any(tf.reshape(x, (1, x.shape[1], -1)) != 0, axis=-1))[0]
        return x[:, :int(steps.sum())]

    if not isinstance(data.inputs, dict):
        return trim(data.inputs) if data.sequence_keys() else data.inputs[row:row + 1]
    return {k: trim(v) if k in data.sequence_keys() else v[row:row + 1] for k, v in data.inputs.items()}


def step_by_step_logits(model, data):
    """Logits from running `encode` once and `decode_step` over previous_tokens, one step at a time."""
    parts = zoo.inference_models(model)
    source = {k: v for k, v in data.inputs.items() if k != "previous_tokens"}
    encoded = parts["encode"](tf.constant(next(iter(source.values()))))
    states = {k: v for k, v in encoded.items() if k.startswith("decoder_init_")}
    memory = {k: encoded[k] for k in ("memory", "memory_mask") if k in encoded}
    logits = []
    previous = data.inputs["previous_tokens"]
    for t in range(previous.shape[1]):
        out = parts["decode_step"]({"previous_token": tf.constant(previous[:, t:t + 1]), **states, **memory})
        states = {k: out[k] for k in states}
        logits.append(np.asarray(out["logits"]))
    return np.concatenate(logits, axis=1)


def causal_step_logits(model, data):
    """Logits from the causal many_to_many's step models: `read` takes the first half from zero states, `step` the
    rest one step at a time from the states returned."""
    models = zoo.inference_models(model)
    read, step = models["read"], models["step"]
    names = [name for name in read.input if name.startswith("state_")]
    key = next(name for name in read.input if not name.startswith("state_"))  # "tokens" or "features"
    x = data.inputs
    half = x.shape[1] // 2
    out = read({key: tf.constant(x[:, :half]), **{n: tf.zeros((x.shape[0], read.input[n].shape[-1])) for n in names}})
    logits = [np.asarray(out["logits"])]
    for t in range(half, x.shape[1]):  # the rest one step at a time
        out = step({key: tf.constant(x[:, t:t + 1]), **{n: out[n] for n in names}})
        logits.append(np.asarray(out["logits"]))
    return np.concatenate(logits, axis=1)


def gradients_through(run, layer, inputs, mask):
    """The gradients of `inputs` and of `layer`'s weights of a fixed weighting of what `run` (`layer` itself, or a
    fast path wrapping it) outputs in training: a sequence [batch, time, units] or a last output [batch, units]."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = run(inputs, mask=mask, training=True)
        weights = tf.random.stateless_normal([inputs.shape[1], outputs.shape[-1]], seed=[7, 8])
        loss = tf.reduce_sum((outputs if outputs.shape.rank == 3 else outputs[:, None]) * weights)
    return tape.gradient(loss, [inputs, *layer.trainable_variables])
