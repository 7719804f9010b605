"""Exact win rates of k-output policies and the payoffs of the (k+1)-player alignment game.

A user shown a multiset S picks one copy uniformly among the copies of minimal level in S.
``L(π, y)`` is the probability that a single response ``y`` is picked against k i.i.d. samples of
``π``; it is the payoff of a deviation to ``y`` in the (k+1)-player game at the symmetric profile
``π``, and ``WR(π^{⊗k}, y') = 1 - L(π, y')``.

Every function takes ``display="multiset"`` (the default, THEORY.md §2: copies count, the
paper's rule) or ``display="distinct"`` (§9: each side's outputs are merged before they are
shown; a response shown by both sides is one copy per side). For k = ℓ = 1 they coincide.

References: shared/spec/THEORY.md §2-4, §9.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from ualign.core import _kernels
from ualign.core import sets as sets_mod
from ualign.core._threads import is_small
from ualign.core.checks import (
    as_distribution,
    as_real_array,
    check_display,
    check_distribution,
    check_k,
    check_policy,
    check_profile,
)
from ualign.core.displays import display_spec
from ualign.core.profile import Profile
from ualign.core.sets import check_sets

__all__ = [
    "RobustWinRate",
    "deviation_payoffs",
    "exploitability",
    "robust_set_win_rate",
    "robust_win_rate",
    "set_win_rate",
    "win_rate",
]


_check_profile = check_profile


def deviation_payoffs(profile: Profile, policy, k: int, display: str = "multiset") -> np.ndarray:
    """``L(π, y)`` for every response ``y``: the chance ``y`` is picked against k samples of π.

    ``display="multiset"``: ``L_u(π, y) = ((a+t)^(k+1) - a^(k+1)) / ((k+1) t)`` with ``a`` the
    π-mass user ``u`` ranks strictly below ``y`` and ``t`` the mass tied with ``y`` (``y``
    included); averaged over users. ``Σ_y π(y) L(π, y) = 1/(k+1)`` exactly.

    ``display="distinct"`` (THEORY.md §9): the k samples are merged, and y, shown once, is picked
    with probability ``E[1{no sample strictly better than y} / (1 + c)]``, c the number of
    distinct responses tied with y among the samples (y itself counts if sampled). Strict orders:
    ``L^dist_u(π, y) = a^k + ½((a+p)^k - a^k)``, ``p = π(y)``, O(log k) per entry. A tie class
    whose positive-mass responses T are few (|T| <= 10 at k = 16) costs O(2^|T| log k) per user
    by the subset form ``Σ_{C⊆T} (a + p(C))^k / ((|T|+1) C(|T|,|C|))``, a larger one
    O(|T| k² min(|T|, k)) by the DP over draws used x distinct count (``_kernels``). The
    identity ``Σ_y π(y) L = 1/(k+1)`` does not hold under distinct display.

    Args:
      profile: the population.
      policy: ``(..., n)`` distribution(s) over responses; leading axes are batched.
      k: number of samples, an integer >= 1.
      display: ``"multiset"`` or ``"distinct"``.

    Returns:
      ``(..., n)`` payoffs.

    Cost: O(U n) per policy (strict orders), one read of the profile's levels and no memory
    beyond O(n) per thread (compiled, parallel over users).

    Examples:
      Three users in a Condorcet cycle: against k = 2 samples of the uniform policy every
      response is picked with chance 1/(k+1); against two copies of response 0, response 2
      (preferred to 0 by two users) is picked 2/3 of the time.

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import deviation_payoffs
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> deviation_payoffs(P, np.full(3, 1 / 3), k=2).round(4).tolist()
      [0.3333, 0.3333, 0.3333]
      >>> deviation_payoffs(P, [1.0, 0.0, 0.0], k=2).round(4).tolist()
      [0.3333, 0.3333, 0.6667]
      >>> deviation_payoffs(P, [1.0, 0.0, 0.0], k=2, display="distinct").round(4).tolist()
      [0.5, 0.3333, 0.6667]
    """
    profile = _check_profile(profile)
    k = check_k(k)
    pi = check_policy(policy, profile.n_responses)
    batch = pi.shape[:-1]
    flat = np.ascontiguousarray(pi.reshape(-1, profile.n_responses))
    serial = is_small(profile.n_users * profile.n_responses * flat.shape[0])
    spec = display_spec(display)
    kernel = spec.payoffs_kernel_serial if serial else spec.payoffs_kernel
    out = kernel(profile.levels, profile.weights, flat, k, 4 * numba.get_num_threads())
    return out.reshape(*batch, profile.n_responses)


class RobustWinRate(NamedTuple):
    """The worst-case win rate over single responses, the worst response, and the display
    (``"multiset"`` or ``"distinct"``) the win rate uses."""

    value: float
    worst: int
    display: str = "multiset"


def robust_win_rate(profile: Profile, policy, k: int, display: str = "multiset"
                    ) -> RobustWinRate:
    """``min_y' WR(π^{⊗k}, y') = 1 - max_y L(π, y)``, with the minimising ``y'``, under
    ``display`` (see ``deviation_payoffs``).

    By linearity in the opponent this is also the minimum over every single-output ``π'``.

    Examples:
      The uniform policy on a Condorcet cycle wins k/(k+1) against every single response; two
      copies of response 0 lose to response 2.

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import robust_win_rate
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> r = robust_win_rate(P, np.full(3, 1 / 3), k=2)
      >>> round(r.value, 4), r.display
      (0.6667, 'multiset')
      >>> r = robust_win_rate(P, [1.0, 0.0, 0.0], k=2)
      >>> round(r.value, 4), r.worst
      (0.3333, 2)
      >>> round(robust_win_rate(P, np.full(3, 1 / 3), k=2, display="distinct").value, 4)
      0.6481
    """
    display = check_display(display)
    L = deviation_payoffs(profile, policy, k, display)
    if L.ndim != 1:
        raise ValueError(f"policy must be one distribution of shape ({profile.n_responses},), "
                         f"got {np.shape(policy)}")
    y = int(np.argmax(L))
    return RobustWinRate(float(1.0 - L[y]), y, display)


def exploitability(profile: Profile, policy, k: int, display: str = "multiset"):
    """``max_y L(π, y) - 1/(k+1)`` >= 0, zero exactly at a symmetric Nash equilibrium of the
    (k+1)-player alignment game. Batched over leading axes of ``policy``.

    Defined for ``display="multiset"`` only: the gap measures the distance to the game's value
    1/(k+1), which rests on ``Σ_y π(y) L(π, y) = 1/(k+1)``. Under distinct display that identity
    fails (the deviation payoffs of the merged game are not constant-sum against π), the best
    value ``min_π max_y L^dist(π, y)`` is instance-dependent and not known in closed form, so
    ``display="distinct"`` raises ``ValueError``; use ``robust_win_rate(..., display="distinct")``
    for a policy's distinct-display guarantee.

    Examples:
      The uniform policy is the equilibrium of a Condorcet cycle; a point mass is exploitable by
      1/3.

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import exploitability
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> round(exploitability(P, np.full(3, 1 / 3), k=2), 12)
      0.0
      >>> round(exploitability(P, [1.0, 0.0, 0.0], k=2), 4)
      0.3333
    """
    k = check_k(k)
    if not display_spec(display).has_game_value:
        raise ValueError(f"display must be 'multiset' for exploitability: the gap to 1/(k+1) is "
                         f"undefined under display={display!r} (use robust_win_rate)")
    L = deviation_payoffs(profile, policy, k)
    e = L.max(axis=-1) - 1.0 / (k + 1)
    return float(e) if np.ndim(e) == 0 else e


def win_rate(profile: Profile, policy, k: int, opponent, ell: int = 1,
             display: str = "multiset") -> float:
    """``WR(π^{⊗k}, ρ^{⊗ℓ})``: the chance the pick from ``S ⊎ S'`` is one of π's k copies.

    Args:
      policy: ``(n,)`` distribution π (the model, k samples).
      opponent: a response index or a distribution ρ (ℓ samples).
      ell: opponent's number of samples ℓ >= 1.
      display: ``"multiset"`` or ``"distinct"`` (both sides' samples merged, THEORY.md §9).

    For ℓ = 1 this is ``1 - Σ_y ρ(y) L(π, y)``. For ℓ > 1 (multiset), per user and level class
    ``c`` (model masses ``t, A`` in and strictly below ``c``; opponent's ``r, B``) the model wins
    with

        Σ_{i>=1, j} C(k,i) t^i A^(k-i) C(ℓ,j) r^j B^(ℓ-j) · i/(i+j)
          = ∫_0^1 k t (A + s t)^(k-1) (B + s r)^ℓ ds,

    summed exactly (each side's terms a power times a binomial pmf, over the range where they
    matter: ``_kernels.multiset_win_shares``; Gauss-Legendre quadrature of the integral lost
    1.7e-9 relative at ℓ = 2^14).
    Distinct, ℓ > 1: the same sum ``Σ_c Σ_{i>=1, j} D_π(c, i) D_ρ(c, j) · i/(i+j)`` with
    ``D(c, i)`` the chance that no sample is strictly better than class c and i distinct
    responses of c are drawn (``core.sets.copy_counts``).

    Examples:
      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import win_rate
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> round(win_rate(P, [1.0, 0.0, 0.0], k=1, opponent=2), 4)  # one user prefers 0 to 2
      0.3333
      >>> u = np.full(3, 1 / 3)
      >>> round(win_rate(P, u, k=2, opponent=u, ell=2), 4)  # symmetric: 1/2
      0.5
    """
    profile = _check_profile(profile)
    k = check_k(k)
    ell = check_k(ell, "ell")
    display = check_display(display)
    n = profile.n_responses
    pi = check_distribution(policy, n)
    rho = as_distribution(opponent, n)
    if ell == 1:
        return float(1.0 - rho @ deviation_payoffs(profile, pi, k, display))
    if display_spec(display).merges:
        Dm = sets_mod.copy_counts(profile.levels, pi, k, display)  # (U, n, k+1)
        Do = sets_mod.copy_counts(profile.levels, rho, ell, display)  # (U, n, ℓ+1)
        i = np.arange(k + 1)[:, None]
        j = np.arange(ell + 1)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(i > 0, i / (i + j), 0.0)  # (k+1, ℓ+1)
        total = np.einsum("uci,ij,ucj->u", Dm, frac, Do)
        return float(profile.weights @ total)
    t, A = sets_mod.class_masses(profile.levels, pi)
    r, B = sets_mod.class_masses(profile.levels, rho)
    return float(_kernels.multiset_win_shares(t, A, r, B, k, ell, profile.weights))


def _check_set_policy(sets, probs, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sets (m, k), probs (m,))`` of a k-set policy over n responses, checked."""
    S = check_sets(sets, n)
    m = S.shape[0]
    q = as_real_array(probs, "probs")
    if q.shape != (m,):
        raise ValueError(f"probs must have shape ({m},) (one probability per set), got {q.shape}")
    return S, check_policy(q, m, "probs")


def set_win_rate(profile: Profile, sets, probs, opponent, ell: int = 1,
                 display: str = "multiset") -> float:
    """Win rate of a general k-output policy: a distribution ``probs (m,)`` over k-sets
    ``sets (m, k)`` of response indices (repeats allowed), against ℓ i.i.d. samples of
    ``opponent`` (a response index or a distribution).

    For a set S and a user, let ``b`` be the best level in S and ``i`` the number of copies of S
    at level ``b``; with the opponent's mass ``r`` at level ``b`` and ``B`` strictly below,

        P(pick from S) = Σ_j C(ℓ,j) r^j B^(ℓ-j) · i/(i+j)          (display="multiset").

    ``display="distinct"`` (THEORY.md §9): S is merged (``i`` counts distinct responses at b) and
    so are the opponent's ℓ draws; a response shown by both sides is one copy per side, and

        P(pick from S) = Σ_j D(b, j) · i/(i+j),

    ``D(b, j)`` the chance that no draw is strictly better than b and j distinct responses of
    level b are drawn (``core.sets.copy_counts``). For ℓ = 1 only ``i`` differs.

    Examples:
      Showing the set {0, 1} always; and showing response 0 twice against one copy of it (copies
      count under multiset display, not under distinct display).

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import set_win_rate
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> round(set_win_rate(P, [[0, 1]], [1.0], opponent=2), 4)
      0.6667
      >>> round(set_win_rate(P, [[0, 0]], [1.0], opponent=0), 4)
      0.6667
      >>> round(set_win_rate(P, [[0, 0]], [1.0], opponent=0, display="distinct"), 4)
      0.5
    """
    profile = _check_profile(profile)
    n = profile.n_responses
    ell = check_k(ell, "ell")
    display = check_display(display)
    S, q = _check_set_policy(sets, probs, n)
    rho = as_distribution(opponent, n)
    win = sets_mod.set_shares(profile.levels, profile.weights, S, rho, ell, display)
    return float(win @ q)


def robust_set_win_rate(profile: Profile, sets, probs, display: str = "multiset"
                        ) -> RobustWinRate:
    """``min_y' Σ_j probs[j] WR(sets[j], y')`` over single responses ``y'``, with the minimiser:
    the robust win rate of a k-set policy (by linearity also the minimum over single-output
    opponents). Each ``WR(sets, y')`` equals ``set_win_rate(profile, sets, probs, y',
    display=...)`` (``core.sets.policy_win_rates``). Cost O(U m (k + n)).

    Examples:
      The three pairs of a Condorcet cycle, each shown with probability 1/3:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core import robust_set_win_rate
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> r = robust_set_win_rate(P, [[0, 1], [1, 2], [0, 2]], np.full(3, 1 / 3))
      >>> round(r.value, 4), r.display
      (0.7222, 'multiset')
    """
    profile = _check_profile(profile)
    n = profile.n_responses
    display = check_display(display)
    S, q = _check_set_policy(sets, probs, n)
    wr = sets_mod.policy_win_rates(profile.levels, profile.weights, S, q, display)
    y = int(np.argmin(wr))
    return RobustWinRate(float(wr[y]), y, display)
