"""The server's parts without a server: the REST format, the registry's polling, the batcher, the CLI's errors."""

import asyncio
import base64

import numpy as np
import pytest
import tensorflow as tf

from tasks.common.cli import run_cli
from tasks.serve.__main__ import main
from tasks.serve.batching import Batcher, batch_key
from tasks.serve.errors import ServingError
from tasks.serve.models import ModelRegistry
from tasks.serve.rest import format_outputs, parse_inputs

TEXT = {"text": tf.TensorSpec([None], tf.string)}
PAIR = {"ids": tf.TensorSpec([None, None], tf.int32), "scale": tf.TensorSpec([None], tf.float32)}


def test_row_format_bare_and_named_values_and_b64():
    inputs, rows = parse_inputs({"instances": ["a", {"b64": base64.b64encode(b"\xff\x00").decode()}]}, TEXT)
    assert rows and inputs["text"].tolist() == [b"a", b"\xff\x00"]
    inputs, rows = parse_inputs({"instances": [{"ids": [1, 2], "scale": 0.5}, {"ids": [3, 4], "scale": 2}]}, PAIR)
    assert inputs["ids"].dtype == np.int32 and inputs["ids"].shape == (2, 2)
    assert inputs["scale"].dtype == np.float32 and inputs["scale"].tolist() == [0.5, 2.0]


def test_columnar_format():
    inputs, rows = parse_inputs({"inputs": {"ids": [[1], [2]], "scale": [1, 2]}}, PAIR)
    assert not rows and inputs["ids"].tolist() == [[1], [2]]
    inputs, _ = parse_inputs({"inputs": ["x", "y"]}, TEXT)
    assert inputs["text"].tolist() == [b"x", b"y"]


@pytest.mark.parametrize("request_body,message", [
    ({"instances": [{"ids": [1], "scale": 1}, {"ids": [1, 2], "scale": 1}]}, "ragged"),
    ({"inputs": {"ids": [[1]], "scale": [True]}}, "takes numbers (DT_FLOAT)"),
    ({"inputs": {"ids": [[3e10]], "scale": [1]}}, "outside DT_INT32's range"),
    ({"inputs": {"ids": [[1]]}}, "names inputs ['ids']"),
])
def test_bad_inputs_name_the_problem(request_body, message):
    with pytest.raises(ServingError) as error:
        parse_inputs(request_body, PAIR)
    assert error.value.status == 400 and message in error.value.message


def test_outputs_as_rows_or_columns_with_bytes_as_b64():
    outputs = {"score": np.float32([0.25, 0.5]), "label": np.array([b"pos", b"neg"], dtype=object),
               "raw_bytes": np.array([b"\x01", b"\x02"], dtype=object)}
    rows = format_outputs(outputs, row_format=True)["predictions"]
    assert rows[0] == {"score": 0.25, "label": "pos", "raw_bytes": {"b64": "AQ=="}}
    assert format_outputs({"score": np.float32([0.25, np.nan])}, row_format=False) == {"outputs": [0.25, "nan"]}
    with pytest.raises(ServingError, match="different batch sizes"):
        format_outputs({"a": np.zeros(2), "b": np.zeros(3)}, row_format=True)


def test_registry_loads_a_version_only_once_its_folder_stops_changing(tmp_path):
    loads = []
    registry = ModelRegistry(base_path=tmp_path, loader=lambda path, version: loads.append(version) or version)
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"x")
    assert registry.poll() == [] and registry.names() == []  # first sight: wait one poll
    (version / "variables.data").write_bytes(b"still copying")
    assert registry.poll() == []  # changed since: wait again
    assert registry.poll() == [("m", 1)] and registry.get("m") == 1
    (tmp_path / "m" / "2").mkdir()
    (tmp_path / "m" / "2" / "saved_model.pb").write_bytes(b"y")
    registry.poll()
    assert registry.get("m") == 1  # version 1 serves until 2 is loaded
    registry.poll()
    assert registry.get("m") == 2 and list(registry.versions("m")) == [2] and loads == [1, 2]


def test_a_version_that_fails_to_load_is_reported_and_the_old_one_keeps_serving(tmp_path):
    def loader(path, version):
        if version == 2:
            raise ValueError("corrupt")
        return version

    registry = ModelRegistry(base_path=tmp_path, loader=loader)
    for v in (1, 2):
        (tmp_path / "m" / str(v)).mkdir(parents=True)
        (tmp_path / "m" / str(v) / "saved_model.pb").write_bytes(b"x")
        registry.poll(), registry.poll()
    assert registry.get("m") == 1 and "corrupt" in registry.failures("m")[2]


def test_batcher_merges_concurrent_submissions_and_splits_the_answers():
    calls = []

    def double(inputs):
        calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    async def scenario():
        batcher = Batcher(window_s=0.05, max_batch_size=4)
        requests = [{"x": np.float32([[i, i]])} for i in range(6)] + [{"x": np.float32([[9, 9]] * 5)}]
        return await asyncio.gather(*(batcher.submit(batch_key("m", r), double, r) for r in requests))

    answers = asyncio.run(scenario())
    assert [a["y"].tolist() for a in answers[:6]] == [[[2 * i, 2 * i]] for i in range(6)]
    assert answers[6]["y"].shape == (5, 2)
    assert sorted(calls) == [2, 4, 5]  # 4 rows fill a batch; the other 2 wait out the window; 5 rows run alone


@pytest.mark.parametrize("argv,message", [
    (["--model", "sentiment"], "is not NAME=PATH"),
    (["--model", "s=/no/such/folder"], "no such folder"),
    (["--model-base-path", "/no/such/folder"], "export a model first"),
    (["--model-base-path", "{tmp}", "--port", "70000"], "--port 70000 is out of range"),
    (["--model-base-path", "{tmp}", "--version-policy", "oldest"], "invalid choice: 'oldest'"),
])
def test_bad_flags_get_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
