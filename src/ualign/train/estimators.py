"""The leave-one-out payoff estimates of THEORY §8 for the trainer: the torch glue around the
pure NumPy estimators of :mod:`ualign.core.estimators` (re-exported here by name).

References: THEORY.md §8.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ualign.core.estimators import (
    leave_one_out_payoffs,
    levels_from_scores,
    loo_coefficients,
    payoff_against_group,
)

__all__ = [
    "group_advantages",
    "leave_one_out_payoffs",
    "levels_from_scores",
    "loo_coefficients",
    "payoff_against_group",
]


def group_advantages(levels: Sequence, weights: Sequence, k: int, device=None):
    """``(P̂ (P, G) array, A (P*G,) float32 tensor on device)`` for P groups of G samples:
    ``P̂`` from :func:`leave_one_out_payoffs` per group (``levels[p]`` of shape ``(U_p, G)``,
    ``weights[p]`` of shape ``(U_p,)``) and the advantages ``A_i = P̂_i - 1/(k+1)``, flattened
    group by group (exactly mean 0 within each group)."""
    import torch

    payoffs = np.stack([leave_one_out_payoffs(lv, k, w)
                        for lv, w in zip(levels, weights, strict=True)])
    adv = payoffs - 1.0 / (k + 1)
    return payoffs, torch.tensor(adv.reshape(-1), dtype=torch.float32, device=device)
