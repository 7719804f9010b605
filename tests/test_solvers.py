"""Tests for ualign.solvers: the shared contract, hand-derivable values, cross-checks.

References: shared/spec/THEORY.md §4-6.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ualign
from ualign import (
    Profile,
    deviation_payoffs,
    exploitability,
    robust_win_rate,
    set_win_rate,
    win_rate,
)
from ualign.data.generators import random_profile
from ualign.solvers import (
    Certified,
    KSetResult,
    SolverResult,
    _kernels,
    registry,
    solve_nlhf,
    solve_rlhf,
    solve_ualign,
    worst_opponent,
)
from ualign.solvers.diagnostics import Diagnostics

pytestmark = pytest.mark.usefixtures("one_numba_thread")


DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


# ---------------------------------------------------------------------------- contract
# Options the contract runs a registered method with (one case each; a method without an entry
# runs with its defaults, so a newly registered method is covered by its registration alone).
VARIANTS = {
    "nlhf": [{}, {"tau": 0.2}],
    "rlhf": [{}, {"beta": 0.5}],
    "hedge": [{"max_iter": 60}],
    "optimistic": [{"max_iter": 60}],
    "extragradient": [{"max_iter": 40}],
    "mmd": [{"tau": 0.05, "max_iter": 60}],
}
CASES = [(m.name, opts) for m in registry.methods() for opts in VARIANTS.get(m.name, [{}])]


def _check_certified(P, r):
    """The protocol every result shares (robust win rate, worst response, certificate,
    converged, seconds, typed read-only diagnostics)."""
    assert isinstance(r, Certified)
    assert isinstance(r.converged, bool)
    assert isinstance(r.seconds, float) and r.seconds >= 0.0
    assert dataclasses.is_dataclass(r.diagnostics) and isinstance(r.diagnostics, Diagnostics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.diagnostics.seconds = 0.0  # read-only
    assert 0 <= r.worst_response < P.n_responses
    assert r.certificate >= -1e-8


def _check_policy_result(P, r):
    assert isinstance(r, SolverResult)
    pi = r.policy
    assert pi.shape == (P.n_responses,)
    assert np.all(pi >= 0) and abs(pi.sum() - 1.0) < 1e-12
    L = deviation_payoffs(P, pi, r.k)
    assert r.exploitability == pytest.approx(L.max() - 1 / (r.k + 1), abs=1e-13)
    assert r.exploitability == pytest.approx(exploitability(P, pi, r.k), abs=1e-13)
    assert r.certificate == r.exploitability
    rw = robust_win_rate(P, pi, r.k)
    assert r.robust_win_rate == pytest.approx(rw.value, abs=1e-13)
    assert L[r.worst_response] == pytest.approx(L.max(), abs=1e-13)
    assert r.exploitability >= -1e-12
    its = [i for i, _ in r.trace]
    assert its and its == sorted(its) and its[-1] == r.iterations
    assert r.trace[-1][1] == pytest.approx(r.exploitability, abs=1e-12)
    assert r.payoff_evals >= 1 and r.iterations >= 1
    # worst_opponent on the same policy: l = 1 is the worst single response; l = 2 re-evaluated
    # and above its certified lower bound
    one = worst_opponent(P, pi, r.k, 1)
    assert one.exact and one.value == pytest.approx(r.robust_win_rate, abs=1e-12)
    two = worst_opponent(P, pi, r.k, 2)
    assert two.opponent.shape == (2,) and list(two.opponent) == sorted(two.opponent)
    assert two.value == pytest.approx(
        1 - set_win_rate(P, two.opponent[None, :], [1.0], pi, ell=r.k), abs=1e-12)
    assert two.lower_bound <= two.value + 1e-12


def _check_kset_result(P, r, k):
    assert isinstance(r, KSetResult)
    assert r.sets.shape[1] == k and np.all(r.probs >= 0) and abs(r.probs.sum() - 1) < 1e-12
    wr = [set_win_rate(P, r.sets, r.probs, y) for y in range(P.n_responses)]
    assert r.robust_win_rate == r.value == pytest.approx(min(wr), abs=1e-12)
    assert wr[r.worst_response] == pytest.approx(min(wr), abs=1e-12)
    assert r.certificate == pytest.approx(r.upper_bound - r.value, abs=0)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(("name", "options"), CASES,
                         ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}"
                              for n, o in CASES])
def test_contract(name, options, ties):
    P = random_profile(7, 6, 25, n_levels=3 if ties else None)
    method = registry.get(name)
    r = method.solve(P, 3, **options)
    _check_certified(P, r)
    if method.output == "kset":
        _check_kset_result(P, r, 3)
    else:
        _check_policy_result(P, r)
    if method.family == "ualign":  # solve_ualign dispatches through the registry
        np.testing.assert_array_equal(solve_ualign(P, 3, method=name, **options).policy,
                                      r.policy)


def test_registry_is_the_method_table():
    assert ualign.solvers.METHODS == registry.names("ualign")
    assert registry.names("ualign") == ("auto", "hedge", "optimistic", "extragradient", "mmd")
    from ualign.llm.select import SELECT_METHODS as SELECT
    from ualign.report.compare import COMPARE_METHODS as COMPARE

    assert COMPARE == tuple(registry.labelled("compare")) == (
        "rlhf", "nlhf", "ualign", "kset", "kset-distinct", "top-k-utility", "top-k-borda", "cc",
        "pav")
    assert set(registry.labelled("select")) <= set(SELECT)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("auto"))


@pytest.mark.parametrize(("method", "options", "message"), [
    ("hedge", {"tau": 0.1}, r"\['tau'\] are not understood by method 'hedge'"),
    ("auto", {"eta": 1.0}, r"\['eta'\] are not understood"),
    ("hedge", {"eta": "fast"}, "eta must be a finite real number"),
    ("hedge", {"check_every": 0.5}, "check_every must be an integer"),
    ("optimistic", {"time_limit": -1}, "time_limit must be >= 0"),
    ("auto", {"m0": 0}, "m0 must be an integer"),
    ("mmd", {"tau": 0.0}, "tau must be > 0"),
    ("hedge", {"max_iter": 2.5}, "max_iter must be an integer"),
])
def test_options_checked_by_their_dataclass(method, options, message):
    opts = registry.get(method).options
    with pytest.raises(ValueError, match=message):
        opts.parse(method, options)
    with pytest.raises(ValueError, match=message):
        solve_ualign(random_profile(0, 6, 25), 2, method=method, **options)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.parse(method, {}).tol = 1.0


def test_seed_recorded():
    P = random_profile(0, 6, 25)
    assert solve_ualign(P, 2, seed=5).seed == 5
    assert solve_ualign(P, 2).seed is None


BAD_K = [0, -1, 1.5, True]


@pytest.mark.parametrize("method", registry.names("ualign"))
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
    np.testing.assert_allclose(r.diagnostics.rewards, 0.0, atol=1e-12)
    np.testing.assert_allclose(r.policy, [1 / 3] * 3, atol=1e-12)
    r2 = solve_rlhf(random_profile(4, 6, 25), beta=0.3)
    rew = r2.diagnostics.rewards
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


@pytest.mark.parametrize("seed", range(6))
def test_maximal_lottery_matches_support_enumeration(seed):
    # the same instances, against an independent oracle that needs no optional package
    # (pref_voting pins numba < 0.63, so it lives in the `bench` extra, not `test`)
    import oracle

    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 9))
    R = np.argsort(rng.random((2 * int(rng.integers(5, 40)) + 1, n)), axis=1)  # odd: unique
    ours = solve_nlhf(Profile.from_rankings(R))
    assert ours.exploitability <= 1e-9 and ours.converged
    np.testing.assert_allclose(ours.policy, oracle.maximal_lottery(R), atol=1e-7)


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
    import oracle

    np.testing.assert_allclose(ours.policy, oracle.maximal_lottery(R), atol=1e-7)
    # the k = 1 equilibrium of the alignment game is the same lottery (unique here)
    np.testing.assert_allclose(solve_ualign(P, 1).policy, ours.policy, atol=1e-8)
    theirs = _pref_voting_ml(R)       # skips without pref_voting (the `bench` extra)
    np.testing.assert_allclose(ours.policy, theirs, atol=1e-7)


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
    ex = h.diagnostics
    assert ex.bound_applies and ex.averaged_iterates == 400
    assert ex.sampled_iterate_robust_win_rate >= ex.sampled_iterate_bound - 1e-12
    # convexity: the average is at least as good as the sampled-iterate policy
    assert h.robust_win_rate >= ex.sampled_iterate_robust_win_rate - 1e-12
    m = solve_ualign(P, k, method="mmd", tau=0.2, eta=1.0, tol=1e-10, max_iter=3000)
    assert m.converged
    assert m.exploitability <= m.diagnostics.kl_bound + 1e-9  # THEORY §5


def test_nlhf_regularised_fixed_point():
    P = random_profile(5, 6, 25, n_levels=3)
    mu = np.linspace(1, 2, P.n_responses)
    mu /= mu.sum()
    r = solve_nlhf(P, tau=0.1, reference=mu)
    assert r.converged
    L = deviation_payoffs(P, r.policy, 1)
    target = mu * np.exp(L / 0.1)
    np.testing.assert_allclose(r.policy, target / target.sum(), atol=1e-9)
    assert r.exploitability <= r.diagnostics.kl_bound + 1e-12


# ---------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("k", [1, 2, 5])
def test_jacobian_matches_finite_differences(k):
    from ualign.core import _kernels as core_kernels

    rng = np.random.default_rng(k)
    P = Profile.from_levels(rng.integers(0, 4, (30, 7)), rng.random(30))
    C = np.array([0, 2, 3, 5, 6])
    sub = np.empty((P.n_users, C.size), dtype=P.levels.dtype)
    _kernels.restrict_levels(P.levels, C, sub, 2)
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


# ---------------------------------------------------------------------------- dynamics
def test_averaged_hedge_equals_a_hand_loop():
    """averaged(hedge) is T rounds of "play π_t, observe L(π_t), π_{t+1} ∝ π_t exp(η L(π_t))",
    averaging π_1..π_T; the driver returns a RunResult."""
    from ualign.solvers import dynamics as dyn

    P = random_profile(3, 5, 20)
    k, eta, T = 2, 0.7, 25

    def oracle(p):
        return deviation_payoffs(P, p, k)

    out = dyn.run(dyn.averaged(dyn.hedge(oracle, eta)), lambda s, it: (0.0, 0, False),
                  pi0=np.full(5, 0.2), max_iter=T)
    assert isinstance(out, dyn.RunResult) and out.state.iterates == T == out.state.t
    assert out.state.evals == T and [i for i, _ in out.trace] == list(range(T + 1))
    pi, pis, rs = np.full(5, 0.2), [], []
    for _ in range(T):
        r = oracle(pi)
        pis.append(pi)
        rs.append(r)
        pi = pi * np.exp(eta * r)
        pi /= pi.sum()
    np.testing.assert_allclose(out.state.pi_sum / T, np.mean(pis, axis=0), atol=1e-14)
    np.testing.assert_allclose(out.state.r_sum / T, np.mean(rs, axis=0), atol=1e-14)
    np.testing.assert_allclose(out.state.inner.pi, pis[-1], atol=1e-14)


def test_one_state_type_for_mirror_steps():
    from ualign.solvers import dynamics as dyn

    P = random_profile(2, 6, 25)
    mu = np.full(P.n_responses, 1 / P.n_responses)

    def oracle(p):
        return deviation_payoffs(P, p, 2)

    for d in (dyn.extragradient(oracle, 0.5), dyn.mmd(oracle, 0.5, 0.1, mu)):
        s = d.step(d.init(mu))
        assert type(s) is dyn.MirrorState and s.t == 1


def test_diagnostics_are_typed_and_read_only():
    P = random_profile(4, 6, 25)
    h = solve_ualign(P, 2, method="hedge", max_iter=30)
    assert h.iterations == 30 == h.diagnostics.averaged_iterates  # max_iter = updates taken
    r = solve_rlhf(P)
    with pytest.raises(ValueError):
        r.diagnostics.rewards[0] = 1.0  # read-only array


@pytest.mark.skipif(not (DATA / "preflib" / "00009-agh").is_dir(), reason="no shared data")
def test_rlhf_on_agh_tie_mass_rounding_is_not_a_negative_win():
    """On AGH 2003 the tie mass 1 - P - Pᵀ rounds to -1.4e-15 for a pair nobody ties; the
    Bradley-Terry input must stay a valid (non-negative) win matrix."""
    P = ualign.read_preflib(DATA / "preflib" / "00009-agh" / "00009-00000001.soc")
    r = solve_rlhf(P)
    assert np.all(r.diagnostics.wins >= 0)
    assert np.isclose(r.policy.sum(), 1.0)


@pytest.mark.parametrize("U, n, k", [(3, 4000, 4), (130, 5904, 16)])
def test_auto_few_users_many_responses_starts_small_and_certifies(U, n, k):
    """Issue 12, item 22: with few user types the first candidate set is small (issue 22: at
    most max(32, ⌈√n⌉); 48 at U = 3, 77 at n = 5,904, not n/8 = 500 or 738, whose first
    restricted solve was the whole cost), and the answer is certified on all n responses; the
    U = 130, n = 5,904 shape is the PrefLib file's."""
    rng = np.random.default_rng(0)
    P = Profile.from_rankings(np.array([rng.permutation(n) for _ in range(U)]))
    res = ualign.solve_ualign(P, k, method="auto", tol=1e-9)
    assert res.diagnostics.candidate_sizes[0] == max(32, min(n // 8, 16 * U,
                                                             int(np.ceil(np.sqrt(n)))))
    assert res.converged
    assert exploitability(P, res.policy, k) <= 1e-9


def test_worst_opponent_lower_bound_never_crosses_the_value():
    """Issue 22: at an equilibrium the bound 1 - ℓ max L and the worst single response's win
    rate coincide mathematically (ℓ = 1), and rounding put the bound above the value (16 of
    600 random cases, by up to 2.2e-16); rounded outward, lower_bound <= value exactly."""
    from ualign.data.generators import random_profile

    for seed in range(150):
        rng = np.random.default_rng(seed)
        n, U, k = int(rng.integers(2, 7)), int(rng.integers(1, 8)), int(rng.integers(1, 6))
        P = random_profile(rng, n, U, n_levels=None if seed % 2 else 3)
        pi = solve_ualign(P, k).policy
        for ell in (1, 2):
            w = worst_opponent(P, pi, k, ell)
            assert w.lower_bound <= w.value
            assert w.value - w.lower_bound <= (1e-12 if ell == 1 else 1.0)


def test_bradley_terry_cg_path_matches_dense_path(monkeypatch):
    """Issue 22: beyond DIRECT_MAX responses each Newton step is preconditioned CG (a 5,904-item
    fit took 162 s with dense solves); it reaches the dense path's rewards."""
    from ualign.solvers import rlhf

    rng = np.random.default_rng(0)
    P = random_profile(rng, 60, 40, n_levels=8)
    Pm = P.pairwise_preferences()
    W = Pm + 0.5 * np.clip(1.0 - Pm - Pm.T, 0.0, None)
    dense = rlhf.fit_bradley_terry(W)
    monkeypatch.setattr(rlhf, "DIRECT_MAX", 10)
    cg = rlhf.fit_bradley_terry(W)
    assert dense.converged and cg.converged
    np.testing.assert_allclose(cg.rewards, dense.rewards, atol=1e-10)


def test_solve_rlhf_time_limit_stops_with_a_warning(monkeypatch):
    from ualign.solvers import _talk, rlhf

    P = random_profile(np.random.default_rng(1), 30, 20)
    clock = iter(np.arange(0.0, 1e6, 10.0))  # every reading 10 s later than the last
    monkeypatch.setattr(rlhf.time, "perf_counter", lambda: float(next(clock)))
    with pytest.warns(_talk.StoppedEarlyWarning, match="time_limit"):
        r = solve_rlhf(P, time_limit=5.0)
    assert not r.converged and np.isclose(r.policy.sum(), 1.0)


def test_maximal_lottery_column_generation_matches_one_lp(monkeypatch):
    """Issue 22: beyond DIRECT_MAX responses the maximal lottery is found by column generation
    (one LP over 5,904 columns took 285 s and 4.5 GB); with an odd number of voters and strict
    orders it is unique, so both paths return the same lottery."""
    from ualign.solvers import nlhf

    rng = np.random.default_rng(3)
    P = Profile.from_rankings(np.array([rng.permutation(120) for _ in range(51)]))
    M = P.margins()
    one = nlhf.maximal_lottery(M)
    monkeypatch.setattr(nlhf, "DIRECT_MAX", 10)
    cg = nlhf.maximal_lottery(M)
    np.testing.assert_allclose(cg, one, atol=1e-9)
    assert exploitability(P, cg, 1) <= 1e-9


@pytest.mark.parametrize("k", [1, 2, 5, 16, 1000])
def test_class_derivatives_against_60_digits(k):
    """f, ∂f/∂a, ∂f/∂t of f = ∫(a + s t)^k ds (the Jacobian's per-class terms, held to float32
    accuracy: the Jacobian is float32) across regimes: t << a (the expansion), t ~ a (the
    homogeneity form), a = 0, t = 0."""
    mpmath = pytest.importorskip("mpmath")
    from ualign.core._kernels import top_bit
    from ualign.solvers._kernels import class_derivatives

    for a, t in [(0.5, 0.3), (0.9, 1e-9), (0.3, 1e-5), (0.0, 0.4), (0.7, 0.0), (0.0, 0.0),
                 (1e-3, 0.5), (0.6, 0.4)]:
        with mpmath.workdps(80):  # closed forms (cancellation is harmless at 80 digits)
            A, T = mpmath.mpf(a), mpmath.mpf(t)
            if t == 0:
                f = A ** k
                fa = k * A ** (k - 1) if k > 1 or a > 0 else mpmath.mpf(1)
                ft = fa / 2
            else:
                S = A + T
                f = (S ** (k + 1) - A ** (k + 1)) / ((k + 1) * T)
                fa = (S ** k - A ** k) / T
                ft = ((k + 1) * S ** k * T - (S ** (k + 1) - A ** (k + 1))) / ((k + 1) * T ** 2)
        got = class_derivatives(a, t, k, top_bit(k))
        for g, want, tol in zip(got, (f, fa, ft), (1e-13, 1e-13, 1e-7), strict=True):
            assert g == pytest.approx(float(want), rel=tol, abs=1e-300), (a, t, k)


def test_solve_ualign_refuses_a_restricted_game_that_would_not_fit(monkeypatch):
    """Issue 22: a size check names the allocation before it is made (never the OOM killer)."""
    from ualign.core import checks

    P = random_profile(0, 100, 400)
    monkeypatch.setattr(checks, "MAX_BYTES", 20_000)
    with pytest.raises(ValueError, match=r"the game restricted to 32 candidate responses "
                                         r"\(400 users\) would need about .* GiB"):
        solve_ualign(P, 4)
