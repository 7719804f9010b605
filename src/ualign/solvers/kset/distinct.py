"""Certified best k-sets of *distinct* responses (THEORY §7 over k-subsets, §9).

Under a display that merges equal responses (``display="distinct"``) the model shows k distinct
responses. The best randomised policy is the LP

    maximise v  s.t.  Σ_S x_S WR(S, y') >= v  for every y',   x ∈ Δ(k-subsets),

solved by column generation (``solvers.kset.colgen``) from the heuristic's local optima under
the uniform opponent. Pricing a subset is a weighted coverage problem
(``solvers.kset.coverage``): a greedy + swap heuristic first, then, when that finds no column,
an exact pricer decides (the MIP of ``solvers.kset.mip``, or every subset priced); or every
subset priced from stored states. ``randomised=False``: the best single k-set
(``solvers.kset.single``).

Certificate (LP duality): for every dual ``q ∈ Δ``, the optimum is at most ``max_S
price_q(S)``, hence at most any upper bound on it: the enumeration's maximum, the MIP's dual
bound or its LP relaxation, the per-user bound or the submodular bound. ``upper_bound`` is the
smallest such bound met during the run; ``value`` is the final policy's worst-case win rate
re-evaluated independently (``robust_set_win_rate``).

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
import time
from math import comb

import numpy as np

from ualign.core.checks import (
    check_count,
    check_iterations,
    check_k,
    check_nonneg,
    check_profile,
)
from ualign.core.payoffs import robust_set_win_rate
from ualign.solvers._talk import TIME_LIMIT, Talker, check_progress, stopped_early
from ualign.solvers.diagnostics import DistinctKSetDiagnostics
from ualign.solvers.kset import colgen
from ualign.solvers.kset import coverage as cov
from ualign.solvers.kset.multiset import SUPPORT_TOL, check_tol
from ualign.solvers.kset.pricers import check_pricer, pricer_kind
from ualign.solvers.kset.problem import Problem
from ualign.solvers.kset.result import KSetResult
from ualign.solvers.kset.single import best_single_set, enumerated_single_set
from ualign.solvers.registry import Options, check_field, check_flag

__all__ = ["KSetDistinctOptions", "auto_pricer", "kset_distinct"]

MAX_ROUNDS = 10_000
"""Column-generation rounds of a distinct solve when ``max_rounds`` is None."""
ENUMERATE_CELLS = 3e7  # "auto" enumerates all k-subsets when C(n, k)·U is at most this
STREAM_CELLS = 1e9  # ... and streams them (states recomputed per pricing) up to this
STREAM_SETS = 3e6  # ... for at most this many subsets (k = 2 with few levels: any n <= 5000)


def check_time_limit(x, name: str) -> float:
    """A time limit: a positive number of seconds."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not float(x) > 0:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {x!r}")
    return float(x)


@dataclasses.dataclass(frozen=True)
class KSetDistinctOptions(Options):
    """Options of ``"kset-distinct"``, the best distribution over k-subsets of distinct
    responses (``solve_kset(display="distinct")``).

    randomised: a distribution over k-sets (column generation), or one k-set (MIP with
      constraint generation over the opponents, or enumeration).
    gap_tol: stop once ``upper_bound − value <= gap_tol``.
    tol: a column enters when its price exceeds the master value by more than tol; in [0, 1).
    time_limit: seconds (default 60; None: no limit); the run stops with its best certified
      bounds, ``exact=False`` and a ``StoppedEarlyWarning`` naming this option.
    n_seeds: greedy starts of the heuristic pricer.
    max_mip_nonzeros: skip the exact MIP when its model would be larger (the per-user and
      submodular bounds then certify).
    max_rounds: column-generation rounds (None: 10,000).
    pricer: ``"enumeration"`` (all C(n, k) subsets priced exactly), ``"mip"`` (heuristic, then
      the MIP), ``"streamed enumeration"`` (heuristic first, then every subset priced chunk by
      chunk instead of the MIP), another registered pricer, or ``"auto"`` (:func:`auto_pricer`).
    progress: a line per column-generation round on stderr from the start (True), never
      (False), or once the solve has run 5 s (None).
    """

    randomised: bool = True
    gap_tol: float = 1e-9
    tol: float = 1e-10
    time_limit: float | None = TIME_LIMIT
    n_seeds: int = 4
    max_mip_nonzeros: int = 4_000_000
    max_rounds: int | None = None
    pricer: str = "auto"
    progress: bool | None = None

    def __post_init__(self):
        check_field(self, "randomised", check_flag, optional=False)
        check_field(self, "gap_tol", check_nonneg, optional=False)
        check_field(self, "tol", check_tol, optional=False)
        check_field(self, "time_limit", check_time_limit)
        check_field(self, "n_seeds", check_count, optional=False)
        check_field(self, "max_mip_nonzeros", check_count, optional=False)
        check_field(self, "max_rounds", check_iterations)
        check_field(self, "pricer", check_pricer(True), optional=False)
        check_field(self, "progress", check_progress)


def auto_pricer(n: int, k: int, U: int, L: int, randomised: bool) -> str:
    """``"enumeration"`` when ``C(n, k)·U <= 3e7``; ``"streamed enumeration"`` (randomised
    only) when ``C(n, k)·U <= 1e9`` with ``C(n, k) <= 3e6``, or k = 2 with at most 16 levels and
    n <= 5000; else ``"mip"``."""
    cells = comb(n, k) * U
    stream = ((k == 2 and L <= 16 and n <= 5000)
              or (comb(n, k) <= STREAM_SETS and cells <= STREAM_CELLS))
    return ("enumeration" if cells <= ENUMERATE_CELLS else
            "streamed enumeration" if stream and randomised else "mip")


def kset_distinct(profile, k, opts: KSetDistinctOptions,
                  display: str = "distinct") -> KSetResult:
    """Best distribution over k-subsets of distinct responses (``randomised``), or the best
    single k-set, with a certified ``upper_bound``: the registered ``"kset-distinct"``.

    Args:
      profile: the population; k: responses shown (1 <= k <= n); opts: the options.

    Returns:
      ``KSetResult`` with ``display = "distinct"``; ``exact`` (= ``converged``) says the gap
      ``upper_bound − value`` closed to gap_tol; when it did not (the time limit or
      ``max_rounds``), a ``StoppedEarlyWarning`` says by how much and names the options.

    Examples:
      A Condorcet cycle of three users, k = 2 distinct responses: the three pairs, a third of
      the time each (13/18); the best single pair wins only 2/3.

      >>> from ualign import Profile
      >>> from ualign.solvers.kset import KSetDistinctOptions, kset_distinct
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> r = kset_distinct(P, 2, KSetDistinctOptions())
      >>> sorted(r.sets.tolist()), round(r.value, 6), round(r.upper_bound, 6), r.exact
      ([[0, 1], [0, 2], [1, 2]], 0.722222, 0.722222, True)
      >>> round(kset_distinct(P, 2, KSetDistinctOptions(randomised=False)).value, 6)
      0.666667

    References: shared/spec/THEORY.md §7, §9.
    """
    profile = check_profile(profile)
    k = check_k(k)
    n = profile.n_responses
    if k > n:
        raise ValueError(f"k must be at most the number of responses n = {n} for sets of "
                         f"distinct responses (display={display!r}), got k = {k}")
    t0 = time.perf_counter()
    deadline = None if opts.time_limit is None else t0 + float(opts.time_limit)
    problem = Problem(profile, profile.levels.astype(np.int64),
                      np.asarray(profile.weights, dtype=float), k, display, opts.tol,
                      opts.gap_tol, t0, deadline)
    name = opts.pricer
    if name == "auto":
        name = auto_pricer(n, k, profile.n_users, problem.L, opts.randomised)
    kind = pricer_kind(True, name)
    talker = Talker(opts.progress, "kset-distinct")
    if not opts.randomised:
        if kind.enumerates:
            sets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
            return enumerated_single_set(problem, sets)
        result = best_single_set(problem, opts.n_seeds, opts.gap_tol,
                                 max(opts.gap_tol / 4.0, 1e-12), talker.say)
    else:
        pricer = kind.build(problem, opts)
        T = cov.tables(problem.levels, problem.weights, np.full(n, 1.0 / n), problem.L)
        columns = tuple(cov.heuristic(T, problem.levels, k, opts.n_seeds, deadline)[0])
        talker.say(f"n = {n}, U = {profile.n_users}, k = {k}, pricer {name!r}, "
                   f"{len(columns)} starting sets")

        last = [-1.0]

        def report(st: colgen.CGState) -> None:  # at most a line a second
            if talker.elapsed() - last[0] < 1.0:
                return
            last[0] = talker.elapsed()
            talker.say(f"round {st.rounds}: value {st.lp.value:.6f}, upper bound "
                       f"{st.upper:.6f} (gap {st.upper - st.lp.value:.2e}), "
                       f"{len(st.columns)} sets")

        st = colgen.run(problem, pricer, columns,
                        MAX_ROUNDS if opts.max_rounds is None else opts.max_rounds,
                        settle=True, report=report)
        result = _result(problem, pricer, st)
    if not result.exact:
        stopped_early(f"solve_kset(display={display!r}, k={k})",
                      f"certified gap {result.certificate:.3g} > gap_tol {opts.gap_tol:g} "
                      f"after {result.seconds:.1f} s ({getattr(result.diagnostics, 'status', '')})",
                      f"time_limit= (seconds; now {_limit(opts.time_limit)}), max_rounds= or "
                      f"a larger gap_tol=", stacklevel=5)
    return result


def _limit(time_limit) -> str:
    return "none" if time_limit is None else f"{time_limit:g} s"


def _result(problem: Problem, pricer, st: colgen.CGState) -> KSetResult:
    """The final policy (its support renormalised), re-evaluated independently."""
    x = st.lp.x
    keep = x > SUPPORT_TOL
    sets = np.array(st.columns, dtype=np.int64)[keep]
    probs = x[keep] / x[keep].sum()
    robust = robust_set_win_rate(problem.profile, sets, probs, display=problem.display)
    value = robust.value
    upper = max(float(st.upper), value)
    closed = upper - value <= (problem.gap_tol or 0.0)
    return KSetResult(sets=sets, probs=probs, value=value, opponent=st.lp.opponent,
                      upper_bound=upper, exact=closed, pricer=pricer.name,
                      iterations=st.rounds, columns=len(st.columns), display=problem.display,
                      worst_response=robust.worst, converged=closed,
                      seconds=time.perf_counter() - problem.t0,
                      diagnostics=DistinctKSetDiagnostics(
                          status=st.status, upper_bound_from=st.upper_from,
                          mip_calls=st.mip_calls, mip_seconds=st.mip_seconds,
                          master_value=float(st.lp.value),
                          trace=tuple((float(t), float(m), float(u)) for t, m, u in st.trace)))
