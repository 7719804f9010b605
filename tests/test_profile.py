"""Profiles: constructors, canonical form, immutability, PrefLib I/O and input errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import ualign
from ualign import Profile

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PREFLIB_FILES = sorted((DATA / "preflib").glob("*/*.[st]o[ci]"))


def test_from_rankings_levels_and_merge():
    P = Profile.from_rankings([[2, 0, 1], [0, 1, 2], [2, 0, 1]], weights=[1, 2, 1],
                              labels=["a", "b", "c"])
    assert P.shape == (2, 3)
    np.testing.assert_array_equal(P.levels, [[1, 2, 0], [0, 1, 2]])
    np.testing.assert_allclose(P.weights, [0.5, 0.5])
    assert P.labels == ("a", "b", "c") and P.label(2) == "c"


def test_levels_are_densified_and_equal_profiles_compare_equal():
    A = Profile.from_levels([[5, 5, 9], [0, 3, 3]])
    B = Profile.from_levels([[0, 0, 1], [0, 1, 1]])
    assert A == B
    assert A.has_ties
    assert not Profile.from_rankings([[0, 1]]).has_ties


def test_from_scores_ties_and_nan():
    P = Profile.from_scores([[0.3, np.nan, 0.9, 0.3], [np.nan, np.nan, 1.0, 2.0]])
    np.testing.assert_array_equal(P.levels, [[1, 2, 0, 1], [2, 2, 1, 0]])


def test_profile_is_immutable():
    P = Profile.from_rankings([[0, 1], [1, 0]])
    with pytest.raises(dataclasses.FrozenInstanceError):
        P.weights = np.array([1.0, 0.0])
    with pytest.raises(ValueError):
        P.levels[0, 0] = 3
    with pytest.raises(ValueError):
        P.weights[0] = 3


def test_constructor_does_not_modify_inputs():
    lv = np.array([[4, 4, 1], [0, 2, 2]])
    w = np.array([3.0, 1.0])
    Profile.from_levels(lv, w)
    np.testing.assert_array_equal(lv, [[4, 4, 1], [0, 2, 2]])
    np.testing.assert_array_equal(w, [3.0, 1.0])


def test_groups_kept_apart_when_merging():
    P = Profile.from_rankings([[0, 1], [0, 1], [1, 0]], groups=[0, 1, 1],
                              group_names=["left", "right"])
    assert P.n_users == 3
    Q = Profile.from_rankings([[0, 1], [0, 1], [1, 0]], groups=[1, 1, 0])
    assert Q.n_users == 2
    np.testing.assert_allclose(Q.weights, [2 / 3, 1 / 3])


def test_condorcet_winner_and_margins():
    P = Profile.from_rankings([[1, 0, 2], [1, 2, 0], [0, 1, 2]])
    assert P.condorcet_winner() == 1
    M = P.margins()
    np.testing.assert_allclose(M, -M.T)
    cyc = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
    assert cyc.condorcet_winner() is None


@pytest.mark.parametrize("call,msg", [
    (lambda: Profile.from_rankings([[0, 1, 1]]), r"rankings row 0 must be a permutation"),
    (lambda: Profile.from_rankings([[0, 1], [1, 2]]), r"rankings row 1 must be a permutation"),
    (lambda: Profile.from_rankings([0, 1]), "2-d"),
    (lambda: Profile.from_rankings(np.zeros((0, 3), dtype=int)), "empty"),
    (lambda: Profile.from_levels([[0, 1]], weights=[-1.0]), r"weights must be >= 0.*position 0"),
    (lambda: Profile.from_levels([[0, 1], [1, 0]], weights=[1.0, np.nan]),
     "finite.*position 1"),
    (lambda: Profile.from_levels([[0, 1]], weights=[0.0]), "all zero"),
    (lambda: Profile.from_levels([[0, 1]], weights=[1.0, 1.0]), r"shape \(1,\)"),
    (lambda: Profile.from_levels([[0, 1]], labels=["a"]), "labels must name each of the 2"),
    (lambda: Profile.from_levels([[0.5, 1]]), "integers.*row 0, column 0"),
    (lambda: Profile.from_scores([[np.inf, 1.0]]), "finite or NaN.*row 0, column 0"),
    (lambda: Profile.from_levels(np.zeros((2, 0), dtype=int)), "at least one response"),
])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


# ----------------------------------------------------------------------------- PrefLib
@pytest.mark.skipif(not PREFLIB_FILES, reason="../shared/data/preflib not present")
@pytest.mark.parametrize("path", PREFLIB_FILES, ids=lambda p: p.name)
def test_preflib_round_trip_is_byte_exact(path, tmp_path):
    P = ualign.read_preflib(path)
    out = ualign.write_preflib(P, tmp_path / path.name)
    assert out.read_bytes() == path.read_bytes()
    assert ualign.read_preflib(out) == P


@pytest.mark.skipif(not PREFLIB_FILES, reason="../shared/data/preflib not present")
def test_preflib_soi_unranked_sit_at_the_bottom():
    P = ualign.read_preflib(DATA / "preflib/00001-irish/00001-00000001.soi")
    toc = ualign.read_preflib(DATA / "preflib/00001-irish/00001-00000001.toc")
    assert P.n_voters == toc.n_voters == 43942
    assert P.labels == toc.labels
    # the .toc is the .soi with the unranked at the bottom: same population of weak orders
    assert set(map(bytes, P.levels)) == set(map(bytes, toc.levels))
    for y in range(12):
        pi = np.eye(12)[y]
        assert ualign.win_rate(P, pi, 1, (y + 1) % 12) == pytest.approx(
            ualign.win_rate(toc, pi, 1, (y + 1) % 12), abs=1e-12)


def test_preflib_written_from_scratch(tmp_path):
    P = Profile.from_levels([[0, 1, 1], [2, 0, 1]], weights=[3, 1], n_voters=4,
                            labels=["x", "y", "z"])
    path = ualign.write_preflib(P, tmp_path / "a.toc")
    text = path.read_text()
    assert "3: 1,{2,3}\n" in text and "1: 2,3,1\n" in text
    assert "# ALTERNATIVE NAME 3: z" in text
    assert ualign.read_preflib(path) == Profile.from_levels(
        [[0, 1, 1], [2, 0, 1]], weights=[3, 1], labels=["x", "y", "z"], n_ranked=[3, 3])
    with pytest.raises(ValueError, match="ties"):
        ualign.write_preflib(P, tmp_path / "a.soc")
    with pytest.raises(ValueError, match="n_voters"):
        ualign.write_preflib(Profile.from_rankings([[0, 1]]), tmp_path / "b.soc")
    assert not (tmp_path / "a.soc").exists()


HEADER = "# DATA TYPE: {t}\n# NUMBER ALTERNATIVES: 3\n"


@pytest.mark.parametrize("dtype,body,msg", [
    ("soc", "2: 1,2,3\n1: 1,2\n", r":4: a \.soc order must rank all 3"),
    ("soc", "2: 1,{2,3}\n", r":3: ties are not allowed"),
    ("soi", "x: 1,2\n", r":3: count must be a positive integer"),
    ("soi", "1: 1,4\n", r":3: alternative 4 is outside 1\.\.3"),
    ("soi", "1: 1,1\n", r":3: alternative 1 appears twice"),
    ("toi", "1: 1,{2,3\n", r":3: unclosed"),
    ("toi", "1 1,2\n", r":3: expected 'count: order'"),
    ("toi", "1: 1,,2\n", r":3: expected an alternative number"),
    ("toi", "", "no data lines"),
])
def test_preflib_malformed_lines_name_the_line(tmp_path, dtype, body, msg):
    f = tmp_path / f"bad.{dtype}"
    f.write_text(HEADER.format(t=dtype) + body)
    with pytest.raises(ValueError, match=msg):
        ualign.read_preflib(f)


def test_preflib_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        ualign.read_preflib(tmp_path / "nope.soc")


def _pairwise_brute(levels, weights):
    U, n = levels.shape
    P = np.zeros((n, n))
    for u in range(U):
        for y in range(n):
            for z in range(n):
                if levels[u, y] < levels[u, z]:
                    P[y, z] += weights[u]
    return P


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("U,n,c", [(1, 1, 1), (5, 3, 2), (40, 7, 3), (23, 33, 40), (9, 70, 5),
                                   (300, 12, 12)])
def test_pairwise_preferences_equal_brute_force(seed, U, n, c):
    """The compiled kernel (serial and parallel builds) against a plain loop, with ties."""
    rng = np.random.default_rng(seed)
    P = Profile.from_levels(rng.integers(0, c, (U, n)), rng.random(U) + 1e-3)
    ref = _pairwise_brute(P.levels, P.weights)
    np.testing.assert_allclose(P.pairwise_preferences(), ref, rtol=0, atol=1e-12)
    from ualign.core import _kernels
    for kernel in (_kernels.pairwise_kernel, _kernels.pairwise_kernel_serial):
        np.testing.assert_allclose(kernel(P.levels, P.weights), ref, rtol=0, atol=1e-12)
    # P + Pᵀ + ties = 1 off the diagonal; the diagonal is 0
    assert np.all(np.diag(P.pairwise_preferences()) == 0.0)


def test_pairwise_kernel_reads_int32_levels():
    """Profiles with n >= 2^15 store int32 levels; the kernel gives the same answer on them."""
    from ualign.core import _kernels
    rng = np.random.default_rng(1)
    lv = rng.integers(0, 4, (30, 20))
    w = rng.random(30)
    ref = _pairwise_brute(lv, w)
    for dtype in (np.int16, np.int32):
        np.testing.assert_allclose(_kernels.pairwise_kernel_serial(lv.astype(dtype), w), ref,
                                   rtol=0, atol=1e-12)


def test_construction_by_row_chunks_is_unchunked(monkeypatch):
    """Chunks of one row give the same profile (levels, merges, errors) as one chunk."""
    from ualign.core import profile as profile_mod
    rng = np.random.default_rng(3)
    lv = rng.integers(-5, 5, (40, 6))
    lv[7] = lv[3]
    scores = rng.random((40, 6))
    scores[2, 1] = np.nan
    ranks = np.argsort(rng.random((40, 6)), axis=1)
    whole = [Profile.from_levels(lv), Profile.from_scores(scores), Profile.from_rankings(ranks)]
    monkeypatch.setattr(profile_mod, "CHUNK_ENTRIES", 1)
    chunked = [Profile.from_levels(lv), Profile.from_scores(scores), Profile.from_rankings(ranks)]
    for a, b in zip(whole, chunked, strict=True):
        assert a == b and a.levels.dtype == b.levels.dtype == np.int16
    bad = lv.astype(float)
    bad[31, 4] = 0.5
    with pytest.raises(ValueError, match="row 31, column 4"):
        Profile.from_levels(bad)
    ranks[33, :2] = ranks[33, 1::-1].copy()
    ranks[33, 0] = ranks[33, 1]
    with pytest.raises(ValueError, match="rankings row 33"):
        Profile.from_rankings(ranks)


def _merged_by_unique(lv, w, groups=None):
    """Oracle for merging: np.unique over whole rows (with the group), first-occurrence order;
    returns the kept row indices and the summed weights."""
    key = lv if groups is None else np.concatenate([lv, groups[:, None]], axis=1)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    weights = np.bincount(rank[inv.ravel()], weights=w)
    return first[order], weights / weights.sum()


@pytest.mark.parametrize("hashing", ["real", "constant", "coarse"])
def test_merge_never_joins_unequal_rows_whose_hashes_collide(monkeypatch, hashing):
    """Item 19: rows are merged by a 64-bit hash checked by true equality. With every hash
    equal, or hashes that collide often, the merge still equals np.unique over whole rows."""
    from ualign.core import profile as profile_mod
    real = profile_mod._row_hashes
    if hashing == "constant":
        monkeypatch.setattr(profile_mod, "_row_hashes",
                            lambda lv, extra: np.zeros(lv.shape[0], dtype=np.uint64))
    elif hashing == "coarse":
        monkeypatch.setattr(profile_mod, "_row_hashes",
                            lambda lv, extra: real(lv, extra) % np.uint64(3))
    rng = np.random.default_rng(5)
    lv = rng.integers(0, 3, (300, 4))          # 81 possible rows: many repeats
    w = rng.random(300)
    groups = rng.integers(0, 2, 300)
    P = Profile.from_levels(lv, w, groups=groups)
    dense = profile_mod._dense_levels(lv)
    keep, want_w = _merged_by_unique(dense, w, groups)
    np.testing.assert_array_equal(P.levels, dense[keep])
    np.testing.assert_array_equal(P.groups, groups[keep])
    np.testing.assert_allclose(P.weights, want_w, rtol=0, atol=1e-15)
    ranks = np.argsort(rng.random((200, 5)), axis=1)[rng.integers(0, 30, 200)]
    Q = Profile.from_rankings(ranks)
    keep, want_w = _merged_by_unique(ranks, np.ones(200))
    np.testing.assert_array_equal(Q.levels, np.argsort(ranks[keep], axis=1))
    np.testing.assert_allclose(Q.weights, want_w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("repeat", [1, 3])
def test_from_rankings_builds_without_a_second_copy(monkeypatch, repeat):
    """Item 19: building from strict rankings allocates the int16 levels once (no densified
    copy, no sorted copy for merging): peak traced memory <= 1.6x the levels, with and without
    duplicate rows (compacted in place)."""
    import tracemalloc

    from ualign.core import profile as profile_mod
    monkeypatch.setattr(profile_mod, "CHUNK_ENTRIES", 1 << 14)
    rng = np.random.default_rng(0)
    U, n = 12_000, 300
    ranks = np.argsort(rng.random((U // repeat, n)), axis=1).astype(np.int16)
    ranks = np.repeat(ranks, repeat, axis=0)[rng.permutation(U)]
    tracemalloc.start()
    P = Profile.from_rankings(ranks)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert P.n_users == U // repeat
    assert peak <= 1.6 * U * n * 2, peak / (U * n * 2)


def test_profile_does_not_freeze_or_keep_the_callers_levels():
    """The profile copies a caller's array even when it is already dense int16."""
    lv = np.array([[0, 1, 2], [0, 1, 2], [2, 1, 0]], dtype=np.int16)
    P = Profile.from_levels(lv)
    assert lv.flags.writeable and not np.shares_memory(P.levels, lv)
    np.testing.assert_array_equal(lv, [[0, 1, 2], [0, 1, 2], [2, 1, 0]])
    with pytest.raises(ValueError):
        P.levels[0, 0] = 1


def test_group_names_as_a_0d_array_is_a_value_error():
    """Found by benchmarks/fuzz_api.py: a 0-d array as group_names raised TypeError."""
    with pytest.raises(ValueError, match="group_names must be a sequence"):
        Profile.from_levels([[0, 1], [1, 0]], group_names=np.array(1.0))


def test_labels_as_a_0d_array_is_a_value_error():
    """Found by benchmarks/fuzz_api.py (seed 0, case 3564): 0-d array labels raised TypeError."""
    with pytest.raises(ValueError, match="labels must be a sequence"):
        Profile.from_levels([[0, 1], [1, 0]], labels=np.array("ab"))


def test_more_than_32770_responses():
    """Found by a re-check of item 19: the row hash's fixed table of 2^15 + 2 coefficients
    made every profile with n > 32,770 fail with a broadcast error."""
    rng = np.random.default_rng(3)
    n = 100_000
    r = np.argsort(rng.random((3, n)), axis=1)
    P = Profile.from_rankings(np.vstack([r, r[:1]]))          # row 3 equals row 0
    assert P.shape == (3, n)
    np.testing.assert_allclose(np.sort(P.weights), [0.25, 0.25, 0.5])
    levels = np.tile(np.arange(32_771), (2, 1))
    levels[1, [0, 1]] = levels[1, [1, 0]]                    # unequal rows stay apart
    assert Profile.from_levels(levels).shape == (2, 32_771)
