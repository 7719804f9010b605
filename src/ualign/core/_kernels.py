"""Compiled kernels for the deviation payoff ``L(π, y)`` (THEORY.md §3).

Per user and level class with mass ``t`` (the class, y included) and mass ``a`` strictly worse,

    L = ∫_0^1 (a + s t)^k ds = Σ_{m=0}^{k} C(k,m) t^m a^(k-m) / (m+1)
      = ((a+t)^(k+1) - a^(k+1)) / ((k+1) t).

``class_payoff`` evaluates it with no cancellation, no division by ``t`` and no libm call: with
``p_N = a^N`` and ``E_N = ((a+t)^N - a^N) / t = Σ_{j<N} (a+t)^j a^(N-1-j)`` (so that
``L = E_{k+1} / (k+1)``), binary powering runs

    E_{2N} = E_N (t E_N + 2 p_N),  p_{2N} = p_N^2,
    E_{N+1} = (a+t) E_N + p_N,     p_{N+1} = a p_N,      E_1 = 1, p_1 = a,

sums and products of non-negative numbers only. The relative error stays O(log k) ulps however
small ``t/a`` is (the difference form cancels there; THEORY.md §3 suggests ``expm1/log1p``,
which costs two transcendental calls per entry), ``t = 0`` needs no special case
(``E_N = N a^(N-1)``, so ``L = a^k``), and nothing underflows unless ``L`` itself does.

``payoffs_kernel`` sweeps each user's precomputed order once (worst class to best), so one
evaluation costs O(U n) and reads the ``(U, n)`` order array once, in parallel over users.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def decode(e):
    """Response of an encoded order entry (``~y`` marks "tied with the previous entry")."""
    return e if e >= 0 else -e - 1


@numba.njit(cache=True)
def class_start(row, pi, j):
    """Start ``s`` of the level class that ends at position ``j`` of an encoded order ``row``,
    and its mass ``t = Σ_{q=s..j} pi[decode(row[q])]``: the class starts at the first untied
    entry at or before ``j``."""
    s = j
    t = 0.0
    while True:
        e = row[s]
        t += pi[decode(e)]
        if e >= 0:
            return s, t
        s -= 1


@numba.njit(cache=True, inline="always")
def top_bit(e):
    top = 1
    while top * 2 <= e:
        top *= 2
    return top


@numba.njit(cache=True, inline="always")
def class_payoff(a, t, k, top):
    """L for one level class: mass ``t`` tied (y included), mass ``a`` strictly worse.
    ``top`` is ``top_bit(k + 1)``, the highest power of two <= k+1."""
    e = k + 1
    s = a + t
    E = 1.0  # E_1
    p = a  # p_1
    top //= 2
    while top > 0:
        E = E * (t * E + 2.0 * p)
        p = p * p
        if e & top:
            E = s * E + p
            p = a * p
        top //= 2
    return E / e


def _payoffs(order, weights, policies, k, nchunks):
    """``out[b, y] = Σ_u weights[u] L_u(policies[b], y)``.

    order: (U, n) encoded per-user orders (see ``Profile._sorted_orders``).
    weights: (U,); policies: (B, n) on the simplex; returns (B, n).
    nchunks: number of user blocks handed to threads (each keeps its own accumulator).
    """
    U, n = order.shape
    B = policies.shape[0]
    top = top_bit(k + 1)
    nchunks = max(1, min(nchunks, U))
    acc = np.zeros((nchunks, B, n))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        for u in range(lo, hi):
            w = weights[u]
            row = order[u]
            for b in range(B):
                pi = policies[b]
                out = acc[c, b]
                worse = 0.0
                j = n - 1
                while j >= 0:
                    e = row[j]
                    if e >= 0:  # a class of one (every class, for strict orders)
                        t = pi[e]
                        out[e] += w * class_payoff(worse, t, k, top)
                        worse += t
                        j -= 1
                        continue
                    s, t = class_start(row, pi, j)
                    val = w * class_payoff(worse, t, k, top)
                    for q in range(s, j + 1):
                        out[decode(row[q])] += val
                    worse += t
                    j = s - 1
    res = np.zeros((B, n))
    for c in range(nchunks):
        res += acc[c]
    return res


# The same sweep compiled twice: threads pay off on large profiles, while on small ones
# (a few thousand entries) starting them costs more than the work, above all on a busy machine.
payoffs_kernel = numba.njit(cache=True, parallel=True)(_payoffs)
payoffs_kernel_serial = numba.njit(cache=True)(_payoffs)


def payoffs_numpy(levels: np.ndarray, weights: np.ndarray, policy: np.ndarray, k: int):
    """The same quantity by plain vectorised NumPy (no precomputation, no compiled code).

    Per call: class masses by ``bincount``, masses strictly worse by a reverse cumulative sum,
    the stable ``expm1/log1p`` closed form, a gather back to ``(U, n)`` and a weighted sum.
    This is the "straightforward NumPy evaluation" the benchmark compares against, and a
    second implementation the tests hold the kernel to.
    """
    U, n = levels.shape
    lv = levels.astype(np.int64)
    flat = (np.arange(U)[:, None] * n + lv).ravel()
    t = np.bincount(flat, weights=np.broadcast_to(policy, (U, n)).ravel(),
                    minlength=U * n).reshape(U, n)
    worse = np.cumsum(t[:, ::-1], axis=1)[:, ::-1] - t  # mass of classes strictly worse
    a = np.clip(worse, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        x = t / a
        series = np.exp(k * np.log(a)) * np.expm1((k + 1) * np.log1p(x)) / ((k + 1) * x)
        val = np.where(a > 0, np.where(t > 0, series, np.exp(k * np.log(a))),
                       t ** k / (k + 1))
    L = np.take_along_axis(val, lv, axis=1)
    return weights @ L


# ----------------------------------------------------------------------------- distinct display
# THEORY.md §9. The k samples are merged before they are shown; a competitor showing y once is
# picked with probability 1/(1 + c) when no sample is strictly better than y, c the number of
# *distinct* responses tied with y among the samples (y itself counts if sampled: one copy per
# side).


@numba.njit(cache=True)
def binomials(k):
    """Pascal's triangle ``C[m, r] = C(m, r)`` for ``0 <= r <= m <= k``, ``(k+1, k+1)``."""
    C = np.zeros((k + 1, k + 1))
    for m in range(k + 1):
        C[m, 0] = 1.0
        for r in range(1, m + 1):
            C[m, r] = C[m - 1, r - 1] + C[m - 1, r]
    return C


@numba.njit(cache=True, inline="always")
def strict_distinct_payoff(a, p, k, top):
    """``L^dist = a^k + ½((a+p)^k - a^k)`` for a class of one response of mass ``p`` with mass
    ``a`` strictly worse. ``(a+p)^k - a^k = p E_k`` by the binary powering of ``class_payoff``
    (sums and products of non-negative numbers only: no cancellation when ``p << a``).
    ``top`` is ``top_bit(k)``."""
    s = a + p
    E = 1.0  # E_1
    q = a  # a^1
    top //= 2
    while top > 0:
        E = E * (p * E + 2.0 * q)
        q = q * q
        if k & top:
            E = s * E + q
            q = a * q
        top //= 2
    return q + 0.5 * p * E


@numba.njit(cache=True)
def class_distinct_counts(items, pi, a, k, C, work, pw, out):
    """``out[c]`` (c = 0..k) = P(none of k i.i.d. draws from ``pi`` is strictly better than the
    class ``items``, and exactly c distinct members of the class are drawn); ``a`` is the mass
    strictly worse than the class.

    DP over the class's responses: ``work[m, c]`` sums, over ordered sequences of m draws from the
    responses seen so far that hit exactly c of them, the product of their masses; a response of
    mass p drawn r >= 1 times enters with ``C(m, r) p^r``. Then
    ``out[c] = Σ_m C(k, m) a^(k-m) work[m, c]``. All terms are non-negative.
    Cost O(|T| k² min(|T|, k)). ``work`` ``(k+1, k+1)``, ``pw`` ``(k+1,)`` are scratch.
    """
    work[:, :] = 0.0
    work[0, 0] = 1.0
    cnt = 0
    for y in items:
        p = pi[y]
        if p <= 0.0:
            continue
        cnt += 1
        cmax = min(cnt, k)
        pw[0] = 1.0
        for r in range(1, k + 1):
            pw[r] = pw[r - 1] * p
        for m in range(k, 0, -1):
            for c in range(min(cmax, m), 0, -1):
                acc = 0.0
                for r in range(1, m - c + 2):
                    acc += C[m, r] * pw[r] * work[m - r, c - 1]
                work[m, c] += acc
    out[:] = 0.0
    cmax = min(cnt, k)
    am = 1.0  # a^(k-m), m from k down to 0
    for m in range(k, -1, -1):
        f = C[k, m] * am
        for c in range(min(cmax, m) + 1):
            out[c] += f * work[m, c]
        am *= a


@numba.njit(cache=True, inline="always")
def ipow(x, k, top):
    """``x**k`` by binary powering (``top = top_bit(k)``): O(log k) products, no libm call."""
    r = x
    top //= 2
    while top > 0:
        r = r * r
        if k & top:
            r = r * x
        top //= 2
    return r


@numba.njit(cache=True)
def class_distinct_payoff_subsets(masses, a, k, top, sums, wsum):
    """``L^dist`` for a tie class from the masses ``masses (m,)`` (all > 0) of its responses and
    the mass ``a`` strictly worse, by the subset form of THEORY.md §9's integral:

        ∫_0^1 k! [x^k] e^{ax} Π_j (1 - s + s e^{p_j x}) ds
          = Σ_{C ⊆ T} (a + p(C))^k / ((|T|+1) C(|T|, |C|)),

    (expand the product over subsets C; ``k! [x^k] e^{λx} = λ^k``, ``∫ s^c (1-s)^(|T|-c) ds``
    is the Beta weight). All terms are non-negative. O(2^|T| log k): cheaper than the DP for
    small classes. ``sums`` (>= 2^m) and ``wsum`` (>= m+1) are scratch."""
    m = masses.shape[0]
    sums[0] = a
    total = ipow(a, k, top) if a > 0.0 else 0.0
    wsum[:m + 1] = 0.0  # Σ over subsets of size c of (a + p(C))^k
    wsum[0] = total
    for mask in range(1, 1 << m):
        low = mask & (-mask)
        bit = 0
        while (1 << bit) != low:
            bit += 1
        x = sums[mask ^ low] + masses[bit]
        sums[mask] = x
        c = 0
        mm = mask
        while mm:
            mm &= mm - 1
            c += 1
        wsum[c] += ipow(x, k, top)
    val = 0.0
    binom = 1.0  # C(m, c)
    for c in range(m + 1):
        val += wsum[c] / binom
        binom = binom * (m - c) / (c + 1)
    return val / (m + 1)


def _distinct_payoffs(order, weights, policies, k, nchunks):
    """``out[b, y] = Σ_u weights[u] L^dist_u(policies[b], y)`` (THEORY.md §9).

    Classes of one response (all of them for strict orders) use ``strict_distinct_payoff``,
    O(log k); a tie class whose positive-mass responses T are few uses the subset form
    ``class_distinct_payoff_subsets`` (O(2^|T| log k)), a larger one the DP
    ``class_distinct_counts`` and ``Σ_c out[c] / (1 + c)`` (O(|T| k² min(|T|, k))); the switch
    is where the two costs cross (|T| <= 16). Same layout and threading as ``_payoffs``.
    """
    U, n = order.shape
    B = policies.shape[0]
    top = top_bit(k)
    C = binomials(k)
    # subset form while 2^|T| log k stays below the DP's |T| k² min(|T|, k) / 4 (and |T| <= 16)
    max_subsets = 1
    bits = 1
    while (1 << bits) <= k:
        bits += 1
    while max_subsets < 16 and ((1 << (max_subsets + 1)) * (bits + 1)
                                <= (max_subsets + 1) * k * k * min(max_subsets + 1, k) // 4):
        max_subsets += 1
    nchunks = max(1, min(nchunks, U))
    acc = np.zeros((nchunks, B, n))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        work = np.zeros((k + 1, k + 1))
        pw = np.zeros(k + 1)
        cnt = np.zeros(k + 1)
        items = np.zeros(n, dtype=np.int64)
        masses = np.zeros(n)
        sums = np.zeros(1 << max_subsets)
        wsum = np.zeros(max_subsets + 1)
        for u in range(lo, hi):
            w = weights[u]
            row = order[u]
            for b in range(B):
                pi = policies[b]
                out = acc[c, b]
                worse = 0.0
                j = n - 1
                while j >= 0:
                    e = row[j]
                    if e >= 0:  # a class of one (every class, for strict orders)
                        t = pi[e]
                        out[e] += w * strict_distinct_payoff(worse, t, k, top)
                        worse += t
                        j -= 1
                        continue
                    s, t = class_start(row, pi, j)
                    m = j - s + 1
                    mp = 0  # responses with positive mass first in ``items``, the rest last
                    z = 0
                    for q in range(m):
                        y = decode(row[s + q])
                        if pi[y] > 0.0:
                            items[mp] = y
                            masses[mp] = pi[y]
                            mp += 1
                        else:
                            items[m - 1 - z] = y
                            z += 1
                    if mp <= 1:
                        val = strict_distinct_payoff(worse, t, k, top)
                    elif mp <= max_subsets:
                        val = class_distinct_payoff_subsets(masses[:mp], worse, k, top, sums,
                                                           wsum)
                    else:
                        class_distinct_counts(items[:mp], pi, worse, k, C, work, pw, cnt)
                        val = 0.0
                        for q in range(k + 1):
                            val += cnt[q] / (1.0 + q)
                    val *= w
                    for q in range(m):
                        out[items[q]] += val
                    worse += t
                    j = s - 1
    res = np.zeros((B, n))
    for c in range(nchunks):
        res += acc[c]
    return res


distinct_payoffs_kernel = numba.njit(cache=True, parallel=True)(_distinct_payoffs)
distinct_payoffs_kernel_serial = numba.njit(cache=True)(_distinct_payoffs)


@numba.njit(cache=True)
def distinct_counts(order, levels, pi, k):
    """``D[u, l, c]`` = P(none of k i.i.d. draws from ``pi`` is strictly better than level l of
    user u, and exactly c distinct responses of level l are drawn). ``(U, n, k+1)``; levels are
    dense, so ``l < n``; rows for levels a user does not use stay 0."""
    U, n = order.shape
    C = binomials(k)
    D = np.zeros((U, n, k + 1))
    work = np.zeros((k + 1, k + 1))
    pw = np.zeros(k + 1)
    items = np.zeros(n, dtype=np.int64)
    for u in range(U):
        row = order[u]
        worse = 0.0
        j = n - 1
        while j >= 0:
            s, t = class_start(row, pi, j)
            m = j - s + 1
            for q in range(m):
                items[q] = decode(row[s + q])
            class_distinct_counts(items[:m], pi, worse, k, C, work, pw, D[u, levels[u, items[0]]])
            worse += t
            j = s - 1
    return D


def distinct_payoffs_numpy(levels: np.ndarray, weights: np.ndarray, policy: np.ndarray, k: int):
    """``L^dist(π, ·)`` by plain vectorised NumPy, for **strict orders only** (every level class
    one response; with ties the result is not ``L^dist``):
    ``a^k + ½((a+p)^k - a^k)``, ``a`` the mass strictly worse, ``p = π(y)``.

    Per call, as ``payoffs_numpy``: class masses by ``bincount``, masses strictly worse by a
    reverse cumulative sum, a gather back to ``(U, n)`` and a weighted sum. The benchmark's
    "straightforward NumPy" distinct row and a second implementation for the tests.
    """
    U, n = levels.shape
    lv = levels.astype(np.int64)
    flat = (np.arange(U)[:, None] * n + lv).ravel()
    t = np.bincount(flat, weights=np.broadcast_to(policy, (U, n)).ravel(),
                    minlength=U * n).reshape(U, n)
    worse = np.clip(np.cumsum(t[:, ::-1], axis=1)[:, ::-1] - t, 0.0, None)
    a = np.take_along_axis(worse, lv, axis=1)
    ak = a ** k
    return weights @ (ak + 0.5 * ((a + policy) ** k - ak))


# ----------------------------------------------------------------------------- pairwise preferences
# P[y, z] = Σ_u w_u 1[lev_u(y) < lev_u(z)] (THEORY.md §1). The output is dense (n, n), so the work
# is O(U n²) whatever the method; this kernel makes each unit cheap: a branch-free compare-and-add
# over a contiguous row (vectorised), with a block of PAIRWISE_ROWS rows of P kept in cache while
# every user streams past it. No memory beyond P. Each row of P sums the users in order 0..U-1,
# so the result does not depend on the thread count.
PAIRWISE_ROWS = 32


def _pairwise(levels, weights):
    U, n = levels.shape
    P = np.zeros((n, n))
    blocks = (n + PAIRWISE_ROWS - 1) // PAIRWISE_ROWS
    for b in numba.prange(blocks):
        y0 = b * PAIRWISE_ROWS
        y1 = min(n, y0 + PAIRWISE_ROWS)
        for u in range(U):
            w = weights[u]
            lv = levels[u]
            for y in range(y0, y1):
                ly = lv[y]
                row = P[y]
                for z in range(n):
                    row[z] += w * (lv[z] > ly)
    return P


pairwise_kernel = numba.njit(cache=True, parallel=True)(_pairwise)
pairwise_kernel_serial = numba.njit(cache=True)(_pairwise)
