"""Synthetic preference profiles: the instances that make the paper's claims visible.

Every random generator takes ``seed`` (``None``, an int or a ``numpy.random.Generator``) and
never touches NumPy's global RNG; the same seed gives the same profile. Profiles merge identical
orders (``Profile`` sums their weights), so ``n_users`` of a sampled profile is the number of
*distinct* orders; ``n_voters`` keeps the number of sampled users.

References: shared/spec/THEORY.md §1 (profiles), §6 (NLHF collapse, impartial culture,
Condorcet cycle).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import numpy as np

from ualign.core.checks import check_size, check_user_weights
from ualign.core.profile import Profile

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
        return np.random.default_rng(seed)
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
    """Before sampling U users over n responses: about 64 bytes per (user, response) entry
    (the sampled orders, their positions and the Profile's working copies) plus ``extra``."""
    check_size(64 * U * n + extra, f"{who} with {U} users x {n} responses")


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
    rankings = rng.permuted(np.tile(np.arange(n), (U, 1)), axis=1)
    return Profile.from_rankings(rankings, n_voters=U,
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
    # pos[u, i]: position of the centre's i-th item in user u's ranking (positions 0..i-1 used)
    pos = np.zeros((U, n), dtype=np.int64)
    for i in range(1, n):
        p = phi ** np.arange(i, -1, -1, dtype=float)        # j = 0..i  ->  φ^{i-j}
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0
        j = np.searchsorted(cdf, rng.random(U), side="right")
        j = np.minimum(j, i)
        head = pos[:, :i]
        head += head >= j[:, None]
        pos[:, i] = j
    rankings = np.empty((U, n), dtype=np.int64)
    np.put_along_axis(rankings, pos, np.broadcast_to(centre, (U, n)), axis=1)
    return Profile.from_rankings(rankings, n_voters=U, meta={"generator": gen})


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
    keys = np.log(w)[None, :] + rng.gumbel(size=(U, n))
    rankings = np.argsort(-keys, axis=1, kind="stable")
    return Profile.from_rankings(rankings, n_voters=U,
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
    n_voters = float(sum(voters)) if all(v is not None for v in voters) else None
    return Profile(levels, weights, labels=labels, groups=groups, group_names=group_names,
                   n_voters=n_voters,
                   meta={"generator": f"mixture({G} groups)",
                         "group weights": ",".join(f"{x:.6g}" for x in gw)})


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
    positive = int(np.count_nonzero(gw))
    if U < positive:
        raise ValueError(f"n_users must be >= the number of groups with positive weight "
                         f"({positive}), got {U}")
    sizes = np.zeros(G, dtype=np.int64)
    sizes[gw > 0] = 1 + _split(U - positive, gw[gw > 0])
    if centers is None:
        cs = np.stack([rng.permutation(n) for _ in range(G)])
    else:
        cs = np.asarray(centers)
        if cs.ndim != 2 or cs.shape[0] != G:
            raise ValueError(f"centers must have shape ({G}, {n}), got {cs.shape}")
        cs = np.stack([_permutation(c, n, f"centers[{g}]") for g, c in enumerate(cs)])
    parts = [mallows(n, max(int(sizes[g]), 1), phis[g], center=cs[g], seed=rng)
             for g in range(G)]
    prof = mixture(parts, gw)
    meta = dict(prof.meta)
    meta["generator"] = f"mallows_mixture(n={n}, n_users={U}, groups={G})"
    meta["centers"] = ";".join(",".join(map(str, c)) for c in cs)
    return Profile(prof.levels, prof.weights, groups=prof.groups,
                   group_names=prof.group_names, n_voters=U, meta=meta)


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
    # coordinates (U + n) x dim, and the (U, n, dim) differences behind the distances
    _check_size(U, n, "ideal_points", extra=8 * (U + n) * dim + 16 * U * n * dim)
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
    dist = np.linalg.norm(x[:, None, :] - z[None, :, :], axis=2)      # (U, n)
    scores = -dist
    if noise > 0:
        scores = scores + noise * rng.standard_normal((U, n))
    prof = Profile.from_scores(
        scores, groups=groups, group_names=group_names, n_voters=U,
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
        levels = np.argsort(rng.random((U, n)), axis=1)
    else:
        levels = rng.integers(0, _int(n_levels, "n_levels", 1), size=(U, n))
    return Profile.from_levels(levels, weights=rng.dirichlet(np.ones(U)))
