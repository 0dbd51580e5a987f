"""Bad arguments raise one ValueError that names the problem and the valid choices."""

import pytest

import zoo

SEQUENCE = dict(input="tokens", vocab_size=10, num_outputs=2)


@pytest.mark.parametrize("pattern,config,message", [
    ("many_to_two", {}, "Unknown pattern 'many_to_two'; choose one of: 'one_to_one'"),
    ("many_to_one", dict(SEQUENCE, cell="transformer"), "cell='transformer' is not valid; choose one of: "
                                                        "'simple_rnn', 'lstm', 'gru'"),
    ("many_to_one", dict(SEQUENCE, input="pixels"),
     "many_to_one takes input='tokens' or 'features' or 'frames', not 'pixels'"),
    ("many_to_one", dict(SEQUENCE, units=0), "units=0 is not valid; it must be a positive integer"),
    ("many_to_one", dict(SEQUENCE, num_layers=-1), "num_layers=-1 is not valid"),
    ("many_to_one", dict(SEQUENCE, dropout=1.0), "dropout=1.0 is not valid; it must be a number in [0, 1)"),
    ("many_to_one", dict(SEQUENCE, recurrent_dropout=-0.1), "recurrent_dropout=-0.1 is not valid"),
    ("many_to_one", dict(SEQUENCE, activation="gelu"), "activation='gelu' is not valid; choose one of: 'tanh'"),
    ("many_to_one", dict(SEQUENCE, merge_mode="max"), "merge_mode='max' is not valid"),
    ("many_to_one", dict(SEQUENCE, output_activation="relu"), "output_activation='relu' is not valid"),
    ("many_to_one", dict(SEQUENCE, num_outputs=0), "num_outputs=0 is not valid"),
    ("many_to_one", dict(SEQUENCE, pooling="sum"), "pooling='sum' is not valid; choose one of: 'last', 'mean'"),
    ("many_to_one", dict(SEQUENCE, unit=8), "unknown argument(s) unit; valid arguments:"),
    ("many_to_one", dict(input="tokens", num_outputs=2), "input='tokens' needs vocab_size=..."),
    ("many_to_one", dict(input="features", num_outputs=2), "input='features' needs feature_dim=..."),
    ("many_to_one", dict(input="frames", frame_shape=(8, 8), num_outputs=2), "give (height, width, channels)"),
    ("many_to_one", dict(input="frames", frame_shape=(8, 8, 1), num_outputs=2, frame_pooling="max"),
     "frame_pooling='max' is not valid; choose one of: 'average', 'flatten'"),
    ("many_to_one", dict(input="tokens", vocab_size=10), "many_to_one needs num_outputs=..."),
    ("one_to_one", dict(SEQUENCE), "one_to_one takes input='features', not 'tokens'"),
    ("one_to_one", dict(feature_dim=3, num_outputs=2, bidirectional=True),
     "bidirectional=True is not valid for one_to_one: a single step has no direction"),
    ("one_to_many", dict(feature_dim=3, num_outputs=2, decoder="autoregressive", bidirectional=True),
     "a causal decoder must not see the tokens it is about to predict"),
    ("one_to_many", dict(feature_dim=3, num_outputs=2, decoder="beam"), "decoder='beam' is not valid"),
    ("one_to_many", dict(feature_dim=3, num_outputs=2), "decoder='repeat' needs output_steps"),
    ("seq2seq", dict(input="tokens", vocab_size=10, target_vocab_size=5, attention="luong"),
     "attention='luong' is not valid; choose one of: 'additive', 'dot', 'none'"),
    ("seq2seq", dict(input="tokens", vocab_size=10, target_vocab_size=5, stateful=True, batch_size=2),
     "stateful=True is not available for seq2seq; it is for: many_to_one, many_to_many"),
    ("many_to_one", dict(SEQUENCE, stateful=True), "stateful=True needs batch_size="),
    ("many_to_one", dict(SEQUENCE, stateful=True, batch_size=2, bidirectional=True),
     "stateful=True cannot be bidirectional"),
])
def test_bad_argument_names_problem_and_choices(pattern, config, message):
    with pytest.raises(ValueError) as error:
        zoo.build(pattern, **config)
    assert message in str(error.value)


def test_patterns_without_step_models_say_so():
    model = zoo.build("many_to_one", **SEQUENCE, units=4)
    with pytest.raises(ValueError, match="has no step-by-step models"):
        zoo.inference_models(model)
    repeat = zoo.build("one_to_many", feature_dim=3, num_outputs=2, output_steps=3, units=4)
    with pytest.raises(ValueError, match="Only decoder='autoregressive'"):
        zoo.inference_models(repeat)


def test_list_models_names_every_pattern():
    assert zoo.list_models() == ["one_to_one", "one_to_many", "many_to_one", "many_to_many", "seq2seq"]
