"""Start `python -m tasks.serve` as a child process on a free loopback port: for tests, benchmarks and scripts."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(*flags, ready_timeout=120):
    """Yields the base URL (`http://127.0.0.1:PORT`) once `/healthz` answers 200; stops the server at the end."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tasks.serve", f"--rest_api_port={port}", *map(str, flags)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with code {process.returncode}:\n{process.stdout.read()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready within {ready_timeout} s")
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
