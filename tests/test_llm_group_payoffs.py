"""Group payoff estimates in both displays (THEORY §8, §9) against brute-force enumeration of
the k-subsets of the other samples under the literal choice rule."""

import itertools

import numpy as np
import pytest

from ualign import Profile
from ualign.core.payoffs import deviation_payoffs
from ualign.llm.group_payoffs import (
    baseline_value,
    distinct_leave_one_out_payoffs,
    group_payoffs,
    group_result,
    text_classes,
)
from ualign.train.estimators import leave_one_out_payoffs


def brute(levels, k, weights, classes, display):
    """mean over k-subsets S of the others of Σ_u w_u 1{no j∈S better}/(1 + c)."""
    U, G = levels.shape
    out = np.zeros(G)
    for i in range(G):
        subsets = list(itertools.combinations([j for j in range(G) if j != i], k))
        for u in range(U):
            total = 0.0
            for S in subsets:
                if any(levels[u, j] < levels[u, i] for j in S):
                    continue
                tied = [j for j in S if levels[u, j] == levels[u, i]]
                c = len({classes[j] for j in tied}) if display == "distinct" else len(tied)
                total += 1.0 / (1 + c)
            out[i] += weights[u] * total / len(subsets)
    return out


def random_group(rng):
    G = int(rng.integers(2, 8))
    k = int(rng.integers(1, G))
    U = int(rng.integers(1, 4))
    classes = rng.integers(0, int(rng.integers(1, G + 1)), G)
    levels = rng.integers(0, 3, (U, classes.max() + 1))[:, classes]   # a class ranks as one
    w = rng.random(U) + 0.1
    return levels, k, w / w.sum(), classes


def test_both_displays_equal_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(150):
        lv, k, w, cl = random_group(rng)
        np.testing.assert_allclose(distinct_leave_one_out_payoffs(lv, k, w, cl),
                                   brute(lv, k, w, cl, "distinct"), rtol=0, atol=1e-12)
        np.testing.assert_allclose(group_payoffs(lv, w, k, "multiset"),
                                   brute(lv, k, w, cl, "multiset"), rtol=0, atol=1e-12)


def test_distinct_reduces_to_multiset():
    rng = np.random.default_rng(1)
    for _ in range(50):
        lv, k, w, cl = random_group(rng)
        multi = leave_one_out_payoffs(lv, k, w)
        # every text distinct: the displays coincide
        np.testing.assert_allclose(distinct_leave_one_out_payoffs(lv, k, w), multi, atol=1e-12)
        # k = 1: one draw, at most one copy either way
        np.testing.assert_allclose(distinct_leave_one_out_payoffs(lv, 1, w, cl),
                                   leave_one_out_payoffs(lv, 1, w), atol=1e-12)
        assert abs(multi.mean() - 1 / (k + 1)) < 1e-12


def test_distinct_hand_values():
    # G copies of one text: the competitor shows it, the policy shows it once: 1/2, any k
    lv = np.zeros((1, 5), dtype=int)
    for k in (1, 2, 4):
        np.testing.assert_allclose(distinct_leave_one_out_payoffs(lv, k, None, [0] * 5), 0.5)
        np.testing.assert_allclose(leave_one_out_payoffs(lv, k), 1 / (k + 1))
    # texts a, a, b; one user prefers b: k = 2 draws from the others
    lv = np.array([[1, 1, 0]])
    P = distinct_leave_one_out_payoffs(lv, 2, None, [0, 0, 1])
    # y_0 = a against {a, b}: b better -> 0; y_2 = b against {a, a}: b wins -> 1
    np.testing.assert_allclose(P, [0.0, 0.0, 1.0])


def test_text_classes_and_merged_levels():
    np.testing.assert_array_equal(text_classes(["Yes.", "yes", "no", "Yes."]), [0, 0, 1, 0])
    np.testing.assert_array_equal(text_classes(["Yes.", "yes"], "identical"), [0, 1])
    np.testing.assert_array_equal(text_classes(["x", "y"], lambda t: [5, 5]), [5, 5])
    with pytest.raises(ValueError, match="same must be"):
        text_classes(["x"], "fuzzy")
    # "Yes." and "yes" are one response: the merged class takes the first member's levels
    lv = np.array([[0, 2, 1]])
    r = group_result(lv, np.ones(1), ["Yes.", "yes", "no"], 1, "distinct")
    np.testing.assert_allclose(r["payoffs"], distinct_leave_one_out_payoffs(
        np.array([[0, 0, 1]]), 1, None, [0, 0, 1]))


def test_baselines():
    P = np.array([0.1, 0.5, 0.6])
    assert baseline_value(P, 2, "constant") == pytest.approx(1 / 3)
    assert baseline_value(P, 2, "group_mean") == pytest.approx(0.4)
    assert baseline_value(P, 2, "none") == 0.0
    with pytest.raises(ValueError, match="baseline must be one of"):
        baseline_value(P, 2, "median")


@pytest.mark.parametrize("args,match", [
    ((np.zeros((2, 3)), 3), "must be >= k\\+1 = 4"),
    ((np.zeros(3), 1), "shape \\(U, G\\)"),
    ((np.full((1, 3), 0.5), 1), "levels must be integers, got 0.5 at index \\(0, 0\\)"),
    ((np.zeros((1, 3), int), 0), "k must be an integer >= 1"),
])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        distinct_leave_one_out_payoffs(*args)


def test_bad_classes():
    with pytest.raises(ValueError, match="classes: samples \\[0, 1\\] are one response"):
        distinct_leave_one_out_payoffs(np.array([[0, 1, 1]]), 1, None, [0, 0, 1])
    with pytest.raises(ValueError, match="classes must be \\(3,\\) integer labels"):
        distinct_leave_one_out_payoffs(np.zeros((1, 3), int), 1, None, [0, 1])
    with pytest.raises(ValueError, match="display must be one of"):
        group_payoffs(np.zeros((1, 3), int), None, 1, "set")


@pytest.mark.parametrize("display", ["multiset", "distinct"])
def test_unbiased_for_the_engines_payoffs(display):
    """E[P̂_i | y_i = y] over the G-1 other samples drawn i.i.d. from π (exact sum over all
    n^(G-1) tuples) equals the engine's L(π, y) in the same display (THEORY §3, §9)."""
    rng = np.random.default_rng(3)
    for _ in range(4):
        n, U = 3, 4
        lv = rng.integers(0, 2, (U, n))
        P = Profile.from_levels(np.array([np.unique(r, return_inverse=True)[1] for r in lv]),
                                rng.random(U) + 0.1)
        pi = rng.dirichlet(np.ones(n))
        for k, G in [(1, 3), (2, 4), (3, 4)]:
            exact = deviation_payoffs(P, pi, k, display=display)
            est = np.zeros(n)
            for y in range(n):
                for others in itertools.product(range(n), repeat=G - 1):
                    idx = np.array((y, *others))
                    P_hat = group_payoffs(P.levels[:, idx], P.weights, k, display, idx)
                    est[y] += np.prod(pi[list(others)]) * P_hat[0]
            np.testing.assert_allclose(est, exact, rtol=0, atol=1e-12)
