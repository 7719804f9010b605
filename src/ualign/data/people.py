"""Real people and their ratings, for measurements on held-out people (THEORY.md §10).

A :class:`People` holds one row of levels per person over the n responses, NaN where the person
gave no rating (a Polis statement they never voted on), and the level an unrated cell takes in a
population (``fill``; for Polis the pass level, :func:`ualign.data.read_polis`'s rule).

- :func:`people_from_profile`: one person per voter of a profile (every response rated);
- :func:`people_from_polis`: the participants of a Polis conversation with their real votes;
- :func:`load_people`: either, from a path or a generator spec.

References: shared/spec/THEORY.md §1, §10; shared/data/README.md (the Polis export).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ualign.core import Profile

__all__ = ["People", "load_people", "people_from_polis", "people_from_profile"]


class People(NamedTuple):
    """Real people's levels: ``levels (N, n)`` float, smaller is better, NaN = not rated;
    ``fill`` the level an unrated cell takes in the population and when shown (Polis: pass)."""

    name: str
    levels: np.ndarray
    fill: float
    groups: np.ndarray | None = None
    labels: tuple[str, ...] | None = None



def people_from_profile(profile: Profile, name: str = "profile") -> People:
    """One person per voter: each row repeated ``round(w · n_voters)`` times (at least once),
    or once per row when ``n_voters`` is unknown. Every response is rated."""
    P = profile
    if P.n_voters is not None:
        counts = np.maximum(1, np.round(P.weights * P.n_voters).astype(np.int64))
    else:
        counts = np.ones(P.n_users, dtype=np.int64)
    levels = np.repeat(P.levels.astype(float), counts, axis=0)
    groups = None if P.groups is None else np.repeat(P.groups, counts)
    return People(name, levels, float(P.levels.max()), groups, P.labels)


def people_from_polis(folder, min_votes: int = 7) -> People:
    """The participants of a Polis conversation kept by :func:`ualign.read_polis` (defaults:
    ``min_votes=7``, unseen tied with pass), with their real votes (agree 0, pass 1, disagree 2,
    NaN never voted) over its statements. Checked against ``read_polis``: filling NaN with pass
    gives the same population (orders and weights, groups aside), else ``ValueError``. Groups
    are left out (``read_polis_votes`` reads them from the second column, which is ``xid`` in
    some exports)."""
    from ualign.data.polis import read_polis, read_polis_votes, statement_ids

    P = read_polis(folder, min_votes=min_votes)
    ids = statement_ids(P)
    raw = read_polis_votes(folder)
    col = {int(c): j for j, c in enumerate(raw.statement_ids)}
    missing = [c for c in ids if c not in col]
    if missing:
        raise ValueError(f"{folder}: statements {missing[:5]} of read_polis have no vote column "
                         "in read_polis_votes")
    v = raw.votes[:, [col[c] for c in ids]]                # +1 agree, 0 pass, -1 disagree
    keep = np.count_nonzero(~np.isnan(v), axis=1) >= min_votes
    levels = 1.0 - v[keep]                                 # agree 0, pass 1, disagree 2
    # Groups are not used here (no group evidence), so the check merges without them.
    check = Profile.from_levels(np.where(np.isnan(levels), 1.0, levels))
    want = Profile(P.levels, P.weights)
    if not (check.shape == want.shape and np.array_equal(check.levels, want.levels)
            and np.allclose(check.weights, want.weights, rtol=0, atol=1e-12)):
        raise ValueError(f"{folder}: the raw votes do not rebuild read_polis's profile")
    name = P.meta.get("conversation", Path(folder).name)
    return People(name, levels, 1.0, None, P.labels)


def load_people(spec: str) -> People:
    """A Polis folder (real votes, NaN where never voted) or anything ``load_profile`` reads
    (a PrefLib file, a generator spec): one person per voter."""
    from ualign.data.spec import load_profile

    path = Path(spec)
    if path.is_dir() and (path / "participants-votes.csv").is_file():
        return people_from_polis(path)
    name = path.name if path.exists() else spec
    return people_from_profile(load_profile(spec), name)
