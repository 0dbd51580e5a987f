"""TF Serving's configuration files, in its own protobuf text format: the model config (`--model_config_file`),
the batching parameters (`--batching_parameters_file`) and the monitoring config (`--monitoring_config_file`).

The model config is parsed with TF Serving's own message (from `tensorflow-serving-api`), so any file that
`tensorflow_model_server` reads is read here the same way. The batching and monitoring messages are not in that
package; their fields are declared below with TF Serving's names and numbers, so the same text parses.
"""

import dataclasses
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from tensorflow_serving.config import model_server_config_pb2

from tasks.common.cli import UserError
from tasks.serve.models import ModelConfig


def _messages():
    """BatchingParameters and MonitoringConfig as TF Serving declares them (the fields these files use)."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="zoo_tf_serving_config.proto", package="zoo.tfserving",
                                              syntax="proto3")

    def message(name, fields):
        m = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            m.field.add(name=field_name, number=number, type=kind, label=label, type_name=type_name or None)

    one, many = f.LABEL_OPTIONAL, f.LABEL_REPEATED
    message("Int64Value", [("value", 1, f.TYPE_INT64, one, "")])
    message("StringValue", [("value", 1, f.TYPE_STRING, one, "")])
    message("BoolValue", [("value", 1, f.TYPE_BOOL, one, "")])
    wrapped = {"i": ".zoo.tfserving.Int64Value", "s": ".zoo.tfserving.StringValue", "b": ".zoo.tfserving.BoolValue"}
    message("BatchingParameters", [
        ("max_batch_size", 1, f.TYPE_MESSAGE, one, wrapped["i"]),
        ("batch_timeout_micros", 2, f.TYPE_MESSAGE, one, wrapped["i"]),
        ("max_enqueued_batches", 3, f.TYPE_MESSAGE, one, wrapped["i"]),
        ("num_batch_threads", 4, f.TYPE_MESSAGE, one, wrapped["i"]),
        ("thread_pool_name", 5, f.TYPE_MESSAGE, one, wrapped["s"]),
        ("allowed_batch_sizes", 6, f.TYPE_INT64, many, ""),
        ("pad_variable_length_inputs", 7, f.TYPE_BOOL, one, ""),
        ("enable_large_batch_splitting", 8, f.TYPE_MESSAGE, one, wrapped["b"]),
        ("max_execution_batch_size", 9, f.TYPE_MESSAGE, one, wrapped["i"]),
    ])
    message("PrometheusConfig", [("enable", 1, f.TYPE_BOOL, one, ""), ("path", 2, f.TYPE_STRING, one, "")])
    message("MonitoringConfig", [("prometheus_config", 1, f.TYPE_MESSAGE, one, ".zoo.tfserving.PrometheusConfig")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"zoo.tfserving.{name}"))
            for name in ("BatchingParameters", "MonitoringConfig")}


_MESSAGES = _messages()


def parse_text(path, message, flag):
    """`path` parsed into `message` (a protobuf instance), or a UserError naming the flag, file and problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{flag} {path}: cannot read it ({error})") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise UserError(f"{flag} {path}: not a valid {message.DESCRIPTOR.name} in text format ({error})") from None


def model_configs(path):
    """The models of a TF Serving model config file, as `ModelConfig`s."""
    config = parse_text(path, model_server_config_pb2.ModelServerConfig(), "--model_config_file")
    if config.WhichOneof("config") == "custom_model_config":
        raise UserError(f"--model_config_file {path}: custom_model_config is not supported; use model_config_list")
    configs, base = [], Path(path).parent
    for entry in config.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise UserError(f"--model_config_file {path}: every config needs a name and a base_path")
        if entry.model_platform not in ("", "tensorflow"):
            raise UserError(f"--model_config_file {path}: model {entry.name!r} has model_platform "
                            f"{entry.model_platform!r}; only 'tensorflow' SavedModels are served")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        base_path = Path(entry.base_path)
        configs.append(ModelConfig(
            name=entry.name, base_path=base_path if base_path.is_absolute() else base / base_path, policy=kind,
            num_versions=policy.latest.num_versions or 1, versions=tuple(policy.specific.versions),
            labels=tuple(sorted(entry.version_labels.items()))))
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise UserError(f"--model_config_file {path}: a model name appears twice")
    return configs


@dataclasses.dataclass
class BatchingOptions:
    """What the server's batcher uses from TF Serving's BatchingParameters. Unset fields take this server's defaults,
    not TF Serving's: batches of 32 and 2 model threads suit two cores (measured in bench/serve.py), and a 2 ms
    window rather than 0, which would never wait for a second request."""

    max_batch_size: int = 32
    timeout_s: float = 0.002
    max_enqueued_batches: int = 100
    num_batch_threads: int = 2


def batching_options(path):
    params = parse_text(path, _MESSAGES["BatchingParameters"](), "--batching_parameters_file")
    options = BatchingOptions()
    if params.HasField("max_batch_size"):
        options.max_batch_size = params.max_batch_size.value
    if params.HasField("batch_timeout_micros"):
        options.timeout_s = params.batch_timeout_micros.value / 1e6
    if params.HasField("max_enqueued_batches"):
        options.max_enqueued_batches = params.max_enqueued_batches.value
    if params.HasField("num_batch_threads"):
        options.num_batch_threads = params.num_batch_threads.value
    if options.max_batch_size <= 0 or options.timeout_s < 0 or options.max_enqueued_batches <= 0 or \
            options.num_batch_threads <= 0:
        raise UserError(f"--batching_parameters_file {path}: sizes, queue and threads must be positive and the "
                        "timeout not negative")
    return options


DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


def metrics_path(path):
    """The Prometheus path a monitoring config asks for ('' when it turns Prometheus off)."""
    config = parse_text(path, _MESSAGES["MonitoringConfig"](), "--monitoring_config_file")
    if not config.prometheus_config.enable:
        return ""
    return config.prometheus_config.path or DEFAULT_METRICS_PATH
