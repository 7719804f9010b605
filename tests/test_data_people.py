"""Real people and their hidden ratings (``ualign.data.people``): one person per voter of a
profile, and a Polis conversation's participants with their real votes."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import ualign
from ualign.data.people import load_people, people_from_profile

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def test_people_from_profile_repeats_rows_by_voter_count():
    P = ualign.Profile.from_rankings([[0, 1, 2], [2, 1, 0]], [3, 1], n_voters=8)
    people = people_from_profile(P, "toy")
    assert people.levels.shape == (8, 3) and not np.isnan(people.levels).any()
    assert (people.levels[:, 0] == 0).sum() == 6


@pytest.mark.skipif(not (DATA / "polis" / "15-per-hour-seattle").is_dir(),
                    reason="needs ../shared/data/polis")
def test_polis_people_rebuild_read_polis():
    folder = DATA / "polis" / "15-per-hour-seattle"
    people = load_people(str(folder))
    P = ualign.read_polis(folder)
    assert people.levels.shape == (P.n_voters, P.n_responses)
    votes = np.count_nonzero(~np.isnan(people.levels), axis=1)
    assert votes.min() >= 7
    assert set(np.unique(people.levels[~np.isnan(people.levels)])) <= {0.0, 1.0, 2.0}
    filled = np.where(np.isnan(people.levels), 1.0, people.levels)
    Q = ualign.Profile.from_levels(filled)
    R = ualign.Profile(P.levels, P.weights)                # groups aside
    assert np.array_equal(Q.levels, R.levels) and np.allclose(Q.weights, R.weights)
    assert list(itertools.islice(people.labels, 2)) == list(P.labels[:2])
