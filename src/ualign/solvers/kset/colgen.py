"""Column generation for the best k-output policy: one driver for every display (THEORY §7).

The LP ``max v s.t. Σ_S x_S WR(S, y') >= v ∀ y', x ∈ Δ(k-sets)`` has a column per k-set, so it
is solved over a growing set of columns. A round: the restricted master (``kset_lp``) gives its
value ``v`` and duals ``q`` (a worst opponent mixture); a pricer (``solvers.kset.pricers``)
looks for k-sets with ``price_q(S) = Σ_y' q(y') WR(S, y') > v + tol`` and returns a certified
upper bound on ``max_S price_q(S)``, which bounds the LP optimum (LP duality); the new columns
enter and the master is solved again. It stops when no column enters (or the pricer stops it,
or after ``max_rounds`` rounds).

Written as optax writes a transformation (STYLE.md rule 3): explicit state :class:`CGState`,
:func:`init` (the first master), :func:`step` (one pricing round), :func:`resolve` (the
entering columns join the master) and the thin driver :func:`run`.

References: shared/spec/THEORY.md §7; Desrosiers & Lübbecke 2005 (column generation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ualign.solvers.kset.master import KSetLP, kset_lp
from ualign.solvers.kset.pricers import Master, Pricer, entering
from ualign.solvers.kset.problem import Problem

__all__ = ["CGState", "init", "resolve", "run", "step"]


class CGState(NamedTuple):
    """Column generation between rounds.

    Attributes:
      columns: the k-sets in the master (sorted tuples); A: their win rows ``(m, n)``.
      lp: the master's solution over ``columns``.
      pending: columns that priced in during the last round, not yet in the master.
      upper: the smallest certified upper bound on the LP optimum met; upper_from: which
        bound gave it; last_bound: the last round's bound.
      trace: ``(seconds, master value, upper)`` after each round.
      rounds: pricing rounds; mip_calls, mip_seconds: exact pricing programs solved and the
        seconds of exact pricing (MIP or streamed enumeration).
      status: why it stopped (``"max_rounds"`` until a round says otherwise).
      done: a round found no entering column, or the pricer stopped the run.
    """

    columns: tuple[tuple[int, ...], ...]
    A: np.ndarray
    lp: KSetLP
    pending: tuple[tuple[int, ...], ...] = ()
    upper: float = np.inf
    upper_from: str | None = None
    last_bound: float = np.inf
    trace: tuple[tuple[float, float, float], ...] = ()
    rounds: int = 0
    mip_calls: int = 0
    mip_seconds: float = 0.0
    status: str = "max_rounds"
    done: bool = False


def init(problem: Problem, columns) -> CGState:
    """The first master, over the initial ``columns``."""
    columns = tuple(tuple(int(z) for z in S) for S in columns)
    A = problem.rows(columns)
    return CGState(columns=columns, A=A, lp=kset_lp(A))


def resolve(problem: Problem, st: CGState) -> CGState:
    """The pending columns join the master, which is solved again."""
    A = np.vstack([st.A, problem.rows(st.pending)])
    return st._replace(columns=st.columns + st.pending, A=A, lp=kset_lp(A), pending=())


def step(problem: Problem, pricer: Pricer, st: CGState) -> CGState:
    """One pricing round against the master's duals: the bound is recorded, and the columns
    that price above ``v + tol`` and are new wait to enter; when none does, the run is done
    (status ``"gap"`` if ``upper − v <= gap_tol``, else the pricer's)."""
    v = st.lp.value
    master = Master(st.lp.opponent, v, frozenset(st.columns), st.upper)
    p = pricer.price(master)
    upper, source = (p.bound, p.source) if p.bound < st.upper else (st.upper, st.upper_from)
    new = entering(p.columns, p.prices, master, problem.tol)
    if new:
        status, done = (p.status or st.status if p.stop else st.status), p.stop
    else:
        closed = problem.gap_tol is not None and upper - v <= problem.gap_tol
        status, done = ("gap" if closed else p.status or "priced out"), True
    return st._replace(pending=new, upper=upper, upper_from=source, last_bound=p.bound,
                       trace=(*st.trace, (time.perf_counter() - problem.t0, v, upper)),
                       rounds=st.rounds + 1, mip_calls=st.mip_calls + p.mip_calls,
                       mip_seconds=st.mip_seconds + p.mip_seconds, status=status, done=done)


def run(problem: Problem, pricer: Pricer, columns, max_rounds: int, *,
        settle: bool, report: Callable[[CGState], None] | None = None) -> CGState:
    """Column generation from the initial ``columns``: rounds until done or ``max_rounds``.

    ``settle``: columns that priced in during the last round (the run stopped by
    ``max_rounds`` or by the pricer) join a final master; without it they are dropped, so the
    master's solution, its duals and the last bound refer to the same columns. The run also
    stops (status ``"time_limit"``) at the problem's deadline, checked between rounds.
    ``report``: called with the state after each round (progress).
    """
    st = init(problem, columns)
    while not st.done and st.rounds < max_rounds:
        if problem.deadline is not None and time.perf_counter() >= problem.deadline:
            st = st._replace(status="time_limit", done=True)
            break
        if st.pending:
            st = resolve(problem, st)
        st = step(problem, pricer, st)
        if report is not None:
            report(st)
    if st.pending and settle:
        st = resolve(problem, st)
    return st
