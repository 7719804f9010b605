"""Tests for the best k-output policy (column generation) and the worst ℓ-output opponent.

References: shared/spec/THEORY.md §6-7.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ualign import Profile, set_win_rate, win_rate
from ualign.solvers import multiset_win_matrix, solve_kset, solve_ualign, worst_opponent

pytestmark = pytest.mark.usefixtures("one_numba_thread")


def impartial_culture(N):
    return Profile.from_rankings(list(itertools.permutations(range(N))))


@pytest.mark.parametrize("N", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_kset_impartial_culture_closed_form(N, k):
    r = solve_kset(impartial_culture(N), k)
    assert r.exact and r.pricer == "enumeration"
    if k <= N:
        expected = k / (k + 1) + (k - 1) / (2 * (k + 1) * N)
    else:
        # The closed form holds for k <= N only. N = 2, k = 3 by hand: {a,a,b} wins 5/6 against
        # a and 3/4 against b, {a,b,b} the reverse; half of each wins 19/24 against either
        # (the formula would say 7/8).
        assert (N, k) == (2, 3)
        expected = 19 / 24
    assert r.value == pytest.approx(expected, abs=1e-9)
    assert r.upper_bound == pytest.approx(expected, abs=1e-9)
    assert r.opponent.sum() == pytest.approx(1.0) and np.all(r.opponent >= 0)
    assert r.converged and r.certificate == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_kset_random_at_least_k_over_k_plus_1(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 8)), int(rng.integers(1, 4))
    P = Profile.from_levels(rng.integers(0, 4, (30, n)), rng.random(30))
    r = solve_kset(P, k)
    assert r.value >= k / (k + 1) - 1e-9
    assert r.sets.shape[1] == k and abs(r.probs.sum() - 1) < 1e-12
    # value = worst single opponent, by the core evaluator, and dual optimality
    wr = [set_win_rate(P, r.sets, r.probs, y) for y in range(n)]
    assert r.value == pytest.approx(min(wr), abs=1e-12)
    assert r.upper_bound == pytest.approx(r.value, abs=1e-8)
    # the NE product policy is feasible: the best k-output policy is at least as good
    ne = solve_ualign(P, k)
    assert r.value >= ne.robust_win_rate - 1e-9
    # the greedy pricer brackets the exact optimum
    g = solve_kset(P, k, max_enumerate=0)
    assert not g.exact and g.pricer == "greedy"
    assert g.value <= r.value + 1e-9 <= g.upper_bound + 2e-9


def test_multiset_win_matrix_matches_core():
    rng = np.random.default_rng(1)
    P = Profile.from_levels(rng.integers(0, 3, (15, 5)), rng.random(15))
    sets = np.array(list(itertools.combinations_with_replacement(range(5), 3)))
    A = multiset_win_matrix(P.levels, P.weights, sets)
    for j in range(0, len(sets), 7):
        for y in range(5):
            assert A[j, y] == pytest.approx(set_win_rate(P, sets[j:j + 1], [1.0], y), abs=1e-12)


def _brute_force_worst(P, pi, k, ell):
    n = P.n_responses
    vals = {T: 1 - set_win_rate(P, np.array([T]), [1.0], pi, ell=k)
            for T in itertools.combinations_with_replacement(range(n), ell)}
    T = min(vals, key=vals.get)
    return vals[T], T


@pytest.mark.parametrize("ell", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_worst_opponent_vs_brute_force(seed, ell):
    rng = np.random.default_rng(seed)
    P = Profile.from_levels(rng.integers(0, 3, (12, 5)), rng.random(12))
    k = 2
    pi = solve_ualign(P, k).policy
    exact = worst_opponent(P, pi, k, ell)
    value, _ = _brute_force_worst(P, pi, k, ell)
    assert exact.exact and exact.value == pytest.approx(value, abs=1e-12)
    assert exact.lower_bound <= exact.value + 1e-12
    assert exact.lower_bound == pytest.approx(max(0.0, (k + 1 - ell) / (k + 1)), abs=1e-8)
    heur = worst_opponent(P, pi, k, ell, max_enumerate=0)
    assert not heur.exact
    assert heur.lower_bound - 1e-12 <= value <= heur.value + 1e-12
    # ℓ = 1 agrees with the core single-opponent evaluator
    if ell == 1:
        assert exact.value == pytest.approx(min(win_rate(P, pi, k, y) for y in range(5)),
                                            abs=1e-12)


def test_kset_bad_input():
    with pytest.raises(ValueError, match="k must be an integer"):
        solve_kset(impartial_culture(3), 0)
    with pytest.raises(ValueError, match="ell must be an integer"):
        worst_opponent(impartial_culture(3), np.ones(3) / 3, 2, 0)
    with pytest.raises(ValueError, match="policy must"):
        worst_opponent(impartial_culture(3), np.ones(3), 2, 1)
