"""Win rates of explicit k-sets: the one home of the set maths shared by the engine and solvers.

A k-output policy that shows a set ``S`` (a row of response indices) faces an opponent who shows
ℓ i.i.d. draws of ρ. Per user, let ``b`` be the best level in S and ``i`` the number of S's
*copies* at level b: under ``display="multiset"`` (THEORY.md §2) every entry of S counts; under
``display="distinct"`` (§9) S is merged first, so ``i`` counts distinct responses, and so are
the opponent's ℓ draws. A response shown by both sides is one copy per side. S's copy is picked
with probability

    P(pick from S) = Σ_j D_ρ(b, j) · i / (i + j),

``D_ρ(b, j)`` the chance that none of the opponent's draws is strictly better than b and j of
its copies (multiset: draws; distinct: distinct responses) sit at level b. Multiset:
``D_ρ(b, j) = C(ℓ,j) r^j B^(ℓ-j)`` with ρ's mass r at level b and B strictly below; distinct:
a DP over the class's responses (``_kernels.distinct_counts``). For ℓ = 1 they coincide.

Functions take plain arrays: ``levels (U, n)`` dense int levels, ``weights (U,)`` summing to 1,
``sets (m, k)`` int. References: shared/spec/THEORY.md §2, §7, §9.
"""

from __future__ import annotations

import numpy as np

from ualign.core import _kernels
from ualign.core.checks import check_size
from ualign.core.displays import display_spec

__all__ = ["best_copies", "check_sets", "class_masses", "copy_counts", "policy_win_rates",
           "set_shares", "set_win_matrix"]


# Bytes one block of ``set_shares`` may hold per (user, set, draw-count) array: the sets are
# handled in blocks of at most BLOCK_BYTES // (8 U (ℓ+1)) (at least one set).
BLOCK_BYTES = 1 << 25


def binomial_terms(r, B, ell: int) -> np.ndarray:
    """``C(ℓ,j) r^j B^(ℓ-j)`` for ``j = 0..ℓ``: ``(..., ℓ+1)`` for ``r, B`` of shape ``(...)``.

    Formed as ``(r + B)^ℓ`` times the binomial pmf of odds ``r/B``, the ratios
    ``(ℓ-j)/(j+1) · r/B`` multiplied outward from the mode (``_kernels.binomial_rows``): no
    ``C(ℓ, j)`` (infinite in floating point from ℓ = 1030 on) and no logarithm, so the terms
    keep full relative precision at every ℓ up to ``MAX_SAMPLES``.
    """
    r = np.asarray(r, dtype=float)
    B = np.asarray(B, dtype=float)
    shape = np.broadcast_shapes(r.shape, B.shape)
    out = np.empty((int(np.prod(shape)), ell + 1))
    _kernels.binomial_rows(np.ascontiguousarray(np.broadcast_to(r, shape)).ravel(),
                           np.ascontiguousarray(np.broadcast_to(B, shape)).ravel(), ell, out)
    return out.reshape(*shape, ell + 1)


def check_sets(sets, n: int, name: str = "sets") -> np.ndarray:
    """A 2-d integer array ``(m, k)`` of response indices in ``[0, n)``, returned as given.

    Examples:
      >>> from ualign.core.sets import check_sets
      >>> check_sets([[0, 1], [2, 2]], n=3).tolist()
      [[0, 1], [2, 2]]
      >>> check_sets([[0, 3]], n=3)
      Traceback (most recent call last):
        ...
      ValueError: sets must hold response indices in [0, 3), got 3 at row 0, column 1
    """
    S = np.asarray(sets)
    if S.ndim != 2 or S.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-d integer array (m sets, k responses), got shape "
                         f"{S.shape}")
    if S.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer response indices, got dtype {S.dtype}")
    bad = np.argwhere((S < 0) | (S >= n))
    if bad.size:
        r_, c_ = bad[0]
        raise ValueError(f"{name} must hold response indices in [0, {n}), got {S[r_, c_]} at "
                         f"row {r_}, column {c_}")
    return S


def class_masses(levels, p):
    """Per user and level class: ``t[u, l]`` the mass of ``p`` at level l and ``worse[u, l]`` the
    mass strictly worse. ``(U, n)`` each (levels are dense, so ``l < n``).

    Examples:
      One user who ranks 0 first and ties 1 with 2; the policy puts 1/2 on 0 and 1/4 on each of
      1 and 2:

      >>> from ualign.core.sets import class_masses
      >>> t, worse = class_masses([[0, 1, 1]], [0.5, 0.25, 0.25])
      >>> t.tolist(), worse.tolist()
      ([[0.5, 0.5, 0.0]], [[0.5, 0.0, 0.0]])
    """
    lv = np.asarray(levels).astype(np.int64)
    U, n = lv.shape
    flat = (np.arange(U)[:, None] * n + lv).ravel()
    t = np.bincount(flat, weights=np.broadcast_to(p, (U, n)).ravel(),
                    minlength=U * n).reshape(U, n)
    worse = np.clip(np.cumsum(t[:, ::-1], axis=1)[:, ::-1] - t, 0.0, None)
    return t, worse


def copy_counts(levels, p, ell: int, display: str = "multiset") -> np.ndarray:
    """``D[u, l, j]``: P(none of ℓ i.i.d. draws of ``p`` is strictly better than level l of user
    u, and j copies sit at level l). ``(U, n, ℓ+1)``.

    multiset: ``C(ℓ,j) t^j worse^(ℓ-j)`` (draws counted); distinct: distinct responses counted,
    by the DP of ``_kernels.class_distinct_counts`` (O(|T| ℓ² min(|T|, ℓ)) per user and class).
    For ℓ = 1 both are ``(worse, t)``.

    Examples:
      Two draws of a policy uniform over a tie class {1, 2} below response 0: the multiset
      counts draws, distinct display counts distinct responses.

      >>> from ualign.core.sets import copy_counts
      >>> copy_counts([[0, 1, 1]], [0.0, 0.5, 0.5], 2)[0, 1].round(4).tolist()
      [0.0, 0.0, 1.0]
      >>> copy_counts([[0, 1, 1]], [0.0, 0.5, 0.5], 2, display="distinct")[0, 1].round(4).tolist()
      [0.0, 0.5, 0.5]
    """
    U, n = np.shape(levels)
    check_size(8 * U * n * (ell + 1) * 2, f"the copy counts of {U} users x {n} responses x "
               f"{ell + 1} draw counts")
    if display_spec(display).merges and ell > 1:
        return _kernels.distinct_counts(np.ascontiguousarray(levels),
                                        np.ascontiguousarray(p, dtype=float), ell)
    t, worse = class_masses(levels, p)
    return binomial_terms(t, worse, ell)


def best_copies(levels, sets, display: str = "multiset"):
    """Per user and set: the best level ``b`` in the set and its copies ``i`` there (multiset:
    entries; distinct: distinct responses). ``(U, m)`` each.

    Examples:
      A user who ties 1 and 2 at level 1: the set {1, 2} and the multiset {1, 1} both have their
      best level there, with two entries but one distinct response for {1, 1}.

      >>> from ualign.core.sets import best_copies
      >>> best, copies = best_copies([[0, 1, 1]], [[1, 2], [1, 1]])
      >>> best.tolist(), copies.tolist()
      ([[1, 1]], [[2, 2]])
      >>> best_copies([[0, 1, 1]], [[1, 2], [1, 1]], display="distinct")[1].tolist()
      [[2, 1]]
    """
    lv = np.asarray(levels).astype(np.int64)
    S = np.asarray(sets, dtype=np.int64)
    sl = lv[:, S]  # (U, m, k)
    best = sl.min(axis=2)  # (U, m)
    at_best = sl == best[:, :, None]
    if display_spec(display).merges:
        srt = np.sort(S, axis=1)
        first = np.ones(S.shape, dtype=bool)
        first[:, 1:] = srt[:, 1:] != srt[:, :-1]
        at_best = (lv[:, srt] == best[:, :, None]) & first
    return best, at_best.sum(axis=2)


def set_shares(levels, weights, sets, opponent, ell: int = 1, display: str = "multiset",
               chunk: int | None = None) -> np.ndarray:
    """``P(pick from S)`` for each row S of ``sets`` against ℓ i.i.d. draws of the distribution
    ``opponent``, averaged over users: ``(m,)``.

    The sets are handled in blocks of at most ``chunk`` (default all) and at most
    ``BLOCK_BYTES // (8 U (ℓ+1))`` sets, so the ``(U, block, ℓ+1)`` work arrays stay under
    ``BLOCK_BYTES`` (32 MiB) each, whatever m.

    Examples:
      Three users in a Condorcet cycle (levels), the sets {0, 1} and {0, 0} against one draw of
      response 0:

      >>> import numpy as np
      >>> from ualign.core.sets import set_shares
      >>> levels = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
      >>> w = np.full(3, 1 / 3)
      >>> set_shares(levels, w, [[0, 1], [0, 0]], [1.0, 0.0, 0.0]).round(4).tolist()
      [0.6667, 0.6667]
      >>> sets, opponent = [[0, 1], [0, 0]], [1.0, 0.0, 0.0]
      >>> set_shares(levels, w, sets, opponent, display="distinct").round(4).tolist()
      [0.6667, 0.5]
    """
    S = np.asarray(sets, dtype=np.int64)
    m = S.shape[0]
    U = np.shape(levels)[0]
    chunk = _block(m if chunk is None else chunk, U, ell + 1 + S.shape[1])
    j = np.arange(ell + 1)
    merged = display_spec(display).merges and ell > 1
    if merged:
        D = copy_counts(levels, opponent, ell, display)  # (U, n, ℓ+1)
    else:  # gathered per block: (U, n) masses instead of (U, n, ℓ+1) counts
        r, B = class_masses(levels, opponent)
    out = np.empty(m)
    for s in range(0, m, chunk):
        best, i = best_copies(levels, S[s:s + chunk], display)
        if merged:
            Db = np.take_along_axis(D, best[..., None], axis=1)  # (U, b, ℓ+1)
        else:
            Db = binomial_terms(np.take_along_axis(r, best, axis=1),
                                np.take_along_axis(B, best, axis=1), ell)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = Db * i[..., None] / (i[..., None] + j)
        out[s:s + chunk] = weights @ terms.sum(axis=-1)
    return out


def set_win_matrix(levels, weights, sets, display: str = "multiset",
                   chunk: int = 256) -> np.ndarray:
    """``A[j, y'] = WR(sets[j], y')`` against every single response ``y'``: ``(m, n)``, O(U m n).

    Per user: 1 if ``y'`` is strictly worse than the set's best level b, ``i/(i+1)`` if tied with
    it (``i`` copies at b: entries for multiset, distinct responses for distinct), 0 if better.
    The k-set solvers price with it; a k-set policy ``x`` wins ``min_y' (x @ A)[y']``.

    Examples:
      >>> import numpy as np
      >>> from ualign.core.sets import set_win_matrix
      >>> levels = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]  # a Condorcet cycle
      >>> set_win_matrix(levels, np.full(3, 1 / 3), [[0, 1], [0, 0]]).round(4).tolist()
      [[0.6667, 0.8333, 0.6667], [0.6667, 0.6667, 0.3333]]
    """
    lv = np.asarray(levels, dtype=np.int64)
    U, n = lv.shape
    S = np.asarray(sets, dtype=np.int64)
    chunk = _block(chunk, U, n + S.shape[1])
    out = np.empty((S.shape[0], n))
    for s in range(0, S.shape[0], chunk):
        blk = S[s:s + chunk]
        best, i = best_copies(lv, blk, display)  # (U, b)
        cmp = lv[:, None, :]  # (U, 1, n)
        win = np.where(cmp > best[:, :, None], 1.0,
                       np.where(cmp == best[:, :, None], (i / (i + 1.0))[:, :, None], 0.0))
        out[s:s + chunk] = np.einsum("u,ubn->bn", weights, win)
    return out


def policy_win_rates(levels, weights, sets, probs, display: str = "multiset") -> np.ndarray:
    """``wr[y'] = Σ_j probs[j] WR(sets[j], y')`` for every single response ``y'``: ``(n,)``.

    The k-set policy's win rate against each response (its minimum is the policy's robust win
    rate). Per ``y'`` the same numbers as ``set_shares(..., opponent=e_y', ell=1) @ probs``
    (entries 1, ``i/(i+1)``, 0 per user and set), from one ``best_copies`` pass: O(U m (k + n)).

    Examples:
      The three pairs of a Condorcet cycle, each shown with probability 1/3, win 13/18 against
      each response:

      >>> import numpy as np
      >>> from ualign.core.sets import policy_win_rates
      >>> levels = [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
      >>> w = probs = np.full(3, 1 / 3)
      >>> policy_win_rates(levels, w, [[0, 1], [1, 2], [0, 2]], probs).round(4).tolist()
      [0.7222, 0.7222, 0.7222]
    """
    lv = np.asarray(levels, dtype=np.int64)
    q = np.asarray(probs, dtype=float)
    S = np.asarray(sets, dtype=np.int64)
    U, n = lv.shape
    chunk = _block(S.shape[0], U, S.shape[1] + 4)
    wr = np.zeros(n)
    for s in range(0, S.shape[0], chunk):
        best, i = best_copies(lv, S[s:s + chunk], display)  # (U, block)
        tie = i / (i + 1.0)
        for y in range(n):
            ly = lv[:, y][:, None]
            win = np.where(ly > best, 1.0, np.where(ly == best, tie, 0.0))
            wr[y] += float(weights @ win @ q[s:s + chunk])
    return wr


def _block(chunk: int, U: int, per_set: int) -> int:
    """At most ``chunk`` sets per block, and few enough that a ``(U, block, per_set)`` array of
    8-byte entries stays under ``BLOCK_BYTES``; at least one."""
    return max(1, min(int(chunk), BLOCK_BYTES // (8 * max(U, 1) * max(per_set, 1))))
