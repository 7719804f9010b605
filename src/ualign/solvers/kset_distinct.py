"""Certified best k-sets of *distinct* responses (THEORY §7 over k-subsets, §9).

Distinct display: the model shows a set S of k distinct responses; against one competitor y' a
user picks uniformly among the copies at the best level of S ∪ {y'}, y' counting once per side:

    WR_u(S, y') = 1          if some z ∈ S is strictly better than y' for u,
                  c/(c+1)    otherwise, c = #{z ∈ S tied with y'} (y' itself included if in S).

The columns' rows are ``ualign.core.sets.set_win_matrix(..., "distinct")``. The best randomised
policy is the LP

    maximise v  s.t.  Σ_S x_S WR(S, y') >= v  for every y',   x ∈ Δ(k-subsets),

solved by column generation. The master's duals ``q`` (a worst opponent mixture) price a subset
by ``price_q(S) = Σ_y' q(y') WR(S, y') = Σ_u Σ_ℓ W[u, ℓ] val_u(S, ℓ)``, with ``W[u, ℓ] = w_u
q{y' : level_u(y') = ℓ}`` one weight per (user, opponent level) pair: a weighted maximum
coverage with a concave tie term. Pricing is first a greedy + swap local search; when that finds
no improving column, the exact pricer decides: the MIP (SciPy ``milp``, HiGHS)

    max Σ_p W_p v_p   s.t.  Σ_z x_z = k,  x binary,  0 <= v_p <= 1,
                            v_p <= Σ_{z ∈ B_p} x_z + g_p,   c_p = Σ_{z ∈ T_p} x_z,
                            g_p <= f(j) + (f(j+1) − f(j)) (c_p − j),  j = 0..min(k, |T_p|) − 1,

with ``B_p`` / ``T_p`` the responses strictly better than / tied with the pair's level and
``f(c) = c/(c+1)`` (its chords at consecutive integers are its concave envelope). Sums over a
mask holding more than half the responses are written through the complement (``Σ_B x = k −
Σ_{not B} x``); identical (B, T) pairs of different users are merged; pairs that every k-set
covers are constants.

Certificate (LP duality): for every dual ``q ∈ Δ``, the optimum is at most ``max_S price_q(S)``,
hence at most any upper bound on it: the MIP's dual bound, its LP relaxation, or the per-user
bound ``Σ_u max_S price_{q,u}(S)``. ``upper_bound`` is the smallest such bound met during the
run; ``value`` is the final policy's worst-case win rate re-evaluated independently.

``randomised=False``: the best single k-set, ``max θ s.t. WR(S, y') >= θ ∀ y'``, the same
coverage model with one row per opponent, by constraint generation over y'.

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from math import comb
from typing import Any, NamedTuple

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from ualign.core.checks import check_k
from ualign.core.payoffs import robust_set_win_rate
from ualign.core.profile import Profile
from ualign.core.sets import policy_win_rates, set_win_matrix
from ualign.solvers.diagnostics import DistinctKSetDiagnostics
from ualign.solvers.kset import KSetResult, _master
from ualign.solvers.result import SolverError, check_profile

__all__ = ["solve_kset_distinct"]


@dataclasses.dataclass(frozen=True)
class _Tables:
    """Pricing tables for one dual ``q``: ``W (U, L+1)`` pair weights (last column 0),
    ``suf (U, L+2)`` with ``suf[u, l] = Σ_{l' >= l} W[u, l']``, ``single (U, n)`` the value of
    each singleton per user, ``dropped`` the q-mass left out (below 1e-13, added to bounds)."""

    W: np.ndarray
    suf: np.ndarray
    single: np.ndarray
    dropped: float


def _f(c):
    return c / (c + 1.0)


def _win_matrix(lv, w, sets):
    """``(m, n)``: WR(sets[j], y') under distinct display (the engine's evaluator)."""
    return set_win_matrix(lv, w, np.asarray(sets, dtype=np.int64), "distinct")


def _set_win_rates(lv, w, S):
    """``(n,)``: WR(S, y') for one k-set S under distinct display."""
    return policy_win_rates(lv, w, np.array([S], dtype=np.int64), np.ones(1), "distinct")


def _tables(lv, w, q, L) -> _Tables:
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
    return _Tables(W, suf, single, float(q[~keep].sum()))


def _state(lv, S):
    sl = lv[:, S]
    b = sl.min(axis=1)
    return b, (sl == b[:, None]).sum(axis=1)


def _user_values(T: _Tables, b, c):
    r = np.arange(T.W.shape[0])
    return T.suf[r, b + 1] + _f(c) * T.W[r, b]


def _price(T: _Tables, lv, S) -> float:
    b, c = _state(lv, np.asarray(S, dtype=np.int64))
    return float(_user_values(T, b, c).sum())


def _add_values(T: _Tables, lv, b, c, members):
    """Price of S ∪ {z} for every z, from S's per-user state ``(b, c)``; members get -inf."""
    cur = _user_values(T, b, c)  # (U,)
    r = np.arange(T.W.shape[0])
    plus = T.suf[r, b + 1] + _f(c + 1) * T.W[r, b] - cur
    gain = np.where(lv < b[:, None], T.single - cur[:, None],
                    np.where(lv == b[:, None], plus[:, None], 0.0))
    vals = cur.sum() + gain.sum(axis=0)
    vals[list(members)] = -np.inf
    return vals


def _enumerated_states(lv, sets, chunk=512):
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


def _pair_prices(T: _Tables, lv, L):
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


def _enumeration_prices(T: _Tables, lv, k, A_all, deadline, chunk=256):
    """``price(S)`` for every k-subset: from the stored states, or recomputed chunk by chunk
    (``A_all[1] is None``); None if the deadline passes first."""
    sets, at, c = A_all
    L = T.W.shape[1] - 1
    if at is None and k == 2 and L <= 16:
        return _pair_prices(T, lv, L)[sets[:, 0], sets[:, 1]]
    fk = _f(np.arange(k + 1, dtype=float))
    sufT = np.ascontiguousarray(T.suf.T).ravel()[lv.shape[0]:]  # row b+1 at b·U + u
    WT = np.ascontiguousarray(T.W.T).ravel()
    prices = np.empty(len(sets))
    for s0 in range(0, len(sets), chunk):
        if at is None:
            if deadline is not None and time.perf_counter() > deadline:
                return None
            a_, c_ = _enumerated_states(lv, sets[s0:s0 + chunk])
        else:
            a_, c_ = at[s0:s0 + chunk], c[s0:s0 + chunk]
        prices[s0:s0 + chunk] = (sufT[a_] + fk[c_] * WT[a_]).sum(axis=1)
    return prices


def _local_search(T: _Tables, lv, k, S, L, deadline=None):
    """Best-improvement single swaps until none improves (or the deadline passes); returns
    (sorted S, price)."""
    S = list(S)
    val = _price(T, lv, S)
    for _ in range(100):
        if deadline is not None and time.perf_counter() > deadline:
            break
        best = (val + 1e-13, None, None)
        for pos in range(k):
            rest = S[:pos] + S[pos + 1:]
            if rest:
                b, c = _state(lv, np.array(rest))
            else:
                b = np.full(lv.shape[0], L)
                c = np.zeros(lv.shape[0], dtype=np.int64)
            vals = _add_values(T, lv, b, c, [*rest, S[pos]])
            z = int(np.argmax(vals))
            if vals[z] > best[0]:
                best = (float(vals[z]), pos, z)
        if best[1] is None:
            break
        S[best[1]] = best[2]
        val = _price(T, lv, S)
    return tuple(sorted(int(s) for s in S)), val


def _submodular_bound(vals, price, k):
    """``price(S) + Σ of the k largest gains price(S ∪ {z}) − price(S)``: an upper bound on
    ``max_{|S*| = k} price(S*)`` for any S, since the price is monotone submodular (THEORY
    §9: a pair's value is 1 once S hits its better set, else the concave f(c)), so
    ``price(S*) <= price(S ∪ S*) <= price(S) + Σ_{z ∈ S*} gain(z)`` (Nemhauser et al. 1978)."""
    gains = np.clip(vals[np.isfinite(vals)] - price, 0.0, None)
    top = np.partition(gains, gains.size - k)[gains.size - k:] if gains.size > k else gains
    return price + float(top.sum())


def _heuristic(T: _Tables, lv, k, L, n_seeds, deadline=None):
    """Greedy construction from the ``n_seeds`` best singletons, then swap local search
    (later seeds skipped once the deadline passes). Returns ``({set: price}, bound)``: the local
    optima found and the smallest submodular upper bound on ``max_S price(S)`` met on the
    way (from the empty set, every greedy prefix and every local optimum)."""
    found = {}
    bound = _submodular_bound(T.single.sum(axis=0), 0.0, k)
    for seed in np.argsort(-T.single.sum(axis=0), kind="stable")[:n_seeds]:
        if found and deadline is not None and time.perf_counter() > deadline:
            break
        S = [int(seed)]
        while len(S) < k:
            b, c = _state(lv, np.array(S))
            vals = _add_values(T, lv, b, c, S)
            bound = min(bound, _submodular_bound(vals, float(_user_values(T, b, c).sum()), k))
            S.append(int(np.argmax(vals)))
        S, val = _local_search(T, lv, k, S, L, deadline)
        b, c = _state(lv, np.array(S))
        bound = min(bound, _submodular_bound(_add_values(T, lv, b, c, S), val, k))
        found[S] = val
    return found, bound + T.dropped


def _per_user_bound(T: _Tables, lv, k, L) -> float:
    """``Σ_u max_{b} [suf(b+1) + f(min(k, size_u(b))) W(b)] + dropped``: each user's best
    set on its own (a relaxation, so an upper bound on ``max_S price(S)``)."""
    U = lv.shape[0]
    size = np.bincount((np.arange(U)[:, None] * (L + 1) + lv).ravel(),
                       minlength=U * (L + 1)).reshape(U, L + 1)
    val = T.suf[:, 1:L + 1] + _f(np.minimum(k, size[:, :L])) * T.W[:, :L]
    val = np.where(size[:, :L] > 0, val, 0.0)
    return float(val.max(axis=1).sum()) + T.dropped


def _dominated(cls, k, max_work=2e8):
    """``(n,)`` bool: responses with at least k dominators, where z' dominates z when
    ``cls[p, z'] <= cls[p, z]`` for every pair p (0 better than the pair's level, 1 tied,
    2 worse; identical columns: the smaller index dominates). Swapping z for a dominator never
    lowers a pair's value, and a k-set holding z misses one of its k dominators, so some
    optimal set avoids every such z. Skipped (nothing fixed) when ``P n²`` exceeds max_work."""
    P, n = cls.shape
    out = np.zeros(n, dtype=bool)
    if P == 0 or P * n * n > max_work:
        return out
    idx = np.arange(n)
    for z in range(n):
        le = (cls <= cls[:, z:z + 1]).all(axis=0)
        eq = (cls == cls[:, z:z + 1]).all(axis=0)
        out[z] = le.sum() - 1 - (eq & (idx > z)).sum() >= k
    return out


class _Coverage:
    """The coverage part of the pricing / deterministic MIP for a list of (user, level) pairs:
    variables ``x (n)`` then per merged pair ``v`` (and ``g``, ``c`` where needed); rows as
    COO triplets. ``pair_var[i]`` is the v index of input pair i, or -1 if every k-set covers
    it (value 1)."""

    def __init__(self, lv, k, users, levels):
        _U, n = lv.shape
        self.n, self.k = n, k
        self.rows, self.cols, self.vals, self.lb, self.ub = [], [], [], [], []
        self.var_lb, self.var_ub = [0.0] * n, [1.0] * n
        self.nnz = 0
        merged = {}
        classes = []
        self.pair_var = np.full(len(users), -1, dtype=np.int64)
        for i, (u, lev) in enumerate(zip(users, levels, strict=True)):
            B = lv[u] < lev
            T = lv[u] == lev
            nB = int(B.sum())
            if nB > n - k:  # every k-set holds a response better than the pair's level
                continue
            key = (np.packbits(B).tobytes(), np.packbits(T).tobytes())
            if key not in merged:
                merged[key] = self._add_pair(B, T, nB, int(T.sum()))
                classes.append((~B).view(np.int8) + (~B & ~T).view(np.int8))
            self.pair_var[i] = merged[key]
        self.n_merged = len(merged)
        self.fixed_out = _dominated(np.array(classes, dtype=np.int8).reshape(-1, n), k)
        for z in np.nonzero(self.fixed_out)[0]:
            self.var_ub[z] = 0.0

    def _var(self, lo, hi):
        self.var_lb.append(lo)
        self.var_ub.append(hi)
        return len(self.var_lb) - 1

    def _row(self, terms, const, lo, hi):
        """``lo <= Σ coef·var + const <= hi`` with terms [(index array, coef array)]."""
        r = len(self.lb)
        for idx, coef in terms:
            idx = np.atleast_1d(idx)
            self.rows.append(np.full(idx.size, r))
            self.cols.append(idx)
            self.vals.append(np.broadcast_to(np.asarray(coef, dtype=float), idx.shape))
            self.nnz += idx.size
        self.lb.append(lo - const)
        self.ub.append(hi - const)

    def _mask_sum(self, mask, size, coef):
        """``coef·Σ_{mask} x`` as (terms, constant), through the complement when shorter."""
        if size <= self.n - size:
            return [(np.nonzero(mask)[0], coef)], 0.0
        return [(np.nonzero(~mask)[0], -coef)], coef * self.k

    def _add_pair(self, B, T, nB, nT):
        k = self.k
        cmax = min(k, nT)
        v = self._var(0.0, 1.0)
        tB, kB = self._mask_sum(B, nB, -1.0) if nB else ([], 0.0)
        if cmax == 1:  # f is linear on {0, 1}: v <= Σ_B x + ½ Σ_T x
            tT, kT = self._mask_sum(T, nT, -0.5)
            self._row([(v, 1.0), *tB, *tT], kB + kT, -np.inf, 0.0)
            return v
        c = self._var(0.0, float(cmax))
        tT, kT = self._mask_sum(T, nT, -1.0)
        self._row([(c, 1.0), *tT], kT, 0.0, 0.0)
        g = v if nB == 0 else self._var(0.0, _f(cmax))
        if nB:
            self._row([(v, 1.0), (g, -1.0), *tB], kB, -np.inf, 0.0)
        for j in range(cmax):
            d = _f(j + 1) - _f(j)
            self._row([(g, 1.0), (c, -d)], 0.0, -np.inf, _f(j) - d * j)
        return v

    def solve(self, objective, extra_rows, time_limit, rel_gap, relax=False):
        """Minimise ``objective · vars`` (padded with zeros) under the pair rows, Σx = k and
        ``extra_rows`` [(terms, lo, hi)] (taken at the first call; later calls reuse the
        model); ``relax``: the LP relaxation. Returns scipy's result."""
        if not hasattr(self, "_A"):
            for terms, lo, hi in extra_rows:
                self._row(terms, 0.0, lo, hi)
            self._row([(np.arange(self.n), 1.0)], 0.0, self.k, self.k)
            self._A = csr_matrix((np.concatenate(self.vals), (np.concatenate(self.rows),
                                                                np.concatenate(self.cols))),
                                 shape=(len(self.lb), len(self.var_lb)))
        A = self._A
        nv = A.shape[1]
        cvec = np.zeros(nv)
        cvec[:len(objective)] = objective
        integrality = np.zeros(nv)
        if not relax:
            integrality[:self.n] = 1
        options = {"disp": False, "mip_rel_gap": rel_gap}
        if time_limit is not None:
            options["time_limit"] = max(float(time_limit), 0.5)
        return milp(cvec, integrality=integrality,
                    bounds=Bounds(np.array(self.var_lb), np.array(self.var_ub)),
                    constraints=LinearConstraint(A, np.array(self.lb), np.array(self.ub)),
                    options=options)


def _mip_price(T: _Tables, lv, k, time_limit, rel_gap, max_nonzeros):
    """Exact pricing by MIP. Returns (set or None, its price, certified upper bound on
    ``max_S price(S)``, status); (None, -inf, inf, reason) when the model is too large."""
    _U, n = lv.shape
    L = T.W.shape[1] - 1
    users, levels = np.nonzero(T.W[:, :L] > 0)
    U = lv.shape[0]
    size = np.bincount((np.arange(U)[:, None] * L + lv).ravel(),
                       minlength=U * L).reshape(U, L)
    nT = size[users, levels]
    nB = (np.cumsum(size, axis=1) - size)[users, levels]
    est = int((np.minimum(nB, n - nB) + np.minimum(nT, n - nT)).sum())
    if est > max_nonzeros:
        return None, -np.inf, np.inf, "too large", np.inf
    t0 = time.perf_counter()
    model = _Coverage(lv, k, users, levels)
    weights = T.W[users, levels]
    const = float(weights[model.pair_var < 0].sum())
    obj = np.zeros(len(model.var_lb))
    np.add.at(obj, model.pair_var[model.pair_var >= 0], -weights[model.pair_var >= 0])
    # the LP relaxation first: a certified bound even if the MIP stops without one
    relax_bound = np.inf
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    if left is not None and left <= 0:  # building the model used the time left
        return None, -np.inf, np.inf, "time_limit", np.inf
    lp = model.solve(obj, [], None if left is None else max(left / 4, 0.5), rel_gap, relax=True)
    if lp.status == 0:
        relax_bound = const - float(lp.fun) + 1e-9 + T.dropped
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    res = model.solve(obj, [], left, rel_gap)
    dual = getattr(res, "mip_dual_bound", None)
    if res.x is None and res.status != 1 and (dual is None or not np.isfinite(dual)):
        raise SolverError(f"distinct pricing MIP failed: {res.message}", res.status)
    if res.status == 0 and res.x is not None:
        bound = const - float(res.fun) + abs(float(res.fun)) * rel_gap + 1e-12
        if dual is not None and np.isfinite(dual):
            bound = min(bound, const - float(dual) + 1e-12)
    elif dual is not None and np.isfinite(dual):
        bound = const - float(dual) + 1e-12
    else:
        bound = np.inf
    S = None
    price = -np.inf
    if res.x is not None:
        S = tuple(int(z) for z in np.argsort(-res.x[:n], kind="stable")[:k])
        S = tuple(sorted(S))
        price = _price(T, lv, S)
    return S, price, min(bound + T.dropped, relax_bound), res.status, relax_bound


_OPTIONS = {"gap_tol", "time_limit", "n_seeds", "max_mip_nonzeros", "tol", "max_rounds",
            "pricer"}
_PRICERS = ("auto", "enumeration", "streamed enumeration", "mip")
_ENUMERATE_CELLS = 3e7  # "auto" enumerates all k-subsets when C(n, k)·U is at most this
_STREAM_CELLS = 1e9  # ... and streams them (states recomputed per pricing) up to this
_STREAM_SETS = 3e6  # ... for at most this many subsets (k = 2 with few levels: any n <= 5000)


def _check_options(options):
    for key in options:
        if key not in _OPTIONS:
            raise ValueError(f"unknown option {key!r} for display='distinct'; expected one of "
                             f"{sorted(_OPTIONS)}")
    if options.get("pricer", "auto") not in _PRICERS:
        raise ValueError(f"pricer must be one of {_PRICERS}, got {options['pricer']!r}")
    tl = options.get("time_limit")
    if tl is not None and (isinstance(tl, bool) or not isinstance(tl, (int, float))
                           or not tl > 0):
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {tl!r}")
    for key in ("gap_tol", "tol"):
        val = options.get(key, 0.0)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not val >= 0:
            raise ValueError(f"{key} must be a non-negative number, got {val!r}")
    for key in ("n_seeds", "max_mip_nonzeros", "max_rounds"):
        val = options.get(key, 1)
        if val is None and key == "max_rounds":
            continue
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{key} must be a positive integer, got {val!r}")


def solve_kset_distinct(profile, k: int, *, randomised: bool = True, gap_tol: float = 1e-9,
                        tol: float = 1e-10, time_limit: float | None = None, n_seeds: int = 4,
                        max_mip_nonzeros: int = 4_000_000,
                        max_rounds: int | None = None, pricer: str = "auto",
                        **unknown) -> KSetResult:
    """Best distribution over k-subsets of distinct responses (``randomised``), or the best
    single k-set, with a certified ``upper_bound``.

    Args:
      profile: the population.
      k: responses shown (1 <= k <= n).
      randomised: a distribution over k-sets (column generation) or one k-set (MIP with
        constraint generation over the opponents).
      gap_tol: stop once ``upper_bound − value <= gap_tol``.
      tol: a column enters when its price exceeds the master value by more than tol.
      time_limit: seconds; the run stops with its best certified bounds (``exact = False``).
      n_seeds: greedy starts of the heuristic pricer.
      max_mip_nonzeros: skip the exact MIP when its model would be larger (the per-user bound
        then certifies).
      pricer: ``"enumeration"`` (all C(n, k) subsets priced exactly), ``"mip"`` (heuristic,
        then the MIP), ``"streamed enumeration"`` (heuristic first, then every subset priced
        chunk by chunk instead of the MIP) or ``"auto"``: enumeration when
        ``C(n, k)·U <= 3e7``, streamed when <= 1e9 with C(n, k) <= 3e6, or k = 2 with at
        most 16 levels and n <= 5000 (randomised only), else mip.

    Returns:
      ``KSetResult`` with ``display = "distinct"``; ``exact`` says the gap closed to gap_tol.

    References: shared/spec/THEORY.md §7, §9.
    """
    _check_options(unknown)
    profile = check_profile(profile)
    k = check_k(k)
    _check_options({"gap_tol": gap_tol, "tol": tol, "time_limit": time_limit,
                    "n_seeds": n_seeds, "max_mip_nonzeros": max_mip_nonzeros,
                    "max_rounds": max_rounds, "pricer": pricer})
    if not isinstance(randomised, (bool, np.bool_)):
        raise ValueError(f"randomised must be True or False, got {randomised!r}")
    n = profile.n_responses
    if k > n:
        raise ValueError(f"k must be at most the number of responses n = {n} for sets of "
                         f"distinct responses (display='distinct'), got k = {k}")
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    lv = profile.levels.astype(np.int64)
    w = np.asarray(profile.weights, dtype=float)
    L = int(lv.max()) + 1
    # a repeat-free set's mip gap is absolute up to |objective| <= 1
    rel_gap = max(gap_tol / 4.0, 1e-12)
    if pricer == "auto":
        cells = comb(n, k) * lv.shape[0]
        stream = ((k == 2 and L <= 16 and n <= 5000)
                  or (comb(n, k) <= _STREAM_SETS and cells <= _STREAM_CELLS))
        pricer = ("enumeration" if cells <= _ENUMERATE_CELLS else
                  "streamed enumeration" if stream and randomised else "mip")
    A_all = None
    if pricer in ("enumeration", "streamed enumeration"):
        all_sets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
        if not randomised:
            j = int(np.argmax(_win_matrix(lv, w, all_sets).min(axis=1)))
            return _single_set_result(lv, w, tuple(all_sets[j]), np.inf, 1, 0, t0,
                                      "enumeration", "gap", [])
        A_all = ((all_sets, *_enumerated_states(lv, all_sets)) if pricer == "enumeration"
                 else (all_sets, None, None))
    if randomised:
        return _column_generation(profile, lv, w, k, L, t0, deadline, gap_tol, tol, rel_gap,
                                  n_seeds, max_mip_nonzeros, A_all,
                                  10_000 if max_rounds is None else max_rounds)
    return _best_single_set(profile, lv, w, k, L, t0, deadline, gap_tol, rel_gap, n_seeds)


def _left(deadline):
    return None if deadline is None else deadline - time.perf_counter()


class _CGContext(NamedTuple):
    """The column-generation run's fixed inputs: the population, the tolerances and limits,
    and ``A_all`` (every k-subset with its stored states, or ``(sets, None, None)`` when
    streamed; None for the heuristic + MIP pricer)."""

    profile: Profile
    lv: np.ndarray
    w: np.ndarray
    k: int
    L: int
    t0: float
    deadline: float | None
    gap_tol: float
    tol: float
    rel_gap: float
    n_seeds: int
    max_nonzeros: int
    A_all: Any
    max_rounds: int


class _CGState(NamedTuple):
    """The column-generation loop's state between pricing steps: the columns and their win
    rows ``A``, the smallest certified upper bound and the bound that gave it, the
    ``(seconds, master value, upper bound)`` trace, the counters and the stopping status."""

    cols: tuple
    A: np.ndarray
    upper: float = np.inf
    upper_from: str | None = None
    trace: tuple[tuple[float, float, float], ...] = ()
    rounds: int = 0
    mip_calls: int = 0
    mip_seconds: float = 0.0
    status: str = "max_rounds"


def _column_generation(profile, lv, w, k, L, t0, deadline, gap_tol, tol, rel_gap, n_seeds,
                       max_nonzeros, A_all, max_rounds):
    ctx = _CGContext(profile, lv, w, k, L, t0, deadline, gap_tol, tol, rel_gap, n_seeds,
                     max_nonzeros, A_all, max_rounds)
    st = _initial_state(ctx)
    done = False
    while st.rounds < max_rounds and not done:
        x, v, q = _master(st.A)
        st, done = _cg_round(ctx, st._replace(rounds=st.rounds + 1), v, q)
    if len(x) != len(st.cols):
        x, v, q = _master(st.A)
    return _cg_result(ctx, st, x, v, q)


def _initial_state(ctx: _CGContext) -> _CGState:
    """The heuristic's local optima under the uniform opponent as the first columns."""
    n = ctx.lv.shape[1]
    T = _tables(ctx.lv, ctx.w, np.full(n, 1.0 / n), ctx.L)
    cols = tuple(_heuristic(T, ctx.lv, ctx.k, ctx.L, ctx.n_seeds, ctx.deadline)[0])
    return _CGState(cols=cols, A=_win_matrix(ctx.lv, ctx.w, np.array(cols)))


def _lower_upper(st: _CGState, bound, source) -> _CGState:
    """``st`` with ``bound`` as its upper bound (from ``source``) when it is smaller."""
    if bound < st.upper:
        return st._replace(upper=bound, upper_from=source)
    return st


def _add_columns(ctx: _CGContext, st: _CGState, new) -> _CGState:
    return st._replace(cols=st.cols + tuple(new),
                       A=np.vstack([st.A, _win_matrix(ctx.lv, ctx.w, np.array(new))]))


def _gap_or(ctx: _CGContext, st: _CGState, v, otherwise) -> str:
    """The stopping status once pricing found no column: ``"gap"`` if the certified gap is
    closed to gap_tol, else ``otherwise``."""
    return "gap" if st.upper - v <= ctx.gap_tol else otherwise


def _out_of_time(deadline) -> bool:
    left = _left(deadline)
    return left is not None and left <= 0


def _cg_round(ctx: _CGContext, st: _CGState, v, q):
    """One pricing round against the master's dual ``q``; returns ``(state, stop)``."""
    T = _tables(ctx.lv, ctx.w, q, ctx.L)
    st = _lower_upper(st, _per_user_bound(T, ctx.lv, ctx.k, ctx.L), "per-user")
    st = st._replace(trace=(*st.trace, (time.perf_counter() - ctx.t0, v, st.upper)))
    A_all = ctx.A_all
    if A_all is not None and (A_all[1] is not None or (ctx.k == 2 and ctx.L <= 16)):
        # exact pricing of every k-subset (stored states, or pairs by matrix products)
        prices = _enumeration_prices(T, ctx.lv, ctx.k, A_all, None)
        return _enumeration_step(ctx, st, T, v, prices)
    return _heuristic_then_exact(ctx, st, T, v)


def _enumeration_step(ctx: _CGContext, st: _CGState, T: _Tables, v, prices):
    """The best enumerated subset bounds the optimum and enters if it improves."""
    j = int(np.argmax(prices))
    if prices[j] + T.dropped < st.upper:
        st = st._replace(upper=float(prices[j]) + T.dropped, upper_from="enumeration")
    S = tuple(int(z) for z in ctx.A_all[0][j])
    if prices[j] > v + ctx.tol and S not in set(st.cols):
        return _add_columns(ctx, st, [S]), False
    return st._replace(status=_gap_or(ctx, st, v, "enumeration stopped")), True


def _heuristic_then_exact(ctx: _CGContext, st: _CGState, T: _Tables, v):
    """Heuristic pricing; when it finds no improving column, the exact pricer decides
    (streamed enumeration or the MIP)."""
    found, sub = _heuristic(T, ctx.lv, ctx.k, ctx.L, ctx.n_seeds, ctx.deadline)
    st = _lower_upper(st, sub, "submodular")
    known = set(st.cols)
    new = [S for S, p in found.items() if p > v + ctx.tol and S not in known]
    if new:
        st = _add_columns(ctx, st, new)._replace(status="running")
        if _out_of_time(ctx.deadline):
            return st._replace(status="time_limit"), True
        return st, False
    if st.upper - v <= ctx.gap_tol:
        return st._replace(status="gap"), True
    left = _left(ctx.deadline)
    if left is not None and left <= 0:
        return st._replace(status="time_limit"), True
    if ctx.A_all is not None:
        return _streamed_step(ctx, st, T, v)
    return _mip_step(ctx, st, T, v, left)


def _streamed_step(ctx: _CGContext, st: _CGState, T: _Tables, v):
    """Exact pricing by streamed enumeration (no MIP); stops at the deadline."""
    tm = time.perf_counter()
    prices = _enumeration_prices(T, ctx.lv, ctx.k, ctx.A_all, ctx.deadline)
    st = st._replace(mip_seconds=st.mip_seconds + (time.perf_counter() - tm))
    if prices is None:
        return st._replace(status="time_limit"), True
    return _enumeration_step(ctx, st, T, v, prices)


def _mip_step(ctx: _CGContext, st: _CGState, T: _Tables, v, left):
    """Exact pricing by the MIP, its bound (or its LP relaxation's) certifying."""
    tm = time.perf_counter()
    S, price, bound, mip_status, relax_bound = _mip_price(T, ctx.lv, ctx.k, left, ctx.rel_gap,
                                                          ctx.max_nonzeros)
    st = st._replace(mip_calls=st.mip_calls + 1,
                     mip_seconds=st.mip_seconds + (time.perf_counter() - tm))
    st = _lower_upper(st, bound, "mip" if bound < relax_bound else "mip LP relaxation")
    st = st._replace(trace=(*st.trace[:-1], (time.perf_counter() - ctx.t0, v, st.upper)))
    if S is not None and price > v + ctx.tol and S not in set(st.cols):
        return _add_columns(ctx, st, [S]), False
    otherwise = "mip too large" if mip_status == "too large" else "mip stopped"
    return st._replace(status=_gap_or(ctx, st, v, otherwise)), True


def _pricer_name(A_all) -> str:
    if A_all is None:
        return "heuristic+mip"
    return "enumeration" if A_all[1] is not None else "heuristic+streamed enumeration"


def _cg_result(ctx: _CGContext, st: _CGState, x, v, q) -> KSetResult:
    """The final policy (its support renormalised), re-evaluated independently."""
    keep = x > 1e-13
    sets = np.array(st.cols, dtype=np.int64)[keep]
    probs = x[keep] / x[keep].sum()
    robust = robust_set_win_rate(ctx.profile, sets, probs, display="distinct")
    value = robust.value
    upper = max(float(st.upper), value)
    return KSetResult(sets=sets, probs=probs, value=value, opponent=q, upper_bound=upper,
                      exact=upper - value <= ctx.gap_tol, pricer=_pricer_name(ctx.A_all),
                      iterations=st.rounds, columns=len(st.cols), display="distinct",
                      worst_response=robust.worst, converged=upper - value <= ctx.gap_tol,
                      seconds=time.perf_counter() - ctx.t0,
                      diagnostics=DistinctKSetDiagnostics(
                          status=st.status, upper_bound_from=st.upper_from,
                          mip_calls=st.mip_calls, mip_seconds=st.mip_seconds,
                          master_value=float(v),
                          trace=tuple((float(t), float(m), float(u)) for t, m, u in st.trace)))


def _best_single_set(profile, lv, w, k, L, t0, deadline, gap_tol, rel_gap, n_seeds):
    """max θ s.t. θ <= WR(S, y') for y' in an active set Y, grown by the worst opponent of
    each MIP solution; the MIP's bound over Y bounds the optimum over all y'."""
    U, n = lv.shape
    T = _tables(lv, w, np.full(n, 1.0 / n), L)
    found = _heuristic(T, lv, k, L, n_seeds, deadline)[0]
    best_set, best = None, -np.inf
    for S in found:
        wr = _set_win_rates(lv, w, S)
        if wr.min() > best:
            best_set, best = S, float(wr.min())
    wr = _set_win_rates(lv, w, best_set)
    Y = [int(np.argmin(wr))]
    upper = np.inf
    rounds = 0
    status = "gap"
    while upper - best > gap_tol:
        rounds += 1
        left = _left(deadline)
        if left is not None and left <= 0:
            status = "time_limit"
            break
        users = np.repeat(np.arange(U), len(Y))
        levels = lv[:, Y].ravel()
        model = _Coverage(lv, k, users, levels)
        theta = len(model.var_lb)
        model.var_lb.append(0.0)
        model.var_ub.append(1.0)
        pv = model.pair_var.reshape(U, len(Y))
        wts = np.broadcast_to(w[:, None], (U, len(Y)))
        rows = []
        for j in range(len(Y)):
            sel = pv[:, j] >= 0
            const = float(wts[~sel, j].sum())
            # θ − Σ_u w_u v_(u, level_u(y')) <= const
            rows.append(([(theta, 1.0), (pv[sel, j], -wts[sel, j])], -np.inf, const))
        obj = np.zeros(theta + 1)
        obj[theta] = -1.0
        res = model.solve(obj, rows, left, rel_gap)
        dual = getattr(res, "mip_dual_bound", None)
        if res.x is None and (dual is None or not np.isfinite(dual)):
            raise SolverError(f"best k-set MIP failed: {res.message}", res.status)
        if dual is not None and np.isfinite(dual):
            upper = min(upper, -float(dual) + 1e-12)
        elif res.status == 0:
            upper = min(upper, -float(res.fun) + abs(float(res.fun)) * rel_gap + 1e-12)
        if res.x is None:
            status = "time_limit"
            break
        S = tuple(sorted(int(z) for z in np.argsort(-res.x[:n], kind="stable")[:k]))
        wr = _set_win_rates(lv, w, S)
        if wr.min() > best:
            best_set, best = S, float(wr.min())
        worst = int(np.argmin(wr))
        if worst in Y:
            # S is optimal over Y (up to the MIP gap) and its worst opponent is in Y, so its
            # value is the MIP's optimum: the gap is closed up to the MIP's own tolerance
            status = "gap" if res.status == 0 else "time_limit"
            break
        Y.append(worst)
    return _single_set_result(lv, w, best_set, upper, rounds, len(Y), t0, "mip", status,
                              sorted(Y), gap_tol)


def _single_set_result(lv, w, S, upper, rounds, columns, t0, pricer, status, active,
                       gap_tol=0.0):
    wr = _set_win_rates(lv, w, S)
    value = float(wr.min())
    opponent = np.zeros(lv.shape[1])
    opponent[int(np.argmin(wr))] = 1.0
    upper = value if pricer == "enumeration" else max(float(upper), value)
    return KSetResult(sets=np.array([S], dtype=np.int64), probs=np.ones(1),
                      value=value, opponent=opponent, upper_bound=upper,
                      exact=upper - value <= gap_tol, pricer=pricer,
                      iterations=rounds, columns=columns, display="distinct",
                      worst_response=int(np.argmin(wr)), converged=upper - value <= gap_tol,
                      seconds=time.perf_counter() - t0,
                      diagnostics=DistinctKSetDiagnostics(
                          status=status, active_opponents=tuple(int(a) for a in active)))
