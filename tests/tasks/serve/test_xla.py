"""XLA-compiled functions as TF Serving runs them: refused unless `--xla_cpu_compilation_enabled` (tasks.serve.xla)."""

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.serving_shapes import write_warmup_requests
from tasks.serve.__main__ import build_app, parser
from tasks.serve.errors import ServingError
from tasks.serve.loading import load_version


class Model(tf.Module):
    """`compiled` reaches a jit-compiled function through a plain one and a loop; `plain` never does."""

    @tf.function(jit_compile=True)
    def _square(self, x):
        return x * x

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def compiled(self, x):
        _, total = tf.while_loop(lambda i, _: i < 2, lambda i, total: (i + 1, total + self._square(x)),
                                 (tf.constant(0), tf.zeros_like(x)))
        return {"y": total}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def plain(self, x):
        return {"y": x + 1.0}


def export(folder, warmup=()):
    module = Model()
    tf.saved_model.save(module, str(folder), signatures={"compiled": module.compiled, "serving_default": module.plain})
    if warmup:
        (folder / "assets.extra").mkdir()
        write_warmup_requests(folder / "assets.extra" / "tf_serving_warmup_requests", list(warmup))
    return folder


def test_without_the_flag_a_signature_reaching_xla_fails_as_in_tf_serving_and_the_others_answer(tmp_path):
    loaded = load_version(export(tmp_path / "1"), 1)
    try:
        assert loaded.run("serving_default", {"x": np.array([1.0, 2.0], np.float32)})["y"].tolist() == [2.0, 3.0]
        with pytest.raises(ServingError) as refused:
            loaded.run("compiled", {"x": np.array([3.0], np.float32)})
        assert refused.value.status == 500 and "XLA compilation disabled" in str(refused.value)
    finally:
        loaded.close()


def test_with_the_flag_it_runs(tmp_path):
    loaded = load_version(export(tmp_path / "1"), 1, xla=True)
    try:
        assert loaded.run("compiled", {"x": np.array([3.0], np.float32)})["y"].tolist() == [18.0]
    finally:
        loaded.close()


@pytest.mark.parametrize("flags, runs", [([], False), (["--xla_cpu_compilation_enabled=true"], True),
                                         (["--xla_cpu_compilation_enabled"], True)])
def test_the_servers_flag_is_tf_servings(tmp_path, flags, runs):
    export(tmp_path / "m" / "1")
    _, registry = build_app(parser().parse_args([f"--model_base_path={tmp_path / 'm'}", "--model_name=m", *flags]))
    loaded = registry._load(tmp_path / "m" / "1", 1)  # the loader the server's registry loads versions with
    try:
        if runs:
            assert loaded.run("compiled", {"x": np.array([1.0], np.float32)})["y"].tolist() == [2.0]
        else:
            with pytest.raises(ServingError, match="XLA compilation disabled"):
                loaded.run("compiled", {"x": np.array([1.0], np.float32)})
    finally:
        loaded.close()


def test_a_warmup_record_that_runs_xla_fails_the_load_without_the_flag(tmp_path):
    folder = export(tmp_path / "1", warmup=[("compiled", {"x": np.array([1.0], np.float32)})])
    with pytest.raises(ServingError, match="XLA compilation disabled"):
        load_version(folder, 1)
    load_version(folder, 1, xla=True).close()
