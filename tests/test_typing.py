"""mypy over the package, with the error count as a ceiling that only goes down.

The ceiling lives in ``MYPY_CEILING`` below: lower it when a change removes errors; a change that
adds errors fails here with mypy's own listing. mypy's version is pinned in the ``test`` extra so
the count does not move with mypy releases.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MYPY_CEILING = 0  # 101 when the test was added (mypy 2.4.1), 0 since the floor plan (issue 21)


def test_mypy_error_count_does_not_exceed_ceiling():
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "src/ualign", "--no-incremental",
         "--cache-dir", "/dev/null"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    if "Success: no issues found" in out:
        return
    m = re.search(r"Found (\d+) errors? in", out)
    assert m, f"could not read mypy's summary:\n{out[-2000:]}"
    count = int(m.group(1))
    assert count <= MYPY_CEILING, f"mypy: {count} errors > ceiling {MYPY_CEILING}:\n{out[-6000:]}"
