"""Smoke test of the collapse benchmark (experiments/collapse.py --tiny): the whole pipeline on a
tiny random Llama (warm start by TRL, gate, engine predictions, self-play arms, measurements, JSON,
plot), resumable; plumbing only, the numbers mean nothing."""

import json

import pytest

from _experiments import run

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("matplotlib")


def _run(*args):
    return run("collapse", *args)


def test_bad_arguments_are_one_line_errors(tmp_path):
    r = _run("--arms", "nlhf,u9", "--runs", str(tmp_path))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "--arms: item 2 ('u9')" in r.stderr
    r = _run("--arms", "u4", "--group-size", "4", "--runs", str(tmp_path))
    assert r.returncode == 2 and "--group-size must be >= k+1 = 5" in r.stderr


def test_tiny_benchmark_end_to_end_and_resumes(tmp_path):
    runs, out, png = tmp_path / "runs", tmp_path / "c.json", tmp_path / "c.png"
    args = ["--tiny", "--runs", str(runs), "--out", str(out), "--plot", str(png), "--arms",
            "nlhf,u4m", "--seeds", "0", "--workers", "1"]
    r = _run(*args)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {(x["arm"], x["k"], x["seed"]) for x in res["runs"]} == {("nlhf", 1, 0), ("u4m", 4, 0)}
    for row in res["runs"]:
        assert set(row["final_shares"]) == {"outdoors", "home", "tech", "other"}
        assert sum(row["final_shares"].values()) == pytest.approx(1.0)
        for d in ("multiset", "distinct"):
            assert set(row["robust_win_rate"][d]) == {"1", "2", "4"}
            assert all(0 <= v <= 1 for v in row["robust_win_rate"][d].values())
        assert row["steps"] == 3 and len(row["trajectory"]) == 3
    pred = res["predictions"]["arms"]
    assert pred["nlhf"]["paper_equilibrium"]["shares"]["outdoors"] == pytest.approx(1.0)
    assert pred["u4m"]["paper_equilibrium"]["shares"]["tech"] == pytest.approx(0.129, abs=2e-3)
    assert set(res["paired"]) == {"u4m - nlhf"} and "0" in res["paired"]["u4m - nlhf"]
    assert "passed" in res["warm_start"]
    # a second call finds both runs done and only rewrites the result
    r = _run(*args)
    assert r.returncode == 0 and "2 runs, 2 already done, 0 to run" in r.stdout
    # another setting in the same folder is refused
    r = _run(*args[:-2], "--workers", "1", "--steps", "4")
    assert r.returncode == 2 and "other settings (steps)" in r.stderr
