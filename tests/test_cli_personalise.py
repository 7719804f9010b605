"""``ualign personalise`` through a subprocess: tables, plots, JSON and one-line errors (the
measurement itself: tests/test_report_personalise.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SPEC = "mallows:n=8,phi=0.7,groups=2"


def ualign_cli(*args, cwd=None, timeout=300):
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160"})


def test_cli_writes_table_plots_and_json(tmp_path):
    out = tmp_path / "pers"
    proc = ualign_cli("personalise", SPEC, "--m", "0,1,2,4", "--k", "1,2", "--max-users", "12",
                      "--out", out)
    assert proc.returncode == 0, proc.stderr
    out_text = " ".join(proc.stdout.split())
    for title in ("mean win rate", "robust win rate", "guarantee check"):
        assert title in out_text, proc.stdout
    assert "universal" in proc.stdout and "argmax" in proc.stdout
    for f in ("personalise.json", "personalise-mean.png", "personalise-robust.png",
              "personalise-vs_worst.png", "personalise-vs_worst_all.png"):
        assert (out / f).is_file(), f
    assert (out / "personalise-mean.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "personalise.json").read_text())
    assert data["ms"] == [0, 1, 2, 4] and data["ks"] == [1, 2]
    assert data["summary"]["n_evaluated"] == 12
    rows = data["rows"]
    assert {r["method"] for r in rows} == {"ualign", "greedy", "argmax", "universal"}
    assert {r["display"] for r in rows} == {"multiset", "distinct"}
    for r in rows:
        assert r["robust_lo"] <= r["robust"] <= r["robust_hi"]
        assert r["mean_lo"] <= r["mean"] <= r["mean_hi"]
        assert 0 <= r["robust"] <= r["mean"] <= 1


@pytest.mark.parametrize("args, fragment", [
    (["--m", "0,x"], "--m must be a list like 0,1,2,4,8,16"),
    (["--m", "-1"], "--m values must be integers >= 0"),
    (["--k", "0"], "--k values must be integers in [1,"),
    (["--holdout", "1.5"], "--holdout must be a share in (0, 1), got 1.5"),
    (["--noise", "0.7"], "--noise must be 'fit' or a number in (0, 0.5)"),
    (["--max-users", "0"], "--max-users must be an integer >= 1"),
])
def test_cli_errors_are_one_line(args, fragment, tmp_path):
    proc = ualign_cli("personalise", SPEC, *args, "--out", tmp_path / "x")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in lines[0], lines[0]


def test_cli_missing_profile_and_out_file(tmp_path):
    proc = ualign_cli("personalise", "no/such/file.soc")
    assert proc.returncode == 2 and "no/such/file.soc" in proc.stderr
    assert "Traceback" not in proc.stderr
    f = tmp_path / "file"
    f.write_text("x")
    proc = ualign_cli("personalise", SPEC, "--out", f)
    assert proc.returncode == 2 and "--out must be a folder" in proc.stderr
