"""Typed diagnostics of the solvers: one frozen dataclass per method, in a result's
``diagnostics`` field (they replace the old ``extras["..."]`` string keys; ``result.extras`` is a
deprecated read-only view of them).

Sequences are stored as tuples and arrays read-only, so a result cannot be changed after the
fact.

References: shared/spec/THEORY.md §4-7.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "AutoDiagnostics",
    "Diagnostics",
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
        """Field name -> value, fields that are None left out (what ``result.extras`` shows)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}


@dataclasses.dataclass(frozen=True)
class LegacyDiagnostics(Diagnostics):
    """An untyped ``extras`` mapping given to a result's constructor (the old form)."""

    mapping: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "mapping", types.MappingProxyType(dict(self.mapping)))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.mapping)


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
