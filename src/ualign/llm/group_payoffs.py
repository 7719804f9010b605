"""Payoff estimates of the (k+1)-player game for one group of G sampled texts, under any display,
and the baselines: the one text-level home of what the trainer, the TRL reward and the scoring
service compute from a ranked group.

For a prompt, G >= k+1 responses ``y_1..y_G`` are sampled i.i.d. from the policy π and a
population ranks them (levels ``(U, G)``, 0 = best, weights ``(U,)``). Response ``y_i`` plays the
competitor against ``k`` draws of π; the other ``G-1`` samples stand in for those draws (every
k-subset equally likely), which makes ``P̂_i`` an unbiased estimate of ``L(π, y_i)``. The display
(:func:`ualign.core.displays.display_spec`) says what differs:

- a display that does not merge (``"multiset"``, THEORY §2, §8):
  :func:`ualign.core.estimators.leave_one_out_payoffs`; ``mean_i P̂_i = 1/(k+1)`` exactly;
- a display that merges (``"distinct"``, THEORY §9): texts that are the same response
  (:func:`text_classes`) are merged; :func:`ualign.core.estimators.distinct_leave_one_out_payoffs`
  (exact sum over the k-subsets by a DP over tied classes; its docstring has the derivation).

References: THEORY.md §2, §8, §9.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ualign.core.checks import DISPLAYS
from ualign.core.displays import display_spec
from ualign.core.estimators import distinct_leave_one_out_payoffs
from ualign.llm.populations.protocol import rank_groups

__all__ = ["BASELINES", "DISPLAYS", "SAME_RULES", "baseline_value",
           "distinct_leave_one_out_payoffs", "group_payoffs", "group_result", "score_groups",
           "text_classes", "text_group_payoffs"]

#: what a group's ``P̂`` is centred on (:func:`baseline_value`)
BASELINES = ("constant", "group_mean", "none")
#: the named rules of :func:`text_classes` (a callable is the third form)
SAME_RULES = ("exact", "identical")


def text_classes(texts: Sequence[str], same: str | Callable = "exact") -> np.ndarray:
    """``(G,)`` integer class labels of texts for a merging display: ``same="exact"`` merges
    texts equal after :func:`ualign.llm.dedupe.normalise`, ``"identical"`` only identical
    strings; a callable ``texts -> (G,) labels`` (e.g. an embedding rule from
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
    """``P̂`` ``(G,)`` of one group under ``display`` (its leave-one-out estimator,
    :attr:`ualign.core.displays.Display.loo`); ``classes`` labels the samples that are the same
    response (used by a merging display only)."""
    return display_spec(display).loo(levels, k, weights, classes)


def text_group_payoffs(levels, weights, texts: Sequence[str] | None, k: int,
                       display: str = "multiset", same="exact") -> np.ndarray:
    """``P̂`` ``(G,)`` of one ranked group of texts: a merging display merges equal texts
    (``same``, :func:`text_classes`; a merged class takes its first member's levels), then
    :func:`group_payoffs`. ``texts`` may be ``None`` for a display that does not merge."""
    spec = display_spec(display)
    lv = np.asarray(levels)
    classes = None
    if spec.merges:
        if texts is None:
            raise ValueError(f"display={spec.name!r} merges equal responses, so it needs the "
                             f"group's texts, got None")
        classes = text_classes(texts, same)
        labels, first = np.unique(classes, return_index=True)
        lv = lv[:, first[np.searchsorted(labels, classes)]]
    return group_payoffs(lv, weights, k, spec.name, classes)


def group_result(levels, weights, texts: list[str], k: int, display: str = "multiset",
                 baseline: str = "constant", same="exact") -> dict:
    """``{"payoffs": (G,), "advantages": (G,)}`` of one ranked group:
    :func:`text_group_payoffs` and the ``baseline`` (:func:`baseline_value`)."""
    P = text_group_payoffs(levels, weights, texts, k, display, same)
    return {"payoffs": P, "advantages": P - baseline_value(P, k, baseline)}


def score_groups(population, groups, k: int, display: str = "multiset",
                 baseline: str = "constant", same="exact") -> list[dict]:
    """:func:`group_result` of each ``(prompt, texts)`` group, ranked by ``population``
    (:func:`ualign.llm.populations.protocol.rank_groups`: one ``scores`` call for all groups
    where the population allows it)."""
    return [group_result(lv, w, texts, k, display, baseline, same)
            for (lv, w), (_, texts) in zip(rank_groups(population, groups), groups, strict=True)]
