"""Validated argument groups shared by every builder: the recurrent stack and the sequence input.

Each bad value raises one `ValueError` that names the argument, the value and the valid choices, so a user never has
to read a Keras traceback to find a typo.
"""

import dataclasses

from zoo.cells import ACTIVATIONS, CELLS, MERGE_MODES
from zoo.inputs import FRAME_POOLINGS, INPUT_KINDS


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(repr, choices))}.")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}={value!r} is not valid; it must be a positive integer.")


def _rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} is not valid; it must be a number in [0, 1).")


@dataclasses.dataclass(frozen=True)
class RecurrentSpec:
    """How the recurrent layers are made: the cell and its stack."""

    cell: str = "lstm"  # simple_rnn | lstm | gru
    units: int = 64  # state size of one direction
    num_layers: int = 1  # stacked layers ("deep" RNN); each feeds its sequence to the next
    bidirectional: bool = False  # wrap each layer in Bidirectional (encoders and taggers only)
    merge_mode: str = "concat"  # how Bidirectional joins its two directions
    dropout: float = 0.0  # on each layer's inputs
    recurrent_dropout: float = 0.0  # on the recurrent state (disables the fused GPU kernel)
    activation: str = "tanh"  # the recurrent activation of the candidate state
    stateful: bool = False  # carry state across batches, for truncated BPTT (needs batch_size)

    def __post_init__(self):
        _choice("cell", self.cell, tuple(CELLS))
        _positive_int("units", self.units)
        _positive_int("num_layers", self.num_layers)
        _choice("merge_mode", self.merge_mode, MERGE_MODES)
        _rate("dropout", self.dropout)
        _rate("recurrent_dropout", self.recurrent_dropout)
        _choice("activation", self.activation, ACTIVATIONS)
        if not isinstance(self.bidirectional, bool) or not isinstance(self.stateful, bool):
            raise ValueError("bidirectional and stateful must be True or False.")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What the sequence input is and how it becomes per-step vectors."""

    input: str = "tokens"  # tokens | features | frames
    vocab_size: int | None = None  # tokens: number of ids, 0 reserved for padding
    embedding_dim: int = 64  # tokens: width of the embedding
    feature_dim: int | None = None  # features: floats per step (and the width of one_to_* input vectors)
    mask_value: float | None = None  # features: a step whose values all equal this is padding (None: no padding)
    frame_shape: tuple | None = None  # frames: (height, width, channels)
    frame_filters: tuple = (16, 32)  # frames: Conv2D widths of the per-frame CNN
    frame_pooling: str = "average"  # frames: "average" (position-free features) or "flatten" (keeps where things are)
    sequence_length: int | None = None  # fixed number of steps, or None for any length
    batch_size: int | None = None  # fixed batch size; required by stateful models

    def __post_init__(self):
        _choice("input", self.input, INPUT_KINDS)
        needed = {"tokens": "vocab_size", "features": "feature_dim", "frames": "frame_shape"}[self.input]
        if getattr(self, needed) is None:
            raise ValueError(f"input={self.input!r} needs {needed}=...; pass it to build().")
        if self.input == "tokens":
            _positive_int("vocab_size", self.vocab_size)
            _positive_int("embedding_dim", self.embedding_dim)
        if self.input == "features":
            _positive_int("feature_dim", self.feature_dim)
        if self.mask_value is not None:
            if self.input != "features":
                raise ValueError(f"mask_value={self.mask_value!r} applies to input='features' only (token id 0 and "
                                 "an all-zero frame are always padding).")
            if isinstance(self.mask_value, bool) or not isinstance(self.mask_value, (int, float)):
                raise ValueError(f"mask_value={self.mask_value!r} is not valid; give a number or None.")
        if self.input == "frames":
            if len(tuple(self.frame_shape)) != 3:
                raise ValueError(f"frame_shape={self.frame_shape!r} is not valid; give (height, width, channels).")
            for v in self.frame_shape:
                _positive_int("frame_shape entries", v)
            for v in self.frame_filters:
                _positive_int("frame_filters entries", v)
            _choice("frame_pooling", self.frame_pooling, FRAME_POOLINGS)
        for name in ("sequence_length", "batch_size"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))

    def adapter_args(self):
        """Keyword arguments for `zoo.inputs.sequence_input`."""
        return dict(batch_size=self.batch_size, vocab_size=self.vocab_size, feature_dim=self.feature_dim,
                    frame_shape=None if self.frame_shape is None else tuple(self.frame_shape),
                    sequence_length=self.sequence_length)

    @property
    def padding_value(self):
        """What a padding step is made of: token id 0, an all-zero frame, or `mask_value` features (None: no step
        of these features is padding)."""
        return self.mask_value if self.input == "features" else 0

    def embed_args(self):
        """Keyword arguments for `zoo.inputs.embed_steps`."""
        return dict(vocab_size=self.vocab_size, embedding_dim=self.embedding_dim,
                    frame_filters=tuple(self.frame_filters), frame_pooling=self.frame_pooling,
                    mask_value=self.mask_value)


def field_names(spec_class):
    return tuple(f.name for f in dataclasses.fields(spec_class))
