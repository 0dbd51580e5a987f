"""The contract every recipe in `tasks.recipes.RECIPES` keeps, checked the same way for each (no per-recipe code):

- a 50-row file in the format its `--data` flag reads trains, resumes after an interruption, evaluates and exports a
  loadable SavedModel, with no warning from our code or from Keras about how we call it;
- the config recorded beside the export rebuilds the same run (one spelling of each setting);
- a user's mistake (a missing file, a bad flag) is one `error:` line and exit code 2, before any run folder exists.
A normal run's output is checked once, in a fresh process: no TensorFlow C++ log line, no warning.
"""

import dataclasses
import importlib
import json
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

import tasks.layers
from tasks.common.serving_shapes import EXAMPLE_WARMUP_ROWS, WARMUP_FILE
from tasks.recipes import RECIPES
from tasks.serve.loading import load_version
from tests.tasks.cli_errors import ROOT, user_error

CASES = list(RECIPES.values())
IDS = [recipe.export for recipe in CASES]


def run(recipe, tmp_path, *flags):
    return recipe.main([*recipe.tiny, *flags, "--run-dir", str(tmp_path / "run"),
                        "--export-dir", str(tmp_path / "exports")])


def warmup_calls(extra):
    """(signature name, rows) of each warm-up record in an export's assets.extra."""
    calls = []
    for record in tf.data.TFRecordDataset(str(extra / WARMUP_FILE)).as_numpy_iterator():
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        calls.append((request.model_spec.signature_name, len(tf.make_ndarray(next(iter(request.inputs.values()))))))
    return calls


def registered_by_us():
    """The Keras objects our recipes registered for `.keras` files (the zoo's and other libraries' aside)."""
    from keras.src.saving.object_registration import GLOBAL_CUSTOM_OBJECTS

    return {item for item in GLOBAL_CUSTOM_OBJECTS.values() if item.__module__.startswith("tasks.")}


def ours(caught):
    """The warnings a recipe is answerable for: any raised in our code, and Keras's own warnings (UserWarning: about
    how it is called). Not NumPy 2's DeprecationWarning about TensorFlow's tensors (see pyproject.toml)."""
    return [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
            if "/tasks/" in w.filename or "/zoo/" in w.filename
            or ("/keras/" in w.filename and issubclass(w.category, UserWarning))]


@pytest.mark.parametrize("recipe", CASES, ids=IDS)
def test_a_50_row_file_resumes_after_an_interruption_and_exports_without_warnings(recipe, tmp_path, monkeypatch,
                                                                                   capsys):
    """Ctrl-C after the first epoch; the same command again trains the second epoch only, from the backup, then
    evaluates and exports. (One run per recipe covers both: a tiny run costs 20-40 s, most of it the first epoch.)"""
    flags = recipe.write_sample(tmp_path, 50)

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    fit = keras.Model.fit

    def interrupted_fit(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[*callbacks, Interrupt()], **kwargs)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monkeypatch.setattr(keras.Model, "fit", interrupted_fit)
        with pytest.raises(KeyboardInterrupt):
            run(recipe, tmp_path, *flags)
        assert (tmp_path / "run" / "backup").exists() and not (tmp_path / "exports").exists()
        monkeypatch.setattr(keras.Model, "fit", fit)
        metrics = run(recipe, tmp_path, *flags)
    assert ours(caught) == []
    assert "resuming the interrupted run" in capsys.readouterr().out
    assert metrics["training"]["epochs_run"] == 1 and not (tmp_path / "run" / "backup").exists()

    export = Path(metrics["export"])
    assert export == tmp_path / "exports" / recipe.export / "1"
    assert flags[1] in metrics["data"]
    assert len(metrics["history"]["loss"]) == 1 and all(loss == loss for loss in metrics["history"]["loss"])
    assert tf.saved_model.load(str(export)).signatures["serving_default"] is not None
    extra = export / "assets.extra"
    saved = json.loads((extra / "metrics.json").read_text())
    assert saved == json.loads(json.dumps({k: v for k, v in metrics.items() if k != "export"}))
    assert (extra / "training_curves.png").exists() and (extra / "versions.json").exists()
    # Its warm-up records call every signature, one row and several (a compiled one: each of its shapes), and all of
    # them run as TF Serving runs them at load (a failing one would fail the load there).
    loaded = load_version(export, 1)
    try:
        assert set(warmup_calls(extra)) >= {
            (name, rows) for name in loaded.signature_defs if not name.startswith("__")  # (the init op's)
            for rows in EXAMPLE_WARMUP_ROWS}
    finally:
        loaded.close()
    # model.keras takes the raw data too (its preprocessing is inside), and every layer in it is one `tasks.layers`
    # registers for a fresh process.
    model = keras.models.load_model(extra / "model.keras")
    assert {tensor.dtype for tensor in model.inputs} == {recipe.raw_input}
    assert registered_by_us() <= {getattr(tasks.layers, name) for name in tasks.layers.__all__}

    # The recorded config rebuilds the run's config: the recipe's flags, spelled as the zoo spells them.
    config_class = importlib.import_module(f"{recipe.module}.__main__").Config
    recorded = json.loads((extra / "config.json").read_text())
    rebuilt = config_class(**{f.name: recorded[f.name] for f in dataclasses.fields(config_class)})
    assert rebuilt.data == flags[1] and rebuilt.epochs == 2
    assert "layers" not in recorded and recorded["num_layers"] >= 1


@pytest.mark.parametrize("recipe", CASES, ids=IDS)
def test_user_mistakes_are_one_line_before_anything_is_written(recipe, tmp_path, capsys):
    main = importlib.import_module(f"{recipe.module}.__main__").main
    base = [*recipe.tiny, "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports")]
    assert "missing.tsv" in user_error(main, [*base, "--data", str(tmp_path / "missing.tsv")], capsys)
    assert "--epochs must be positive" in user_error(main, [*base, "--epochs", "0"], capsys)
    assert "--units" in user_error(main, [*base, "--units", "many"], capsys)
    assert not (tmp_path / "exports").exists()


def test_a_normal_run_prints_no_tensorflow_log_line_and_no_warning(tmp_path):
    recipe = RECIPES["sentiment"]
    flags = recipe.write_sample(tmp_path, 50)
    result = subprocess.run([sys.executable, "-m", recipe.module, *recipe.tiny, *flags, "--run-dir",
                             str(tmp_path / "run"), "--export-dir", str(tmp_path / "exports")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "Warning" not in result.stdout and "exported:" in result.stdout


def test_xla_under_a_distributed_strategy_is_refused_before_the_run_starts(tmp_path):
    recipe = RECIPES["sentiment"]
    result = subprocess.run([sys.executable, "-m", recipe.module, *recipe.tiny, *recipe.offline, "--xla",
                             "--strategy", "mirrored", "--cpu-replicas", "2", "--run-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --xla compiles Keras fit's training step")
    assert not (tmp_path / "run").exists()
