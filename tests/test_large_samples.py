"""Win rates and payoffs at large k and ℓ (up to MAX_SAMPLES = 2^14), held to references in
60-digit arithmetic (mpmath), under both displays. The distinct path once returned NaN from
ℓ (or k with 17+ tied responses carrying mass) = 1030 on, where C(k, m) overflows (issue 22)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import ualign
from ualign import Profile
from ualign.core.checks import MAX_SAMPLES

mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp


def rtol(k: int) -> float:
    """The attainable relative accuracy at k (or ℓ) samples: x^k has condition number k, so a
    mass rounded by one ulp moves it by k ulps and no double-precision evaluation beats about
    k·eps (1.8e-12 at k = 2^14); 1e-12 below k = 1126."""
    return max(1e-12, 4 * k * np.finfo(float).eps)


def _classes(row):
    """Level classes of one user's row, best first: lists of responses."""
    return [list(np.flatnonzero(row == lv)) for lv in np.unique(row)]


def distinct_payoff_ref(levels, weights, pi, k, dps=60):
    """L^dist(π, y) by the subset form of THEORY §9 in ``dps`` digits: per user and class T
    (positive-mass members T+, mass a strictly worse), Σ_{C ⊆ T+} (a + p(C))^k / ((|T+|+1)
    C(|T+|, |C|))."""
    n = levels.shape[1]
    out = [mp.mpf(0)] * n
    with mp.workdps(dps):
        P = [mp.mpf(float(x)) for x in pi]
        for u in range(levels.shape[0]):
            w = mp.mpf(float(weights[u]))
            worse = mp.mpf(0)
            for cls in reversed(_classes(levels[u])):
                pos = [P[y] for y in cls if P[y] > 0]
                m = len(pos)
                val = mp.mpf(0)
                for r in range(m + 1):
                    for C in itertools.combinations(pos, r):
                        val += (worse + mp.fsum(C)) ** k / ((m + 1) * math.comb(m, r))
                for y in cls:
                    out[y] += w * val
                worse += mp.fsum(P[y] for y in cls)
        return np.array([float(x) for x in out])


def distinct_counts_ref(pos, a, ell):
    """D[j] = P(no draw strictly better than the class, j distinct members drawn) for ℓ draws,
    by inclusion-exclusion over the drawn set: Σ_{B ⊆ T+} (a + p(B))^ℓ (-1)^(j-|B|)
    C(|T+|-|B|, j-|B|) (mpmath numbers in, at the caller's precision)."""
    m = len(pos)
    D = [mp.mpf(0)] * (m + 1)
    for r in range(m + 1):
        for B in itertools.combinations(pos, r):
            x = (a + mp.fsum(B)) ** ell
            for j in range(r, m + 1):
                D[j] += x * (-1) ** (j - r) * math.comb(m - r, j - r)
    return D


def distinct_set_win_rate_ref(levels, weights, S, rho, ell, dps=80):
    """P(pick from the set S) against ℓ draws of ρ, both sides merged: per user, S's best
    level b with i distinct responses there, Σ_j D_ρ(b, j) i/(i+j)."""
    with mp.workdps(dps):
        R = [mp.mpf(float(x)) for x in rho]
        total = mp.mpf(0)
        for u in range(levels.shape[0]):
            row = levels[u]
            b = min(row[y] for y in S)
            i = len({y for y in S if row[y] == b})
            a = mp.fsum(R[y] for y in range(len(R)) if row[y] > b)
            pos = [R[y] for y in range(len(R)) if row[y] == b and R[y] > 0]
            D = distinct_counts_ref(pos, a, ell)
            total += mp.mpf(float(weights[u])) * mp.fsum(
                D[j] * mp.mpf(i) / (i + j) for j in range(len(D)))
        return float(total)


def multiset_win_rate_ref(levels, weights, pi, k, rho, ell, dps=60):
    """WR(π^{⊗k}, ρ^{⊗ℓ}) (multiset) by the double sum over copies at each level,
    Σ_{i>=1, j} C(k,i) t^i A^(k-i) C(ℓ,j) r^j B^(ℓ-j) i/(i+j), in ``dps`` digits."""
    with mp.workdps(dps):
        Pm = [mp.mpf(float(x)) for x in pi]
        R = [mp.mpf(float(x)) for x in rho]
        total = mp.mpf(0)
        for u in range(levels.shape[0]):
            row = levels[u]
            for lv in np.unique(row):
                t = mp.fsum(Pm[y] for y in range(len(Pm)) if row[y] == lv)
                A = mp.fsum(Pm[y] for y in range(len(Pm)) if row[y] > lv)
                r = mp.fsum(R[y] for y in range(len(R)) if row[y] == lv)
                B = mp.fsum(R[y] for y in range(len(R)) if row[y] > lv)
                row_j = binomial_row(ell, r, B)
                for i in range(1, k + 1):
                    ci = mp.binomial(k, i) * t ** i * A ** (k - i)
                    if ci == 0:
                        continue
                    total += mp.mpf(float(weights[u])) * ci * mp.fsum(
                        row_j[j] * mp.mpf(i) / (i + j) for j in range(ell + 1))
        return float(total)


def binomial_row(ell, r, B):
    """``[C(ℓ,j) r^j B^(ℓ-j) for j = 0..ℓ]`` in mpmath, by the exact ratio recurrence."""
    if B == 0:
        return [mp.mpf(0)] * ell + [r ** ell]
    term = B ** ell
    row = [term]
    for j in range(ell):
        term = term * (ell - j) / (j + 1) * r / B
        row.append(term)
    return row


def multiset_set_win_rate_ref(levels, weights, S, rho, ell, dps=60):
    """P(pick from S) against ℓ draws of ρ, copies counted: per user, S's best level b with i
    entries there, Σ_j C(ℓ,j) r^j B^(ℓ-j) i/(i+j)."""
    with mp.workdps(dps):
        R = [mp.mpf(float(x)) for x in rho]
        total = mp.mpf(0)
        for u in range(levels.shape[0]):
            row = levels[u]
            b = min(row[y] for y in S)
            i = sum(1 for y in S if row[y] == b)
            r = mp.fsum(R[y] for y in range(len(R)) if row[y] == b)
            B = mp.fsum(R[y] for y in range(len(R)) if row[y] > b)
            row_j = binomial_row(ell, r, B)
            total += mp.mpf(float(weights[u])) * mp.fsum(
                row_j[j] * mp.mpf(i) / (i + j) for j in range(ell + 1))
        return float(total)


# ----------------------------------------------------------------------------- the reported case
@pytest.mark.parametrize("ell", [1029, 1030, 4096, MAX_SAMPLES])
def test_distinct_one_response_against_itself_is_one_half(ell):
    P = Profile.from_levels([[0]])
    assert ualign.set_win_rate(P, [[0]], [1.0], 0, ell=ell, display="distinct") == \
        pytest.approx(0.5, abs=1e-15)
    assert ualign.win_rate(P, [1.0], 3, [1.0], ell=ell, display="distinct") == \
        pytest.approx(0.5, abs=1e-15)


# ----------------------------------------------------------------------------- distinct, large k
@pytest.mark.parametrize("k", [1030, 4096, MAX_SAMPLES])
def test_distinct_payoffs_with_17_tied_responses_at_large_k(k):
    """17 tied responses carry mass (the class the subset form prices, whatever k), plus
    strict classes; held to 60 digits."""
    rng = np.random.default_rng(k)
    levels = np.zeros((2, 20), dtype=int)
    levels[0, 17:] = [1, 2, 3]                  # user 0: a class of 17 on top, 3 below
    levels[1] = rng.permutation(20)             # user 1: strict
    P = Profile.from_levels(levels, [0.7, 0.3])
    pi = rng.dirichlet(np.ones(20))
    L = ualign.deviation_payoffs(P, pi, k, display="distinct")
    want = distinct_payoff_ref(P.levels, P.weights, pi, k)
    assert np.all(np.isfinite(L))
    np.testing.assert_allclose(L, want, rtol=rtol(k), atol=1e-300)
    r = ualign.robust_win_rate(P, pi, k, display="distinct")
    assert r.value == pytest.approx(1.0 - want.max(), abs=1e-12)


@pytest.mark.parametrize("k", [1030, 2000])
def test_distinct_payoffs_dp_path_at_large_k(k):
    """A class larger than the subset form takes (25 positive-mass responses: the DP in
    normalised form) stays finite and matches the subset reference on a 25-response class."""
    from ualign.core import _kernels

    rng = np.random.default_rng(1)
    masses = rng.dirichlet(np.ones(26))[:25]
    a = 1.0 - masses.sum()
    cnt = np.zeros(k + 1)
    _kernels.class_distinct_counts(masses, a, k, np.zeros(k + 1), cnt)
    dp = float(cnt @ (1.0 / (1.0 + np.arange(k + 1))))
    assert np.all(np.isfinite(cnt)) and cnt.sum() <= 1 + 1e-12
    sums = np.zeros((1 << 13) + (1 << 12))
    sub = _kernels.class_distinct_payoff_subsets(masses, a, k, _kernels.top_bit(k), sums,
                                                 np.zeros(26))
    assert dp == pytest.approx(sub, rel=1e-11)


# ----------------------------------------------------------------------------- distinct, large ℓ
@pytest.mark.parametrize("ell", [1030, 4096, MAX_SAMPLES])
def test_distinct_set_win_rate_at_large_ell(ell):
    levels = np.array([[0, 0, 1, 2], [1, 0, 0, 2], [2, 1, 0, 0]])
    P = Profile.from_levels(levels, [0.5, 0.3, 0.2])
    rho = np.array([0.4, 0.3, 0.2, 0.1])
    for S in ([0], [2, 3], [0, 1]):
        got = ualign.set_win_rate(P, [S], [1.0], rho, ell=ell, display="distinct")
        want = distinct_set_win_rate_ref(P.levels, P.weights, S, rho, ell)
        assert np.isfinite(got)
        assert got == pytest.approx(want, rel=rtol(ell), abs=1e-14)


# ----------------------------------------------------------------------------- multiset, large ℓ
@pytest.mark.parametrize("ell", [1030, 4096, MAX_SAMPLES])
def test_multiset_win_rate_at_large_ell(ell):
    levels = np.array([[0, 1, 2], [2, 1, 0], [1, 0, 0]])
    P = Profile.from_levels(levels, [0.5, 0.3, 0.2])
    pi, rho = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.5, 0.3])
    got = ualign.win_rate(P, pi, 2, rho, ell=ell)
    want = multiset_win_rate_ref(P.levels, P.weights, pi, 2, rho, ell)
    assert got == pytest.approx(want, rel=rtol(ell), abs=1e-14)
    for S in ([0, 1], [2, 2], [1]):
        got = ualign.set_win_rate(P, [S], [1.0], rho, ell=ell)
        want = multiset_set_win_rate_ref(P.levels, P.weights, S, rho, ell)
        assert got == pytest.approx(want, rel=rtol(ell), abs=1e-14)
