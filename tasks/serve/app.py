"""The ASGI app: TF Serving's REST API over a `ModelRegistry`, on Starlette.

    GET  /v1/models/{name}[/versions/{v}]             version status
    GET  /v1/models/{name}[/versions/{v}]/metadata    signature defs
    POST /v1/models/{name}[/versions/{v}]:predict     row ("instances") or columnar ("inputs") predictions
    GET  /healthz                                     200 once a model is served (readiness), else 503

Model calls run in worker threads (or through the `Batcher`), never on the event loop. Every error is answered as
`{"error": "..."}` with a 4xx status, and the server keeps answering.
"""

import asyncio
import contextlib
import logging
import re
import time

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tasks.serve.batching import Batcher, batch_key
from tasks.serve.errors import ServingError
from tasks.serve.rest import format_outputs, parse_body, parse_inputs

log = logging.getLogger("tasks.serve")

MODEL_PATH = re.compile(r"(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                        r"(?:(?P<metadata>/metadata)|:(?P<verb>[a-z]+))?")


def create_app(registry, *, max_body_bytes=8 << 20, poll_seconds=1.0, batch_window_ms=None, max_batch_size=32):
    """The app serving `registry`, polling the disk for new versions every `poll_seconds` (0: never).
    `batch_window_ms` turns on server-side batching."""
    batcher = Batcher(window_s=batch_window_ms / 1000, max_batch_size=max_batch_size) if batch_window_ms else None

    async def models(request):
        name, version, metadata, verb = _parse_path(request.path_params["path"])
        if verb is None:
            if request.method != "GET":
                raise ServingError(405, f"{request.method} is not allowed here; use GET, or POST to ...:predict.")
            return JSONResponse(_metadata(registry, name, version) if metadata else _status(registry, name, version))
        if verb != "predict":
            raise ServingError(400, f"'{verb}' is not supported: these exports answer ':predict' only.")
        if request.method != "POST":
            raise ServingError(405, f"{request.method} is not allowed for :predict; use POST.")
        body = await _read_body(request, max_body_bytes)
        request_json = parse_body(body)
        served = registry.get(name, version)
        signature_name = request_json.get("signature_name") or "serving_default"
        if not isinstance(signature_name, str):
            raise ServingError(400, "'signature_name' must be a string.")
        inputs, row_format = parse_inputs(request_json, served.input_specs(signature_name))

        def call(merged):
            return served.predict(signature_name, merged)

        if batcher is None:
            outputs = await asyncio.to_thread(call, inputs)
        else:
            key = batch_key((name, served.version, signature_name), inputs)
            outputs = await batcher.submit(key, call, inputs)
        return JSONResponse(format_outputs(outputs, row_format))

    async def healthz(request):
        names = registry.names()
        return JSONResponse({"ready": bool(names), "models": names}, status_code=200 if names else 503)

    async def not_found(request, exc):
        return JSONResponse({"error": f"no such endpoint: {request.url.path}; see /v1/models/{{name}}"},
                            status_code=getattr(exc, "status_code", 404))

    async def serving_error(request, exc):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def internal_error(request, exc):
        log.exception("unexpected error for %s", request.url.path, exc_info=exc)
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(registry.poll)  # sees the versions on disk
        await asyncio.to_thread(registry.poll)  # loads those that did not change in between
        task = asyncio.create_task(_poll_forever(registry, poll_seconds)) if poll_seconds else None
        yield
        if task:
            task.cancel()

    app = Starlette(
        routes=[Route("/v1/models/{path:path}", models, methods=["GET", "POST"]), Route("/healthz", healthz)],
        exception_handlers={ServingError: serving_error, 404: not_found, 405: not_found, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return AccessLog(app)


def _parse_path(path):
    match = MODEL_PATH.fullmatch(path)
    if not match:
        raise ServingError(404, f"no such endpoint: /v1/models/{path}")
    version = match["version"]
    if version is not None and not version.isdigit():
        raise ServingError(400, f"version '{version}' is not a number.")
    return match["name"], None if version is None else int(version), bool(match["metadata"]), match["verb"]


def _status(registry, name, version):
    served = registry.versions(name)
    if version is not None:
        registry.get(name, version)  # 404 if not served
        served = {version: served[version]}
    status = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
              for v in sorted(served, reverse=True)]
    if version is None:  # versions that failed to load, as TF Serving reports them
        status += [{"version": str(v), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": m}}
                   for v, m in sorted(registry.failures(name).items(), reverse=True)]
    return {"model_version_status": status}


def _metadata(registry, name, version):
    served = registry.get(name, version)
    return {"model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": served.signature_defs}}}


async def _read_body(request, limit):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ServingError(413, f"request body of {declared} bytes is over the limit of {limit} "
                                "(--max-body-bytes); send fewer instances per request.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServingError(413, f"request body is over the limit of {limit} bytes (--max-body-bytes); "
                                    "send fewer instances per request.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _poll_forever(registry, seconds):
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(registry.poll)
        except Exception:  # a bad folder must not stop the polling
            log.exception("polling the model folders failed")


class AccessLog:
    """ASGI middleware: one log line per request: method, path, status, latency."""

    def __init__(self, app):
        self.app = app
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_and_record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            log.info("%s %s %d %.1fms", scope["method"], scope["path"], status[0],
                     (time.perf_counter() - started) * 1000)
