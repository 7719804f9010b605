"""Posterior populations: condition a profile on what is known about one user (THEORY.md §10).

Evidence ``e`` about a user is a length-n float array of *levels* over some responses (smaller
is better, only the order matters; NaN = unknown), optionally with the user's group. The
posterior profile has the same responses and the weights

    w_u(e) = w_u · P(e | u) / Σ_v w_v · P(e | v).

**Noise model** (pairwise comparisons, independent). The evidence is the set of strict pairwise
comparisons it implies: every pair (i, j) of revealed responses with ``e[i] < e[j]`` says
"i ≻ j". Revealed *ties* (``e[i] == e[j]``) are not evidence: they are skipped, because a
revealed tie (a Polis pass next to a pass, two unranked PrefLib candidates) records no direction
and conflates indifference with not knowing. Type u's order answers each comparison i ≻ j with

    P(i ≻ j | u) = 1 − δ   if level_u[i] < level_u[j]     (agrees),
                   δ       if level_u[i] > level_u[j]     (disagrees),
                   ½       if level_u[i] = level_u[j]     (u is indifferent: ½ each way),

independently across comparisons, so with ``A_u``, ``D_u``, ``T_u`` the numbers of agreeing,
disagreeing and tied comparisons

    log P(e | u) = A_u log(1 − δ) + D_u log δ + T_u log ½.

Evidence that no type explains exactly (every type disagrees somewhere) still gets these
weights; nothing falls back to a uniform population. The independence is a modelling choice
(a pseudo-likelihood): the comparisons implied by one ranking are transitive, not independent;
δ absorbs the mismatch and is chosen by held-out likelihood (:func:`fit_noise`).

A group ``g`` (optional) is hard evidence: ``P(g | u) = 1{groups[u] = g}``.

Cost: O(U · |comparisons|) per user (one vectorised pass over the pairs), in log space (the
largest log-weight is subtracted before exponentiating), batched over users by
:func:`posterior_weights`.

References: shared/spec/THEORY.md §10 (and §1-4: the posterior is an ordinary profile).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ualign.core.checks import as_real_array, check_profile
from ualign.core.profile import Profile

__all__ = ["NOISE_GRID", "NoiseFit", "comparison_counts", "fit_noise", "log_likelihoods",
           "posterior", "posterior_weights"]

NOISE_GRID = np.concatenate([[1e-4, 2e-4, 5e-4, 1e-3, 2e-3],
                             np.round(np.arange(0.005, 0.4951, 0.005), 3)])
"""The default grid of δ for :func:`fit_noise`: 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, then 0.005,
0.010, ..., 0.495."""

_LOG_HALF = np.log(0.5)


class NoiseFit(NamedTuple):
    """The δ that maximises the log marginal likelihood of held-out evidence on a grid."""

    delta: float
    grid: np.ndarray            # (G,) the δ tried
    log_likelihood: np.ndarray  # (G,) Σ_e log Σ_u w_u P(e | u; δ) at each δ
    n_evidence: int             # evidence rows with at least one strict comparison
    n_comparisons: int          # strict comparisons in all of them


_check_profile = check_profile


def _check_evidence(evidence, n: int, name: str = "evidence") -> np.ndarray:
    """A float array ``(n,)`` or ``(E, n)`` of levels, NaN = unknown; returned as ``(E, n)``."""
    try:
        e = np.array(evidence, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a float array of levels over the {n} responses "
                         "(NaN = unknown)") from None
    if e.ndim not in (1, 2) or e.shape[-1] != n:
        raise ValueError(f"{name} must have shape ({n},) or (E, {n}) (one level per response, "
                         f"NaN = unknown), got shape {e.shape}")
    e = e.reshape(-1, n)
    bad = np.argwhere(np.isinf(e))
    if bad.size:
        r, c = bad[0]
        raise ValueError(f"{name} must hold finite levels or NaN, got {e[r, c]} at row {r}, "
                         f"column {c}")
    return e


def _check_delta(delta, name: str = "noise") -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise ValueError(f"{name} must be a float δ in (0, 0.5) or 'fit', got {delta!r}")
    d = float(delta)
    if not 0.0 < d < 0.5:
        raise ValueError(f"{name} must be a float δ in (0, 0.5) (the chance a revealed "
                         f"comparison disagrees with a type's order), got {d}")
    return d


def _pairs(row: np.ndarray):
    """Strict comparisons implied by one evidence row: indices ``(better, worse)``."""
    R = np.flatnonzero(~np.isnan(row))
    v = row[R]
    i, j = np.triu_indices(R.size, 1)
    keep = v[i] != v[j]
    i, j = i[keep], j[keep]
    swap = v[i] > v[j]
    better = np.where(swap, R[j], R[i])
    worse = np.where(swap, R[i], R[j])
    return better, worse


def comparison_counts(profile: Profile, evidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, D, T)``, each ``(E, U)`` int: per evidence row and type, the numbers of the row's
    strict comparisons that the type's order agrees with, disagrees with, and ties.
    ``A + D + T`` is the row's number of strict comparisons. O(U · |comparisons|) per row.

    Examples:
      A user who revealed 0 ≻ 1: the first type agrees, the second disagrees.

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core.posterior import comparison_counts
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1])
      >>> e = [0.0, 1.0, np.nan]  # the user prefers 0 to 1; response 2 is unknown
      >>> A, D, T = comparison_counts(P, e)
      >>> A.tolist(), D.tolist(), T.tolist()
      ([[1, 0]], [[0, 1]], [[0, 0]])
    """
    P = _check_profile(profile)
    e = _check_evidence(evidence, P.n_responses)
    lv = P.levels
    U = P.n_users
    E = e.shape[0]
    A = np.zeros((E, U), dtype=np.int64)
    D = np.zeros((E, U), dtype=np.int64)
    T = np.zeros((E, U), dtype=np.int64)
    for r in range(E):
        better, worse = _pairs(e[r])
        if better.size == 0:
            continue
        step = max(1, 2**22 // better.size)         # bound the (U, pairs) temporaries
        for s in range(0, U, step):
            diff = lv[s:s + step, worse].astype(np.int32) - lv[s:s + step, better]
            A[r, s:s + step] = np.count_nonzero(diff > 0, axis=1)
            D[r, s:s + step] = np.count_nonzero(diff < 0, axis=1)
            T[r, s:s + step] = better.size - A[r, s:s + step] - D[r, s:s + step]
    return A, D, T


def _log_lik(A, D, T, delta: float) -> np.ndarray:
    return A * np.log1p(-delta) + D * np.log(delta) + T * _LOG_HALF


def log_likelihoods(profile: Profile, evidence, delta: float) -> np.ndarray:
    """``log P(e | u)`` under the noise model with ``δ = delta``: ``(E, U)``.

    Examples:
      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core.posterior import log_likelihoods
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1])
      >>> e = [0.0, 1.0, np.nan]  # the user prefers 0 to 1; response 2 is unknown
      >>> np.exp(log_likelihoods(P, e, delta=0.1)).round(4).tolist()  # 1 - δ and δ
      [[0.9, 0.1]]
    """
    delta = _check_delta(delta, "delta")
    A, D, T = comparison_counts(profile, evidence)
    return _log_lik(A, D, T, delta)


def _normalise_log(logw: np.ndarray) -> np.ndarray:
    """Rows of log-weights to weights summing to 1 (largest subtracted first)."""
    top = np.max(logw, axis=-1, keepdims=True)
    w = np.exp(logw - top)
    return w / w.sum(axis=-1, keepdims=True)


def _group_mask(P: Profile, group) -> np.ndarray | None:
    if group is None:
        return None
    if isinstance(group, bool) or not isinstance(group, numbers.Integral):
        raise ValueError(f"group must be an integer group id or None, got {group!r}")
    if P.groups is None:
        raise ValueError("group was given but the profile has no groups (Profile.groups is "
                         "None)")
    mask = P.groups == int(group)
    if not np.any(mask & (P.weights > 0)):
        raise ValueError(f"group must name a group holding weight in the profile, got {group} "
                         f"(groups present: {sorted(set(P.groups.tolist()))})")
    return mask


def posterior_weights(profile: Profile, evidence, delta: float, group=None) -> np.ndarray:
    """Posterior weights ``w_u(e) ∝ w_u · P(e | u)`` for a batch of evidence rows.

    Args:
      profile: the population (levels ``(U, n)``, weights ``(U,)``).
      evidence: ``(E, n)`` (or ``(n,)``) float levels, NaN = unknown; see the module docstring.
      delta: δ in (0, ½), the chance a revealed comparison disagrees with a type's order.
      group: optional group id shared by every row (hard evidence on ``profile.groups``).

    Returns:
      ``(E, U)``: each row on the simplex. A row with no strict comparison (and no group) gets
      the prior weights exactly.

    Examples:
      Prior weights 3/4 and 1/4; after 0 ≻ 1 with δ = 0.1 the agreeing type has 0.75·0.9 /
      (0.75·0.9 + 0.25·0.1) of the weight:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core.posterior import posterior_weights
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1])
      >>> e = [0.0, 1.0, np.nan]  # the user prefers 0 to 1; response 2 is unknown
      >>> posterior_weights(P, [e, [np.nan, np.nan, np.nan]], delta=0.1).round(4).tolist()
      [[0.9643, 0.0357], [0.75, 0.25]]
    """
    P = _check_profile(profile)
    delta = _check_delta(delta, "delta")
    e = _check_evidence(evidence, P.n_responses)
    mask = _group_mask(P, group)
    A, D, T = comparison_counts(P, e)
    with np.errstate(divide="ignore"):
        logw = np.log(P.weights)[None, :] + _log_lik(A, D, T, delta)
    if mask is not None:
        logw = np.where(mask[None, :], logw, -np.inf)
    out = _normalise_log(logw)
    empty = (A + D + T).sum(axis=1) == 0
    if mask is None and np.any(empty):
        out[empty] = P.weights
    return out


def fit_noise(profile: Profile, evidences, grid=None) -> NoiseFit:
    """Choose δ by the log marginal likelihood of held-out evidence, on a grid.

    ``δ̂ = argmax_{δ ∈ grid} Σ_e log Σ_u w_u P(e | u; δ)``: ``evidences`` are rows from users
    who are *not* in ``profile`` (held out), each an ``(n,)`` level array with NaN = unknown.
    The comparison counts are computed once. Rows without a strict comparison add 0 and are
    counted out. Ties in the likelihood go to the smaller δ. Types are grouped per row by their
    (agree, disagree) counts first, so a grid point costs O(distinct counts), not O(E · U).

    Args:
      profile: the population the posterior will use.
      evidences: ``(E, n)`` float levels of held-out users, NaN = unknown.
      grid: the δ values tried, each in (0, ½) (default :data:`NOISE_GRID`).

    Returns:
      :class:`NoiseFit` (``delta``, the grid, the log-likelihood at each grid point).

    Examples:
      Held-out users who mostly agree with the population's types choose a small δ:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core.posterior import fit_noise
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1])
      >>> held_out = [[0, 1, 2], [2, 1, 0], [0, 2, 1], [0, 1, 2]]
      >>> fit = fit_noise(P, held_out, grid=[0.05, 0.1, 0.2, 0.3])
      >>> fit.delta, fit.grid.tolist()
      (0.1, [0.05, 0.1, 0.2, 0.3])
    """
    P = _check_profile(profile)
    e = _check_evidence(evidences, P.n_responses, "evidences")
    g = NOISE_GRID if grid is None else as_real_array(grid, "grid").ravel()
    if g.size == 0:
        raise ValueError("grid must hold at least one δ in (0, 0.5)")
    for i, d in enumerate(g):
        try:
            _check_delta(float(d), "grid")
        except ValueError:
            raise ValueError(f"grid must hold δ values in (0, 0.5), got {d} at position "
                             f"{i}") from None
    A, D, T = comparison_counts(P, e)
    n_cmp = (A + D + T)[:, 0]                       # the same for every type
    use = n_cmp > 0
    if not np.any(use):
        raise ValueError("evidences must hold at least one row with a strict comparison (two "
                         "revealed responses at different levels); none does")
    A, D = A[use], D[use]
    C = n_cmp[use]
    # The likelihood depends on a type only through (A, D) (T = C - A - D): sum the weights of
    # the types sharing a row's (A, D) once, then each δ costs O(distinct (row, A, D) triples).
    base = int(C.max()) + 1
    key = (np.arange(A.shape[0])[:, None] * base + A) * base + D
    uniq, inv = np.unique(key.ravel(), return_inverse=True)
    wsum = np.bincount(inv.ravel(), weights=np.broadcast_to(P.weights, key.shape).ravel(),
                       minlength=uniq.size)
    keep = wsum > 0
    uniq, wsum = uniq[keep], wsum[keep]
    row, a, d = uniq // (base * base), (uniq // base) % base, uniq % base
    t = C[row] - a - d
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    logw = np.log(wsum)
    ll = np.empty(g.size)
    for i, dlt in enumerate(g):
        x = logw + _log_lik(a, d, t, float(dlt))
        top = np.maximum.reduceat(x, starts)
        ll[i] = float(np.sum(top + np.log(np.add.reduceat(np.exp(x - top[row]), starts))))
    best = int(np.argmax(ll))
    return NoiseFit(float(g[best]), g.copy(), ll, int(use.sum()), int(n_cmp.sum()))


def posterior(profile: Profile, evidence, noise=0.1, *, group=None,
              held_out=None) -> Profile:
    """The population conditioned on one user's evidence: same responses, weights
    ``w_u(e) ∝ w_u · P(e | u)`` (THEORY.md §10; noise model in the module docstring).

    Args:
      profile: the population.
      evidence: ``(n,)`` float levels of the user over some responses, NaN = unknown (e.g. a
        Polis participant's votes agree 0 / pass 1 / disagree 2, or positions in a ranking).
      noise: δ in (0, ½), or ``"fit"``: δ from :func:`fit_noise` on ``held_out``.
      group: optional group id of the user (hard evidence on ``profile.groups``).
      held_out: ``(E, n)`` evidence of held-out users, required by ``noise="fit"``.

    Returns:
      A :class:`ualign.Profile` with the same levels, labels and groups and the posterior
      weights. With no strict comparison and no group it returns ``profile`` itself (the same
      weights exactly), so ``m = 0`` is universal alignment. ``meta["posterior δ"]`` records δ.

    Examples:
      >>> import numpy as np
      >>> from ualign import Profile
      >>> from ualign.core.posterior import posterior
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1])
      >>> e = [0.0, 1.0, np.nan]  # the user prefers 0 to 1; response 2 is unknown
      >>> Q = posterior(P, e, noise=0.1)
      >>> Q.weights.round(4).tolist(), Q.meta["posterior δ"]
      ([0.9643, 0.0357], '0.1')
      >>> posterior(P, [np.nan] * 3) is P  # no evidence: the population itself
      True
    """
    P = _check_profile(profile)
    e = _check_evidence(evidence, P.n_responses)
    if e.shape[0] != 1:
        raise ValueError(f"evidence must be one user's levels of shape ({P.n_responses},), got "
                         f"shape {np.shape(evidence)}; use posterior_weights for a batch")
    if isinstance(noise, str):
        if noise != "fit":
            raise ValueError(f"noise must be a float δ in (0, 0.5) or 'fit', got {noise!r}")
        if held_out is None:
            raise ValueError("held_out must be given with noise='fit': δ is chosen by the "
                             "likelihood of held-out users' evidence (an (E, n) array)")
        _check_evidence(held_out, P.n_responses, "held_out")   # named as the caller knows it
        delta = fit_noise(P, held_out).delta
    else:
        delta = _check_delta(noise)
        if held_out is not None:
            raise ValueError("held_out is only used with noise='fit'")
    if group is None and _pairs(e[0])[0].size == 0:
        return P
    w = posterior_weights(P, e, delta, group)[0]
    meta = {**P.meta, "posterior δ": repr(delta)}
    return Profile(P.levels, w, labels=P.labels, groups=P.groups, group_names=P.group_names,
                   n_ranked=P.n_ranked, n_voters=P.n_voters, meta=meta)
