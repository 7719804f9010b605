"""Smoke tests of ``ualign reproduce`` and ``ualign compare`` through a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def ualign(*args, cwd=None, timeout=300):
    """Run the ``ualign`` command with this interpreter; returns the CompletedProcess."""
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160"})


def one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ error paths
@pytest.mark.parametrize("args, fragments", [
    (["compare", "mallows:n=5,phi=0.5", "--methods", "rlhf,dpo"], ["unknown method 'dpo'"]),
    (["compare", "mallows:n=5,phi=0.5", "--k", "1..x"], ["--k", "'1..x' at position 0"]),
    (["compare", "mallows:n=5,phi=0.5", "--k", "3..1"], ["--k", "lo <= hi"]),
    (["compare", "no/such/file.soc"], ["no/such/file.soc"]),
    (["reproduce", "--data", "no/such/folder"], ["--data", "no/such/folder"]),
])
def test_cli_errors_are_one_line(tmp_path, args, fragments):
    out = tmp_path / "out"
    proc = ualign(*args, "--out", out)
    one_line_error(proc, *fragments)
    assert not out.exists()  # nothing written on error


def test_cli_out_is_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    for cmd in (["compare", "mallows:n=5,phi=0.5"], ["reproduce", "--quick"]):
        proc = ualign(*cmd, "--out", f)
        one_line_error(proc, "--out")
        assert f.read_text() == "keep me"
