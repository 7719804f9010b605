"""The trainer's population: a spec string of a :class:`~ualign.train.SelfPlayConfig` turned
into a population (:func:`build_population`). How a population ranks a group of texts lives in
:mod:`ualign.llm.populations.protocol` (re-exported here: ``rank_texts``,
``CandidatePopulation``, ...).

References: THEORY.md §8.
"""

from __future__ import annotations

from ualign.data import load_profile
from ualign.llm.populations.protocol import (
    CandidatePopulation,
    as_population,
    check_population,
    rank_texts,
)
from ualign.llm.populations.spec import load_population, population_kind

__all__ = ["CandidatePopulation", "as_population", "build_population", "check_population",
           "rank_texts"]


def build_population(config, spec: str | None = None):
    """The population of a :class:`~ualign.train.SelfPlayConfig` from a spec string
    (``spec``, else ``config.population``): with ``config.candidates``, a profile over them
    (anything :func:`ualign.data.load_profile` reads: a PrefLib file, a Polis folder, a
    generator spec) as a :class:`CandidatePopulation`, or else a population spec of the
    registry that ranks the candidates' texts (e.g. ``http://HOST:PORT``, a ``ualign serve``
    service); without candidates, a ``ualign.llm`` population spec
    (:func:`ualign.llm.load_population`)."""
    spec = spec or config.population
    if not spec:
        raise ValueError("a population is required: --population SPEC or `population:` in "
                         "the config")
    if config.candidates is None:
        return load_population(spec)
    try:
        P = load_profile(spec)
    except (ValueError, FileNotFoundError):
        if population_kind(spec) is None:
            raise
        return load_population(spec)
    if P.n_responses != len(config.candidates):
        raise ValueError(f"population {spec!r} ranks {P.n_responses} responses but "
                         f"candidates lists {len(config.candidates)}")
    return CandidatePopulation(P, config.candidates)
