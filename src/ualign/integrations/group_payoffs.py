"""Payoff estimates of the (k+1)-player game for one group of G sampled texts, in both displays.

For a prompt, G >= k+1 responses ``y_1..y_G`` are sampled i.i.d. from the policy π and a
population ranks them (levels ``(U, G)``, 0 = best, weights ``(U,)``). Response ``y_i`` plays the
competitor against ``k`` draws of π; the other ``G-1`` samples stand in for those draws: every
k-subset ``S`` of them is equally likely (sampling without replacement), so

    P̂_i = Σ_u w_u · mean over k-subsets S of {j != i} of  share_u(y_i against S)

is an unbiased estimate (a U-statistic) of the competitor's share ``L(π, y_i)``: ``S`` is a set of
k i.i.d. draws of π, independent of ``y_i``.

- ``display="multiset"`` (THEORY §2, §8): the user picks uniformly among all ``k+1`` copies at the
  best level, ``share_u = 1{no j in S strictly better} / (1 + #{j in S tied with y_i})``, which
  gives :func:`ualign.train.estimators.leave_one_out_payoffs` (closed form in ``T_i, A_i``);
  ``mean_i P̂_i = 1/(k+1)`` exactly.
- ``display="distinct"`` (THEORY §9): the k draws' texts are merged (a text drawn twice is shown
  once), the competitor's text is shown once, a text shown by both sides is one copy per side:
  ``share_u = 1{no j in S strictly better} / (1 + c)``, with ``c`` the number of *distinct*
  texts in ``S`` tied with ``y_i`` (a copy of ``y_i`` itself counts as one). Derivation of the
  exact sum: for user u and ``y_i``, the other samples split into strictly better (they must not
  be drawn), ``a`` strictly worse ones, and tied ones grouped into text classes of sizes
  ``m_1..m_r`` (``y_i``'s own class contributes its other copies). The number of k-subsets that
  avoid the better ones, take ``d`` tied samples and hit exactly ``c`` tied classes is
  ``N[d, c] · C(a, k-d)``, where ``Σ N[d, c] x^d z^c = Π_j (1 + z((1+x)^{m_j} - 1))``, so

      share_u(y_i) = Σ_{d, c} N[d, c] · C(a, k-d) / ((1 + c) · C(G-1, k)).

  ``N`` is built by a DP over the tied classes (degree in x truncated at k): ``O(r·k²·m)`` per
  user and class, memoised on ``(sorted m, a)``. The group mean is not a constant here (e.g. G
  copies of one text give every sample ½). When every text is distinct (all ``m_j = 1``) the two
  displays coincide, and for ``k = 1`` too.

References: THEORY.md §2, §8, §9.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from ualign.core._checks import check_k, check_weights
from ualign.train.estimators import leave_one_out_payoffs

__all__ = ["DISPLAYS", "baseline_value", "distinct_leave_one_out_payoffs", "group_payoffs",
           "text_classes"]

DISPLAYS = ("multiset", "distinct")
BASELINES = ("constant", "group_mean", "none")


@functools.lru_cache(maxsize=4096)
def _distinct_share(G: int, k: int, tied: tuple[int, ...], a: int) -> float:
    """``Σ_{d,c} N[d,c] C(a, k-d) / ((1+c) C(G-1,k))`` for tied class sizes ``tied`` (sorted)."""
    N = np.zeros((k + 1, k + 1))          # N[d, c]: d tied samples drawn from c classes
    N[0, 0] = 1.0
    for m in tied:
        new = N.copy()                    # the class is not drawn
        for j in range(1, min(m, k) + 1):
            new[j:, 1:] += math.comb(m, j) * N[:k + 1 - j, :k]
        N = new
    total = 0.0
    for d in range(k + 1):
        ways = math.comb(a, k - d)
        if ways:
            total += ways * float(np.sum(N[d] / (1.0 + np.arange(k + 1))))
    return total / math.comb(G - 1, k)


def _check_levels(levels) -> np.ndarray:
    lv = np.asarray(levels)
    if lv.ndim != 2:
        raise ValueError(f"levels must have shape (U, G) (users x samples), got {lv.shape}")
    if lv.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(lv) | (lv != np.round(lv)))
        if bad.size:
            raise ValueError(f"levels must be integers, got {lv[tuple(bad[0])]} at index "
                             f"{tuple(int(x) for x in bad[0])}")
    elif lv.dtype.kind not in "iub":
        raise ValueError(f"levels must be integers, got dtype {lv.dtype}")
    if lv.shape[0] == 0:
        raise ValueError("levels must hold at least one user (axis 0 is empty)")
    return lv.astype(np.int64)


def _check_classes(classes, lv: np.ndarray) -> np.ndarray:
    G = lv.shape[1]
    if classes is None:
        return np.arange(G)
    cl = np.asarray(classes)
    if cl.shape != (G,) or cl.dtype.kind not in "iu":
        raise ValueError(f"classes must be ({G},) integer labels (equal label = same displayed "
                         f"response), got shape {cl.shape} and dtype {cl.dtype}")
    for c in np.unique(cl):
        members = np.flatnonzero(cl == c)
        diff = np.flatnonzero((lv[:, members] != lv[:, members[:1]]).any(axis=1))
        if diff.size:
            raise ValueError(f"classes: samples {members.tolist()} are one response (label "
                             f"{int(c)}) but user {int(diff[0])} ranks them at different levels "
                             f"{lv[diff[0], members].tolist()}")
    return cl


def distinct_leave_one_out_payoffs(levels, k: int, weights=None, classes=None) -> np.ndarray:
    """Unbiased leave-one-out estimates of the competitor's share under distinct display.

    Args:
      levels: ``(U, G)`` integer levels (0 = best, equal = tie) of the G samples.
      k: number of the policy's draws (integer >= 1); requires ``G >= k+1``.
      weights: ``(U,)`` user weights (normalised to sum 1); default uniform.
      classes: ``(G,)`` integer labels, equal for samples that are the same displayed response
        (identical or equivalent texts; every user must rank them at one level); default all
        distinct, which gives the multiset values.

    Returns:
      ``(G,)``: ``P̂_i = Σ_u w_u · mean_S 1{no j∈S better} / (1 + #distinct classes in S tied
      with y_i)`` over the k-subsets ``S`` of the other samples (module docstring).

    References: THEORY.md §8, §9.
    """
    k = check_k(k)
    lv = _check_levels(levels)
    U, G = lv.shape
    if G < k + 1:
        raise ValueError(f"G (levels.shape[1]) must be >= k+1 = {k + 1} so that k other samples "
                         f"can be drawn for every sample, got G={G}")
    cl = _check_classes(classes, lv)
    w = np.full(U, 1.0 / U) if weights is None else check_weights(weights, U)
    labels, first, sizes = np.unique(cl, return_index=True, return_counts=True)
    cls_of = np.searchsorted(labels, cl)                         # (G,) class index
    out = np.zeros((U, labels.size))
    for u in range(U):
        lvc = lv[u, first]                                       # level of each class
        for c in range(labels.size):
            same = lvc == lvc[c]
            tied = [int(sizes[d]) - (d == c) for d in np.flatnonzero(same)]
            tied = tuple(sorted(m for m in tied if m > 0))
            a = int(sizes[lvc > lvc[c]].sum())
            out[u, c] = _distinct_share(G, k, tied, a)
    return w @ out[:, cls_of]


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
    if display == "multiset":
        return leave_one_out_payoffs(_check_levels(levels), k, weights)
    if display == "distinct":
        return distinct_leave_one_out_payoffs(levels, k, weights, classes)
    raise ValueError(f"display must be one of {DISPLAYS}, got {display!r}")
