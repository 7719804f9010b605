"""Greedy construction + single swaps over k-sets: the one local search of ualign.

For an objective ``f`` on sets ``S`` of ``size`` responses from ``{0, …, n-1}`` (multisets, or
sets of distinct responses with ``distinct=True``), given as *gains*
``gains(T) = (f(T + [y]) for every y)`` (the value of adding each response to ``T``):

    from each start (a seed response, or the empty set when there are no seeds):
        S ← start;  while |S| < size:  S ← S + [argmax_y f(S + [y])]
        repeat until no swap raises f(S) by more than tol (or the deadline passes):
            moves="each": for each position p in turn, S[p] := argmax_y f(S − S[p] + [y])
                          when that beats f(S) by more than tol;
            moves="best": the one swap (p, y) with the largest f(S − S[p] + [y]), when it
                          beats f(S) by more than tol.

With ``distinct=True`` the members of S are never candidates (their gain is -inf). The value of
record ``f(S)`` is ``value(S)`` when an exact evaluator is given, read after the greedy
construction and (``reevaluate=True``) after every accepted swap; otherwise the gain the search
read for S. (The two can differ in the last bits; which one a caller uses is part of its
numbers.) Ties go to the smaller response
index, then the earlier position, then the earlier start. The best set over the starts is a
lower bound on ``max_S f(S)`` for a maximisation (its value is achieved).

Two entry points: :func:`local_search` (incremental gains, the primitive) and
:func:`greedy_local_search` (a batched objective ``sets (m, size) -> (m,)``, a candidate placed
at the swapped position). Callers: the k-set pricers (``solvers.kset``: multisets by batch,
distinct sets by gains), the worst ℓ-output opponent (``solvers.opponent``), the committee
rules' fast incumbent (``solvers.committees``).

References: shared/spec/THEORY.md §6 (worst opponent), §7 (column generation for k-sets), §9.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["TOL", "SearchResult", "greedy_local_search", "local_search"]

TOL = 1e-13
"""A swap must raise the value by more than this (the searches' one default tolerance)."""

MOVES = ("each", "best")

Gains = Callable[[tuple[int, ...]], np.ndarray]


class SearchResult(NamedTuple):
    """What :func:`local_search` found.

    Attributes:
      set: the best set over the starts, sorted, ``(size,)`` int.
      value: its value ``f(set)``.
      evaluated: candidate sets read (``n`` per greedy step and per swap position).
      optima: each start's local optimum (a sorted tuple) and its value, in start order.
      greedy: each start's greedy set in the order it was picked (before any swap).
    """

    set: np.ndarray
    value: float
    evaluated: int
    optima: tuple[tuple[tuple[int, ...], float], ...]
    greedy: tuple[tuple[int, ...], ...]


def _past(deadline) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def local_search(gains: Gains, n: int, size: int, *, seeds: Iterable[int] | None = None,
                 value: Callable[[tuple[int, ...]], float] | None = None,
                 reevaluate: bool = True, distinct: bool = False, moves: str = "each",
                 tol: float = TOL, deadline: float | None = None,
                 max_rounds: int | None = None,
                 on_greedy: Callable[[tuple[int, ...], np.ndarray], None] | None = None
                 ) -> SearchResult:
    """Maximise ``f`` over sets of ``size`` responses by greedy construction then swaps.

    Args:
      gains: ``T (tuple) -> (n,)`` the values ``f(T + [y])`` for every response y.
      n: responses ``0..n-1``; size: the set size (>= 1; at most n when ``distinct``).
      seeds: first responses, one start each, tried in order; None: one start from the empty
        set.
      value: ``S (tuple) -> f(S)``, an exact evaluator (default: the gain the search read).
      reevaluate: with ``value``, read it after each accepted swap too (else the swap's gain).
      distinct: sets of distinct responses (members are never candidates) or multisets.
      moves: ``"each"`` (every position in turn, first improvement) or ``"best"`` (the best
        swap over all positions, one per round).
      tol: a swap must raise the value by more than this.
      deadline: a ``time.perf_counter()`` time after which no swap round starts and no further
        start is tried (the first start always runs its greedy construction).
      max_rounds: at most this many swap rounds per start (0: greedy only; None: no cap).
      on_greedy: called with ``(prefix, gains of the prefix)`` at every greedy step (members
        already at -inf when ``distinct``), e.g. for bounds computed along the way.

    Returns:
      :class:`SearchResult`.

    Examples:
      >>> import numpy as np
      >>> from ualign.core.search import local_search
      >>> v = np.array([0.1, 0.7, 0.3])
      >>> r = local_search(lambda T: v[list(T)].sum() + v, 3, 2, distinct=True)
      >>> r.set.tolist(), round(r.value, 12), r.greedy
      ([1, 2], 1.0, ((1, 2),))
    """
    if moves not in MOVES:
        raise ValueError(f"moves must be one of {MOVES}, got {moves!r}")

    def candidates(S, pos):
        return gains(tuple(S[:pos] + S[pos + 1:]))

    def evaluate(S, read, swapped):
        if value is not None and (reevaluate or not swapped):
            return float(value(tuple(S)))
        return float(read if read is not None else gains(tuple(S[:-1]))[S[-1]])

    return _search(candidates, evaluate, n, size, seeds, distinct, moves, tol, deadline,
                   max_rounds, on_greedy)


def greedy_local_search(objective: Callable[[np.ndarray], np.ndarray], n: int, size: int,
                        seeds: Iterable[int], tol: float = TOL, *,
                        deadline: float | None = None) -> tuple[np.ndarray, float, int]:
    """:func:`local_search` over multisets for a batched objective ``objective(sets (m, size))
    -> (m,)`` (higher = better): swaps ``moves="each"``, ``f(S) = objective([S])`` after the
    greedy construction (``reevaluate=False``: an accepted swap's value is the batch's). A
    candidate y for position p is evaluated as ``S`` with ``S[p] := y``; a greedy step as
    ``S + [y]``.

    Returns:
      ``(S, value, evaluated)``: the best multiset found, sorted ``(size,)``; its value; and
      the number of candidate sets evaluated (``n`` per greedy step and per swap position; the
      evaluation of each constructed set is not counted).

    Examples:
      The weight of the distinct responses a multiset covers, from the start 2: greedy adds 0
      (0.7), the first swap round replaces 2 by 1 (0.8), the second finds nothing better
      (3 + 6 + 6 candidate sets read):

      >>> import numpy as np
      >>> from ualign.core.search import greedy_local_search
      >>> w = np.array([0.5, 0.3, 0.2])
      >>> def covered(sets):
      ...     return np.array([w[np.unique(s)].sum() for s in sets])
      >>> S, value, evaluated = greedy_local_search(covered, 3, 2, seeds=[2])
      >>> S.tolist(), round(value, 12), evaluated
      ([0, 1], 0.8, 15)
    """
    cand = np.arange(n)

    def candidates(S, pos):
        return objective(np.array([[*S[:pos], y, *S[pos + 1:]] for y in cand], dtype=np.int64))

    def evaluate(S, read, swapped):
        return read if swapped else float(objective(np.array([S], dtype=np.int64))[0])

    r = _search(candidates, evaluate, n, size, seeds, False, "each", tol, deadline, None, None)
    return r.set, r.value, r.evaluated


def _search(candidates, evaluate, n, size, seeds, distinct, moves, tol, deadline, max_rounds,
            on_greedy) -> SearchResult:
    """The one search: every start, greedy then swaps; the best local optimum."""
    starts: Sequence = [None] if seeds is None else list(seeds)
    if not starts:
        raise ValueError("seeds must name at least one response, got none")
    optima: list[tuple[tuple[int, ...], float]] = []
    greedy: list[tuple[int, ...]] = []
    evaluated = 0
    best_val, best_set = -np.inf, None
    for seed in starts:
        if optima and _past(deadline):
            break
        S, read, used = _greedy(candidates, n, size, seed, distinct, on_greedy)
        greedy.append(tuple(S))
        S, val, swaps_used = _swaps(candidates, evaluate, S, evaluate(S, read, False), distinct,
                                    moves, tol, deadline, max_rounds)
        evaluated += used + swaps_used
        optimum = tuple(sorted(int(y) for y in S))
        optima.append((optimum, val))
        if val > best_val:
            best_val, best_set = val, optimum
    return SearchResult(np.array(best_set, dtype=np.int64), float(best_val), evaluated,
                        tuple(optima), tuple(greedy))


def _masked(vals, S, distinct):
    if not distinct:
        return vals
    vals = np.array(vals, dtype=float)
    vals[list(S)] = -np.inf
    return vals


def _greedy(candidates, n, size, seed, distinct, on_greedy):
    """``S = [seed]`` (or empty), extended by the best addition until ``|S| = size``; returns
    S, the gain read for its last addition (None without one) and the candidates evaluated."""
    S = [] if seed is None else [int(seed)]
    read, evaluated = None, 0
    while len(S) < size:
        vals = _masked(candidates(S, len(S)), S, distinct)
        evaluated += n
        if on_greedy is not None:
            on_greedy(tuple(S), vals)
        S.append(int(np.argmax(vals)))
        read = float(vals[S[-1]])
    return S, read, evaluated


def _swaps(candidates, evaluate, S, val, distinct, moves, tol, deadline, max_rounds):
    """Swap rounds from S (value val) until none improves by more than tol."""
    rounds, evaluated = 0, 0
    while (max_rounds is None or rounds < max_rounds) and not _past(deadline):
        rounds += 1
        best = (val + tol, None, None)
        improved = False
        for pos in range(len(S)):
            vals = _masked(candidates(S, pos), S, distinct)
            evaluated += vals.size
            y = int(np.argmax(vals))
            if moves == "each" and vals[y] > val + tol:
                S = [*S[:pos], y, *S[pos + 1:]]
                val, improved = evaluate(S, float(vals[y]), True), True
            elif moves == "best" and vals[y] > best[0]:
                best = (float(vals[y]), pos, y)
        if best[1] is not None:
            read, pos, y = best
            S = [*S[:pos], y, *S[pos + 1:]]
            val, improved = evaluate(S, read, True), True
        if not improved:
            break
    return S, val, evaluated
