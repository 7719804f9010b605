"""Payoff estimates of the (k+1)-player game for one group of G sampled texts, in both displays,
and the baselines (the text-level glue of the TRL reward and the scoring service).

For a prompt, G >= k+1 responses ``y_1..y_G`` are sampled i.i.d. from the policy π and a
population ranks them (levels ``(U, G)``, 0 = best, weights ``(U,)``). Response ``y_i`` plays the
competitor against ``k`` draws of π; the other ``G-1`` samples stand in for those draws (every
k-subset equally likely), which makes ``P̂_i`` an unbiased estimate of ``L(π, y_i)``:

- ``display="multiset"`` (THEORY §2, §8):
  :func:`ualign.core.estimators.leave_one_out_payoffs`; ``mean_i P̂_i = 1/(k+1)`` exactly;
- ``display="distinct"`` (THEORY §9): texts that are the same response (:func:`text_classes`)
  are merged; :func:`ualign.core.estimators.distinct_leave_one_out_payoffs` (exact sum over the
  k-subsets by a DP over tied classes; its docstring has the derivation).

References: THEORY.md §2, §8, §9.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ualign.core.checks import DISPLAYS, check_display
from ualign.core.estimators import distinct_leave_one_out_payoffs, leave_one_out_payoffs

__all__ = ["DISPLAYS", "baseline_value", "distinct_leave_one_out_payoffs", "group_payoffs",
           "group_result", "text_classes"]

BASELINES = ("constant", "group_mean", "none")


def text_classes(texts: Sequence[str], same: str | Callable = "exact") -> np.ndarray:
    """``(G,)`` integer class labels of texts for distinct display: ``same="exact"`` merges texts
    equal after :func:`ualign.llm.dedupe.normalise`, ``"identical"`` only identical strings; a
    callable ``texts -> (G,) labels`` (e.g. an embedding rule from
    :func:`ualign.llm.dedupe.merge_equivalent`) is used as it is."""
    texts = list(texts)
    if callable(same):
        return np.asarray(same(texts))
    if same == "identical":
        keys = texts
    elif same == "exact":
        from ualign.llm.dedupe import normalise

        keys = [normalise(t) for t in texts]
    else:
        raise ValueError(f"same must be 'exact', 'identical' or a callable texts -> labels, got "
                         f"{same!r}")
    index: dict[str, int] = {}
    return np.asarray([index.setdefault(t, len(index)) for t in keys], dtype=np.int64)


def baseline_value(payoffs: np.ndarray, k: int, baseline: str) -> float:
    """The value subtracted from a group's ``P̂``: ``"constant"`` = 1/(k+1) (the exact group
    mean under multiset display; under distinct display still a constant, so the policy
    gradient stays unbiased, but the advantages no longer sum to 0), ``"group_mean"`` = the
    group's mean ``P̂`` (GRPO's own centring; = 1/(k+1) under multiset), ``"none"`` = 0."""
    if baseline == "constant":
        return 1.0 / (k + 1)
    if baseline == "group_mean":
        return float(np.mean(payoffs))
    if baseline == "none":
        return 0.0
    raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")


def group_payoffs(levels, weights, k: int, display: str = "multiset",
                  classes=None) -> np.ndarray:
    """``P̂`` ``(G,)`` of one group under ``display`` (``"multiset"`` or ``"distinct"``);
    ``classes`` (distinct only) labels the samples that are the same response."""
    if check_display(display) == "multiset":
        return leave_one_out_payoffs(np.asarray(levels), k, weights)
    return distinct_leave_one_out_payoffs(levels, k, weights, classes)


def group_result(levels, weights, texts: list[str], k: int, display: str = "multiset",
                 baseline: str = "constant", same="exact") -> dict:
    """``{"payoffs": (G,), "advantages": (G,)}`` of one ranked group: distinct display merges
    equal texts (``same``; a merged class takes its first member's levels), then
    :func:`group_payoffs` and the ``baseline``."""
    lv = np.asarray(levels)
    classes = None
    if display == "distinct":
        classes = text_classes(texts, same)
        labels, first = np.unique(classes, return_index=True)
        lv = lv[:, first[np.searchsorted(labels, classes)]]
    P = group_payoffs(lv, weights, k, display, classes)
    return {"payoffs": P, "advantages": P - baseline_value(P, k, baseline)}
