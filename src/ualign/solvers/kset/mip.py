"""The exact pricer of distinct k-sets: a mixed-integer program (SciPy ``milp``, HiGHS).

For pricing tables ``W`` (``solvers.kset.coverage``) the best k-subset solves

    max Σ_p W_p v_p   s.t.  Σ_z x_z = k,  x binary,  0 <= v_p <= 1,
                            v_p <= Σ_{z ∈ B_p} x_z + g_p,   c_p = Σ_{z ∈ T_p} x_z,
                            g_p <= f(j) + (f(j+1) − f(j)) (c_p − j),  j = 0..min(k, |T_p|) − 1,

with ``B_p`` / ``T_p`` the responses strictly better than / tied with the pair's level and
``f(c) = c/(c+1)`` (its chords at consecutive integers are its concave envelope). Sums over a
mask holding more than half the responses are written through the complement (``Σ_B x = k −
Σ_{not B} x``); identical (B, T) pairs of different users are merged; pairs that every k-set
covers are constants; a response with at least k others at least as good for every pair is
fixed out. The same coverage model with one row per opponent gives the best single k-set
(``solvers.kset.single``).

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from ualign.solvers.kset.coverage import Tables, f, price
from ualign.solvers.result import SolverError

__all__ = ["Coverage", "MIPPrice", "dominated", "mip_price"]


def dominated(cls, k, max_work=2e8):
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


class Coverage:
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
        self.fixed_out = dominated(np.array(classes, dtype=np.int8).reshape(-1, n), k)
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
        g = v if nB == 0 else self._var(0.0, f(cmax))
        if nB:
            self._row([(v, 1.0), (g, -1.0), *tB], kB, -np.inf, 0.0)
        for j in range(cmax):
            d = f(j + 1) - f(j)
            self._row([(g, 1.0), (c, -d)], 0.0, -np.inf, f(j) - d * j)
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



class MIPPrice(NamedTuple):
    """One exact pricing by MIP: the best set found (None if none) and its price, a certified
    upper bound on ``max_S price(S)`` (its dual bound, capped by the LP relaxation's), HiGHS's
    status (or ``"too large"`` / ``"time_limit"`` when the MIP was not solved) and the LP
    relaxation's bound alone."""

    set: tuple[int, ...] | None
    price: float
    bound: float
    status: object
    relax_bound: float


_NOT_SOLVED = (None, -np.inf, np.inf)


def _estimated_nonzeros(T: Tables, lv, k) -> tuple[np.ndarray, np.ndarray, int]:
    """The (user, level) pairs with weight and the model's estimated nonzeros."""
    U, n = lv.shape
    L = T.W.shape[1] - 1
    users, levels = np.nonzero(T.W[:, :L] > 0)
    size = np.bincount((np.arange(U)[:, None] * L + lv).ravel(),
                       minlength=U * L).reshape(U, L)
    nT = size[users, levels]
    nB = (np.cumsum(size, axis=1) - size)[users, levels]
    return users, levels, int((np.minimum(nB, n - nB) + np.minimum(nT, n - nT)).sum())


def _dual_bound(res, const, rel_gap) -> float:
    """The MIP's certified bound on ``max Σ W v`` (it minimises the negation)."""
    raw = getattr(res, "mip_dual_bound", None)
    dual = np.nan if raw is None else float(raw)
    finite = bool(np.isfinite(dual))
    if res.x is None and res.status != 1 and not finite:
        raise SolverError(f"distinct pricing MIP failed: {res.message}", res.status)
    if res.status == 0 and res.x is not None:
        bound = const - float(res.fun) + abs(float(res.fun)) * rel_gap + 1e-12
        return min(bound, const - float(dual) + 1e-12) if finite else bound
    return const - float(dual) + 1e-12 if finite else np.inf


def mip_price(T: Tables, lv, k, time_limit, rel_gap, max_nonzeros) -> MIPPrice:
    """Exact pricing by MIP (its LP relaxation first: a certified bound even if the MIP stops
    without one); not solved (status ``"too large"``) when the estimated model exceeds
    ``max_nonzeros``."""
    n = lv.shape[1]
    users, levels, est = _estimated_nonzeros(T, lv, k)
    if est > max_nonzeros:
        return MIPPrice(*_NOT_SOLVED, "too large", np.inf)
    t0 = time.perf_counter()
    model = Coverage(lv, k, users, levels)
    weights = T.W[users, levels]
    const = float(weights[model.pair_var < 0].sum())
    obj = np.zeros(len(model.var_lb))
    np.add.at(obj, model.pair_var[model.pair_var >= 0], -weights[model.pair_var >= 0])
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    if left is not None and left <= 0:  # building the model used the time left
        return MIPPrice(*_NOT_SOLVED, "time_limit", np.inf)
    relax_bound = np.inf
    lp = model.solve(obj, [], None if left is None else max(left / 4, 0.5), rel_gap, relax=True)
    if lp.status == 0:
        relax_bound = const - float(lp.fun) + 1e-9 + T.dropped
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    res = model.solve(obj, [], left, rel_gap)
    bound = _dual_bound(res, const, rel_gap)
    S, value = None, -np.inf
    if res.x is not None:
        S = tuple(sorted(int(z) for z in np.argsort(-res.x[:n], kind="stable")[:k]))
        value = price(T, lv, S)
    return MIPPrice(S, value, min(bound + T.dropped, relax_bound), res.status, relax_bound)
