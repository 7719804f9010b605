"""NLHF: the Nash equilibrium of the pairwise preference game (k = 1), exact or KL-regularised.

For k = 1 the deviation payoff is linear: ``L(π, y) = P(y ≻ π) = 1/2 + (M π)_y / 2`` with the
margin matrix ``M = P - Pᵀ`` (ties count ½). The unregularised equilibrium is the (margin)
**maximal lottery**, the LP

    maximise v  s.t.  Σ_y p_y M[y, z] >= v  for every z,  Σ_y p_y = 1,  p >= 0,

whose value is 0 (M is skew-symmetric). With a reference μ and strength τ > 0 the regularised
game has the unique equilibrium ``π_τ = softmax(log μ + L(π_τ)/τ)``, found by magnetic mirror
descent and polished by Newton's method on that fixed-point equation.

References: shared/spec/THEORY.md §4 (k = 1), §5 (MMD); Fishburn 1984 (maximal lotteries);
Munos et al. 2024 (NLHF, Nash-MD).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy.optimize import linprog

from ualign.core._checks import check_k
from ualign.solvers import dynamics as dyn
from ualign.solvers.diagnostics import NLHFDiagnostics
from ualign.solvers.registry import Options, check_field
from ualign.solvers.result import (
    SolverError,
    SolverResult,
    certify,
    check_max_iter,
    check_nonneg,
    check_positive,
    check_profile,
    check_reference,
)

__all__ = ["NLHFOptions", "maximal_lottery", "solve_nlhf"]


def maximal_lottery(margins: np.ndarray, *, tol: float = 1e-10) -> np.ndarray:
    """The maximal lottery of a skew-symmetric margin matrix ``M (n, n)`` by HiGHS.

    Solves ``max v s.t. Mᵀ p >= v, Σp = 1, p >= 0``; raises ``SolverError`` with the HiGHS
    status on failure. Among several maximal lotteries HiGHS returns one vertex.
    """
    M = np.asarray(margins, dtype=float)
    n = M.shape[0]
    # variables (p_0..p_{n-1}, v); minimise -v; -Mᵀp + v <= 0
    c = np.zeros(n + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-M.T, np.ones((n, 1))])
    A_eq = np.zeros((1, n + 1))
    A_eq[0, :n] = 1.0
    bounds = [(0.0, None)] * n + [(-1.0, 1.0)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=bounds,
                  method="highs", options={"primal_feasibility_tolerance": tol,
                                           "dual_feasibility_tolerance": tol})
    if res.status != 0:
        raise SolverError(f"maximal-lottery LP failed: {res.message}", res.status)
    p = np.clip(res.x[:n], 0.0, None)
    return p / p.sum()


def _regularised_newton(M, log_mu, tau, pi, *, iters=50, tol=1e-13):
    """Newton on ``log π - log μ - L(π)/τ - c = 0``, ``Σπ = 1`` with ``L = 1/2 + Mπ/2``.

    Unknowns ``(π, c)``; Jacobian ``[[diag(1/π) - M/(2τ), -1], [1ᵀ, 0]]``; damped so that π stays
    positive. Returns ``(π, iterations, residual)``.
    """
    n = pi.size
    c = 0.0
    for it in range(iters):
        L = 0.5 + 0.5 * (M @ pi)
        F = np.concatenate([np.log(pi) - log_mu - L / tau - c, [pi.sum() - 1.0]])
        res = np.abs(F).max()
        if res <= tol:
            return pi, it, res
        Jm = np.zeros((n + 1, n + 1))
        Jm[:n, :n] = np.diag(1.0 / pi) - M / (2.0 * tau)
        Jm[:n, n] = -1.0
        Jm[n, :n] = 1.0
        d = np.linalg.lstsq(Jm, -F, rcond=None)[0]
        step = 1.0
        neg = d[:n] < 0
        if np.any(neg):
            step = min(1.0, 0.9 * np.min(-pi[neg] / d[:n][neg]))
        pi = pi + step * d[:n]
        c = c + step * d[n]
    L = 0.5 + 0.5 * (M @ pi)
    return pi, iters, np.abs(np.log(pi) - log_mu - L / tau - c).max()


def solve_nlhf(profile, tau: float = 0.0, reference=None, *, tol: float = 1e-9,
               max_iter: int | None = None, eta: float | None = None,
               progress: bool = False) -> SolverResult:
    """The NLHF policy: a Nash equilibrium of the k = 1 preference game.

    Args:
      profile: the population (a ``ualign.Profile``).
      tau: KL strength τ >= 0. τ = 0: the maximal lottery by LP (HiGHS); ``reference`` is not
        used then. τ > 0: the unique regularised equilibrium ``π_τ ∝ μ exp(P(· ≻ π_τ)/τ)``.
      reference: μ, a strictly positive distribution ``(n,)`` (default uniform); τ > 0 only.
      tol: τ = 0: ``converged`` means the certified exploitability is <= tol; τ > 0: the
        fixed-point residual ``‖π - softmax(log μ + L(π)/τ)‖_1`` is <= tol.
      max_iter: MMD updates before the Newton polish (τ > 0; default 200).
      eta: MMD step size (default ``1/(1+τ)``).

    Returns:
      ``SolverResult`` with k = 1 and ``NLHFDiagnostics``: for τ > 0 ``residual``,
      ``kl_bound`` (``τ max_y log(π/μ)``, THEORY §5) and ``newton_iterations``.

    Raises:
      ValueError on bad input; ``SolverError`` (with the HiGHS status) if the LP fails.

    References: shared/spec/THEORY.md §4-5.
    """
    profile = check_profile(profile)
    tau = check_nonneg(tau, "tau")
    n = profile.n_responses
    t0 = time.perf_counter()
    M = profile.margins()
    if tau == 0.0:
        if reference is not None:
            check_reference(reference, n, positive=False)
        p = maximal_lottery(M)
        return certify(profile, p, 1, method="nlhf-lp", iterations=1, payoff_evals=0,
                       converged=tol, trace=[], seconds=time.perf_counter() - t0,
                       diagnostics=NLHFDiagnostics(tau=tau))
    mu = check_reference(reference, n, positive=True)
    log_mu = np.log(mu)
    max_iter = check_max_iter(max_iter, 200)
    eta = 1.0 / (1.0 + tau) if eta is None else float(eta)

    def oracle(pi):
        return 0.5 + 0.5 * (M @ pi)

    def certificate(state, it):
        r = dyn.mmd_residual(state.pi, state.r, tau, log_mu)
        return r, 0, r <= 1e-6

    out = dyn.run(dyn.mmd(oracle, eta, tau, mu), certificate, pi0=mu, max_iter=max_iter,
                  desc="nlhf-mmd", progress=progress)
    state, trace = out.state, out.trace
    pi, newton_it, _ = _regularised_newton(M, log_mu, tau, state.pi)
    pi = np.clip(pi, 0.0, None)
    pi /= pi.sum()
    residual = dyn.mmd_residual(pi, oracle(pi), tau, log_mu)
    trace.append((state.t + newton_it, residual))
    res = certify(profile, pi, 1, method="nlhf-mmd", iterations=state.t + newton_it,
                  payoff_evals=state.evals + newton_it + 1, converged=residual <= tol, trace=[],
                  seconds=time.perf_counter() - t0,
                  diagnostics=NLHFDiagnostics(
                      tau=tau, residual=residual, residual_trace=tuple(trace),
                      newton_iterations=newton_it,
                      kl_bound=float(tau * np.max(np.log(pi / mu)))))
    return res


@dataclasses.dataclass(frozen=True, eq=False)
class NLHFOptions(Options):
    """Options of the registered method ``"nlhf"`` (the arguments of :func:`solve_nlhf`)."""

    tau: float = 0.0
    reference: object = None
    tol: float = 1e-9
    max_iter: int | None = None
    eta: float | None = None
    progress: bool = False

    def __post_init__(self):
        check_field(self, "tau", check_nonneg)
        check_field(self, "tol", check_positive)
        check_field(self, "max_iter", check_k)
        check_field(self, "eta", check_positive)


def nlhf_method(profile, k, opts: NLHFOptions) -> SolverResult:
    """The registered ``"nlhf"``: :func:`solve_nlhf` (k-free: the policy is deployed as
    ``π^{⊗k}``; its certificate is at k = 1)."""
    check_k(k)
    return solve_nlhf(profile, opts.tau, opts.reference, tol=opts.tol, max_iter=opts.max_iter,
                      eta=opts.eta, progress=opts.progress)
