"""Distinct display (THEORY.md §9) held to a literal brute-force enumeration, and its facts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
import ualign
from oracle import distinct_pick_share, instances, random_policy
from ualign import Profile
from ualign.core import _kernels, robust_set_win_rate
from ualign.core.sets import policy_win_rates, set_win_matrix
from ualign.data.generators import random_profile


# ----------------------------------------------------------------------------- the literal rule
def brute_win_rate(levels, weights, pi, k, rho, ell) -> float:
    return oracle.win_rate(levels, weights, pi, k, rho, ell, share=distinct_pick_share)


def brute_deviation(levels, weights, pi, k):
    n = levels.shape[1]
    return np.array([1.0 - brute_win_rate(levels, weights, pi, k, np.eye(n)[y], 1)
                     for y in range(n)])


def brute_set_win_rate(levels, weights, sets, probs, rho, ell) -> float:
    total = 0.0
    for S, x in zip(sets, probs, strict=True):
        for T, q in oracle.tuples(rho, ell):
            for u in range(len(weights)):
                total += weights[u] * x * q * distinct_pick_share(levels[u], list(S), T)
    return total


CASES = [(U, n, k, ties, seed) for seed, (U, n, k) in enumerate(
    [(1, 1, 1), (1, 3, 2), (3, 3, 1), (4, 3, 3), (5, 4, 2), (2, 4, 4), (6, 2, 5), (3, 5, 3)])
    for ties in (False, True)]


# ----------------------------------------------------------------------------- brute force
@pytest.mark.parametrize("U,n,k,ties,seed", CASES)
def test_distinct_deviation_payoffs_match_brute_force(U, n, k, ties, seed):
    rng = np.random.default_rng(seed)
    P = random_profile(rng, n, U, n_levels=max(1, n - 1) if ties else None)
    for sparse in (False, True):
        pi = random_policy(rng, n, sparse)
        fast = ualign.deviation_payoffs(P, pi, k, display="distinct")
        brute = brute_deviation(P.levels, P.weights, pi, k)
        np.testing.assert_allclose(fast, brute, rtol=0, atol=1e-12)
        assert np.all((fast >= 0) & (fast <= 1))
        if not ties:
            np.testing.assert_allclose(
                _kernels.distinct_payoffs_numpy(P.levels, P.weights, pi, k), fast,
                rtol=0, atol=1e-12)


def test_all_tied_large_class_matches_brute_force():
    """One class of 5 responses and k = 4: the DP over draws used x distinct count."""
    rng = np.random.default_rng(4)
    P = Profile.from_levels(np.array([[0, 0, 0, 0, 0], [1, 0, 0, 1, 0], [0, 1, 1, 1, 1]]),
                            [0.5, 0.3, 0.2])
    pi = rng.dirichlet(np.ones(5))
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 4, display="distinct"),
                               brute_deviation(P.levels, P.weights, pi, 4), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k,ell", [(1, 2), (2, 2), (3, 1), (2, 3), (1, 1), (3, 3)])
@pytest.mark.parametrize("ties", [False, True])
def test_distinct_win_rate_against_ell_samples_matches_brute_force(k, ell, ties):
    rng = np.random.default_rng(7 * k + ell + ties)
    P = random_profile(rng, 4, 4, n_levels=max(1, 4 - 1) if ties else None)
    pi, rho = random_policy(rng, 4), random_policy(rng, 4, sparse=True)
    got = ualign.win_rate(P, pi, k, rho, ell=ell, display="distinct")
    assert got == pytest.approx(brute_win_rate(P.levels, P.weights, pi, k, rho, ell), abs=1e-12)
    got = ualign.win_rate(P, pi, k, 2, ell=ell, display="distinct")
    e = np.eye(4)[2]
    assert got == pytest.approx(brute_win_rate(P.levels, P.weights, pi, k, e, ell), abs=1e-12)
    # the copying opponent: no identity, but both sides merged the same way
    got = ualign.win_rate(P, pi, k, pi, ell=ell, display="distinct")
    assert got == pytest.approx(brute_win_rate(P.levels, P.weights, pi, k, pi, ell), abs=1e-12)


@pytest.mark.parametrize("ell", [1, 2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_distinct_set_win_rate_matches_brute_force(ell, ties):
    rng = np.random.default_rng(11 + ell + ties)
    P = random_profile(rng, 4, 5, n_levels=max(1, 4 - 1) if ties else None)
    sets = np.array([[0, 1, 1], [2, 3, 0], [3, 3, 3], [1, 2, 0], [2, 2, 1]])
    probs = rng.dirichlet(np.ones(5))
    rho = random_policy(rng, 4, sparse=True)
    got = ualign.set_win_rate(P, sets, probs, rho, ell=ell, display="distinct")
    want = brute_set_win_rate(P.levels, P.weights, sets, probs, rho, ell)
    assert got == pytest.approx(want, abs=1e-12)
    for y in range(4):
        got = ualign.set_win_rate(P, sets, probs, y, ell=ell, display="distinct")
        want = brute_set_win_rate(P.levels, P.weights, sets, probs, np.eye(4)[y], ell)
        assert got == pytest.approx(want, abs=1e-12)


def test_distinct_set_of_iid_samples_equals_product_policy():
    """All ordered k-tuples of π with their probabilities, displayed distinctly, is π^{⊗k}
    displayed distinctly, against single responses and against ℓ samples."""
    rng = np.random.default_rng(3)
    P = random_profile(rng, 4, 6, n_levels=max(1, 4 - 1))
    pi, k = random_policy(rng, 4), 3
    sets, probs = zip(*oracle.tuples(pi, k), strict=True)
    sets, probs = np.array(sets), np.array(probs)
    for y in range(4):
        assert ualign.set_win_rate(P, sets, probs, y, display="distinct") == pytest.approx(
            ualign.win_rate(P, pi, k, y, display="distinct"), abs=1e-12)
    rho = random_policy(rng, 4)
    assert ualign.set_win_rate(P, sets, probs, rho, ell=2, display="distinct") == pytest.approx(
        ualign.win_rate(P, pi, k, rho, ell=2, display="distinct"), abs=1e-12)


@pytest.mark.parametrize("display", ["multiset", "distinct"])
def test_win_matrix_and_robust_set_win_rate(display):
    rng = np.random.default_rng(21)
    P = random_profile(rng, 5, 7, n_levels=max(1, 5 - 1))
    sets = np.array([[0, 0, 1], [2, 3, 4], [1, 1, 1], [4, 2, 4]])
    probs = rng.dirichlet(np.ones(4))
    A = set_win_matrix(P.levels, P.weights, sets, display)
    assert A.shape == (4, 5)
    for j in range(4):
        for y in range(5):
            assert A[j, y] == pytest.approx(
                ualign.set_win_rate(P, sets[j:j + 1], [1.0], y, display=display), abs=1e-14)
    r = robust_set_win_rate(P, sets, probs, display)
    assert r.display == display
    wr = policy_win_rates(P.levels, P.weights, sets, probs, display)
    for y in range(5):
        assert wr[y] == pytest.approx(
            ualign.set_win_rate(P, sets, probs, y, display=display), abs=1e-15)
    assert r.value == pytest.approx((probs @ A).min(), abs=1e-14)
    assert r.worst == int(np.argmin(probs @ A))


# ----------------------------------------------------------------------------- k = 1 and ℓ = 1
@pytest.mark.parametrize("ties", [False, True])
def test_k1_equals_multiset(ties):
    rng = np.random.default_rng(31 + ties)
    P = random_profile(rng, 6, 9, n_levels=max(1, 6 - 1) if ties else None)
    pi, rho = random_policy(rng, 6), random_policy(rng, 6)
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 1, display="distinct"),
                               ualign.deviation_payoffs(P, pi, 1), rtol=0, atol=1e-15)
    assert ualign.win_rate(P, pi, 1, rho, display="distinct") == pytest.approx(
        ualign.win_rate(P, pi, 1, rho), abs=1e-15)
    sets = np.arange(6)[:, None]
    assert ualign.set_win_rate(P, sets, pi, rho, display="distinct") == pytest.approx(
        ualign.set_win_rate(P, sets, pi, rho), abs=1e-15)
    r1, r2 = (ualign.robust_win_rate(P, pi, 1, display=d) for d in ("distinct", "multiset"))
    assert r1.value == pytest.approx(r2.value, abs=1e-15) and r1.worst == r2.worst
    assert (r1.display, r2.display) == ("distinct", "multiset")


def test_sets_of_distinct_responses_win_the_same_under_both_displays_against_one_response():
    rng = np.random.default_rng(5)
    P = random_profile(rng, 6, 8, n_levels=max(1, 6 - 1))
    sets = np.array([[0, 1, 2], [3, 4, 5], [0, 2, 5]])
    for y in range(6):
        assert ualign.set_win_rate(P, sets, [0.2, 0.3, 0.5], y, display="distinct") == \
            ualign.set_win_rate(P, sets, [0.2, 0.3, 0.5], y)


# ----------------------------------------------------------------------------- THEORY §9 facts
def _all_subsets_lp(P, k):
    """The best distribution over k-subsets of distinct responses (an LP over all of them)."""
    from scipy.optimize import linprog

    n = P.n_responses
    sets = np.array(list(itertools.combinations(range(n), k)))
    A = set_win_matrix(P.levels, P.weights, sets, "distinct")
    m = len(sets)
    c = np.zeros(m + 1)
    c[-1] = -1.0
    res = linprog(c, A_ub=np.hstack([-A.T, np.ones((n, 1))]), b_ub=np.zeros(n),
                  A_eq=np.hstack([np.ones((1, m)), [[0.0]]]), b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    assert res.status == 0
    return sets, res.x[:m], float(res.x[-1])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_shared_unique_favourite_caps_every_policy_at_half(k):
    """Everyone's favourite is response 0: the competitor shows it, and the best distinct
    k-output policy wins exactly ½, for every k."""
    rng = np.random.default_rng(k)
    levels = np.column_stack([np.zeros(6, dtype=int),
                              1 + np.argsort(rng.random((6, 4)), axis=1)])
    P = Profile.from_levels(levels, rng.random(6) + 0.1)
    _, x, v = _all_subsets_lp(P, k)
    assert v == pytest.approx(0.5, abs=1e-9)
    sets, _, _ = _all_subsets_lp(P, k)
    best = robust_set_win_rate(P, sets, x, "distinct")
    assert best.value == pytest.approx(0.5, abs=1e-9) and best.worst == 0
    # and product policies: the favourite's point mass wins ½, anything else less
    assert ualign.robust_win_rate(P, np.eye(5)[0], k, "distinct").value == pytest.approx(0.5)
    pi = rng.dirichlet(np.ones(5))
    assert ualign.robust_win_rate(P, pi, k, "distinct").value <= 0.5 + 1e-12


@pytest.mark.parametrize("k", [2, 3, 5, 20])
def test_nlhf_collapse_under_distinct_display(k):
    eps = 0.1
    C = Profile.from_rankings([[0, 1], [1, 0]], weights=[0.5 + eps, 0.5 - eps])
    # δ_a's k samples are one response: against a itself they win exactly ½
    assert ualign.win_rate(C, [1.0, 0.0], k, 0, display="distinct") == pytest.approx(0.5,
                                                                                     abs=1e-15)
    assert ualign.robust_win_rate(C, [1.0, 0.0], k, "distinct").value == pytest.approx(0.5)
    # showing {a, b} wins ¾ - ε/2 (against b: ½ + ε users prefer a, the rest tie at ½)
    r = robust_set_win_rate(C, [[0, 1]], [1.0], "distinct")
    assert r.value == pytest.approx(0.75 - eps / 2, abs=1e-15)
    # the multiset display of δ_a against a: k/(k+1)
    assert ualign.win_rate(C, [1.0, 0.0], k, 0) == pytest.approx(k / (k + 1), abs=1e-15)


@pytest.mark.parametrize("k,want", [(2, 0.7083), (3, 0.8125)])
def test_impartial_culture_n4(k, want):
    orders = list(itertools.permutations(range(4)))
    P = Profile.from_rankings(orders)
    _, _, v = _all_subsets_lp(P, k)
    assert v == pytest.approx(want, abs=5e-5)
    # equal to the multiset value of THEORY §6: k/(k+1) + (k-1)/(2(k+1)N)
    assert v == pytest.approx(k / (k + 1) + (k - 1) / (2 * (k + 1) * 4), abs=1e-9)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(instances())
def test_distinct_payoffs_in_unit_interval_and_relabelling(inst):
    P, k, rng = inst
    n = P.n_responses
    pi = random_policy(rng, n, sparse=True)
    L = ualign.deviation_payoffs(P, pi, k, display="distinct")
    assert np.all(L >= 0) and np.all(L <= 1 + 1e-13)  # masses sum to 1 up to rounding
    perm = rng.permutation(n)
    Q = Profile.from_levels(P.levels[:, perm], P.weights)
    np.testing.assert_allclose(ualign.deviation_payoffs(Q, pi[perm], k, display="distinct"),
                               L[perm], atol=1e-13)


@settings(max_examples=30, deadline=None)
@given(instances())
def test_distinct_batched_equals_looped(inst):
    P, k, rng = inst
    n = P.n_responses
    pis = rng.dirichlet(np.ones(n), size=(2, 3))
    batched = ualign.deviation_payoffs(P, pis, k, display="distinct")
    assert batched.shape == (2, 3, n)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(
                batched[i, j], ualign.deviation_payoffs(P, pis[i, j], k, display="distinct"))


@settings(max_examples=30, deadline=None)
@given(instances(), st.integers(1, 3))
def test_distinct_win_rate_in_unit_interval(inst, ell):
    P, k, rng = inst
    k = min(k, 4)
    n = P.n_responses
    pi, rho = random_policy(rng, n), random_policy(rng, n, sparse=True)
    v = ualign.win_rate(P, pi, k, rho, ell=ell, display="distinct")
    assert -1e-12 <= v <= 1 + 1e-12


# ----------------------------------------------------------------------------- edge cases, errors
def test_distinct_large_k_is_stable():
    rng = np.random.default_rng(2)
    P = random_profile(rng, 6, 5)
    pi = np.array([1 - 5e-12, 1e-12, 1e-12, 1e-12, 1e-12, 1e-12])
    L = ualign.deviation_payoffs(P, pi, 1000, display="distinct")
    np.testing.assert_allclose(L, _kernels.distinct_payoffs_numpy(P.levels, P.weights, pi, 1000),
                               rtol=1e-9, atol=1e-300)
    # the strict fast path has no cancellation where (a+p)^k - a^k does
    for a, p, k in [(0.5, 1e-14, 16), (1 - 1e-9, 1e-9, 1000), (0.0, 0.3, 3), (0.3, 0.0, 5)]:
        from mpmath import mp, mpf

        with mp.workdps(60):
            want = float(mpf(a) ** k + (((mpf(a) + mpf(p)) ** k) - mpf(a) ** k) / 2)
        got = _kernels.strict_distinct_payoff(a, p, k, _kernels.top_bit(k))
        assert got == pytest.approx(want, rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("display", ["set", "", None, 1, "Distinct"])
def test_unknown_display_raises(display):
    P = Profile.from_rankings([[0, 1], [1, 0]])
    pi = [0.5, 0.5]
    for call in (lambda: ualign.deviation_payoffs(P, pi, 2, display=display),
                 lambda: ualign.win_rate(P, pi, 2, 0, display=display),
                 lambda: ualign.robust_win_rate(P, pi, 2, display=display),
                 lambda: ualign.set_win_rate(P, [[0, 1]], [1.0], 0, display=display),
                 lambda: robust_set_win_rate(P, [[0, 1]], [1.0], display=display),
                 lambda: ualign.exploitability(P, pi, 2, display=display)):
        with pytest.raises(ValueError, match="display"):
            call()


def test_exploitability_undefined_under_distinct():
    P = Profile.from_rankings([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="display"):
        ualign.exploitability(P, [0.5, 0.5], 2, display="distinct")
    assert ualign.exploitability(P, [0.5, 0.5], 2, display="multiset") == pytest.approx(
        ualign.exploitability(P, [0.5, 0.5], 2))


@pytest.mark.parametrize("k", [1, 2, 3, 5, 16, 40])
@pytest.mark.parametrize("size", [2, 3, 6])
def test_tie_class_subset_form_equals_dp(k, size):
    """The two exact forms of a tie class's payoff: the subset sum (small classes) and the DP
    over draws used x distinct count (large ones) agree."""
    rng = np.random.default_rng(k * 10 + size)
    masses = rng.dirichlet(np.ones(size + 1))[:size] * 0.9
    a = 1.0 - masses.sum() - 0.05
    cnt = np.zeros(k + 1)
    _kernels.class_distinct_counts(masses, a, k, np.zeros(k + 1), cnt)
    dp = float(cnt @ (1.0 / (1.0 + np.arange(k + 1))))
    sub = _kernels.class_distinct_payoff_subsets(masses, a, k, _kernels.top_bit(k),
                                                 np.zeros(1 << size), np.zeros(size + 1))
    assert sub == pytest.approx(dp, rel=1e-13, abs=1e-300)


def test_large_tie_class_uses_dp_and_matches_brute_force():
    """A class of 12 positive-mass responses at k = 3 and k = 16 (the DP path), held to the
    subset form; and at k = 2 to brute force."""
    rng = np.random.default_rng(8)
    levels = np.zeros((2, 12), dtype=int)
    levels[1, 6:] = 1
    P = Profile.from_levels(levels, [0.6, 0.4])
    pi = rng.dirichlet(np.ones(12))
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 2, display="distinct"),
                               brute_deviation(P.levels, P.weights, pi, 2), rtol=0, atol=1e-12)
    for k in (3, 16):
        L = ualign.deviation_payoffs(P, pi, k, display="distinct")
        sub0 = _kernels.class_distinct_payoff_subsets(pi, 0.0, k, _kernels.top_bit(k),
                                                      np.zeros(1 << 12), np.zeros(13))
        # user 1: responses 0-5 are its favourite class (6-11 strictly worse)
        top = _kernels.class_distinct_payoff_subsets(pi[:6], pi[6:].sum(), k,
                                                     _kernels.top_bit(k), np.zeros(1 << 6),
                                                     np.zeros(7))
        low = _kernels.class_distinct_payoff_subsets(pi[6:], 0.0, k, _kernels.top_bit(k),
                                                     np.zeros(1 << 6), np.zeros(7))
        want = 0.6 * sub0 + 0.4 * np.r_[np.full(6, top), np.full(6, low)]
        np.testing.assert_allclose(L, want, rtol=1e-12, atol=0)
