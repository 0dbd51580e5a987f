"""Run several recipe command lines one after another in this one process, as `python -m <module> <argv>` would run
each: `python -m tests.tasks.common.run_recipes_in_turn PLAN.json`.

PLAN.json is a list of {"module", "argv", "stdout", "stderr"}; each run's standard output and Python's standard error
go to its "stdout" and "stderr" files, and the plan's file gets a "returncode" (and, on a crash, the "traceback")
for each. A test that needs a fresh process for
what it sets up before TensorFlow starts (logical CPU devices) uses it to pay for starting TensorFlow (about 10 s
here) once, not once per recipe."""

import contextlib
import importlib
import json
import sys
import traceback
from pathlib import Path

from tasks.common.cli import run_cli


def run_in_turn(plan):
    for run in plan:
        main = importlib.import_module(f"{run['module']}.__main__").main
        with (open(run["stdout"], "w") as stdout, contextlib.redirect_stdout(stdout),
              open(run["stderr"], "w") as stderr, contextlib.redirect_stderr(stderr)):
            try:
                run_cli(main, run["argv"])
                run["returncode"] = 0
            except SystemExit as exit_:
                run["returncode"] = exit_.code
            except Exception:  # noqa: BLE001 (the next recipe still runs; the test shows this one's traceback)
                run["returncode"], run["traceback"] = 1, traceback.format_exc()
    return plan


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.write_text(json.dumps(run_in_turn(json.loads(path.read_text())), indent=1))
