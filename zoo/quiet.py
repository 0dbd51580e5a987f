"""TensorFlow without its start-up noise.

TensorFlow's C++ side writes lines to stderr while it loads and looks for GPUs (`Could not find cuda drivers`,
`failed call to cuInit`, `All log messages before absl::InitializeLog() is called ...`) that TF_CPP_MIN_LOG_LEVEL
does not silence: absl logs them before TensorFlow's level applies (tensorflow/tensorflow#100442). They say nothing
a user can act on, on a machine without a GPU, and they bury the recipe's own output.

`import_tensorflow()` imports TensorFlow and lists its GPUs with the process's stderr (file descriptor 2, where C++
writes) passed through a filter that drops those lines. Anything else TensorFlow
says at start-up, a real error included, still reaches the user. `TF_CPP_MIN_LOG_LEVEL=0` keeps every line.
"""

import contextlib
import os
import sys
import threading

# Start-up lines that carry no information on a machine without a GPU (where they are printed).
NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",  # "Could not find cuda drivers on your machine, GPU will not be used."
    "cuda_platform.cc",  # "failed call to cuInit: ... UNKNOWN ERROR (303)"
    "cuda_executor.cc",
    "cuda_diagnostics.cc",
    "failed call to cuInit",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",  # "This TensorFlow binary is optimized to use available CPU instructions ..."
    "rebuild TensorFlow with the appropriate compiler flags",
)


def import_tensorflow():
    """The `tensorflow` module, imported (once per process) without its start-up noise on stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":  # the user asked for every line
        import tensorflow as tf

        return tf
    with filtered_stderr(NOISE):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # where the CUDA probe complains
    return tf


_unfiltered = []  # the real stderr's descriptor, while a filter is on (innermost last)


def unfiltered_stderr():
    """A text stream to the process's real stderr, past any `filtered_stderr` in force: for output that must not
    pay the filter's pipe and thread on every line (a server's per-request log: at 1,000 requests/s the filter's
    thread took a tenth of a core and the interpreter lock from the requests). `sys.stderr` when no filter is on."""
    if not _unfiltered:
        return sys.stderr
    return open(os.dup(_unfiltered[-1]), "w", buffering=1, encoding="utf-8", errors="backslashreplace")


@contextlib.contextmanager
def filtered_stderr(noise):
    """Within it, the lines written to file descriptor 2 (by Python or by TensorFlow's C++ logging) reach stderr as
    they are written, except those that contain one of the `noise` markers. A pipe and a thread that forwards it:
    a long run or a server keeps its live stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    _unfiltered.append(saved)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    markers = [marker.encode() for marker in noise]

    def forward():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not any(marker in line for marker in markers):
                    try:
                        os.write(saved, line)
                    except OSError:  # stderr closed under us: keep draining, so writers never block
                        pass

    thread = threading.Thread(target=forward, name="filtered-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        _unfiltered.remove(saved)
        sys.stderr.flush()
        os.dup2(saved, 2)  # fd 2 was the pipe's last write end here: the thread reads to its end
        thread.join(timeout=5)
        if not thread.is_alive():  # a child process may still hold the pipe: then `saved` stays open for it
            os.close(saved)
