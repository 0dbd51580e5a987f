"""Versioned, atomic exports in the layout TensorFlow Serving reads: <base>/<name>/<version>/."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from tasks.common.cli import UserError


def next_version(model_dir):
    """The next free integer version under `model_dir` (1 for a new model)."""
    versions = [int(p.name) for p in Path(model_dir).glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def atomic_export(model_dir, write):
    """Call `write(tmp_dir)` on a hidden temporary folder beside the versions, then rename it to the next version.

    A crash or Ctrl-C leaves only a hidden `.tmp-*` folder (which TF Serving ignores: its name is not a number), never
    a half-written version. Returns the final path.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=model_dir))
    try:
        write(tmp)
        while True:  # another exporter may take a version between our check and rename
            final = model_dir / str(next_version(model_dir))
            try:
                os.rename(tmp, final)
                return final
            except OSError:
                if not final.exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def version_folder(path, task):
    """The SavedModel folder that `path` names: a version folder itself, or a model folder whose newest integer
    version is taken. A UserError says what to pass when it is neither."""
    path = Path(path)
    if path.is_dir() and not (path / "saved_model.pb").exists():
        versions = sorted((p for p in path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
        if versions:
            path = versions[-1]
    if not (path / "saved_model.pb").exists():
        raise UserError(f"{path} is not a SavedModel folder (no saved_model.pb); pass an export such as "
                        f"saved_models/{task}/1 or saved_models/{task}.")
    return path


def write_extras(folder, extras):
    """`extras` ({file name: dict (written as JSON), or a file or folder to copy}) into `folder`; missing paths are
    skipped."""
    for name, content in extras.items():
        if isinstance(content, dict):
            write_json_atomic(Path(folder) / name, content)
        elif Path(content).is_dir():
            shutil.copytree(content, Path(folder) / name)
        elif Path(content).exists():
            shutil.copy(content, Path(folder) / name)


def write_json_atomic(path, data):
    """Write JSON to `path` through a temporary file and a rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def library_versions():
    import keras
    import numpy
    import tensorflow

    return {"tensorflow": tensorflow.__version__, "keras": keras.__version__, "numpy": numpy.__version__}


def add_endpoint_traced_once(archive, name, fn, input_signature):
    """`archive.add_endpoint(name, fn, input_signature=...)`, tracing `fn` once instead of twice.

    Writing a SavedModel traces every endpoint again (TensorFlow keys a trace by the save options' variable policy,
    which is unset outside `tf.saved_model.save`), and a recipe's serving function is slow to trace: translation's
    decoding loops took 7 s of a 15 s tiny export. The endpoint registered here only calls the one trace, which costs
    milliseconds to trace again; the saved signature runs the same graph (as a function call, which TensorFlow's
    graph optimizer inlines)."""
    import tensorflow as tf

    traced = tf.function(fn, input_signature=input_signature, autograph=False).get_concrete_function()
    archive.add_endpoint(name, lambda *args: traced(*args), input_signature=input_signature)
