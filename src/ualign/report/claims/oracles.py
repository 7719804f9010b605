"""Brute-force oracles of the claims: exact answers by enumerating every candidate, for small
instances. The claims compare the engine and the solvers with them; the tests import them from
here (the one home of these enumerations; ``tests/oracle.py`` holds the tests' own literal
choice-rule oracles, which share no code with the engine).

- :func:`worst_ell_output`: the worst ℓ-output opponent, over every ℓ-multiset (claim (v));
- :func:`best_distinct_kset_lp`: the best distribution over k-subsets of distinct responses,
  by the LP over every k-subset (claims (viii), (ix));
- :func:`literal_distinct_payoffs`: ``L^dist(π, y)`` over every k-tuple of samples (claim (x)).

References: shared/spec/THEORY.md §2, §6, §7, §9.
"""

from __future__ import annotations

import itertools

import numpy as np

from ualign.core import Profile, robust_set_win_rate, set_win_rate
from ualign.core.sets import set_win_matrix
from ualign.solvers.kset import kset_lp

__all__ = ["best_distinct_kset_lp", "best_mixture_lp", "literal_distinct_payoffs",
           "worst_ell_output"]


def worst_ell_output(profile: Profile, policy, k: int, ell: int) -> tuple[float, tuple[int, ...]]:
    """``min over every ℓ-output policy Π' of WR(π^{⊗k}, Π')`` and a minimising ℓ-multiset.

    WR is linear in the opponent's distribution over ℓ-multisets, so the minimum over all
    ℓ-output opponents (correlated ones included) is attained at a single multiset ``S'``:
    ``WR(π^{⊗k}, S') = 1 - P(pick from S' against k samples of π)``, the latter being
    ``set_win_rate(profile, [S'], [1], π, ell=k)``. Enumerates all ``C(n+ℓ-1, ℓ)`` multisets.

    References: THEORY.md §2 (linearity in the opponent), §6 (ℓ-output opponents).
    """
    n = profile.n_responses
    sets = np.array(list(itertools.combinations_with_replacement(range(n), ell)), dtype=np.int64)
    wr = np.array([1.0 - set_win_rate(profile, s[None, :], [1.0], policy, ell=k) for s in sets])
    j = int(np.argmin(wr))
    return float(wr[j]), tuple(int(v) for v in sets[j])


def best_mixture_lp(A: np.ndarray) -> tuple[np.ndarray, float]:
    """The best mixture of the rows of a win matrix against the worst column:

        max v  s.t.  Aᵀx >= v·1,  Σ x = 1,  x >= 0,

    ``A: (m, n)``, ``A[j, y'] = WR(set j, y')``: :func:`ualign.solvers.kset.kset_lp` over every
    set (the oracle is independent in its rows, not in the LP); returns ``(x (m,), v)``. A failed
    LP raises ``SolverError`` with HiGHS's status.

    References: THEORY.md §7 (the LP).
    """
    lp = kset_lp(A)  # the master's LP, here over every set at once
    return lp.x, lp.value


def best_distinct_kset_lp(profile: Profile, k: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The best distribution over k-subsets of distinct responses by the LP over *every*
    k-subset (exact; for small instances): ``(value, sets, probs)``, the value re-evaluated by
    ``robust_set_win_rate(..., display="distinct")``. The LP's rows are the engine's
    ``core.sets.set_win_matrix(..., "distinct")``; the LP is :func:`best_mixture_lp`.

    References: THEORY.md §7 (the LP), §9.
    """
    n = profile.n_responses
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n = {n}] for sets of distinct responses, got {k}")
    sets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
    A = set_win_matrix(profile.levels, profile.weights, sets, "distinct")
    x, _v = best_mixture_lp(A)
    keep = x > 1e-12
    probs = x[keep] / x[keep].sum()
    value = robust_set_win_rate(profile, sets[keep], probs, display="distinct").value
    return value, sets[keep], probs


def literal_distinct_payoffs(profile: Profile, policy, k: int) -> np.ndarray:
    """``L^dist(π, y)`` by literal enumeration of every k-tuple of samples (n^k of them): the
    samples are merged, y is shown once by the competitor, and the user picks uniformly among
    the copies at the best level of all that is shown (a response shown by both sides is one
    copy per side). An oracle for small n and k.

    References: THEORY.md §9.
    """
    n = profile.n_responses
    pi = np.asarray(policy, dtype=float)
    tuples = np.array(list(itertools.product(range(n), repeat=k)), dtype=np.int64)  # (m, k)
    prob = np.prod(pi[tuples], axis=1)  # (m,)
    member = np.zeros((len(tuples), n), dtype=bool)
    member[np.arange(len(tuples))[:, None], tuples] = True  # merged samples
    out = np.zeros(n)
    for lv, w in zip(profile.levels, profile.weights, strict=True):
        for y in range(n):
            better = (member & (lv < lv[y])).any(axis=1)
            tied = (member & (lv == lv[y])).sum(axis=1)  # distinct samples tied with y
            out[y] += w * float(prob @ np.where(better, 0.0, 1.0 / (1.0 + tied)))
    return out
