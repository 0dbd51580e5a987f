"""The contract every registered model keeps, checked over pattern x cell x bidirectional x input kind."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.zoo.harness import (
    BATCH,
    NUM_OUTPUTS,
    STEPS,
    TARGET_STEPS,
    CaseData,
    call,
    causal_step_logits,
    contract_cases,
    step_by_step_logits,
    trim_row,
    valid_steps,
)

CASES = contract_cases()


def expected_shape(pattern, config):
    if pattern in ("one_to_one", "many_to_one"):
        return (BATCH, NUM_OUTPUTS)
    if pattern == "many_to_many":
        return (BATCH, STEPS, NUM_OUTPUTS)
    return (BATCH, TARGET_STEPS, NUM_OUTPUTS)


def assert_close_on(valid, a, b, atol=1e-5):
    if valid is None:
        np.testing.assert_allclose(a, b, atol=atol)
    else:
        np.testing.assert_allclose(a[valid], b[valid], atol=atol)


def test_every_pattern_is_covered():
    assert {pattern for _, pattern, _ in CASES} == set(zoo.list_models())


@pytest.mark.parametrize("pattern,config", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_contract(pattern, config, tmp_path):
    model = zoo.build(pattern, **config)
    data = CaseData(pattern, config)
    inputs = data.as_tensors()
    out = call(model, inputs)
    valid = valid_steps(data)

    # Shapes, and named layers rather than positions.
    assert out.shape == expected_shape(pattern, config)
    assert np.isfinite(out).all()
    assert model.get_layer("logits" if pattern == "seq2seq" or config.get("decoder") == "autoregressive"
                           else "outputs")

    # Padding never changes a result: more trailing padding, and each example alone at its own length.
    if data.sequence_keys():
        longer = call(model, data.as_tensors(data.with_extra_padding(3)))
        assert_close_on(valid, out, longer[:, :out.shape[1]] if out.ndim == 3 else longer)
        for row in range(BATCH):
            alone = call(model, data.as_tensors(trim_row(data, row)))
            mine = out[row:row + 1, :alone.shape[1]] if out.ndim == 3 else out[row:row + 1]
            assert_close_on(None if valid is None else valid[row:row + 1, :alone.shape[1]], mine, alone)

    # The step-by-step inference models reproduce the teacher-forced logits.
    if pattern == "seq2seq" or config.get("decoder") == "autoregressive":
        assert_close_on(valid, out, step_by_step_logits(model, data))
    if pattern == "many_to_many" and not config["bidirectional"] and config["input"] != "frames":
        assert_close_on(valid, out, causal_step_logits(model, data))

    # .keras round trip, with no custom_objects at the call site.
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(call(reloaded, inputs), out, atol=1e-6)
    assert reloaded.get_config() == model.get_config()

    # SavedModel export, reloaded with plain TensorFlow.
    model.export(str(tmp_path / "saved_model"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "saved_model"))
    np.testing.assert_allclose(np.asarray(served.serve(inputs)), out, atol=1e-5)

    # Training: finite loss that falls on a tiny learnable (memorizable) batch.
    model.compile(keras.optimizers.Adam(0.03), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    targets = tf.constant(data.targets)
    losses = [float(model.train_on_batch(inputs, targets))]
    while len(losses) < 15 and not losses[-1] < 0.9 * losses[0]:  # eager steps are slow: stop once it has fallen
        losses.append(float(model.train_on_batch(inputs, targets)))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.9 * losses[0], losses
