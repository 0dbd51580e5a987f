"""The suite's own scheduling: tests marked `xdist_group` share a worker, so a module fixture that trains a recipe or
starts a server runs once. A pytest and pytest-xdist pair that breaks this fails nothing else, only costs minutes
(pytest 9.2 with xdist 3.8 did: pyproject.toml pins pytest below it)."""

import subprocess
import sys

GROUPED = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.fixture(scope="module")
def expensive():
    with open("setups.log", "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")


@pytest.mark.parametrize("i", range(6))
def test_grouped(expensive, i):
    pass
'''

OTHERS = '''
import pytest


@pytest.mark.parametrize("i", range(12))
def test_other(i):
    pass
'''


def test_a_group_runs_on_one_worker_and_sets_its_module_fixture_up_once(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_others.py").write_text(OTHERS)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p",
                             "no:cacheprovider", "-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "18 passed" in result.stdout
    assert len((tmp_path / "setups.log").read_text().split()) == 1  # one worker, one setup
