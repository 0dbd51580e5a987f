"""The ASGI app: TF Serving's REST API over a `ModelRegistry`, path for path and error for error.

    GET  /v1/models/{name}[/versions/{v} | /labels/{label}]                 version status
    GET  /v1/models/{name}[/versions/{v} | /labels/{label}]/metadata        signature defs
    POST /v1/models/{name}[/versions/{v} | /labels/{label}]:predict         row or columnar predictions
    POST .../:classify, :regress                                            tf.Example requests
    GET  /monitoring/prometheus/metrics                                     Prometheus metrics
    GET  /healthz                                                           200 once a model is served, else 503

Paths match case-insensitively with TF Serving's own patterns; anything else under /v1/ is its 400
`Malformed request`. Parsing, model calls and large responses run in worker threads, never on the event loop;
requests beyond the limits (`Limits`) get a 4xx, and beyond `max_in_flight` a 503, rather than queueing without
bound.
"""

import asyncio
import dataclasses
import json
import logging
import re
import time
import urllib.parse

import numpy as np

from tasks.serve import examples
from tasks.serve.batching import batch_key, join_rows, row_count, split_rows, take_rows
from tasks.serve.errors import ServingError, invalid
from tasks.serve.json_tensors import parse_json, response_body, signature_name, tensors_from_request

log = logging.getLogger("tasks.serve")

_SPEC = r"/v1/models/(?P<name>[^/:]+)(?:(?:/versions/(?P<version>[0-9]+))|(?:/labels/(?P<label>[^/:]+)))?"
PREDICT_PATH = re.compile(r"(?i)" + _SPEC + r":(?P<verb>classify|regress|predict)", re.ASCII)
STATUS_PATH = re.compile(r"(?i)/v1/models(?:/(?P<name>[^/:]+))?(?:(?:/versions/(?P<version>[0-9]+))|"
                         r"(?:/labels/(?P<label>[^/:]+)))?(?:/(?P<sub>metadata))?", re.ASCII)
REST_PATH = re.compile(r"(?i)/v1/.*", re.DOTALL)
MAX_VERSION = (1 << 63) - 1
INLINE_BYTES = 32 << 10  # bodies smaller than this are parsed on the event loop (a thread hop costs more)


@dataclasses.dataclass
class Limits:
    """What one request may ask of the server."""

    max_body_bytes: int = 8 << 20
    max_rows: int = 10000  # rows (instances, or the leading size of columnar inputs) per request
    max_elements: int = 20_000_000  # tensor elements of all inputs of one request
    max_padded_elements: int = 500_000  # a bigger request is split into calls of rows of similar length
    max_in_flight: int = 1024  # requests being handled at once; past it, 503
    timeout_s: float = 30.0  # TF Serving's --rest_api_timeout_in_ms
    body_timeout_s: float = 30.0  # a client that sends its body slower than this is cut off


class ServingApp:
    """ASGI app serving `registry` (see the module doc)."""

    def __init__(self, registry, *, metrics, limits=None, batcher=None, metrics_path="", poll_seconds=1.0,
                 config_reloader=None, config_poll_seconds=0.0, check_method_names=False):
        self.registry = registry
        self.metrics = metrics
        self.limits = limits or Limits()
        self.batcher = batcher
        self.metrics_path = metrics_path
        self.poll_seconds = poll_seconds
        self.config_reloader = config_reloader
        self.config_poll_seconds = config_poll_seconds
        self.check_method_names = check_method_names
        self.in_flight = 0
        self._tasks = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        path = scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or scope["path"]
        self.in_flight += 1
        seen = {"model": "", "api": ""}  # filled in as soon as the path names them, for the metrics
        try:
            if self.in_flight > self.limits.max_in_flight:
                raise ServingError(503, f"the server is handling {self.limits.max_in_flight} requests (--max-in-"
                                        "flight); retry later", "UNAVAILABLE")
            status, body, content_type = await self._route(scope["method"], path, receive, seen)
            code = "OK"
        except ServingError as error:
            status, content_type, code = error.status, "application/json", error.code
            body = json.dumps({"error": error.message}).encode()
        except Exception as error:  # a bug of ours: answer 500 and keep serving
            log.exception("unexpected error for %s %s", scope["method"], path)
            status, content_type, code = 500, "application/json", "INTERNAL"
            body = json.dumps({"error": f"internal error: {type(error).__name__}: {error}"}).encode()
        finally:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - started
        if seen["model"]:  # names nobody serves share one label: a client must not grow the metrics at will
            model = seen["model"] if seen["model"] in self.registry.names() else "(not served)"
            self.metrics.request(model, seen["api"], code, seconds)
        log.info("%s %s %d %.1fms", scope["method"], path, status, seconds * 1000)

    # ---------------------------------------------------------------------------------------------------- routes

    async def _route(self, method, path, receive, seen):
        """(status, body, content type) of one request; `seen` gets the model name and API once known."""
        if self.metrics_path and path == self.metrics_path and method == "GET":
            return 200, self.metrics.page().encode(), "text/plain; version=0.0.4"
        if path == "/healthz":
            names = self.registry.names()
            body = json.dumps({"ready": bool(names), "models": names}).encode()
            return (200 if names else 503), body, "application/json"
        if not REST_PATH.fullmatch(path):
            raise ServingError(404, f"no such endpoint: {path}; the API is under /v1/models/{{name}}")
        match = (PREDICT_PATH if method == "POST" else STATUS_PATH if method == "GET" else None)
        match = match.fullmatch(path) if match else None
        if match is None:
            raise invalid(f"Malformed request: {method} {path}")
        name, version, label = _model_spec(match)
        seen["model"] = name
        if method == "POST":
            verb = match["verb"]
            if verb not in ("predict", "classify", "regress"):  # TF Serving matches the verb's case loosely,
                raise invalid(f"Malformed request: {method} {path}")  # then dispatches on the exact word
            seen["api"] = verb
            body = await self._read_body(receive)
            handler = {"predict": self._predict, "classify": self._classify, "regress": self._regress}[verb]
            return 200, await handler(name, version, label, body), "application/json"
        if not name:
            raise invalid("Missing model name in request.")
        if match["sub"] == "metadata":
            seen["api"] = "metadata"
            return 200, self._metadata(name, version, label), "application/json"
        seen["api"] = "status"
        return 200, self._status(name, version, label), "application/json"

    async def _predict(self, name, version, label, body):
        document = await self._maybe_in_thread(len(body), parse_json, body)
        served = self.registry.get(name, version, label)
        signature = signature_name(document)
        dtypes = served.input_dtypes(signature)
        inputs, row_format = await self._maybe_in_thread(len(body), tensors_from_request, document, dtypes)
        self._check_size(inputs)

        def call(batch):
            return self._run_split(served, signature, batch)

        if self.batcher is not None:
            key = batch_key((name, served.version, signature or "serving_default"), inputs)
            run = self.batcher.submit(key, call, inputs)
        else:
            run = asyncio.to_thread(call, inputs)
        outputs = await self._with_timeout(run)
        size = sum(np.size(a) for a in outputs.values())
        return await self._maybe_in_thread(size * 8, response_body, outputs, row_format)

    async def _classify(self, name, version, label, body):
        return await self._examples(examples.classify, name, version, label, body)

    async def _regress(self, name, version, label, body):
        return await self._examples(examples.regress, name, version, label, body)

    async def _examples(self, handler, name, version, label, body):
        document = await self._maybe_in_thread(len(body), parse_json, body)
        served = self.registry.get(name, version, label)
        if isinstance(document.get("examples"), list) and len(document["examples"]) > self.limits.max_rows:
            raise invalid(f"the request has {len(document['examples'])} examples, over the limit of "
                          f"{self.limits.max_rows} (--max-rows-per-request); send fewer per request")
        return await self._with_timeout(asyncio.to_thread(handler, served, document,
                                                          check_method=self.check_method_names))

    def _status(self, name, version, label):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        response = get_model_status_pb2.GetModelStatusResponse()
        for number, status in self.registry.status(name, version, label):
            entry = response.model_version_status.add(version=number)
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
            entry.status.error_code = _code_number(status.error_code)
            entry.status.error_message = status.error_message
        return json_format.MessageToJson(response, always_print_fields_with_no_presence=True).encode()

    def _metadata(self, name, version, label):
        from google.protobuf import json_format

        served = self.registry.get(name, version, label)
        defs = {key: json_format.MessageToDict(sig, preserving_proto_field_name=True,
                                               always_print_fields_with_no_presence=True)
                for key, sig in served.signature_defs.items()}
        return json.dumps({"model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
                           "metadata": {"signature_def": {"signature_def": defs}}}, indent=1).encode()

    # ----------------------------------------------------------------------------------------------- mechanics

    def _run_split(self, served, signature, inputs):
        """Run a request in calls of bounded padded size (rows of similar length together), in request order."""
        chunks = split_rows(inputs, self.limits.max_padded_elements)
        if chunks is not None:
            parts = [served.run(signature, take_rows(inputs, index)) for index in chunks]
            joined = join_rows(parts, chunks, row_count(inputs))
            if joined is not None:
                return joined
        return served.run(signature, inputs)

    def _check_size(self, inputs):
        rows = max((np.shape(a)[0] for a in inputs.values() if np.ndim(a)), default=1)
        if rows > self.limits.max_rows:
            raise invalid(f"the request has {rows} rows, over the limit of {self.limits.max_rows} "
                          "(--max-rows-per-request); send fewer rows per request")
        elements = sum(np.size(a) for a in inputs.values())
        if elements > self.limits.max_elements:
            raise invalid(f"the request has {elements} input values, over the limit of {self.limits.max_elements} "
                          "(--max-elements-per-request); send fewer or smaller rows per request")

    async def _with_timeout(self, awaitable):
        try:
            return await asyncio.wait_for(awaitable, self.limits.timeout_s)
        except asyncio.TimeoutError:
            raise ServingError(504, f"Deadline exceeded: no answer within {self.limits.timeout_s:g} s "
                                    "(--rest_api_timeout_in_ms)", "DEADLINE_EXCEEDED") from None

    @staticmethod
    async def _maybe_in_thread(size, fn, *args):
        if size < INLINE_BYTES:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    async def _read_body(self, receive):
        limit, chunks, size = self.limits.max_body_bytes, [], 0
        deadline = time.monotonic() + self.limits.body_timeout_s
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise ServingError(408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s",
                                   "DEADLINE_EXCEEDED") from None
            if message["type"] == "http.disconnect":
                raise ServingError(499, "the client closed the connection", "CANCELLED")
            size += len(message.get("body", b""))
            if size > limit:
                raise ServingError(413, f"request body is over the limit of {limit} bytes (--max-body-bytes); send "
                                        "fewer instances per request", "INVALID_ARGUMENT")
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    # ------------------------------------------------------------------------------------------------- lifespan

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Three passes: see the versions, load the stable ones, then fall back past any that failed.
                for _ in range(3):
                    await asyncio.to_thread(self.registry.poll)
                if self.poll_seconds:
                    self._tasks.append(asyncio.create_task(self._every(self.poll_seconds, self.registry.poll)))
                if self.config_reloader and self.config_poll_seconds:
                    self._tasks.append(asyncio.create_task(self._every(self.config_poll_seconds,
                                                                       self.config_reloader)))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _every(seconds, fn):
        while True:
            await asyncio.sleep(seconds)
            try:
                await asyncio.to_thread(fn)
            except Exception:  # a bad folder or config must not stop the polling
                log.exception("%s failed", getattr(fn, "__name__", fn))


def _model_spec(match):
    """(name, version, label) from a path match: the name and label URL-decoded, the version an int64."""
    name = urllib.parse.unquote(match["name"] or "", errors="replace")
    label = match["label"] and urllib.parse.unquote(match["label"], errors="replace")
    version = match["version"]
    if version is not None:
        if len(version) > 19 or int(version) > MAX_VERSION:
            raise invalid(f"Failed to convert version: {version} to numeric.")
        version = int(version)
    return name, version, label


def _code_number(name):
    from tensorflow.core.protobuf import error_codes_pb2

    return error_codes_pb2.Code.Value(name)

