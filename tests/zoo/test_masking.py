"""Float `features` mask padding only when asked to (`mask_value=`), as Keras's own Masking layer does."""

import numpy as np
import pytest

import zoo


def outputs(model, x):
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("pattern", ["many_to_one", "many_to_many"])
def test_an_all_zero_step_is_real_data_unless_mask_value_says_otherwise(pattern):
    x = np.random.default_rng(0).uniform(0.1, 1, size=(2, 4, 3)).astype("float32")
    x[:, 2] = 0.0  # a real reading of zero in the middle of each sequence
    plain = zoo.build(pattern, input="features", feature_dim=3, units=4, num_outputs=2)
    masked = zoo.build(pattern, input="features", feature_dim=3, units=4, num_outputs=2, mask_value=0.0)
    masked.set_weights(plain.get_weights())
    difference = np.abs(outputs(plain, x) - outputs(masked, x)).max()
    assert difference > 1e-4  # the zero step counts without a mask_value, and is skipped with one


def test_mask_value_marks_padding_with_any_value():
    model = zoo.build("many_to_one", input="features", feature_dim=2, units=4, num_outputs=1, mask_value=-1.0)
    x = np.random.default_rng(1).uniform(0.1, 1, size=(1, 3, 2)).astype("float32")
    padded = np.concatenate([x, np.full((1, 2, 2), -1.0, "float32")], axis=1)
    np.testing.assert_allclose(outputs(model, x), outputs(model, padded), atol=1e-6)


@pytest.mark.parametrize("config, message", [
    (dict(input="tokens", vocab_size=10, mask_value=0.0), "applies to input='features' only"),
    (dict(input="features", feature_dim=2, mask_value="zero"), "give a number or None"),
])
def test_bad_mask_value(config, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("many_to_one", num_outputs=1, **config)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_step_model_keeps_each_rows_state_through_its_padding(cell):
    """A batch of prompts of different lengths read in one call ends in the states each prompt reaches alone."""
    model = zoo.build("many_to_many", input="tokens", vocab_size=10, embedding_dim=4, units=5, num_layers=2,
                      cell=cell, num_outputs=10)
    step = zoo.inference_models(model)["read"]
    names = [name for name in step.input if name.startswith("state_")]
    prompts = np.array([[3, 4, 5, 0, 0], [3, 4, 5, 6, 7]], np.int32)
    batch = step({"tokens": prompts, **{n: np.zeros((2, 5), "float32") for n in names}})
    alone = step({"tokens": prompts[:1, :3], **{n: np.zeros((1, 5), "float32") for n in names}})
    for name in names:
        np.testing.assert_allclose(np.asarray(batch[name])[0], np.asarray(alone[name])[0], atol=1e-6)
