"""The command line: TF Serving's flags and config files read as it reads them, every mistake one line."""

import pytest

from tasks.common.cli import run_cli
from tasks.serve.__main__ import build_app, check, main, parser
from tasks.serve.config import batching_options, metrics_path, model_configs


def test_tf_servings_flags_build_the_same_server(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "batching.txt").write_text("max_batch_size { value: 16 } batch_timeout_micros { value: 2000 }\n"
                                           "num_batch_threads { value: 3 } max_enqueued_batches { value: 50 }")
    (tmp_path / "monitoring.txt").write_text('prometheus_config { enable: true path: "/metrics" }')
    args = parser().parse_args([
        "--port=8500", "--rest_api_port=8601", "--model_name=m", f"--model_base_path={tmp_path / 'm'}",
        "--enable_batching", f"--batching_parameters_file={tmp_path / 'batching.txt'}",
        f"--monitoring_config_file={tmp_path / 'monitoring.txt'}", "--rest_api_timeout_in_ms=1500",
        "--file_system_poll_wait_seconds=2"])
    assert check(args) == 8601  # --port is TF Serving's gRPC port: the REST port wins
    app, registry = build_app(args)
    assert [c.name for c in registry.configs().values()] == ["m"]
    assert app.batcher.max_batch_size == 16 and app.batcher.window_s == 0.002
    assert app.metrics_path == "/metrics" and app.limits.timeout_s == 1.5 and app.poll_seconds == 2
    assert parser().parse_args(["--enable_batching=false"]).enable_batching is False


def test_model_config_file_as_tf_serving_writes_it(tmp_path):
    (tmp_path / "models.config").write_text("""
        # two models, a label and each version policy
        model_config_list {
          config { name: "a" base_path: "/models/a" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 2 } } }
          config { name: 'b' base_path: 'relative/b'
                   model_version_policy { specific { versions: 3 versions: 5 } }
                   version_labels { key: "stable" value: 3 } version_labels { key: "canary" value: 5 } }
          config { name: "c" base_path: "/models/c" model_version_policy { all {} } }
        }""")
    a, b, c = model_configs(tmp_path / "models.config")
    assert (a.policy, a.num_versions, str(a.base_path)) == ("latest", 2, "/models/a")
    assert (b.policy, b.versions, dict(b.labels)) == ("specific", (3, 5), {"stable": 3, "canary": 5})
    assert b.base_path == tmp_path / "relative" / "b" and c.policy == "all"


@pytest.mark.parametrize("argv,message", [
    (["--model", "sentiment"], "is not NAME=PATH"),
    (["--model", "s=/no/such/folder"], "no such folder"),
    (["--model-base-path", "/no/such/folder"], "export a model first"),
    (["--model_base_path", "/no/such/folder"], "--model_base_path /no/such/folder: no such folder"),
    (["--model-base-path", "{tmp}", "--port", "70000"], "port 70000 is out of range"),
    (["--model-base-path", "{tmp}", "--version-policy", "oldest"], "invalid choice: 'oldest'"),
    (["--model-base-path", "{tmp}", "--enable_batching=maybe"], "is not true or false"),
    (["--model_config_file", "{tmp}/none.config"], "--model_config_file {tmp}/none.config: cannot read it"),
    (["--model_config_file", "{tmp}/bad.config"], 'has no field named "nme"'),
    (["--model_config_file", "{tmp}/tflite.config"], "only 'tensorflow' SavedModels are served"),
    (["--model-base-path", "{tmp}", "--batching_parameters_file", "{tmp}/bad.config"],
     "not a valid BatchingParameters"),
    (["--model-base-path", "{tmp}", "--monitoring_config_file", "{tmp}/bad.config"], "not a valid MonitoringConfig"),
    (["--model-base-path", "{tmp}", "--max-rows-per-request", "0"], "--max-rows-per-request must be positive"),
])
def test_bad_flags_get_one_line(argv, message, capsys, tmp_path):
    (tmp_path / "bad.config").write_text("model_config_list { config { nme: 'a' } }")
    (tmp_path / "tflite.config").write_text("model_config_list { config { name: 'a' base_path: '/a' "
                                            "model_platform: 'tflite' } }")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, [arg.format(tmp=tmp_path) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message.format(tmp=tmp_path) in err and "\n" not in err


def test_monitoring_and_batching_files(tmp_path):
    (tmp_path / "off.txt").write_text("prometheus_config { enable: false }")
    (tmp_path / "default.txt").write_text("prometheus_config { enable: true }")
    assert metrics_path(tmp_path / "off.txt") == ""
    assert metrics_path(tmp_path / "default.txt") == "/monitoring/prometheus/metrics"
    (tmp_path / "b.txt").write_text("max_batch_size { value: 0 }")
    with pytest.raises(Exception, match="must be positive"):
        batching_options(tmp_path / "b.txt")
