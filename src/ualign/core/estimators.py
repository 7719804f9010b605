"""Leave-one-out estimates of the (k+1)-player payoffs from a group of G samples.

For a prompt, the trainer draws ``G >= k+1`` i.i.d. responses ``y_1..y_G`` from the current policy
``π`` and a population ranks them. For one user ``u`` let, for sample ``i``,

- ``A_i(u)`` = number of the other ``G-1`` samples the user ranks strictly *below* ``y_i``,
- ``T_i(u)`` = number of the other samples tied with ``y_i``.

Drawing ``k`` of the other samples without replacement, ``y_i`` is picked (multiset-uniform
tie-breaking, THEORY §2) with probability ``1/(m+1)`` when ``m`` of them tie with it and the rest
are worse, so

    P̂_i(u) = Σ_{m=0}^{k} C(T_i, m)·C(A_i, k-m) / ((m+1)·C(G-1, k)),     P̂_i = Σ_u w_u P̂_i(u).

It is a U-statistic: ``E[P̂_i | y_i] = L(π, y_i)`` (the deviation payoff of THEORY §3), and
``mean_i P̂_i = 1/(k+1)`` exactly for every draw (each (k+1)-subset of the group picks exactly one
winner).

Under distinct display (THEORY §9: duplicates shown once) the same U-statistic is
:func:`distinct_leave_one_out_payoffs`.

Pure NumPy (no torch): the trainer's torch glue is :mod:`ualign.train.estimators`.

References: THEORY.md §3, §4, §8, §9.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ualign.core.checks import check_k, check_weights

__all__ = [
    "distinct_leave_one_out_payoffs",
    "leave_one_out_payoffs",
    "levels_from_scores",
    "loo_coefficients",
    "payoff_against_group",
]


@functools.lru_cache(maxsize=64)
def _coefficients(G: int, k: int) -> np.ndarray:
    h = np.zeros((G, G))
    denom = math.comb(G - 1, k)
    for T in range(G):
        for A in range(G - T):
            h[T, A] = sum(math.comb(T, m) * math.comb(A, k - m) / (m + 1)
                          for m in range(k + 1)) / denom
    h.setflags(write=False)
    return h


def loo_coefficients(G: int, k: int) -> np.ndarray:
    """Table ``h[T, A] = Σ_m C(T,m)·C(A,k-m) / ((m+1)·C(G-1,k))`` for ``T + A <= G-1``.

    ``(G, G)`` float array (entries with ``T + A > G-1`` are 0 and never used).

    References: THEORY.md §8.

    Examples:
      Groups of G = 3 samples, k = 1 other player: a sample with no tie and A worse others gets
      A/2; one tie and no worse other gets 1/4.

      >>> from ualign.core.estimators import loo_coefficients
      >>> loo_coefficients(3, 1).round(4).tolist()
      [[0.0, 0.5, 1.0], [0.25, 0.75, 0.0], [0.5, 0.0, 0.0]]
    """
    k = check_k(k)
    G = _check_group(G, k)
    return _coefficients(G, k)


def _check_group(G, k: int, name: str = "G") -> int:
    if isinstance(G, bool) or not isinstance(G, int | np.integer):
        raise ValueError(f"{name} (group size) must be an integer, got {G!r}")
    if G < k + 1:
        raise ValueError(f"{name} (group size) must be >= k+1 = {k + 1} so that k other samples "
                         f"can be drawn for every sample, got {name}={G}")
    return int(G)


def levels_from_scores(scores) -> np.ndarray:
    """Dense levels ``(..., U, G)`` from utilities: higher score is better (level 0), equal scores
    tie, NaN is unranked (tied below every scored sample).

    Examples:
      >>> import numpy as np
      >>> from ualign.core.estimators import levels_from_scores
      >>> levels_from_scores([[0.9, 0.1, 0.9, np.nan]]).tolist()
      [[0, 1, 0, 2]]
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim < 2:
        raise ValueError(f"scores must have shape (..., U, G) (users x samples), got {s.shape}")
    if np.any(np.isinf(s)):
        pos = tuple(np.argwhere(np.isinf(s))[0])
        raise ValueError(f"scores must be finite or NaN, got {s[pos]} at index {pos}")
    key = np.where(np.isnan(s), np.inf, -s)
    # dense rank of key along the last axis
    order = np.argsort(key, axis=-1, kind="stable")
    srt = np.take_along_axis(key, order, axis=-1)
    new = np.zeros(srt.shape, dtype=np.int64)
    new[..., 1:] = srt[..., 1:] != srt[..., :-1]
    dense = np.cumsum(new, axis=-1)
    out = np.empty_like(dense)
    np.put_along_axis(out, order, dense, axis=-1)
    return out


def leave_one_out_payoffs(levels, k: int, weights=None, *, per_user: bool = False) -> np.ndarray:
    """Unbiased leave-one-out payoff estimates ``P̂`` for a group of G samples.

    Args:
      levels: ``(..., U, G)`` integer levels (0 = best, equal = tie) of the G samples for each of
        U users; leading axes (e.g. prompts) are batched.
      k: number of other players (an integer >= 1); requires ``G >= k+1``.
      weights: ``(U,)`` or ``(..., U)`` user weights (normalised to sum 1); default uniform.
      per_user: return the per-user estimates ``P̂_i(u)`` of shape ``(..., U, G)`` instead of the
        weighted average ``(..., G)``.

    Returns:
      ``P̂`` of shape ``(..., G)``: ``P̂_i = Σ_u w_u Σ_m C(T_i,m)·C(A_i,k-m)/((m+1)·C(G-1,k))``.
      Its mean over the G samples is exactly ``1/(k+1)``.

    References: THEORY.md §8.

    Examples:
      Two users, three samples; the estimates average 1/(k+1) over the group:

      >>> from ualign.core.estimators import leave_one_out_payoffs
      >>> p = leave_one_out_payoffs([[0, 1, 2], [0, 2, 1]], k=1)
      >>> p.round(4).tolist(), round(float(p.mean()), 4)
      ([1.0, 0.25, 0.25], 0.5)
      >>> leave_one_out_payoffs([[0, 1, 2], [0, 2, 1]], k=2).round(4).tolist()
      [1.0, 0.0, 0.0]
    """
    k = check_k(k)
    lv = np.asarray(levels)
    if lv.ndim < 2:
        raise ValueError(f"levels must have shape (..., U, G) (users x samples), got {lv.shape}")
    _check_integer(lv)
    U, G = lv.shape[-2:]
    if U == 0:
        raise ValueError("levels must hold at least one user (axis -2 is empty)")
    G = _check_group(G, k, "G (levels.shape[-1])")
    h = _coefficients(G, k)
    lv = lv.astype(np.int64)
    # (..., U, G, G): other j (last axis) against sample i (axis -2)
    worse = (lv[..., None, :] > lv[..., :, None]).sum(axis=-1)      # A_i
    tied = (lv[..., None, :] == lv[..., :, None]).sum(axis=-1) - 1   # T_i (excluding i)
    p_user = h[tied, worse]                                           # (..., U, G)
    if per_user:
        return p_user
    if weights is None:
        return p_user.mean(axis=-2)
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        w = check_weights(w, U)
        return np.einsum("u,...ug->...g", w, p_user)
    if w.shape != lv.shape[:-1]:
        raise ValueError(f"weights must have shape ({U},) or {lv.shape[:-1]}, got {w.shape}")
    rows = w.reshape(-1, U)
    lead = w.shape[:-1]
    w = np.stack([check_weights(r, U, f"weights[{', '.join(map(str, np.unravel_index(i, lead)))}]")
                  for i, r in enumerate(rows)]).reshape(w.shape)
    return np.einsum("...u,...ug->...g", w, p_user)


def payoff_against_group(levels, group, k: int, weights=None) -> np.ndarray:
    """Leave-one-out payoff of every column against k draws from a group of columns.

    For column ``c`` let ``M_c`` be the number of group columns other than ``c``; ``A_c`` and
    ``T_c`` count those the user ranks strictly below / tied with ``c``. Then

        L̂_c = Σ_u w_u Σ_m C(T_c,m)·C(A_c,k-m) / ((m+1)·C(M_c,k)),

    an unbiased estimate of ``L(π, y_c)`` when the group columns are i.i.d. samples of ``π``
    (used to evaluate baseline samples and a candidate pool against k policy samples).

    Args:
      levels: ``(U, N)`` integer levels of N texts.
      group: ``(N,)`` bool mask of the columns that are samples of the policy.
      k: integer >= 1 with ``M_c >= k`` for every column.
      weights: ``(U,)`` user weights; default uniform.

    Returns: ``(N,)``.

    References: THEORY.md §8.

    Examples:
      Columns 0-2 are samples of the policy, column 3 a baseline text every user ranks last:

      >>> from ualign.core.estimators import payoff_against_group
      >>> levels = [[0, 1, 2, 3], [2, 1, 0, 3]]
      >>> payoff_against_group(levels, [True, True, True, False], k=1).round(4).tolist()
      [0.5, 0.5, 0.5, 0.0]
    """
    k = check_k(k)
    lv = np.asarray(levels, dtype=np.int64)
    g = np.asarray(group, dtype=bool)
    if lv.ndim != 2 or g.shape != (lv.shape[1],):
        raise ValueError(f"levels must be (U, N) and group (N,), got {lv.shape} and {g.shape}")
    U, N = lv.shape
    M = g.sum() - g.astype(np.int64)                                     # (N,)
    if M.min() < k:
        raise ValueError(f"group must hold at least k+1 = {k + 1} columns (k others for each "
                         f"group member), got {int(g.sum())}")
    w = np.full(U, 1.0 / U) if weights is None else check_weights(weights, U)
    gi = np.flatnonzero(g)
    other = lv[:, None, gi]                                             # (U, 1, |g|)
    me = lv[:, :, None]                                                 # (U, N, 1)
    not_self = gi[None, :] != np.arange(N)[:, None]                     # (N, |g|)
    A = ((other > me) & not_self).sum(-1)                               # (U, N)
    T = ((other == me) & not_self).sum(-1)
    out = np.zeros((U, N))
    for Mc in np.unique(M):
        cols = M == Mc
        h = _coefficients(int(Mc) + 1, k)
        out[:, cols] = h[T[:, cols], A[:, cols]]
    return w @ out


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


def _check_integer(lv: np.ndarray) -> None:
    """``levels`` must hold integers (integer dtype, or finite whole floats)."""
    if lv.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(lv) | (lv != np.round(lv)))
        if bad.size:
            raise ValueError(f"levels must be integers, got {lv[tuple(bad[0])]} at index "
                             f"{tuple(int(x) for x in bad[0])}")
    elif lv.dtype.kind not in "iub":
        raise ValueError(f"levels must be integers, got dtype {lv.dtype}")


def _check_levels(levels) -> np.ndarray:
    lv = np.asarray(levels)
    if lv.ndim != 2:
        raise ValueError(f"levels must have shape (U, G) (users x samples), got {lv.shape}")
    _check_integer(lv)
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

    The k draws' responses are merged (a response drawn twice is shown once), ``y_i`` is shown
    once, a response both sides show is one copy per side (THEORY §9):
    ``share_u = 1{no j in S strictly better} / (1 + c)``, c the number of *distinct* responses
    (classes) in the k-subset ``S`` of the other samples tied with ``y_i`` (a copy of ``y_i``
    counts once). For user u and ``y_i`` the others split into strictly better ones (never
    drawn), ``a`` strictly worse ones and tied ones in classes of sizes ``m_1..m_r`` (``y_i``'s
    own class contributes its other copies); the k-subsets that take ``d`` tied samples from
    exactly ``c`` classes number ``N[d, c]·C(a, k-d)`` with
    ``Σ N[d, c] x^d z^c = Π_j (1 + z((1+x)^{m_j} - 1))``, so

        P̂_i(u) = Σ_{d, c} N[d, c]·C(a, k-d) / ((1 + c)·C(G-1, k)),

    ``N`` by a DP over the tied classes (degree in x truncated at k), memoised on
    ``(sorted m, a)``. Unbiased for ``L^dist(π, y_i)`` (the k-subsets of the others are k i.i.d.
    draws of π independent of ``y_i``). All classes distinct, or k = 1: equals
    :func:`leave_one_out_payoffs`. The group mean is not a constant (G copies of one response
    give every sample ½).

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

    Examples:
      One user, four samples, the first three tied at the top. All distinct (the default) gives
      the multiset values, averaging 1/(k+1); when samples 0-2 are the same text (class 7), two
      of them drawn are one response shown, and sample 0 is picked 1/2 against them instead of
      1/3.

      >>> from ualign.core.estimators import distinct_leave_one_out_payoffs
      >>> levels = [[0, 0, 0, 1]]
      >>> distinct_leave_one_out_payoffs(levels, k=2).round(4).tolist()
      [0.4444, 0.4444, 0.4444, 0.0]
      >>> distinct_leave_one_out_payoffs(levels, k=2, classes=[7, 7, 7, 3]).round(4).tolist()
      [0.5, 0.5, 0.5, 0.0]
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
            counts = [int(sizes[d]) - (d == c) for d in np.flatnonzero(same)]
            tied = tuple(sorted(m for m in counts if m > 0))
            a = int(sizes[lvc > lvc[c]].sum())
            out[u, c] = _distinct_share(G, k, tied, a)
    return w @ out[:, cls_of]
