"""Asking whether a dataset's host can be reached before a download library retries for minutes."""

import socket

from tasks.common.cli import UserError


def network_reachable(host, timeout=3.0):
    """True when a TCP connection to `host`:443 opens within `timeout` seconds."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def unreachable_error(dataset, host, local):
    """The error for `--dataset NAME` named explicitly while its host cannot be reached."""
    return UserError(f"--dataset {dataset} needs a network connection ({host} is not reachable) or a cached copy; "
                     f"for {local} pass --data PATH.")


def announce_stand_in(what, dataset, stand_in, local):
    """The one line a recipe prints when it falls back to its built-in stand-in because `what` is out of reach."""
    print(f"{what} could not be downloaded (no network) and no dataset was named: using the {stand_in}. Pass --data "
          f"PATH for {local}, or --dataset {dataset} to make this an error.")
