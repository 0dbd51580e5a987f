"""The lint rules of pyproject.toml ([tool.ruff]) hold for the whole tree: run as a test, so every CI run checks
them whatever script starts the tests."""

import subprocess
import sys

from tests.tasks.cli_errors import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
