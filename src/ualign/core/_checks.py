"""Input validation shared by every layer (core, solvers, data, llm): every failure is a
``ValueError`` that names the argument, the expected form and the offending position (STYLE.md
rule 5). The one home of ualign's argument checks; other modules import them from here."""

from __future__ import annotations

import numbers

import numpy as np

SIMPLEX_ATOL = 1e-9


def check_k(k, name: str = "k") -> int:
    """Return ``k`` as a Python int, or raise if it is not an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= 1, got {k!r} of type {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k}")
    return int(k)


def check_count(x, name: str, what: str = "") -> int:
    """``x`` as a Python int when it is a whole number >= 1 (``2`` or ``2.0``), else raise
    ``"{name} must be a positive integer{what}"``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x) \
            or int(x) != x or int(x) < 1:
        raise ValueError(f"{name} must be a positive integer{what}, got {x!r}")
    return int(x)


def check_weights(weights, n_rows: int, name: str = "weights") -> np.ndarray:
    """Validate non-negative finite weights of shape ``(n_rows,)`` and normalise them to sum 1."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(f"{name} must be finite, got {w[bad[0]]} at position {bad[0]}")
    bad = np.flatnonzero(w < 0)
    if bad.size:
        raise ValueError(f"{name} must be >= 0, got {w[bad[0]]} at position {bad[0]}")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"{name} must not be all zero (they are normalised to sum 1)")
    return w / total


def check_policy(policy, n: int, name: str = "policy") -> np.ndarray:
    """Validate a distribution (or a batch ``(..., n)`` of them) over ``n`` responses.

    Entries may be off the simplex by at most ``SIMPLEX_ATOL`` (1e-9); such rounding is
    clipped and renormalised. Anything further off raises.
    """
    p = np.asarray(policy, dtype=float)
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
    if not 0 <= y < n:
        raise ValueError(f"{name} must be a response index in [0, {n}), got {y}")
    return int(y)


def as_distribution(opponent, n: int, name: str = "opponent") -> np.ndarray:
    """A response index becomes a point mass; a vector is checked to be on the simplex."""
    if np.ndim(opponent) == 0:
        y = check_response(opponent, n, name)
        e = np.zeros(n)
        e[y] = 1.0
        return e
    return check_distribution(opponent, n, name)


def check_user_weights(weights, n_users: int, name: str = "weights") -> np.ndarray:
    """Weights of a population of ``n_users >= 1`` users: uniform when None, else finite,
    >= 0 and with a positive sum, normalised to sum 1."""
    if n_users == 0:
        raise ValueError("a population needs at least one user, got 0")
    if weights is None:
        return np.full(n_users, 1.0 / n_users)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n_users,):
        raise ValueError(f"{name} must have shape ({n_users},) (one weight per user), got "
                         f"{w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"{name} must be finite and >= 0, got {w[bad[0]]} at position "
                         f"{bad[0]}")
    if w.sum() <= 0:
        raise ValueError(f"{name} must have a positive sum")
    return w / w.sum()


def check_profile(profile):
    """``profile`` itself when it is a :class:`ualign.Profile`, else raise."""
    from ualign.core.profile import Profile  # core.profile imports this module
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a ualign.Profile, got {type(profile).__name__}")
    return profile


def check_nonneg(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(float(x)):
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
    return check_k(max_iter, "max_iter")


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
    return mu


DISPLAYS = ("multiset", "distinct")


def check_display(display, name: str = "display") -> str:
    """``"multiset"`` (THEORY.md §2, copies count) or ``"distinct"`` (§9, duplicates merged)."""
    if not isinstance(display, str) or display not in DISPLAYS:
        raise ValueError(f"{name} must be one of {DISPLAYS}, got {display!r}")
    return display
