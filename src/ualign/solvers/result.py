"""One typed result for every solver, and the certificate every solver ends with.

References: shared/spec/THEORY.md §4 (exploitability, robust win rate).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ualign.core._checks import (  # noqa: F401  (re-exported: the solvers import them here)
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

__all__ = ["SolverResult"]


@dataclasses.dataclass(frozen=True)
class SolverResult:
    """The output of every ``ualign.solvers`` equilibrium solver.

    Attributes:
      policy: ``(n,)`` the returned single-output policy π (on the simplex).
      k: samples per query the certificate refers to (1 for NLHF and RLHF).
      method: the solver that produced it (``"nlhf-lp"``, ``"hedge"``, ...).
      exploitability: ``max_y L(π, y) - 1/(k+1)`` from a fresh full evaluation at the end.
      robust_win_rate: ``1 - max_y L(π, y) = min_y' WR(π^{⊗k}, y')``.
      worst_response: the ``y'`` attaining the minimum.
      iterations: iterations (or outer rounds) the method ran.
      payoff_evals: full evaluations of ``L(π, ·)`` over all n responses (the certificate
        included; restricted/partial evaluations are reported in ``extras``).
      converged: whether the method's own stopping criterion was met (``exploitability <= tol``
        for equilibrium solvers; see each solver's docstring).
      trace: ``(iteration, exploitability)`` pairs, iterations increasing.
      extras: method-specific diagnostics (seconds, rewards, bounds, ...).
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
    extras: dict = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"SolverResult(method={self.method!r}, k={self.k}, n={self.policy.size}, "
                f"exploitability={self.exploitability:.3g}, "
                f"robust_win_rate={self.robust_win_rate:.6f}, iterations={self.iterations}, "
                f"payoff_evals={self.payoff_evals}, converged={self.converged})")


def certify(profile: Profile, policy, k: int, *, method: str, iterations: int,
            payoff_evals: int, converged, trace, extras=None) -> SolverResult:
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
                        converged=bool(converged), trace=trace, extras=dict(extras or {}))
