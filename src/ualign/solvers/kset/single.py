"""The best single k-set of distinct responses (``randomised=False``, THEORY §9).

    maximise θ  s.t.  WR(S, y') >= θ  for every response y',   S a k-subset,

by enumeration (every k-subset's worst case), or by constraint generation over the opponents:
the coverage model of ``solvers.kset.mip`` with one row per active opponent y' ∈ Y (start: the
heuristic set's worst opponent), solved; the solution's worst opponent joins Y until it is
already in. The MIP's bound over Y bounds the optimum over all y' (fewer constraints). Explicit
state :class:`SingleState`, :func:`init`, :func:`step` and the driver :func:`best_single_set`.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from ualign.core.sets import policy_win_rates
from ualign.solvers.diagnostics import DistinctKSetDiagnostics
from ualign.solvers.kset import coverage as cov
from ualign.solvers.kset.mip import Coverage
from ualign.solvers.kset.problem import Problem
from ualign.solvers.kset.result import KSetResult
from ualign.solvers.result import SolverError

__all__ = ["SingleState", "best_single_set", "enumerated_single_set", "init", "step"]


class SingleState(NamedTuple):
    """Constraint generation between rounds: the best set found and its worst-case win rate,
    the active opponents Y (in the order they joined), the smallest certified upper bound,
    the rounds, the status and whether it stopped."""

    best_set: tuple[int, ...]
    best: float
    active: tuple[int, ...]
    upper: float = np.inf
    rounds: int = 0
    status: str = "gap"
    done: bool = False


def _win_rates(problem: Problem, S) -> np.ndarray:
    """``(n,)``: WR(S, y') of one set against every response."""
    return policy_win_rates(problem.levels, problem.weights, np.array([S], dtype=np.int64),
                            np.ones(1), problem.display)


def init(problem: Problem, n_seeds: int) -> SingleState:
    """The heuristic's best set under the uniform opponent, its worst opponent active."""
    n = problem.n
    T = cov.tables(problem.levels, problem.weights, np.full(n, 1.0 / n), problem.L)
    found = cov.heuristic(T, problem.levels, problem.k, n_seeds, problem.deadline)[0]
    worst = {S: float(_win_rates(problem, S).min()) for S in found}
    best_set = max(worst, key=worst.__getitem__)  # the first of the best
    return SingleState(best_set, worst[best_set],
                       (int(np.argmin(_win_rates(problem, best_set))),))


def _solve_over(problem: Problem, Y, time_limit, rel_gap):
    """The coverage MIP with one row ``θ − Σ_u w_u v_(u, level_u(y')) <= const`` per y' ∈ Y,
    maximising θ."""
    lv, w = problem.levels, problem.weights
    U = lv.shape[0]
    Y = list(Y)
    model = Coverage(lv, problem.k, np.repeat(np.arange(U), len(Y)), lv[:, Y].ravel())
    theta = len(model.var_lb)
    model.var_lb.append(0.0)
    model.var_ub.append(1.0)
    pv = model.pair_var.reshape(U, len(Y))
    wts = np.broadcast_to(w[:, None], (U, len(Y)))
    rows = []
    for j in range(len(Y)):
        sel = pv[:, j] >= 0
        rows.append(([(theta, 1.0), (pv[sel, j], -wts[sel, j])], -np.inf,
                     float(wts[~sel, j].sum())))
    obj = np.zeros(theta + 1)
    obj[theta] = -1.0
    return model.solve(obj, rows, time_limit, rel_gap)


def _bound(res, rel_gap) -> float:
    """The MIP's certified bound on ``max θ`` (inf if none); raises if it failed outright."""
    raw = getattr(res, "mip_dual_bound", None)
    dual = np.nan if raw is None else float(raw)
    finite = bool(np.isfinite(dual))
    if res.x is None and not finite:
        raise SolverError(f"best k-set MIP failed: {res.message}", res.status)
    if finite:
        return -float(dual) + 1e-12
    if res.status == 0:
        return -float(res.fun) + abs(float(res.fun)) * rel_gap + 1e-12
    return np.inf


def step(problem: Problem, st: SingleState, rel_gap: float) -> SingleState:
    """One round: the MIP over the active opponents; its solution's worst opponent joins them
    (done when it is already active: the solution is optimal up to the MIP's tolerance)."""
    st = st._replace(rounds=st.rounds + 1)
    left = None if problem.deadline is None else problem.deadline - time.perf_counter()
    if left is not None and left <= 0:
        return st._replace(status="time_limit", done=True)
    res = _solve_over(problem, st.active, left, rel_gap)
    st = st._replace(upper=min(st.upper, _bound(res, rel_gap)))
    if res.x is None:
        return st._replace(status="time_limit", done=True)
    S = tuple(sorted(int(z) for z in np.argsort(-res.x[:problem.n], kind="stable")[:problem.k]))
    wr = _win_rates(problem, S)
    if wr.min() > st.best:
        st = st._replace(best_set=S, best=float(wr.min()))
    worst = int(np.argmin(wr))
    if worst in st.active:
        return st._replace(status="gap" if res.status == 0 else "time_limit", done=True)
    return st._replace(active=(*st.active, worst))


def best_single_set(problem: Problem, n_seeds: int, gap_tol: float,
                    rel_gap: float, say=None) -> KSetResult:
    """Constraint generation until ``upper − best <= gap_tol``, a proof of optimality or the
    deadline; ``say`` (a function of one string, or None) hears a line per round."""
    st = init(problem, n_seeds)
    while st.upper - st.best > gap_tol and not st.done:
        st = step(problem, st, rel_gap)
        if say is not None:
            say(f"round {st.rounds}: best set {st.best:.6f}, upper bound {st.upper:.6f}, "
                f"{len(st.active)} opponents")
    return _result(problem, st.best_set, st.upper, st.rounds,
                   len(st.active), "mip", st.status, sorted(st.active), gap_tol)


def enumerated_single_set(problem: Problem, sets) -> KSetResult:
    """The k-subset (a row of ``sets``) with the best worst case, by its full win matrix."""
    j = int(np.argmax(problem.rows(sets).min(axis=1)))
    S = tuple(int(z) for z in sets[j])
    return _result(problem, S, float(_win_rates(problem, S).min()), 1, 0, "enumeration", "gap",
                   [], 0.0)


def _result(problem: Problem, S, upper, rounds, columns, pricer, status, active,
            gap_tol) -> KSetResult:
    wr = _win_rates(problem, S)
    value = float(wr.min())
    opponent = np.zeros(problem.n)
    opponent[int(np.argmin(wr))] = 1.0
    upper = max(float(upper), value)
    return KSetResult(sets=np.array([S], dtype=np.int64), probs=np.ones(1),
                      value=value, opponent=opponent, upper_bound=upper,
                      exact=upper - value <= gap_tol, pricer=pricer,
                      iterations=rounds, columns=columns, display=problem.display,
                      worst_response=int(np.argmin(wr)), converged=upper - value <= gap_tol,
                      seconds=time.perf_counter() - problem.t0,
                      diagnostics=DistinctKSetDiagnostics(
                          status=status, active_opponents=tuple(int(a) for a in active)))
