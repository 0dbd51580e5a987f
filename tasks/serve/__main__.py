"""Serve SavedModels over TensorFlow Serving's REST API, with no tensorflow_model_server needed.

    python -m tasks.serve                                        # every model under saved_models/, port 8501
    python -m tasks.serve --model sentiment=saved_models/sentiment --port 8601
    python -m tasks.serve --rest_api_port=8501 --model_name=sentiment --model_base_path=saved_models/sentiment
    python -m tasks.serve --rest_api_port=8501 --model_config_file=models.config --enable_batching

    curl -d '{"instances": ["not bad at all"]}' localhost:8501/v1/models/sentiment:predict

TF Serving's flags keep their names and meanings (`--model_name`, `--model_base_path`, `--model_config_file`,
`--enable_batching`, `--batching_parameters_file`, `--monitoring_config_file`, ...), so a command line written for
`tensorflow_model_server` runs this server; there is no gRPC API, so `--port` is the REST port unless
`--rest_api_port` is given. New versions are picked up without a restart, removed ones unloaded.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.cli import Parser, UserError, run_cli  # noqa: E402

log = logging.getLogger("tasks.serve")


def _boolean(text):
    """TF Serving's boolean flags: `--flag`, `--flag=true`, `--flag=false`."""
    lowered = str(text).lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def parser():
    p = Parser(prog="python -m tasks.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
               allow_abbrev=False)  # --model and --model_name, --port and --rest_api_port must never blur
    ours = p.add_argument_group("this server's flags")
    ours.add_argument("--model-base-path", dest="models_folder", default=None,
                      help="serve every <name>/<version>/ folder under this path (default: saved_models, when no "
                           "model is named otherwise)")
    ours.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                      help="serve the versions in folder PATH as model NAME; may be repeated")
    ours.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    ours.add_argument("--port", type=int, default=8501,
                      help="REST port (TF Serving's --port is its gRPC port; with --rest_api_port this is ignored)")
    ours.add_argument("--version-policy", choices=("latest", "all"), default="latest",
                      help="for models not in a config file: serve the newest version, or every version")
    ours.add_argument("--poll-seconds", type=float, default=None,
                      help="same as --file_system_poll_wait_seconds")
    ours.add_argument("--max-body-bytes", type=int, default=8 << 20, help="largest request body accepted")
    ours.add_argument("--max-rows-per-request", type=int, default=10000, help="most rows (instances) per request")
    ours.add_argument("--max-elements-per-request", type=int, default=20_000_000,
                      help="most input values per request, all inputs together")
    ours.add_argument("--max-padded-elements-per-call", type=int, default=500_000,
                      help="a request whose rows, padded to its longest, exceed this many values (string bytes) "
                           "runs as several calls of rows of similar length")
    ours.add_argument("--max-in-flight", type=int, default=1024,
                      help="requests handled at once; more are answered 503 at once")
    ours.add_argument("--idle-timeout-seconds", type=float, default=30,
                      help="close a keep-alive connection idle this long")
    ours.add_argument("--batch-window-ms", type=float, default=0,
                      help="turn batching on: merge requests arriving within this many milliseconds (0: off)")
    ours.add_argument("--max-batch-size", type=int, default=None, help="most rows in one merged model call")
    ours.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))

    tfs = p.add_argument_group("tensorflow_model_server's flags")
    tfs.add_argument("--rest_api_port", type=int, default=None, help="REST port")
    tfs.add_argument("--rest_api_timeout_in_ms", type=int, default=30000, help="deadline of one request")
    tfs.add_argument("--rest_api_num_threads", type=int, default=None, help="threads running requests")
    tfs.add_argument("--model_name", default="default", help="name of the model of --model_base_path")
    tfs.add_argument("--model_base_path", default=None, help="folder of the versions of one model")
    tfs.add_argument("--model_config_file", default=None, help="models to serve, TF Serving's text format")
    tfs.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0,
                     help="re-read --model_config_file this often (0: never)")
    tfs.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                     help="look for new and removed versions this often (0: only at start)")
    tfs.add_argument("--enable_batching", type=_boolean, nargs="?", const=True, default=False,
                     help="merge concurrent requests into one model call")
    tfs.add_argument("--batching_parameters_file", default=None, help="BatchingParameters, text format")
    tfs.add_argument("--monitoring_config_file", default=None,
                     help="MonitoringConfig, text format (Prometheus is on at /monitoring/prometheus/metrics "
                          "without one)")
    tfs.add_argument("--max_num_load_retries", type=int, default=5, help="retries of a version that fails to load")
    tfs.add_argument("--load_retry_interval_micros", type=int, default=60_000_000, help="wait between retries")
    tfs.add_argument("--saved_model_tags", default="serve", help="MetaGraph tags, comma-separated")
    tfs.add_argument("--enable_signature_method_name_check", type=_boolean, nargs="?", const=True, default=False,
                     help="classify/regress only on signatures of that method name")
    tfs.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0, help="threads inside one op")
    tfs.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0, help="ops run at once")
    tfs.add_argument("--xla_cpu_compilation_enabled", type=_boolean, nargs="?", const=True, default=False,
                     help="run XLA-compiled functions (off, as in TF Serving: a signature that runs one fails)")
    tfs.add_argument("--allow_version_labels_for_unavailable_models", type=_boolean, nargs="?", const=True,
                     default=False, help="accepted for compatibility: labels are resolved at each request here")
    return p


def model_configs(args):
    """(configs, folder of model folders or None, default policy) of the models the flags name."""
    from tasks.serve.config import model_configs as configs_from_file
    from tasks.serve.models import ModelConfig

    policy = {"policy": args.version_policy}
    if args.model_config_file:
        return configs_from_file(args.model_config_file), None, policy
    configs = []
    if args.model_base_path is not None:
        folder = Path(args.model_base_path)
        if not folder.is_dir():
            raise UserError(f"--model_base_path {folder}: no such folder; pass the folder that holds the model's "
                            "<version>/ folders")
        configs.append(ModelConfig(args.model_name, folder, **policy))
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--model {item!r} is not NAME=PATH; e.g. --model sentiment=saved_models/sentiment")
        if not Path(path).is_dir():
            raise UserError(f"--model {name}={path}: no such folder; pass a model folder holding <version>/ "
                            "subfolders, e.g. saved_models/sentiment")
        if (Path(path) / "saved_model.pb").exists():
            raise UserError(f"--model {name}={path} is a version folder; pass its parent (the folder of versions), "
                            "as TF Serving's model_base_path")
        configs.append(ModelConfig(name, Path(path), **policy))
    base = args.models_folder
    if base is None and not configs:
        base = "saved_models"
    if base is not None and not Path(base).is_dir():
        raise UserError(f"--model-base-path {base}: no such folder; export a model first (python -m "
                        "tasks.sentiment) or pass the folder that holds your exports")
    return configs, base, policy


def check(args):
    for flag, value in (("--port", args.port), ("--max-body-bytes", args.max_body_bytes),
                        ("--max-rows-per-request", args.max_rows_per_request),
                        ("--max-elements-per-request", args.max_elements_per_request),
                        ("--max-padded-elements-per-call", args.max_padded_elements_per_call),
                        ("--max-in-flight", args.max_in_flight), ("--rest_api_timeout_in_ms",
                                                                  args.rest_api_timeout_in_ms)):
        if value <= 0:
            raise UserError(f"{flag} must be positive (got {value})")
    port = args.rest_api_port if args.rest_api_port is not None else args.port
    if not 0 < port <= 65535:
        raise UserError(f"port {port} is out of range (1-65535)")
    if args.max_batch_size is not None and args.max_batch_size <= 0:
        raise UserError(f"--max-batch-size must be positive (got {args.max_batch_size})")
    for flag, value in (("--batch-window-ms", args.batch_window_ms), ("--poll-seconds", args.poll_seconds or 0),
                        ("--file_system_poll_wait_seconds", args.file_system_poll_wait_seconds),
                        ("--model_config_file_poll_wait_seconds", args.model_config_file_poll_wait_seconds)):
        if value < 0:
            raise UserError(f"{flag} must not be negative (got {value})")
    return port


def build_app(args):
    """The app and registry the flags describe (no server started)."""
    from tasks.serve.config import DEFAULT_METRICS_PATH, BatchingOptions, batching_options, metrics_path
    from tasks.serve.config import model_configs as configs_from_file

    configs, base, policy = model_configs(args)  # flag and file mistakes first: TensorFlow is not loaded yet
    batching = batching_options(args.batching_parameters_file) if args.batching_parameters_file else None
    if args.batch_window_ms or args.enable_batching or batching:
        batching = batching or BatchingOptions()
        if args.batch_window_ms:
            batching.timeout_s = args.batch_window_ms / 1000
        if args.max_batch_size:
            batching.max_batch_size = args.max_batch_size
    path = metrics_path(args.monitoring_config_file) if args.monitoring_config_file else DEFAULT_METRICS_PATH

    from tasks.serve.app import Limits, ServingApp
    from tasks.serve.batching import Batcher
    from tasks.serve.loading import load_version
    from tasks.serve.metrics import Metrics
    from tasks.serve.models import ModelRegistry

    metrics = Metrics()
    tags = tuple(t.strip() for t in args.saved_model_tags.split(",") if t.strip())
    session_config = (args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism)

    def loader(folder, version):
        return load_version(folder, version, tags=tags, timeout_ms=args.rest_api_timeout_in_ms,
                            threads=session_config, xla=args.xla_cpu_compilation_enabled)

    registry = ModelRegistry(configs=configs, base_path=base, default_policy=policy, loader=loader,
                             max_load_retries=args.max_num_load_retries,
                             load_retry_s=args.load_retry_interval_micros / 1e6, on_load=metrics.load)

    def reload_config():
        try:
            registry.set_configs(configs_from_file(args.model_config_file))
        except UserError as error:  # keep serving the last good config
            log.error("not reloading the model config: %s", error)

    batcher = None
    if batching:
        batcher = Batcher(window_s=batching.timeout_s, max_batch_size=batching.max_batch_size,
                          num_threads=batching.num_batch_threads, max_queued_batches=batching.max_enqueued_batches,
                          on_call=metrics.batch)
    limits = Limits(max_body_bytes=args.max_body_bytes, max_rows=args.max_rows_per_request,
                    max_elements=args.max_elements_per_request,
                    max_padded_elements=args.max_padded_elements_per_call, max_in_flight=args.max_in_flight,
                    timeout_s=args.rest_api_timeout_in_ms / 1000)
    poll = args.poll_seconds if args.poll_seconds is not None else args.file_system_poll_wait_seconds
    app = ServingApp(registry, metrics=metrics, limits=limits, batcher=batcher, metrics_path=path,
                     poll_seconds=poll, config_reloader=reload_config if args.model_config_file else None,
                     config_poll_seconds=args.model_config_file_poll_wait_seconds,
                     check_method_names=args.enable_signature_method_name_check)
    return app, registry


def main(argv=None):
    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    port = check(args)
    from zoo.quiet import import_tensorflow, unfiltered_stderr

    # A line per request: straight to stderr, not through the start-up noise filter's pipe and thread
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s",
                        stream=unfiltered_stderr())

    import_tensorflow()  # before anything else loads it: without its start-up lines on stderr
    app, _ = build_app(args)

    import asyncio
    import concurrent.futures

    import tensorflow as tf
    import uvicorn

    tf.get_logger().setLevel("ERROR")  # the TF1 loader's deprecation notices are ours to hide, not the user's
    if args.rest_api_num_threads:
        executor = concurrent.futures.ThreadPoolExecutor(args.rest_api_num_threads)
    else:
        executor = None
    config = uvicorn.Config(app, host=args.host, port=port, log_level=args.log_level, access_log=False,
                            timeout_keep_alive=args.idle_timeout_seconds, lifespan="on")
    server = uvicorn.Server(config)

    async def serve():
        if executor is not None:
            asyncio.get_running_loop().set_default_executor(executor)
        await server.serve()

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(serve())


def _event_loop_factory():
    """uvloop's event loop where it is installed (a dependency on Linux and macOS): its loop and transports cost
    less per request than asyncio's own; None (asyncio's) elsewhere."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    run_cli(main)
