"""Versions coming and going under a running server, as TF Serving's manager handles them: a corrupt newest
version at start, a version copied in slowly, a deleted version, a config file edited while serving."""

import shutil
import time

import pytest

from tests.tasks.serve.conftest import running_server
from tests.tasks.serve.tfserving_models import export_half_plus

pytestmark = pytest.mark.xdist_group("serve")


def wait_for(check, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the server did not get there in time"
        time.sleep(0.1)


def states(client, name):
    return {s["version"]: (s["state"], s["status"]["error_code"]) for s in
            client.get(f"/v1/models/{name}").json()["model_version_status"]}


def predict(client, path, x=1.0):
    return client.post(path, json={"instances": [x]})


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A good half_plus_two and half_plus_three, to copy around."""
    base = tmp_path_factory.mktemp("lifecycle-src")
    export_half_plus(base / "two")
    export_half_plus(base / "three", b=3.0)
    return base


def test_versions_come_and_go_while_serving(tmp_path, exports):
    model = tmp_path / "m"
    shutil.copytree(exports / "two", model / "1")
    (model / "2").mkdir()
    (model / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")  # corrupt newest at start
    with running_server("--model_base_path", model, "--model_name", "m", "--file_system_poll_wait_seconds", 0.2,
                        "--load_retry_interval_micros", 600_000_000) as client:
        # The newest loadable version serves, and the status says why 2 does not.
        assert predict(client, "/v1/models/m:predict").json() == {"predictions": [2.5]}
        status = {s["version"]: s for s in client.get("/v1/models/m").json()["model_version_status"]}
        assert status["1"]["state"] == "AVAILABLE" and status["2"]["state"] == "END"
        assert status["2"]["status"]["error_code"] != "OK" and status["2"]["status"]["error_message"]

        # A version copied in slowly: half a folder, a pause longer than the poll, then the rest.
        staging = tmp_path / "staging"
        shutil.copytree(exports / "three", staging)
        (model / "3").mkdir()
        shutil.copy(staging / "saved_model.pb", model / "3" / "saved_model.pb")
        wait_for(lambda: states(client, "m").get("3", ("",))[0] == "END")  # tried without its variables: failed
        shutil.copytree(staging / "variables", model / "3" / "variables")
        wait_for(lambda: states(client, "m").get("3") == ("AVAILABLE", "OK"))  # the folder changed: tried again
        assert predict(client, "/v1/models/m:predict").json() == {"predictions": [3.5]}
        assert states(client, "m")["1"] == ("END", "OK")  # retired once 3 was up

        # The corrupt version repaired in place, then the newest deleted: the deleted one stops serving at once
        # and the repaired one, tried again because its folder changed, takes over.
        shutil.rmtree(model / "2")
        shutil.copytree(exports / "two", model / "2")
        shutil.rmtree(model / "3")
        wait_for(lambda: states(client, "m")["3"] == ("END", "OK"))
        assert predict(client, "/v1/models/m/versions/3:predict").status_code == 404
        wait_for(lambda: states(client, "m")["2"] == ("AVAILABLE", "OK"))
        assert predict(client, "/v1/models/m:predict").json() == {"predictions": [2.5]}

        # A folder named by something other than ASCII digits is ignored, and polling goes on.
        shutil.copytree(exports / "three", model / "²")
        shutil.copytree(exports / "three", model / "4")
        wait_for(lambda: states(client, "m").get("4") == ("AVAILABLE", "OK"))
        assert "²" not in states(client, "m")


def test_an_edited_config_file_is_picked_up(tmp_path, exports):
    for version in (1, 2):
        shutil.copytree(exports / ("two" if version == 1 else "three"), tmp_path / "m" / str(version))
    config = tmp_path / "models.config"

    def write(label_version):
        config.write_text(f"""model_config_list {{ config {{
            name: 'm' base_path: '{tmp_path / "m"}' model_platform: 'tensorflow'
            model_version_policy {{ all {{}} }} version_labels {{ key: 'stable' value: {label_version} }} }} }}""")

    write(1)
    with running_server("--model_config_file", config, "--model_config_file_poll_wait_seconds", 0.2,
                        "--file_system_poll_wait_seconds", 0.2) as client:
        assert predict(client, "/v1/models/m/labels/stable:predict").json() == {"predictions": [2.5]}
        assert predict(client, "/v1/models/m:predict").json() == {"predictions": [3.5]}  # all: newest by default
        write(2)
        wait_for(lambda: predict(client, "/v1/models/m/labels/stable:predict").json() == {"predictions": [3.5]})
        config.write_text("model_config_list { config { name: 'm' nonsense: 1 } }")  # a broken edit: kept serving
        time.sleep(0.6)
        assert predict(client, "/v1/models/m/labels/stable:predict").json() == {"predictions": [3.5]}
