"""The version lifecycle without a server: loads once a folder is stable, retries, fallbacks, unloads, names."""

import time

import pytest

from tasks.serve.errors import ServingError
from tasks.serve.models import ModelConfig, ModelRegistry


def write_version(model_dir, version, content=b"x"):
    folder = model_dir / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(content)
    return folder


def states(registry, name):
    return {v: (s.state, s.error_code) for v, s in registry.status(name)}


class Loader:
    """Loads a version unless its saved_model.pb says 'corrupt'; records every attempt."""

    def __init__(self):
        self.attempts = []

    def __call__(self, folder, version):
        self.attempts.append(version)
        if (folder / "saved_model.pb").read_bytes() == b"corrupt":
            raise ValueError(f"version {version} is corrupt")
        return version


def test_a_version_loads_only_once_its_folder_stops_changing(tmp_path):
    loader = Loader()
    registry = ModelRegistry(base_path=tmp_path, loader=loader)
    folder = write_version(tmp_path / "m", 1)
    assert registry.poll() == [] and registry.names() == []  # first sight: wait one poll
    (folder / "variables.data").write_bytes(b"still copying")
    assert registry.poll() == []  # changed since: wait again
    assert registry.poll() == [("m", 1)] and registry.get("m") == 1
    write_version(tmp_path / "m", 2)
    registry.poll()
    assert registry.get("m") == 1  # version 1 serves until 2 is loaded
    registry.poll()
    assert registry.get("m") == 2 and loader.attempts == [1, 2]
    assert states(registry, "m") == {2: ("AVAILABLE", "OK"), 1: ("END", "OK")}


def test_a_broken_newest_version_leaves_the_newest_good_one_serving_and_is_retried_when_repaired(tmp_path):
    loader = Loader()
    write_version(tmp_path / "m", 1)
    write_version(tmp_path / "m", 2, b"corrupt")
    registry = ModelRegistry(base_path=tmp_path, loader=loader, load_retry_s=3600)
    for _ in range(3):  # what the server does at start
        registry.poll()
    assert registry.get("m") == 1
    status = registry.status("m")
    assert status[0][0] == 2 and status[0][1].state == "END" and "version 2 is corrupt" in status[0][1].error_message
    registry.poll(), registry.poll()
    assert loader.attempts.count(2) == 1  # unchanged and not due: not tried again
    write_version(tmp_path / "m", 2, b"repaired")
    registry.poll(), registry.poll()
    assert registry.get("m") == 2 and states(registry, "m")[2] == ("AVAILABLE", "OK")


def test_a_failed_load_is_retried_after_the_interval_up_to_the_limit(tmp_path):
    loader = Loader()
    write_version(tmp_path / "m", 1, b"corrupt")
    registry = ModelRegistry(base_path=tmp_path, loader=loader, max_load_retries=2, load_retry_s=0.01)
    for _ in range(8):
        registry.poll()
        time.sleep(0.02)
    assert loader.attempts == [1, 1, 1]  # the first try and two retries
    with pytest.raises(ServingError, match="Latest"):
        registry.get("m")


def test_a_removed_version_is_unloaded_and_a_bad_folder_name_ignored(tmp_path):
    loader = Loader()
    for version in (1, 2):
        write_version(tmp_path / "m", version)
    write_version(tmp_path / "m", "²")  # Unicode digits are not a version (TF Serving's pattern is ASCII)
    write_version(tmp_path / "m", "99999999999999999999")  # over int64
    registry = ModelRegistry(base_path=tmp_path, loader=loader, default_policy={"policy": "all"})
    registry.poll(), registry.poll()
    assert sorted(v for v, _ in registry.status("m")) == [1, 2]
    import shutil

    shutil.rmtree(tmp_path / "m" / "2")
    registry.poll()
    assert registry.get("m") == 1 and states(registry, "m")[2] == ("END", "OK")
    with pytest.raises(ServingError, match=r"Specific\(m, 2\)"):
        registry.get("m", 2)
    shutil.rmtree(tmp_path / "m" / "1")
    registry.poll()
    with pytest.raises(ServingError, match=r"Latest\(m\)"):
        registry.get("m")


def test_version_policies_and_labels(tmp_path):
    for version in (1, 2, 3):
        write_version(tmp_path / "m", version)
    configs = [ModelConfig("latest2", tmp_path / "m", policy="latest", num_versions=2),
               ModelConfig("specific", tmp_path / "m", policy="specific", versions=(1, 3), labels=(("stable", 1),))]
    registry = ModelRegistry(configs=configs, loader=Loader())
    registry.poll(), registry.poll()
    assert [v for v, _ in registry.status("latest2")] == [3, 2]
    assert [v for v, _ in registry.status("specific")] == [3, 1]
    assert registry.get("specific", label="stable") == 1
    with pytest.raises(ServingError, match="Unrecognized servable version label: canary") as error:
        registry.get("specific", label="canary")
    assert error.value.status == 400
    registry.set_configs(configs[1:])  # a reloaded config without 'latest2': its versions are unloaded
    registry.poll()
    assert registry.names() == ["specific"]
