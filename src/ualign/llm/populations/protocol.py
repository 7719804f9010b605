"""How anything asks a population to rank groups of texts (duck-typed), and a population over a
fixed set of candidate strings.

A population is any object with either
- ``rank(texts) -> Profile`` (users' weak orders over the texts, e.g. :class:`Population`), or
- ``scores(texts) -> (U, G)`` utilities (higher is better, NaN = unranked) and optionally
  ``weights`` ``(U,)``.
Either method may take a ``prompt=`` keyword, which is then passed. A pairwise preference model
(``prefer(a, b)``) cannot rank k+1 responses at once (THEORY §8) and is rejected.

:func:`rank_texts` ranks one group; :func:`rank_groups` ranks many, in one ``scores`` call where
that equals scoring each group (what the scoring service batches). A spec string is a population
too (:func:`as_population`: the registry of :func:`ualign.llm.populations.load_population`, so
``http://HOST:PORT`` is a ``ualign serve`` service).

References: THEORY.md §8.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np

from ualign.core.estimators import levels_from_scores
from ualign.core.profile import Profile

__all__ = ["CandidatePopulation", "as_population", "check_population", "rank_groups",
           "rank_texts"]


def check_population(population) -> None:
    """Raise ``ValueError`` unless ``population`` can rank a list of texts."""
    if population is None:
        raise ValueError("population is required: an object with rank(texts) -> Profile or "
                         "scores(texts) -> (U, G) array")
    if callable(getattr(population, "rank", None)) or callable(getattr(population, "scores",
                                                                         None)):
        return
    extra = ""
    if any(callable(getattr(population, m, None)) for m in ("prefer", "compare", "pairwise")):
        extra = (" (a pairwise preference model cannot give (k+1)-way choices; the population "
                 "must rank all G responses per user, THEORY §8)")
    raise ValueError(f"population must have rank(texts) -> Profile or scores(texts) -> (U, G) "
                     f"array, got {type(population).__name__}{extra}")


def _call(method, texts, prompt):
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    if prompt is not None and "prompt" in params:
        return method(texts, prompt=prompt)
    return method(texts)


def _user_weights(population, n_users: int) -> np.ndarray:
    """The population's ``weights`` ``(U,)`` normalised (uniform when it has none)."""
    w = getattr(population, "weights", None)
    w = np.full(n_users, 1.0 / n_users) if w is None else np.asarray(w, dtype=float)
    if w.shape != (n_users,):
        raise ValueError(f"population.weights must have shape ({n_users},), got {w.shape}")
    return w / w.sum()


def rank_texts(population, texts: Sequence[str], prompt: str | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(levels (U, G), weights (U,))`` of a population over ``texts`` (in order)."""
    check_population(population)
    G = len(texts)
    if callable(getattr(population, "rank", None)):
        P = _call(population.rank, list(texts), prompt)
        if not isinstance(P, Profile):
            raise ValueError(f"population.rank must return a ualign.Profile, got "
                             f"{type(P).__name__}")
        if P.n_responses != G:
            raise ValueError(f"population.rank returned a profile over {P.n_responses} "
                             f"responses for {G} texts")
        return np.asarray(P.levels, dtype=np.int64), np.asarray(P.weights)
    S = np.asarray(_call(population.scores, list(texts), prompt), dtype=float)
    if S.ndim != 2 or S.shape[1] != G:
        raise ValueError(f"population.scores must return shape (U, {G}), got {S.shape}")
    return levels_from_scores(S), _user_weights(population, S.shape[0])


def _batchable(population) -> bool:
    """Whether ``scores`` over several groups' texts at once equals scoring each group: objects
    that only have ``scores`` without a ``prompt`` argument, and the ``ualign.llm`` populations
    (their ``rank`` is ``Profile.from_scores`` of ``scores``, one utility per user and text)."""
    scores = getattr(population, "scores", None)
    if not callable(scores):
        return False
    try:
        if "prompt" in inspect.signature(scores).parameters:
            return False
    except (TypeError, ValueError):
        return False
    if not callable(getattr(population, "rank", None)):
        return True
    from ualign.llm.populations.base import Population

    return isinstance(population, Population)


def rank_groups(population, groups: Sequence[tuple[str | None, Sequence[str]]]
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(levels (U, G), weights (U,))]`` of each ``(prompt, texts)`` group: for a population
    whose ``scores`` may be batched (:func:`_batchable`) one ``scores`` call over all the texts
    (one row per user, always), otherwise group by group through :func:`rank_texts` (the rows
    of its Profile: users with identical orders merged)."""
    if not _batchable(population):
        return [rank_texts(population, g, prompt=p) for p, g in groups]
    texts = [t for _, g in groups for t in g]
    S = np.asarray(population.scores(texts), dtype=float)
    if S.ndim != 2 or S.shape[1] != len(texts):
        raise ValueError(f"population.scores must return shape (U, {len(texts)}), got "
                         f"{S.shape}")
    w = _user_weights(population, S.shape[0])
    out, lo = [], 0
    for _, g in groups:
        out.append((levels_from_scores(S[:, lo:lo + len(g)]), w))
        lo += len(g)
    return out


class CandidatePopulation:
    """A Profile over ``n`` fixed candidate strings, ranking any list of those strings
    (repeats allowed: copies of one candidate tie).

    Args:
      profile: the population over the candidates (``profile.n_responses == len(candidates)``).
      candidates: the n strings, in the profile's response order.
    """

    def __init__(self, profile: Profile, candidates: Sequence[str]):
        if not isinstance(profile, Profile):
            raise ValueError(f"profile must be a ualign.Profile, got {type(profile).__name__}")
        if profile.n_responses != len(candidates):
            raise ValueError(f"candidates must name the profile's {profile.n_responses} "
                             f"responses, got {len(candidates)} strings")
        self.profile = profile
        self.candidates = list(candidates)
        self.index = {c: i for i, c in enumerate(self.candidates)}

    def indices(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for j, t in enumerate(texts):
            if t not in self.index:
                raise ValueError(f"texts[{j}] = {t!r} is not one of the {len(self.index)} "
                                 f"candidates")
            out.append(self.index[t])
        return np.asarray(out, dtype=np.int64)

    def rank(self, texts: Sequence[str]) -> Profile:
        return self.profile.restrict(self.indices(texts))


def as_population(population, candidates: Sequence[str] | None = None):
    """``population`` checked for ranking: a spec string is loaded by
    :func:`ualign.llm.populations.load_population` (e.g. ``http://HOST:PORT``, a ``ualign
    serve`` service); a :class:`Profile` over fixed ``candidates`` is wrapped in
    :class:`CandidatePopulation`. Raises ``ValueError`` when it cannot rank, or when a candidate
    population's strings differ from ``candidates``."""
    if isinstance(population, str):
        from ualign.llm.populations.spec import load_population

        population = load_population(population)
    if isinstance(population, Profile):
        if candidates is None:
            raise ValueError("population is a Profile, which only ranks fixed candidates: "
                             "set config.candidates (fixed-response mode)")
        population = CandidatePopulation(population, candidates)
    check_population(population)
    if isinstance(population, CandidatePopulation) and candidates is not None:
        if list(population.candidates) != list(candidates):
            raise ValueError("population.candidates must equal config.candidates (same "
                             "strings, same order)")
    return population
