"""One SavedModel version loaded as TF Serving loads it: a TF1 session over the `serve` MetaGraph.

TF Serving runs every SavedModel, TF1 or TF2, through `Session::Run` with the signature's tensor names as feeds and
fetches. Doing the same here is what makes TF1 exports (`saved_model_half_plus_two`, the counter model, models
with asset files and main ops) load, and what gives TF Serving's lenient shapes: a fed tensor is not checked
against the signature's declared shape (only the ops that use it check what they need).
"""

import dataclasses
import logging
import threading
from pathlib import Path

import numpy as np

from tasks.serve.errors import from_tensorflow, invalid
from tasks.serve.xla import XLA_DISABLED, signatures_running_xla

DEFAULT_SIGNATURE = "serving_default"
log = logging.getLogger("tasks.serve")


@dataclasses.dataclass
class LoadedVersion:
    """A loaded version: its SignatureDefs (protos, for metadata and input dtypes) and a session to run them."""

    version: int
    path: Path
    signature_defs: dict  # name -> SignatureDef proto, every signature of the MetaGraph (as TF Serving lists them)
    session: object
    timeout_ms: int = 0
    xla_disabled: frozenset = frozenset()  # signatures that reach an XLA-compiled function, with XLA disabled
    _callables: dict = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def signature(self, name):
        """The SignatureDef called `name` ('' is the default), or TF Serving's 400."""
        name = name or DEFAULT_SIGNATURE
        if name not in self.signature_defs:
            raise invalid(f"Serving signature name: \"{name}\" not found in signature def")
        return self.signature_defs[name]

    def input_dtypes(self, signature_name):
        """{input alias: DataType enum} of a signature."""
        return {alias: info.dtype for alias, info in self.signature(signature_name).inputs.items()}

    def run(self, signature_name, inputs):
        """Run a signature on {alias: np.ndarray}; returns {output alias: np.ndarray}. Thread-safe: the session
        takes concurrent calls."""
        import tensorflow as tf

        signature = self.signature(signature_name)
        if (signature_name or DEFAULT_SIGNATURE) in self.xla_disabled:  # as TF Serving without XLA answers it
            raise from_tensorflow(tf.errors.InternalError(None, None, XLA_DISABLED))
        feeds = sorted(inputs)
        fetches = sorted(signature.outputs)
        try:  # making the callable checks the graph: a broken signature fails here
            call = self._callable(signature_name or DEFAULT_SIGNATURE, signature, tuple(feeds), tuple(fetches))
            values = call(*(inputs[alias] for alias in feeds))
        except tf.errors.OpError as error:
            raise from_tensorflow(error) from None
        return {alias: np.asarray(value) for alias, value in zip(fetches, values)}

    def _callable(self, name, signature, feeds, fetches):
        key = (name, feeds)
        with self._lock:
            if key not in self._callables:
                from tensorflow.core.protobuf import config_pb2

                options = config_pb2.CallableOptions(feed=[signature.inputs[a].name for a in feeds],
                                                     fetch=[signature.outputs[a].name for a in fetches])
                if self.timeout_ms > 0:
                    options.run_options.timeout_in_ms = self.timeout_ms
                # The session's public `make_callable` checks fed shapes against the graph's static shapes, which
                # TF Serving does not do; the callable made from options is the same C++ path without that check.
                self._callables[key] = self.session._make_callable_from_options(options)
            return self._callables[key]

    def close(self):
        self.session.close()


def load_version(path, version, *, tags=("serve",), timeout_ms=0, threads=(0, 0), xla=False):
    """Load the SavedModel in `path` into a session of its own; `threads` is (intra-op, inter-op), 0 for
    TensorFlow's choice. (TensorFlow is imported here, so the command line answers flag errors at once.) Without
    `xla` (TF Serving's `--xla_cpu_compilation_enabled`, off by default there too), a signature that runs an
    XLA-compiled function fails as in TF Serving (`tasks.serve.xla`), its warm-up records included."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (TF Serving links tensorflow-text's ops into its server; so does this one)

    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads[0],
                                      inter_op_parallelism_threads=threads[1])
    session = tf.compat.v1.Session(graph=tf.Graph(), config=config)
    try:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, list(tags), str(path))
    except Exception:
        session.close()
        raise
    loaded = LoadedVersion(version, Path(path), dict(meta_graph.signature_def), session, timeout_ms=timeout_ms,
                           xla_disabled=frozenset() if xla else frozenset(signatures_running_xla(meta_graph)))
    try:
        run_warmup(loaded)
    except Exception:
        loaded.close()
        raise
    return loaded


def run_warmup(loaded):
    """Run the version's warm-up requests (`assets.extra/tf_serving_warmup_requests`, TF Serving's TFRecord of
    PredictionLogs) once each before it is served, as TF Serving does: compiled (XLA) functions compile here, not on
    a client's request. A failing request fails the load, as in TF Serving. Returns the number of requests run."""
    from tasks.common.serving_shapes import MAX_WARMUP_RECORDS, WARMUP_FILE  # (imports TensorFlow)

    path = loaded.path / "assets.extra" / WARMUP_FILE
    if not path.exists():
        return 0
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(str(path)).take(MAX_WARMUP_RECORDS + 1).as_numpy_iterator())
    if len(records) > MAX_WARMUP_RECORDS:
        raise ValueError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    for record in records:
        entry = prediction_log_pb2.PredictionLog.FromString(record)
        kind = entry.WhichOneof("log_type")
        if kind == "predict_log":
            request = entry.predict_log.request
            loaded.run(request.model_spec.signature_name,
                       {alias: tf.make_ndarray(tensor) for alias, tensor in request.inputs.items()})
        elif kind in ("classify_log", "regress_log"):
            request = getattr(entry, kind).request
            name = request.model_spec.signature_name
            (alias,) = loaded.signature(name).inputs
            examples = [e.SerializeToString() for e in request.input.example_list.examples]
            loaded.run(name, {alias: np.array(examples, dtype=object)})
        else:
            log.warning("skipped a %s warm-up record in %s: only predict, classify and regress records are run",
                        kind, path)
    log.info("ran %d warm-up request(s) from %s", len(records), path)
    return len(records)
