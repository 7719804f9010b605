"""Brute-force oracles: enumerate every draw and apply the choice rule literally.

A user shown the copies of ``S ⊎ S'`` picks one copy uniformly among those of minimal level
(THEORY.md §2). Nothing here shares code with the engine.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from ualign.data.generators import random_profile


def pick_share(levels_row, model_items, opp_items) -> float:
    """Probability that the picked copy belongs to the model's items."""
    copies = [(levels_row[y], 0) for y in model_items] + [(levels_row[y], 1) for y in opp_items]
    best = min(c[0] for c in copies)
    winners = [c for c in copies if c[0] == best]
    return sum(1 for c in winners if c[1] == 0) / len(winners)


def distinct_pick_share(levels_row, model_items, opp_items) -> float:
    """Merge each side (one copy per distinct response and side), then pick uniformly among the
    copies of minimal level; the probability the pick is one of the model's copies."""
    copies = [(levels_row[y], 0) for y in set(model_items)]
    copies += [(levels_row[y], 1) for y in set(opp_items)]
    best = min(c[0] for c in copies)
    winners = [c for c in copies if c[0] == best]
    return sum(1 for c in winners if c[1] == 0) / len(winners)


def tuples(dist, k):
    """All ordered k-tuples with their probabilities under i.i.d. sampling."""
    n = len(dist)
    for t in itertools.product(range(n), repeat=k):
        p = float(np.prod([dist[i] for i in t]))
        if p > 0:
            yield t, p


def win_rate(levels, weights, pi, k, rho, ell, share=pick_share) -> float:
    """WR(π^{⊗k}, ρ^{⊗ℓ}) by enumerating every draw; ``share(levels_row, S, T)`` is the literal
    choice rule (``pick_share``: multiset display; a distinct-display rule may be passed)."""
    total = 0.0
    for S, p in tuples(pi, k):
        for T, q in tuples(rho, ell):
            for u in range(len(weights)):
                total += weights[u] * p * q * share(levels[u], S, T)
    return total


def deviation_payoffs(levels, weights, pi, k) -> np.ndarray:
    """L(π, y): y as the lone opponent copy against k samples of π, from the opponent's side."""
    n = levels.shape[1]
    out = np.zeros(n)
    for y in range(n):
        e = np.zeros(n)
        e[y] = 1.0
        out[y] = 1.0 - win_rate(levels, weights, pi, k, e, 1)
    return out


def set_win_rate(levels, weights, sets, probs, rho, ell) -> float:
    total = 0.0
    for S, q in zip(sets, probs, strict=True):
        for T, r in tuples(rho, ell):
            for u in range(len(weights)):
                total += weights[u] * q * r * pick_share(levels[u], list(S), T)
    return total


def sum_form_exact(a: float, t: float, k: int, dps: int = 60) -> float:
    """Σ_m C(k,m) t^m a^(k-m) / (m+1) in ``dps``-digit arithmetic (all terms positive)."""
    import mpmath

    with mpmath.workdps(dps):
        A, T = mpmath.mpf(a), mpmath.mpf(t)
        return float(sum((mpmath.binomial(k, m) * T**m * A ** (k - m) / (m + 1)
                          for m in range(k + 1)), mpmath.mpf(0)))


def sum_form_payoffs(levels, weights, pi, k, dps=60) -> np.ndarray:
    """L(π, ·) by the O(k) sum form Σ_m C(k,m) t^m a^(k-m)/(m+1), in ``dps``-digit arithmetic.

    Every term is positive, so plain rounded sums are accurate far below double precision
    (``mpmath.fsum`` would sum exactly, with million-bit integers when terms run from 1 down to
    1e-300000)."""
    import mpmath

    U, n = levels.shape
    out = np.zeros(n)
    with mpmath.workdps(dps):
        P = [mpmath.mpf(float(p)) for p in pi]
        zero = mpmath.mpf(0)
        for y in range(n):
            acc = zero
            for u in range(U):
                a = sum((P[z] for z in range(n) if levels[u, z] > levels[u, y]), zero)
                t = sum((P[z] for z in range(n) if levels[u, z] == levels[u, y]), zero)
                acc += mpmath.mpf(float(weights[u])) * sum(
                    (mpmath.binomial(k, m) * t**m * a ** (k - m) / (m + 1)
                     for m in range(k + 1)), zero)
            out[y] = float(acc)
    return out


def maximal_lottery(rankings) -> np.ndarray:
    """The maximal lottery of voter-level ``rankings`` (row v lists the candidates best first)
    by support enumeration: p >= 0, sum 1, with p^T M >= 0 for the majority-margin matrix M.
    Unique (so well defined here) when the number of voters is odd. No LP solver is used."""
    R = np.asarray(rankings)
    n = R.shape[1]
    pos = np.argsort(R, axis=1)                       # pos[v, c] = place of c for voter v
    M = np.sign(pos[:, None, :] - pos[:, :, None]).sum(axis=0).astype(float)  # a over b
    for size in range(1, n + 1):
        for S in itertools.combinations(range(n), size):
            S = list(S)
            A = np.vstack([M[np.ix_(S, S)].T, np.ones(size)])
            b = np.r_[np.zeros(size), 1.0]
            pS, *_ = np.linalg.lstsq(A, b, rcond=None)
            if np.abs(A @ pS - b).max() > 1e-9 or pS.min() < -1e-12:
                continue
            p = np.zeros(n)
            p[S] = pS
            if (p @ M).min() >= -1e-9:
                return np.clip(p, 0.0, None) / np.clip(p, 0.0, None).sum()
    raise AssertionError("no maximal lottery found (support enumeration)")


def random_policy(rng, n, sparse=False):
    """A Dirichlet(0.7) policy over n responses; ``sparse``: one response given zero mass."""
    p = rng.dirichlet(np.ones(n) * 0.7)
    if sparse and n > 1:
        p[rng.integers(n)] = 0.0
        p /= p.sum()
    return p


@st.composite
def instances(draw):
    """Hypothesis strategy: ``(profile, k, rng)`` with 1-6 users and responses, strict orders or
    ties, k in 1..12, and the Generator that drew the profile (to draw policies from)."""
    U = draw(st.integers(1, 6))
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    ties = draw(st.booleans())
    k = draw(st.integers(1, 12))
    rng = np.random.default_rng(seed)
    return random_profile(rng, n, U, n_levels=max(1, n - 1) if ties else None), k, rng
