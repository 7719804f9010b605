"""The result of the k-set solvers: a distribution over k-sets with a certified bound.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ualign.core.displays import PAPER_DISPLAY
from ualign.solvers.diagnostics import Diagnostics

__all__ = ["KSetResult"]


@dataclasses.dataclass(frozen=True)
class KSetResult:
    """Best k-output policy: ``probs[j]`` on the k-set ``sets[j]`` (a ``Certified`` result).

    Attributes:
      sets: ``(m, k)`` int response indices (sorted within a row): k-multisets under
        ``display="multiset"``, k distinct responses under ``"distinct"``.
      probs: ``(m,)`` probabilities.
      value: ``min_y' Σ_j probs[j] WR(sets[j], y')``, re-evaluated by the engine
        (``robust_set_win_rate`` under ``display``).
      opponent: ``(n,)`` LP duals, a worst opponent mixture (Σ = 1); one-hot at the worst
        response for a deterministic set.
      upper_bound: certified upper bound on the optimal value (equals ``value`` up to the LP
        tolerance when ``exact``); ``value <= upper_bound`` holds exactly (rounded outward).
      exact: whether ``value`` is certified optimal, one meaning for both displays: the
        certificate ``upper_bound - value`` closed to the solver's tolerance (multiset: exact
        pricing found no entering column, so the gap is at most ``tol``; distinct: the gap is at
        most ``gap_tol``). ``exact`` implies ``converged``; a multiset solve with the greedy
        pricer can converge without being exact.
      pricer: the pricer that generated the columns (``"enumeration"``, ``"greedy"``,
        ``"heuristic+mip"``, ``"heuristic+streamed enumeration"``, ...) or, for a committee
        rule or a selection baseline deployed as one set, the rule's name.
      iterations: column-generation (pricing) rounds; columns: columns generated in total.
      worst_response: the single response ``y'`` attaining ``value``.
      converged: multiset: column generation stopped because no column prices above the
        master value (False when it ran out of ``max_rounds``); distinct: the certified gap
        closed to ``gap_tol``.
      seconds: wall time; diagnostics: typed (``KSetDiagnostics``,
        ``DistinctKSetDiagnostics``, ``CommitteeDiagnostics``, ...).
      display: ``"multiset"`` (k-multisets, THEORY §2) or ``"distinct"`` (k-subsets, §9).

    ``robust_win_rate`` (= ``value``) and ``certificate`` (= ``upper_bound - value``, the
    certified optimality gap) complete the ``Certified`` protocol.
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
    display: str = PAPER_DISPLAY

    @property
    def robust_win_rate(self) -> float:
        """``value``: the worst case over single responses of the k-set policy's win rate."""
        return self.value

    @property
    def certificate(self) -> float:
        """``upper_bound - value``: how far ``value`` can be from the optimum, certified."""
        return self.upper_bound - self.value
