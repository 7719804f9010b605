"""Exact payoffs and win rates held to brute force, identities, structure and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
import ualign
from oracle import instances, random_policy
from ualign import Profile
from ualign.core import _kernels
from ualign.data.generators import random_profile

CASES = [(U, n, k, ties, seed) for seed, (U, n, k) in enumerate(
    [(1, 1, 1), (1, 3, 2), (3, 3, 1), (4, 3, 3), (5, 4, 2), (2, 4, 4), (6, 2, 5)])
    for ties in (False, True)]


@pytest.mark.parametrize("U,n,k,ties,seed", CASES)
def test_deviation_payoffs_match_brute_force(U, n, k, ties, seed):
    rng = np.random.default_rng(seed)
    P = random_profile(rng, n, U, n_levels=max(1, n - 1) if ties else None)
    for sparse in (False, True):
        pi = random_policy(rng, n, sparse)
        fast = ualign.deviation_payoffs(P, pi, k)
        brute = oracle.deviation_payoffs(P.levels, P.weights, pi, k)
        np.testing.assert_allclose(fast, brute, rtol=0, atol=1e-12)
        exact = oracle.sum_form_payoffs(P.levels, P.weights, pi, k)
        np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("U,n,k,ties,seed", CASES)
def test_numpy_form_matches_kernel(U, n, k, ties, seed):
    rng = np.random.default_rng(100 + seed)
    P = random_profile(rng, n, U, n_levels=max(1, n - 1) if ties else None)
    pi = random_policy(rng, n, sparse=True)
    np.testing.assert_allclose(_kernels.payoffs_numpy(P.levels, P.weights, pi, k),
                               ualign.deviation_payoffs(P, pi, k), rtol=0, atol=1e-12)


@pytest.mark.parametrize("k,ell", [(1, 2), (2, 2), (3, 1), (2, 3), (1, 1)])
@pytest.mark.parametrize("ties", [False, True])
def test_win_rate_against_ell_samples_matches_brute_force(k, ell, ties):
    rng = np.random.default_rng(7 * k + ell + ties)
    P = random_profile(rng, 4, 4, n_levels=3 if ties else None)
    pi, rho = random_policy(rng, 4), random_policy(rng, 4, sparse=True)
    got = ualign.win_rate(P, pi, k, rho, ell=ell)
    want = oracle.win_rate(P.levels, P.weights, pi, k, rho, ell)
    assert got == pytest.approx(want, abs=1e-12)
    # a pure opponent given as an index
    got = ualign.win_rate(P, pi, k, 2, ell=ell)
    e = np.eye(4)[2]
    assert got == pytest.approx(oracle.win_rate(P.levels, P.weights, pi, k, e, ell), abs=1e-12)


@pytest.mark.parametrize("ell", [1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_set_win_rate_matches_brute_force(ell, ties):
    rng = np.random.default_rng(11 + ell + ties)
    P = random_profile(rng, 4, 5, n_levels=3 if ties else None)
    sets = np.array([[0, 1, 1], [2, 3, 0], [3, 3, 3], [1, 2, 0]])
    probs = rng.dirichlet(np.ones(4))
    rho = random_policy(rng, 4, sparse=True)
    got = ualign.set_win_rate(P, sets, probs, rho, ell=ell)
    want = oracle.set_win_rate(P.levels, P.weights, sets, probs, rho, ell)
    assert got == pytest.approx(want, abs=1e-12)


def test_set_win_rate_of_iid_sets_equals_product_policy():
    """Enumerating all ordered k-tuples of π with their probabilities is π^{⊗k}."""
    rng = np.random.default_rng(3)
    P = random_profile(rng, 4, 6, n_levels=3)
    pi, k = random_policy(rng, 4), 3
    sets, probs = zip(*oracle.tuples(pi, k), strict=True)
    for y in range(4):
        assert ualign.set_win_rate(P, np.array(sets), np.array(probs), y) == pytest.approx(
            ualign.win_rate(P, pi, k, y), abs=1e-12)


def test_robust_win_rate_and_exploitability():
    rng = np.random.default_rng(5)
    P = random_profile(rng, 5, 8, n_levels=4)
    pi, k = random_policy(rng, 5), 3
    L = ualign.deviation_payoffs(P, pi, k)
    r = ualign.robust_win_rate(P, pi, k)
    assert r.worst == int(np.argmax(L))
    assert r.value == pytest.approx(1 - L.max(), abs=1e-15)
    assert r.value == pytest.approx(min(ualign.win_rate(P, pi, k, y) for y in range(5)))
    assert ualign.exploitability(P, pi, k) == pytest.approx(L.max() - 1 / (k + 1), abs=1e-15)


def test_batched_equals_looped():
    rng = np.random.default_rng(9)
    P = random_profile(rng, 6, 20, n_levels=5)
    pis = rng.dirichlet(np.ones(6), size=(2, 3))
    batched = ualign.deviation_payoffs(P, pis, 4)
    assert batched.shape == (2, 3, 6)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(batched[i, j], ualign.deviation_payoffs(P, pis[i, j], 4))
    e = ualign.exploitability(P, pis, 4)
    assert e.shape == (2, 3)


# ----------------------------------------------------------------------------- hand values
def test_hand_values():
    # Rock-paper-scissors cycle at k = 1: uniform play, each response is picked half the time.
    P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    np.testing.assert_allclose(ualign.deviation_payoffs(P, np.ones(3) / 3, 1), 0.5, atol=1e-15)
    assert ualign.exploitability(P, np.ones(3) / 3, 1) == pytest.approx(0.0, abs=1e-15)
    # NLHF collapse: δ_a against b wins 1/2 + ε for every k.
    eps = 0.1
    C = Profile.from_rankings([[0, 1], [1, 0]], weights=[0.5 + eps, 0.5 - eps])
    for k in (1, 2, 5, 50):
        assert ualign.win_rate(C, [1.0, 0.0], k, 1) == pytest.approx(0.5 + eps, abs=1e-15)
    # Everyone indifferent: k copies against one, each copy equally likely -> k/(k+1).
    T = Profile.from_levels(np.zeros((3, 4), dtype=int))
    for k in (1, 3, 7):
        assert ualign.robust_win_rate(T, [0.25] * 4, k).value == pytest.approx(k / (k + 1))


# ----------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(instances())
def test_exchangeability_identity(inst):
    P, k, rng = inst
    pi = random_policy(rng, P.n_responses, sparse=True)
    L = ualign.deviation_payoffs(P, pi, k)
    assert pi @ L == pytest.approx(1 / (k + 1), abs=1e-12)
    # the copying opponent wins exactly 1/(k+1)
    assert ualign.win_rate(P, pi, k, pi) == pytest.approx(k / (k + 1), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(instances(), st.floats(0.0, 1.0))
def test_convexity_in_policy(inst, lam):
    P, k, rng = inst
    n = P.n_responses
    p, q = random_policy(rng, n), random_policy(rng, n, sparse=True)
    mid = lam * p + (1 - lam) * q
    Lp, Lq, Lm = (ualign.deviation_payoffs(P, x, k) for x in (p, q, mid))
    assert np.all(Lm <= lam * Lp + (1 - lam) * Lq + 1e-12)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_monotone_payoff_field(inst):
    P, k, rng = inst
    n = P.n_responses
    p, q = random_policy(rng, n), random_policy(rng, n, sparse=True)
    Lp, Lq = ualign.deviation_payoffs(P, p, k), ualign.deviation_payoffs(P, q, k)
    assert (Lp - Lq) @ (p - q) <= 1e-12


@settings(max_examples=40, deadline=None)
@given(instances())
def test_relabelling_invariance(inst):
    P, k, rng = inst
    n = P.n_responses
    perm = rng.permutation(n)
    Q = Profile.from_levels(P.levels[:, perm], P.weights)
    pi = random_policy(rng, n)
    np.testing.assert_allclose(ualign.deviation_payoffs(Q, pi[perm], k),
                               ualign.deviation_payoffs(P, pi, k)[perm], atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_k1_equals_pairwise_margin_form(inst):
    P, _, rng = inst
    pi = random_policy(rng, P.n_responses)
    Pref = P.pairwise_preferences()
    tie = 1.0 - Pref - Pref.T  # includes y == z
    want = (Pref + 0.5 * tie) @ pi  # P(y ≻ π) with ties ½
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 1), want, atol=1e-13)
    # and the margin form: L(π, y) = ½ + ½ (M π)_y
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 1), 0.5 + 0.5 * P.margins() @ pi,
                               atol=1e-13)


# ----------------------------------------------------------------------------- edge cases
def test_large_k_and_tiny_masses_are_stable():
    rng = np.random.default_rng(1)
    P = random_profile(rng, 4, 4, n_levels=3)
    pi = np.array([1 - 3e-300, 1e-300, 1e-300, 1e-300])
    for k in (1, 16, 1000):
        fast = ualign.deviation_payoffs(P, pi, k)
        exact = oracle.sum_form_payoffs(P.levels, P.weights, pi, k)
        np.testing.assert_allclose(fast, exact, rtol=1e-12, atol=1e-300)
    # k = 1000 on a generic policy, against exact rational arithmetic
    pi = random_policy(rng, 4)
    np.testing.assert_allclose(ualign.deviation_payoffs(P, pi, 1000),
                               oracle.sum_form_payoffs(P.levels, P.weights, pi, 1000),
                               rtol=1e-11, atol=1e-300)
    assert pi @ ualign.deviation_payoffs(P, pi, 1000) == pytest.approx(1 / 1001, rel=1e-11)


def test_class_payoff_has_no_cancellation():
    """Where the difference form loses every digit, the kernel keeps full precision."""
    for a, t, k in [(0.5, 1e-12, 16), (0.9, 1e-15, 3), (1 - 1e-9, 1e-9, 1000), (1e-3, 0.2, 7),
                    (0.0, 1e-300, 1), (0.3, 0.0, 5)]:
        exact = oracle.sum_form_exact(a, t, k)
        got = _kernels.class_payoff(a, t, k, _kernels.top_bit(k + 1))
        assert got == pytest.approx(exact, rel=1e-13)


def test_one_response_one_user():
    P = Profile.from_levels([[0]])
    assert ualign.deviation_payoffs(P, [1.0], 5)[0] == pytest.approx(1 / 6)
    Q = Profile.from_rankings([[2, 0, 1]])
    L = ualign.deviation_payoffs(Q, [0, 0, 1.0], 2)
    np.testing.assert_allclose(L, [0.0, 0.0, 1 / 3], atol=1e-15)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("k", [0, -1, 1.5, "2", True, None])
def test_bad_k(k):
    P = Profile.from_rankings([[0, 1]])
    with pytest.raises(ValueError, match="k must be an integer"):
        ualign.deviation_payoffs(P, [0.5, 0.5], k)


@pytest.mark.parametrize("policy,msg", [
    ([0.5, 0.4], "sum to 1"), ([1.2, -0.2], "non-negative"),
    ([0.5, 0.5, 0.0], r"shape \(\.\.\., 2\)"),
    ([np.nan, 1.0], "finite"), (0.5, "shape")])
def test_bad_policy(policy, msg):
    P = Profile.from_rankings([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=msg):
        ualign.deviation_payoffs(P, policy, 2)


def test_policy_within_tolerance_is_accepted():
    P = Profile.from_rankings([[0, 1], [1, 0]])
    ualign.deviation_payoffs(P, [0.5 + 5e-10, 0.5], 1)
    ualign.deviation_payoffs(P, [1.0 + 5e-10, -5e-10], 1)


def test_bad_opponent_and_sets():
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]])
    pi = np.ones(3) / 3
    with pytest.raises(ValueError, match="opponent"):
        ualign.win_rate(P, pi, 2, 3)
    with pytest.raises(ValueError, match="ell"):
        ualign.win_rate(P, pi, 2, 0, ell=0)
    with pytest.raises(ValueError, match="row 1, column 0"):
        ualign.set_win_rate(P, [[0, 1], [5, 0]], [0.5, 0.5], 0)
    with pytest.raises(ValueError, match="probs"):
        ualign.set_win_rate(P, [[0, 1], [2, 0]], [0.5, 0.5, 0.0], 0)
    with pytest.raises(ValueError, match="profile"):
        ualign.deviation_payoffs("not a profile", pi, 1)


def test_inputs_are_not_modified():
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]])
    pi = np.array([0.2, 0.3, 0.5])
    before = pi.copy()
    ualign.deviation_payoffs(P, pi, 3)
    ualign.win_rate(P, pi, 2, pi, ell=2)
    np.testing.assert_array_equal(pi, before)
