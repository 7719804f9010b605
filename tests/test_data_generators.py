"""Instance generators (ualign.data.generators): exact values, sampling accuracy, seeds, groups."""

import itertools
import math

import numpy as np
import pytest

from ualign import Profile
from ualign.data import (
    condorcet_cycle,
    ideal_points,
    impartial_culture,
    mallows,
    mallows_mixture,
    mallows_normaliser,
    mixture,
    nlhf_collapse,
    plackett_luce,
)


def _rankings(P: Profile) -> np.ndarray:
    """Best-first rankings of a strict profile."""
    assert not P.has_ties
    return np.argsort(P.levels, axis=1)


def _weight_of(P: Profile, ranking) -> float:
    """Total weight of the rows whose ranking is ``ranking`` (best first)."""
    r = _rankings(P)
    return float(P.weights[np.all(r == np.asarray(ranking), axis=1)].sum())


def _kendall(a, b) -> int:
    pos = {y: i for i, y in enumerate(b)}
    return sum(pos[a[i]] > pos[a[j]] for i in range(len(a)) for j in range(i + 1, len(a)))


# ------------------------------------------------------------------ impartial culture
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_exact_impartial_culture_lists_all_orders_equally(n):
    P = impartial_culture(n)
    assert P.n_users == math.factorial(n)
    np.testing.assert_allclose(P.weights, 1 / math.factorial(n), rtol=0, atol=1e-15)
    orders = {tuple(r) for r in _rankings(P)}
    assert orders == set(itertools.permutations(range(n)))


def test_exact_impartial_culture_refuses_large_n():
    with pytest.raises(ValueError, match=r"n <= 9.*n_users"):
        impartial_culture(10)


def test_sampled_impartial_culture_first_choices_are_uniform():
    n, U = 5, 20000
    P = impartial_culture(n, U, seed=3)
    assert P.n_voters == U
    first = np.bincount(_rankings(P)[:, 0], weights=P.weights, minlength=n)
    # each first-choice share is 1/5 with sd sqrt(0.2*0.8/20000) ~ 0.0028; allow 5 sd
    np.testing.assert_allclose(first, 1 / n, atol=0.015)


# ------------------------------------------------------------------ Mallows
@pytest.mark.parametrize("phi", [0.0, 0.3, 0.8, 1.0])
def test_mallows_normaliser_matches_brute_force(phi):
    n = 5
    Z = sum(phi ** _kendall(p, range(n)) for p in itertools.permutations(range(n)))
    assert mallows_normaliser(n, phi) == pytest.approx(Z, rel=1e-12)


def test_exact_mallows_weights_are_phi_to_the_distance_over_Z():
    n, phi, centre = 4, 0.6, [2, 0, 3, 1]
    P = mallows(n, None, phi, center=centre)
    Z = mallows_normaliser(n, phi)
    assert P.n_users == math.factorial(n)
    for r, w in zip(_rankings(P), P.weights, strict=True):
        assert w == pytest.approx(phi ** _kendall(list(r), centre) / Z, rel=1e-12)


def test_mallows_phi_zero_is_the_centre():
    centre = [3, 1, 4, 0, 2]
    P = mallows(5, 200, 0.0, center=centre, seed=0)
    assert P.n_users == 1
    assert _rankings(P)[0].tolist() == centre


def test_mallows_small_phi_concentrates_on_the_centre():
    P = mallows(6, 5000, 0.01, seed=1)
    # P(centre) = 1/Z(0.01) ~ 0.95
    assert _weight_of(P, range(6)) > 0.9


def test_mallows_centre_frequency_matches_one_over_Z():
    n, phi, U = 5, 0.5, 20000
    P = mallows(n, U, phi, seed=12345)
    p = 1 / mallows_normaliser(n, phi)                # 0.10486...
    sd = math.sqrt(p * (1 - p) / U)                   # ~0.0022
    assert abs(_weight_of(P, range(n)) - p) < 4 * sd


def test_mallows_sampled_distribution_matches_exact():
    n, phi, U = 4, 0.7, 40000
    centre = [1, 3, 0, 2]
    S = mallows(n, U, phi, center=centre, seed=7)
    E = mallows(n, None, phi, center=centre)
    tv = 0.5 * sum(abs(_weight_of(S, r) - _weight_of(E, r))
                   for r in itertools.permutations(range(n)))
    # 24 cells, U = 40000: expected TV ~ 0.5 * sum sqrt(2 p / (pi U)) ~ 0.02
    assert tv < 0.04


def test_mallows_phi_one_is_impartial_culture():
    P = mallows(4, 24000, 1.0, seed=2)
    for r in itertools.permutations(range(4)):
        assert abs(_weight_of(P, r) - 1 / 24) < 0.007     # sd ~0.0013


def test_mallows_bad_input():
    with pytest.raises(ValueError, match="phi"):
        mallows(4, 10, 1.5)
    with pytest.raises(ValueError, match="center"):
        mallows(4, 10, 0.5, center=[0, 1, 1, 2])
    with pytest.raises(ValueError, match="n_users"):
        mallows(4, 0, 0.5)
    with pytest.raises(ValueError, match="seed"):
        mallows(4, 10, 0.5, seed="x")


# ------------------------------------------------------------------ Plackett-Luce
def test_plackett_luce_first_choice_shares_are_strengths():
    w = np.array([4.0, 2.0, 1.0, 1.0])
    P = plackett_luce(4, 30000, strengths=w, seed=0)
    first = np.bincount(_rankings(P)[:, 0], weights=P.weights, minlength=4)
    np.testing.assert_allclose(first, w / w.sum(), atol=0.015)
    # second choice given first = 0: shares 2/4, 1/4, 1/4
    r = _rankings(P)
    m = r[:, 0] == 0
    second = np.bincount(r[m, 1], weights=P.weights[m], minlength=4) / P.weights[m].sum()
    np.testing.assert_allclose(second[1:], [0.5, 0.25, 0.25], atol=0.02)


def test_plackett_luce_bad_strengths():
    with pytest.raises(ValueError, match=r"strengths.*position 1"):
        plackett_luce(3, 10, strengths=[1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"strengths must have shape \(3,\)"):
        plackett_luce(3, 10, strengths=[1.0, 2.0])


# ------------------------------------------------------------------ seeds
@pytest.mark.parametrize("make", [
    lambda s: impartial_culture(6, 50, seed=s),
    lambda s: mallows(6, 50, 0.6, seed=s),
    lambda s: plackett_luce(6, 50, seed=s),
    lambda s: mallows_mixture(6, 50, 0.5, 3, seed=s),
    lambda s: ideal_points(6, 50, dim=3, noise=0.1, seed=s),
])
def test_seeds_reproduce_and_differ(make):
    assert make(0) == make(0)
    assert make(np.random.default_rng(5)) == make(np.random.default_rng(5))
    assert make(0) != make(1)


def test_generators_do_not_touch_the_global_rng():
    np.random.seed(0)  # noqa: NPY002 (the legacy global RNG is what is being checked)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    mallows(5, 100, 0.5, seed=1)
    plackett_luce(5, 100, seed=1)
    ideal_points(5, 100, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


# ------------------------------------------------------------------ mixtures
def test_mixture_keeps_groups_and_group_weights():
    a = nlhf_collapse(0.0)                  # two rows
    b = condorcet_cycle(2)                  # the same two orders
    M = mixture([a, b, impartial_culture(2)], group_weights=[2, 1, 1],
                group_names=["x", "y", "z"])
    assert M.group_names == ("x", "y", "z")
    shares = np.bincount(M.groups, weights=M.weights, minlength=3)
    np.testing.assert_allclose(shares, [0.5, 0.25, 0.25])
    # identical orders in different groups are not merged
    assert M.n_users == 6


def test_mixture_bad_input():
    with pytest.raises(ValueError, match="position 1"):
        mixture([impartial_culture(3), impartial_culture(4)])
    with pytest.raises(ValueError, match="group_weights"):
        mixture([impartial_culture(3)] * 2, group_weights=[1, -1])


def test_mallows_mixture_groups_follow_their_centres():
    G, n = 3, 7
    M = mallows_mixture(n, 3000, 0.05, G, group_weights=[0.5, 0.3, 0.2], seed=4)
    assert M.groups is not None and len(M.group_names) == G
    np.testing.assert_allclose(np.bincount(M.groups, weights=M.weights, minlength=G),
                               [0.5, 0.3, 0.2])
    assert M.n_voters == 3000
    centres = [list(map(int, c.split(","))) for c in M.meta["centers"].split(";")]
    r = _rankings(M)
    for g in range(G):
        m = M.groups == g
        # phi = 0.05: the group's centre holds ~ 1/Z ~ 0.74 of its weight
        share = M.weights[m & np.all(r == centres[g], axis=1)].sum() / M.weights[m].sum()
        assert share > 0.65


# ------------------------------------------------------------------ fixed instances
def test_condorcet_cycle():
    P = condorcet_cycle(3)
    assert P.n_users == 3
    np.testing.assert_allclose(P.weights, 1 / 3)
    assert P.condorcet_winner() is None
    Pm = P.pairwise_preferences()
    for y in range(3):
        assert Pm[y, (y + 1) % 3] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        condorcet_cycle(1)


def test_nlhf_collapse():
    P = nlhf_collapse(0.1)
    Pm = P.pairwise_preferences()
    assert Pm[0, 1] == pytest.approx(0.6) and Pm[1, 0] == pytest.approx(0.4)
    assert P.condorcet_winner() == 0
    assert nlhf_collapse(0.5).n_users == 1
    with pytest.raises(ValueError, match="eps"):
        nlhf_collapse(0.7)


def test_ideal_points_order_by_distance():
    P, x, z = ideal_points(5, 40, dim=2, seed=9, return_coords=True)
    assert x.shape == (40, 2) and z.shape == (5, 2)
    d = np.linalg.norm(x[:, None] - z[None], axis=2)
    want = Profile.from_rankings(np.argsort(d, axis=1))
    assert P == want


def test_ideal_points_clusters_are_groups():
    P = ideal_points(6, 300, clusters=3, spread=0.05, seed=0)
    assert P.groups is not None and set(np.unique(P.groups)) <= {0, 1, 2}
    assert P.group_names == ("cluster 0", "cluster 1", "cluster 2")
    with pytest.raises(ValueError, match="noise"):
        ideal_points(3, 10, noise=-1.0)


# ------------------------------------------------------------------ properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 7), users=st.integers(1, 60), phi=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 4))
def test_sampled_generators_give_valid_strict_profiles(n, users, phi, seed, groups):
    for P in (mallows(n, users, phi, seed=seed), plackett_luce(n, users, seed=seed),
              impartial_culture(n, users, seed=seed), ideal_points(n, users, seed=seed)):
        assert P.n_responses == n and P.n_voters == users
        assert not P.has_ties or n == 1
        assert np.isclose(P.weights.sum(), 1)
        # weights are multiples of 1/users (merged identical users)
        np.testing.assert_allclose(P.weights * users, np.round(P.weights * users), atol=1e-9)
    if users >= groups:
        M = mallows_mixture(n, users, phi, groups, seed=seed)
        np.testing.assert_allclose(np.bincount(M.groups, weights=M.weights, minlength=groups),
                                   1 / groups)


# ------------------------------------------------------------------ scale (issue 22)
def _mallows_reference(n, U, phi, centre, rng):
    """The repeated-insertion sampler as first written (O(U n²) NumPy): the stream the compiled
    sampler must reproduce exactly."""
    pos = np.zeros((U, n), dtype=np.int64)
    for i in range(1, n):
        p = phi ** np.arange(i, -1, -1, dtype=float)
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0
        j = np.minimum(np.searchsorted(cdf, rng.random(U), side="right"), i)
        head = pos[:, :i]
        head += head >= j[:, None]
        pos[:, i] = j
    rankings = np.empty((U, n), dtype=np.int64)
    np.put_along_axis(rankings, pos, np.broadcast_to(centre, (U, n)), axis=1)
    return rankings


@pytest.mark.parametrize("phi", [0.0, 0.2, 0.7, 0.9, 0.93, 0.999, 1.0])
@pytest.mark.parametrize("n", [1, 2, 7, 70])
def test_mallows_compiled_sampler_reproduces_repeated_insertion(phi, n):
    """Both slot finders (a walk from the top for φ <= 0.9, a Fenwick tree beyond) and the
    O(1) position search give exactly the reference sampler's rankings."""
    rng = np.random.default_rng(n)
    centre = rng.permutation(n)
    want = _mallows_reference(n, 40, phi, centre, np.random.default_rng(3))
    got = mallows(n, 40, phi, center=centre, seed=3)
    assert got == Profile.from_rankings(want, n_voters=40, meta=got.meta)


def test_plackett_luce_mixture_groups_follow_their_strengths():
    from ualign.data import plackett_luce_mixture

    P = plackett_luce_mixture(4, 30000, 2, group_weights=[0.25, 0.75], seed=0)
    assert P.n_voters == 30000 and P.groups is not None
    np.testing.assert_allclose(np.bincount(P.groups, weights=P.weights), [0.25, 0.75])
    strengths = [np.array(row.split(","), dtype=float) for row in P.meta["strengths"].split(";")]
    for g in (0, 1):
        rows = P.groups == g
        first = np.argmin(P.levels[rows], axis=1)
        share = np.bincount(first, weights=P.weights[rows], minlength=4) / P.weights[rows].sum()
        # first choices follow the group's strengths (6-digit meta, 3 sigma of sampling noise)
        np.testing.assert_allclose(share, strengths[g] / strengths[g].sum(), atol=0.02)
    assert P == plackett_luce_mixture(4, 30000, 2, group_weights=[0.25, 0.75], seed=0)


def test_pl_spec_groups():
    from ualign.data import load_profile

    P = load_profile("pl:n=6,users=50,groups=3,seed=1")
    assert P.n_responses == 6 and len(P.group_names) == 3 and P.n_voters == 50
    assert load_profile("pl:n=6,users=50,seed=1") == plackett_luce(6, 50, seed=1)


@pytest.mark.parametrize("make", [
    lambda: impartial_culture(300, 2000, seed=0),
    lambda: mallows(300, 2000, 0.8, seed=0),
    lambda: mallows(300, 2000, 0.95, seed=0),
    lambda: mallows_mixture(300, 2000, 0.8, 4, seed=0),
    lambda: plackett_luce(300, 2000, seed=0),
    lambda: ideal_points(300, 2000, dim=2, noise=0.1, seed=0),
])
def test_sampled_profiles_are_built_at_about_their_size(make, monkeypatch):
    """The generators build by row blocks in the level dtype (int16): peak traced memory stays
    near the profile's size plus one block, not 64 bytes per entry."""
    import tracemalloc

    from ualign.core import profile as profile_mod
    from ualign.data import generators as gen_mod

    monkeypatch.setattr(profile_mod, "CHUNK_ENTRIES", 1 << 15)
    monkeypatch.setattr(gen_mod, "CHUNK_ENTRIES", 1 << 15)
    make()  # compile
    tracemalloc.start()
    P = make()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert P.levels.dtype == np.int16
    size = 300 * 2000 * 2
    assert peak <= 1.3 * size + 64 * (1 << 15) + 64 * 2000, (peak, size)


def test_from_blocks_matches_the_whole_array_constructors():
    rng = np.random.default_rng(0)
    r = np.argsort(rng.random((50, 6)), axis=1)
    lv = rng.integers(0, 3, (50, 6))
    sc = np.where(rng.random((50, 6)) < 0.2, np.nan, rng.random((50, 6)).round(1))
    assert Profile.from_blocks(50, 6, [r[:20], r[20:]]) == Profile.from_rankings(r)
    assert Profile.from_blocks(50, 6, iter([lv[:1], lv[1:]]), "levels") == \
        Profile.from_levels(lv)
    assert Profile.from_blocks(50, 6, [sc], "scores") == Profile.from_scores(sc)
    with pytest.raises(ValueError, match="blocks hold 20 rows, expected n_users = 50"):
        Profile.from_blocks(50, 6, [r[:20]])
    with pytest.raises(ValueError, match=r"blocks\[1\] must have shape \(rows, 6\)"):
        Profile.from_blocks(50, 6, [r[:20], r[20:, :5]])
    with pytest.raises(ValueError, match="more than n_users"):
        Profile.from_blocks(10, 6, [r])
    with pytest.raises(ValueError, match="rankings row 20 must be a permutation"):
        Profile.from_blocks(50, 6, [r[:20], np.zeros((30, 6), int)])
    with pytest.raises(ValueError, match="form must be one of"):
        Profile.from_blocks(50, 6, [r], "ranks")
