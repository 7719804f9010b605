"""How the trainer asks a population to rank a group of texts (duck-typed), and a population over
a fixed set of candidate strings (for the exactness experiment and tests).

A population is any object with either
- ``rank(texts) -> Profile`` (users' weak orders over the texts, e.g. ``ualign.llm``), or
- ``scores(texts) -> (U, G)`` utilities (higher is better, NaN = unranked) and optionally
  ``weights`` ``(U,)``.
A pairwise preference model (``prefer(a, b)``) cannot rank k+1 responses at once (THEORY §8) and is
rejected.

References: THEORY.md §8.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np

from ualign.core.estimators import levels_from_scores
from ualign.core.profile import Profile
from ualign.data import load_profile

__all__ = ["CandidatePopulation", "as_population", "build_population", "check_population",
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
    w = getattr(population, "weights", None)
    w = np.full(S.shape[0], 1.0 / S.shape[0]) if w is None else np.asarray(w, dtype=float)
    if w.shape != (S.shape[0],):
        raise ValueError(f"population.weights must have shape ({S.shape[0]},), got {w.shape}")
    return levels_from_scores(S), w / w.sum()


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
    """``population`` checked for the trainer; a :class:`Profile` over fixed ``candidates`` is
    wrapped in :class:`CandidatePopulation`. Raises ``ValueError`` when it cannot rank, or
    when a candidate population's strings differ from ``candidates``."""
    if isinstance(population, str) and population.startswith(("http://", "https://")):
        from ualign.integrations.client import PopulationClient

        population = PopulationClient(population)
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


def build_population(config, spec: str | None = None):
    """The population of a :class:`~ualign.train.SelfPlayConfig` from a spec string
    (``spec``, else ``config.population``): with ``config.candidates``, a profile over them
    (anything :func:`ualign.data.load_profile` reads: a PrefLib file, a Polis folder, a
    generator spec) as a :class:`CandidatePopulation`; otherwise a ``ualign.llm`` population
    spec (:func:`ualign.llm.load_population`)."""
    spec = spec or config.population
    if not spec:
        raise ValueError("a population is required: --population SPEC or `population:` in "
                         "the config")
    if spec.startswith(("http://", "https://")):        # a `ualign serve` service
        from ualign.integrations.client import PopulationClient

        return PopulationClient(spec)
    if config.candidates is not None:
        P = load_profile(spec)
        if P.n_responses != len(config.candidates):
            raise ValueError(f"population {spec!r} ranks {P.n_responses} responses but "
                             f"candidates lists {len(config.candidates)}")
        return CandidatePopulation(P, config.candidates)
    from ualign.llm import load_population

    return load_population(spec)
