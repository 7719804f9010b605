"""Typed diagnostics of the solvers: one frozen dataclass per method, in a result's
``diagnostics`` field (read ``result.diagnostics.<field>``).

Sequences are stored as tuples and arrays read-only, so a result cannot be changed after the
fact.

References: shared/spec/THEORY.md §4-7.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = [
    "AutoDiagnostics",
    "CommitteeDiagnostics",
    "Diagnostics",
    "DistinctKSetDiagnostics",
    "HedgeDiagnostics",
    "KSetDiagnostics",
    "LastIterateDiagnostics",
    "MMDDiagnostics",
    "NLHFDiagnostics",
    "RLHFDiagnostics",
]


def _frozen_array(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """Base of every method's diagnostics (and the empty diagnostics)."""

    def as_dict(self) -> dict[str, Any]:
        """Field name -> value, fields that are None left out."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}


@dataclasses.dataclass(frozen=True)
class AutoDiagnostics(Diagnostics):
    """``solve_ualign(method="auto")``: column generation over candidate supports.

    Attributes:
      rounds: column-generation rounds; candidate_sizes: |C| in each round.
      support_size: responses with positive mass in the answer.
      restricted_evals, restricted_jacobians: payoff evaluations / Jacobians on restricted games.
      steps: restricted-game steps in total; newton_steps, lp_steps: of which accepted
        Josephy-Newton steps and trust-region LP solves.
      trace_seconds: seconds since the start at each trace point.
    """

    rounds: int
    candidate_sizes: tuple[int, ...]
    support_size: int
    restricted_evals: int
    restricted_jacobians: int
    steps: int
    newton_steps: int
    lp_steps: int
    trace_seconds: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class HedgeDiagnostics(Diagnostics):
    """``solve_ualign(method="hedge")``.

    Attributes:
      eta: the step size used.
      averaged_iterates: T, the iterates played and averaged.
      sampled_iterate_robust_win_rate: ``1 - max_y (1/T) Σ_t L(π_t, y)``, the exact worst-case
        win rate of "draw t uniformly, then k samples of π_t"; sampled_iterate_exploitability:
        ``max_y (1/T) Σ_t L(π_t, y) - 1/(k+1)``.
      sampled_iterate_bound: ``k/(k+1) - sqrt(log n / (2T))``; bound_applies: whether it is a
        theorem here (η = sqrt(8 log n / T), run for the full T).
      last_iterate_exploitability: ``max_y L(π_T, y) - 1/(k+1)``.
      trace_seconds: seconds since the start at each trace point.
    """

    eta: float
    averaged_iterates: int
    sampled_iterate_robust_win_rate: float
    sampled_iterate_exploitability: float
    sampled_iterate_bound: float
    bound_applies: bool
    last_iterate_exploitability: float
    trace_seconds: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class LastIterateDiagnostics(Diagnostics):
    """``solve_ualign(method="optimistic" | "extragradient")``: the step size and the trace
    times."""

    eta: float
    trace_seconds: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class MMDDiagnostics(Diagnostics):
    """``solve_ualign(method="mmd")``.

    Attributes:
      eta, tau: step size and KL strength.
      residual: the last fixed-point residual ``‖π - softmax(log μ + L(π)/τ)‖_1``;
        residual_trace: ``(iteration, residual)`` pairs.
      kl_bound: ``τ max_y log(π/μ)``, a bound on the exploitability at the fixed point
        (THEORY §5).
      trace_seconds: seconds since the start at each trace point.
    """

    eta: float
    tau: float
    residual: float
    residual_trace: tuple[tuple[int, float], ...]
    kl_bound: float
    trace_seconds: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class NLHFDiagnostics(Diagnostics):
    """``solve_nlhf``: ``tau``; for τ > 0 also the fixed-point ``residual`` after the Newton
    polish, ``residual_trace`` (``(iteration, residual)``), ``newton_iterations`` and
    ``kl_bound = τ max_y log(π/μ)`` (THEORY §5). None for τ = 0 (the LP)."""

    tau: float
    residual: float | None = None
    residual_trace: tuple[tuple[int, float], ...] | None = None
    newton_iterations: int | None = None
    kl_bound: float | None = None


@dataclasses.dataclass(frozen=True)
class RLHFDiagnostics(Diagnostics):
    """``solve_rlhf``: the centred Bradley-Terry ``rewards (n,)``, the comparison matrix
    ``wins (n, n)`` they were fitted to, and ``beta`` (None: greedy)."""

    rewards: np.ndarray
    wins: np.ndarray
    beta: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "rewards", _frozen_array(self.rewards))
        object.__setattr__(self, "wins", _frozen_array(self.wins))


@dataclasses.dataclass(frozen=True)
class KSetDiagnostics(Diagnostics):
    """``solve_kset``: the master LP value in each column-generation round."""

    master_values: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class DistinctKSetDiagnostics(Diagnostics):
    """``solve_kset(display="distinct")``: why column generation (or, for ``randomised=False``,
    constraint generation) stopped (``"gap"``, ``"time_limit"``, ``"max_rounds"``, ...), which
    bound gave ``upper_bound``, the exact pricing MIPs solved and their time, the last master
    value, the ``(seconds, master value, upper bound)`` trace, and (deterministic sets) the
    opponents whose constraints were generated."""

    status: str
    upper_bound_from: str | None = None
    mip_calls: int = 0
    mip_seconds: float = 0.0
    master_value: float | None = None
    trace: tuple[tuple[float, float, float], ...] = ()
    active_opponents: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class CommitteeDiagnostics(Diagnostics):
    """A committee rule's details (``ualign.solvers.committees``; None where they do not
    apply).

    Attributes:
      scores: ``(n,)`` the per-response scores the top-k rules sort (mean utility or Borda),
        read-only.
      groups: CC / PAV: the distinct non-empty approval sets (users merged).
      time_limit: CC / PAV: HiGHS's time limit (None: none).
      incumbent: CC / PAV: where the committee came from: ``"highs"``, ``"local search"``,
        ``"enumeration"`` (k <= 2, every committee scored) or ``"any (no approvals)"``.
      local_search_score: CC / PAV: the greedy + swap committee's score.
      mip_gap: CC / PAV: HiGHS's final relative gap (None when it did not run).
      rule, rule_score, rule_upper_bound, rule_optimal, rule_status: the rule's own result
        (objective at the set, certified bound on its optimum, proven optimal, solver status),
        set when the committee is deployed as a k-set policy (the registered committee
        methods, whose ``KSetResult`` has no place for them).
    """

    scores: np.ndarray | None = None
    groups: int | None = None
    time_limit: float | None = None
    incumbent: str | None = None
    local_search_score: float | None = None
    mip_gap: float | None = None
    rule: str | None = None
    rule_score: float | None = None
    rule_upper_bound: float | None = None
    rule_optimal: bool | None = None
    rule_status: str | None = None

    def __post_init__(self):
        if self.scores is not None:
            object.__setattr__(self, "scores", _frozen_array(self.scores))
