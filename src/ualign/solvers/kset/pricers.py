"""Pricers of the k-set column generation: one interface, one registration each.

A pricer answers one question per round: given the restricted master's duals ``q`` (a worst
opponent mixture) and value ``v``, which k-sets ``S`` have ``price_q(S) = Σ_y' q(y') WR(S, y')
> v + tol``, and what certified upper bound ``B >= max_S price_q(S)`` can it give (by LP duality
``B`` bounds the optimum of the full LP)? Its method ``price(master) -> Pricing(columns, prices,
bound, source, status, ...)`` returns candidate columns with their prices (the driver lets in
the new ones above ``v + tol``), the bound and where it came from, and the status the run
ends with if nothing enters.

Built-in pricers (``pricer=`` of ``solve_kset``):

- k-multisets (``display="multiset"``): ``"enumeration"`` (every multiset's win row stored,
  exact) and ``"greedy"`` (greedy + swaps from the 8 best single responses; bound: per user
  the best set is k copies of a favourite, ``Σ_u w_u max_S price_u(S)``).
- k-subsets (``display="distinct"``, ``solvers.kset.coverage`` and ``solvers.kset.mip``):
  ``"enumeration"`` (every subset priced from stored per-(set, user) states),
  ``"streamed enumeration"`` (the heuristic, then every subset priced chunk by chunk; for
  k = 2 with at most 16 levels every pair by matrix products, no heuristic) and ``"mip"``
  (the heuristic, then the exact MIP when it finds nothing). Every distinct pricer also bounds
  by the per-user bound, the heuristic by the submodular bound.

To add a pricer (a Lagrangian bound, CP-SAT, ...): write a class with ``name``, ``exact`` and
``price(master) -> Pricing``, and register it once::

    register_pricer(PricerKind("cp-sat", merges=True, build=lambda problem, opts: CpSat(...)))

``solve_kset(..., display="distinct", pricer="cp-sat")`` then uses it.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from math import comb
from typing import Any, NamedTuple, Protocol

import numpy as np

from ualign.core.checks import check_size
from ualign.core.search import greedy_local_search
from ualign.solvers.kset import coverage as cov
from ualign.solvers.kset.mip import mip_price
from ualign.solvers.kset.problem import Problem

__all__ = ["Master", "Pricer", "PricerKind", "Pricing", "check_pricer", "entering",
           "pricer_kind", "pricer_names", "register_pricer"]


class Master(NamedTuple):
    """What a pricer sees of the restricted master: its duals ``q (n,)`` (a distribution),
    its value ``v``, the columns it holds, and the smallest certified upper bound on the LP
    optimum met so far."""

    q: np.ndarray
    value: float
    columns: frozenset
    upper: float


class Pricing(NamedTuple):
    """One pricing round's answer.

    Attributes:
      columns: candidate k-sets (sorted tuples); prices: ``price_q`` of each.
      bound: a certified upper bound on ``max_S price_q(S)`` (inf: none); source: its name.
      status: the run's status if no column enters (or if ``stop``).
      stop: end the run after these columns enter (a time limit).
      mip_calls, mip_seconds: exact pricing programs solved, seconds of exact pricing.
    """

    columns: tuple[tuple[int, ...], ...] = ()
    prices: tuple[float, ...] = ()
    bound: float = np.inf
    source: str | None = None
    status: str | None = None
    stop: bool = False
    mip_calls: int = 0
    mip_seconds: float = 0.0


class Pricer(Protocol):
    """``name`` (reported as the result's ``pricer``), ``exact`` (its bound is the maximum
    itself, so a run that ends with nothing entering is optimal up to ``tol``) and
    ``price``."""

    name: str
    exact: bool

    def price(self, master: Master) -> Pricing: ...


def entering(columns, prices, master: Master, tol: float) -> tuple[tuple[int, ...], ...]:
    """The columns that price above ``v + tol`` and are not in the master yet."""
    return tuple(S for S, p in zip(columns, prices, strict=True)
                 if p > master.value + tol and S not in master.columns)


def _tighter(bound, source, other, other_source):
    """The smaller bound and its source (the first one on a tie)."""
    return (other, other_source) if other < bound else (bound, source)


def _left(deadline):
    return None if deadline is None else deadline - time.perf_counter()


# ------------------------------------------------------------------------------ registry
@dataclasses.dataclass(frozen=True)
class PricerKind:
    """A registered pricer.

    Attributes:
      name: the value of the ``pricer=`` option.
      merges: for k-sets of distinct responses (a display that merges equal responses,
        ``Display.merges``) or for k-multisets.
      build: ``(problem, options) -> Pricer`` (options: the display's options dataclass).
      enumerates: it prices every k-set exactly (a deterministic ``randomised=False`` solve
        then enumerates too).
    """

    name: str
    merges: bool
    build: Callable[[Problem, Any], Pricer]
    enumerates: bool = False


_PRICERS: dict[tuple[bool, str], PricerKind] = {}


def register_pricer(kind: PricerKind) -> PricerKind:
    """Add a pricer (once per name and kind of set); ``solve_kset(pricer=name)`` then finds
    it (CONTRIBUTING.md, "A k-set pricer", shows a whole one).

    Examples:
      A name registers once per kind of set:

      >>> from ualign.solvers.kset import PricerKind, register_pricer
      >>> from ualign.solvers.kset.pricers import pricer_kind
      >>> register_pricer(PricerKind("mip", True, pricer_kind(True, "mip").build))
      Traceback (most recent call last):
        ...
      ValueError: pricer 'mip' is already registered
    """
    key = (kind.merges, kind.name)
    if key in _PRICERS or kind.name == "auto":
        raise ValueError(f"pricer {kind.name!r} is already registered")
    _PRICERS[key] = kind
    return kind


def pricer_names(merges: bool) -> tuple[str, ...]:
    """``"auto"`` and the registered pricers for k-subsets (``merges``) or k-multisets.

    Examples:
      >>> from ualign.solvers.kset import pricer_names
      >>> pricer_names(merges=True)
      ('auto', 'enumeration', 'streamed enumeration', 'mip')
      >>> pricer_names(merges=False)
      ('auto', 'enumeration', 'greedy')
    """
    return ("auto", *(name for m, name in _PRICERS if m == merges))


def pricer_kind(merges: bool, name: str) -> PricerKind:
    """The registered pricer ``name`` (not ``"auto"``, which each display resolves)."""
    return _PRICERS[(merges, name)]


def check_pricer(merges: bool):
    """The checker of a ``pricer`` option (for ``registry.check_field``)."""
    def check(value, name: str) -> str:
        names = pricer_names(merges)
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"{name} must be one of {names}, got {value!r}")
        return value

    return check


# ------------------------------------------------------------------------- k-multisets
class MultisetEnumeration:
    """Exact: the win rows of all C(n+k-1, k) multisets stored, priced by one product."""

    name = "enumeration"
    exact = True

    def __init__(self, problem: Problem):
        n, k, U = problem.n, problem.k, problem.levels.shape[0]
        total = comb(n + k - 1, k)
        check_size(8 * total * (k + n) + 8 * U * min(total, 256) * (k + n),
                   f"enumerating all {total} {k}-multisets of {n} responses (max_enumerate)")
        self.sets = np.array(list(itertools.combinations_with_replacement(range(n), k)),
                             dtype=np.int64)
        self.A = problem.rows(self.sets)

    def price(self, master: Master) -> Pricing:
        prices = self.A @ master.q
        j = int(np.argmax(prices))
        return Pricing((tuple(int(z) for z in self.sets[j]),), (float(prices[j]),),
                       float(prices[j]), "enumeration", "enumeration stopped")


class MultisetGreedy:
    """Greedy construction + swaps (``core.search.greedy_local_search``) from the ``n_seeds``
    responses whose k-copy set prices highest; bound ``max(Σ_u w_u max_S price_u(S), found)``
    with ``max_S price_u(S)``: k copies of a favourite, ``q(worse) + k/(k+1) q(favourites)``."""

    name = "greedy"
    exact = False

    def __init__(self, problem: Problem, n_seeds: int = 8):
        self.problem, self.n_seeds = problem, n_seeds
        lv = problem.levels
        self.top = lv == lv.min(axis=1, keepdims=True)  # (U, n) users' favourite class

    def price(self, master: Master) -> Pricing:
        p, q = self.problem, master.q
        n, k = p.n, p.k

        def objective(sets):
            return p.rows(sets) @ q

        single = objective(np.repeat(np.arange(n)[:, None], k, axis=1))
        seeds = np.argsort(-single, kind="stable")[:self.n_seeds]
        S, val, _ = greedy_local_search(objective, n, k, seeds)
        per_user = (~self.top).astype(float) @ q + (k / (k + 1.0)) * (self.top.astype(float) @ q)
        return Pricing((tuple(int(z) for z in S),), (val,),
                       max(float(p.weights @ per_user), float(val)), "per-user", "greedy stopped")


# --------------------------------------------------------------------------- k-subsets
class _Distinct:
    """Shared by the distinct pricers: the pricing tables and the per-user bound."""

    def __init__(self, problem: Problem):
        self.problem, self.L = problem, problem.L

    def _tables(self, q) -> cov.Tables:
        p = self.problem
        return cov.tables(p.levels, p.weights, q, self.L)

    def _per_user(self, T) -> tuple[float, str]:
        return cov.per_user_bound(T, self.problem.levels, self.problem.k, self.L), "per-user"


def _all_subsets(n, k) -> np.ndarray:
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)


def _best_enumerated(T, sets, prices, bound, source, seconds=0.0) -> Pricing:
    """The best enumerated subset: a column, and (with the dropped q-mass) the exact bound."""
    j = int(np.argmax(prices))
    bound, source = _tighter(bound, source, float(prices[j]) + T.dropped, "enumeration")
    return Pricing((tuple(int(z) for z in sets[j]),), (float(prices[j]),), bound, source,
                   "enumeration stopped", mip_seconds=seconds)


class DistinctEnumeration(_Distinct):
    """Exact: every k-subset priced, from stored per-(set, user) states (``stored``), or, for
    k = 2 with at most 16 levels, every pair by matrix products (reported as
    ``"heuristic+streamed enumeration"``, the pricer it stands in for)."""

    exact = True

    def __init__(self, problem: Problem, stored: bool = True):
        super().__init__(problem)
        self.sets = _all_subsets(problem.n, problem.k)
        self.states = cov.enumerated_states(problem.levels, self.sets) if stored else None
        self.name = "enumeration" if stored else "heuristic+streamed enumeration"

    def price(self, master: Master) -> Pricing:
        T = self._tables(master.q)
        prices = cov.enumeration_prices(T, self.problem.levels, self.problem.k, self.sets,
                                        self.states, None)
        return _best_enumerated(T, self.sets, prices, *self._per_user(T))


class StreamedEnumeration(_Distinct):
    """Exact stage: every k-subset priced chunk by chunk (states recomputed); stops at the
    deadline."""

    name = "streamed enumeration"

    def __init__(self, problem: Problem):
        super().__init__(problem)
        self.sets = _all_subsets(problem.n, problem.k)

    def stage(self, T, master: Master, left) -> Pricing:
        p = self.problem
        tm = time.perf_counter()
        prices = cov.enumeration_prices(T, p.levels, p.k, self.sets, None, p.deadline)
        seconds = time.perf_counter() - tm
        if prices is None:
            return Pricing(status="time_limit", mip_seconds=seconds)
        return _best_enumerated(T, self.sets, prices, np.inf, None, seconds)


class CoverageMIP(_Distinct):
    """Exact stage: the coverage MIP (``solvers.kset.mip``), its dual bound (or its LP
    relaxation's) certifying; skipped above ``max_nonzeros``."""

    name = "mip"

    def __init__(self, problem: Problem, rel_gap: float, max_nonzeros: int):
        super().__init__(problem)
        self.rel_gap, self.max_nonzeros = rel_gap, max_nonzeros

    def stage(self, T, master: Master, left) -> Pricing:
        tm = time.perf_counter()
        r = mip_price(T, self.problem.levels, self.problem.k, left, self.rel_gap,
                      self.max_nonzeros)
        seconds = time.perf_counter() - tm
        found = r.set is not None
        return Pricing(columns=(r.set,) if r.set is not None else (),
                       prices=(r.price,) if found else (), bound=r.bound,
                       source="mip" if r.bound < r.relax_bound else "mip LP relaxation",
                       status="mip too large" if r.status == "too large" else "mip stopped",
                       mip_calls=1, mip_seconds=seconds)


class HeuristicThen(_Distinct):
    """The greedy + best-swap heuristic (``coverage.heuristic``) first; when it finds no
    entering column and neither the gap (``upper − v <= gap_tol``) nor the time is up, the
    exact stage decides (its own bound may still leave a gap: a MIP too large or stopped)."""

    exact = False

    def __init__(self, problem: Problem, exact_stage, n_seeds: int, gap_tol: float):
        super().__init__(problem)
        self.exact_stage, self.n_seeds, self.gap_tol = exact_stage, n_seeds, gap_tol
        self.name = f"heuristic+{exact_stage.name}"

    def price(self, master: Master) -> Pricing:
        p = self.problem
        T = self._tables(master.q)
        found, sub = cov.heuristic(T, p.levels, p.k, self.n_seeds, p.deadline)
        bound, source = _tighter(*self._per_user(T), sub, "submodular")
        columns, prices = tuple(found), tuple(found.values())
        if entering(columns, prices, master, p.tol):
            left = _left(p.deadline)
            return Pricing(columns, prices, bound, source, "time_limit",
                           stop=left is not None and left <= 0)
        if min(master.upper, bound) - master.value <= self.gap_tol:
            return Pricing((), (), bound, source, "gap")
        left = _left(p.deadline)
        if left is not None and left <= 0:
            return Pricing((), (), bound, source, "time_limit")
        e = self.exact_stage.stage(T, master, left)
        bound, source = _tighter(bound, source, e.bound, e.source)
        return e._replace(bound=bound, source=source)


# ------------------------------------------------------------------------ registrations
def _streamed(problem: Problem, opts) -> Pricer:
    if problem.k == 2 and problem.L <= 16:
        return DistinctEnumeration(problem, stored=False)
    return HeuristicThen(problem, StreamedEnumeration(problem), opts.n_seeds, opts.gap_tol)


def _mip(problem: Problem, opts) -> Pricer:
    rel_gap = max(opts.gap_tol / 4.0, 1e-12)  # a repeat-free set's mip gap is absolute
    return HeuristicThen(problem, CoverageMIP(problem, rel_gap, opts.max_mip_nonzeros),
                         opts.n_seeds, opts.gap_tol)


register_pricer(PricerKind("enumeration", False, lambda problem, opts:
                           MultisetEnumeration(problem), enumerates=True))
register_pricer(PricerKind("greedy", False, lambda problem, opts: MultisetGreedy(problem)))
register_pricer(PricerKind("enumeration", True, lambda problem, opts:
                           DistinctEnumeration(problem), enumerates=True))
register_pricer(PricerKind("streamed enumeration", True, _streamed, enumerates=True))
register_pricer(PricerKind("mip", True, _mip))
