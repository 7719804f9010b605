"""Compiled kernels for the solvers: restricted (sub-)profiles and the payoff Jacobian.

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

from ualign.core._kernels import class_start, decode


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
def class_terms(order, weights, pi, k, nodes, wq, lev, FA, FT, nchunks):
    """Pass 1 of the Jacobian: per user and (sub-)response, the dense level ``lev (U, m)``
    (int16, worst class 0) and ``w_u ∂f/∂a``, ``w_u ∂f/∂t`` at that response's class
    (float32, written into the given buffers); returns ``L (m,)``. O(U m)."""
    U, m = order.shape
    nq = nodes.shape[0]
    nchunks = max(1, min(nchunks, U))
    accL = np.zeros((nchunks, m))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        Lc = accL[c]
        for u in range(lo, hi):
            w = weights[u]
            row = order[u]
            cls = 0
            worse = 0.0
            j = m - 1
            while j >= 0:
                s, t = class_start(row, pi, j)
                f = 0.0
                fa = 0.0
                ft = 0.0
                for i in range(nq):
                    x = worse + nodes[i] * t
                    p = _ipow(x, k - 1)
                    f += wq[i] * x * p
                    fa += wq[i] * p
                    ft += wq[i] * nodes[i] * p
                f *= w
                fa *= w * k
                ft *= w * k
                for q in range(s, j + 1):
                    y = decode(row[q])
                    lev[u, y] = cls
                    Lc[y] += f
                    FA[u, y] = fa
                    FT[u, y] = ft
                cls += 1
                worse += t
                j = s - 1
    L = np.zeros(m)
    for c in range(nchunks):
        L += accL[c]
    return L


@numba.njit(cache=True, parallel=True)
def jacobian_from_terms(lev, FA, FT, block):
    """Pass 2: ``J[y, z] = Σ_u FA[u,y] [lev[u,z] < lev[u,y]] + FT[u,y] [lev[u,z] = lev[u,y]]``:
    levels count up from the user's worst class 0, so ``lev[u,z] < lev[u,y]`` is "u ranks z
    strictly below y" (``∂f/∂a``) and equality is "tied with y" (``∂f/∂t``).

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
                    Jy[z] += fa if lz < ly else (ft if lz == ly else zero)
    return J


def payoff_jacobian(order, weights, pi, k, nodes, wq, buffers=None):
    """``L (m,)`` and ``J (m, m)`` with ``J[y, z] = dL(π, y)/dπ(z)`` on an encoded order
    ``(U, m)``; O(U m^2). ``buffers``: optional (lev int16, FA, FT float32) of shape (U, m)."""
    U, m = order.shape
    if buffers is None:
        buffers = (np.empty((U, m), np.int16), np.empty((U, m), np.float32),
                   np.empty((U, m), np.float32))
    lev, FA, FT = buffers
    L = class_terms(order, weights, pi, k, nodes, wq, lev, FA, FT, 4 * numba.get_num_threads())
    J = jacobian_from_terms(lev, FA, FT, 16)
    return L, J.astype(np.float64)
