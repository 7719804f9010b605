"""The claims (i)-(vii) on small instances with the real solvers: each verdict is computed from
measured numbers, and each claim fails when its bound is made impossible to meet."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ualign.data import impartial_culture, mallows_mixture, nlhf_collapse
from ualign.report import claims as C
from ualign.report.compare import compare_methods, kset_robust_win_rate


@pytest.fixture(scope="module")
def het():
    return mallows_mixture(6, n_users=60, phi=(0.5, 0.7), groups=2, group_weights=(0.6, 0.4),
                           seed=3)


def test_claim_i(het):
    row = C.claim_ualign_equilibrium(het, "het", ks=(1, 2, 5))
    assert row.passed, row.cases
    for r in row.rows:
        assert r.bound == pytest.approx(r.k / (r.k + 1))
        assert -1e-6 <= r.gap <= 1e-12 and r.f == pytest.approx(r.bound, abs=1e-6)
    assert not C.claim_ualign_equilibrium(het, "het", ks=(2,), tol=-1e-3).passed


def test_claim_iii():
    eps = 0.1
    row = C.claim_nlhf_collapse(nlhf_collapse(eps), eps, ks=(1, 2, 3, 6))
    assert row.passed, row.cases
    by_k = {r.k: r for r in row.rows}
    assert by_k[1].f_nlhf == pytest.approx(0.5)  # the copy a ties at k = 1
    for k in (2, 3, 6):
        assert by_k[k].wr_b == pytest.approx(0.6, abs=1e-12)  # WR against b
        assert by_k[k].f_nlhf == pytest.approx(0.6, abs=1e-12)  # robust f_NLHF
        assert by_k[k].f_ualign == pytest.approx(k / (k + 1), abs=1e-6)  # f_U
        assert 0 < by_k[k].pi_a < 1  # the equilibrium mixes
    # claiming the NLHF curve rises to k/(k+1) would be false: the same numbers give FAIL
    assert by_k[3].f_nlhf < 3 / 4 - 0.1


def test_claim_iv_small():
    row = C.claim_best_kset_impartial_culture(Ns=(3, 4), ks=(1, 2, 3))
    assert row.passed, row.cases
    assert len(row.cases) == 6
    for r in row.rows:
        assert r.formula == pytest.approx(r.k / (r.k + 1) + (r.k - 1) / (2 * (r.k + 1) * r.N))
        assert r.best == pytest.approx(r.formula, abs=1e-6)


def test_kset_value_is_reevaluated():
    P = impartial_culture(4, n_users=None)
    cmp = compare_methods(P, (2,), ("kset",))
    ex = cmp.ksets["kset"][2]
    v, _ = kset_robust_win_rate(P, np.array(ex.sets), np.array(ex.probs))
    assert cmp.value("kset", 2) == v == pytest.approx(ex.solver_value, abs=1e-9)
    assert v == pytest.approx(2 / 3 + 1 / 24, abs=1e-9)


def test_claim_v(het):
    ic = impartial_culture(4, n_users=None)
    row = C.claim_ell_output_opponents([("het", het, False), ("ic", ic, True)], ks=(1, 2),
                                       ells=(1, 2))
    assert row.passed, row.cases
    for r in row.rows:
        assert r.wr_enumeration == pytest.approx(r.wr_solver, abs=1e-9)
        assert r.wr_enumeration >= r.lower - 1e-6
        if r.instance == "ic":  # uniform equilibrium on impartial culture: at most k/(k+ℓ)
            assert r.wr_enumeration <= r.cap + 1e-9


def test_claim_vi(het):
    row = C.claim_hedge_sampled_iterate(het, "het", ks=(1, 3), Ts=(10, 200))
    assert row.passed, row.cases
    n = het.n_responses
    for r in row.rows:
        assert r.iterates == r.T
        assert r.bound == pytest.approx(r.k / (r.k + 1) - math.sqrt(math.log(n) / (2 * r.T)))
        assert r.averaged >= r.sampled - 1e-12  # convexity: the average does at least as well
        assert r.sampled <= r.k / (r.k + 1) + 1e-12


def test_claim_vii(het):
    row = C.claim_last_iterate(het, "het", ks=(2,), T=600)
    assert row.passed, row.cases
    methods = [r.dynamics for r in row.rows]
    assert methods == ["optimistic", "extragradient", "mmd", "hedge (last iterate)"]
    assert len(row.plots) == 1 and len(row.plots[0].series) == 6  # 4 dynamics + 2 bounds
    assert [s.style for s in row.plots[0].series].count("dashed") == 2  # the verdicts' bounds
    # too few MMD steps to reach the fixed point: the claim is not declared
    short = C.claim_last_iterate(het, "het", ks=(2,), T=5)
    assert not short.passed


def test_group_table_matches_subprofile():
    from ualign import Profile, robust_win_rate
    from ualign.report.realdata import group_table

    P = mallows_mixture(5, n_users=40, phi=0.5, groups=2, group_weights=(0.7, 0.3), seed=4)
    cmp = compare_methods(P, (1, 3), ("nlhf", "ualign"))
    t = group_table(P, cmp)
    assert t["k"] == 3 and t["columns"] == ["group", "share of users", "nlhf (k=3)",
                                            "ualign (k=3)"]
    assert sum(r[1] for r in t["rows"]) == pytest.approx(1.0)
    g1 = P.groups == 1
    sub = Profile.from_levels(P.levels[g1], P.weights[g1])
    expect = robust_win_rate(sub, np.asarray(cmp.policies["ualign"][3]), 3).value
    assert t["rows"][1][3] == pytest.approx(expect, abs=1e-12)
