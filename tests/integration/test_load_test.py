"""bench/load_test.py, the local runtime's load test, runs to the end at its smallest: nothing else runs it
between the full runs whose figures the docs quote."""

import shutil
import subprocess
import sys

from happypath_testkit.runtime import ROOT


def test_the_load_test_runs_to_the_end() -> None:
    assert shutil.which("wrk"), "wrk is not installed (.ci/run installs it)"
    smallest = ["--seconds", "1", "--connections", "4", "--uploads", "5"]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load_test.py"), *smallest],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    report = completed.stdout
    for part in ("a) reads", "GET /places/{id}", "b) upload burst", "lost (not final after", "c) runtime stopped"):
        assert part in report, part
    assert report.rstrip().endswith("OK: no errors, nothing lost")
