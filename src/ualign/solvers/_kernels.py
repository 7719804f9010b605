"""Compiled kernels for the solvers: restricted (sub-)profiles and the payoff Jacobian.

Per user and level class (mass ``t`` in the class, y included; mass ``a`` strictly worse)

    f(a, t) = ∫_0^1 (a + s t)^k ds,   ∂f/∂a = k ∫ (a + s t)^(k-1) ds,
    ∂f/∂t = k ∫ s (a + s t)^(k-1) ds,

each a polynomial of degree <= k in s, integrated exactly by ``q = k//2 + 1`` Gauss-Legendre
nodes (sums of non-negative terms: no cancellation). ``dL_u(y)/dπ(z)`` is ``∂f/∂a`` when the user
ranks z strictly below y, ``∂f/∂t`` when z is tied with y (z = y included), 0 otherwise.

A restricted game keeps the dense levels of the candidate responses only, ``(U, m)``, in the
profile's level dtype; the Jacobian is accumulated over blocks of users, so beyond those levels
it needs O(block · m + m²) memory, never a ``(U, m)`` float array.

References: shared/spec/THEORY.md §3-4.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.special import roots_legendre

from ualign.core._kernels import divided_powers, n_classes, top_bit

JACOBIAN_BLOCK_BYTES = 1 << 25  # the per-block ∂f/∂a, ∂f/∂t arrays (float32) of payoff_jacobian


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
def restrict_levels(levels, C, out, nchunks):
    """``out[u, i]`` = dense level (0 = favourite) of response ``C[i]`` among the responses ``C``
    for user u: the profile restricted to ``C``, ties kept. ``out`` ``(U, m)`` is written."""
    U = levels.shape[0]
    m = C.shape[0]
    nchunks = max(1, min(nchunks, U))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        vals = np.empty(m, dtype=np.int64)
        for u in range(c * size, min(U, c * size + size)):
            row = levels[u]
            for i in range(m):
                vals[i] = row[C[i]]
            order = np.argsort(vals)
            r = -1
            prev = -1
            for j in range(m):
                i = order[j]
                if vals[i] != prev:
                    r += 1
                    prev = vals[i]
                out[u, i] = r


@numba.njit(cache=True, inline="always")
def class_derivatives(a, t, k, topk):
    """``(f, ∂f/∂a, ∂f/∂t)`` at one class, ``f(a, t) = ∫_0^1 (a + s t)^k ds``: by the binary
    powering of ``core._kernels.divided_powers`` for ``E_k`` and ``a^k`` (``∂f/∂a = E_k``,
    ``f = ((a+t) E_k + a^k) / (k+1)``), and ``∂f/∂t = (k f - a ∂f/∂a) / t`` (f is homogeneous
    of degree k) while ``t >= 1e-6 a`` (it loses at most ~6 of 16 digits there; the Jacobian is
    float32), else the expansion ``k a^(k-1) (1/2 + (k-1) t / (3a))`` (error O((k t/a)²)).
    About 25 flops where Gauss-Legendre took ~9 nodes x a power each."""
    E, p = divided_powers(a, t, k, topk)
    f = ((a + t) * E + p) / (k + 1)
    if t > 0.0 and t >= 1e-6 * a:
        ft = (k * f - a * E) / t
    else:
        ft = k * _ipow(a, k - 1) * (0.5 + (k - 1) * (t / a if a > 0.0 else 0.0) / 3.0)
    return f, E, ft


@numba.njit(cache=True, parallel=True)
def class_terms(lev, weights, pi, k, nodes, wq, FA, FT, nchunks):
    """Pass 1 of the Jacobian: per user and (sub-)response ``w_u ∂f/∂a``, ``w_u ∂f/∂t`` at that
    response's class (float32, written into ``FA``, ``FT``; ``class_derivatives``); returns
    ``L (m,)``. O(U m). (``nodes``, ``wq``: unused, kept for the callers' signature.)"""
    U, m = lev.shape
    topk = top_bit(k)
    nchunks = max(1, min(nchunks, U))
    accL = np.zeros((nchunks, m))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        Lc = accL[c]
        tm = np.zeros(m)
        cf = np.empty(m)
        cfa = np.empty(m)
        cft = np.empty(m)
        for u in range(lo, hi):
            w = weights[u]
            row = lev[u]
            nl = n_classes(row)
            for y in range(m):
                tm[row[y]] += pi[y]
            worse = 0.0
            for l in range(nl - 1, -1, -1):
                t = tm[l]
                f, fa, ft = class_derivatives(worse, t, k, topk)
                cf[l] = f * w
                cfa[l] = fa * w
                cft[l] = ft * w
                worse += t
                tm[l] = 0.0
            for y in range(m):
                l = row[y]
                Lc[y] += cf[l]
                FA[u, y] = cfa[l]
                FT[u, y] = cft[l]
    L = np.zeros(m)
    for c in range(nchunks):
        L += accL[c]
    return L


@numba.njit(cache=True, parallel=True)
def jacobian_add(lev, FA, FT, J, block):
    """Pass 2: ``J[y, z] += Σ_u FA[u,y] [lev[u,z] > lev[u,y]] + FT[u,y] [lev[u,z] = lev[u,y]]``:
    levels count from the favourite 0, so ``lev[u,z] > lev[u,y]`` is "u ranks z strictly below
    y" (``∂f/∂a``) and equality is "tied with y" (``∂f/∂t``).

    Rows are processed in blocks of ``block`` (parallel over blocks) so each user's level row is
    read once per block; the inner loop over z is a branch-free vector select. O(U m^2)."""
    U, m = lev.shape
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


def payoff_jacobian(lev, weights, pi, k, nodes, wq):
    """``L (m,)`` and ``J (m, m)`` with ``J[y, z] = dL(π, y)/dπ(z)`` on dense levels ``(U, m)``;
    O(U m^2) time. The users are taken in blocks whose float32 ``∂f/∂a``, ``∂f/∂t`` arrays stay
    under ``JACOBIAN_BLOCK_BYTES``; J is accumulated in float32 and returned as float64."""
    U, m = lev.shape
    rows = max(1, min(U, JACOBIAN_BLOCK_BYTES // (8 * m)))
    FA = np.empty((rows, m), np.float32)
    FT = np.empty((rows, m), np.float32)
    J = np.zeros((m, m), np.float32)
    L = np.zeros(m)
    nchunks = 4 * numba.get_num_threads()
    for s in range(0, U, rows):
        e = min(U, s + rows)
        L += class_terms(lev[s:e], weights[s:e], pi, k, nodes, wq, FA[:e - s], FT[:e - s],
                         nchunks)
        jacobian_add(lev[s:e], FA[:e - s], FT[:e - s], J, 16)
    return L, J.astype(np.float64)


# ---------------------------------------------------------------------------- Bradley-Terry
@numba.njit(cache=True, parallel=True)
def bradley_terry_terms(r, W, WT, N, ridge, A, want_f):
    """One pass over the comparisons at rewards ``r``: the log-likelihood
    ``f = Σ_{y≠z} W[y,z] log σ(r_y - r_z) - (ridge/2)‖r‖²``, its gradient
    ``g_y = Σ_z W[y,z] σ(r_z - r_y) - W[z,y] σ(r_y - r_z) - ridge r_y``, and the Hessian's
    weights ``A[y,z] = (W + Wᵀ)[y,z] σ(1-σ)`` (written into ``A``) with their row sums plus
    ridge (``diag``). ``σ`` and ``log σ`` from one ``exp`` per entry, in the form that does not
    overflow; row sums compensated (Neumaier), so the gradient is accurate to about one ulp of
    its terms' size however many responses there are. Returns ``(f, g, diag)`` (f is NaN unless
    ``want_f``: it costs a logarithm per entry); parallel over rows."""
    n = r.shape[0]
    g = np.empty(n)
    diag = np.empty(n)
    frow = np.empty(n)
    for y in numba.prange(n):
        gs = 0.0
        gc = 0.0
        fs = 0.0
        fc = 0.0
        dsum = 0.0
        Ay = A[y]
        for z in range(n):
            if z == y:
                Ay[z] = 0.0
                continue
            x = r[y] - r[z]
            if x >= 0.0:
                e = np.exp(-x)
                s = 1.0 / (1.0 + e)      # σ(x)
                sm = e * s               # σ(-x) = 1 - σ(x)
            else:
                e = np.exp(x)
                sm = 1.0 / (1.0 + e)
                s = e * sm
            term = W[y, z] * sm - WT[y, z] * s
            t = gs + term
            gc += (gs - t) + term if abs(gs) >= abs(term) else (term - t) + gs
            gs = t
            if want_f and W[y, z] > 0.0:
                ls = -np.log1p(e) if x >= 0.0 else x - np.log1p(e)  # log σ(x)
                term = W[y, z] * ls
                t = fs + term
                fc += (fs - t) + term if abs(fs) >= abs(term) else (term - t) + fs
                fs = t
            a = N[y, z] * s * sm
            Ay[z] = a
            dsum += a
        g[y] = (gs + gc) - ridge * r[y]
        diag[y] = dsum + ridge
        frow[y] = fs + fc
    if not want_f:
        return np.nan, g, diag
    f = 0.0
    c = 0.0
    for y in range(n):
        t = f + frow[y]
        c += (f - t) + frow[y] if abs(f) >= abs(frow[y]) else (frow[y] - t) + f
        f = t
    return f + c - 0.5 * ridge * (r @ r), g, diag
