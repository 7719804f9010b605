"""The best k-output policy of any form: a distribution over k-multisets (THEORY §7).

    maximise v  s.t.  Σ_S x_S WR(S, y') >= v  for every response y',   x ∈ Δ(multisets),

with ``WR(S, y')`` the chance a user shown ``S ⊎ {y'}`` picks a copy from S: per user, with
``b`` the best level in S and ``i`` its copies there, 1 if ``y'`` is strictly worse than b,
``i/(i+1)`` if tied, 0 if better. There are C(n+k-1, k) multisets, so the LP is solved by column
generation (``solvers.kset.colgen``) from the n sets of k copies of one response: the
restricted master's duals ``q`` (the worst opponents) price a multiset by ``Σ_y' q(y')
WR(S, y')``, the set that best covers the weighted (user, y') pairs; a column enters while its
price exceeds the master value by more than ``tol``.

Pricers (``solvers.kset.pricers``): ``"enumeration"`` (exact; ``"auto"`` uses it when there are
at most ``max_enumerate`` multisets) and ``"greedy"`` (beyond: greedy construction then swaps,
from the 8 best single responses; not exact). With the greedy pricer the LP value is certified
only between ``value`` (achieved) and ``upper_bound`` = ``Σ_u w_u max_S price_u(S)`` at the
last duals (per user the best set is k copies of a favourite), reported with ``exact = False``.

References: shared/spec/THEORY.md §6-7.
"""

from __future__ import annotations

import dataclasses
import time
from math import comb

import numpy as np

from ualign.core.checks import (
    check_iterations,
    check_k,
    check_nonneg,
    check_profile,
    check_whole,
)
from ualign.core.displays import PAPER_DISPLAY
from ualign.core.payoffs import robust_set_win_rate
from ualign.core.sets import set_win_matrix
from ualign.solvers._talk import stopped_early
from ualign.solvers.diagnostics import KSetDiagnostics
from ualign.solvers.kset import colgen
from ualign.solvers.kset.pricers import check_pricer, pricer_kind
from ualign.solvers.kset.problem import Problem
from ualign.solvers.kset.result import KSetResult
from ualign.solvers.registry import Options, check_field

__all__ = ["KSetOptions", "check_tol", "kset_multiset", "multiset_win_matrix"]

MAX_ROUNDS = 500
"""Column-generation rounds of a multiset solve when ``max_rounds`` is None."""

SUPPORT_TOL = 1e-13
"""Columns with at most this probability are dropped from the answer (then renormalised)."""


def check_tol(x, name: str) -> float:
    """A tolerance on win rates: a finite number in ``[0, 1)``."""
    x = check_nonneg(x, name)
    if x >= 1.0:
        raise ValueError(f"{name} must be a finite number in [0, 1) (win rates lie in [0, 1]), "
                         f"got {x}")
    return x


@dataclasses.dataclass(frozen=True)
class KSetOptions(Options):
    """Options of ``"kset"``, the best distribution over k-multisets (``solve_kset``).

    max_enumerate: ``"auto"`` enumerates all C(n+k-1, k) multisets (exact pricing) when at most
      this many, else prices greedily (``exact = False``).
    max_rounds: column-generation rounds (None: 500); a run that ends them with exact pricing
      still finding columns has ``exact = converged = False`` and warns
      (``StoppedEarlyWarning``).
    tol: a column enters when its price exceeds the master value by more than tol; in [0, 1).
    pricer: ``"auto"`` or a registered multiset pricer (``"enumeration"``, ``"greedy"``).
    """

    max_enumerate: int = 50000
    tol: float = 1e-10
    max_rounds: int | None = None
    pricer: str = "auto"

    def __post_init__(self):
        check_field(self, "max_enumerate", check_whole, optional=False)
        check_field(self, "tol", check_tol, optional=False)
        check_field(self, "max_rounds", check_iterations)
        check_field(self, "pricer", check_pricer(False), optional=False)


def multiset_win_matrix(levels, weights, sets, chunk: int = 256) -> np.ndarray:
    """``A[j, y'] = WR(sets[j], y')`` for single opponents: ``(m, n)``. O(U m n).

    Examples:
      Three users in a Condorcet cycle: two copies of response 0 tie with a copy of 0 (2/3)
      and win for the two users who rank 0 above 2; the set {0, 1} beats 1 with 5/6.

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.solvers.kset import multiset_win_matrix
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> multiset_win_matrix(P.levels, P.weights, np.array([[0, 0], [0, 1]])).round(4).tolist()
      [[0.6667, 0.6667, 0.3333], [0.6667, 0.8333, 0.6667]]
    """
    return set_win_matrix(levels, weights, sets, PAPER_DISPLAY, chunk)


def kset_multiset(profile, k, opts: KSetOptions, display: str = PAPER_DISPLAY) -> KSetResult:
    """The best k-output policy (any distribution over k-multisets) by LP column generation:
    the registered ``"kset"``.

    Returns:
      ``KSetResult``. The LP optimum is >= k/(k+1) (the NE product policy is feasible), and
      when exact pricing converges the optimum is <= value + tol, so ``value >= k/(k+1) - tol``.

    Examples:
      A Condorcet cycle of three users, k = 2: the three pairs, each a third of the time,
      win 13/18 against any single response (above k/(k+1) = 2/3).

      >>> from ualign import Profile
      >>> from ualign.solvers.kset import KSetOptions, kset_multiset
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> r = kset_multiset(P, 2, KSetOptions())
      >>> sorted(r.sets.tolist()), r.probs.round(4).tolist(), round(r.value, 6), r.exact
      ([[0, 1], [0, 2], [1, 2]], [0.3333, 0.3333, 0.3333], 0.722222, True)

    References: shared/spec/THEORY.md §7.
    """
    profile = check_profile(profile)
    k = check_k(k)
    t0 = time.perf_counter()
    problem = Problem(profile, profile.levels.astype(np.int64), profile.weights, k, display,
                      opts.tol, None, t0, None)
    name = opts.pricer
    if name == "auto":
        n = problem.n
        name = "enumeration" if comb(n + k - 1, k) <= opts.max_enumerate else "greedy"
    pricer = pricer_kind(False, name).build(problem, opts)
    st = colgen.run(problem, pricer, [(y,) * k for y in range(problem.n)],
                    MAX_ROUNDS if opts.max_rounds is None else opts.max_rounds, settle=False)
    x = st.lp.x
    keep = x > SUPPORT_TOL
    sets = np.array(st.columns, dtype=np.int64)[keep]
    probs = x[keep] / x[keep].sum()
    robust = robust_set_win_rate(profile, sets, probs, display=display)
    # Rounded outward: the last bound is a sum of floating-point prices and can fall a few
    # ulps below the re-evaluated value (1.3e-15 seen on impartial culture).
    upper = max(float(st.last_bound), robust.value)
    exact = pricer.exact and st.done
    if pricer.exact and not st.done:
        stopped_early(f"solve_kset(k={k})", f"max_rounds = {st.rounds} reached with a "
                      f"certified gap of {upper - robust.value:.3g}",
                      "a larger max_rounds=", stacklevel=5)
    return KSetResult(sets=sets, probs=probs, value=robust.value, opponent=st.lp.opponent,
                      upper_bound=upper, exact=exact, pricer=pricer.name,
                      iterations=st.rounds, columns=len(st.columns),
                      worst_response=robust.worst, converged=st.done,
                      seconds=time.perf_counter() - t0, display=display,
                      diagnostics=KSetDiagnostics(master_values=tuple(v for _, v, _ in st.trace)))
