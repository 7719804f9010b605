"""The leave-one-out payoff estimates of THEORY §8 (and §9, distinct display) for the trainer:
the torch glue around the pure NumPy estimators of :mod:`ualign.core.estimators` (re-exported
here by name) and the text-level glue of :mod:`ualign.llm.group_payoffs`.

References: THEORY.md §8, §9.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ualign.core.displays import display_spec
from ualign.core.estimators import (
    distinct_leave_one_out_payoffs,
    leave_one_out_payoffs,
    levels_from_scores,
    loo_coefficients,
    payoff_against_group,
)
from ualign.llm.group_payoffs import text_group_payoffs

__all__ = [
    "distinct_leave_one_out_payoffs",
    "group_advantages",
    "leave_one_out_payoffs",
    "levels_from_scores",
    "loo_coefficients",
    "payoff_against_group",
]


def group_advantages(levels: Sequence, weights: Sequence, k: int, device=None, *,
                     display: str = "multiset", texts: Sequence[Sequence[str]] | None = None,
                     same="exact"):
    """``(P̂ (P, G) array, A (P*G,) float32 tensor on device)`` for P groups of G samples
    (``levels[p]`` of shape ``(U_p, G)``, ``weights[p]`` of shape ``(U_p,)``), flattened group by
    group; the advantages are exactly mean 0 within each group:
    ``A_i = P̂_i - centre(P̂)`` (:meth:`ualign.core.displays.Display.centre`).

    ``P̂`` is :func:`ualign.llm.group_payoffs.text_group_payoffs` of each group under
    ``display``:

    - ``"multiset"`` (THEORY §8): :func:`leave_one_out_payoffs`; the centre is ``1/(k+1)``
      (the group mean of ``P̂``, exactly). ``texts`` is not used.
    - ``"distinct"`` (THEORY §9): ``texts[p]`` (the G decoded samples) are merged into
      responses by ``same`` (:func:`ualign.llm.group_payoffs.text_classes`: ``"exact"`` =
      equal after :func:`ualign.llm.dedupe.normalise`, ``"identical"`` = equal strings); a
      merged response takes its first member's levels; ``P̂`` from
      :func:`distinct_leave_one_out_payoffs` (the competitor's share against the k other draws
      shown deduplicated, averaged over all k-subsets of the other G-1 samples) and the centre
      is ``mean_j P̂_j`` (no longer a constant: G copies of one text give every sample ½).

    See docs/train.md, "Distinct display".
    """
    import torch

    spec = display_spec(display)
    if spec.merges and (texts is None or len(texts) != len(levels)):
        got = "None" if texts is None else f"{len(texts)} groups"
        raise ValueError(f"display={spec.name!r} needs texts: one list of G decoded samples per "
                         f"group ({len(levels)} groups), got {got}")
    group_texts: list = list(texts) if spec.merges and texts is not None else [None] * len(levels)
    payoffs = np.stack([text_group_payoffs(lv, w, None if t is None else list(t), k, spec.name,
                                           same)
                        for lv, w, t in zip(levels, weights, group_texts, strict=True)])
    adv = np.stack([p - spec.centre(p, k) for p in payoffs])
    return payoffs, torch.tensor(adv.reshape(-1), dtype=torch.float32, device=device)
