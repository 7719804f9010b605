"""Synthetic preference profiles: the instances that make the paper's claims visible.

Every random generator takes ``seed`` (``None``, an int or a ``numpy.random.Generator``) and
never touches NumPy's global RNG; the same seed gives the same profile. Profiles merge identical
orders (``Profile`` sums their weights), so ``n_users`` of a sampled profile is the number of
*distinct* orders; ``n_voters`` keeps the number of sampled users.

Sampled profiles are built by row blocks straight into the profile's level dtype (int16 below
2^15 responses; ``Profile.from_blocks``): building one needs about the profile's size plus one
block of about ``CHUNK_ENTRIES`` entries (Mallows draws column by column, into the final array
itself), never a 64-bit copy of the whole profile.

References: shared/spec/THEORY.md §1 (profiles), §6 (NLHF collapse, impartial culture,
Condorcet cycle).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import numba
import numpy as np

from ualign.core.checks import check_size, check_user_weights
from ualign.core.profile import CHUNK_ENTRIES, Profile, level_dtype, levels_from_blocks

__all__ = [
    "EXACT_MAX_N",
    "condorcet_cycle",
    "ideal_points",
    "impartial_culture",
    "mallows",
    "mallows_mixture",
    "mallows_normaliser",
    "mixture",
    "nlhf_collapse",
    "plackett_luce",
    "plackett_luce_mixture",
    "random_profile",
]

EXACT_MAX_N = 9
"""Largest ``n`` for which exact (all ``n!`` orders) profiles are built: 9! = 362,880 rows."""


# ---------------------------------------------------------------------------- validation
def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, None or a "
                             f"numpy.random.Generator, got {seed}")
        return np.random.default_rng(None if seed is None else int(seed))
    raise ValueError(f"seed must be None, a non-negative integer or a numpy.random.Generator, "
                     f"got {seed!r} of type {type(seed).__name__}")


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} of type "
                         f"{type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_size(U: int, n: int, who: str, extra: int = 0) -> None:
    """Before sampling U users over n responses: the profile in its level dtype, one block of
    work arrays (about 40 bytes per entry of a block of ``CHUNK_ENTRIES``) and the profile's
    per-row bookkeeping (about 48 bytes per row), plus ``extra``."""
    block = 40 * min(U * n, CHUNK_ENTRIES)
    check_size(U * n * np.dtype(level_dtype(n)).itemsize + block + 48 * U + extra,
               f"{who} with {U} users x {n} responses")


def _blocks(U: int, n: int):
    """Row slices of at most about ``CHUNK_ENTRIES`` entries covering ``0..U``."""
    rows = max(1, CHUNK_ENTRIES // max(n, 1))
    return [slice(s, min(U, s + rows)) for s in range(0, U, rows)]


def _float(value, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    v = float(value)
    if not (lo <= v <= hi):
        raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return v


def _permutation(order, n: int, name: str) -> np.ndarray:
    arr = np.asarray(order)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a permutation of 0..{n - 1} (shape ({n},), integers), "
                         f"got {arr.dtype} array of shape {arr.shape}")
    if not np.array_equal(np.sort(arr), np.arange(n)):
        raise ValueError(f"{name} must be a permutation of 0..{n - 1}, got {arr.tolist()}")
    return arr.astype(np.int64)


def _all_orders(n: int, who: str) -> np.ndarray:
    if n > EXACT_MAX_N:
        raise ValueError(f"{who}: exact profiles list all n! orders and are limited to "
                         f"n <= {EXACT_MAX_N} (n = {n} gives {math.factorial(n):,} orders); "
                         "pass n_users (spec key users) to sample instead")
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)


# ---------------------------------------------------------------------------- generators
def impartial_culture(n: int, n_users: int | None = None, seed=None) -> Profile:
    """Impartial culture: every strict order of the ``n`` responses is equally likely.

    With ``n_users=None`` the profile is *exact*: all ``n!`` orders, each with weight ``1/n!``
    (limited to ``n <= 9``). Otherwise ``n_users`` users are drawn independently and uniformly
    (a uniform random permutation each).

    The best k-output policy on exact impartial culture reaches
    ``k/(k+1) + (k-1)/(2(k+1)n)`` (THEORY §6), the lower-bound instance of the paper.

    References: shared/spec/THEORY.md §6.
    """
    n = _int(n, "n", 1)
    if n_users is None:
        rankings = _all_orders(n, "impartial_culture")
        return Profile.from_rankings(rankings, meta={"generator": f"impartial_culture(n={n})"})
    U = _int(n_users, "n_users", 1)
    _check_size(U, n, "impartial_culture")
    rng = _rng(seed)
    blocks = (rng.permuted(np.tile(np.arange(n), (r.stop - r.start, 1)), axis=1)
              for r in _blocks(U, n))
    return Profile.from_blocks(U, n, blocks, "rankings", n_voters=U,
                               meta={"generator": f"impartial_culture(n={n}, n_users={U})"})


def _kendall_to_identity(rankings: np.ndarray) -> np.ndarray:
    """Number of discordant pairs of each row (a ranking, best first) with ``0, 1, ..., n-1``."""
    n = rankings.shape[1]
    d = np.zeros(rankings.shape[0], dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            d += rankings[:, i] > rankings[:, j]
    return d


def mallows_normaliser(n: int, phi: float) -> float:
    """``Z(φ) = Σ_π φ^{d(π, centre)} = Π_{i=1}^{n} (1 + φ + ... + φ^{i-1})``.

    The centre (distance 0) has probability exactly ``1/Z(φ)`` under ``mallows``.
    """
    n = _int(n, "n", 1)
    phi = _float(phi, "phi", 0.0, 1.0)
    return float(np.prod([sum(phi**j for j in range(i)) for i in range(1, n + 1)]))


def mallows(n: int, n_users: int | None, phi: float, center=None, seed=None) -> Profile:
    """Mallows model: ``P(π) = φ^{d(π, centre)} / Z(φ)`` with ``d`` the Kendall tau distance
    (number of discordant pairs) and ``Z(φ) = Π_{i=1}^{n} (1 - φ^i)/(1 - φ)``.

    ``phi`` in ``[0, 1]``: ``0`` puts every user on the centre, ``1`` is impartial culture.
    ``center`` is a ranking (best first, a permutation of ``0..n-1``); default ``0, 1, ..., n-1``.

    Sampling is exact, by repeated insertion: the centre's i-th item (``i = 0..n-1``) is
    inserted into the current partial ranking of ``i`` items at position ``j ∈ {0..i}`` with
    probability ``φ^{i-j} / (1 + φ + ... + φ^i)`` (``i - j`` new discordant pairs), independently
    for every user. ``n_users=None`` gives the exact distribution (all ``n!`` orders with their
    Mallows weights; ``n <= 9``).

    References: C. L. Mallows, *Non-null ranking models*, Biometrika 1957; Doignon, Pekeč and
    Regenwetter, *The repeated insertion model for rankings*, Psychometrika 2004.
    """
    n = _int(n, "n", 1)
    phi = _float(phi, "phi", 0.0, 1.0)
    _check_size(1 if n_users is None else _int(n_users, "n_users", 1), n, "mallows")
    centre = np.arange(n) if center is None else _permutation(center, n, "center")
    gen = f"mallows(n={n}, n_users={n_users}, phi={phi:g})"
    if n_users is None:
        orders = _all_orders(n, "mallows")          # positions in the centre's order
        d = _kendall_to_identity(orders)
        w = phi ** d.astype(float)                  # 0.0 ** 0 == 1: phi = 0 keeps the centre
        keep = w > 0
        return Profile.from_rankings(centre[orders[keep]], weights=w[keep],
                                     meta={"generator": gen})
    U = _int(n_users, "n_users", 1)
    rng = _rng(seed)
    levels = np.empty((U, n), dtype=level_dtype(n))
    _mallows_into(levels, phi, centre, rng)
    return Profile._from_dense(levels, None, n_voters=U, meta={"generator": gen})


def _mallows_into(levels: np.ndarray, phi: float, centre: np.ndarray, rng) -> None:
    """Mallows samples into ``levels (U, n)`` (every row), by repeated insertion: the insertion
    position ``j`` of the centre's i-th item is drawn for all U users, column by column
    (``rng.random(U)`` inverted through the cdf of ``φ^{i-j}``, exactly as a search of that
    cdf), stored in ``levels`` itself, and each row is then turned into levels in place
    (``_insertion_levels``): O(U) extra memory."""
    U, n = levels.shape
    levels[:, 0] = 0
    powers = phi ** np.arange(n, dtype=float)   # φ^0, φ^1, ...: the cdfs' terms, reversed
    cols = max(1, min(64, CHUNK_ENTRIES // (8 * max(U, 1))))  # columns drawn at once
    cdf = np.empty((cols, n))
    for i0 in range(1, n, cols):
        i1 = min(n, i0 + cols)
        for i in range(i0, i1):
            p = powers[i::-1]                        # j = 0..i  ->  φ^{i-j}
            c = cdf[i - i0, :i + 1]
            np.cumsum(p / p.sum(), out=c)
            c[-1] = 1.0
        u = rng.random((i1 - i0, U))                 # column i's U draws, one column at a time
        _insertion_positions(cdf, u, phi, i0, levels[:, i0:i1])
    _insertion_levels(levels, centre.astype(np.int64), phi <= 0.9, 4 * numba.get_num_threads())


@numba.njit(cache=True)
def _insertion_positions(cdf, u, phi, i0, out):
    """``out[v, c] = min(searchsorted(cdf[c, :i+1], u[c, v], side="right"), i)`` for the
    columns ``i = i0 + c``, written row by row. For φ <= 0.9 the mass ``φ^{i-j}`` sits near
    j = i, so a walk down from the top finds the position in a few steps on average; beyond,
    a binary search."""
    ncol, U = u.shape
    for v in range(U):
        for col in range(ncol):
            i = i0 + col
            x = u[col, v]
            c = cdf[col, :i + 1]
            if phi <= 0.9:
                g = i + 1
                while g > 0 and c[g - 1] > x:
                    g -= 1
            else:
                g = np.searchsorted(c, x, side="right")
            out[v, col] = min(g, i)


@numba.njit(cache=True, parallel=True)
def _insertion_levels(levels, centre, small_steps, nchunks):
    """Each row of insertion positions ``j_i`` (the centre's i-th item inserted at position j_i
    among the i + 1 items placed so far) into levels, in place: taking the items from the last
    one down, item i lands on the j_i-th free slot of the final ranking (the later items'
    slots are taken; the remaining i + 1 are the earlier items', in their relative order).
    ``small_steps`` (φ <= 0.9: ``i - j_i`` is geometric and short) walks down from the highest
    free slot; otherwise a Fenwick tree finds the slot in O(log n)."""
    U, n = levels.shape
    nchunks = max(1, min(nchunks, U))
    size = (U + nchunks - 1) // nchunks
    top = 1
    while top * 2 <= n:
        top *= 2
    for c in numba.prange(nchunks):
        j = np.empty(n, dtype=np.int64)
        free = np.empty(n, dtype=np.bool_)
        tree = np.empty(n + 1, dtype=np.int64)
        for u in range(c * size, min(U, c * size + size)):
            row = levels[u]
            for i in range(n):
                j[i] = row[i]
            if small_steps:
                free[:] = True
                hi = n - 1
                for i in range(n - 1, -1, -1):
                    d = i - j[i]  # the d-th free slot from the top (0-based)
                    s = hi
                    seen = 0
                    while True:
                        if free[s]:
                            if seen == d:
                                break
                            seen += 1
                        s -= 1
                    free[s] = False
                    row[centre[i]] = s
                    while hi >= 0 and not free[hi]:
                        hi -= 1
            else:
                for q in range(1, n + 1):
                    tree[q] = q & (-q)
                for i in range(n - 1, -1, -1):
                    rem = j[i] + 1  # the rem-th free slot from the bottom (1-based)
                    pos = 0
                    step = top
                    while step > 0:
                        if pos + step <= n and tree[pos + step] < rem:
                            pos += step
                            rem -= tree[pos]
                        step //= 2
                    row[centre[i]] = pos
                    q = pos + 1
                    while q <= n:
                        tree[q] -= 1
                        q += q & (-q)


def plackett_luce(n: int, n_users: int, strengths=None, seed=None) -> Profile:
    """Plackett–Luce: a user picks the best response with probability ``w_y / Σ w``, then the
    next among the rest, and so on. Sampled exactly with the Gumbel trick: the order of
    ``log w_y + G_y`` (``G_y`` i.i.d. standard Gumbel), largest first.

    ``strengths`` ``(n,)`` positive; default: drawn from a flat Dirichlet with the same
    generator (stored in ``meta["strengths"]``).

    References: R. L. Plackett, *The analysis of permutations*, 1975; Yellott 1977 (Gumbel).
    """
    n = _int(n, "n", 1)
    U = _int(n_users, "n_users", 1)
    _check_size(U, n, "plackett_luce")
    rng = _rng(seed)
    if strengths is None:
        w = rng.dirichlet(np.ones(n))
    else:
        w = np.asarray(strengths, dtype=float)
        if w.shape != (n,):
            raise ValueError(f"strengths must have shape ({n},), got {w.shape}")
        bad = np.flatnonzero(~np.isfinite(w) | (w <= 0))
        if bad.size:
            raise ValueError(f"strengths must be finite and > 0, got {w[bad[0]]} at position "
                             f"{bad[0]}")
    logw = np.log(w)
    # (the default sort: keys tie with probability 0, and it is twice as fast as a stable one)
    blocks = (np.argsort(-(logw[None, :] + rng.gumbel(size=(r.stop - r.start, n))), axis=1)
              for r in _blocks(U, n))
    return Profile.from_blocks(U, n, blocks, "rankings", n_voters=U,
                               meta={"generator": f"plackett_luce(n={n}, n_users={U})",
                                     "strengths": ",".join(f"{x:.6g}" for x in w)})


def _check_parts(profiles: Sequence[Profile]) -> list[Profile]:
    """The parts of a mixture: at least one Profile, all with the same number of responses."""
    parts = list(profiles)
    if not parts:
        raise ValueError("profiles must hold at least one Profile")
    for g, p in enumerate(parts):
        if not isinstance(p, Profile):
            raise ValueError(f"profiles[{g}] must be a Profile, got {type(p).__name__}")
    n = parts[0].n_responses
    for g, p in enumerate(parts):
        if p.n_responses != n:
            raise ValueError(f"profiles must all have {n} responses (like profiles[0]), got "
                             f"{p.n_responses} at position {g}")
    return parts


def _group_shares(group_weights, G: int) -> np.ndarray:
    """``(G,)`` group shares summing to 1 (equal when None)."""
    return check_user_weights(group_weights, G, "group_weights", per="group")


def _group_names(group_names, G: int) -> tuple[str, ...]:
    """One name per group (``group 0``, ``group 1``, ... when None)."""
    if group_names is None:
        return tuple(f"group {g}" for g in range(G))
    names = tuple(str(s) for s in group_names)
    if len(names) != G:
        raise ValueError(f"group_names must name each of the {G} groups, got {len(names)}")
    return names


def mixture(profiles: Sequence[Profile], group_weights=None, group_names=None) -> Profile:
    """A heterogeneous population: group ``g`` is ``profiles[g]`` and holds share
    ``group_weights[g]`` of the users (default: equal shares).

    Row weights become ``group_weights[g] * profiles[g].weights`` and ``Profile.groups`` records
    each row's group (groups already inside the parts are replaced by the part's index).
    All parts must have the same number of responses; labels are kept when they agree.
    """
    parts = _check_parts(profiles)
    G = len(parts)
    gw = _group_shares(group_weights, G)
    group_names = _group_names(group_names, G)
    keep = [g for g in range(G) if gw[g] > 0]
    levels = np.concatenate([parts[g].levels for g in keep])
    weights = np.concatenate([gw[g] * parts[g].weights for g in keep])
    groups = np.concatenate([np.full(parts[g].n_users, g, dtype=np.int64) for g in keep])
    labels = parts[0].labels if all(p.labels == parts[0].labels for p in parts) else None
    voters = [p.n_voters for p in parts]
    n_voters = (float(sum(v for v in voters if v is not None))
                if all(v is not None for v in voters) else None)
    return Profile(levels, weights, labels=labels, groups=groups, group_names=group_names,
                   n_voters=n_voters,
                   meta={"generator": f"mixture({G} groups)",
                         "group weights": ",".join(f"{x:.6g}" for x in gw)})


def _group_sizes(U: int, gw: np.ndarray) -> np.ndarray:
    """Users per group: one for each group of positive share, the rest split by share
    (``_split``); ``ValueError`` when there are fewer users than such groups."""
    positive = int(np.count_nonzero(gw))
    if U < positive:
        raise ValueError(f"n_users must be >= the number of groups with positive weight "
                         f"({positive}), got {U}")
    sizes = np.zeros(gw.shape[0], dtype=np.int64)
    sizes[gw > 0] = 1 + _split(U - positive, gw[gw > 0])
    return sizes


def _split(total: int, shares: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total`` users into groups with the given shares."""
    raw = total * shares
    out = np.floor(raw).astype(np.int64)
    rest = total - out.sum()
    out[np.argsort(-(raw - out), kind="stable")[:rest]] += 1
    return out


def mallows_mixture(n: int, n_users: int, phi, groups: int, group_weights=None, centers=None,
                    seed=None) -> Profile:
    """A mixture of ``groups`` Mallows populations with random centres (uniform random
    permutations drawn from ``seed``, or the given ``centers`` ``(groups, n)``).

    ``phi`` is one dispersion for all groups or one per group. The ``n_users`` sampled users are
    split between groups in proportion to ``group_weights`` (largest remainder; every group with
    positive weight gets at least one user), and each group holds exactly its share of the
    weight. Centres are stored in ``meta["centers"]`` (rows separated by ``;``).

    References: shared/spec/THEORY.md §1; :func:`mallows`, :func:`mixture`.
    """
    n = _int(n, "n", 1)
    U = _int(n_users, "n_users", 1)
    G = _int(groups, "groups", 1)
    _check_size(U, n, "mallows_mixture", extra=8 * G * n)
    rng = _rng(seed)
    phis = [phi] * G if np.ndim(phi) == 0 else list(phi)
    if len(phis) != G:
        raise ValueError(f"phi must be one number or one per group ({G}), got {len(phis)}")
    gw = _group_shares(group_weights, G)
    sizes = _group_sizes(U, gw)
    if centers is None:
        cs = np.stack([rng.permutation(n) for _ in range(G)])
    else:
        cs = np.asarray(centers)
        if cs.ndim != 2 or cs.shape[0] != G:
            raise ValueError(f"centers must have shape ({G}, {n}), got {cs.shape}")
        cs = np.stack([_permutation(c, n, f"centers[{g}]") for g, c in enumerate(cs)])
    # Group by group into one array (each group's draws as mallows(..., seed=rng) would make;
    # a group of weight 0 is drawn too, for one user, and dropped, as the parts of a mixture).
    levels = np.empty((U, n), dtype=level_dtype(n))
    weights = np.empty(U)
    group_of = np.empty(U, dtype=np.int64)
    start = 0
    for g in range(G):
        m = max(int(sizes[g]), 1)
        phi_g = _float(phis[g], "phi", 0.0, 1.0)
        if gw[g] > 0:
            _mallows_into(levels[start:start + m], phi_g, cs[g], rng)
            weights[start:start + m] = gw[g] / m
            group_of[start:start + m] = g
            start += m
        else:
            _mallows_into(np.empty((m, n), dtype=levels.dtype), phi_g, cs[g], rng)
    meta = {"generator": f"mallows_mixture(n={n}, n_users={U}, groups={G})",
            "group weights": ",".join(f"{x:.6g}" for x in gw),
            "centers": ";".join(",".join(map(str, c)) for c in cs)}
    return Profile._from_dense(levels, weights, groups=group_of,
                               group_names=_group_names(None, G), n_voters=U, meta=meta)


def plackett_luce_mixture(n: int, n_users: int, groups: int, group_weights=None,
                          seed=None) -> Profile:
    """A mixture of ``groups`` Plackett-Luce populations: group g has its own strengths
    ``w_g`` drawn from a flat Dirichlet (stored in ``meta["strengths"]``, rows separated by
    ``;``), so its users rank by ``log w_g(y) + G_y`` (``G_y`` i.i.d. standard Gumbel): Gumbel
    noise around the group's centre ``log w_g``. Users are split between groups as in
    :func:`mallows_mixture` (largest remainder, at least one per group of positive weight) and
    each group holds exactly its share of the weight. Built by row blocks (peak memory about
    the profile plus one block).

    References: :func:`plackett_luce`, :func:`mixture`.
    """
    n = _int(n, "n", 1)
    U = _int(n_users, "n_users", 1)
    G = _int(groups, "groups", 1)
    _check_size(U, n, "plackett_luce_mixture", extra=8 * G * n)
    rng = _rng(seed)
    gw = _group_shares(group_weights, G)
    sizes = _group_sizes(U, gw)
    logw = np.log(rng.dirichlet(np.ones(n), size=G))
    weights = np.repeat(np.divide(gw, sizes, out=np.zeros(G), where=sizes > 0), sizes)
    group_of = np.repeat(np.arange(G), sizes)

    def blocks():
        for g in range(G):
            for r in _blocks(int(sizes[g]), n):
                keys = logw[g][None, :] + rng.gumbel(size=(r.stop - r.start, n))
                yield np.argsort(-keys, axis=1)

    meta = {"generator": f"plackett_luce_mixture(n={n}, n_users={U}, groups={G})",
            "group weights": ",".join(f"{x:.6g}" for x in gw),
            "strengths": ";".join(",".join(f"{x:.6g}" for x in np.exp(row)) for row in logw)}
    return Profile.from_blocks(U, n, blocks(), "rankings", weights=weights, groups=group_of,
                               group_names=_group_names(None, G), n_voters=U, meta=meta)


def condorcet_cycle(n: int = 3) -> Profile:
    """The Condorcet cycle on ``n`` responses: the ``n`` cyclic shifts
    ``(i, i+1, ..., i+n-1) mod n`` of ``0, 1, ..., n-1``, equal weights.

    Every response beats the next by ``(n-1)/n`` of the users, so there is no Condorcet winner
    for ``n >= 3``. With ``n = k+1`` it bounds deterministic k-sets (THEORY §6).

    References: shared/spec/THEORY.md §6.
    """
    n = _int(n, "n", 2)
    _check_size(n, n, "condorcet_cycle")
    rankings = (np.arange(n)[:, None] + np.arange(n)[None, :]) % n
    return Profile.from_rankings(rankings, meta={"generator": f"condorcet_cycle(n={n})"})


def nlhf_collapse(eps: float = 0.05) -> Profile:
    """The NLHF-collapse instance: two responses; share ``1/2 + eps`` of the users rank
    ``0 ≻ 1``, the rest ``1 ≻ 0``. ``eps`` in ``[0, 1/2]``.

    The NLHF equilibrium is ``δ_0`` and its k samples win exactly ``1/2 + eps`` against
    response 1 for every k; the (k+1)-game equilibrium is mixed and reaches ``k/(k+1)``.

    References: shared/spec/THEORY.md §6.
    """
    eps = _float(eps, "eps", 0.0, 0.5)
    rankings = np.array([[0, 1], [1, 0]])
    w = np.array([0.5 + eps, 0.5 - eps])
    keep = w > 0
    return Profile.from_rankings(rankings[keep], weights=w[keep],
                                 meta={"generator": f"nlhf_collapse(eps={eps:g})"})


def ideal_points(n: int, n_users: int, dim: int = 2, seed=None, noise: float = 0.0,
                 clusters: int | None = None, spread: float = 0.3,
                 return_coords: bool = False):
    """Ideal-point users: personas and responses are points in an attribute space
    ``R^dim``; persona ``u`` scores response ``y`` by ``s_u(y) = -||x_u - z_y||_2 + noise·ε_uy``
    (``ε`` i.i.d. standard normal) and ranks by score (higher is better).

    Responses ``z_y`` are uniform on ``[-1, 1]^dim``. Personas ``x_u`` are uniform on the same
    cube, or, with ``clusters = c``, drawn around ``c`` uniform cluster centres with standard
    deviation ``spread`` per axis; the cluster becomes the user's group in ``Profile.groups``.

    Returns the Profile, or with ``return_coords=True`` the tuple
    ``(profile, personas (n_users, dim), responses (n, dim))``; persona ``u`` is the ``u``-th
    sampled user (the profile merges users with identical orders).

    References: shared/spec/THEORY.md §1, §8 (per-persona utilities).
    """
    n = _int(n, "n", 1)
    U = _int(n_users, "n_users", 1)
    dim = _int(dim, "dim", 1)
    # coordinates (U + n) x dim, and a block's (rows, n, dim) differences behind the distances
    _check_size(U, n, "ideal_points", extra=8 * (U + n) * dim
                + 16 * min(U * n, CHUNK_ENTRIES) * dim)
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not (
            np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if isinstance(spread, bool) or not isinstance(spread, numbers.Real) or not (
            np.isfinite(spread) and spread >= 0):
        raise ValueError(f"spread must be a finite number >= 0, got {spread!r}")
    rng = _rng(seed)
    z = rng.uniform(-1.0, 1.0, size=(n, dim))
    groups = group_names = None
    if clusters is None:
        x = rng.uniform(-1.0, 1.0, size=(U, dim))
    else:
        c = _int(clusters, "clusters", 1)
        centres = rng.uniform(-1.0, 1.0, size=(c, dim))
        groups = rng.integers(0, c, size=U)
        x = centres[groups] + spread * rng.standard_normal((U, dim))
        group_names = tuple(f"cluster {g}" for g in range(c))
    def blocks():  # scores by row blocks; the noise is drawn block after block, in order
        for r in _blocks(U, n):
            scores = -np.linalg.norm(x[r, None, :] - z[None, :, :], axis=2)  # (rows, n)
            if noise > 0:
                scores = scores + noise * rng.standard_normal((r.stop - r.start, n))
            yield scores

    prof = Profile.from_blocks(
        U, n, blocks(), "scores", groups=groups, group_names=group_names, n_voters=U,
        meta={"generator": f"ideal_points(n={n}, n_users={U}, dim={dim}, noise={noise:g}"
                           + ("" if clusters is None else f", clusters={clusters}") + ")"})
    return (prof, x, z) if return_coords else prof


def random_profile(seed, n: int, n_users: int, n_levels: int | None = None) -> Profile:
    """A random population for property tests and checks: ``n_users`` weak orders over ``n``
    responses with Dirichlet(1) weights.

    With ``n_levels=None`` each user's levels are a uniform random permutation of ``0..n-1``
    (strict orders); with ``n_levels = m`` each level is drawn uniformly from ``0..m-1``
    independently (ties; ``m = 1`` makes every user indifferent). Draws, in this order:
    ``rng.random((n_users, n))`` (argsorted) or ``rng.integers(0, m, (n_users, n))``, then
    ``rng.dirichlet(ones(n_users))``; so passing a Generator continues its stream reproducibly.
    Identical orders merge in the ``Profile`` (their weights add).

    Args:
      seed: ``None``, a non-negative int or a ``numpy.random.Generator`` (used, not copied).
      n: number of responses, >= 1.
      n_users: number of users drawn, >= 1.
      n_levels: ``None`` (strict orders) or the number of levels, >= 1.

    References: shared/spec/THEORY.md §1 (profiles, weak orders).
    """
    n = _int(n, "n", 1)
    U = _int(n_users, "n_users", 1)
    _check_size(U, n, "random_profile")
    rng = _rng(seed)
    if n_levels is None:
        blocks = (np.argsort(rng.random((r.stop - r.start, n)), axis=1) for r in _blocks(U, n))
    else:
        m = _int(n_levels, "n_levels", 1)
        blocks = (rng.integers(0, m, size=(r.stop - r.start, n)) for r in _blocks(U, n))
    levels = levels_from_blocks(U, n, blocks, "levels")   # by blocks, drawn in order
    return Profile._from_dense(levels, rng.dirichlet(np.ones(U)))
