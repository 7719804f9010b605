"""The built-in instances several claims measure, and the k ranges they share.

- :func:`heterogeneous_instance`: three Mallows groups (φ = 0.5, 0.6, 0.7, weights 0.4, 0.35,
  0.25, 300 users) over 12 responses, seed 1 — picked among seeds 0-5 as the one without a
  Condorcet winner, so that even the NLHF equilibrium mixes (3 responses); claims (i), (v), (vi),
  (vii);
- :func:`shared_favourite_instance`: every user's unique favourite is response 0; claim (viii);
- the NLHF-collapse instance with ε = :data:`COLLAPSE_EPS` (``nlhf_collapse``); claims (iii),
  (ix).

References: shared/spec/THEORY.md §6.
"""

from __future__ import annotations

from ualign.core import Profile
from ualign.data.generators import mallows_mixture, random_profile

__all__ = ["COLLAPSE_EPS", "EQUILIBRIUM_KS", "QUICK_EQUILIBRIUM_KS", "heterogeneous_instance",
           "shared_favourite_instance"]

#: k = 1..32: the equilibrium claims (i), (iii), (ix) in a full run
EQUILIBRIUM_KS = tuple(range(1, 33))
#: the same under ``--quick``
QUICK_EQUILIBRIUM_KS = (1, 2, 3, 4, 8, 16, 32)
#: ε of the NLHF-collapse instance (a share ½+ε ranks a ≻ b)
COLLAPSE_EPS = 0.1


def heterogeneous_instance(n: int = 12, seed: int = 1):
    """Three Mallows groups with random centres, dispersions φ = 0.5, 0.6, 0.7 and weights
    0.4 / 0.35 / 0.25 (a heterogeneous population). Returns ``(description, Profile)``."""
    P = mallows_mixture(n, n_users=300, phi=(0.5, 0.6, 0.7), groups=3,
                        group_weights=(0.4, 0.35, 0.25), seed=seed)
    cw = P.condorcet_winner()
    return (f"heterogeneous: 3 Mallows groups (φ = 0.5/0.6/0.7, weights 0.4/0.35/0.25, 300 "
            f"users) over {n} responses, seed {seed}; "
            f"{'no Condorcet winner' if cw is None else f'Condorcet winner {cw}'}"), P


def shared_favourite_instance(n: int = 6, n_users: int = 40, seed: int = 3) -> Profile:
    """A random population (strict and tied orders) in which every user has response 0 as
    their unique favourite: each user's levels from ``random_profile`` shifted down one, with 0
    alone on top."""
    P = random_profile(seed, n, n_users, n_levels=max(2, n // 2))
    lv = P.levels + 1
    lv[:, 0] = 0
    return Profile.from_levels(lv, P.weights)
