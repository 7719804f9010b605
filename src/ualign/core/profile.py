"""Preference profiles: a finite population of users, each with a weak order over n responses.

A profile stores integer *levels* ``(U, n)``: ``levels[u, y] = 0`` for user ``u``'s favourite
class, larger is worse, equal levels are indifferent; and weights ``(U,)`` summing to 1 (the
share of users holding each order). Levels are kept dense (each row uses 0, 1, ..., c-1) and
identical orders are merged, so two profiles describing the same population compare equal.

References: shared/spec/THEORY.md §1.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from ualign.core import _kernels
from ualign.core._threads import is_small
from ualign.core.checks import (
    _finite,
    as_real_array,
    check_response,
    check_size,
    check_weights,
    register_profile_type,
)

CHUNK_ENTRIES = 1 << 22  # (user, response) entries per row chunk of the constructor's passes


def _row_chunks(U: int, n: int):
    """Row slices of at most about CHUNK_ENTRIES entries: the constructor's temporaries are
    per chunk, so building a profile peaks near its input plus its output."""
    rows = max(1, CHUNK_ENTRIES // max(n, 1))
    return [slice(s, s + rows) for s in range(0, U, rows)]


def _dense_rows(levels: np.ndarray) -> np.ndarray:
    """Row-wise dense ranks: the smallest value becomes 0, the next distinct value 1, ..."""
    U, n = levels.shape
    order = np.argsort(levels, axis=1, kind="stable")
    srt = np.take_along_axis(levels, order, axis=1)
    new_class = np.zeros((U, n), dtype=np.int64)
    new_class[:, 1:] = srt[:, 1:] != srt[:, :-1]
    out = np.empty((U, n), dtype=np.int64)
    np.put_along_axis(out, order, np.cumsum(new_class, axis=1), axis=1)
    return out


def _dense_levels(levels: np.ndarray, dtype=np.int64) -> np.ndarray:
    """Row-wise dense ranks (``_dense_rows``) as a new ``dtype`` array, computed by row chunks."""
    U, n = levels.shape
    out = np.empty((U, n), dtype=dtype)
    for rows in _row_chunks(U, n):
        out[rows] = _dense_rows(levels[rows])
    return out


def level_dtype(n: int):
    """The dtype of a profile's levels over ``n`` responses: int16 below 2^15, else int32."""
    return np.int16 if n < 2**15 else np.int32


class _DenseLevels:
    """Dense levels in their final dtype that a constructor of this module has just built and
    hands over (private): the profile keeps this array, and may compact it in place, instead of
    copying it. Users pass plain arrays, which are always copied."""

    __slots__ = ("levels",)

    def __init__(self, levels: np.ndarray):
        self.levels = levels


def _unwrap_levels(levels) -> tuple[object, bool]:
    """``(levels, owned)``: the array inside a ``_DenseLevels`` (owned) or the argument."""
    if isinstance(levels, _DenseLevels):
        return levels.levels, True
    return levels, False


LEVEL_LIMIT = 2**62  # |level| must stay below this (int64 with room for differences)


def _check_levels(levels) -> np.ndarray:
    """``(U, n)`` integer levels with U, n >= 1 (checked by row chunks, returned uncast)."""
    lv = np.asarray(levels)
    if lv.ndim != 2:
        raise ValueError(f"levels must be a 2-d array (U users, n responses), got shape "
                         f"{lv.shape}")
    U, n = lv.shape
    if U == 0:
        raise ValueError("levels must hold at least one user (row); the profile is empty")
    if n == 0:
        raise ValueError("levels must hold at least one response (column)")
    if lv.dtype.kind not in "iufb":
        raise ValueError(f"levels must be integers, got dtype {lv.dtype}")
    for rows in _row_chunks(U, n):
        _check_level_rows(lv[rows], rows.start)
    return lv


def _check_level_rows(lv: np.ndarray, start: int) -> None:
    """Integer levels in (-2^62, 2^62) in one row chunk starting at row ``start``."""
    if lv.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(lv) | (lv != np.round(lv)))
        if bad.size:
            r, c = bad[0]
            raise ValueError(f"levels must be integers, got {lv[r, c]} at row {r + start}, "
                             f"column {c}")
    if lv.dtype.kind in "iuf":
        # checked before any cast to int64, which would wrap (uint64 >= 2^63) or saturate
        big = np.argwhere(np.abs(lv) >= LEVEL_LIMIT) if lv.dtype.kind != "u" \
            else np.argwhere(lv >= LEVEL_LIMIT)
        if big.size:
            r, c = big[0]
            raise ValueError(f"levels must be integers in (-2^62, 2^62), got {lv[r, c]!r} at "
                             f"row {r + start}, column {c}")


def _rank_rows(r: np.ndarray, out: np.ndarray, start: int) -> None:
    """Levels of the strict rankings ``r`` (one row chunk starting at row ``start``) into
    ``out``: each row must be a permutation of ``0..n-1``. Checked without sorting: indices in
    range, and every position written once."""
    n = r.shape[1]
    bad = np.flatnonzero((r.min(axis=1) < 0) | (r.max(axis=1) >= n))
    if not bad.size:
        out.fill(-1)
        np.put_along_axis(out, r.astype(np.intp), np.arange(n, dtype=out.dtype)[None, :], axis=1)
        bad = np.flatnonzero(out.min(axis=1) < 0)
    if bad.size:
        row = int(bad[0])
        raise ValueError(f"rankings row {row + start} must be a permutation of 0..{n - 1}, "
                         f"got {r[row].tolist()}")


def _rankings_into(r, out: np.ndarray, start: int) -> None:
    """Levels of strict rankings (best first) into ``out`` (rows from ``start``)."""
    r = _ranking_ints(r)
    _rank_rows(r, out, start)


def _ranking_ints(r: np.ndarray) -> np.ndarray:
    """Rankings as integers: integer arrays as given, whole floats cast, anything else raises."""
    if r.dtype.kind in "iu":
        return r
    if r.dtype.kind == "f" and np.all(np.isfinite(r)) and np.all(r == np.round(r)):
        return r.astype(np.int64)
    raise ValueError(f"rankings must hold integer response indices, got dtype {r.dtype}")


def _levels_into(lv, out: np.ndarray, start: int) -> None:
    """Dense levels of integer levels into ``out`` (rows from ``start``), checked."""
    if lv.dtype.kind not in "iufb":
        raise ValueError(f"levels must be integers, got dtype {lv.dtype}")
    _check_level_rows(lv, start)
    out[:] = _dense_rows(lv)


def _scores_into(s, out: np.ndarray, start: int) -> None:
    """Dense levels of utilities (higher is better, NaN unranked) into ``out``."""
    if np.any(np.isinf(s)):
        r, c = np.argwhere(np.isinf(s))[0]
        raise ValueError(f"scores must be finite or NaN, got {s[r, c]} at row {r + start}, "
                         f"column {c}")
    out[:] = _dense_rows(np.where(np.isnan(s), np.inf, -s))


_BLOCK_CONVERTERS = {"rankings": _rankings_into, "levels": _levels_into, "scores": _scores_into}
BLOCK_FORMS = tuple(_BLOCK_CONVERTERS)


def levels_from_blocks(n_users: int, n_responses: int, blocks, form: str = "rankings"
                       ) -> np.ndarray:
    """The dense ``(n_users, n_responses)`` levels, in ``level_dtype(n_responses)``, of the
    consecutive row blocks ``blocks`` of ``form`` (see ``Profile.from_blocks``), converted
    block by block (each in row chunks of about ``CHUNK_ENTRIES`` entries)."""
    U = _check_count(n_users, "n_users")
    n = _check_count(n_responses, "n_responses")
    if form not in BLOCK_FORMS:
        raise ValueError(f"form must be one of {', '.join(BLOCK_FORMS)}, got {form!r}")
    check_size(U * n * np.dtype(level_dtype(n)).itemsize, f"a profile of {U} users x {n} "
               "responses")
    levels = np.empty((U, n), dtype=level_dtype(n))
    start = 0
    for i, block in enumerate(blocks):
        b = np.asarray(block) if form != "scores" else as_real_array(block, f"blocks[{i}]")
        if b.ndim != 2 or b.shape[1] != n:
            raise ValueError(f"blocks[{i}] must have shape (rows, {n}), got {b.shape}")
        stop = start + b.shape[0]
        if stop > U:
            raise ValueError(f"blocks hold more than n_users = {U} rows (block {i} ends at row "
                             f"{stop})")
        for rows in _row_chunks(b.shape[0], n):
            part = b[rows]
            first = start + rows.start
            _BLOCK_CONVERTERS[form](part, levels[first:first + part.shape[0]], first)
        start = stop
    if start != U:
        raise ValueError(f"blocks hold {start} rows, expected n_users = {U}")
    return levels


def _check_count(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {x!r}")
    return int(x)


def _check_labels(labels, n: int) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__") or (
            isinstance(labels, np.ndarray) and labels.ndim == 0):
        raise ValueError(f"labels must be a sequence of {n} names (one per response), got "
                         f"{type(labels).__name__} {labels!r:.60}")
    labels = tuple(str(s) for s in labels)
    if len(labels) != n:
        raise ValueError(f"labels must name each of the {n} responses, got "
                         f"{len(labels)} labels")
    return labels


def _check_names(names, name: str) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__") or np.ndim(names) == 0:
        raise ValueError(f"{name} must be a sequence of names, got {type(names).__name__} "
                         f"{names!r:.60}")
    return tuple(str(s) for s in names)


def _check_n_voters(n_voters) -> float | None:
    if n_voters is None:
        return None
    if isinstance(n_voters, bool) or not isinstance(n_voters, numbers.Real) \
            or not _finite(n_voters) or n_voters <= 0:
        raise ValueError(f"n_voters must be a finite number > 0 (the voters behind the "
                         f"weights), got {n_voters!r}")
    return float(n_voters)


def _check_groups(groups, group_names, U: int) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (U,) or groups.dtype.kind not in "iu":
        raise ValueError(f"groups must be an integer array of shape ({U},), got "
                         f"{groups.dtype} {groups.shape}")
    groups = groups.astype(np.int64)
    if groups.min() < 0:
        raise ValueError("groups must be non-negative group ids")
    if group_names is not None and len(group_names) <= groups.max():
        raise ValueError(f"group_names must name groups 0..{groups.max()}, got "
                         f"{len(group_names)} names")
    return groups


def _check_n_ranked(n_ranked, U: int, n: int) -> np.ndarray | None:
    if n_ranked is None:
        return None
    n_ranked = as_real_array(n_ranked, "n_ranked")
    if n_ranked.shape != (U,):
        raise ValueError(f"n_ranked must have shape ({U},), got {n_ranked.shape}")
    bad = np.flatnonzero(~np.isfinite(n_ranked) | (n_ranked != np.round(n_ranked)))
    if bad.size:
        raise ValueError(f"n_ranked must hold whole numbers, got {n_ranked[bad[0]]} at row "
                         f"{bad[0]}")
    if np.any((n_ranked < 0) | (n_ranked > n)):
        r = int(np.flatnonzero((n_ranked < 0) | (n_ranked > n))[0])
        raise ValueError(f"n_ranked must lie in [0, {n}], got {n_ranked[r]} at row {r}")
    n_ranked = n_ranked.astype(np.int64)
    if np.any((n_ranked < 0) | (n_ranked > n)):
        r = int(np.flatnonzero((n_ranked < 0) | (n_ranked > n))[0])
        raise ValueError(f"n_ranked must lie in [0, {n}], got {n_ranked[r]} at row {r}")
    return n_ranked


@register_profile_type
@dataclasses.dataclass(frozen=True, eq=False)
class Profile:
    """A weighted population of weak orders over ``n`` responses (immutable).

    Attributes:
      levels: ``(U, n)`` integer levels, 0 = favourite, equal = indifferent (dense per row).
      weights: ``(U,)`` shares of the population, summing to 1.
      labels: optional names of the ``n`` responses.
      groups: optional ``(U,)`` integer group of each row (e.g. a Polis opinion group).
      group_names: optional names of the groups, indexed by group id.
      n_ranked: optional ``(U,)`` number of responses the user ranked explicitly; the rest
        (tied at the bottom) were unranked. Only PrefLib's incomplete formats use it, so that
        ``write_preflib(read_preflib(f))`` reproduces ``f`` exactly.
      n_voters: optional number of voters behind the weights (PrefLib counts are
        ``weights * n_voters``).
      meta: optional metadata (PrefLib header fields, source path, ...).

    Build profiles with :meth:`from_rankings`, :meth:`from_levels`, :meth:`from_scores` or
    :func:`ualign.read_preflib`; the constructor validates, densifies and merges too.

    Examples:
      Three users in a Condorcet cycle (rankings best first), then a profile from scores with a
      tie and an unranked response:

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> P, P.condorcet_winner()
      (Profile(users=3, responses=3), None)
      >>> P.pairwise_preferences().round(4).tolist()
      [[0.0, 0.6667, 0.3333], [0.3333, 0.0, 0.6667], [0.6667, 0.3333, 0.0]]
      >>> S = Profile.from_scores([[3.0, 1.0, 1.0], [float("nan"), 2.0, 5.0]])
      >>> S, S.levels.tolist()
      (Profile(users=2, responses=3, ties), [[0, 1, 1], [2, 1, 0]])
      >>> M = Profile.from_levels([[0, 1], [0, 1], [1, 0]])  # identical rows are merged
      >>> M.weights.round(4).tolist()
      [0.6667, 0.3333]
    """

    levels: np.ndarray
    weights: np.ndarray
    labels: tuple[str, ...] | None = None
    groups: np.ndarray | None = None
    group_names: tuple[str, ...] | None = None
    n_ranked: np.ndarray | None = None
    n_voters: float | None = None
    meta: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        lv, owned = _unwrap_levels(self.levels)
        lv = _check_levels(lv)
        U, n = lv.shape
        w = check_weights(self.weights, U)
        labels = _check_labels(self.labels, n)
        groups = _check_groups(self.groups, _check_names(self.group_names, "group_names"), U)
        n_ranked = _check_n_ranked(self.n_ranked, U, n)
        if not (owned and lv.dtype == level_dtype(n)):
            lv = _dense_levels(lv, level_dtype(n))  # the one copy: the caller's array is theirs
        lv, w, groups, n_ranked = _merge(lv, w, groups, n_ranked)
        for arr in (lv, w, groups, n_ranked):
            if arr is not None:
                arr.setflags(write=False)
        set_ = functools.partial(object.__setattr__, self)
        set_("levels", lv)
        set_("weights", w)
        set_("labels", labels)
        set_("groups", groups)
        set_("group_names", _check_names(self.group_names, "group_names"))
        set_("n_ranked", n_ranked)
        set_("n_voters", _check_n_voters(self.n_voters))
        if not isinstance(self.meta, Mapping):
            raise ValueError(f"meta must be a mapping (e.g. a dict of header fields), got "
                             f"{type(self.meta).__name__}")
        set_("meta", dict(self.meta))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_levels(cls, levels, weights=None, **kwargs) -> Profile:
        """Profile from integer levels ``(U, n)`` (0 = best, equal = tie); weights default to
        uniform over rows. Extra keyword arguments are the dataclass fields (labels, groups...).
        """
        levels = np.asarray(levels)
        if levels.ndim != 2:
            raise ValueError(f"levels must be a 2-d array (U users, n responses), got shape "
                             f"{levels.shape}")
        if weights is None:
            weights = np.ones(levels.shape[0])
        return cls(levels=levels, weights=weights, **kwargs)

    @classmethod
    def from_rankings(cls, rankings, weights=None, **kwargs) -> Profile:
        """Profile from strict rankings ``(U, n)``: each row a permutation of ``0..n-1``,
        best first."""
        r = np.asarray(rankings)
        if r.ndim != 2:
            raise ValueError(f"rankings must be a 2-d array (U users, n responses), got shape "
                             f"{r.shape}")
        U, n = r.shape
        r = _ranking_ints(r)
        levels = np.empty((U, n), dtype=level_dtype(n))
        for rows in _row_chunks(U, n):
            _rank_rows(r[rows], levels[rows], rows.start)
        return cls._from_dense(levels, weights, **kwargs)

    @classmethod
    def from_blocks(cls, n_users: int, n_responses: int, blocks, form: str = "rankings",
                    weights=None, **kwargs) -> Profile:
        """Profile built block by block: ``blocks`` yields consecutive row blocks
        ``(rows, n_responses)`` of ``form`` ``"rankings"`` (strict, best first, as
        :meth:`from_rankings`), ``"levels"`` (as :meth:`from_levels`) or ``"scores"`` (as
        :meth:`from_scores`), ``n_users`` rows in all. Each block is converted into the
        profile's level dtype (int16 below 2^15 responses) as it arrives, so a profile is built
        at the memory of the profile plus one block (how the generators build large ones).
        Weights default to uniform over rows; extra keyword arguments are the dataclass
        fields."""
        levels = levels_from_blocks(n_users, n_responses, blocks, form)
        return cls._from_dense(levels, weights, **kwargs)

    @classmethod
    def _from_dense(cls, levels: np.ndarray, weights, **kwargs) -> Profile:
        """Profile that keeps ``levels``, dense levels in their final dtype just built here."""
        if weights is None:
            weights = np.ones(levels.shape[0])
        return cls(levels=_DenseLevels(levels), weights=weights,  # type: ignore[arg-type]
                   **kwargs)

    @classmethod
    def from_scores(cls, scores, weights=None, **kwargs) -> Profile:
        """Profile from utilities ``(U, n)``: higher is better, equal scores tie, NaN means
        unranked (tied together below every scored response)."""
        s = as_real_array(scores, "scores")
        if s.ndim != 2:
            raise ValueError(f"scores must be a 2-d array (U users, n responses), got shape "
                             f"{s.shape}")
        if np.any(np.isinf(s)):
            r, c = np.argwhere(np.isinf(s))[0]
            raise ValueError(f"scores must be finite or NaN, got {s[r, c]} at row {r}, "
                             f"column {c}")
        nan = np.isnan(s)
        key = np.where(nan, np.inf, -s)
        levels = _dense_levels(key, level_dtype(s.shape[1]))
        return cls._from_dense(levels, weights, **kwargs)

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        """Number of distinct user types (rows)."""
        return self.levels.shape[0]

    @property
    def n_responses(self) -> int:
        return self.levels.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return self.levels.shape

    @property
    def has_ties(self) -> bool:
        return bool(np.any(self.levels.max(axis=1) < self.n_responses - 1))

    def label(self, y: int) -> str:
        """The name of response ``y`` (its index as a string when there are no labels)."""
        y = check_response(y, self.n_responses, "y")
        return self.labels[y] if self.labels is not None else str(y)

    def pairwise_preferences(self) -> np.ndarray:
        """``P[y, z]`` = share of users strictly preferring ``y`` to ``z``. ``(n, n)``.

        ``P[y, z] = Σ_u w_u 1[levels[u, y] < levels[u, z]]``, by a compiled compare-and-add over
        blocks of rows of ``P`` (``_kernels.pairwise_kernel``): O(U n²) cheap vectorised steps and
        no memory beyond ``P``.
        """
        U, n = self.levels.shape
        kernel = (_kernels.pairwise_kernel_serial if is_small(U * n * n)
                  else _kernels.pairwise_kernel)
        return kernel(self.levels, self.weights)

    def margins(self) -> np.ndarray:
        """Pairwise margin matrix ``M = P - P^T`` (skew-symmetric)."""
        P = self.pairwise_preferences()
        return P - P.T

    def condorcet_winner(self) -> int | None:
        """The response that beats every other by a strict majority of weight, if any."""
        M = self.margins()
        np.fill_diagonal(M, 1.0)
        wins = np.all(M > 1e-12, axis=1)
        idx = np.flatnonzero(wins)
        return int(idx[0]) if idx.size else None

    def restrict(self, responses: Sequence[int] | np.ndarray) -> Profile:
        """The profile over a subset of responses (in the given order): ``responses`` is a
        non-empty sequence of response indices in ``[0, n)`` (no negative wrap-around). An
        index may repeat: it is then that response's column twice (how a population ranks a
        group of samples that repeats a text, ``train.populations``)."""
        idx = np.asarray(responses) if not isinstance(responses, (str, bytes)) \
            else np.asarray([responses])
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"responses must be a non-empty sequence of response indices, got "
                             f"{responses!r:.60}")
        bad = np.flatnonzero((idx < 0) | (idx >= self.n_responses))
        if bad.size:
            raise ValueError(f"responses must be indices in [0, {self.n_responses}), got "
                             f"{idx[bad[0]]} at position {bad[0]}")
        idx = idx.astype(np.int64)
        labels = None if self.labels is None else tuple(self.labels[i] for i in idx)
        return Profile(self.levels[:, idx], self.weights, labels=labels, groups=self.groups,
                       group_names=self.group_names, n_voters=self.n_voters)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return (self.levels.shape == other.levels.shape
                and np.array_equal(self.levels, other.levels)
                and np.allclose(self.weights, other.weights, rtol=0, atol=1e-12)
                and self.labels == other.labels
                and _opt_equal(self.groups, other.groups)
                and _opt_equal(self.n_ranked, other.n_ranked))

    __hash__ = None  # type: ignore[assignment]  # equal profiles are mutable arrays

    def __repr__(self) -> str:
        ties = ", ties" if self.has_ties else ""
        return f"Profile(users={self.n_users}, responses={self.n_responses}{ties})"


def _opt_equal(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)


def _hash_coefs(m: int) -> np.ndarray:
    """``m`` fixed random odd 64-bit coefficients (the same for the same ``m``; any ``m``: an
    earlier fixed table of 2^15 + 2 limited profiles to 32,770 responses)."""
    return np.random.default_rng(0x5EED_0F_1E7E15).integers(
        0, 2**64, size=m, dtype=np.uint64) | np.uint64(1)


def _row_hashes(levels: np.ndarray, extra: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row (and of the extra per-row columns): ``Σ_j c_j x_j mod 2^64``
    with fixed random odd ``c_j``, computed by row chunks. Two unequal rows collide with
    probability at most about 2^-63; ``_merge`` checks rows that collide anyway."""
    U, n = levels.shape
    coefs = _hash_coefs(n + len(extra))
    coef = coefs[:n]
    h = np.empty(U, dtype=np.uint64)
    for rows in _row_chunks(U, n):
        h[rows] = (levels[rows].astype(np.uint64) * coef).sum(axis=1, dtype=np.uint64)
    for j, col in enumerate(extra):
        h += col.astype(np.uint64) * coefs[n + j]
    return h


def _rows_equal(keys: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``keys`` rows ``a[i]`` and ``b[i]`` equal in every key array (by chunks of pairs)."""
    eq = np.ones(a.size, dtype=bool)
    n = keys[0].shape[1]
    for part in _row_chunks(a.size, n):
        for key in keys:
            x, y = key[a[part]], key[b[part]]
            eq[part] &= (x == y).reshape(x.shape[0], -1).all(axis=1)
    return eq


def _exact_classes(keys: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Class id (0, 1, ...) of each of ``rows`` by true equality of every key array."""
    cols = [k[rows].reshape(rows.size, -1).astype(np.int64) for k in keys]
    return np.unique(np.concatenate(cols, axis=1), axis=0, return_inverse=True)[1].ravel()


def _row_classes(levels, groups, n_ranked) -> np.ndarray | None:
    """Class of each row, equal rows (levels, group, n_ranked) sharing one; None when all rows
    differ. Rows are grouped by a 64-bit hash, and every row is checked for true equality with
    the first row of its hash; a hash shared by unequal rows is split exactly, so unequal rows
    never share a class."""
    extra = [x for x in (groups, n_ranked) if x is not None]
    keys = [levels, *extra]
    h = _row_hashes(levels, extra)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    start = np.ones(h.size, dtype=bool)
    start[1:] = hs[1:] != hs[:-1]
    if start.all():
        return None
    cls = np.cumsum(start) - 1              # hash class of each sorted position
    first = order[start][cls]               # the first row of its hash class
    dup = np.flatnonzero(~start)
    same = _rows_equal(keys, order[dup], first[dup])
    if not same.all():                      # a true collision: split those hash classes
        split = np.isin(cls, cls[dup[~same]])
        sub = np.zeros(h.size, dtype=np.int64)
        sub[split] = _exact_classes(keys, order[split])
        cls = np.unique(np.stack([cls, sub], axis=1), axis=0, return_inverse=True)[1].ravel()
    out = np.empty(h.size, dtype=np.int64)
    out[order] = cls
    return out


def _merge(levels, weights, groups, n_ranked):
    """Merge identical rows (same levels, group and n_ranked), keeping first-occurrence order
    and summing weights. ``levels`` is the profile's own array: with many distinct rows it is
    compacted in place (the result is then a view of its leading rows), so merging allocates
    O(U) beyond it."""
    classes = _row_classes(levels, groups, n_ranked)
    if classes is None:
        return levels, weights, groups, n_ranked
    _, first, inverse = np.unique(classes, return_index=True, return_inverse=True)
    if first.size == levels.shape[0]:
        return levels, weights, groups, n_ranked
    # Renumber unique rows by first occurrence so the merged profile keeps the input order.
    rank = np.empty(first.size, dtype=np.int64)
    order = np.argsort(first)
    rank[order] = np.arange(first.size)
    inv = rank[inverse.ravel()]
    keep = first[order]
    w = np.bincount(inv, weights=weights, minlength=keep.size)
    return (_take_rows(levels, keep), w / w.sum(), None if groups is None else groups[keep],
            None if n_ranked is None else n_ranked[keep])


def _take_rows(levels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``levels[keep]`` for increasing ``keep``: a copy when few rows are kept, else in place
    (row ``i`` <- row ``keep[i] >= i``, by chunks) and a view of the leading rows."""
    if keep.size <= levels.shape[0] // 2:
        return levels[keep]
    for part in _row_chunks(keep.size, levels.shape[1]):
        src = keep[part]                    # sources >= their targets: not yet overwritten
        levels[part.start:part.start + src.size] = levels[src]
    return levels[:keep.size]
