"""Preference data: synthetic instances, real data readers (PrefLib, Polis) and downloads.

``load_profile(spec)`` turns a PrefLib file, a Polis conversation folder or a generator spec
(``mallows:n=20,phi=0.7,groups=3``) into a :class:`ualign.Profile`.
"""

from ualign.data.fetch import FetchError, fetch_polis, fetch_preflib
from ualign.data.generators import (
    condorcet_cycle,
    ideal_points,
    impartial_culture,
    mallows,
    mallows_mixture,
    mallows_normaliser,
    mixture,
    nlhf_collapse,
    plackett_luce,
    plackett_luce_mixture,
)
from ualign.data.polis import (
    POLIS_ATTRIBUTION,
    PolisVotes,
    read_polis,
    read_polis_votes,
    statement_ids,
)
from ualign.data.spec import load_profile, parse_spec

__all__ = [
    "POLIS_ATTRIBUTION",
    "FetchError",
    "PolisVotes",
    "condorcet_cycle",
    "fetch_polis",
    "fetch_preflib",
    "ideal_points",
    "impartial_culture",
    "load_profile",
    "mallows",
    "mallows_mixture",
    "mallows_normaliser",
    "mixture",
    "nlhf_collapse",
    "parse_spec",
    "plackett_luce",
    "plackett_luce_mixture",
    "read_polis",
    "read_polis_votes",
    "statement_ids",
]
