"""Tests for ualign.solvers: the shared contract, hand-derivable values, cross-checks.

References: shared/spec/THEORY.md §4-6.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ualign
from ualign import Profile, deviation_payoffs, exploitability, robust_win_rate, win_rate
from ualign.data.generators import random_profile
from ualign.solvers import (
    SolverResult,
    _kernels,
    solve_nlhf,
    solve_rlhf,
    solve_ualign,
)

pytestmark = pytest.mark.usefixtures("one_numba_thread")


DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


# ---------------------------------------------------------------------------- contract
SOLVERS = {
    "nlhf-lp": lambda P: solve_nlhf(P),
    "nlhf-kl": lambda P: solve_nlhf(P, tau=0.2),
    "rlhf-argmax": lambda P: solve_rlhf(P),
    "rlhf-kl": lambda P: solve_rlhf(P, beta=0.5),
    "auto": lambda P: solve_ualign(P, 3),
    "hedge": lambda P: solve_ualign(P, 3, method="hedge", max_iter=60),
    "optimistic": lambda P: solve_ualign(P, 3, method="optimistic", max_iter=60),
    "extragradient": lambda P: solve_ualign(P, 3, method="extragradient", max_iter=40),
    "mmd": lambda P: solve_ualign(P, 3, method="mmd", tau=0.05, max_iter=60),
}


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_contract(name, ties):
    P = random_profile(7, 6, 25, n_levels=3 if ties else None)
    r = SOLVERS[name](P)
    assert isinstance(r, SolverResult)
    pi = r.policy
    assert pi.shape == (P.n_responses,)
    assert np.all(pi >= 0) and abs(pi.sum() - 1.0) < 1e-12
    L = deviation_payoffs(P, pi, r.k)
    assert r.exploitability == pytest.approx(L.max() - 1 / (r.k + 1), abs=1e-13)
    assert r.exploitability == pytest.approx(exploitability(P, pi, r.k), abs=1e-13)
    rw = robust_win_rate(P, pi, r.k)
    assert r.robust_win_rate == pytest.approx(rw.value, abs=1e-13)
    assert L[r.worst_response] == pytest.approx(L.max(), abs=1e-13)
    assert r.exploitability >= -1e-12
    its = [i for i, _ in r.trace]
    assert its and its == sorted(its) and its[-1] == r.iterations
    assert r.trace[-1][1] == pytest.approx(r.exploitability, abs=1e-12)
    assert r.payoff_evals >= 1 and r.iterations >= 1
    assert isinstance(r.converged, bool)


BAD_K = [0, -1, 1.5, True]


@pytest.mark.parametrize("method", ["auto", "hedge", "optimistic", "extragradient", "mmd"])
@pytest.mark.parametrize("k", BAD_K)
def test_bad_k(method, k):
    with pytest.raises(ValueError, match="k must be an integer"):
        solve_ualign(random_profile(0, 6, 25), k, method=method)


def test_bad_inputs():
    P = random_profile(0, 6, 25)
    n = P.n_responses
    with pytest.raises(ValueError, match="tau must be >= 0"):
        solve_nlhf(P, tau=-0.1)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        solve_ualign(P, 2, method="mmd", tau=-1.0)
    with pytest.raises(ValueError, match="reference must"):
        solve_nlhf(P, tau=0.1, reference=np.full(n, 0.5))  # off the simplex
    zero = np.full(n, 1.0 / (n - 1))
    zero[2] = 0.0
    with pytest.raises(ValueError, match=r"strictly positive.*position 2"):
        solve_nlhf(P, tau=0.1, reference=zero)
    with pytest.raises(ValueError, match="strictly positive"):
        solve_ualign(P, 2, method="mmd", reference=zero)
    with pytest.raises(ValueError, match="strictly positive"):
        solve_rlhf(P, beta=1.0, reference=zero)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 6\)"):
        solve_nlhf(P, tau=0.1, reference=np.ones(3) / 3)
    with pytest.raises(ValueError, match="beta must be > 0"):
        solve_rlhf(P, beta=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        solve_ualign(P, 2, method="newton")
    with pytest.raises(ValueError, match="not understood"):
        solve_ualign(P, 2, method="hedge", tau=0.1)
    with pytest.raises(ValueError, match=r"profile must be a ualign\.Profile"):
        solve_ualign(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="tol must be"):
        solve_ualign(P, 2, tol=-1.0)


# ---------------------------------------------------------------------------- hand values
def test_rock_paper_scissors():
    P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    np.testing.assert_allclose(solve_nlhf(P).policy, [1 / 3] * 3, atol=1e-12)
    for k in (1, 2, 3):
        r = solve_ualign(P, k)
        assert r.converged and r.exploitability <= 1e-9
        np.testing.assert_allclose(r.policy, [1 / 3] * 3, atol=1e-9)


def test_condorcet_winner():
    rng = np.random.default_rng(3)
    R = np.array([[2, *list(rng.permutation([0, 1, 3, 4]))] for _ in range(9)])
    P = Profile.from_rankings(R)
    assert P.condorcet_winner() == 2
    np.testing.assert_allclose(solve_nlhf(P).policy, np.eye(5)[2], atol=1e-12)
    np.testing.assert_allclose(solve_rlhf(P).policy, np.eye(5)[2], atol=1e-12)
    np.testing.assert_allclose(solve_ualign(P, 1).policy, np.eye(5)[2], atol=1e-9)


def test_rlhf_ties_split_uniformly():
    P = Profile.from_rankings(list(itertools.permutations(range(3))))  # exact impartial culture
    r = solve_rlhf(P)
    np.testing.assert_allclose(r.extras["rewards"], 0.0, atol=1e-12)
    np.testing.assert_allclose(r.policy, [1 / 3] * 3, atol=1e-12)
    r2 = solve_rlhf(random_profile(4, 6, 25), beta=0.3)
    rew = r2.extras["rewards"]
    np.testing.assert_allclose(r2.policy, np.exp(rew / 0.3) / np.exp(rew / 0.3).sum(), atol=1e-12)


def test_bradley_terry_recovers_rewards():
    # W[y, z] = σ(r_y - r_z) exactly: the MLE is r itself.
    r = np.array([0.7, -0.2, 0.4, -0.9])
    r -= r.mean()
    W = 1 / (1 + np.exp(-(r[:, None] - r[None, :])))
    np.testing.assert_allclose(ualign.solvers.bradley_terry(W, ridge=0.0), r, atol=1e-9)


# ---------------------------------------------------------------------------- NLHF collapse
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_nlhf_collapse(k):
    eps = 0.01
    P = Profile.from_levels(np.array([[0, 1], [1, 0]]), [0.5 + eps, 0.5 - eps])
    nl = solve_nlhf(P)
    np.testing.assert_allclose(nl.policy, [1.0, 0.0], atol=1e-12)
    assert win_rate(P, nl.policy, k, 1) == pytest.approx(0.5 + eps, abs=1e-12)
    ne = solve_ualign(P, k)
    assert ne.converged
    assert ne.robust_win_rate == pytest.approx(k / (k + 1), abs=1e-9)
    if k >= 2:
        assert 0.5 < ne.policy[0] < 1.0 and ne.policy[1] > 0.3
    if k == 2:
        np.testing.assert_allclose(ne.policy, [0.53, 0.47], atol=5e-3)


# ---------------------------------------------------------------------------- cross-checks
def _pref_voting_ml(rankings):
    pv = pytest.importorskip("pref_voting")
    from pref_voting.probabilistic_methods import maximal_lottery
    from pref_voting.profiles import Profile as PVProfile

    del pv
    n = len(rankings[0])
    ml = maximal_lottery(PVProfile([list(map(int, r)) for r in rankings]))
    return np.array([ml[c] for c in range(n)])


@pytest.mark.parametrize("seed", range(6))
def test_maximal_lottery_matches_pref_voting(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9))
    R = np.argsort(rng.random((2 * int(rng.integers(5, 40)) + 1, n)), axis=1)  # odd: unique
    ours = solve_nlhf(Profile.from_rankings(R))
    assert ours.exploitability <= 1e-9 and ours.converged
    np.testing.assert_allclose(ours.policy, _pref_voting_ml(R), atol=1e-7)


@pytest.mark.parametrize("name", ["00009-agh/00009-00000001.soc", "00024-dots/00024-00000001.soc"])
def test_maximal_lottery_real_preflib(name):
    path = DATA / "preflib" / name
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    P = ualign.read_preflib(path)
    # expand to voter-level rankings for pref_voting (counts = weights * n_voters)
    counts = np.rint(P.weights * P.n_voters).astype(int)
    R = np.repeat(np.argsort(P.levels, axis=1, kind="stable"), counts, axis=0)
    ours = solve_nlhf(P)
    assert ours.exploitability <= 1e-9
    theirs = _pref_voting_ml(R)
    np.testing.assert_allclose(ours.policy, theirs, atol=1e-7)
    # the k = 1 equilibrium of the alignment game is the same lottery (unique here)
    np.testing.assert_allclose(solve_ualign(P, 1).policy, ours.policy, atol=1e-8)


@pytest.mark.parametrize("seed", range(5))
def test_ualign_k1_equals_nlhf(seed):
    rng = np.random.default_rng(100 + seed)
    R = np.argsort(rng.random((2 * int(rng.integers(5, 30)) + 1, 7)), axis=1)
    P = Profile.from_rankings(R)
    a, b = solve_ualign(P, 1), solve_nlhf(P)
    assert a.converged
    np.testing.assert_allclose(a.policy, b.policy, atol=1e-8)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_equilibrium_certificates(seed, ties):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    P = random_profile(seed, n, int(rng.integers(5, 300)), n_levels=3 if ties else None)
    k = int(rng.integers(1, 9))
    r = solve_ualign(P, k, m0=4)
    assert r.converged and r.exploitability <= 1e-9
    assert r.robust_win_rate >= k / (k + 1) - 1e-9
    # a symmetric NE: every supported response earns exactly 1/(k+1)
    L = deviation_payoffs(P, r.policy, k)
    np.testing.assert_allclose(L[r.policy > 1e-9], 1 / (k + 1), atol=1e-8)


def test_dynamics_reach_tolerance_and_hedge_bound():
    P = random_profile(11, 8, 40)
    k = 3
    for method in ("optimistic", "extragradient"):
        r = solve_ualign(P, k, method=method, tol=1e-6, max_iter=3000, eta=2.0)
        assert r.converged and r.exploitability <= 1e-6
        assert r.trace[-1][1] <= 1e-6 < r.trace[0][1]
    h = solve_ualign(P, k, method="hedge", max_iter=400)
    ex = h.extras
    assert ex["bound_applies"] and ex["averaged_iterates"] == 400
    assert ex["sampled_iterate_robust_win_rate"] >= ex["sampled_iterate_bound"] - 1e-12
    # convexity: the average is at least as good as the sampled-iterate policy
    assert h.robust_win_rate >= ex["sampled_iterate_robust_win_rate"] - 1e-12
    m = solve_ualign(P, k, method="mmd", tau=0.2, eta=1.0, tol=1e-10, max_iter=3000)
    assert m.converged
    assert m.exploitability <= m.extras["kl_bound"] + 1e-9  # THEORY §5


def test_nlhf_regularised_fixed_point():
    P = random_profile(5, 6, 25, n_levels=3)
    mu = np.linspace(1, 2, P.n_responses)
    mu /= mu.sum()
    r = solve_nlhf(P, tau=0.1, reference=mu)
    assert r.converged
    L = deviation_payoffs(P, r.policy, 1)
    target = mu * np.exp(L / 0.1)
    np.testing.assert_allclose(r.policy, target / target.sum(), atol=1e-9)
    assert r.exploitability <= r.extras["kl_bound"] + 1e-12


# ---------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("k", [1, 2, 5])
def test_jacobian_matches_finite_differences(k):
    from ualign.core import _kernels as core_kernels

    rng = np.random.default_rng(k)
    P = Profile.from_levels(rng.integers(0, 4, (30, 7)), rng.random(30))
    C = np.array([0, 2, 3, 5, 6])
    pos = -np.ones(7, dtype=np.int64)
    pos[C] = np.arange(C.size)
    sub = _kernels.suborder(P._sorted_orders, pos, C.size)
    p = rng.random(C.size)
    p /= p.sum()
    nodes, wq = _kernels.gauss_nodes(k)
    L, J = _kernels.payoff_jacobian(sub, P.weights, p, k, nodes, wq)
    full = np.zeros(7)
    full[C] = p
    np.testing.assert_allclose(L, deviation_payoffs(P, full, k)[C], atol=1e-14)

    def Lk(q):
        return core_kernels.payoffs_kernel(sub, P.weights, q[None, :].copy(), k, 2)[0]

    h = 1e-6
    E = np.eye(C.size)
    Jn = np.stack([(Lk(p + h * E[i]) - Lk(p - h * E[i])) / (2 * h) for i in range(C.size)], 1)
    np.testing.assert_allclose(J, Jn, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12), U=st.integers(1, 40),
       k=st.integers(1, 7), n_levels=st.integers(1, 12))
def test_auto_certificate_property(seed, n, U, k, n_levels):
    """Any profile (ties, duplicates, a single response): auto certifies an equilibrium, and the
    exchangeability identity Σ π L = 1/(k+1) holds at it."""
    rng = np.random.default_rng(seed)
    P = Profile.from_levels(rng.integers(0, n_levels, (U, n)), rng.random(U) + 0.01)
    r = solve_ualign(P, k)
    assert r.converged and -1e-12 <= r.exploitability <= 1e-9
    L = deviation_payoffs(P, r.policy, k)
    assert r.policy @ L == pytest.approx(1 / (k + 1), abs=1e-12)


def test_auto_with_duplicate_responses():
    """Identical columns make the Newton system singular: the trust-region LP takes over."""
    rng = np.random.default_rng(0)
    lv = np.argsort(np.argsort(rng.random((30, 6)), axis=1), axis=1)
    P = Profile.from_levels(np.hstack([lv, lv[:, :3]]))
    for k in (1, 2, 5):
        r = solve_ualign(P, k)
        assert r.converged and r.exploitability <= 1e-9
