"""The sequence model zoo: recurrent model builders for every pattern, cell and direction.

    from zoo import build, list_models
    model = build("many_to_one", input="tokens", vocab_size=20000, num_outputs=2,
                  cell="lstm", units=64, bidirectional=True, num_layers=2)
"""

from zoo.quiet import import_tensorflow

import_tensorflow()  # before Keras loads it, without TensorFlow's start-up lines on stderr (zoo/quiet.py)

from zoo.adversarial import AdversarialTraining  # noqa: E402
from zoo.ensemble import ensemble  # noqa: E402
from zoo.fused import fuse_lstms, fuses_every_layer, runs_fused_kernel  # noqa: E402
from zoo.fused_gru import fuse_grus, fuse_recurrent, fuses_every_recurrent_layer  # noqa: E402
from zoo.language_model import SampledSoftmaxTraining  # noqa: E402
from zoo.losses import SparseCrossEntropy  # noqa: E402
from zoo.model import ZooModel  # noqa: E402
from zoo.optimizers import FusedAdam  # noqa: E402
from zoo.real_steps import labels_at_real_steps, logits_at_real_steps  # noqa: E402
from zoo.registry import PATTERNS, get_pattern, split_config  # noqa: E402
from zoo.transfer import transfer_encoder  # noqa: E402

__all__ = ["build", "list_models", "inference_models", "reset_states", "transfer_encoder", "SampledSoftmaxTraining",
           "ZooModel", "fuse_lstms", "fuse_grus", "fuse_recurrent", "fuses_every_layer", "fuses_every_recurrent_layer",
           "runs_fused_kernel", "FusedAdam", "SparseCrossEntropy", "logits_at_real_steps", "labels_at_real_steps",
           "ensemble", "AdversarialTraining"]


def list_models():
    """The names of every registered pattern."""
    return list(PATTERNS)


def build(name, /, **config):
    """Build pattern `name` as a functional `keras.Model` (uncompiled; outputs are logits unless
    `output_activation` says otherwise). `name=` among the arguments names the model (default: the pattern's name).

    Common arguments (all keyword-only):
      input: 'tokens' | 'features' | 'frames' (sequence patterns) or 'features' (a vector, for one_to_*), with
        vocab_size / embedding_dim, feature_dim (and mask_value: features steps all equal to it are padding;
        none by default), or frame_shape=(h, w, c) / frame_filters / frame_pooling ('average' or 'flatten',
        which keeps positions); sequence_length and batch_size to fix those dimensions.
      cell: 'simple_rnn' | 'lstm' | 'gru'; units; num_layers; bidirectional and merge_mode; dropout;
        recurrent_dropout; activation: 'tanh' | 'relu' | 'sigmoid'; stateful (with batch_size) for truncated BPTT.
    Pattern arguments: num_outputs and output_activation (one_to_one, one_to_many, many_to_one, many_to_many);
    decoder and output_steps (one_to_many); target_vocab_size, target_embedding_dim and attention (seq2seq).
    Any unknown name or bad value raises a ValueError that lists the valid choices.
    """
    return ZooModel(pattern=name, **config)


def inference_models(model):
    """Step-by-step models sharing `model`'s weights.

    For seq2seq and the autoregressive one_to_many, `{"encode": ..., "decode_step": ...}`: run `encode` once, then
    call `decode_step` with the previous token and the states it returned, in a greedy, sampling or beam-search loop.
    For a causal (unidirectional) many_to_many, `{"step": ...}`: inputs and states in, outputs and the next states
    out (a language model's generation loop).
    """
    pattern = get_pattern(model.pattern)
    if pattern.inference_models is None:
        raise ValueError(f"{model.pattern} produces its whole output in one call; it has no step-by-step models.")
    inputs, rnn, options = split_config(model.pattern, model.builder_config)
    return pattern.inference_models(model, inputs, rnn, **options)


def reset_states(model):
    """Zero the carried state of every stateful recurrent layer (at the start of each epoch of truncated BPTT)."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()
