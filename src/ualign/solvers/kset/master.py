"""The master LP of the k-set solvers over an explicit set of columns (THEORY §7).

    maximise v  s.t.  Σ_j x_j A[j, y'] >= v  for every response y',   x ∈ Δ(columns),

with ``A[j, y'] = WR(S_j, y')`` the win rate of the j-th k-set against the single response y'
(``ualign.core.sets.set_win_matrix`` under the display). Its duals on the n constraints are a
distribution ``q`` over the responses: a worst opponent mixture, which prices a new column by
``Σ_y' q(y') WR(S, y')`` in column generation (``solvers.kset.colgen``). Over *every* k-set it is
the best k-output policy itself.

References: shared/spec/THEORY.md §7; Dantzig-Wolfe column generation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linprog

from ualign.solvers.result import SolverError

__all__ = ["KSetLP", "kset_lp"]


class KSetLP(NamedTuple):
    """The master LP's solution: ``x (m,)`` the probabilities of the columns, ``value`` = v,
    ``opponent (n,)`` the duals q normalised to a distribution (a worst opponent mixture)."""

    x: np.ndarray
    value: float
    opponent: np.ndarray


def kset_lp(win_matrix) -> KSetLP:
    """``max v s.t. Aᵀx >= v, Σx = 1, x >= 0`` for ``A = win_matrix (m, n)`` (HiGHS, primal and
    dual feasibility tolerances 1e-10).

    Args:
      win_matrix: ``(m, n)`` with ``A[j, y'] = WR(S_j, y')``, one row per column (k-set).

    Returns:
      :class:`KSetLP` ``(x, value, opponent)``; ``x`` clipped at 0, ``opponent`` the duals of the
      n win-rate constraints, clipped at 0 and normalised to sum 1.

    Raises:
      SolverError: with HiGHS's status, when the LP fails (nothing falls back silently).

    Examples:
      >>> import numpy as np
      >>> lp = kset_lp(np.array([[1.0, 0.0], [0.0, 1.0]]))   # two sets, each wins one side
      >>> lp.x.round(6).tolist(), round(lp.value, 6)
      ([0.5, 0.5], 0.5)

    References: shared/spec/THEORY.md §7.
    """
    A = np.asarray(win_matrix, dtype=float)
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
    return KSetLP(np.clip(res.x[:m], 0.0, None), float(res.x[-1]), q / q.sum())
