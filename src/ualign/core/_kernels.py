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

The sweeps read the profile's own dense levels ``(U, n)`` (0 = favourite) and nothing else: no
per-profile precomputation and no second ``(U, n)`` array. Per user and policy, in scratch of n
entries per thread:

1. scatter: ``t[l] = Σ_{y: level y = l} π(y)`` (every response, or only the policy's support when
   it is small);
2. per class, from the worst up: ``a`` (the running mass strictly worse) and the class value
   ``val[l] = w_u L(a, t[l])``. A dense policy evaluates the classes in blocks of ``BLOCK``, loop
   by loop over the block, which the compiler vectorises; a sparse one (support under a quarter
   of the classes) evaluates only the classes that carry mass, every other class taking
   ``w_u a^k`` (``t = 0``), which changes only after a class with mass;
3. gather: ``out[y] += val[level y]`` (sequential in y).

One evaluation costs O(U n) and reads the ``(U, n)`` levels once (each row stays in cache for the
three passes), in parallel over blocks of users.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 256  # classes per vectorised block: its five work arrays stay in the L1 cache
SPARSE = 16  # a policy is sparse when SPARSE x (its support) < n: valuing a support class alone
# (scalar, with a^k) costs about 16x a class in a vectorised block


@numba.njit(cache=True, inline="always")
def top_bit(e):
    top = 1
    while top * 2 <= e:
        top *= 2
    return top


@numba.njit(cache=True, inline="always")
def divided_powers(a, t, e, top):
    """``(E, p)`` with ``p = a^e`` and ``E = ((a+t)^e − a^e) / t`` (the divided difference,
    exact at t = 0), by binary powering over the bits of ``e`` below ``top = top_bit(e)``:
    doubling ``E_2m = E_m (t E_m + 2 a^m)``, increment ``E_m+1 = (a+t) E_m + a^m``. The scalar
    form of :func:`binary_powers_block`."""
    s = a + t
    E = 1.0  # E_1
    p = a  # p_1
    bit = top // 2
    while bit > 0:
        E = E * (t * E + 2.0 * p)
        p = p * p
        if e & bit:
            E = s * E + p
            p = a * p
        bit //= 2
    return E, p


@numba.njit(cache=True, inline="always")
def class_payoff(a, t, k, top):
    """L for one level class: mass ``t`` tied (y included), mass ``a`` strictly worse.
    ``top`` is ``top_bit(k + 1)``, the highest power of two <= k+1."""
    E, _ = divided_powers(a, t, k + 1, top)
    return E / (k + 1)


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


@numba.njit(cache=True, inline="always")
def binary_powers_block(am, tm, e, top, E, p):
    """For every l of the block, by binary powering over the bits of ``e`` below ``top``
    (``top = top_bit(e)``), loop by loop so each loop vectorises: ``p[l] = am[l]^e`` and
    ``E[l] = ((am + tm)^e − am^e) / tm`` (the divided difference, exact at tm = 0), the two
    quantities both block kernels finish from."""
    m = am.shape[0]
    for l in range(m):
        E[l] = 1.0
    for l in range(m):
        p[l] = am[l]
    bit = top // 2
    while bit > 0:
        for l in range(m):
            E[l] = E[l] * (tm[l] * E[l] + 2.0 * p[l])
        for l in range(m):
            p[l] = p[l] * p[l]
        if e & bit:
            for l in range(m):
                E[l] = (am[l] + tm[l]) * E[l] + p[l]
            for l in range(m):
                p[l] = am[l] * p[l]
        bit //= 2


@numba.njit(cache=True)
def class_payoff_block(am, tm, k, top, scale, E, p, val):
    """``val[l] = scale · L(am[l], tm[l])`` for every l of the block: ``class_payoff``'s
    recursion run loop by loop over the block (each loop vectorises); ``E``, ``p`` are scratch of
    the block's length. ``top = top_bit(k + 1)``."""
    e = k + 1
    binary_powers_block(am, tm, e, top, E, p)
    for l in range(am.shape[0]):
        val[l] = scale * (E[l] / e)


# the index of a 64-bit power of two x: DEBRUIJN[(x * DEBRUIJN_MUL) >> 58]
DEBRUIJN_MUL = np.uint64(0x03F79D71B4CB0A89)
DEBRUIJN = np.zeros(64, dtype=np.int64)
with np.errstate(over="ignore"):  # the product wraps modulo 2^64 on purpose
    for _i in range(64):
        DEBRUIJN[((np.uint64(1) << np.uint64(_i)) * DEBRUIJN_MUL) >> np.uint64(58)] = _i
del _i


@numba.njit(cache=True)
def power_block(x, k, top, scale, out):
    """``out[l] = scale · x[l]^k`` for every l (binary powering, loop by loop: vectorised);
    ``top = top_bit(k)``."""
    m = x.shape[0]
    for l in range(m):
        out[l] = x[l]
    bit = top // 2
    while bit > 0:
        for l in range(m):
            out[l] = out[l] * out[l]
        if k & bit:
            for l in range(m):
                out[l] = out[l] * x[l]
        bit //= 2
    for l in range(m):
        out[l] = scale * out[l]


@numba.njit(cache=True, inline="always")
def worse_masses(tm, am, lo, hi, worse):
    """``am[l] = worse + Σ_{hi > l' > l} tm[l']`` for l in ``[lo, hi)``, from the top down;
    returns ``worse + Σ_{lo <= l < hi} tm[l]``. Four classes per step (the running sum waits on
    one addition per four classes, not per class)."""
    l = hi - 1
    while l - 3 >= lo:
        t3 = tm[l]
        x = t3 + tm[l - 1]
        y = x + tm[l - 2]
        am[l] = worse
        am[l - 1] = worse + t3
        am[l - 2] = worse + x
        am[l - 3] = worse + y
        worse = worse + (y + tm[l - 3])
        l -= 4
    while l >= lo:
        am[l] = worse
        worse += tm[l]
        l -= 1
    return worse


@numba.njit(cache=True)
def policy_supports(policies):
    """``(supp (B, n), ns (B,))``: the responses with positive mass of each policy, in order."""
    B, n = policies.shape
    supp = np.empty((B, n), dtype=np.int64)
    ns = np.zeros(B, dtype=np.int64)
    for b in range(B):
        s = 0
        for y in range(n):
            if policies[b, y] > 0.0:
                supp[b, s] = y
                s += 1
        ns[b] = s
    return supp, ns


@numba.njit(cache=True)
def uniform_tables(policies, k, distinct):
    """``(uniform (B,), table (B, n))``: for each policy whose masses are all equal (the
    uniform policy, where the solvers start), ``table[b, l]`` is the payoff of level l of a
    strict row (t = π(y), a = the mass of the n-1-l classes below): every strict row then
    costs one gather, ``out[y] += w table[level y]``, and no arithmetic."""
    B, n = policies.shape
    uniform = np.zeros(B, dtype=np.bool_)
    table = np.zeros((B, n))
    for b in range(B):
        x = policies[b, 0]
        same = True
        for y in range(n):
            if policies[b, y] != x:
                same = False
                break
        if not same:
            continue
        uniform[b] = True
        worse = 0.0
        for l in range(n - 1, -1, -1):
            if distinct:
                table[b, l] = strict_distinct_payoff(worse, x, k, top_bit(k))
            else:
                table[b, l] = class_payoff(worse, x, k, top_bit(k + 1))
            worse += x
    return uniform, table


@numba.njit(cache=True, inline="always")
def n_classes(row):
    """Number of level classes of a dense row: its largest level + 1."""
    mx = 0
    for y in range(row.shape[0]):
        mx = max(mx, row[y])
    return mx + 1


@numba.njit(cache=True, inline="always")
def fill(val, lo, hi, x):
    """``val[lo:hi] = x``: a long run through a view indexed from 0 (which vectorises), a short
    one by a plain loop (a view costs more than a few stores)."""
    if hi - lo > 32:
        v = val[lo:hi]
        for l in range(v.shape[0]):
            v[l] = x
    else:
        for l in range(lo, hi):
            val[l] = x


@numba.njit(cache=True, inline="always")
def sort_small(keys, s):
    """Sort ``keys[:s]`` in place: insertion sort for a few keys (a call to the library sort
    costs more than the whole sort below ~32), the library sort beyond."""
    if s > 32:
        keys[:s].sort()
        return
    for i in range(1, s):
        x = keys[i]
        j = i - 1
        while j >= 0 and keys[j] > x:
            keys[j + 1] = keys[j]
            j -= 1
        keys[j + 1] = x


@numba.njit(cache=True, inline="always")
def marked_classes(row, pi, sp, s, tm, marks, bits, cl, ct, ca, cs):
    """A sparse policy's classes with mass in ``row``, from the worst: their level ``cl``, mass
    ``ct``, mass strictly worse ``ca`` and mass at or below ``cs``; returns their number.
    Classes are found by a bit per class in ``marks`` (O(n/64 + s)); ``tm`` and ``marks`` are
    zero again on return."""
    for i in range(s):  # class masses, and a bit per class with mass
        l = row[sp[i]]
        tm[l] += pi[sp[i]]
        marks[l >> 6] |= np.uint64(1) << np.uint64(l & 63)
    nm = 0
    worse = 0.0
    for wd in range(marks.shape[0] - 1, -1, -1):
        x = marks[wd]
        if x == 0:
            continue
        marks[wd] = 0
        nb = 0
        while x:  # the word's bits, lowest first, then taken highest first
            low = x & (~x + np.uint64(1))
            bits[nb] = DEBRUIJN[(low * DEBRUIJN_MUL) >> np.uint64(58)]
            nb += 1
            x ^= low
        for q in range(nb - 1, -1, -1):
            l = wd * 64 + bits[q]
            t = tm[l]
            tm[l] = 0.0
            cl[nm] = l
            ct[nm] = t
            ca[nm] = worse
            worse += t
            cs[nm] = worse
            nm += 1
    return nm


@numba.njit(cache=True, inline="always")
def class_values(ca, ct, cs, nm, k, top, topk, w, E, p, cv, ck):
    """For the first ``nm`` classes: ``cv = w · class_payoff(ca, ct)`` and ``ck = w cs^k``,
    scalar when at most 16 (the block calls cost more), else in vectorised blocks."""
    if nm <= 16:
        for i in range(nm):
            cv[i] = w * class_payoff(ca[i], ct[i], k, top)
            ck[i] = w * ipow(cs[i], k, topk)
        return
    for s0 in range(0, nm, BLOCK):
        s1 = min(nm, s0 + BLOCK)
        class_payoff_block(ca[s0:s1], ct[s0:s1], k, top, w, E[:s1 - s0], p[:s1 - s0],
                           cv[s0:s1])
        power_block(cs[s0:s1], k, topk, w, ck[s0:s1])


def _payoffs(levels, weights, policies, k, nchunks):
    """``out[b, y] = Σ_u weights[u] L_u(policies[b], y)``.

    levels: (U, n) dense levels (0 = favourite; each row uses 0..c-1), any integer dtype.
    weights: (U,); policies: (B, n) on the simplex; returns (B, n).
    nchunks: number of user blocks handed to threads (each keeps its own accumulator).
    """
    U, n = levels.shape
    B = policies.shape[0]
    top = top_bit(k + 1)
    topk = top_bit(k)
    supp, ns = policy_supports(policies)
    uniform, table = uniform_tables(policies, k, False)
    nchunks = max(1, min(nchunks, U))
    acc = np.zeros((nchunks, B, n))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        tm = np.zeros(n)  # class masses; all zero between uses
        am = np.empty(n)
        E = np.empty(BLOCK)
        p = np.empty(BLOCK)
        val = np.empty(n)
        marks = np.zeros((n + 63) // 64, dtype=np.uint64)  # a sparse policy's classes with mass
        bits = np.empty(64, dtype=np.int64)
        cl = np.empty(n, dtype=np.int64)
        ct = np.empty(n)
        ca = np.empty(n)
        cs = np.empty(n)
        cv = np.empty(n)
        ck = np.empty(n)
        for u in range(lo, hi):
            w = weights[u]
            row = levels[u]
            nl = -1  # classes of the row, counted when a dense policy needs them
            for b in range(B):
                pi = policies[b]
                out = acc[c, b]
                s = ns[b]
                if SPARSE * s < n:  # a sparse policy: only the classes with mass
                    nm = marked_classes(row, pi, supp[b], s, tm, marks, bits, cl, ct, ca, cs)
                    # their values and w (a + t)^k, the value of the classes without mass just
                    # above each (vectorised blocks); then every class, by runs
                    class_values(ca, ct, cs, nm, k, top, topk, w, E, p, cv, ck)
                    end = n
                    ak = 0.0  # below all mass a = 0
                    for i in range(nm):
                        l = cl[i]
                        fill(val, l + 1, end, ak)
                        val[l] = cv[i]
                        ak = ck[i]
                        end = l
                    fill(val, 0, end, ak)
                else:
                    if nl < 0:
                        nl = n_classes(row)
                    if nl == n and uniform[b]:  # a strict row, the uniform policy
                        tb = table[b]
                        for y in range(n):
                            out[y] += w * tb[row[y]]
                        continue
                    if nl == n:  # strict: one response per class
                        for y in range(n):
                            tm[row[y]] = pi[y]
                    else:
                        for y in range(n):
                            tm[row[y]] += pi[y]
                    worse = 0.0
                    top_block = ((nl - 1) // BLOCK) * BLOCK
                    for s0 in range(top_block, -1, -BLOCK):
                        s1 = min(nl, s0 + BLOCK)
                        worse = worse_masses(tm, am, s0, s1, worse)
                        class_payoff_block(am[s0:s1], tm[s0:s1], k, top, w, E[:s1 - s0],
                                           p[:s1 - s0], val[s0:s1])
                    for l in range(nl):
                        tm[l] = 0.0
                for y in range(n):
                    out[y] += val[row[y]]
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


@numba.njit(cache=True, inline="always")
def strict_distinct_payoff(a, p, k, top):
    """``L^dist = a^k + ½((a+p)^k - a^k)`` for a class of one response of mass ``p`` with mass
    ``a`` strictly worse. ``(a+p)^k - a^k = p E_k`` by :func:`divided_powers` (sums and
    products of non-negative numbers only: no cancellation when ``p << a``).
    ``top`` is ``top_bit(k)``."""
    E, q = divided_powers(a, p, k, top)
    return q + 0.5 * p * E


@numba.njit(cache=True)
def strict_distinct_block(am, tm, k, top, scale, E, q, val):
    """``val[l] = scale · strict_distinct_payoff(am[l], tm[l])`` for every l of the block, loop
    by loop (vectorised) like ``class_payoff_block``; ``top = top_bit(k)``."""
    binary_powers_block(am, tm, k, top, E, q)
    for l in range(am.shape[0]):
        val[l] = scale * (q[l] + 0.5 * tm[l] * E[l])


TAIL = 1e-30  # binomial terms below TAIL x the largest are left out (relative effect <= M TAIL)


@numba.njit(cache=True)
def binomial_pmf(M, odds, v):
    """The binomial pmf ``v[r] = C(M, r) x^r (1-x)^(M-r)``, ``x = odds / (1 + odds)`` (``odds``
    in [0, inf]), over the range ``r in [lo, hi)`` where its terms reach ``TAIL`` x the largest;
    returns ``(lo, hi)`` and leaves ``v`` outside that range unwritten. The ratios
    ``v[r+1]/v[r] = (M-r)/(r+1) · odds`` are multiplied outward from the mode and the range is
    normalised to sum 1: no binomial coefficient is formed, so nothing overflows at any M
    (``C(M, r)`` is infinite in floating point from M = 1030 on), each term is within
    O(|r - mode|) ulps, and the range holds O(sqrt(M)) terms (O(1) for odds 0 or inf)."""
    if odds <= 0.0:
        v[0] = 1.0
        return 0, 1
    if odds == np.inf:
        v[M] = 1.0
        return M, M + 1
    mode = min(M, int((M + 1) * (odds / (1.0 + odds))))
    v[mode] = 1.0
    total = 1.0
    hi = mode
    while hi < M:
        x = v[hi] * ((M - hi) / (hi + 1.0)) * odds
        if x < TAIL:
            break
        hi += 1
        v[hi] = x
        total += x
    inv = 1.0 / odds
    lo = mode
    while lo > 0:
        x = v[lo] * (lo / (M - lo + 1.0)) * inv
        if x < TAIL:
            break
        lo -= 1
        v[lo] = x
        total += x
    for r in range(lo, hi + 1):
        v[r] /= total
    return lo, hi + 1


@numba.njit(cache=True)
def binomial_rows(r, B, ell, out):
    """``out[i, j] = C(ℓ, j) r_i^j B_i^(ℓ-j)`` for ``j = 0..ℓ`` and flat ``r, B (m,)``:
    ``(r + B)^ℓ`` times the binomial pmf of odds ``r/B`` (``binomial_pmf``; terms below its
    ``TAIL`` are 0), so no ``C(ℓ, j)`` is formed (it overflows from ℓ = 1030 on) and no
    logarithm rounds the terms."""
    pmf = np.empty(ell + 1)
    top = top_bit(ell)
    for i in range(r.shape[0]):
        out[i, :] = 0.0
        s = r[i] + B[i]
        if not s > 0.0:
            continue
        lo, hi = binomial_pmf(ell, r[i] / B[i] if B[i] > 0.0 else np.inf, pmf)
        scale = ipow(s, ell, top)
        for j in range(lo, hi):
            out[i, j] = scale * pmf[j]


@numba.njit(cache=True)
def multiset_win_shares(t, A, r, B, k, ell, weights):
    """``Σ_u w_u Σ_c Σ_{i>=1, j} C(k,i) t^i A^(k-i) C(ℓ,j) r^j B^(ℓ-j) · i/(i+j)``: the
    multiset win rate of k samples of π against ℓ samples of ρ (THEORY §3), summed exactly over
    the copies each side puts at level c (π's masses ``t, A`` in and strictly below c, ρ's
    ``r, B``; arrays ``(U, n)`` by level). Each side's terms are ``(mass)^k`` times a binomial
    pmf (``binomial_pmf``, over the range where they matter): O(sqrt(k) sqrt(ℓ)) pairs per
    user and level for large k and ℓ, all terms positive."""
    U, n = t.shape
    pm = np.empty(k + 1)
    po = np.empty(ell + 1)
    topk = top_bit(k)
    topl = top_bit(ell)
    total = 0.0
    for u in range(U):
        wu = 0.0
        for c in range(n):
            so = r[u, c] + B[u, c]
            if not (t[u, c] > 0.0 and so > 0.0):
                continue  # no model copy at c, or every opponent draw better than c
            ilo, ihi = binomial_pmf(k, t[u, c] / A[u, c] if A[u, c] > 0.0 else np.inf, pm)
            jlo, jhi = binomial_pmf(ell, r[u, c] / B[u, c] if B[u, c] > 0.0 else np.inf, po)
            acc = 0.0
            for i in range(max(ilo, 1), ihi):
                inner = 0.0
                for j in range(jlo, jhi):
                    inner += po[j] / (i + j)
                acc += pm[i] * i * inner
            wu += ipow(t[u, c] + A[u, c], k, topk) * ipow(so, ell, topl) * acc
        total += weights[u] * wu
    return total


@numba.njit(cache=True)
def class_distinct_counts(masses, a, k, pmf, out):
    """``out[c]`` (c = 0..k) = P(none of k i.i.d. draws is strictly better than a class whose
    responses have the positive masses ``masses``, and exactly c distinct members of the class
    are drawn); ``a`` is the mass strictly worse than the class.

    DP over the class's responses in normalised form: after the members of total mass Q,
    ``work[m, c]`` is the chance that m i.i.d. draws from them (each member with probability
    mass/Q) hit exactly c distinct members. A member of mass p enters with the binomial split
    of the m draws between it (share p/(Q+p)) and the others,

        work'[m, c] = b(0; m) work[m, c] + Σ_{r>=1} b(r; m) work[m-r, c-1],

    and finally ``out[c] = (a+t)^k Σ_m b(m; k, t/(a+t)) work[m, c]``, t the class mass. Every
    factor is a probability (``binomial_pmf``): no C(k, m) is formed, so k beyond 1029 stays
    finite, and each sum runs over the pmf's O(sqrt(m)) significant terms. Cost
    O(|T| k^1.5 min(|T|, k)); ``work`` ``(k+1, min(|T|, k)+1)`` is allocated here, ``pmf``
    ``(k+1,)`` is scratch.
    """
    cmax_all = 0
    for i in range(masses.shape[0]):
        if masses[i] > 0.0:
            cmax_all += 1
    cmax_all = min(cmax_all, k)
    work = np.zeros((k + 1, cmax_all + 1))
    work[0, 0] = 1.0
    Q = 0.0
    cnt = 0
    for i in range(masses.shape[0]):
        p = masses[i]
        if p <= 0.0:
            continue
        cnt += 1
        if cnt == 1:  # every draw lands on the one member
            for m in range(1, k + 1):
                work[m, 1] = 1.0
            Q = p
            continue
        cmax = min(cnt, k)
        odds = p / Q
        for m in range(k, 0, -1):
            lo, hi = binomial_pmf(m, odds, pmf)
            b0 = pmf[0] if lo == 0 else 0.0
            for c in range(min(cmax, m), 0, -1):
                acc = b0 * work[m, c]
                for r in range(max(lo, 1), min(hi, m - c + 2)):
                    acc += pmf[r] * work[m - r, c - 1]
                work[m, c] = acc
            work[m, 0] = b0 * work[m, 0]
        Q += p
    for c in range(k + 1):
        out[c] = 0.0
    s = a + Q
    if s <= 0.0:
        return
    lo, hi = binomial_pmf(k, Q / a if a > 0.0 else np.inf, pmf)
    scale = ipow(s, k, top_bit(k))
    for m in range(lo, hi):
        f = scale * pmf[m]
        for c in range(min(cmax_all, m) + 1):
            out[c] += f * work[m, c]


MAX_SUBSET_CLASS = 24  # the subset form's largest class: 2^24 sums (a few hundred ms a class)


@numba.njit(cache=True)
def subset_sums(masses, base, sums, sizes):
    """``sums[mask] = base + Σ_{bit j in mask} masses[j]`` and ``sizes[mask]`` its bit count,
    for every mask < 2^len(masses)."""
    sums[0] = base
    sizes[0] = 0
    for mask in range(1, 1 << masses.shape[0]):
        low = mask & (-mask)
        bit = 0
        while (1 << bit) != low:
            bit += 1
        sums[mask] = sums[mask ^ low] + masses[bit]
        sizes[mask] = sizes[mask ^ low] + 1


@numba.njit(cache=True)
def class_distinct_payoff_subsets(masses, a, k, top, sums, wsum):
    """``L^dist`` for a tie class from the masses ``masses (m,)`` (all > 0) of its responses and
    the mass ``a`` strictly worse, by the subset form of THEORY.md §9's integral:

        ∫_0^1 k! [x^k] e^{ax} Π_j (1 - s + s e^{p_j x}) ds
          = Σ_{C ⊆ T} (a + p(C))^k / ((|T|+1) C(|T|, |C|)),

    (expand the product over subsets C; ``k! [x^k] e^{λx} = λ^k``, ``∫ s^c (1-s)^(|T|-c) ds``
    is the Beta weight). All terms are non-negative. O(2^|T| log k), whatever k (the DP is
    O(|T|² k²)). The subset sums come from two tables over the halves of T (``a`` in the
    first), each sum one addition of two; ``sums`` is scratch of >= 2^(m - m//2) + 2^(m//2)
    entries, ``wsum`` of >= m+1."""
    m = masses.shape[0]
    h = m // 2  # the high half: masses[m-h:]
    nlo = 1 << (m - h)
    nhi = 1 << h
    lo_sums = sums[:nlo]
    hi_sums = sums[nlo:nlo + nhi]
    lo_size = np.empty(nlo, dtype=np.int64)
    hi_size = np.empty(nhi, dtype=np.int64)
    subset_sums(masses[:m - h], a, lo_sums, lo_size)
    subset_sums(masses[m - h:], 0.0, hi_sums, hi_size)
    wsum[:m + 1] = 0.0  # Σ over subsets of size c of (a + p(C))^k
    for hm in range(nhi):
        xh = hi_sums[hm]
        ch = hi_size[hm]
        for lm in range(nlo):
            x = lo_sums[lm] + xh
            if x > 0.0:
                wsum[lo_size[lm] + ch] += ipow(x, k, top)
    val = 0.0
    binom = 1.0  # C(m, c)
    for c in range(m + 1):
        val += wsum[c] / binom
        binom = binom * (m - c) / (c + 1)
    return val / (m + 1)


@numba.njit(cache=True)
def max_subset_class(k):
    """Largest tie class (positive-mass members) priced by the subset form: while its cost
    ``2^|T| (log k + 2)`` stays below the DP's ``|T|² k² / 4`` (about ``|T| k² min(|T|, k)``),
    and at most ``MAX_SUBSET_CLASS``."""
    bits = 1
    while (1 << bits) <= k:
        bits += 1
    size = 1
    while size < MAX_SUBSET_CLASS and ((1 << (size + 1)) * (bits + 2)
                                       <= (size + 1) * k * k * min(size + 1, k) // 4):
        size += 1
    return size


@numba.njit(cache=True)
def class_members(row, pi, nl, cnt, off, masses):
    """Counting sort of one user's positive-mass responses by level: ``cnt[l]`` their number at
    level l, ``masses[off[l]:off[l] + cnt[l]]`` their masses (increasing y). ``cnt`` must be
    zero for levels < nl on entry."""
    n = row.shape[0]
    for y in range(n):
        if pi[y] > 0.0:
            cnt[row[y]] += 1
    o = 0
    for l in range(nl):
        off[l] = o
        o += cnt[l]
    for l in range(nl):
        cnt[l] = 0
    for y in range(n):
        if pi[y] > 0.0:
            l = row[y]
            masses[off[l] + cnt[l]] = pi[y]
            cnt[l] += 1


@numba.njit(cache=True)
def tie_class_value(masses, a, t, k, top, max_subsets, sums, wsum, pmf, cnt):
    """``L^dist`` of a class whose responses with mass have the masses ``masses`` (total ``t``),
    with mass ``a`` strictly worse: the strict form for at most one of them, the subset form
    for up to ``max_subsets``, the DP beyond (``Σ_c cnt[c] / (1 + c)``)."""
    mp = masses.shape[0]
    if mp <= 1:
        return strict_distinct_payoff(a, t, k, top)
    if mp <= max_subsets:
        return class_distinct_payoff_subsets(masses, a, k, top, sums, wsum)
    class_distinct_counts(masses, a, k, pmf, cnt)
    v = 0.0
    for r in range(k + 1):
        v += cnt[r] / (1.0 + r)
    return v


@numba.njit(cache=True, inline="always")
def sparse_distinct_values(row, pi, sp, s, keys, masses, w, k, top, max_subsets, sums, wsum,
                           pmf, cnt, val):
    """``val[l]`` for every level l of ``row`` under a sparse policy (support ``sp[:s]``):
    its classes with mass by ``tie_class_value``, each run of classes without mass by
    ``w a^k``, visiting the support sorted by level (``keys``, scratch of length >= s)."""
    n = val.shape[0]
    for i in range(s):
        keys[i] = row[sp[i]] * s + i
    sort_small(keys, s)  # the support by level, then by response
    worse = 0.0
    ak = 0.0  # w a^k, the value of a class without mass
    end = n
    i = s - 1
    while i >= 0:
        l = keys[i] // s
        j = i
        while j > 0 and keys[j - 1] // s == l:
            j -= 1
        fill(val, l + 1, end, ak)
        mp = i - j + 1  # responses with mass in class l
        t = 0.0
        for q in range(j, i + 1):
            masses[q - j] = pi[sp[keys[q] % s]]
            t += masses[q - j]
        val[l] = w * tie_class_value(masses[:mp], worse, t, k, top, max_subsets, sums, wsum,
                                     pmf, cnt)
        worse += t
        ak = w * ipow(worse, k, top)
        end = l
        i = j - 1
    fill(val, 0, end, ak)


def _distinct_payoffs(levels, weights, policies, k, nchunks):
    """``out[b, y] = Σ_u weights[u] L^dist_u(policies[b], y)`` (THEORY.md §9).

    A class with at most one response with mass uses ``strict_distinct_payoff``, O(log k); a class
    whose positive-mass responses T are few the subset form ``class_distinct_payoff_subsets``
    (O(2^|T| log k)), a larger one the DP ``class_distinct_counts`` and ``Σ_c out[c] / (1 + c)``
    (O(|T| k² min(|T|, k))); the switch is where the two costs cross (``max_subset_class``;
    ``tie_class_value``). A class without mass takes ``a^k``. Same passes and threading as
    ``_payoffs``: a sparse policy visits only its support's classes (sorted by level), a dense one
    evaluates strict rows in vectorised blocks (``strict_distinct_block``), and a row with ties
    sorts its positive-mass responses by level (``class_members``).
    """
    U, n = levels.shape
    B = policies.shape[0]
    top = top_bit(k)
    max_subsets = max_subset_class(k)
    supp, ns = policy_supports(policies)
    uniform, table = uniform_tables(policies, k, True)
    nchunks = max(1, min(nchunks, U))
    acc = np.zeros((nchunks, B, n))
    size = (U + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        lo = c * size
        hi = min(U, lo + size)
        tm = np.zeros(n)
        am = np.empty(n)
        E = np.empty(BLOCK)
        qb = np.empty(BLOCK)
        val = np.empty(n)
        pmf = np.zeros(k + 1)
        cnt = np.zeros(k + 1)
        members = np.zeros(n, dtype=np.int64)
        off = np.zeros(n, dtype=np.int64)
        masses = np.zeros(n)
        sums = np.zeros((1 << (max_subsets - max_subsets // 2)) + (1 << (max_subsets // 2)))
        wsum = np.zeros(max_subsets + 1)
        keys = np.empty(n, dtype=np.int64)
        for u in range(lo, hi):
            w = weights[u]
            row = levels[u]
            nl = -1  # classes of the row, counted when a dense policy needs them
            for b in range(B):
                pi = policies[b]
                out = acc[c, b]
                s = ns[b]
                if SPARSE * s < n:  # a sparse policy: only the classes with mass
                    sparse_distinct_values(row, pi, supp[b], s, keys, masses, w, k, top,
                                           max_subsets, sums, wsum, pmf, cnt, val)
                    for y in range(n):
                        out[y] += val[row[y]]
                    continue
                if nl < 0:
                    nl = n_classes(row)
                if nl == n and uniform[b]:  # a strict row, the uniform policy
                    tb = table[b]
                    for y in range(n):
                        out[y] += w * tb[row[y]]
                    continue
                if nl == n:
                    for y in range(n):
                        tm[row[y]] = pi[y]
                    worse = 0.0
                    top_block = ((nl - 1) // BLOCK) * BLOCK
                    for s0 in range(top_block, -1, -BLOCK):
                        s1 = min(nl, s0 + BLOCK)
                        worse = worse_masses(tm, am, s0, s1, worse)
                        strict_distinct_block(am[s0:s1], tm[s0:s1], k, top, w, E[:s1 - s0],
                                              qb[:s1 - s0], val[s0:s1])
                    for l in range(nl):
                        tm[l] = 0.0
                else:
                    for y in range(n):
                        tm[row[y]] += pi[y]
                    class_members(row, pi, nl, members, off, masses)
                    worse = 0.0
                    for l in range(nl - 1, -1, -1):
                        t = tm[l]
                        mp = members[l]
                        v = tie_class_value(masses[off[l]:off[l] + mp], worse, t, k, top,
                                            max_subsets, sums, wsum, pmf, cnt)
                        val[l] = w * v
                        worse += t
                        tm[l] = 0.0
                        members[l] = 0
                for y in range(n):
                    out[y] += val[row[y]]
    res = np.zeros((B, n))
    for c in range(nchunks):
        res += acc[c]
    return res


distinct_payoffs_kernel = numba.njit(cache=True, parallel=True)(_distinct_payoffs)
distinct_payoffs_kernel_serial = numba.njit(cache=True)(_distinct_payoffs)


@numba.njit(cache=True)
def distinct_counts(levels, pi, k):
    """``D[u, l, c]`` = P(none of k i.i.d. draws from ``pi`` is strictly better than level l of
    user u, and exactly c distinct responses of level l are drawn). ``(U, n, k+1)``; levels are
    dense, so ``l < n``; rows for levels a user does not use stay 0."""
    U, n = levels.shape
    D = np.zeros((U, n, k + 1))
    pmf = np.zeros(k + 1)
    tm = np.zeros(n)
    members = np.zeros(n, dtype=np.int64)
    off = np.zeros(n, dtype=np.int64)
    masses = np.zeros(n)
    for u in range(U):
        row = levels[u]
        nl = n_classes(row)
        for y in range(n):
            tm[row[y]] += pi[y]
        class_members(row, pi, nl, members, off, masses)
        worse = 0.0
        for l in range(nl - 1, -1, -1):
            class_distinct_counts(masses[off[l]:off[l] + members[l]], worse, k, pmf, D[u, l])
            worse += tm[l]
            tm[l] = 0.0
            members[l] = 0
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
