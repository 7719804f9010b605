"""Tests for the certified best k-sets of distinct responses (``solve_kset(display="distinct")``).

Every number is held to an independent brute force: the literal distinct-display rule (the
user picks uniformly among the copies at the best level of S ∪ {y'}, y' counting once per side)
and the LP over ALL k-subsets solved by ``scipy.optimize.linprog``.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from ualign import Profile, set_win_rate
from ualign.core import robust_set_win_rate
from ualign.core.sets import set_win_matrix
from ualign.data import impartial_culture, nlhf_collapse, read_polis
from ualign.solvers import StoppedEarlyWarning, multiset_win_matrix, solve_kset
from ualign.solvers._talk import TIME_LIMIT
from ualign.solvers.kset import coverage as cov
from ualign.solvers.kset.mip import mip_price

pytestmark = pytest.mark.usefixtures("one_numba_thread")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def literal_wr(levels, weights, S, y):
    """WR(S, y') by the literal rule: copies of S (merged) and one copy of y'."""
    total = 0.0
    for u in range(levels.shape[0]):
        shown = [(z, "model") for z in sorted(set(S))] + [(y, "competitor")]
        best = min(levels[u, z] for z, _ in shown)
        at_best = [side for z, side in shown if levels[u, z] == best]
        total += weights[u] * at_best.count("model") / len(at_best)
    return total


def brute_force(P, k):
    """(best randomised value, best deterministic value) over all k-subsets."""
    n = P.n_responses
    sets = list(itertools.combinations(range(n), k))
    A = np.array([[literal_wr(P.levels, P.weights, S, y) for y in range(n)] for S in sets])
    m = len(sets)
    c = np.zeros(m + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=np.hstack([-A.T, np.ones((n, 1))]), b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0.0][None, :], b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    assert res.status == 0
    return -res.fun, A.min(axis=1).max()


def random_profile(seed, ties):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 8))
    U = int(rng.integers(5, 25))
    levels = rng.integers(0, 3, (U, n)) if ties else np.argsort(rng.random((U, n)), axis=1)
    return Profile.from_levels(levels, rng.random(U) + 0.1), rng


def policy_worst(P, r):
    n = P.n_responses
    return min(sum(p * literal_wr(P.levels, P.weights, S, y) for S, p in zip(r.sets, r.probs,
                                                                          strict=True))
               for y in range(n))


@pytest.mark.parametrize("pricer", ["enumeration", "mip", "streamed enumeration"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_distinct_kset_vs_brute_force(seed, ties, pricer):
    P, _rng = random_profile(seed, ties)
    n = P.n_responses
    for k in range(1, min(3, n) + 1):
        best, best_det = brute_force(P, k)
        r = solve_kset(P, k, display="distinct", pricer=pricer)
        assert r.display == "distinct" and r.exact
        assert r.value == pytest.approx(best, abs=1e-9)
        assert r.upper_bound >= r.value and r.upper_bound == pytest.approx(best, abs=1e-9)
        # sets of k distinct responses, a distribution, value = literal evaluation
        assert r.sets.shape[1] == k
        assert all(len(set(S)) == k for S in r.sets.tolist())
        assert np.all(r.probs > 0) and r.probs.sum() == pytest.approx(1.0, abs=1e-12)
        assert r.value == pytest.approx(policy_worst(P, r), abs=1e-12)
        assert r.opponent.sum() == pytest.approx(1.0) and np.all(r.opponent >= 0)
        d = solve_kset(P, k, display="distinct", randomised=False, pricer=pricer)
        assert d.value == pytest.approx(best_det, abs=1e-9)
        assert d.upper_bound >= d.value and d.upper_bound == pytest.approx(best_det, abs=1e-9)
        assert d.sets.shape == (1, k) and len(set(d.sets[0].tolist())) == k
        assert d.value == pytest.approx(policy_worst(P, d), abs=1e-12)
        assert d.value <= r.value + 1e-9


def test_distinct_kset_default_is_multiset():
    P, _ = random_profile(3, True)
    assert solve_kset(P, 2).display == "multiset"


def test_nlhf_collapse_distinct():
    eps = 0.05
    r = solve_kset(nlhf_collapse(eps), 2, display="distinct")
    assert r.sets.tolist() == [[0, 1]] and r.probs.tolist() == [1.0]
    assert r.value == pytest.approx(0.75 - eps / 2, abs=1e-12)
    assert r.upper_bound == pytest.approx(0.75 - eps / 2, abs=1e-9)
    # NLHF's k samples are one response: shown distinctly, one response wins ½ against it
    one = solve_kset(nlhf_collapse(eps), 1, display="distinct")
    assert one.value == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("pricer", ["enumeration", "mip"])
def test_shared_unique_favourite_caps_at_half(k, pricer):
    rng = np.random.default_rng(k)
    levels = np.array([np.r_[0, 1 + rng.permutation(5)] for _ in range(12)])
    P = Profile.from_levels(levels, rng.random(12) + 0.1)
    for randomised in (True, False):
        r = solve_kset(P, k, display="distinct", randomised=randomised, pricer=pricer)
        assert r.value == pytest.approx(0.5, abs=1e-9)
        assert r.upper_bound == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize(("k", "expected"), [(2, 17 / 24), (3, 13 / 16)])
@pytest.mark.parametrize("pricer", ["enumeration", "mip"])
def test_impartial_culture_n4(k, expected, pricer):
    r = solve_kset(impartial_culture(4), k, display="distinct", pricer=pricer)
    assert r.value == pytest.approx(expected, abs=1e-9)  # 0.7083, 0.8125 (THEORY §9)
    assert r.upper_bound == pytest.approx(expected, abs=1e-9)
    assert round(r.value, 4) == {2: 0.7083, 3: 0.8125}[k]


@pytest.mark.parametrize("seed", range(3))
def test_win_matrix_of_distinct_sets_is_the_distinct_rule(seed):
    """The master's rows (the engine's distinct set_win_matrix) and the engine's set_win_rate:
    for a repeat-free set and one competitor the multiset rule is the distinct one."""
    P, _ = random_profile(seed, True)
    n = P.n_responses
    sets = np.array(list(itertools.combinations(range(n), min(3, n))))
    A = multiset_win_matrix(P.levels, P.weights, sets)
    for j, S in enumerate(sets):
        lit = [literal_wr(P.levels, P.weights, S, y) for y in range(n)]
        assert A[j] == pytest.approx(lit, abs=1e-12)
        # the distinct master's rows (solvers.kset.problem.Problem.rows)
        assert set_win_matrix(P.levels, P.weights, S[None], "distinct")[0] == pytest.approx(
            lit, abs=1e-12)
        assert [set_win_rate(P, S[None], [1.0], y, display="distinct")
                for y in range(n)] == pytest.approx(lit, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_pricing_tables_and_bounds(seed):
    """Heuristic price = q · WR(S, ·); per-user, submodular and MIP bounds >= every set's
    price; the MIP's set attains the maximum."""
    P, rng = random_profile(seed, True)
    lv = P.levels.astype(np.int64)
    n = P.n_responses
    L = int(lv.max()) + 1
    q = rng.random(n) * (rng.random(n) < 0.6)
    q[0] += 0.1
    q /= q.sum()
    k = min(3, n)
    T = cov.tables(lv, P.weights, q, L)
    sets = np.array(list(itertools.combinations(range(n), k)))
    prices = multiset_win_matrix(lv, P.weights, sets) @ q
    for S, p in zip(sets, prices, strict=True):
        assert cov.price(T, lv, S) == pytest.approx(p, abs=1e-12)
    assert cov.per_user_bound(T, lv, k, L) >= prices.max() - 1e-12
    pairs = np.array(list(itertools.combinations(range(n), 2)))
    P2 = cov.pair_prices(T, lv, L)
    assert P2[pairs[:, 0], pairs[:, 1]] == pytest.approx(
        multiset_win_matrix(lv, P.weights, pairs) @ q, abs=1e-12)
    found, sub = cov.heuristic(T, lv, k, 4)
    assert sub >= prices.max() - 1e-12
    for S, p in found.items():
        assert p == pytest.approx(cov.price(T, lv, S), abs=1e-12) and p <= prices.max() + 1e-12
    S, price, bound, _, _ = mip_price(T, lv, k, None, 1e-12, 10**7)
    assert price == pytest.approx(prices.max(), abs=1e-9)
    assert bound >= prices.max() - 1e-12


def test_time_limit_keeps_a_certified_bracket():
    rng = np.random.default_rng(0)
    P = Profile.from_levels(rng.integers(0, 3, (60, 30)), rng.random(60))
    r = solve_kset(P, 4, display="distinct", pricer="mip", time_limit=0.5)
    assert r.upper_bound >= r.value
    assert r.value == pytest.approx(
        robust_set_win_rate(P, r.sets, r.probs, display="distinct").value, abs=1e-12)
    full = solve_kset(P, 4, display="distinct", gap_tol=1e-6, time_limit=60)
    assert r.value <= full.upper_bound + 1e-9 and full.value <= r.upper_bound + 1e-9


def test_distinct_kset_bad_input():
    P, _ = random_profile(0, True)
    n = P.n_responses
    with pytest.raises(ValueError, match="k must be at most the number of responses"):
        solve_kset(P, n + 1, display="distinct")
    with pytest.raises(ValueError, match="k must be an integer"):
        solve_kset(P, 0, display="distinct")
    with pytest.raises(ValueError, match="display must be one of"):
        solve_kset(P, 2, display="merged")
    with pytest.raises(ValueError, match="time_limit must be a positive number"):
        solve_kset(P, 2, display="distinct", time_limit=-1)
    with pytest.raises(ValueError, match="gap_tol must be >= 0"):
        solve_kset(P, 2, display="distinct", gap_tol=-1e-3)
    with pytest.raises(ValueError, match="pricer must be one of"):
        solve_kset(P, 2, display="distinct", pricer="greedy")
    with pytest.raises(ValueError, match="n_seeds must be a positive integer"):
        solve_kset(P, 2, display="distinct", n_seeds=0)
    with pytest.raises(ValueError, match="unknown option 'seeds'"):
        solve_kset(P, 2, display="distinct", seeds=3)
    with pytest.raises(ValueError, match="randomised must be True or False"):
        solve_kset(P, 2, display="distinct", randomised="yes")
    with pytest.raises(ValueError, match="option 'randomised' is for display='distinct'"):
        solve_kset(P, 2, randomised=False)
    with pytest.raises(ValueError, match="option 'time_limit' is for display='distinct'"):
        solve_kset(P, 2, time_limit=1.0)


def test_time_limit_warns_names_the_option_and_progress_talks(capsys):
    P = impartial_culture(30, 200, seed=1)
    with pytest.warns(StoppedEarlyWarning, match=r"time_limit= \(seconds; now 0.05 s\)"):
        r = solve_kset(P, 3, display="distinct", time_limit=0.05, progress=True)
    assert not r.exact and not r.converged and r.diagnostics.status == "time_limit"
    assert r.value <= r.upper_bound and r.certificate > 1e-9
    err = capsys.readouterr().err
    assert "ualign kset-distinct: round 1: value" in err and "upper bound" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a closed gap is silent, and so is progress=False
        full = solve_kset(P, 3, display="distinct", progress=False)
    assert full.exact and full.converged and capsys.readouterr().err == ""
    assert r.value <= full.upper_bound + 1e-12 and full.value <= r.upper_bound + 1e-12


def test_default_time_limit_holds_on_bowling_green_at_k8():
    # The case: with default options it ran 13 minutes silently; now it returns at the
    # default limit (60 s, checked between rounds and passed to the MIP) with a certified bracket
    # and a warning, or closes the gap first.
    path = DATA / "polis" / "american-assembly.bowling-green"
    if not path.is_dir():
        pytest.skip("needs ../shared/data")
    P = read_polis(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = solve_kset(P, 8, display="distinct")
    assert r.seconds <= 1.5 * TIME_LIMIT + 15.0
    assert 8 / 9 - 1e-9 <= r.value <= r.upper_bound <= 1.0
    assert r.value == pytest.approx(
        robust_set_win_rate(P, r.sets, r.probs, display="distinct").value, abs=1e-12)
    stopped = [w for w in caught if issubclass(w.category, StoppedEarlyWarning)]
    assert r.exact or (len(stopped) == 1 and "time_limit=" in str(stopped[0].message))
