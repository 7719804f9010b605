"""``ualign.data.generators.random_profile``: the one random population of the property tests
and of report claim (ii)."""

from __future__ import annotations

import numpy as np
import pytest

from ualign.data.generators import random_profile


def test_random_profile_is_seeded_and_has_the_asked_shape():
    a, b = random_profile(3, 6, 10), random_profile(3, 6, 10)
    np.testing.assert_array_equal(a.levels, b.levels)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.n_responses == 6 and a.n_users <= 10
    assert a.weights.sum() == pytest.approx(1.0)
    # strict: every row a permutation of 0..n-1
    assert all(sorted(row) == list(range(6)) for row in a.levels.tolist())
    c = random_profile(4, 6, 10)
    assert not (np.array_equal(a.levels, c.levels) and np.array_equal(a.weights, c.weights))


def test_random_profile_ties_and_generator_stream():
    P = random_profile(np.random.default_rng(5), 5, 30, n_levels=2)
    assert P.n_responses == 5 and set(np.unique(P.levels)) <= {0, 1}
    # a Generator is consumed in the documented order: levels, then Dirichlet weights
    rng = np.random.default_rng(5)
    levels = rng.integers(0, 2, size=(30, 5))
    w = rng.dirichlet(np.ones(30))
    from ualign import Profile

    Q = Profile.from_levels(levels, weights=w)
    np.testing.assert_array_equal(P.levels, Q.levels)
    np.testing.assert_allclose(P.weights, Q.weights)
    assert np.unique(random_profile(0, 4, 8, n_levels=1).levels).tolist() == [0]


def test_random_profile_global_rng_untouched():
    np.random.seed(0)  # noqa: NPY002 (the legacy global RNG is what is being checked)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    random_profile(None, 4, 5)
    random_profile(1, 4, 5, n_levels=2)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


@pytest.mark.parametrize("kw, match", [({"n": 0}, "n must be an integer >= 1"),
                                       ({"n_users": 2.5}, "n_users must be an integer"),
                                       ({"n_levels": 0}, "n_levels must be an integer >= 1"),
                                       ({"seed": -1}, "seed must be")])
def test_random_profile_bad_input(kw, match):
    args = {"seed": 0, "n": 3, "n_users": 4} | kw
    with pytest.raises(ValueError, match=match):
        random_profile(**args)
