"""The one greedy + swap search (core/search.py) used by the k-set pricers, the worst-opponent
search and the committees' fast incumbent."""

import itertools

import numpy as np
import pytest

from ualign.core.search import greedy_local_search, local_search


def test_additive_objective_picks_copies_of_the_best():
    v = np.array([0.1, 0.7, 0.3, 0.7])

    def f(sets):
        return v[sets].sum(axis=1)

    S, val, evaluated = greedy_local_search(f, 4, 3, seeds=[0])
    np.testing.assert_array_equal(S, [1, 1, 1])      # ties go to the smaller index
    assert val == pytest.approx(2.1)
    # 2 greedy additions + swap passes (first pass improves position 0, second finds nothing)
    assert evaluated == 4 * 2 + 4 * 3 * 2


def test_coverage_objective_matches_enumeration_on_a_small_instance():
    """Users each like a set of responses; f(S) = weight of users with a liked response in S.
    From every seed, greedy + swaps reaches the enumerated optimum here."""
    rng = np.random.default_rng(0)
    likes = rng.random((30, 7)) < 0.25
    w = rng.dirichlet(np.ones(30))

    def f(sets):
        return np.array([w @ likes[:, s].any(axis=1) for s in sets])

    best = max(f(np.array(list(itertools.combinations_with_replacement(range(7), 3)))))
    S, val, _ = greedy_local_search(f, 7, 3, seeds=range(7))
    assert val == pytest.approx(best, abs=1e-12) and f(S[None, :])[0] == pytest.approx(val)


def test_no_seed_is_an_error():
    with pytest.raises(ValueError, match="seeds"):
        greedy_local_search(lambda s: np.zeros(len(s)), 3, 2, seeds=[])


def _coverage(seed, U=30, n=7, p=0.25):
    rng = np.random.default_rng(seed)
    likes = rng.random((U, n)) < p
    w = rng.dirichlet(np.ones(U))

    def f(sets):
        return np.array([w @ likes[:, list(s)].any(axis=1) for s in sets])

    def gains(T):
        return f([[*T, y] for y in range(n)])

    return f, gains


@pytest.mark.parametrize("seed", range(4))
def test_gains_and_batch_entry_points_agree(seed):
    """The batch objective and the incremental gains of the same coverage function give the
    same multiset from the same seeds."""
    f, gains = _coverage(seed)
    S, val, evaluated = greedy_local_search(lambda s: f(s), 7, 3, seeds=range(7))
    r = local_search(gains, 7, 3, seeds=range(7), value=lambda T: f([T])[0], reevaluate=False)
    assert r.set.tolist() == S.tolist() and r.value == pytest.approx(val, abs=1e-15)
    assert r.evaluated == evaluated and len(r.optima) == len(r.greedy) == 7


@pytest.mark.parametrize("moves", ["each", "best"])
@pytest.mark.parametrize("seed", range(4))
def test_distinct_search_never_repeats_and_is_a_local_optimum(seed, moves):
    f, gains = _coverage(seed, n=9)
    r = local_search(gains, 9, 4, distinct=True, moves=moves, value=lambda T: f([T])[0])
    S = r.set.tolist()
    assert len(set(S)) == 4 and S == sorted(S) and r.value == pytest.approx(f([S])[0])
    best = max(f([c])[0] for c in itertools.combinations(range(9), 4))
    assert r.value <= best + 1e-12
    # no single swap improves by more than the tolerance
    for pos in range(4):
        for y in set(range(9)) - set(S):
            assert f([[*S[:pos], y, *S[pos + 1:]]])[0] <= r.value + 1e-13


def test_empty_start_greedy_only_is_the_plain_greedy_order():
    """seeds=None, max_rounds=0: the greedy picks in order (nested sets, ties to the smaller
    index), each the largest gain."""
    v = np.array([0.2, 0.9, 0.9, 0.5])

    def gains(T):
        return v[list(T)].sum() + v

    r = local_search(gains, 4, 3, distinct=True, max_rounds=0)
    assert r.greedy == ((1, 2, 3),) and r.set.tolist() == [1, 2, 3]
    assert r.value == pytest.approx(2.3) and r.evaluated == 3 * 4


def test_on_greedy_sees_every_prefix_with_members_masked():
    seen = []
    v = np.array([0.3, 0.1, 0.4, 0.2])
    local_search(lambda T: v[list(T)].sum() + v, 4, 3, seeds=[0], distinct=True,
                 on_greedy=lambda S, vals: seen.append((S, vals.copy())))
    assert [S for S, _ in seen] == [(0,), (0, 2)]
    assert np.isneginf(seen[1][1][[0, 2]]).all() and seen[1][1][3] == pytest.approx(0.9)


def test_deadline_stops_swaps_and_later_starts():
    calls = []

    def gains(T):
        calls.append(T)
        return np.arange(5.0) + len(T)

    r = local_search(gains, 5, 2, seeds=[0, 1, 2], distinct=True, deadline=0.0)
    # the first start builds its greedy set; no swap round and no later start follow
    assert len(r.optima) == 1 and calls == [(0,)]


def test_bad_moves_is_an_error():
    with pytest.raises(ValueError, match="moves"):
        local_search(lambda T: np.zeros(3), 3, 2, moves="first")
