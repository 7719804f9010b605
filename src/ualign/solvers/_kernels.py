"""Compiled kernels for the solvers: sub-profiles, payoffs with their Jacobian, k-set coverage.

Per user and level class (mass ``t`` in the class, y included; mass ``a`` strictly worse)

    f(a, t) = ∫_0^1 (a + s t)^k ds,   ∂f/∂a = k ∫ (a + s t)^(k-1) ds,
    ∂f/∂t = k ∫ s (a + s t)^(k-1) ds,

each a polynomial of degree <= k in s, integrated exactly by ``q = k//2 + 1`` Gauss-Legendre
nodes (sums of non-negative terms: no cancellation). ``dL_u(y)/dπ(z)`` is ``∂f/∂a`` when the user
ranks z strictly below y, ``∂f/∂t`` when z is tied with y (z = y included), 0 otherwise.

References: shared/spec/THEORY.md §3-4.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import roots_legendre


def gauss_nodes(k: int):
    """Nodes and weights on [0, 1] exact for polynomials of degree <= k."""
    x, w = roots_legendre(k // 2 + 1)
    return (x + 1.0) / 2.0, w / 2.0


@numba.njit(cache=True)
def _ipow(x, e):
    r = 1.0
    while e > 0:
        if e & 1:
            r *= x
        x *= x
        e >>= 1
    return r


@numba.njit(cache=True, parallel=True)
def suborder(order, pos, m):
    """Restrict encoded orders (see ``Profile._sorted_orders``) to the responses with
    ``pos[y] >= 0``, renumbered ``pos[y]`` in ``0..m-1``. Ties are kept: a kept response opens
    a new class unless a kept response of the same class came before it. ``(U, m)`` int32."""
    U, n = order.shape
    out = np.empty((U, m), dtype=np.int32)
    for u in numba.prange(U):
        row = order[u]
        j = 0
        open_class = False  # a kept response already sits in the current class
        for q in range(n):
            e = row[q]
            if e >= 0:
                y = e
                open_class = False
            else:
                y = -e - 1
            p = pos[y]
            if p >= 0:
                out[u, j] = -p - 1 if open_class else p
                open_class = True
                j += 1
    return out


@numba.njit(cache=True, parallel=True)
def class_terms(order, weights, pi, k, nodes, wq):
    """Pass 1 of the Jacobian: per user and (sub-)response, the dense level ``lev (U, m)`` and
    ``w_u f, w_u ∂f/∂a, w_u ∂f/∂t`` at that response's class, each ``(U, m)``. O(U m)."""
    U, m = order.shape
    nq = nodes.shape[0]
    lev = np.empty((U, m), dtype=np.int32)
    F = np.empty((U, m))
    FA = np.empty((U, m))
    FT = np.empty((U, m))
    for u in numba.prange(U):
        w = weights[u]
        row = order[u]
        ncls = 0
        for q in range(m):
            if row[q] >= 0:
                ncls += 1
        c = ncls
        worse = 0.0
        j = m - 1
        while j >= 0:
            s = j
            t = 0.0
            while True:
                e = row[s]
                if e >= 0:
                    t += pi[e]
                    break
                t += pi[-e - 1]
                s -= 1
            c -= 1
            f = 0.0
            fa = 0.0
            ft = 0.0
            for i in range(nq):
                x = worse + nodes[i] * t
                p = _ipow(x, k - 1)
                f += wq[i] * x * p
                fa += wq[i] * p
                ft += wq[i] * nodes[i] * p
            for q in range(s, j + 1):
                e = row[q]
                y = e if e >= 0 else -e - 1
                lev[u, y] = c
                F[u, y] = w * f
                FA[u, y] = w * k * fa
                FT[u, y] = w * k * ft
            worse += t
            j = s - 1
    return lev, F, FA, FT


@numba.njit(cache=True, parallel=True)
def jacobian_from_terms(lev, FA, FT, block):
    """Pass 2: ``J[y, z] = Σ_u FA[u,y] [lev[u,z] > lev[u,y]] + FT[u,y] [lev[u,z] = lev[u,y]]``.

    Rows are processed in blocks of ``block`` (parallel over blocks) so each user's level row is
    read once per block; the inner loop over z is a branch-free vector select. O(U m^2)."""
    U, m = lev.shape
    J = np.zeros((m, m), dtype=FA.dtype)
    zero = FA.dtype.type(0.0)
    nb = (m + block - 1) // block
    for b in numba.prange(nb):
        lo = b * block
        hi = min(m, lo + block)
        for u in range(U):
            lr = lev[u]
            for y in range(lo, hi):
                ly = lr[y]
                fa = FA[u, y]
                ft = FT[u, y]
                Jy = J[y]
                for z in range(m):
                    lz = lr[z]
                    Jy[z] += fa if lz > ly else (ft if lz == ly else zero)
    return J


def payoff_jacobian(order, weights, pi, k, nodes, wq):
    """``L (m,)`` and ``J (m, m)`` with ``J[y, z] = dL(π, y)/dπ(z)`` on an encoded order
    ``(U, m)``; O(U m^2)."""
    lev, F, FA, FT = class_terms(order, weights, pi, k, nodes, wq)
    J = jacobian_from_terms(lev.astype(np.int16), FA.astype(np.float32), FT.astype(np.float32), 16)
    return F.sum(axis=0), J.astype(np.float64)
