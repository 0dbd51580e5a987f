"""Serve the exports in saved_models/ over TensorFlow Serving's REST API, with no tensorflow_model_server needed.

    python -m tasks.serve                                        # every model under saved_models/, port 8501
    python -m tasks.serve --model sentiment=saved_models/sentiment --port 8601
    python -m tasks.serve --batch-window-ms 5 --max-batch-size 64   # merge concurrent requests

    curl -d '{"instances": ["not bad at all"]}' localhost:8501/v1/models/sentiment:predict

A client written against this server works against `tensorflow_model_server --rest_api_port=8501` on the same
folder, and back. The newest version of each model is served (`--version-policy all` serves every version) and a
newly exported version is picked up without a restart.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tasks.common.cli import Parser, UserError, run_cli  # noqa: E402
from tasks.serve.models import POLICIES  # noqa: E402


def parser():
    p = Parser(prog="python -m tasks.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-base-path", default=None,
                   help="serve every <name>/<version>/ folder under this path (default: saved_models, unless "
                        "--model is given)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                   help="serve the versions in folder PATH as model NAME; may be repeated")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8501, help="port of the REST API (TF Serving's default: 8501)")
    p.add_argument("--version-policy", choices=POLICIES, default="latest",
                   help="serve only the newest version of each model, or every version")
    p.add_argument("--poll-seconds", type=float, default=1.0,
                   help="how often to look for new versions on disk (0: never)")
    p.add_argument("--max-body-bytes", type=int, default=8 << 20, help="largest request body accepted")
    p.add_argument("--batch-window-ms", type=float, default=0,
                   help="merge requests arriving within this many milliseconds into one model call (0: off)")
    p.add_argument("--max-batch-size", type=int, default=32, help="most rows in one merged model call")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return p


def registry_from_args(args):
    from tasks.serve.models import ModelRegistry

    models = {}
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
        models[name] = path
    base = args.model_base_path or (None if models else "saved_models")
    if base is not None and not Path(base).is_dir():
        raise UserError(f"--model-base-path {base}: no such folder; export a model first (python -m "
                        "tasks.sentiment) or pass the folder that holds your exports")
    for name, value in (("--port", args.port), ("--max-body-bytes", args.max_body_bytes),
                        ("--max-batch-size", args.max_batch_size)):
        if value <= 0 or (name == "--port" and value > 65535):
            raise UserError(f"{name} {value} is out of range")
    if args.batch_window_ms < 0 or args.poll_seconds < 0:
        raise UserError("--batch-window-ms and --poll-seconds must not be negative")
    return ModelRegistry(base_path=base, models=models, policy=args.version_policy)


def main(argv=None):
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    registry = registry_from_args(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")

    import uvicorn

    from tasks.serve.app import create_app

    app = create_app(registry, max_body_bytes=args.max_body_bytes, poll_seconds=args.poll_seconds,
                     batch_window_ms=args.batch_window_ms or None, max_batch_size=args.max_batch_size)
    # Our own access log line replaces uvicorn's; uvicorn still logs startup and errors.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    run_cli(main)
