"""Exact win rates of k-output policies and the payoffs of the (k+1)-player alignment game.

A user shown a multiset S picks one copy uniformly among the copies of minimal level in S.
``L(π, y)`` is the probability that a single response ``y`` is picked against k i.i.d. samples of
``π``; it is the payoff of a deviation to ``y`` in the (k+1)-player game at the symmetric profile
``π``, and ``WR(π^{⊗k}, y') = 1 - L(π, y')``.

References: shared/spec/THEORY.md §2-4.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from scipy.special import gammaln, roots_legendre

from ualign.core import _kernels
from ualign.core._checks import as_distribution, check_distribution, check_k, check_policy
from ualign.core.profile import Profile

__all__ = [
    "RobustWinRate",
    "deviation_payoffs",
    "exploitability",
    "robust_win_rate",
    "set_win_rate",
    "win_rate",
]


def _check_profile(profile) -> Profile:
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a ualign.Profile, got {type(profile).__name__}")
    return profile


def deviation_payoffs(profile: Profile, policy, k: int) -> np.ndarray:
    """``L(π, y)`` for every response ``y``: the chance ``y`` is picked against k samples of π.

    ``L_u(π, y) = ((a+t)^(k+1) - a^(k+1)) / ((k+1) t)`` with ``a`` the π-mass user ``u`` ranks
    strictly below ``y`` and ``t`` the mass tied with ``y`` (``y`` included); averaged over users.

    Args:
      profile: the population.
      policy: ``(..., n)`` distribution(s) over responses; leading axes are batched.
      k: number of samples, an integer >= 1.

    Returns:
      ``(..., n)`` payoffs. ``Σ_y π(y) L(π, y) = 1/(k+1)`` exactly.

    Cost: O(U n) per policy after a once-per-profile sort (compiled, parallel over users).
    """
    profile = _check_profile(profile)
    k = check_k(k)
    pi = check_policy(policy, profile.n_responses)
    batch = pi.shape[:-1]
    flat = np.ascontiguousarray(pi.reshape(-1, profile.n_responses))
    serial = profile.n_users * profile.n_responses * flat.shape[0] < _kernels.SERIAL_BELOW
    kernel = _kernels.payoffs_kernel_serial if serial else _kernels.payoffs_kernel
    out = kernel(profile._sorted_orders, profile.weights, flat, k, 4 * numba.get_num_threads())
    return out.reshape(*batch, profile.n_responses)


class RobustWinRate(NamedTuple):
    """The worst-case win rate of ``π^{⊗k}`` over single responses, and the worst response."""

    value: float
    worst: int


def robust_win_rate(profile: Profile, policy, k: int) -> RobustWinRate:
    """``min_y' WR(π^{⊗k}, y') = 1 - max_y L(π, y)``, with the minimising ``y'``.

    By linearity in the opponent this is also the minimum over every single-output ``π'``.
    """
    L = deviation_payoffs(profile, policy, k)
    if L.ndim != 1:
        raise ValueError(f"policy must be one distribution of shape ({profile.n_responses},), "
                         f"got {np.shape(policy)}")
    y = int(np.argmax(L))
    return RobustWinRate(float(1.0 - L[y]), y)


def exploitability(profile: Profile, policy, k: int):
    """``max_y L(π, y) - 1/(k+1)`` >= 0, zero exactly at a symmetric Nash equilibrium of the
    (k+1)-player alignment game. Batched over leading axes of ``policy``."""
    k = check_k(k)
    L = deviation_payoffs(profile, policy, k)
    e = L.max(axis=-1) - 1.0 / (k + 1)
    return float(e) if np.ndim(e) == 0 else e


def _log_binom(n, m):
    return gammaln(n + 1) - gammaln(m + 1) - gammaln(n - m + 1)


def _class_masses(profile: Profile, p: np.ndarray):
    """Per user and level class: mass in the class and mass strictly worse. ``(U, n)`` each."""
    U, n = profile.shape
    lv = profile.levels.astype(np.int64)
    flat = (np.arange(U)[:, None] * n + lv).ravel()
    t = np.bincount(flat, weights=np.broadcast_to(p, (U, n)).ravel(),
                    minlength=U * n).reshape(U, n)
    worse = np.clip(np.cumsum(t[:, ::-1], axis=1)[:, ::-1] - t, 0.0, None)
    return t, worse


def win_rate(profile: Profile, policy, k: int, opponent, ell: int = 1) -> float:
    """``WR(π^{⊗k}, ρ^{⊗ℓ})``: the chance the pick from ``S ⊎ S'`` is one of π's k copies.

    Args:
      policy: ``(n,)`` distribution π (the model, k samples).
      opponent: a response index or a distribution ρ (ℓ samples).
      ell: opponent's number of samples ℓ >= 1.

    For ℓ = 1 this is ``1 - Σ_y ρ(y) L(π, y)``. For ℓ > 1, per user and level class ``c``
    (model masses ``t, A`` in and strictly below ``c``; opponent's ``r, B``) the model wins with

        Σ_{i>=1, j} C(k,i) t^i A^(k-i) C(ℓ,j) r^j B^(ℓ-j) · i/(i+j)
          = ∫_0^1 k t (A + s t)^(k-1) (B + s r)^ℓ ds,

    a polynomial of degree k+ℓ-1 in s, integrated exactly by Gauss-Legendre quadrature.
    """
    profile = _check_profile(profile)
    k = check_k(k)
    ell = check_k(ell, "ell")
    n = profile.n_responses
    pi = check_distribution(policy, n)
    rho = as_distribution(opponent, n)
    if ell == 1:
        return float(1.0 - rho @ deviation_payoffs(profile, pi, k))
    t, A = _class_masses(profile, pi)
    r, B = _class_masses(profile, rho)
    nodes, wq = roots_legendre((k + ell + 1) // 2 + 1)
    s = (nodes + 1.0) / 2.0
    wq = wq / 2.0
    total = np.zeros(profile.n_users)
    for si, wi in zip(s, wq, strict=True):
        total += wi * np.sum(k * t * (A + si * t) ** (k - 1) * (B + si * r) ** ell, axis=1)
    return float(profile.weights @ total)


def set_win_rate(profile: Profile, sets, probs, opponent, ell: int = 1) -> float:
    """Win rate of a general k-output policy: a distribution ``probs (m,)`` over k-multisets
    ``sets (m, k)`` of response indices, against ℓ i.i.d. samples of ``opponent``.

    For a set S and a user, let ``b`` be the best level in S and ``i`` the number of copies of S
    at level ``b``; with the opponent's mass ``r`` at level ``b`` and ``B`` strictly below,

        P(pick from S) = Σ_j C(ℓ,j) r^j B^(ℓ-j) · i/(i+j).
    """
    profile = _check_profile(profile)
    n = profile.n_responses
    ell = check_k(ell, "ell")
    S = np.asarray(sets)
    if S.ndim != 2 or S.shape[1] < 1:
        raise ValueError(f"sets must be a 2-d integer array (m sets, k responses), got shape "
                         f"{S.shape}")
    if S.dtype.kind not in "iu":
        raise ValueError(f"sets must hold integer response indices, got dtype {S.dtype}")
    bad = np.argwhere((S < 0) | (S >= n))
    if bad.size:
        r_, c_ = bad[0]
        raise ValueError(f"sets must hold response indices in [0, {n}), got {S[r_, c_]} at "
                         f"row {r_}, column {c_}")
    m = S.shape[0]
    q = np.asarray(probs, dtype=float)
    if q.shape != (m,):
        raise ValueError(f"probs must have shape ({m},) (one probability per set), got {q.shape}")
    q = check_policy(q, m, "probs")
    rho = as_distribution(opponent, n)
    r, B = _class_masses(profile, rho)  # (U, n) by level class
    lv = profile.levels.astype(np.int64)  # (U, n)
    set_levels = lv[:, S]  # (U, m, k)
    best = set_levels.min(axis=2)  # (U, m)
    i = (set_levels == best[:, :, None]).sum(axis=2)  # (U, m)
    rb = np.take_along_axis(r, best, axis=1)
    Bb = np.take_along_axis(B, best, axis=1)
    j = np.arange(ell + 1)
    coef = np.exp(_log_binom(ell, j))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (coef * rb[..., None] ** j * Bb[..., None] ** (ell - j)
                 * i[..., None] / (i[..., None] + j))
    win = terms.sum(axis=-1)  # (U, m)
    return float(profile.weights @ win @ q)
