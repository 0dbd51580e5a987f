"""The models a server holds: found under a base path, loaded, and reloaded when a new version appears.

The folder layout is TF Serving's: `<base>/<name>/<version>/saved_model.pb`, with integer versions. A version is
loaded only once its folder has stopped changing between two polls, so a folder that is still being copied in by
hand is never served half-written (our own exports appear whole, by a rename, and pass on the next poll). A version
that fails to load is reported in the log and in its status, and the previous one keeps serving.
"""

import dataclasses
import logging
import threading
from pathlib import Path

from tasks.serve.errors import ServingError

log = logging.getLogger("tasks.serve")

POLICIES = ("latest", "all")  # TF Serving's model_version_policy: serve the newest version, or every version


@dataclasses.dataclass
class LoadedVersion:
    """One loaded SavedModel version: its signatures (callables) and their SignatureDefs for `/metadata`."""

    version: int
    path: Path
    signatures: dict  # name -> concrete function taking keyword tensors, returning a dict of tensors
    signature_defs: dict  # name -> SignatureDef as TF Serving's JSON writes it
    owner: object = None  # the loaded SavedModel: the signatures hold only weak references to its variables

    def input_specs(self, signature_name):
        """{input name: TensorSpec} of a signature; a 400 naming the valid signatures if there is no such one."""
        if signature_name not in self.signatures:
            raise ServingError(400, f"Serving signature name: \"{signature_name}\" not found in signature def; "
                                    f"this model has {sorted(self.signatures)}.")
        return self.signatures[signature_name].structured_input_signature[1]

    def predict(self, signature_name, inputs):
        """Run a signature on numpy inputs (thread-safe: TensorFlow functions may be called concurrently)."""
        import tensorflow as tf

        specs = self.input_specs(signature_name)
        tensors = {name: tf.constant(array, dtype=specs[name].dtype) for name, array in inputs.items()}
        try:
            outputs = self.signatures[signature_name](**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            message = getattr(error, "message", str(error)).strip().splitlines()[0]
            raise ServingError(400, f"the model rejected the input: {message}") from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}


def load_version(path, version):
    """Load the SavedModel in `path` (TensorFlow is imported here, so the CLI answers flag errors at once)."""
    import tensorflow as tf
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    loaded = tf.saved_model.load(str(path))
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    defs = {name: json_format.MessageToDict(sig, preserving_proto_field_name=True)
            for name, sig in proto.meta_graphs[0].signature_def.items() if not name.startswith("__")}
    signatures = {name: fn for name, fn in loaded.signatures.items() if name in defs}
    return LoadedVersion(version, Path(path), signatures, defs, owner=loaded)


def folder_fingerprint(path):
    """What changes while files are still being written into `path`: every file's name, size and mtime."""
    return tuple(sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in Path(path).rglob("*") if p.is_file()))


def version_folders(model_dir):
    """{version: folder} of the integer-named SavedModel folders in `model_dir` (hidden `.tmp-*` folders, being
    written by an export, are not versions)."""
    folders = {}
    for p in Path(model_dir).iterdir() if Path(model_dir).is_dir() else ():
        if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists():
            folders[int(p.name)] = p
    return folders


class ModelRegistry:
    """Thread-safe name -> {version: LoadedVersion}, refreshed from disk by `poll()`.

    `base_path` serves every model folder beneath it; `models` ({name: folder}) serves chosen folders. Both may be
    given. Readers get a consistent snapshot; `poll()` swaps in new versions without blocking requests.
    """

    def __init__(self, *, base_path=None, models=None, policy="latest", loader=load_version):
        self.base_path = Path(base_path) if base_path else None
        self.fixed = {name: Path(folder) for name, folder in (models or {}).items()}
        self.policy = policy
        self._load = loader
        self._lock = threading.Lock()
        self._served = {}  # name -> {version: LoadedVersion}
        self._failed = {}  # (name, version) -> error message
        self._seen = {}  # (name, version) -> fingerprint at the last poll, until loaded

    def model_dirs(self):
        dirs = {}
        if self.base_path and self.base_path.is_dir():
            dirs.update({p.name: p for p in sorted(self.base_path.iterdir())
                         if p.is_dir() and not p.name.startswith(".")})
        dirs.update(self.fixed)
        return dirs

    def poll(self):
        """Load versions that appeared (once their folder is stable), drop those the policy no longer serves.
        Returns the (name, version) pairs loaded by this call."""
        loaded_now = []
        for name, model_dir in self.model_dirs().items():
            wanted = version_folders(model_dir)
            if self.policy == "latest" and wanted:
                newest = max(wanted)
                wanted = {newest: wanted[newest]}
            current = dict(self._served.get(name, {}))
            for version, folder in sorted(wanted.items()):
                if version in current or (name, version) in self._failed:
                    continue
                fingerprint = folder_fingerprint(folder)
                if self._seen.get((name, version)) != fingerprint:  # new, or still changing: look again next poll
                    self._seen[(name, version)] = fingerprint
                    continue
                try:
                    current[version] = self._load(folder, version)
                    loaded_now.append((name, version))
                    log.info("loaded %s version %d from %s", name, version, folder)
                except Exception as error:  # a broken export must not take the server down
                    self._failed[(name, version)] = f"{type(error).__name__}: {error}"
                    log.error("could not load %s version %d from %s: %s", name, version, folder, error)
                self._seen.pop((name, version), None)
            # Retire what the policy no longer wants, but only once a newer version is actually serving.
            keep = {v: lv for v, lv in current.items() if v in wanted or not any(w in current for w in wanted)}
            with self._lock:
                if keep:
                    self._served[name] = keep
        return loaded_now

    def names(self):
        with self._lock:
            return sorted(self._served)

    def versions(self, name):
        """{version: LoadedVersion} of model `name`; ServingError 404 if no version of it is served."""
        with self._lock:
            versions = self._served.get(name)
        if not versions:
            raise ServingError(404, f"Servable not found for request: Latest({name})")
        return versions

    def get(self, name, version=None):
        """The requested version, or the newest one served."""
        versions = self.versions(name)
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise ServingError(404, f"Servable not found for request: Specific({name}, {version})")
        return versions[version]

    def failures(self, name):
        return {v: message for (n, v), message in self._failed.items() if n == name}
