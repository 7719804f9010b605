"""One result contract for every solver, the typed diagnostics, and the certificate every
equilibrium solver ends with.

Every solver result (:class:`SolverResult`, :class:`~ualign.solvers.kset.KSetResult`) satisfies
the :class:`Certified` protocol: a robust win rate, the worst response, a certificate,
``converged``, ``seconds`` and typed ``diagnostics`` (a frozen dataclass per method, see
``ualign.solvers.diagnostics``).

References: shared/spec/THEORY.md §4 (exploitability, robust win rate).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ualign.core.checks import (  # noqa: F401  (re-exported: the solvers import them here)
    check_distribution,
    check_k,
    check_max_iter,
    check_nonneg,
    check_policy,
    check_positive,
    check_profile,
    check_reference,
)
from ualign.core.payoffs import deviation_payoffs
from ualign.core.profile import Profile
from ualign.solvers.diagnostics import Diagnostics

__all__ = ["Certified", "SolverError", "SolverResult"]


class SolverError(RuntimeError):
    """An LP or iterative solve failed; ``status`` carries the solver's own status."""

    def __init__(self, message: str, status=None):
        super().__init__(message if status is None else f"{message} (status: {status})")
        self.status = status


@runtime_checkable
class Certified(Protocol):
    """What every solver result offers (the contract test checks it for every registered
    method).

    - ``robust_win_rate``: the worst-case win rate of the deployed k-output policy against a
      single response, from a fresh evaluation.
    - ``worst_response``: the single response attaining it.
    - ``certificate``: a certified gap, ``>= 0`` up to the solver tolerance and 0 at an exact
      answer: ``max_y L(π, y) - 1/(k+1)`` (exploitability) for equilibrium policies,
      ``upper_bound - value`` for the best k-output policy.
    - ``converged``: whether the method's own stopping criterion was met.
    - ``seconds``: wall time of the solve.
    - ``diagnostics``: the method's typed diagnostics (a frozen dataclass).
    """

    @property
    def robust_win_rate(self) -> float: ...
    @property
    def worst_response(self) -> int: ...
    @property
    def certificate(self) -> float: ...
    @property
    def converged(self) -> bool: ...
    @property
    def seconds(self) -> float: ...
    @property
    def diagnostics(self) -> Diagnostics: ...


@dataclasses.dataclass(frozen=True)
class SolverResult:
    """The output of every ``ualign.solvers`` equilibrium solver (a :class:`Certified`).

    Attributes:
      policy: ``(n,)`` the returned single-output policy π (on the simplex).
      k: samples per query the certificate refers to (1 for NLHF and RLHF).
      method: the solver that produced it (``"nlhf-lp"``, ``"hedge"``, ...).
      exploitability: ``max_y L(π, y) - 1/(k+1)`` from a fresh full evaluation at the end (the
        ``certificate``).
      robust_win_rate: ``1 - max_y L(π, y) = min_y' WR(π^{⊗k}, y')``.
      worst_response: the ``y'`` attaining the minimum.
      iterations: updates the method took (``max_iter`` caps this number for every method).
      payoff_evals: full evaluations of ``L(π, ·)`` over all n responses (the certificate
        included; restricted/partial evaluations are in the diagnostics).
      converged: whether the method's own stopping criterion was met (``exploitability <= tol``
        for equilibrium solvers; see each solver's docstring).
      trace: ``(iteration, exploitability)`` pairs, iterations increasing.
      seconds: wall time of the solve.
      diagnostics: method-specific typed diagnostics (``ualign.solvers.diagnostics``).
      seed: the ``seed`` the caller passed (the methods are deterministic; recorded only).

    Examples:
      Every equilibrium solver returns one; RLHF and NLHF are certified at k = 1.

      >>> from ualign import Profile, solve_nlhf
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 2, 1], [1, 0, 2]])  # 0: Condorcet winner
      >>> res = solve_nlhf(P)
      >>> res.policy.round(4).tolist(), res.k, res.method, res.worst_response
      ([1.0, 0.0, 0.0], 1, 'nlhf-lp', 0)
      >>> round(res.robust_win_rate, 4), res.certificate == res.exploitability
      (0.5, True)
    """

    policy: np.ndarray
    k: int
    method: str
    exploitability: float
    robust_win_rate: float
    worst_response: int
    iterations: int
    payoff_evals: int
    converged: bool
    trace: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    diagnostics: Diagnostics = dataclasses.field(default_factory=Diagnostics)
    seed: Any = None

    @property
    def certificate(self) -> float:
        """The certified exploitability ``max_y L(π, y) - 1/(k+1)``."""
        return self.exploitability

    def __repr__(self) -> str:
        return (f"SolverResult(method={self.method!r}, k={self.k}, n={self.policy.size}, "
                f"exploitability={self.exploitability:.3g}, "
                f"robust_win_rate={self.robust_win_rate:.6f}, iterations={self.iterations}, "
                f"payoff_evals={self.payoff_evals}, converged={self.converged})")


def certify(profile: Profile, policy, k: int, *, method: str, iterations: int,
            payoff_evals: int, converged, trace, seconds: float = 0.0,
            diagnostics: Diagnostics | None = None) -> SolverResult:
    """Evaluate ``L(π, ·)`` afresh over all responses and package the result (+1 evaluation).

    ``converged`` is a bool, or a float tolerance meaning "the certified exploitability is
    <= converged". The certified value closes the trace."""
    pi = check_policy(policy, profile.n_responses)
    L = deviation_payoffs(profile, pi, k)
    y = int(np.argmax(L))
    expl = float(L[y] - 1.0 / (k + 1))
    if not isinstance(converged, (bool, np.bool_)):
        converged = expl <= float(converged)
    trace = [(int(i), float(e)) for i, e in trace]
    if not trace or trace[-1][0] < iterations:
        trace.append((int(iterations), expl))
    pi = pi.copy()
    pi.setflags(write=False)
    return SolverResult(policy=pi, k=k, method=method, exploitability=expl,
                        robust_win_rate=float(1.0 - L[y]), worst_response=y,
                        iterations=int(iterations), payoff_evals=int(payoff_evals) + 1,
                        converged=bool(converged), trace=trace, seconds=float(seconds),
                        diagnostics=Diagnostics() if diagnostics is None else diagnostics)
