"""Run a multi-worker job on this machine: one process per worker on free loopback ports, each with its TF_CONFIG.

    python -m tasks.common.local_cluster --workers 2 -- python -m tasks.sentiment --strategy multi-worker

For trying `--strategy multi-worker` before a real cluster, and for the tests and the benchmark. Each worker's
output is printed with a `[worker N]` prefix; the exit code is the first non-zero one.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import threading

from tasks.common.cli import Parser, UserError, run_cli


def free_ports(count):
    """`count` loopback ports free right now (held open together, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(workers):
    """One TF_CONFIG string per worker of a loopback cluster."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(workers)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(workers)]


def start_workers(command, workers, *, env=None, **popen):
    """Start `command` (a list) once per worker, each with its TF_CONFIG; returns the Popen objects."""
    base = {**os.environ, **(env or {})}
    return [subprocess.Popen(command, env={**base, "TF_CONFIG": config}, **popen) for config in tf_configs(workers)]


def main(argv=None):
    parser = Parser(prog="python -m tasks.common.local_cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="processes to start (default: 2)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command each worker runs, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.workers < 1:
        parser.error("give a positive --workers and a command after --")
    try:
        processes = start_workers(command, args.workers, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
    except OSError as error:  # the command itself cannot be started
        raise UserError(f"cannot start {command[0]!r}: {error.strerror}") from None
    printers = [threading.Thread(target=_prefix, args=(i, p.stdout)) for i, p in enumerate(processes)]
    for printer in printers:
        printer.start()
    codes = [p.wait() for p in processes]
    for printer in printers:
        printer.join()
    return next((code for code in codes if code), 0)


def _prefix(index, stream):
    for line in stream:
        sys.stdout.write(f"[worker {index}] {line}")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(run_cli(main))
