"""Smoke tests of ``ualign reproduce`` and ``ualign compare`` through a subprocess."""

from __future__ import annotations

import json
import os
import re
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


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG file's bytes (its IHDR chunk)."""
    assert png.startswith(b"\x89PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


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
    (["compare", "mallows:n=5,phi=0.5", "--display", "merged"],
     ["--display", "multiset, distinct, both", "'merged'"]),
    (["compare", "mallows:n=5,phi=0.5", "--time-limit", "0"], ["--time-limit", "> 0"]),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, fragments):
    """In-process through ``ualign.cli.main`` (the same code path as the script; the
    subprocess route is covered by test_cli_error_subprocess)."""
    from ualign.cli import main

    out = tmp_path / "out"
    assert main([*map(str, args), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]
    assert not out.exists()  # nothing written on error


def test_cli_error_subprocess(tmp_path):
    out = tmp_path / "out"
    proc = ualign("compare", "mallows:n=5,phi=0.5", "--methods", "rlhf,dpo", "--out", out)
    one_line_error(proc, "unknown method 'dpo'")
    assert not out.exists()


def test_cli_out_is_a_file(tmp_path, capsys):
    from ualign.cli import main

    f = tmp_path / "taken"
    f.write_text("keep me")
    for cmd in (["compare", "mallows:n=5,phi=0.5"], ["reproduce", "--quick"]):
        assert main([*cmd, "--out", str(f)]) == 2
        assert "--out" in capsys.readouterr().err
        assert f.read_text() == "keep me"


# --------------------------------------------------------------------------------- happy paths
def test_reproduce_quick_writes_report(tmp_path):
    out = tmp_path / "report"
    data_args = ["--data", DATA] if DATA.is_dir() else ["--no-data"]
    proc = ualign("reproduce", "--quick", "--out", out, *data_args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str((out / "report.html").resolve()) in proc.stdout
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    data = json.loads((out / "report.json").read_text())
    assert data["passed"] is True and data["quick"] is True
    assert [c["key"] for c in data["claims"]] == ["i", "ii", "iii", "iv", "v", "vi", "vii",
                                                  "viii", "ix", "x", "xi"]
    assert all(c["verdict"] == "PASS" for c in data["claims"])
    assert html.count("data:image/png;base64,") >= 7
    assert "PASS" in md and "(vii)" in md
    for rel in [p.split("(")[-1].rstrip(")") for p in md.splitlines() if p.startswith("![")]:
        assert (out / rel).is_file()
        assert png_size((out / rel).read_bytes())[0] >= 900, rel  # readable in the report
    for c in data["claims"]:  # axis labels in words, the symbol after; no TeX source
        for plot in c["plots"]:
            for label in (plot["xlabel"], plot["ylabel"]):
                assert re.match(r"[a-zA-Z]{2,}", label) and not re.search(r"[_^]", label), label
            for s in plot["series"]:
                assert not re.search(r"[_^]", s["name"]), s["name"]
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    if DATA.is_dir():
        names = [d["name"] for d in data["datasets"]]
        assert any(n.startswith("Polis") for n in names) and any("PrefLib" in n for n in names)
        assert "Data was gathered using the Polis software" in html
        assert "Data was gathered using the Polis software" in md
        for d in data["datasets"]:
            entries = d["compare"]["entries"]
            ua = [e for e in entries if e["method"] == "ualign"]
            assert all(e["robust_win_rate"] >= e["bound"] - 1e-6 for e in ua)
            shown = d["display"]["entries"]  # both displays of the equilibrium and NLHF
            assert {(e["method"], e["display"]) for e in shown} >= {
                ("ualign", "multiset"), ("ualign", "distinct"), ("nlhf", "multiset"),
                ("nlhf", "distinct")}
            assert all(e["robust_win_rate"] <= 0.5 + 1e-12 for e in shown if e["k"] == 1)
        assert "What a person sees" in md


def test_compare_generator_spec(tmp_path):
    out = tmp_path / "cmp"
    proc = ualign("compare", "mallows:n=6,phi=0.6,groups=2,users=80,seed=2", "--k", "1,2,4",
                  "--methods", "nlhf,ualign,kset", "--out", out)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "compare.json").read_text())
    for name in ("compare.png", "compare-diversity.png"):
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and png_size(png)[0] >= 900
    assert data["ks"] == [1, 2, 4] and data["methods"] == ["nlhf", "ualign", "kset"]
    by = {(e["method"], e["k"]): e for e in data["entries"] if e["display"] == "multiset"}
    for k in (1, 2, 4):
        assert by[("ualign", k)]["robust_win_rate"] == pytest.approx(k / (k + 1), abs=1e-6)
        assert by[("kset", k)]["robust_win_rate"] >= k / (k + 1) - 1e-6
        assert by[("nlhf", k)]["robust_win_rate"] <= k / (k + 1) + 1e-9
    # default --display both: every method and k under distinct display too (merged samples
    # never beat the multiset count)
    dist = {(e["method"], e["k"]): e for e in data["entries"] if e["display"] == "distinct"}
    assert set(dist) == set(by)
    for key, e in dist.items():
        assert e["robust_win_rate"] <= by[key]["robust_win_rate"] + 1e-12
    assert "f(k) on" in proc.stdout and "entropy" in proc.stdout


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data")
def test_compare_preflib_file(tmp_path):
    out = tmp_path / "cmp"
    f = DATA / "preflib" / "00024-dots" / "00024-00000001.soc"
    proc = ualign("compare", f, "--k", "1..3", "--out", out, "--methods",
                  "rlhf,nlhf,ualign,kset", "--display", "multiset")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "compare.json").read_text())
    assert data["n_responses"] == 4
    assert {e["method"] for e in data["entries"]} == {"rlhf", "nlhf", "ualign", "kset"}
    assert len(data["entries"]) == 12
