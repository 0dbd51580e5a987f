"""The patterns by name, written out by hand: name -> builder, the inputs it takes, what it allows."""

import dataclasses
import inspect

from zoo.many_to_many import build_many_to_many, many_to_many_inference_models
from zoo.many_to_one import build_many_to_one
from zoo.one_to_many import build_one_to_many, one_to_many_inference_models
from zoo.one_to_one import build_one_to_one
from zoo.seq2seq import build_seq2seq, seq2seq_inference_models
from zoo.spec import InputSpec, RecurrentSpec, field_names


@dataclasses.dataclass(frozen=True)
class Pattern:
    builder: callable  # (InputSpec, RecurrentSpec, **options) -> (inputs, outputs)
    input_kinds: tuple  # the first is the default
    no_bidirectional: str | None = None  # why Bidirectional is refused, if it is
    stateful: bool = False  # whether the stateful (truncated BPTT) form exists
    inference_models: callable = None  # (model, InputSpec, RecurrentSpec, **options) -> {"encode", "decode_step"}

    def options(self):
        """The pattern's own keyword arguments: {name: default or inspect.Parameter.empty}."""
        params = inspect.signature(self.builder).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


PATTERNS = {
    # vector -> output (feed-forward baseline)
    "one_to_one": Pattern(build_one_to_one, ("features",),
                          no_bidirectional="a single step has no direction to reverse"),
    # vector -> sequence (repeat or autoregressive decoder)
    "one_to_many": Pattern(build_one_to_many, ("features",), inference_models=one_to_many_inference_models),
    # sequence -> output
    "many_to_one": Pattern(build_many_to_one, ("tokens", "features", "frames"), stateful=True),
    # sequence -> output per step (aligned)
    "many_to_many": Pattern(build_many_to_many, ("tokens", "features", "frames"), stateful=True,
                            inference_models=many_to_many_inference_models),
    # sequence -> sequence of another length (encoder-decoder, attention)
    "seq2seq": Pattern(build_seq2seq, ("tokens", "features", "frames"), inference_models=seq2seq_inference_models),
}


def get_pattern(name):
    if name not in PATTERNS:
        raise ValueError(f"Unknown pattern {name!r}; choose one of: {', '.join(map(repr, PATTERNS))}.")
    return PATTERNS[name]


def split_config(name, config):
    """Validate `config` for pattern `name` and split it into (InputSpec, RecurrentSpec, pattern options)."""
    pattern = get_pattern(name)
    input_keys, rnn_keys, options = field_names(InputSpec), field_names(RecurrentSpec), pattern.options()
    unknown = sorted(set(config) - set(input_keys) - set(rnn_keys) - set(options))
    if unknown:
        valid = ", ".join(sorted({*input_keys, *rnn_keys, *options}))
        raise ValueError(f"{name} got unknown argument(s) {', '.join(unknown)}; valid arguments: {valid}.")
    missing = [k for k, default in options.items() if default is inspect.Parameter.empty and k not in config]
    if missing:
        raise ValueError(f"{name} needs {', '.join(f'{k}=...' for k in missing)}.")
    input_config = {k: config[k] for k in input_keys if k in config}
    input_config.setdefault("input", pattern.input_kinds[0])
    if input_config["input"] not in pattern.input_kinds:
        raise ValueError(f"{name} takes input={' or '.join(map(repr, pattern.input_kinds))}, "
                         f"not {input_config['input']!r}.")
    inputs = InputSpec(**input_config)
    rnn = RecurrentSpec(**{k: config[k] for k in rnn_keys if k in config})
    if rnn.bidirectional and pattern.no_bidirectional:
        raise ValueError(f"bidirectional=True is not valid for {name}: {pattern.no_bidirectional}.")
    if rnn.stateful:
        if not pattern.stateful:
            stateful_ones = ", ".join(n for n, p in PATTERNS.items() if p.stateful)
            raise ValueError(f"stateful=True is not available for {name}; it is for: {stateful_ones}.")
        if inputs.batch_size is None:
            raise ValueError("stateful=True needs batch_size=<number of parallel streams>: the carried state has "
                             "one row per stream.")
        if rnn.bidirectional:
            raise ValueError("stateful=True cannot be bidirectional: the backward direction would need the future "
                             "chunks. Use bidirectional=False.")
    return inputs, rnn, {k: config[k] for k in options if k in config}
