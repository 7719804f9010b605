"""Posterior populations (THEORY.md §10) held to a brute-force Bayes computation, and the
bridges to universal (m = 0) and personalised (a concentrated posterior) alignment."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import ualign
from ualign import Profile
from ualign.core.posterior import NOISE_GRID, comparison_counts


def random_profile(rng, U, n, ties, groups=None):
    if ties:
        levels = rng.integers(0, max(1, n - 1), size=(U, n))
    else:
        levels = np.argsort(rng.random((U, n)), axis=1)
    g = None if groups is None else rng.integers(0, groups, size=U)
    return Profile.from_levels(levels, rng.random(U) + 0.1, groups=g)


def random_evidence(rng, n, revealed, ties):
    e = np.full(n, np.nan)
    idx = rng.choice(n, size=revealed, replace=False)
    e[idx] = rng.integers(0, 3, size=revealed) if ties else rng.permutation(revealed) * 1.5
    return e


def brute_likelihood(levels_u, evidence, delta):
    """P(e | u) by hand: enumerate every pair of revealed responses, keep the strict ones, and
    multiply the type's answer to each comparison (plain Python floats)."""
    revealed = [y for y in range(len(evidence)) if not math.isnan(evidence[y])]
    like = 1.0
    for i, j in itertools.combinations(revealed, 2):
        if evidence[i] == evidence[j]:
            continue                                      # a revealed tie is no evidence
        b, w = (i, j) if evidence[i] < evidence[j] else (j, i)   # the user said b ≻ w
        if levels_u[b] < levels_u[w]:
            like *= 1 - delta
        elif levels_u[b] > levels_u[w]:
            like *= delta
        else:
            like *= 0.5
    return like


def brute_posterior(levels, weights, evidence, delta, groups=None, group=None):
    """Bayes by hand: w_u · P(e | u) (· 1{group}), normalised."""
    post = [weights[u] * brute_likelihood(levels[u], evidence, delta)
            * (1.0 if group is None or groups[u] == group else 0.0)
            for u in range(len(weights))]
    total = sum(post)
    return np.array([p / total for p in post])


# ------------------------------------------------------------------------ brute-force Bayes
CASES = [(U, n, r, ties, seed) for seed, (U, n, r) in enumerate(
    [(1, 3, 2), (3, 3, 3), (5, 4, 3), (6, 5, 4), (8, 6, 6), (12, 7, 5)])
    for ties in (False, True)]


@pytest.mark.parametrize("U,n,r,ties,seed", CASES)
@pytest.mark.parametrize("delta", [0.01, 0.1, 0.3, 0.49])
def test_posterior_matches_brute_force_bayes(U, n, r, ties, seed, delta):
    rng = np.random.default_rng(seed)
    P = random_profile(rng, U, n, ties)
    for ev_ties in (False, True):
        e = random_evidence(rng, n, r, ev_ties)
        want = brute_posterior(P.levels.tolist(), P.weights.tolist(), e.tolist(), delta)
        got = ualign.posterior(P, e, noise=delta).weights
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_group_evidence_matches_brute_force(seed):
    rng = np.random.default_rng(50 + seed)
    P = random_profile(rng, 10, 5, ties=True, groups=3)
    g = int(P.groups[0])
    e = random_evidence(rng, 5, 4, ties=False)
    want = brute_posterior(P.levels.tolist(), P.weights.tolist(), e.tolist(), 0.2,
                           P.groups.tolist(), g)
    got = ualign.posterior(P, e, noise=0.2, group=g)
    np.testing.assert_allclose(got.weights, want, rtol=0, atol=1e-12)
    assert np.all(got.weights[P.groups != g] == 0)
    # a group alone (no comparison) is evidence too: the prior restricted to the group
    only = ualign.posterior(P, np.full(5, np.nan), noise=0.2, group=g).weights
    prior = np.where(P.groups == g, P.weights, 0.0)
    np.testing.assert_allclose(only, prior / prior.sum(), rtol=0, atol=1e-15)


def test_hand_derived_posterior_when_no_type_explains_the_evidence():
    # two types 0≻1≻2 (0.7) and 2≻1≻0 (0.3); the user reveals 1 ≻ 0 ≻ 2, which contradicts both:
    # type A agrees with 0≻2 and 1≻2, disagrees with 1≻0; type B the other way round.
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], [0.7, 0.3])
    d = 0.1
    a = 0.7 * (1 - d) ** 2 * d
    b = 0.3 * (1 - d) * d ** 2
    got = ualign.posterior(P, [1.0, 0.0, 2.0], noise=d).weights
    np.testing.assert_allclose(got, [a / (a + b), b / (a + b)], rtol=0, atol=1e-15)
    assert not np.allclose(got, 0.5)                       # never a silent uniform


def test_revealed_ties_and_type_ties_follow_the_documented_rule():
    # type 0: 0 ~ 1 ≻ 2; type 1: 2 ≻ 0 ≻ 1. Evidence levels (0, 1, 0): 0 ≻ 1 and 2 ≻ 1; the
    # revealed tie 0 ~ 2 is no evidence. Type 0 ties 0 ≻ 1 (½) and disagrees with 2 ≻ 1 (δ);
    # type 1 agrees with both ((1 − δ)²).
    P = Profile.from_levels([[0, 0, 1], [1, 2, 0]], [0.5, 0.5])
    A, D, T = comparison_counts(P, [[0.0, 1.0, 0.0]])
    assert A.tolist() == [[0, 2]] and D.tolist() == [[1, 0]] and T.tolist() == [[1, 0]]
    d = 0.2
    a, b = 0.5 * d * 0.5, 0.5 * (1 - d) ** 2
    np.testing.assert_allclose(ualign.posterior(P, [0.0, 1.0, 0.0], noise=d).weights,
                               [a / (a + b), b / (a + b)], rtol=0, atol=1e-15)


# --------------------------------------------------------------------- empty evidence, m = 0
@pytest.mark.parametrize("evidence", [
    [np.nan] * 6,                                    # nothing revealed
    [np.nan, 2.0, np.nan, np.nan, np.nan, np.nan],   # one vote: no comparison
    [1.0, 1.0, np.nan, 1.0, np.nan, np.nan],         # only ties: no comparison
])
def test_empty_evidence_returns_the_profile_unchanged(evidence):
    P = random_profile(np.random.default_rng(3), 20, 6, ties=True)
    post = ualign.posterior(P, evidence, noise=0.1)
    assert post is P
    batch = ualign.posterior_weights(P, np.array([evidence, evidence]), 0.1)
    assert np.array_equal(batch, np.stack([P.weights, P.weights]))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_m0_equals_universal_alignment_exactly(k):
    P = ualign.load_profile("mallows:n=8,phi=0.7,groups=2")
    post = ualign.posterior(P, np.full(8, np.nan), noise=0.2)
    a = ualign.solve_ualign(post, k)
    b = ualign.solve_ualign(P, k)
    assert np.array_equal(a.policy, b.policy)
    assert a.robust_win_rate == b.robust_win_rate


def test_posterior_is_an_ordinary_profile_with_the_k_over_k1_guarantee():
    P = ualign.load_profile("mallows:n=8,phi=0.7,groups=2")
    e = np.full(8, np.nan)
    e[[1, 4, 6]] = [0, 2, 1]
    post = ualign.posterior(P, e, noise=0.1)
    assert post.labels == P.labels and np.array_equal(post.levels, P.levels)
    assert post.meta["posterior δ"] == "0.1"
    for k in (1, 2, 4):
        eq = ualign.solve_ualign(post, k)
        assert eq.robust_win_rate >= k / (k + 1) - 1e-9


# ---------------------------------------------------------------- concentrated = personalised
@pytest.mark.parametrize("seed", range(3))
def test_concentrated_posterior_is_the_types_own_favourite(seed):
    from ualign.report.personalise import distinct_topk

    P = ualign.load_profile(f"mallows:n=7,phi=0.8,groups=3,seed={seed}")
    rng = np.random.default_rng(seed)
    u = int(rng.integers(P.n_users))
    fav = int(np.argmin(P.levels[u]))
    post = ualign.posterior(P, P.levels[u].astype(float), noise=1e-9)
    assert post.weights[u] > 1 - 1e-6
    eq = ualign.solve_ualign(post, 1)                      # k = 1: the maximal lottery
    assert int(np.argmax(eq.policy)) == fav and eq.policy[fav] > 1 - 1e-6
    assert distinct_topk(post, 1).tolist() == [fav]        # the personalised argmax


# ------------------------------------------------------------------------- batched == looped
def test_batched_equals_looped():
    rng = np.random.default_rng(11)
    P = random_profile(rng, 40, 9, ties=True, groups=2)
    E = np.stack([random_evidence(rng, 9, int(r), ties=bool(r % 2))
                  for r in rng.integers(0, 9, 25)])
    for delta in (0.05, 0.3):
        batch = ualign.posterior_weights(P, E, delta)
        for r in range(E.shape[0]):
            np.testing.assert_allclose(batch[r], ualign.posterior(P, E[r], noise=delta).weights,
                                       rtol=0, atol=1e-15)
        g = ualign.posterior_weights(P, E, delta, group=1)
        for r in range(E.shape[0]):
            np.testing.assert_allclose(
                g[r], ualign.posterior(P, E[r], noise=delta, group=1).weights, rtol=0,
                atol=1e-15)


def test_long_evidence_is_stable_in_log_space():
    # 200 revealed responses = 19,900 comparisons: likelihoods far below 1e-308, weights fine.
    rng = np.random.default_rng(5)
    P = random_profile(rng, 30, 200, ties=False)
    u = 7
    w = ualign.posterior_weights(P, P.levels[u].astype(float), 0.3)[0]
    assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-12
    assert int(np.argmax(w)) == u and w[u] > 1 - 1e-12


# ------------------------------------------------------------------------------ fitting δ
def synthetic_comparisons(P, delta, E, rng):
    """E users drawn from P, each revealing ONE comparison (so comparisons are independent,
    exactly the noise model): the type's order flipped with probability δ, ties ½ each way."""
    n = P.n_responses
    out = np.full((E, n), np.nan)
    types = rng.choice(P.n_users, size=E, p=P.weights)
    for r, u in enumerate(types):
        i, j = rng.choice(n, size=2, replace=False)
        li, lj = P.levels[u, i], P.levels[u, j]
        p_i = 0.5 if li == lj else (1 - delta if li < lj else delta)
        first = rng.random() < p_i
        out[r, i], out[r, j] = (0.0, 1.0) if first else (1.0, 0.0)
    return out


@pytest.mark.parametrize("delta", [0.05, 0.15, 0.3])
def test_fit_recovers_delta_on_synthetic_data(delta):
    # Tolerance 0.02 (the grid step is 0.005); 10,000 single comparisons from 4 strict types.
    rng = np.random.default_rng(int(delta * 1000))
    P = random_profile(rng, 4, 6, ties=False)
    ev = synthetic_comparisons(P, delta, 10_000, rng)
    fit = ualign.fit_noise(P, ev)
    assert abs(fit.delta - delta) <= 0.02, fit.delta
    assert fit.n_evidence == 10_000 and fit.n_comparisons == 10_000
    assert np.array_equal(fit.grid, NOISE_GRID) and fit.log_likelihood.shape == NOISE_GRID.shape
    # noise="fit" uses exactly that δ
    e = random_evidence(rng, 6, 4, ties=False)
    np.testing.assert_array_equal(
        ualign.posterior(P, e, noise="fit", held_out=ev).weights,
        ualign.posterior(P, e, noise=fit.delta).weights)


def test_fit_log_likelihood_matches_brute_force():
    rng = np.random.default_rng(9)
    P = random_profile(rng, 5, 5, ties=True)
    ev = np.stack([random_evidence(rng, 5, 3, ties=False) for _ in range(6)])
    fit = ualign.fit_noise(P, ev, grid=[0.1, 0.2, 0.4])
    for d, ll in zip(fit.grid, fit.log_likelihood, strict=True):
        want = sum(math.log(sum(w * brute_likelihood(P.levels[u].tolist(), e.tolist(), d)
                                for u, w in enumerate(P.weights.tolist())))
                   for e in ev)
        assert abs(ll - want) < 1e-10
    assert fit.delta == fit.grid[int(np.argmax(fit.log_likelihood))]


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, fragment", [
    (dict(evidence=[0.0, 1.0]), "evidence must have shape (4,)"),
    (dict(evidence=[[0.0, 1.0, 2.0, 3.0]] * 2), "evidence must be one user's levels"),
    (dict(evidence=[0.0, np.inf, 1.0, 2.0]), "evidence must hold finite levels or NaN, got inf"),
    (dict(evidence=["a", "b", "c", "d"]), "evidence must be a float array"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], noise=0.5), "noise must be a float δ in (0, 0.5)"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], noise=0.0), "noise must be a float δ in (0, 0.5)"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], noise="best"), "noise must be a float δ"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], noise=True), "noise must be a float δ"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], noise="fit"), "held_out must be given"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], held_out=np.zeros((1, 4))), "held_out is only used"),
    (dict(evidence=[0.0, 1.0, 2.0, 3.0], group=0), "profile has no groups"),
])
def test_bad_input_names_the_argument(kwargs, fragment):
    P = Profile.from_rankings([[0, 1, 2, 3], [3, 2, 1, 0]])
    with pytest.raises(ValueError) as err:
        ualign.posterior(P, **kwargs)
    assert fragment in str(err.value)


def test_bad_input_elsewhere():
    P = Profile.from_levels([[0, 1, 2], [2, 1, 0]], groups=[0, 0])
    with pytest.raises(ValueError, match="group must name a group holding weight"):
        ualign.posterior(P, [0.0, 1.0, np.nan], group=1)
    with pytest.raises(ValueError, match="group must be an integer"):
        ualign.posterior(P, [0.0, 1.0, np.nan], group="A")
    with pytest.raises(ValueError, match=r"profile must be a ualign\.Profile"):
        ualign.posterior(P.levels, [0.0, 1.0, np.nan])
    with pytest.raises(ValueError, match="delta must be a float"):
        ualign.posterior_weights(P, [0.0, 1.0, np.nan], 0.7)
    with pytest.raises(ValueError, match=r"grid must hold δ values in \(0, 0\.5\), got 0\.6 at "
                                         r"position 1"):
        ualign.fit_noise(P, [[0.0, 1.0, np.nan]], grid=[0.1, 0.6])
    with pytest.raises(ValueError, match="evidences must hold at least one row with a strict"):
        ualign.fit_noise(P, [[0.0, 0.0, np.nan]])
