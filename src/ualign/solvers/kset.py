"""The best k-output policy of any form: a distribution over k-multisets (THEORY §7).

    maximise v  s.t.  Σ_S x_S WR(S, y') >= v  for every response y',   x ∈ Δ(multisets),

with ``WR(S, y')`` the chance a user shown ``S ⊎ {y'}`` picks a copy from S: per user, with
``b`` the best level in S and ``i`` its copies there, 1 if ``y'`` is strictly worse than b,
``i/(i+1)`` if tied, 0 if better. There are C(n+k-1, k) multisets, so the LP is solved by column
generation: the restricted master gives duals ``q`` (a distribution over opponents y', the
worst opponents) and pricing asks for the multiset maximising ``Σ_y' q(y') WR(S, y')``, i.e.
the set that best covers the weighted (user, y') pairs. A column enters while its price exceeds
the master value.

Pricers: ``"enumeration"`` (exact; all multisets, used when there are at most
``max_enumerate``) and ``"greedy"`` (beyond: greedy construction then best-improvement swaps,
from the 8 best single responses; not exact). With the greedy pricer the LP value is certified only
between ``value`` (achieved) and ``upper_bound`` = ``Σ_u w_u max_S price_u(S)`` (per user the
best set is k copies of a favourite), reported with ``exact = False``.

References: shared/spec/THEORY.md §6-7.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping
from math import comb

import numpy as np
from scipy.optimize import linprog

from ualign.core._search import greedy_local_search
from ualign.core.checks import check_iterations, check_k, check_size, check_whole
from ualign.core.payoffs import robust_set_win_rate
from ualign.core.sets import set_win_matrix
from ualign.solvers.diagnostics import Diagnostics, KSetDiagnostics
from ualign.solvers.registry import Options, check_field
from ualign.solvers.result import (
    SolverError,
    adopt_extras,
    check_nonneg,
    check_positive,
    check_profile,
    with_extras_view,
)

__all__ = ["KSetOptions", "KSetResult", "multiset_win_matrix", "solve_kset"]


@with_extras_view
@dataclasses.dataclass(frozen=True)
class KSetResult:
    """Best k-output policy: ``probs[j]`` on the multiset ``sets[j]`` (a ``Certified`` result).

    Attributes:
      sets: ``(m, k)`` int response indices (sorted within a row).
      probs: ``(m,)`` probabilities.
      value: ``min_y' Σ_j probs[j] WR(sets[j], y')``, re-evaluated by ``ualign.set_win_rate``.
      opponent: ``(n,)`` LP duals, a worst opponent mixture (Σ = 1).
      upper_bound: certified upper bound on the optimal value (equals ``value`` up to the LP
        tolerance when ``exact``).
      exact: whether pricing was exact (enumeration), so ``value`` is the LP optimum.
      pricer: ``"enumeration"`` or ``"greedy"``.
      iterations: column-generation rounds; columns: columns generated in total.
      worst_response: the single response ``y'`` attaining ``value``.
      converged: whether column generation stopped because no column prices above the master
        value (False when it ran out of ``max_rounds``).
      seconds: wall time; diagnostics: ``KSetDiagnostics`` (master values per round).
      extras: deprecated read-only mapping view of ``seconds`` and the diagnostics.
      robust_win_rate (= ``value``) and certificate (= ``upper_bound - value``, the certified
      optimality gap) complete the ``Certified`` protocol.
      display: ``"multiset"`` (k-multisets, THEORY §2) or ``"distinct"`` (k-subsets, §9).
    """

    sets: np.ndarray
    probs: np.ndarray
    value: float
    opponent: np.ndarray
    upper_bound: float
    exact: bool
    pricer: str
    iterations: int
    columns: int
    worst_response: int | None = None
    converged: bool | None = None
    seconds: float = 0.0
    diagnostics: Diagnostics = dataclasses.field(default_factory=Diagnostics)
    extras: dataclasses.InitVar[Mapping | None] = None
    display: str = "multiset"

    def __post_init__(self, extras):
        adopt_extras(self, extras)

    @property
    def robust_win_rate(self) -> float:
        """``value``: the worst case over single responses of the k-set policy's win rate."""
        return self.value

    @property
    def certificate(self) -> float:
        """``upper_bound - value``: how far ``value`` can be from the optimum, certified."""
        return self.upper_bound - self.value


def multiset_win_matrix(levels, weights, sets, chunk: int = 256) -> np.ndarray:
    """``A[j, y'] = WR(sets[j], y')`` for single opponents: ``(m, n)``. O(U m n)."""
    return set_win_matrix(levels, weights, sets, "multiset", chunk)


def _master(A):
    """max v s.t. Aᵀx >= v, Σx = 1, x >= 0. Returns (x, v, q duals on the opponents)."""
    m, n = A.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A.T, np.ones((n, 1))])
    A_eq = np.zeros((1, m + 1))
    A_eq[0, :m] = 1.0
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise SolverError(f"k-set master LP failed: {res.message}", res.status)
    q = np.clip(-res.ineqlin.marginals, 0.0, None)
    return np.clip(res.x[:m], 0.0, None), float(res.x[-1]), q / q.sum()


def _greedy_price(levels, weights, q, k, n, n_seeds=8):
    """Heuristic pricing: from each of the ``n_seeds`` responses whose k-copy set prices highest,
    add the response that raises the price most until k are chosen, then best-improvement
    single swaps until none improves."""
    def price(sets):
        return multiset_win_matrix(levels, weights, sets) @ q

    single = price(np.repeat(np.arange(n)[:, None], k, axis=1))
    seeds = np.argsort(-single, kind="stable")[:n_seeds]
    S, val, _ = greedy_local_search(price, n, k, seeds)
    return S, val


def solve_kset(profile, k: int, *, display: str = "multiset", randomised: bool = True,
               max_enumerate: int = 50000, tol: float = 1e-10, max_rounds: int | None = None,
               **options) -> KSetResult:
    """The best k-output policy (any distribution over k-multisets) by LP column generation.

    Args:
      profile: the population.
      k: outputs per query (>= 1).
      max_enumerate: enumerate all C(n+k-1, k) multisets (exact pricing) when at most this
        many; otherwise use the greedy/local-search pricer (``exact = False``).
      tol: a column enters when its price exceeds the master value by more than tol; a finite
        number in [0, 1).
      display: ``"multiset"`` (default, the paper's) or ``"distinct"``: k-subsets, solved by
        ``ualign.solvers.kset_distinct.solve_kset_distinct`` (with ``randomised`` and its
        ``options``: gap_tol, time_limit, n_seeds, max_mip_nonzeros).

    Returns:
      ``KSetResult``. The LP optimum is >= k/(k+1) (the NE product policy is feasible), and
      when exact pricing converges the optimum is <= value + tol, so ``value >= k/(k+1) - tol``
      (``value >= k/(k+1)`` up to the default tol of 1e-10).

    References: shared/spec/THEORY.md §7.
    """
    if display == "distinct":
        from ualign.solvers.kset_distinct import solve_kset_distinct

        return solve_kset_distinct(profile, k, randomised=randomised, tol=tol,
                                   max_rounds=max_rounds, **options)
    if display != "multiset":
        raise ValueError(f"display must be 'multiset' or 'distinct', got {display!r}")
    if options or randomised is not True:
        bad = next(iter(options)) if options else "randomised"
        raise ValueError(f"option {bad!r} is for display='distinct' only")
    max_rounds = 500 if max_rounds is None else max_rounds
    profile = check_profile(profile)
    k = check_k(k)
    tol = check_nonneg(tol, "tol")
    if tol >= 1.0:
        raise ValueError(f"tol must be a finite number in [0, 1) (win rates lie in [0, 1]), "
                         f"got {tol}")
    max_enumerate = check_whole(max_enumerate, "max_enumerate")
    max_rounds = check_iterations(max_rounds, "max_rounds")
    t0 = time.perf_counter()
    lv = profile.levels.astype(np.int64)
    w = profile.weights
    n = profile.n_responses
    total = comb(n + k - 1, k)
    exact = total <= max_enumerate
    if exact:
        check_size(8 * total * (k + n) + 8 * profile.n_users * min(total, 256) * (k + n),
                   f"enumerating all {total} {k}-multisets of {n} responses (max_enumerate)")
        all_sets = np.array(list(itertools.combinations_with_replacement(range(n), k)),
                            dtype=np.int64)
        A_all = multiset_win_matrix(lv, w, all_sets)
    cols = [tuple([y] * k) for y in range(n)]
    A = multiset_win_matrix(lv, w, np.array(cols))
    values = []
    # Each round solves the master on every column so far, then prices; the loop stops when no
    # column prices above v + tol (converged) or after max_rounds masters, so x, q and the
    # price always refer to the same columns.
    rounds = 1
    x, v, q = _master(A)
    converged = False
    while True:
        values.append(v)
        if exact:
            prices = A_all @ q
            j = int(np.argmax(prices))
            new, price = tuple(all_sets[j]), float(prices[j])
        else:
            S, price = _greedy_price(lv, w, q, k, n)
            new = tuple(int(s) for s in S)
        if price <= v + tol or new in set(cols):
            converged = True
            break
        if rounds >= max_rounds:
            break
        cols.append(new)
        A = np.vstack([A, multiset_win_matrix(lv, w, np.array([new]))])
        rounds += 1
        x, v, q = _master(A)
    keep = x > 1e-13
    sets = np.array(cols, dtype=np.int64)[keep]
    probs = x[keep] / x[keep].sum()
    robust = robust_set_win_rate(profile, sets, probs)
    if exact:
        upper = float((A_all @ q).max())
    else:
        top = lv == lv.min(axis=1, keepdims=True)  # (U, n) users' favourite class
        per_user = (~top).astype(float) @ q + (k / (k + 1.0)) * (top.astype(float) @ q)
        upper = max(float(w @ per_user), float(price))
    return KSetResult(sets=sets, probs=probs, value=robust.value, opponent=q,
                      upper_bound=upper, exact=exact,
                      pricer="enumeration" if exact else "greedy", iterations=rounds,
                      columns=len(cols), worst_response=robust.worst, converged=converged,
                      seconds=time.perf_counter() - t0,
                      diagnostics=KSetDiagnostics(master_values=tuple(values)))


@dataclasses.dataclass(frozen=True)
class KSetOptions(Options):
    """Options of the registered method ``"kset"`` (the arguments of :func:`solve_kset`)."""

    max_enumerate: int = 50000
    tol: float = 1e-10
    max_rounds: int = 500

    def __post_init__(self):
        check_field(self, "max_enumerate", check_whole, optional=False)
        check_field(self, "tol", check_positive, optional=False)
        check_field(self, "max_rounds", check_iterations, optional=False)


def kset_method(profile, k, opts: KSetOptions) -> KSetResult:
    """The registered ``"kset"``: :func:`solve_kset`."""
    return solve_kset(profile, k, max_enumerate=opts.max_enumerate, tol=opts.tol,
                      max_rounds=opts.max_rounds)
