"""Persona evidence: weight a text population's users by how close their description is to a
persona string.

The posterior given a persona p is a softmax over embedding similarity, tempered by τ:

    s_u = cos(e(p), e(d_u)),        w_u(p) ∝ w_u · exp(s_u / τ)

(``d_u``: user u's persona text, or any description of u, e.g. one derived from their votes;
``e``: the population's embedder). τ → ∞ returns the prior ``w``; τ → 0 puts all the mass on
the most similar users.

τ is fitted on held-out users (:func:`fit_temperature`) by the **held-out predictive
likelihood of their own preferences**: the users are split into a mixture M and held-out users
H; each h ∈ H reveals its persona text d_h and its ranking r_h of a set of texts, and

    τ* = argmax_τ Σ_{h ∈ H} log Σ_{u ∈ M} w_u(d_h; τ) · P(r_h | u; δ)

on a grid, with ``P(r | u; δ)`` the comparison noise model of :mod:`ualign.core.posterior`
(each strict comparison of r_h agrees with u's order with probability 1 − δ, ½ on u's ties).
τ is large when descriptions say little about preferences and small when they say a lot.

References: shared/spec/THEORY.md §10 (the posterior population); docs/personalise.md.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ualign.core import Profile
from ualign.core.posterior import log_likelihoods
from ualign.llm.embed import _check_texts, as_embedder

__all__ = ["TAU_GRID", "TemperatureFit", "describe_votes", "fit_temperature", "persona_weights",
           "similarity_weights", "user_descriptions"]

TAU_GRID = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)


class TemperatureFit(NamedTuple):
    """τ chosen by the held-out predictive likelihood (module docstring).

    Attributes:
      tau: the grid value with the largest log-likelihood.
      log_likelihood: its ``Σ_h log Σ_u w_u(d_h; τ) P(r_h | u; δ)``.
      grid: the τ values tried.
      log_likelihoods: the criterion at each grid value.
      prior_log_likelihood: the same with the prior weights (τ = ∞, personas ignored).
      n_heldout: |H|.
    """

    tau: float
    log_likelihood: float
    grid: tuple[float, ...]
    log_likelihoods: tuple[float, ...]
    prior_log_likelihood: float
    n_heldout: int


def describe_votes(votes) -> str:
    """A user's votes as a persona text (for similarity, or for a generator's prompt):
    ``"You agree with these statements: a | b. You disagree with these: c. You passed on
    these: d."`` (only the parts that have statements; "statements" follows the first part).

    Args:
      votes: a mapping ``{statement text: vote}`` or a sequence of ``(text, vote)`` pairs, votes
        +1 (agree), -1 (disagree), 0 (pass); order kept within each part.

    Returns:
      The text. ``ValueError`` for no votes or a vote other than +1 / 0 / -1.
    """
    pairs = list(votes.items()) if isinstance(votes, Mapping) else list(votes)
    if not pairs:
        raise ValueError("votes must hold at least one (statement, vote) pair, got none")
    parts: dict[int, list[str]] = {1: [], -1: [], 0: []}
    for pos, pair in enumerate(pairs):
        try:
            text, vote = pair
        except (TypeError, ValueError):
            raise ValueError(f"votes must be (statement text, vote) pairs, got {pair!r} at "
                             f"position {pos}") from None
        if isinstance(vote, bool) or vote not in parts or not isinstance(text, str):
            raise ValueError(f"votes must pair a statement text with +1, 0 or -1, got "
                             f"{(text, vote)!r} at position {pos}")
        parts[int(vote)].append(text)
    heads = {1: "You agree with these", -1: "You disagree with these", 0: "You passed on these"}
    out: list[str] = []
    for v in (1, -1, 0):
        if parts[v]:
            noun = " statements" if not out else ""
            out.append(f"{heads[v]}{noun}: " + " | ".join(parts[v]) + ".")
    return " ".join(out)


def _check_tau(tau, name: str = "tau") -> float:
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not (
            np.isfinite(float(tau)) and float(tau) > 0):
        raise ValueError(f"{name} must be a positive finite temperature, got {tau!r}")
    return float(tau)


def _log_softmax(logw: np.ndarray) -> np.ndarray:
    top = np.max(logw, axis=-1, keepdims=True)
    return logw - top - np.log(np.exp(logw - top).sum(axis=-1, keepdims=True))


def similarity_weights(weights, similarities, tau: float) -> np.ndarray:
    """``w_u · exp(s_u / τ)`` normalised over u (computed in log space).

    Args:
      weights: ``(U,)`` prior weights, non-negative, positive sum.
      similarities: ``(..., U)`` similarities ``s_u`` (cosines), leading axes batched.
      tau: temperature τ > 0.

    Returns:
      ``(..., U)`` posterior weights, each row summing to 1.
    """
    tau = _check_tau(tau)
    w = np.asarray(weights, dtype=float)
    s = np.asarray(similarities, dtype=float)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) \
            or w.sum() <= 0:
        raise ValueError(f"weights must be a non-empty (U,) array of non-negative finite "
                         f"weights with a positive sum, got shape {w.shape}")
    if s.ndim < 1 or s.shape[-1] != w.size or not np.all(np.isfinite(s)):
        raise ValueError(f"similarities must be a finite (..., {w.size}) array, got shape "
                         f"{s.shape}")
    with np.errstate(divide="ignore"):
        logw = np.log(w) + s / tau
    return np.exp(_log_softmax(logw))


def user_descriptions(population, descriptions=None) -> tuple[str, ...]:
    """The users' description texts: ``descriptions`` when given (one per user, e.g. derived
    from their votes), else the population's ``personas``."""
    if descriptions is None:
        descriptions = getattr(population, "personas", None)
        if descriptions is None:
            raise ValueError(f"descriptions must be given: {type(population).__name__} has "
                             f"no persona texts")
    d = _check_texts(descriptions, "descriptions")
    if len(d) != population.n_users:
        raise ValueError(f"descriptions must hold one text per user ({population.n_users}), "
                         f"got {len(d)}")
    if any(not t.strip() for t in d):
        raise ValueError(f"descriptions must be non-empty texts, got an empty one at "
                         f"position {next(i for i, t in enumerate(d) if not t.strip())}")
    return tuple(d)


def _embedder(population, embed):
    if embed is not None:
        return as_embedder(embed)
    if getattr(population, "embed", None) is None:
        raise ValueError(f"embed must be given: {type(population).__name__} has no embedder")
    return population.embed


def _unit(X) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def persona_weights(population, persona: str, tau: float, *, embed=None,
                    descriptions=None) -> np.ndarray:
    """Posterior weights ``w_u(p) ∝ w_u · exp(cos(e(p), e(d_u)) / τ)`` of a population given a
    persona string p.

    Args:
      population: a :class:`~ualign.llm.populations.Population` (its ``weights``; its
        ``personas`` and ``embed`` unless ``descriptions`` / ``embed`` are given).
      persona: the described user, a non-empty string.
      tau: temperature τ > 0 (e.g. :func:`fit_temperature`'s).
      embed: an embedder or model name; default the population's.
      descriptions: ``U`` texts describing the users; default the population's personas.

    Returns:
      ``(U,)`` weights summing to 1.
    """
    if not isinstance(persona, str) or not persona.strip():
        raise ValueError(f"persona must be a non-empty string, got {persona!r}")
    tau = _check_tau(tau)
    d = user_descriptions(population, descriptions)
    E = _unit(_embedder(population, embed)([persona, *d]))
    return similarity_weights(population.weights, E[1:] @ E[0], tau)


def _levels(S: np.ndarray) -> np.ndarray:
    """Each user's levels over the texts from their scores (row by row: no merging)."""
    return np.stack([Profile.from_scores(row[None, :]).levels[0] for row in S]).astype(float)


def fit_temperature(population, texts: Sequence[str], *, holdout: float = 0.2,
                    noise: float = 0.1, grid: Sequence[float] = TAU_GRID, seed=0, embed=None,
                    descriptions=None) -> TemperatureFit:
    """τ by the held-out predictive likelihood of rankings (module docstring).

    Args:
      population: the users (weights, scores of texts, descriptions as in
        :func:`persona_weights`).
      texts: at least 2 texts the users rank (their rankings are the held-out evidence).
      holdout: share of users held out, in (0, 1); at least one on each side.
      noise: δ of the comparison noise model, in (0, ½).
      grid: temperatures tried, each > 0.
      seed: seed or ``numpy.random.Generator`` of the split.

    Returns:
      a :class:`TemperatureFit`.
    """
    texts = _check_texts(texts, "texts")
    if len(texts) < 2:
        raise ValueError(f"texts must hold at least 2 texts to rank, got {len(texts)}")
    if isinstance(holdout, bool) or not isinstance(holdout, numbers.Real) \
            or not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be a share in (0, 1), got {holdout!r}")
    grid = tuple(_check_tau(t, "grid") for t in grid)
    if not grid:
        raise ValueError("grid must hold at least one temperature, got none")
    d = user_descriptions(population, descriptions)
    U = population.n_users
    n_hold = min(max(1, round(holdout * U)), U - 1)
    if n_hold < 1:
        raise ValueError(f"population must have at least 2 users to hold some out, got {U}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    perm = rng.permutation(U)
    held, mix = np.sort(perm[:n_hold]), np.sort(perm[n_hold:])
    levels = _levels(population.scores(texts))
    w = population.weights[mix]
    # one group per user so that users with the same order are not merged (L stays (H, M))
    L = log_likelihoods(Profile(levels[mix], w / w.sum(), groups=np.arange(mix.size)),
                        levels[held], noise)                                        # (H, M)
    E = _unit(_embedder(population, embed)(list(d)))
    sims = E[held] @ E[mix].T                                                       # (H, M)

    def criterion(logw):
        a = logw + L
        top = a.max(axis=1, keepdims=True)
        return float((top[:, 0] + np.log(np.exp(a - top).sum(axis=1))).sum())

    lls = tuple(criterion(np.log(similarity_weights(w, sims, t))) for t in grid)
    with np.errstate(divide="ignore"):
        prior = criterion(np.broadcast_to(np.log(w / w.sum()), sims.shape))
    best = int(np.argmax(lls))
    return TemperatureFit(grid[best], lls[best], grid, lls, prior, int(n_hold))
