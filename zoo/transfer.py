"""Starting a model from pretrained language models (Dai & Le 2015; ULMFiT): the embedding and recurrent stack of
causal many_to_many models over tokens, trained to predict the next token on unlabeled text, copied into a model of
another pattern that reads the same tokens with the same embedding and cells (a sentiment many_to_one, a tagger)."""

from zoo.registry import split_config


def transfer_encoder(target, forward, backward=None):
    """Copy pretrained encoder weights into `target` (a zoo model over tokens) and return the names of the layers
    that received them.

    `forward` is a unidirectional many_to_many over tokens trained as a left-to-right language model; `backward`, the
    same trained on reversed texts with `forward`'s embedding, for a bidirectional `target`. What is copied:
    - the embedding, from `forward`;
    - unidirectional `target`: each recurrent layer `rnn_i` that `forward` has (extra target layers keep their
      initialization);
    - bidirectional `target`: layer `rnn_0`'s forward cell from `forward` and its backward cell (which reads right
      to left) from `backward`, when given. Deeper bidirectional layers read both directions' outputs, an input no
      unidirectional language model has, so they keep their initialization.
    The output head never transfers: the target's task has its own.

    Raises a ValueError naming the first difference (pattern, input, vocabulary size, embedding width, cell, units).
    """
    target_inputs, target_rnn, _ = _specs(target, "target")
    if target_inputs.input != "tokens":
        raise ValueError(f"the target reads input={target_inputs.input!r}; a language model's encoder fits a model "
                         "over input='tokens' only.")
    sources = {"forward": forward} if backward is None else {"forward": forward, "backward": backward}
    source_rnns = {}
    for role, source in sources.items():
        inputs, rnn, _ = _specs(source, role)
        source_rnns[role] = rnn
        if source.pattern != "many_to_many" or inputs.input != "tokens" or rnn.bidirectional:
            raise ValueError(f"the {role} model is not a language model: give a unidirectional many_to_many over "
                             f"input='tokens' (got {source.pattern}, input={inputs.input!r}, "
                             f"bidirectional={rnn.bidirectional}).")
        for name, want, got in (("vocab_size", target_inputs.vocab_size, inputs.vocab_size),
                                ("embedding_dim", target_inputs.embedding_dim, inputs.embedding_dim),
                                ("cell", target_rnn.cell, rnn.cell), ("units", target_rnn.units, rnn.units)):
            if want != got:
                raise ValueError(f"the {role} language model has {name}={got!r} and the target {name}={want!r}; "
                                 "build the target with the language model's settings.")

    target.get_layer("embedding").set_weights(forward.get_layer("embedding").get_weights())
    copied = ["embedding"]
    if not target_rnn.bidirectional:
        for i in range(min(target_rnn.num_layers, source_rnns["forward"].num_layers)):
            target.get_layer(f"rnn_{i}").set_weights(forward.get_layer(f"rnn_{i}").get_weights())
            copied.append(f"rnn_{i}")
        return copied
    for role, source in sources.items():
        direction = target.get_layer("rnn_0").forward_layer if role == "forward" else \
            target.get_layer("rnn_0").backward_layer
        direction.set_weights(source.get_layer("rnn_0").get_weights())
        copied.append(f"rnn_0 ({role})")
    return copied


def _specs(model, role):
    if not hasattr(model, "builder_config"):
        raise ValueError(f"the {role} model is not a zoo model (zoo.build or a reloaded zoo .keras file).")
    return split_config(model.pattern, model.builder_config)
