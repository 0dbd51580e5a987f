"""The models a server holds and the life of each version, as TF Serving's manager runs it.

Layout: `<base_path>/<version>/saved_model.pb`, versions named by ASCII digits (other folder names are ignored,
with one log line). Every poll:
- a version folder is loaded once it has stopped changing between two polls (a copy in progress is never served
  half-written), and its status is LOADING meanwhile, then AVAILABLE;
- a version that fails to load is END with the load error in its status; it is tried again when its folder
  changes (repaired, or finished copying) and up to `max_load_retries` times every `load_retry_s` seconds;
- the version policy picks what to serve among the versions that can load: `latest` (the newest N), `all`, or
  `specific`; so a broken newest version leaves the newest good one serving;
- a version no longer wanted is unloaded once a wanted one is AVAILABLE (never leaving the model without one),
  and a version whose folder was deleted is unloaded at once; both end as END with status OK.
"""

import dataclasses
import logging
import re
import threading
import time
from pathlib import Path

from tasks.serve.errors import ServingError, from_tensorflow, invalid, not_found

log = logging.getLogger("tasks.serve")

POLICIES = ("latest", "all", "specific")
MAX_VERSION = (1 << 63) - 1
_VERSION_NAME = re.compile(r"[0-9]+", re.ASCII)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model, as a `config { ... }` entry of TF Serving's model config file describes it."""

    name: str
    base_path: Path
    policy: str = "latest"
    num_versions: int = 1  # for `latest`
    versions: tuple = ()  # for `specific`
    labels: tuple = ()  # ((label, version), ...)

    def wanted(self, versions):
        """The versions this policy serves among `versions`."""
        if self.policy == "all":
            return set(versions)
        if self.policy == "specific":
            return set(versions) & set(self.versions)
        return set(sorted(versions)[-max(self.num_versions, 1):])


@dataclasses.dataclass
class VersionStatus:
    state: str  # LOADING, AVAILABLE or END, as GetModelStatus names them
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass
class _Failure:
    fingerprint: tuple
    attempts: int
    retry_at: float


def folder_fingerprint(path):
    """What changes while files are still being written into `path`: every file's name, size and mtime."""
    entries = []
    for p in Path(path).rglob("*"):
        try:
            if p.is_file():
                stat = p.stat()
                entries.append((str(p.relative_to(path)), stat.st_size, stat.st_mtime_ns))
        except OSError:  # removed while we looked: the next poll sees the new state
            continue
    return tuple(sorted(entries))


def version_folders(model_dir, ignored=None):
    """{version: folder} of the SavedModel folders in `model_dir`. A folder whose name is not a version number
    (ASCII digits, at most int64) is skipped and named once in the log; `ignored` remembers which were named."""
    folders = {}
    try:
        children = list(Path(model_dir).iterdir())
    except OSError:
        return folders
    for p in children:
        if not p.is_dir() or p.name.startswith("."):  # hidden: an export still being written (.tmp-*)
            continue
        if not _VERSION_NAME.fullmatch(p.name) or int(p.name) > MAX_VERSION:
            if ignored is not None and p not in ignored:
                ignored.add(p)
                log.warning("ignoring %s: a version folder is named by its version number (digits)", p)
            continue
        if (p / "saved_model.pb").exists() or (p / "saved_model.pbtxt").exists():
            folders[int(p.name)] = p
    return folders


class ModelRegistry:
    """Thread-safe model name -> {version: LoadedVersion}, refreshed from disk by `poll()`.

    `configs` are the models to serve; `base_path` also serves every model folder beneath it (name = folder name,
    `default_policy`). `set_configs` swaps the list (a reloaded config file). Readers get a consistent snapshot
    and never wait for a load.
    """

    def __init__(self, *, configs=(), base_path=None, default_policy=None, loader=None, max_load_retries=5,
                 load_retry_s=60.0, on_load=None):
        if loader is None:
            from tasks.serve.loading import load_version as loader
        self.base_path = Path(base_path) if base_path else None
        self.default_policy = default_policy or {}
        self.max_load_retries = max_load_retries
        self.load_retry_s = load_retry_s
        self._configs = {c.name: c for c in configs}
        self._load = loader
        self._lock = threading.Lock()
        self._served = {}  # name -> {version: LoadedVersion}
        self._status = {}  # name -> {version: VersionStatus}
        self._failures = {}  # (name, version) -> _Failure
        self._seen = {}  # (name, version) -> fingerprint at the last poll, until loaded
        self._ignored = set()
        self._on_load = on_load or (lambda path, ok: None)  # told of every load attempt (the metrics)

    # ------------------------------------------------------------------------------------------- configuration

    def set_configs(self, configs):
        with self._lock:
            self._configs = {c.name: c for c in configs}

    def configs(self):
        with self._lock:
            configs = dict(self._configs)
        if self.base_path is not None and self.base_path.is_dir():
            for p in sorted(self.base_path.iterdir()):
                if p.is_dir() and not p.name.startswith(".") and p.name not in configs:
                    configs[p.name] = ModelConfig(p.name, p, **self.default_policy)
        return configs

    # --------------------------------------------------------------------------------------------------- polling

    def poll(self):
        """One pass of the lifecycle over every model. Returns the (name, version) pairs loaded by this call."""
        configs = self.configs()
        for name in set(self._served) - set(configs):  # a model taken out of the config
            for version in list(self._served.get(name, {})):
                self._unload(name, version, "its model is no longer in the config")
        loaded = []
        for name, config in configs.items():
            try:
                loaded += self._poll_model(name, config)
            except Exception:  # one model's trouble must not stop the others' polling
                log.exception("polling model %s failed", name)
        return loaded

    def _poll_model(self, name, config):
        on_disk = version_folders(config.base_path, self._ignored)
        served = dict(self._served.get(name, {}))
        for version in set(served) - set(on_disk):
            self._unload(name, version, "its folder was removed")
            served.pop(version)
        for key in [k for k in self._failures if k[0] == name and k[1] not in on_disk]:
            del self._failures[key]
        fingerprints = {v: folder_fingerprint(folder) for v, folder in on_disk.items() if v not in served}
        stable = {v: self._seen.get((name, v)) == fp for v, fp in fingerprints.items()}
        for key in [k for k in self._seen if k[0] == name and k[1] not in fingerprints]:
            del self._seen[key]
        self._seen.update({(name, v): fp for v, fp in fingerprints.items()})
        loadable = {v for v in on_disk if v in served or self._may_try(name, v, fingerprints[v])}
        wanted = config.wanted(loadable)
        loaded = []
        for version in sorted(wanted - set(served), reverse=True):
            if not stable[version]:  # new, or changed since the last poll (still being copied): look again
                continue
            if self._load_one(name, version, on_disk[version], fingerprints[version]):
                loaded.append((name, version))
        served = dict(self._served.get(name, {}))
        if any(v in served for v in wanted):  # availability first: retire the others only once one is up
            for version in set(served) - wanted:
                self._unload(name, version, "the version policy no longer serves it")
        return loaded

    def _may_try(self, name, version, fingerprint):
        failure = self._failures.get((name, version))
        if failure is None or failure.fingerprint != fingerprint:
            return True  # never tried, or the folder changed since it failed
        return failure.attempts <= self.max_load_retries and time.monotonic() >= failure.retry_at

    def _load_one(self, name, version, folder, fingerprint):
        self._set_status(name, version, VersionStatus("LOADING"))
        try:
            loaded = self._load(folder, version)
        except Exception as error:  # a broken export must never take the server down
            failure = self._failures.get((name, version))
            attempts = failure.attempts + 1 if failure and failure.fingerprint == fingerprint else 1
            self._failures[(name, version)] = _Failure(fingerprint, attempts, time.monotonic() + self.load_retry_s)
            code, message = _load_error(error)
            self._set_status(name, version, VersionStatus("END", code, message))
            self._on_load(folder, False)
            log.error("could not load %s version %d from %s (attempt %d): %s", name, version, folder, attempts,
                      message)
            return False
        self._failures.pop((name, version), None)
        with self._lock:
            self._served.setdefault(name, {})[version] = loaded
            self._status.setdefault(name, {})[version] = VersionStatus("AVAILABLE")
        self._on_load(folder, True)
        log.info("loaded %s version %d from %s", name, version, folder)
        return True

    def _unload(self, name, version, why):
        with self._lock:
            loaded = self._served.get(name, {}).pop(version, None)
            if not self._served.get(name):
                self._served.pop(name, None)
            self._status.setdefault(name, {})[version] = VersionStatus("END")
        if loaded is not None:
            log.info("unloaded %s version %d: %s", name, version, why)
            closer = getattr(loaded, "close", None)
            if closer:
                closer()

    def _set_status(self, name, version, status):
        with self._lock:
            self._status.setdefault(name, {})[version] = status

    # --------------------------------------------------------------------------------------------------- lookups

    def names(self):
        with self._lock:
            return sorted(self._served)

    def resolve_label(self, name, label):
        config = self.configs().get(name)
        labels = dict(config.labels) if config else {}
        if label not in labels:
            raise invalid(f"Unrecognized servable version label: {label}")
        return labels[label]

    def _snapshot(self, table, name, version, label):
        """(the version asked for, a copy of model `name`'s entries in `table`), a label resolved to its version."""
        if label is not None:
            version = self.resolve_label(name, label)
        with self._lock:
            return version, dict(table.get(name, {}))

    def get(self, name, version=None, label=None):
        """The requested version (by number or label), or the newest one served; TF Serving's 404 if none."""
        version, versions = self._snapshot(self._served, name, version, label)
        if version is None:
            if not versions:
                raise not_found(f"Servable not found for request: Latest({name})")
            return versions[max(versions)]
        if version not in versions:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return versions[version]

    def status(self, name, version=None, label=None):
        """[(version, VersionStatus)] newest first, as GetModelStatus answers; its 404s when nothing is known."""
        version, known = self._snapshot(self._status, name, version, label)
        if version is not None:
            if version not in known:
                raise not_found(f"Could not find version {version} of model {name}")
            return [(version, known[version])]
        if not known:
            raise not_found(f"Could not find any versions of model {name}")
        return sorted(known.items(), reverse=True)


def _load_error(error):
    """(status code name, message) of a failed load, as the version's status reports it."""
    import tensorflow as tf

    if isinstance(error, tf.errors.OpError):
        converted = from_tensorflow(error)
        return converted.code, converted.message[:2000]
    if isinstance(error, ServingError):
        return error.code, error.message
    code = "NOT_FOUND" if isinstance(error, FileNotFoundError) else "UNKNOWN"
    return code, f"{type(error).__name__}: {error}"[:2000]
