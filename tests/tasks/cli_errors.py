"""Checks that a recipe answers a user's mistake the way every recipe must: one `error: ...` line, exit code 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.common.cli import run_cli

ROOT = Path(__file__).parents[2]


def user_error(main, argv, capsys):
    """Run `main(argv)` as the command line does; returns its one error line."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def command_line_error(module, argv, cwd):
    """Run `python -m module argv` in a fresh process; returns its stderr, which must hold no traceback."""
    result = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, cwd=cwd,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    return result.stderr
