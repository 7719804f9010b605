"""The ℓ-output opponent that beats a k-sample policy most (THEORY §6).

An ℓ-output opponent is any distribution over ℓ-multisets T; the model's win rate is linear in
it, so the worst opponent is a single multiset: ``min_T WR(π^{⊗k}, T)``. For one multiset T the
opponent's pick share against k i.i.d. samples of π is, per user, with ``b`` the best level in
T, ``i`` its copies there, π's mass ``r`` at level b and ``B`` strictly below,

    P(pick from T) = Σ_{j=0}^{k} C(k, j) r^j B^(k-j) · i/(i+j),

(``ualign.set_win_rate(profile, [T], [1], π, ell=k)``), and ``WR(π^{⊗k}, T) = 1 -`` that.

- ``"enumeration"`` (exact): all C(n+ℓ-1, ℓ) multisets, when at most ``max_enumerate``.
- ``"greedy"`` beyond: greedy construction from every single response, then best-improvement
  swaps (a heuristic; its value is achieved, so it upper-bounds the true minimum). Certified lower
  bound in both cases, by regularity of the choice rule (adding copies never raises another
  copy's pick chance): ``P(pick from T) <= Σ_{t∈T} L(π, t) <= ℓ max_y L(π, y)``, so
  ``min_T WR >= 1 - ℓ max_y L(π, y)`` (for an equilibrium: ``(k+1-ℓ)/(k+1)``).

References: shared/spec/THEORY.md §2, §6.
"""

from __future__ import annotations

import dataclasses
import itertools
from math import comb

import numpy as np

from ualign.core.checks import check_distribution, check_k, check_size, check_whole
from ualign.core.payoffs import deviation_payoffs, set_win_rate
from ualign.core.search import greedy_local_search
from ualign.core.sets import set_shares
from ualign.solvers.result import check_profile

__all__ = ["WorstOpponent", "worst_opponent"]

EPS = float(np.finfo(float).eps)


@dataclasses.dataclass(frozen=True)
class WorstOpponent:
    """``value = WR(π^{⊗k}, opponent)`` for the worst multiset found; ``lower_bound <= true
    minimum <= value`` (``lower_bound <= value`` holds exactly: the bound is rounded outward);
    ``exact`` when found by enumeration (then the minimum is ``value``)."""

    value: float
    opponent: np.ndarray  # (ell,) the multiset, sorted response indices
    lower_bound: float
    exact: bool
    method: str
    evaluated: int  # multisets evaluated


def _opponent_shares(levels, weights, pi, k, sets, chunk=512):
    """``P(pick from T)`` against k samples of π for each multiset T (rows of ``sets``)."""
    return set_shares(levels, weights, sets, pi, k, "multiset", chunk)


def worst_opponent(profile, policy, k: int, ell: int, *, max_enumerate: int = 50000
                   ) -> WorstOpponent:
    """The ℓ-multiset opponent minimising ``WR(π^{⊗k}, T)``.

    Args:
      profile: the population; policy: ``(n,)`` π; k: model samples; ell: opponent outputs ℓ.
      max_enumerate: enumerate exactly when C(n+ℓ-1, ℓ) is at most this; else greedy + swaps.

    Returns:
      ``WorstOpponent``; ``value`` re-evaluated by ``ualign.set_win_rate``.

    Memory: the multisets are priced in blocks of ``(U, block, k+1)`` arrays of at most
    ``core.sets.BLOCK_BYTES`` (32 MiB) each, whatever U, k and the number of multisets; the
    binomial terms are formed in log space for k > 1000, so large k stays finite.

    References: shared/spec/THEORY.md §6.

    Examples:
      The uniform policy on a Condorcet cycle, shown k = 2 times, wins 4/9 against its worst
      opponent pair (ℓ = 2; the 6 pairs are enumerated):

      >>> import numpy as np
      >>> from ualign import Profile, worst_opponent
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> w = worst_opponent(P, np.full(3, 1 / 3), k=2, ell=2)
      >>> round(w.value, 4), w.exact
      (0.4444, True)
    """
    profile = check_profile(profile)
    k = check_k(k)
    ell = check_k(ell, "ell")
    n = profile.n_responses
    pi = check_distribution(policy, n)
    max_enumerate = check_whole(max_enumerate, "max_enumerate")
    lv, w = profile.levels, profile.weights
    total = comb(n + ell - 1, ell)
    exact = total <= max_enumerate
    if exact:
        # a Python tuple per multiset while listing them, then the (total, ℓ) array
        check_size(total * (64 + 16 * ell), f"enumerating all {total} {ell}-multisets of {n} "
                   f"responses (max_enumerate)")
        sets = np.array(list(itertools.combinations_with_replacement(range(n), ell)),
                        dtype=np.int64)
        share = _opponent_shares(lv, w, pi, k, sets)
        T = sets[int(np.argmax(share))]
        evaluated = len(sets)
        method = "enumeration"
    else:
        def share(sets):
            return _opponent_shares(lv, w, pi, k, sets)

        T, _, evaluated = greedy_local_search(share, n, ell, range(n))
        method = "greedy"
    value = float(1.0 - set_win_rate(profile, T[None, :], np.ones(1), pi, ell=k))
    bound = 1.0 - ell * float(deviation_payoffs(profile, pi, k).max())
    # Rounded outward: lower by a rounding allowance (the payoffs are sums over users of
    # products, each within a few ulps; ℓ of them add up), and never above the value the
    # opponent found (the two meet exactly when a single response is worst, as for ℓ = 1).
    lower = max(0.0, min(bound - 16.0 * ell * EPS, value))
    return WorstOpponent(value=value, opponent=np.sort(T), lower_bound=lower,
                         exact=exact, method=method, evaluated=evaluated)
