"""Tests of the report layer: argument parsing, the copying-opponent claim (core only), the
exact worst ℓ-output opponent, renderers and atomic writes."""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest

import ualign
from ualign.cli._options import parse_ks, parse_methods
from ualign.data.generators import random_profile
from ualign.report import claims as C
from ualign.report.claims import oracles
from ualign.report.compare import entropy_and_support, kset_marginal
from ualign.report.plots import Plot, Series, render_png
from ualign.report.render import (
    fmt,
    render_html,
    render_json,
    render_markdown,
    report_files,
    write_files,
)
from ualign.report.results import ClaimRow, CompareEntry, CompareResult, DatasetSection, Report


# ------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("spec, ks", [("1..4", (1, 2, 3, 4)), ("1,2,4,8", (1, 2, 4, 8)),
                                      ("8,1..3, 2", (1, 2, 3, 8)), ("5", (5,)),
                                      ("3..3", (3,))])
def test_parse_ks(spec, ks):
    assert parse_ks(spec) == ks


@pytest.mark.parametrize("spec, fragment", [("", "1..16"), ("1..", "position 0"),
                                            ("1,x", "'x' at position 1"), ("4..2", "lo <= hi"),
                                            ("0..3", "[1, 1024]"), ("1;2", "position 0"),
                                            ("1...3", "position 0"), ("1,,2", "position 1")])
def test_parse_ks_errors(spec, fragment):
    with pytest.raises(ValueError, match="--k") as e:
        parse_ks(spec)
    assert fragment in str(e.value)


def test_parse_methods():
    assert parse_methods("rlhf,nlhf,ualign,kset") == ("rlhf", "nlhf", "ualign", "kset")
    assert parse_methods(" UALIGN , kset") == ("ualign", "kset")
    with pytest.raises(ValueError, match="unknown method 'dpo' at position 1"):
        parse_methods("rlhf,dpo")
    with pytest.raises(ValueError, match="twice"):
        parse_methods("rlhf,rlhf")


def test_entropy_and_support_and_marginal():
    h, s = entropy_and_support([0.5, 0.5, 0.0])
    assert h == pytest.approx(1.0) and s == 2
    assert entropy_and_support([1.0, 0, 0]) == (0.0, 1)
    q = kset_marginal(np.array([[0, 0], [1, 2]]), np.array([0.25, 0.75]), 4)
    np.testing.assert_allclose(q, [0.25, 0.375, 0.375, 0.0])


# ------------------------------------------------------------------------ claim (ii), core only
def test_claim_copying_opponent_passes_on_random_instances():
    row = C.claim_copying_opponent(seed=1, n_instances=4, n_policies=16, ks=(1, 2, 5))
    assert row.key == "ii" and row.passed
    assert [r.k for r in row.rows] == [1, 2, 5]
    for r in row.rows:
        assert (r.best_random <= r.bound + 1e-12 and r.best_equilibrium <= r.bound + 1e-12
                and r.copy_error < 1e-12 and r.passed)
        assert r.best_equilibrium == pytest.approx(r.bound, abs=1e-6)  # the equilibrium attains it
        assert r.bound == pytest.approx(r.k / (r.k + 1))


def test_claim_copying_opponent_can_fail():
    """The verdict is computed, not fixed: a negative tolerance makes the equality fail."""
    row = C.claim_copying_opponent(seed=1, n_instances=2, n_policies=8, ks=(2,), tol=-1e-3)
    assert not row.passed and row.verdict == "FAIL"


def test_copying_opponent_matches_public_win_rate():
    P = random_profile(3, 6, 10, n_levels=3)
    pi = np.random.default_rng(0).dirichlet(np.ones(6))
    for k in (1, 3, 7):
        assert ualign.win_rate(P, pi, k, pi) == pytest.approx(k / (k + 1), abs=1e-12)


# --------------------------------------------------------------- exact worst ℓ-output opponent
def _brute_wr_vs_set(P, pi, k, S):
    """WR(π^{⊗k}, S) by enumerating every k-tuple of π and every user (choice rule of §2)."""
    n = P.n_responses
    total = 0.0
    for tup in itertools.product(range(n), repeat=k):
        p = np.prod([pi[y] for y in tup])
        if p == 0:
            continue
        for u in range(P.n_users):
            lv = P.levels[u]
            best = min(min(lv[y] for y in tup), min(lv[y] for y in S))
            mine = sum(lv[y] == best for y in tup)
            theirs = sum(lv[y] == best for y in S)
            total += P.weights[u] * p * mine / (mine + theirs)
    return total


def test_worst_ell_output_matches_brute_force():
    P = random_profile(5, 4, 6, n_levels=3)
    pi = np.random.default_rng(2).dirichlet(np.ones(4))
    for k, ell in [(1, 1), (2, 2), (3, 2), (2, 3)]:
        v, S = oracles.worst_ell_output(P, pi, k, ell)
        brute = min(_brute_wr_vs_set(P, pi, k, S2)
                    for S2 in itertools.combinations_with_replacement(range(4), ell))
        assert v == pytest.approx(brute, abs=1e-12)
        assert _brute_wr_vs_set(P, pi, k, S) == pytest.approx(v, abs=1e-12)


def test_worst_ell_output_is_below_product_opponents():
    """The minimum over all ℓ-output opponents is <= the value against any product one."""
    P = random_profile(7, 5, 8)
    rng = np.random.default_rng(3)
    pi = rng.dirichlet(np.ones(5))
    v, _ = oracles.worst_ell_output(P, pi, 2, 2)
    for _ in range(10):
        rho = rng.dirichlet(np.ones(5))
        assert v <= ualign.win_rate(P, pi, 2, rho, ell=2) + 1e-12


# ------------------------------------------------------------------------------ rendering
def _toy_report(passed=True) -> Report:
    plot = Plot("toy plot", "k", "f", (Series("a", [1, 2], [0.5, 0.6]),
                                       Series("k/(k+1)", [1, 2], [0.5, 2 / 3], "dashed")))
    row = ClaimRow(key="i", title="toy <claim>", statement="f >= k/(k+1)", reference="§4",
                   instance="toy", columns=("k", "f", "verdict"),
                   cases=((1, 0.5, True), (2, 0.6, passed)), measured="min gap 0",
                   bound="f >= k/(k+1)", tolerance=1e-6, passed=passed, plots=(plot,))
    cmp = CompareResult(profile="toy", n_users=2, n_responses=3, ks=(1, 2),
                        methods=("nlhf", "ualign"),
                        entries=(CompareEntry("nlhf", 1, 0.5, 0.5, 0.0, 1, 0, 0.0),
                                 CompareEntry("nlhf", 2, 0.5, 2 / 3, 0.0, 1, 0, 0.0),
                                 CompareEntry("ualign", 1, 0.5, 0.5, 1.0, 2, 0, 0.0),
                                 CompareEntry("ualign", 2, 2 / 3, 2 / 3, 1.0, 2, 0, 0.0)),
                        policies={"nlhf": {0: [1.0, 0, 0]}})
    ds = DatasetSection(name="toy data", source="x/y", kind="polis", description="d.",
                        compare=cmp, shows={"nlhf": ["100% · statement <b>"]},
                        attribution="Data was gathered using the Polis software",
                        groups={"k": 2, "columns": ["group", "share of users", "nlhf (k=2)"],
                                "rows": [["group A", 0.7, 0.9], ["group B", 0.3, 0.25]]})
    return Report(title="t", created_utc="now", version="0", machine="m", quick=True,
                  claims=(row,), datasets=(ds,), notes=("a note",))


def test_renderers_are_self_contained_and_escaped():
    rep = _toy_report()
    files = report_files(rep)
    assert set(files) >= {"report.html", "report.md", "report.json"}
    pngs = [f for f in files if f.endswith(".png")]
    assert len(pngs) == 2 and all(files[f].startswith(b"\x89PNG") for f in pngs)
    html = files["report.html"].decode()
    assert html.count("data:image/png;base64,") == 2
    assert "toy &lt;claim&gt;" in html and "statement &lt;b&gt;" in html
    assert "Data was gathered using the Polis software" in html
    assert "group B" in html and "| group B | 0.3 | 0.25 |" in files["report.md"].decode()
    assert "<img" in html and "src=\"plots/" not in html  # embedded, no external files
    md = files["report.md"].decode()
    assert "| (i)" not in md and "| i | toy <claim>" in md
    for f in pngs:
        assert f"({f})" in md
    data = json.loads(files["report.json"])
    assert data["passed"] is True and data["claims"][0]["verdict"] == "PASS"
    assert data["claims"][0]["cases"][1] == [2, 0.6, True]
    assert data["datasets"][0]["compare"]["entries"][3]["robust_win_rate"] == pytest.approx(2 / 3)


def test_failed_claim_is_rendered_as_fail():
    rep = _toy_report(passed=False)
    assert not rep.passed
    html = render_html(rep, {id(p): render_png(p) for c in rep.claims for p in c.plots}
                       | {id(rep.datasets[0].compare): b""})
    assert "class='FAIL'" in html
    assert "Overall: FAIL" in render_markdown(rep).replace("**", "")
    assert json.loads(render_json(rep))["passed"] is False


def test_fmt():
    assert fmt(0.123456789) == "0.123457" and fmt(1e-9) == "1.00e-09" and fmt(None) == "–"
    assert fmt(True, verdict=True) == "PASS" and fmt(False, verdict=True) == "FAIL"
    assert fmt(True) == "yes" and fmt(3) == "3" and fmt(float("nan")) == "nan"


def test_json_has_no_nan():
    cmp = CompareResult(profile="p", n_users=1, n_responses=1, ks=(1,), methods=("rlhf",),
                        entries=(CompareEntry("rlhf", 1, float("nan"), 0.5, 0.0, 1, None, 0.0),),
                        policies={})
    data = json.loads(render_json(cmp))
    assert data["entries"][0]["robust_win_rate"] is None


# ---------------------------------------------------------------------------- atomic writes
def test_write_files_atomic(tmp_path):
    out = tmp_path / "rep"
    write_files({"a.txt": b"old", "plots/b.png": b"x"}, out)
    assert (out / "a.txt").read_bytes() == b"old"
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask

    # A write that fails half-way leaves the old file intact and no temporary file behind.
    with pytest.raises(TypeError):
        write_files({"a.txt": object()}, out)  # not bytes: fails inside the write
    assert (out / "a.txt").read_bytes() == b"old"
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_write_files_refuses_a_file_as_folder(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="--out"):
        write_files({"a": b""}, f)


def test_png_render():
    png = render_png(Plot("log", "t", "e", (Series("s", [1, 10, 100], [1.0, 0.0, 1e-3]),),
                          logx=True, logy=True))
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="same length"):
        Series("s", [1, 2], [1])



# ------------------------------------------------------------------- failures reach the exit code
def test_build_report_keeps_an_erroring_claim_as_fail(monkeypatch):
    from ualign.report import reproduce

    ok_row = _toy_report().claims[0]

    def run_claim(spec, config, tick=None):  # every claim of the registry passes but (iii)
        if spec.key == "iii":
            raise RuntimeError("solver exploded")
        return ok_row

    monkeypatch.setattr(C, "run_claim", run_claim)
    config = reproduce.ReproduceConfig.quick_config()
    rep = reproduce.build_report(config, None)
    assert sum(c.passed for c in rep.claims) == 10
    # the progress count is the registry's length
    assert reproduce.n_steps(config, None) == len(C.CLAIMS) == len(rep.claims) == 11
    assert not rep.passed
    bad = [c for c in rep.claims if not c.passed]
    assert [c.key for c in bad] == ["iii"]
    assert "RuntimeError: solver exploded" in bad[0].measured
    assert "no data folder" in rep.notes[0].lower()


def test_reproduce_exit_status_is_1_on_fail(monkeypatch, tmp_path, capsys):
    import argparse

    from ualign.cli import reproduce as cli
    from ualign.report import reproduce

    monkeypatch.setattr(reproduce, "build_report",
                        lambda *a, **kw: _toy_report(passed=False))
    args = argparse.Namespace(out=str(tmp_path / "r"), data=None, no_data=True, quick=True,
                              seed=0)
    assert cli.run(args) == 1
    assert "1 claim(s) FAIL" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "report.json").read_text())["passed"] is False
    monkeypatch.setattr(reproduce, "build_report", lambda *a, **kw: _toy_report(passed=True))
    assert cli.run(args) == 0
