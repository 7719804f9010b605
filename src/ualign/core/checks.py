"""Input validation shared by every layer (core, solvers, data, llm): every failure is a
``ValueError`` that names the argument, the expected form and the offending position (STYLE.md
rule 5). The one home of ualign's argument checks; other modules import them from here."""

from __future__ import annotations

import numbers
import os

import numpy as np

SIMPLEX_ATOL = 1e-9


def as_real_array(x, name: str) -> np.ndarray:
    """``x`` as a float array; only real numbers are accepted (no strings, complex numbers or
    booleans, which NumPy would otherwise convert silently)."""
    try:
        a = np.asarray(x)
    except ValueError as e:  # ragged nested sequences
        raise ValueError(f"{name} must be an array of real numbers, got {_short(x)}") from e
    if a.dtype.kind == "O" and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   for v in a.ravel()):
        return a.astype(float)  # e.g. Fractions or Decimals
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype} "
                         f"({_short(x)})")
    return a.astype(float)


def _short(x) -> str:
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


# The most samples k (model) or ℓ (opponent) a win rate takes. The payoff kernels are exact far
# beyond (their integer arithmetic breaks at k ≈ 2^62), but win rates against ℓ > 1 samples and
# the solvers' Jacobians integrate polynomials of degree ~k + ℓ by Gauss-Legendre quadrature,
# whose nodes cost O((k + ℓ)²) to compute (about 1 s at k + ℓ = 10^4, 20 s at 4·10^4), and
# worst_opponent, set_win_rate and the k-set pricers do O(k) or O(ℓ) work per set. 2^14 keeps
# every one of them within seconds on small profiles.
MAX_SAMPLES = 2**14


def check_k(k, name: str = "k", maximum: int | None = MAX_SAMPLES) -> int:
    """Return ``k`` as a Python int, or raise if it is not an integer in ``[1, maximum]``
    (``MAX_SAMPLES`` = 2^14 for sample counts k and ℓ; None: no upper bound)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= 1, got {k!r} of type {type(k).__name__}")
    value = int(k)
    if value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer in [1, {maximum}] (ualign's bound on "
                         f"samples per query, MAX_SAMPLES), got {k}")
    return value


MAX_ITERATIONS = 2**31 - 1


def check_iterations(x, name: str) -> int:
    """An iteration or round count (``max_iter``, ``max_rounds``, ...): an integer in
    ``[1, MAX_ITERATIONS]`` (2^31 - 1; a long run allocates nothing per step, and
    ``time_limit`` stops one early)."""
    return check_k(x, name, maximum=MAX_ITERATIONS)


def _finite(x) -> bool:
    """``x`` (a real number, possibly a huge Python int) is finite."""
    try:
        return bool(np.isfinite(float(x)))
    except OverflowError:
        return False


def _whole(x) -> int | None:
    """``x`` as a Python int when it is a finite whole real number and not a bool, else None."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not _finite(x):
        return None
    if isinstance(x, numbers.Integral):
        return int(x)
    v = float(x)
    return int(v) if v.is_integer() else None


_NAME_MAX, _PATH_MAX = 255, 4096  # Linux's NAME_MAX and PATH_MAX; other systems allow less


def check_path(path, name: str = "path"):
    """``path`` itself when it is a ``str`` or ``os.PathLike`` (a file path), else raise."""
    if isinstance(path, (str, os.PathLike)) and not isinstance(path, bool):
        text = os.fsdecode(os.fspath(path))
        if "\0" in text:
            raise ValueError(f"{name} must not contain a NUL byte, got {_short(text)}")
        long = [part for part in text.split(os.sep) if len(os.fsencode(part)) > _NAME_MAX]
        if long or len(os.fsencode(text)) > _PATH_MAX:
            raise ValueError(f"{name} is too long to be a file path here (at most {_NAME_MAX} "
                             f"bytes per name, {_PATH_MAX} in all), got {_short(text)}")
        return path
    raise ValueError(f"{name} must be a file path (str or os.PathLike), got "
                     f"{type(path).__name__} {_short(path)}")


def check_count(x, name: str, what: str = "") -> int:
    """``x`` as a Python int when it is a whole number >= 1 (``2`` or ``2.0``), else raise
    ``"{name} must be a positive integer{what}"``."""
    w = _whole(x)
    if w is None or w < 1:
        raise ValueError(f"{name} must be a positive integer{what}, got {x!r}")
    return w


def normalise_weights(w: np.ndarray, name: str = "weights") -> np.ndarray:
    """Finite, non-negative weights ``w`` scaled to sum 1 without overflow or underflow: they
    are divided by their maximum first (so ``[1e308, 1e308]`` gives ``[0.5, 0.5]`` and
    ``[5e-324, 5e-324]`` too), then by their sum. All zero raises."""
    top = w.max() if w.size else 0.0
    if not top > 0:
        raise ValueError(f"{name} must not be all zero (they are normalised to sum 1)")
    w = w / top
    total = w.sum()
    if not (np.isfinite(total) and total > 0):
        raise ValueError(f"{name} must have a finite positive sum, got {total}")
    return w / total


# The most bytes one ualign call may plan to allocate: None means half of this machine's
# physical memory (``os.sysconf``; 4 GiB where that is unknown). Set it to an int to cap it.
MAX_BYTES: int | None = None


def memory_limit() -> int:
    """Bytes ``check_size`` allows: ``MAX_BYTES`` if set, else half the physical memory."""
    if MAX_BYTES is not None:
        return int(MAX_BYTES)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def check_size(n_bytes, what: str) -> None:
    """Raise ``ValueError`` before allocating when ``n_bytes`` (an estimate of what ``what``
    needs) exceeds ``memory_limit()``, instead of a ``MemoryError`` or a machine that swaps
    for minutes."""
    limit = memory_limit()
    if n_bytes > limit:
        raise ValueError(f"{what} would need about {n_bytes / 2**30:.3g} GiB of memory, more "
                         f"than ualign allows here ({limit / 2**30:.3g} GiB: half this machine's "
                         f"memory, or ualign.core.checks.MAX_BYTES)")


def check_whole(x, name: str, minimum: int = 0) -> int:
    """``x`` as a Python int when it is a whole number >= ``minimum`` (``5`` or ``5.0``), else
    raise naming ``name``."""
    w = _whole(x)
    if w is None or w < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {x!r}")
    return w


def check_weights(weights, n_rows: int, name: str = "weights") -> np.ndarray:
    """Validate non-negative finite weights of shape ``(n_rows,)`` and normalise them to sum 1
    (``normalise_weights``: safe for weights near the float limits)."""
    w = as_real_array(weights, name)
    if w.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {w[bad[0]]} at position {bad[0]}")
    bad = np.flatnonzero(w < 0)
    if bad.size:
        raise ValueError(f"{name} must be >= 0, got {w[bad[0]]} at position {bad[0]}")
    return normalise_weights(w, name)


def check_policy(policy, n: int, name: str = "policy") -> np.ndarray:
    """Validate a distribution (or a batch ``(..., n)`` of them) over ``n`` responses.

    Entries may be off the simplex by at most ``SIMPLEX_ATOL`` (1e-9); such rounding is
    clipped and renormalised. Anything further off raises.
    """
    p = as_real_array(policy, name)
    if p.ndim == 0 or p.shape[-1] != n:
        raise ValueError(f"{name} must have shape (..., {n}) (one probability per response), "
                         f"got shape {p.shape}")
    if not np.all(np.isfinite(p)):
        pos = np.argwhere(~np.isfinite(p))[0]
        raise ValueError(f"{name} must be finite, got {p[tuple(pos)]} at index {tuple(pos)}")
    if np.any(p < -SIMPLEX_ATOL):
        pos = np.argwhere(p < -SIMPLEX_ATOL)[0]
        raise ValueError(f"{name} must be non-negative (a distribution), got {p[tuple(pos)]} "
                         f"at index {tuple(pos)}")
    s = p.sum(axis=-1)
    off = np.abs(s - 1.0) > SIMPLEX_ATOL
    if np.any(off):
        pos = np.argwhere(np.atleast_1d(off))[0]
        raise ValueError(f"{name} must sum to 1 within {SIMPLEX_ATOL:g}, got sum "
                         f"{np.atleast_1d(s)[tuple(pos)]!r} at batch index {tuple(pos)}")
    p = np.clip(p, 0.0, None)
    return p / p.sum(axis=-1, keepdims=True)


def check_distribution(policy, n: int, name: str = "policy") -> np.ndarray:
    """One distribution of shape ``(n,)`` (no batch axes), checked as in ``check_policy``."""
    p = check_policy(policy, n, name)
    if p.ndim != 1:
        raise ValueError(f"{name} must be one distribution of shape ({n},), got {p.shape}")
    return p


def check_response(y, n: int, name: str = "opponent") -> int:
    if isinstance(y, bool) or not isinstance(y, numbers.Integral):
        raise ValueError(f"{name} must be a response index or a distribution, got {y!r}")
    index = int(y)
    if not 0 <= index < n:
        raise ValueError(f"{name} must be a response index in [0, {n}), got {y}")
    return index


def as_distribution(opponent, n: int, name: str = "opponent") -> np.ndarray:
    """A response index becomes a point mass; a vector is checked to be on the simplex."""
    if np.ndim(opponent) == 0:
        y = check_response(opponent, n, name)
        e = np.zeros(n)
        e[y] = 1.0
        return e
    return check_distribution(opponent, n, name)


def check_user_weights(weights, n_users: int, name: str = "weights", per: str = "user"
                       ) -> np.ndarray:
    """Weights of a population of ``n_users >= 1`` users (or groups: ``per="group"``): uniform
    when None, else finite, >= 0 and with a positive sum, normalised to sum 1."""
    if n_users == 0:
        raise ValueError("a population needs at least one user, got 0")
    if weights is None:
        return np.full(n_users, 1.0 / n_users)
    w = as_real_array(weights, name)
    if w.shape != (n_users,):
        raise ValueError(f"{name} must have shape ({n_users},) (one weight per {per}), got "
                         f"{w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"{name} must be finite and >= 0, got {w[bad[0]]} at position "
                         f"{bad[0]}")
    return normalise_weights(w, name)


# The profile class, registered by ``core.profile`` when it is defined (that module imports this
# one, so this one cannot import it).
_PROFILE_TYPES: list[type] = []


def register_profile_type(cls: type) -> type:
    """Make :func:`check_profile` accept instances of ``cls`` (``core.profile`` registers
    :class:`ualign.Profile`); returns ``cls``, so it can decorate the class."""
    _PROFILE_TYPES.append(cls)
    return cls


def check_profile(profile):
    """``profile`` itself when it is a :class:`ualign.Profile`, else raise."""
    if not isinstance(profile, tuple(_PROFILE_TYPES)):
        raise ValueError(f"profile must be a ualign.Profile, got {type(profile).__name__}")
    return profile


def check_nonneg(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not _finite(x):
        raise ValueError(f"{name} must be a finite real number >= 0, got {x!r}")
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {x}")
    return float(x)


def check_positive(x, name: str) -> float:
    x = check_nonneg(x, name)
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {x}")
    return x


def check_max_iter(max_iter, default: int) -> int:
    if max_iter is None:
        return default
    return check_iterations(max_iter, "max_iter")


def check_reference(reference, n: int, *, positive: bool) -> np.ndarray:
    """Uniform when None; else a distribution over the n responses, strictly positive when
    ``positive`` (a KL term to it needs full support)."""
    if reference is None:
        return np.full(n, 1.0 / n)
    mu = check_distribution(reference, n, "reference")
    if positive:
        zero = np.flatnonzero(np.asarray(reference, dtype=float) <= 0)
        if zero.size:
            raise ValueError(f"reference must be strictly positive (the KL term needs full "
                             f"support), got {np.asarray(reference)[zero[0]]} at position "
                             f"{zero[0]}")
        tiny = np.flatnonzero(mu < np.finfo(float).tiny)
        if tiny.size:
            raise ValueError(f"reference entries must be at least {np.finfo(float).tiny:.3g} "
                             f"(normal floats: the KL term's Newton steps divide by them), got "
                             f"{mu[tiny[0]]:.3g} at position {tiny[0]}")
    return mu


DISPLAYS = ("multiset", "distinct")


def check_display(display, name: str = "display") -> str:
    """``"multiset"`` (THEORY.md §2, copies count) or ``"distinct"`` (§9, duplicates merged)."""
    if not isinstance(display, str) or display not in DISPLAYS:
        raise ValueError(f"{name} must be one of {DISPLAYS}, got {display!r}")
    return display
