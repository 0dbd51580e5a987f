"""Start `python -m tasks.serve` as a child process on a free loopback port: for tests, benchmarks and scripts."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parents[2]


class ServerURL(str):
    """The server's base URL, also carrying its process id and log file (benchmarks read both)."""

    pid: int
    log_path: Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(*flags, ready_timeout=120, log_path=None):
    """Yields the base URL (`http://127.0.0.1:PORT`, a `ServerURL`) once `/healthz` answers 200; stops the server
    at the end.
    The server's output goes to `log_path` (a temporary file by default: a pipe nobody reads would fill up and
    stall the server)."""
    port = free_port()
    log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="serve-", suffix=".log")[1])
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "tasks.serve", f"--rest_api_port={port}",
                                    *map(str, flags)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = ServerURL(f"http://127.0.0.1:{port}")
    url.pid, url.log_path = process.pid, log_path
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with code {process.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready within {ready_timeout} s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(url):
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
