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

import numpy as np
from scipy.special import expit

from ualign.core.checks import as_real_array, check_iterations, check_k
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

__all__ = ["RLHFOptions", "bradley_terry", "solve_rlhf"]


def bradley_terry(wins: np.ndarray, *, ridge: float = 1e-8, tol: float = 1e-12,
                  max_iter: int = 100) -> np.ndarray:
    """Bradley-Terry MLE rewards ``r (n,)`` (centred) from a win matrix ``W (n, n)``.

    ``W[y, z]`` >= 0 is the weight of comparisons y won against z. Newton's method with
    backtracking; raises ``SolverError`` if it has not converged after ``max_iter`` steps.

    Examples:
      Response 0 won 3 of 4 comparisons with response 1: the rewards differ by log 3.

      >>> import numpy as np
      >>> from ualign.solvers import bradley_terry
      >>> r = bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]))
      >>> r.round(4).tolist(), round(float(r[0] - r[1]), 4), round(float(np.log(3)), 4)
      ([0.5493, -0.5493], 1.0986, 1.0986)
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
    n = W.shape[0]
    W = W.copy()
    np.fill_diagonal(W, 0.0)
    N = W + W.T

    def objective(r):
        D = r[:, None] - r[None, :]
        return float(np.sum(W * -np.logaddexp(0.0, -D)) - 0.5 * ridge * r @ r)

    r = np.zeros(n)
    f = objective(r)
    for _it in range(max_iter):
        D = r[:, None] - r[None, :]
        S = expit(D)  # σ(r_y - r_z)
        g = (W * (1.0 - S)).sum(axis=1) - (W.T * S).sum(axis=1) - ridge * r
        H = N * S * (1.0 - S)
        # -Hessian plus 11ᵀ/n (the objective is flat along 1 when ridge = 0; Σr stays 0)
        H = np.diag(H.sum(axis=1)) - H + ridge * np.eye(n) + 1.0 / n
        if np.abs(g).max() <= tol * max(1.0, N.max()):
            return r - r.mean()
        d = np.linalg.solve(H, g)
        step = 1.0
        while True:
            r_new = r + step * d
            f_new = objective(r_new)
            if f_new >= f - 1e-15 * abs(f) or step < 1e-12:
                break
            step *= 0.5
        r, f = r_new, f_new
    raise SolverError(f"Bradley-Terry Newton did not converge in {max_iter} steps",
                      f"gradient {np.abs(g).max():.3g}")


def solve_rlhf(profile, beta: float | None = None, reference=None, *,
               ridge: float = 1e-8) -> SolverResult:
    """The RLHF policy: Bradley-Terry rewards, then argmax (β = None) or ``μ exp(r/β)``.

    Args:
      profile: the population.
      beta: KL strength β > 0, or None for the greedy policy (ties split uniformly).
      reference: μ for β > 0 (default uniform); must be strictly positive.
      ridge: L2 term on the rewards (keeps the MLE finite; see the module docstring).

    Returns:
      ``SolverResult`` with k = 1 (the certificate is the NLHF exploitability of the policy),
      ``converged`` = True (the Newton fit converged; it raises otherwise);
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
    r = bradley_terry(W, ridge=check_nonneg(ridge, "ridge"))
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
    return certify(profile, pi, 1, method=method, iterations=1, payoff_evals=0,
                   converged=True, trace=[], seconds=time.perf_counter() - t0,
                   diagnostics=RLHFDiagnostics(rewards=r, wins=W, beta=beta))


@dataclasses.dataclass(frozen=True, eq=False)
class RLHFOptions(Options):
    """Options of the registered method ``"rlhf"`` (the arguments of :func:`solve_rlhf`)."""

    beta: float | None = None
    reference: object = None
    ridge: float = 1e-8

    def __post_init__(self):
        check_field(self, "beta", check_positive)
        check_field(self, "ridge", check_nonneg, optional=False)


def rlhf_method(profile, k, opts: RLHFOptions) -> SolverResult:
    """The registered ``"rlhf"``: :func:`solve_rlhf` (k-free: the policy is deployed as
    ``π^{⊗k}``; its certificate is at k = 1)."""
    check_k(k)
    return solve_rlhf(profile, opts.beta, opts.reference, ridge=opts.ridge)
