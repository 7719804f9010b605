"""RLHF: a Bradley-Terry reward fitted to the profile's pairwise comparisons, then the greedy or
KL-regularised policy.

Comparisons: ``W[y, z]`` = share of users preferring y to z, plus half the share tying them
(ties count ½ to each side). The Bradley-Terry maximum-likelihood rewards maximise

    ℓ(r) = Σ_{y≠z} W[y, z] log σ(r_y - r_z) - (ridge/2) ‖r‖²,      Σ_y r_y = 0,

a concave problem solved by Newton's method (gradient ``Σ_z W[y,z] σ(r_z - r_y) - W[z,y]
σ(r_y - r_z)``, Hessian a weighted Laplacian with weights ``(W[y,z] + W[z,y]) σ(1-σ)``). The
tiny default ridge keeps the maximiser finite when a response wins every comparison unanimously
(the unregularised MLE then diverges); it does not change the argmax.

Policy: β = None gives the argmax, exact ties (rewards within 1e-9) split uniformly;
β > 0 gives ``π ∝ μ exp(r/β)`` (RLHF's KL-regularised optimum, reference μ).

References: shared/spec/THEORY.md §4 (k = 1 certificate); Bradley & Terry 1952.
"""

from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple

import numpy as np
import scipy.linalg

from ualign.core.checks import as_real_array, check_iterations, check_k
from ualign.solvers import _kernels
from ualign.solvers._talk import TIME_LIMIT, stopped_early
from ualign.solvers.diagnostics import RLHFDiagnostics
from ualign.solvers.registry import Options, check_field
from ualign.solvers.result import (
    SolverError,
    SolverResult,
    certify,
    check_nonneg,
    check_positive,
    check_profile,
    check_reference,
)

__all__ = ["BTFit", "RLHFOptions", "bradley_terry", "fit_bradley_terry", "solve_rlhf"]


DIRECT_MAX = 1500  # up to this n each Newton step is a dense solve; beyond, preconditioned CG


def bradley_terry(wins: np.ndarray, *, ridge: float = 1e-8, tol: float = 1e-12,
                  max_iter: int = 100, time_limit: float | None = None) -> np.ndarray:
    """Bradley-Terry MLE rewards ``r (n,)`` (centred) from a win matrix ``W (n, n)``.

    ``W[y, z]`` >= 0 is the weight of comparisons y won against z. Newton's method with
    backtracking (see :func:`fit_bradley_terry`); raises ``SolverError`` if it has not
    converged after ``max_iter`` steps or ``time_limit`` seconds.

    Examples:
      Response 0 won 3 of 4 comparisons with response 1: the rewards differ by log 3.

      >>> import numpy as np
      >>> from ualign.solvers import bradley_terry
      >>> r = bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
      >>> r.round(4).tolist(), round(float(r[0] - r[1]), 4), round(float(np.log(3)), 4)
      ([0.5493, -0.5493], 1.0986, 1.0986)
    """
    fit = fit_bradley_terry(wins, ridge=ridge, tol=tol, max_iter=max_iter,
                            time_limit=time_limit)
    if not fit.converged:
        raise SolverError(f"Bradley-Terry Newton did not converge in {fit.iterations} steps "
                          f"({fit.seconds:.1f} s)", f"gradient {fit.gradient:.3g}")
    return fit.rewards


class BTFit(NamedTuple):
    """What :func:`fit_bradley_terry` returns: centred ``rewards``, whether the gradient met
    the tolerance, Newton steps taken, the final gradient's largest entry, wall seconds."""

    rewards: np.ndarray
    converged: bool
    iterations: int
    gradient: float
    seconds: float


def fit_bradley_terry(wins: np.ndarray, *, ridge: float = 1e-8, tol: float = 1e-12,
                      max_iter: int = 100, time_limit: float | None = None) -> BTFit:
    """Newton's method on the concave log-likelihood (module docstring), stopping when
    ``max|g| <= tol · max(1, max(W + Wᵀ))``, after ``max_iter`` steps, or once ``time_limit``
    seconds have passed (then ``converged`` is False).

    Each step solves ``(-H) d = g`` with ``-H = diag(A 1) - A + ridge I + 11ᵀ/n``, ``A = (W + Wᵀ)
    σ(1-σ)`` (a weighted Laplacian; ``11ᵀ/n`` fixes the flat direction): densely up to
    ``DIRECT_MAX`` responses (O(n³)), beyond by conjugate gradients preconditioned by the
    diagonal (each product O(n²); an n = 5,904 fit took 7 dense solves of 8-13 s each), to a
    relative residual that tightens with the gradient (inexact Newton), with a Cholesky solve
    when CG stalls. Rewards are re-centred after every step (the likelihood ignores a shift;
    the ridge term prefers mean 0).

    Examples:
      Response 0 won 3 of 4 comparisons with response 1:

      >>> import numpy as np
      >>> from ualign.solvers.rlhf import fit_bradley_terry
      >>> fit = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
      >>> fit.rewards.round(4).tolist(), fit.converged
      ([0.5493, -0.5493], True)
    """
    W = as_real_array(wins, "wins")
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"wins must be a square (n, n) matrix, got shape {W.shape}")
    bad = np.argwhere(~np.isfinite(W) | (W < 0))
    if bad.size:
        r_, c_ = bad[0]
        raise ValueError(f"wins must be finite and >= 0, got {W[r_, c_]} at row {r_}, "
                         f"column {c_}")
    ridge = check_nonneg(ridge, "ridge")
    tol = check_nonneg(tol, "tol")
    max_iter = check_iterations(max_iter, "max_iter")
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit")
    t0 = time.perf_counter()
    n = W.shape[0]
    W = W.copy()
    np.fill_diagonal(W, 0.0)
    WT = np.ascontiguousarray(W.T)
    N = W + WT
    threshold = tol * max(1.0, float(N.max()))

    A = np.empty((n, n))
    r = np.zeros(n)
    f, g, diag = _kernels.bradley_terry_terms(r, W, WT, N, ridge, A, False)
    it = 0
    while True:
        gmax = float(np.abs(g).max())
        if gmax <= threshold:
            return BTFit(r, True, it, gmax, time.perf_counter() - t0)
        if it >= max_iter or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            return BTFit(r, False, it, gmax, time.perf_counter() - t0)
        d = _newton_direction(A, diag, g, gmax)
        step = 1.0
        while True:
            # Accept the step when the likelihood still rises at its end (g_new · d >= 0: along
            # d it is concave, so it rose all the way), else compare the likelihoods (one
            # more fused pass with logarithms) and halve while it fell.
            r_new = r + step * d
            r_new -= r_new.mean()
            _, g_new, diag_new = _kernels.bradley_terry_terms(r_new, W, WT, N, ridge, A, False)
            if g_new @ d >= 0.0 or step < 1e-12:
                break
            if np.isnan(f):
                f = _kernels.bradley_terry_terms(r, W, WT, N, ridge, A, True)[0]
            f_new, g_new, diag_new = _kernels.bradley_terry_terms(r_new, W, WT, N, ridge, A,
                                                                  True)
            if f_new >= f - 1e-15 * abs(f):
                break
            step *= 0.5
        r, g, diag = r_new, g_new, diag_new
        f = np.nan
        it += 1


def _newton_direction(A: np.ndarray, diag: np.ndarray, g: np.ndarray, gmax: float
                      ) -> np.ndarray:
    """``d`` with ``(diag(diag) - A + 11ᵀ/n) d = g`` (``diag = A 1 + ridge``): a dense solve up
    to ``DIRECT_MAX`` responses; beyond, diagonal-preconditioned CG to a relative residual
    ``min(0.1, sqrt(max|g|)) · 1e-3`` (at most 200 products), then a Cholesky solve if CG did
    not get there."""
    n = g.size
    if n <= DIRECT_MAX:
        H = np.diag(diag) - A + 1.0 / n
        return np.linalg.solve(H, g)
    pre = 1.0 / (diag + 1.0 / n)
    target = min(0.1, np.sqrt(gmax)) * 1e-3 * float(np.linalg.norm(g))
    x = np.zeros(n)
    res = g.copy()
    z = pre * res
    p = z.copy()
    rz = float(res @ z)
    for _ in range(200):
        Ap = diag * p - A @ p + p.sum() / n
        alpha = rz / float(p @ Ap)
        x += alpha * p
        res -= alpha * Ap
        if float(np.linalg.norm(res)) <= target:
            return x
        z = pre * res
        rz_new = float(res @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    H = np.diag(diag) - A + 1.0 / n
    return scipy.linalg.cho_solve(scipy.linalg.cho_factor(H), g)


def solve_rlhf(profile, beta: float | None = None, reference=None, *,
               ridge: float = 1e-8, time_limit: float | None = TIME_LIMIT) -> SolverResult:
    """The RLHF policy: Bradley-Terry rewards, then argmax (β = None) or ``μ exp(r/β)``.

    Args:
      profile: the population.
      beta: KL strength β > 0, or None for the greedy policy (ties split uniformly).
      reference: μ for β > 0 (default uniform); must be strictly positive.
      ridge: L2 term on the rewards (keeps the MLE finite; see the module docstring).
      time_limit: seconds for the reward fit (default 60; None: no limit). A fit stopped by it
        returns the policy of its last rewards with ``converged=False`` and a
        ``StoppedEarlyWarning``.

    Returns:
      ``SolverResult`` with k = 1 (the certificate is the NLHF exploitability of the policy),
      ``converged``: the Newton fit met its tolerance (it raises if it did not within its
      steps);
      ``RLHFDiagnostics``: ``rewards`` the centred rewards, ``wins`` the matrix W.

    References: shared/spec/THEORY.md §4.

    Examples:
      On a majority cycle the greedy RLHF policy (β = None) puts everything on response 1, the
      largest Bradley-Terry reward, which response 0 beats 0.65 to 0.35; β > 0 tilts the
      reference by exp(r/β):

      >>> import numpy as np
      >>> from ualign import Profile, solve_rlhf
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> res = solve_rlhf(P)
      >>> res.policy.tolist(), round(res.robust_win_rate, 4)
      ([0.0, 1.0, 0.0], 0.35)
      >>> solve_rlhf(P, beta=1.0).policy.round(4).tolist()
      [0.3529, 0.3774, 0.2697]
    """
    profile = check_profile(profile)
    n = profile.n_responses
    t0 = time.perf_counter()
    P = profile.pairwise_preferences()
    # the tie mass 1 - P - Pᵀ is >= 0; clip the rounding (-1e-15) of responses nobody ties
    W = P + 0.5 * np.clip(1.0 - P - P.T, 0.0, None)
    np.fill_diagonal(W, 0.0)
    fit = fit_bradley_terry(W, ridge=check_nonneg(ridge, "ridge"), time_limit=time_limit)
    if not fit.converged and (time_limit is None or fit.seconds <= time_limit):
        raise SolverError(f"Bradley-Terry Newton did not converge in {fit.iterations} steps",
                          f"gradient {fit.gradient:.3g}")
    if not fit.converged:
        stopped_early("solve_rlhf", f"Bradley-Terry gradient {fit.gradient:.3g} after "
                      f"{fit.iterations} Newton steps in {fit.seconds:.1f} s",
                      f"time_limit= (seconds; now {time_limit:g} s, None for no limit)")
    r = fit.rewards
    if beta is None:
        if reference is not None:
            check_reference(reference, n, positive=False)
        best = r >= r.max() - 1e-9 * max(1.0, np.abs(r).max())
        pi = best / best.sum()
        method = "rlhf-argmax"
    else:
        beta = check_positive(beta, "beta")
        mu = check_reference(reference, n, positive=True)
        z = np.log(mu) + r / beta
        pi = np.exp(z - z.max())
        pi /= pi.sum()
        method = "rlhf-kl"
    return certify(profile, pi, 1, method=method, iterations=fit.iterations, payoff_evals=0,
                   converged=fit.converged, trace=[], seconds=time.perf_counter() - t0,
                   diagnostics=RLHFDiagnostics(rewards=r, wins=W, beta=beta))


@dataclasses.dataclass(frozen=True, eq=False)
class RLHFOptions(Options):
    """Options of the registered method ``"rlhf"`` (the arguments of :func:`solve_rlhf`)."""

    beta: float | None = None
    reference: object = None
    ridge: float = 1e-8
    time_limit: float | None = TIME_LIMIT

    def __post_init__(self):
        check_field(self, "beta", check_positive)
        check_field(self, "ridge", check_nonneg, optional=False)
        check_field(self, "time_limit", check_positive)


def rlhf_method(profile, k, opts: RLHFOptions) -> SolverResult:
    """The registered ``"rlhf"``: :func:`solve_rlhf` (k-free: the policy is deployed as
    ``π^{⊗k}``; its certificate is at k = 1)."""
    check_k(k)
    return solve_rlhf(profile, opts.beta, opts.reference, ridge=opts.ridge,
                      time_limit=opts.time_limit)
