"""One k-set problem: what the master LP, the pricers and the result share.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ualign.core.profile import Profile
from ualign.core.sets import set_win_matrix

__all__ = ["Problem"]


class Problem(NamedTuple):
    """One k-set LP: the population (``levels (U, n)`` int64, ``weights (U,)``), k, the
    display whose win rates are the master's rows, the entering tolerance ``tol`` (a column
    enters when its price exceeds v by more than tol), ``gap_tol`` (pricing that finds nothing
    ends with status ``"gap"`` when ``upper − v <= gap_tol``; None: no such status), the start
    time ``t0`` and the ``deadline`` (``time.perf_counter()`` seconds, or None)."""

    profile: Profile
    levels: np.ndarray
    weights: np.ndarray
    k: int
    display: str
    tol: float
    gap_tol: float | None
    t0: float
    deadline: float | None

    @property
    def n(self) -> int:
        return self.levels.shape[1]

    @property
    def L(self) -> int:
        """The number of levels: ``max level + 1``."""
        return int(self.levels.max()) + 1

    def rows(self, columns) -> np.ndarray:
        """``(m, n)``: ``WR(S, y')`` for each column S against every single response y'."""
        return set_win_matrix(self.levels, self.weights, np.array(columns, dtype=np.int64),
                              self.display)
