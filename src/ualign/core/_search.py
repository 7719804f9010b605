"""Greedy construction + best-improvement swaps over multisets: the heuristic that prices a
k-set column (``solvers.kset``) and finds a worst ℓ-output opponent (``solvers.opponent``) when
enumerating every multiset is too expensive.

For an objective ``f`` on multisets ``S`` of size ``size`` over ``{0, …, n-1}``, evaluated in
batches (``objective(sets (m, size)) -> (m,)``), from each seed response ``s``:

    S = [s];  while |S| < size:  S ← S + [argmax_y f(S + [y])]
    repeat until no swap improves by more than ``tol``:
        for each position p:  S ← argmax_y f(S with S[p] := y)   (when it improves)

The best set over the seeds is returned (its value is achieved, so for a maximisation it is a
lower bound on the optimum). Ties go to the smaller response index, and an earlier seed wins
ties between seeds.

References: shared/spec/THEORY.md §6 (worst opponent), §7 (column generation for k-sets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["greedy_local_search"]


def greedy_local_search(objective: Callable[[np.ndarray], np.ndarray], n: int, size: int,
                        seeds: Iterable[int], tol: float = 1e-13
                        ) -> tuple[np.ndarray, float, int]:
    """Maximise a batched multiset objective by greedy construction then single swaps.

    Args:
      objective: ``sets (m, size) int -> (m,)`` values (higher = better).
      n: responses ``0..n-1``; size: multiset size (>= 1).
      seeds: first responses to start from, tried in order.
      tol: a swap must raise the value by more than this.

    Returns:
      ``(S, value, evaluated)``: the best multiset found, sorted ``(size,)``; its value; and
      the number of candidate sets the greedy and swap steps evaluated (``n`` per step; the
      one evaluation of each constructed set is not counted).

    Examples:
      Maximise the number of distinct responses in a multiset of size 3 over 4 responses:

      >>> import numpy as np
      >>> from ualign.core._search import greedy_local_search
      >>> def distinct(sets):
      ...     return np.array([len(set(s)) for s in sets.tolist()], dtype=float)
      ...
      >>> S, value, evaluated = greedy_local_search(distinct, n=4, size=3, seeds=[0])
      >>> S.tolist(), value
      ([0, 1, 2], 3.0)
    """
    cand = np.arange(n)
    best_val, best_set, evaluated = -np.inf, None, 0
    for seed in seeds:
        S = [int(seed)]
        while len(S) < size:
            trial = np.array([[*S, y] for y in cand], dtype=np.int64)
            S.append(int(np.argmax(objective(trial))))
            evaluated += n
        val = float(objective(np.array([S], dtype=np.int64))[0])
        improved = True
        while improved:
            improved = False
            for pos in range(size):
                trial = np.array([[*S[:pos], y, *S[pos + 1:]] for y in cand], dtype=np.int64)
                vals = objective(trial)
                evaluated += n
                j = int(np.argmax(vals))
                if vals[j] > val + tol:
                    S, val, improved = [int(y) for y in trial[j]], float(vals[j]), True
        if val > best_val:
            best_val, best_set = val, np.array(sorted(S), dtype=np.int64)
    if best_set is None:
        raise ValueError("seeds must name at least one response, got none")
    return best_set, float(best_val), evaluated
