"""Asking whether a dataset's host can be reached before a download library retries for minutes."""

import socket


def network_reachable(host, timeout=3.0):
    """True when a TCP connection to `host`:443 opens within `timeout` seconds."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False
