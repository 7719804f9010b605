"""Pricing a k-set of distinct responses: a weighted coverage problem (THEORY §7, §9).

Distinct display: against one competitor y' a user picks uniformly among the copies at the
best level of S ∪ {y'}, y' counting once per side:

    WR_u(S, y') = 1          if some z ∈ S is strictly better than y' for u,
                  c/(c+1)    otherwise, c = #{z ∈ S tied with y'} (y' itself included if in S).

The master's duals ``q`` price a subset by ``price_q(S) = Σ_y' q(y') WR(S, y') = Σ_u Σ_ℓ W[u, ℓ]
val_u(S, ℓ)``, with ``W[u, ℓ] = w_u q{y' : level_u(y') = ℓ}`` one weight per (user, opponent
level) pair: a weighted maximum coverage with a concave tie term ``f(c) = c/(c+1)``. This module
holds the pricing tables, the exact prices of explicit sets (one at a time, every k-subset from
stored states or chunk by chunk, every pair by matrix products), the greedy + swap heuristic
(``ualign.core.search``) and the certified upper bounds on ``max_S price_q(S)``: per user, and
submodular. The MIP is in ``solvers.kset.mip``.

References: shared/spec/THEORY.md §7, §9; Nemhauser, Wolsey & Fisher 1978 (submodular bound).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ualign.core.search import local_search

__all__ = ["Tables", "add_values", "enumerated_states", "enumeration_prices", "f",
           "heuristic", "pair_prices", "per_user_bound", "price", "submodular_bound", "tables"]

MAX_SWAP_ROUNDS = 100
"""Best-swap rounds of the heuristic's local search from each start."""


@dataclasses.dataclass(frozen=True)
class Tables:
    """Pricing tables for one dual ``q``: ``W (U, L+1)`` pair weights (last column 0),
    ``suf (U, L+2)`` with ``suf[u, l] = Σ_{l' >= l} W[u, l']``, ``single (U, n)`` the value of
    each singleton per user, ``dropped`` the q-mass left out (below 1e-13, added to bounds)."""

    W: np.ndarray
    suf: np.ndarray
    single: np.ndarray
    dropped: float


def f(c):
    """``c/(c+1)``: the chance a user picks one of c tied copies of S against one competitor."""
    return c / (c + 1.0)


def tables(lv, w, q, L) -> Tables:
    """The :class:`Tables` of dual ``q (n,)`` for levels ``lv (U, n)`` (L levels), weights w."""
    U, _n = lv.shape
    keep = q > 1e-13
    idx = np.nonzero(keep)[0]
    flat = (np.arange(U)[:, None] * (L + 1) + lv[:, idx]).ravel()
    W = np.bincount(flat, weights=(w[:, None] * q[idx][None, :]).ravel(),
                    minlength=U * (L + 1)).reshape(U, L + 1)
    suf = np.zeros((U, L + 2))
    suf[:, :L + 1] = np.cumsum(W[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(U)[:, None]
    single = suf[rows, lv + 1] + 0.5 * W[rows, lv]
    return Tables(W, suf, single, float(q[~keep].sum()))


def _state(lv, S):
    """Per user: the best level ``b`` of a non-empty S and its responses there ``c``."""
    sl = lv[:, np.asarray(S, dtype=np.int64)]
    b = sl.min(axis=1)
    return b, (sl == b[:, None]).sum(axis=1)


def _user_values(T: Tables, b, c):
    r = np.arange(T.W.shape[0])
    return T.suf[r, b + 1] + f(c) * T.W[r, b]


def price(T: Tables, lv, S) -> float:
    """``price_q(S)`` of one set (the tables' q)."""
    b, c = _state(lv, np.asarray(S, dtype=np.int64))
    return float(_user_values(T, b, c).sum())


def add_values(T: Tables, lv, S):
    """``(n,)``: ``price_q(S ∪ {z})`` for every z, from S's per-user state; members of S get
    -inf (the gains of ``ualign.core.search.local_search``). The empty set sits at the level
    past every response (``b = L``: its table columns are 0)."""
    if len(S):
        b, c = _state(lv, S)
    else:
        b = np.full(lv.shape[0], T.W.shape[1] - 1)
        c = np.zeros(lv.shape[0], dtype=np.int64)
    cur = _user_values(T, b, c)  # (U,)
    r = np.arange(T.W.shape[0])
    plus = T.suf[r, b + 1] + f(c + 1) * T.W[r, b] - cur
    gain = np.where(lv < b[:, None], T.single - cur[:, None],
                    np.where(lv == b[:, None], plus[:, None], 0.0))
    vals = cur.sum() + gain.sum(axis=0)
    vals[list(S)] = -np.inf
    return vals


def enumerated_states(lv, sets, chunk=512):
    """Per set and user: ``at (m, U)`` the flat index ``b·U + u`` into ``(L+2, U)`` tables,
    b the set's best level for u, and ``c (m, U) int8`` its responses there (5 bytes a cell)."""
    U, m = lv.shape[0], sets.shape[0]
    L = int(lv.max()) + 1
    itype = np.int32 if (L + 2) * U < 2**31 else np.int64
    lvT = np.ascontiguousarray(lv.T.astype(np.int32))  # (n, U)
    u = np.arange(U, dtype=itype)
    at = np.empty((m, U), dtype=itype)
    c = np.empty((m, U), dtype=np.int8 if sets.shape[1] < 128 else np.int64)
    for s in range(0, m, chunk):
        sl = lvT[sets[s:s + chunk]]  # (chunk, k, U)
        b = sl.min(axis=1)
        at[s:s + chunk] = b.astype(itype) * U + u
        c[s:s + chunk] = (sl == b[:, None, :]).sum(axis=1)
    return at, c


def pair_prices(T: Tables, lv, L):
    """``(n, n)``: ``price({a, b})`` for every pair, by 2L matrix products. With ``M_m`` the
    users' indicator of level m, ``N_m`` of levels worse than m, ``g1_m = suf(m+1) + ½W(m)`` (one
    response at the best level m) and ``g2_m = suf(m+1) + ⅔W(m)`` (two there):
    ``P = Σ_m M_mᵀ D(g2_m) M_m + X_m + X_mᵀ``, ``X_m = M_mᵀ D(g1_m) N_m``."""
    n = lv.shape[1]
    P = np.zeros((n, n))
    for m in range(L):
        M = (lv == m).astype(float)  # (U, n)
        if not M.any():
            continue
        N = (lv > m).astype(float)
        g1 = T.suf[:, m + 1] + 0.5 * T.W[:, m]
        g2 = T.suf[:, m + 1] + (2.0 / 3.0) * T.W[:, m]
        X = M.T @ (g1[:, None] * N)
        P += M.T @ (g2[:, None] * M) + X + X.T
    return P


def enumeration_prices(T: Tables, lv, k, sets, states, deadline, chunk=256):
    """``price(S)`` for every k-subset (rows of ``sets``): from the stored ``states`` (``(at,
    c)`` of :func:`enumerated_states`), or recomputed chunk by chunk (``states`` None; pairs by
    :func:`pair_prices` when k = 2 with at most 16 levels); None if the deadline passes first."""
    L = T.W.shape[1] - 1
    if states is None and k == 2 and L <= 16:
        return pair_prices(T, lv, L)[sets[:, 0], sets[:, 1]]
    fk = f(np.arange(k + 1, dtype=float))
    sufT = np.ascontiguousarray(T.suf.T).ravel()[lv.shape[0]:]  # row b+1 at b·U + u
    WT = np.ascontiguousarray(T.W.T).ravel()
    prices = np.empty(len(sets))
    for s0 in range(0, len(sets), chunk):
        if states is None:
            if deadline is not None and time.perf_counter() > deadline:
                return None
            a_, c_ = enumerated_states(lv, sets[s0:s0 + chunk])
        else:
            a_, c_ = states[0][s0:s0 + chunk], states[1][s0:s0 + chunk]
        prices[s0:s0 + chunk] = (sufT[a_] + fk[c_] * WT[a_]).sum(axis=1)
    return prices


def submodular_bound(vals, price_S, k):
    """``price(S) + Σ of the k largest gains price(S ∪ {z}) − price(S)``: an upper bound on
    ``max_{|S*| = k} price(S*)`` for any S, since the price is monotone submodular (THEORY
    §9: a pair's value is 1 once S hits its better set, else the concave f(c)), so
    ``price(S*) <= price(S ∪ S*) <= price(S) + Σ_{z ∈ S*} gain(z)`` (Nemhauser et al. 1978)."""
    gains = np.clip(vals[np.isfinite(vals)] - price_S, 0.0, None)
    top = np.partition(gains, gains.size - k)[gains.size - k:] if gains.size > k else gains
    return price_S + float(top.sum())


def heuristic(T: Tables, lv, k, n_seeds, deadline=None):
    """Greedy construction from the ``n_seeds`` best singletons, then best-swap local search
    (``ualign.core.search.local_search``, ``moves="best"``, at most 100 swap rounds a start;
    later starts skipped once the deadline passes). Returns ``({set: price}, bound)``: the local
    optima found (in start order) and the smallest submodular upper bound on ``max_S
    price(S)`` met on the way (from the empty set, every greedy prefix and every local
    optimum), plus the dropped q-mass."""
    single = T.single.sum(axis=0)
    bound = [submodular_bound(single, 0.0, k)]

    def gains(S):
        return add_values(T, lv, S)

    def value(S):
        return price(T, lv, S)

    def on_greedy(S, vals):
        bound[0] = min(bound[0], submodular_bound(vals, value(S), k))

    r = local_search(gains, lv.shape[1], k, seeds=np.argsort(-single, kind="stable")[:n_seeds],
                     value=value, distinct=True, moves="best", deadline=deadline,
                     max_rounds=MAX_SWAP_ROUNDS, on_greedy=on_greedy)
    for S, val in r.optima:
        bound[0] = min(bound[0], submodular_bound(gains(S), val, k))
    return dict(r.optima), bound[0] + T.dropped


def per_user_bound(T: Tables, lv, k, L) -> float:
    """``Σ_u max_{b} [suf(b+1) + f(min(k, size_u(b))) W(b)] + dropped``: each user's best
    set on its own (a relaxation, so an upper bound on ``max_S price(S)``)."""
    U = lv.shape[0]
    size = np.bincount((np.arange(U)[:, None] * (L + 1) + lv).ravel(),
                       minlength=U * (L + 1)).reshape(U, L + 1)
    val = T.suf[:, 1:L + 1] + f(np.minimum(k, size[:, :L])) * T.W[:, :L]
    val = np.where(size[:, :L] > 0, val, 0.0)
    return float(val.max(axis=1).sum()) + T.dropped
