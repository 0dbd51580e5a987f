"""Versioned, atomic exports in the layout TensorFlow Serving reads: <base>/<name>/<version>/."""

import json
import os
import shutil
import tempfile
from pathlib import Path


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
