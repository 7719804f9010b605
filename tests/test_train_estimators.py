"""Tests of the leave-one-out payoff estimate P̂ (THEORY §8)."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ualign import Profile, deviation_payoffs
from ualign.train.estimators import leave_one_out_payoffs, levels_from_scores, loo_coefficients


def _brute_pick(levels_u, i, others):
    """Probability that copy i is picked among {i} ∪ others for one user (multiset-uniform)."""
    shown = [i, *others]
    best = min(levels_u[j] for j in shown)
    if levels_u[i] != best:
        return 0.0
    return 1.0 / sum(levels_u[j] == best for j in shown)


def _brute_loo(levels, k, weights):
    U, G = levels.shape
    out = np.zeros(G)
    for i in range(G):
        rest = [j for j in range(G) if j != i]
        subsets = list(itertools.combinations(rest, k))
        for u in range(U):
            out[i] += weights[u] * np.mean([_brute_pick(levels[u], i, s) for s in subsets])
    return out


def test_hand_value_two_samples():
    # k = 1, G = 2: the winner gets 1, the loser 0; a tie gives 1/2 each
    assert np.allclose(leave_one_out_payoffs([[0, 1]], 1), [1.0, 0.0])
    assert np.allclose(leave_one_out_payoffs([[0, 0]], 1), [0.5, 0.5])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 3), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_matches_subset_enumeration(k, extra, U, seed):
    rng = np.random.default_rng(seed)
    G = k + 1 + extra
    levels = rng.integers(0, 3, size=(U, G))
    w = rng.random(U) + 0.1
    w /= w.sum()
    got = leave_one_out_payoffs(levels, k, w)
    assert np.allclose(got, _brute_loo(levels, k, w), atol=1e-12)
    # the mean over the group is exactly 1/(k+1)
    assert got.mean() == pytest.approx(1 / (k + 1), abs=1e-12)


@pytest.mark.parametrize("k,G", [(1, 2), (1, 3), (2, 3), (2, 4), (3, 5)])
def test_unbiased_by_exact_enumeration(k, G):
    """E[P̂_i | y_i = y] = L(π, y): enumerate all n^G draws of a small discrete policy."""
    rng = np.random.default_rng(k * 10 + G)
    n, U = 3, 4
    P = Profile.from_levels(rng.integers(0, 2, size=(U, n)), weights=rng.random(U) + 0.2)
    pi = np.array([0.5, 0.3, 0.2])
    num = np.zeros(n)
    for draw in itertools.product(range(n), repeat=G):
        prob = math.prod(pi[d] for d in draw)
        p_hat = leave_one_out_payoffs(P.levels[:, list(draw)], k, P.weights)
        num[draw[0]] += prob * p_hat[0]
    conditional = num / pi
    assert np.allclose(conditional, deviation_payoffs(P, pi, k), atol=1e-12)


def test_batched_equals_looped():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 4, size=(5, 6, 7))
    w = rng.random((5, 6))
    batched = leave_one_out_payoffs(levels, 2, w)
    for b in range(5):
        assert np.allclose(batched[b], leave_one_out_payoffs(levels[b], 2, w[b] / w[b].sum()))


def test_levels_from_scores():
    s = np.array([[0.3, np.nan, 0.9, 0.3]])
    assert levels_from_scores(s).tolist() == [[1, 2, 0, 1]]


def test_group_too_small_raises():
    with pytest.raises(ValueError, match="k\\+1"):
        leave_one_out_payoffs(np.zeros((2, 2), int), k=2)
    with pytest.raises(ValueError, match="k\\+1"):
        loo_coefficients(3, 3)
    with pytest.raises(ValueError, match="k must be"):
        leave_one_out_payoffs(np.zeros((2, 3), int), k=0)
    with pytest.raises(ValueError, match="integers"):
        leave_one_out_payoffs(np.full((2, 3), 0.5), k=1)
