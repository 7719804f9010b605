"""Issue 12, items 1-9: wrong answers, crashes, hangs and unnamed errors in the library API.

Each test names the item it holds. Bad input must raise ``ValueError`` naming the argument.
"""

import warnings

import numpy as np
import pytest

import ualign
from ualign import Profile, robust_win_rate, solve_ualign
from ualign.core.checks import check_user_weights, check_weights


# ---------------------------------------------------------------- item 1: huge / tiny weights
def test_item1_huge_weights_normalise_safely():
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[1e308, 1e308])
    np.testing.assert_allclose(P.weights, [0.5, 0.5])
    assert robust_win_rate(P, [1 / 3] * 3, 1).value < 1.0
    res = solve_ualign(P, 2)
    assert res.exploitability >= -1e-12
    merged = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 1, 0]],
                                   weights=[1e308, 1e308, 1e308])
    np.testing.assert_allclose(merged.weights, [2 / 3, 1 / 3])
    tiny = Profile.from_rankings([[0, 1], [1, 0]], weights=[5e-324, 5e-324])
    np.testing.assert_allclose(tiny.weights, [0.5, 0.5])


@pytest.mark.parametrize("check", [check_weights, check_user_weights])
def test_item1_weight_checks(check):
    np.testing.assert_allclose(check([1e308, 1e308, 1e308], 3), [1 / 3] * 3)
    np.testing.assert_allclose(check([5e-324, 0.0], 2), [1.0, 0.0])
    for bad in ([np.inf, 1.0], [np.nan, 1.0], [0.0, 0.0], [-1.0, 2.0]):
        with pytest.raises(ValueError, match="weights"):
            check(bad, 2)


# ---------------------------------------------------------------- item 2: large ell / k
@pytest.mark.parametrize("ell", [1029, 1030, 2000, 5000])
def test_item2_set_win_rate_large_ell_matches_win_rate(ell):
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2], [0, 2, 1]],
                              weights=[0.4, 0.3, 0.2, 0.1])
    rho = np.array([0.5, 0.3, 0.2])
    for y in range(3):
        e = np.eye(3)[y]
        got = ualign.set_win_rate(P, [[y]], [1.0], rho, ell=ell)
        want = ualign.win_rate(P, e, 1, rho, ell=ell)
        assert np.isfinite(got)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300)
    # the same sets (entries tied at the top) against the closed form via win_rate with k copies
    got = ualign.set_win_rate(P, [[0, 0]], [1.0], rho, ell=ell)
    want = ualign.win_rate(P, np.eye(3)[0], 2, rho, ell=ell)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-300)


def test_item2_worst_opponent_large_k_is_finite():
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]])
    pi = np.array([0.3, 0.3, 0.4])
    w = ualign.worst_opponent(P, pi, 1100, 2)
    assert np.isfinite(w.value) and w.lower_bound <= w.value + 1e-12
    # brute force: every 2-multiset, by the Gauss-Legendre win_rate (k samples vs a point set)
    vals = {}
    for a in range(3):
        for b in range(a, 3):
            vals[(a, b)] = 1.0 - ualign.set_win_rate(P, [[a, b]], [1.0], pi, ell=1100)
    assert w.value == pytest.approx(min(vals.values()), abs=1e-12)


def test_item2_set_shares_memory_is_chunked(monkeypatch):
    from ualign.core import sets as sets_mod
    seen = []
    real = sets_mod.best_copies

    def spy(levels, sets, display="multiset"):
        seen.append(len(sets))
        return real(levels, sets, display)

    monkeypatch.setattr(sets_mod, "best_copies", spy)
    rng = np.random.default_rng(0)
    P = Profile.from_rankings(np.argsort(rng.random((1000, 6)), axis=1))
    sets = np.repeat(np.arange(6)[:, None], 64, axis=1)
    sets = np.concatenate([sets] * 100)  # 600 sets
    sets_mod.set_shares(P.levels, P.weights, sets, np.full(6, 1 / 6), 64)
    U = P.n_users
    assert max(seen) * U * 65 * 8 <= sets_mod.BLOCK_BYTES


# ---------------------------------------------------------------- item 3: NLHF, small tau
ISSUE3_ROWS = [[0, 2, 1], [2, 0, 1], [1, 0, 2], [2, 1, 0], [0, 2, 1], [1, 0, 2], [0, 2, 1],
               [0, 2, 1]]


@pytest.mark.parametrize("tau", [1e-2, 1e-3, 1e-4])
def test_item3_nlhf_small_tau_converges_and_bound_holds(tau):
    P = Profile.from_rankings(ISSUE3_ROWS)
    M = P.margins()
    assert M[0, 1] > 0 and M[0, 2] > 0  # response 0 beats both others head to head
    r = ualign.solve_nlhf(P, tau=tau)
    d = r.diagnostics
    assert r.converged and d.residual <= 1e-9
    assert r.policy[0] > 0.99
    assert d.kl_bound is not None and r.exploitability <= d.kl_bound
    # the fixed point, checked independently: π = softmax(log μ + P(· ≻ π)/τ)
    L = 0.5 + 0.5 * M @ r.policy
    z = L / tau
    target = np.exp(z - z.max())
    np.testing.assert_allclose(r.policy, target / target.sum(), atol=1e-9)


def test_item3_nlhf_unconverged_reports_no_bound():
    P = Profile.from_rankings(ISSUE3_ROWS)
    r = ualign.solve_nlhf(P, tau=1e-3, tol=1e-300)  # a tolerance no float residual meets
    assert not r.converged
    assert r.diagnostics.kl_bound is None or r.exploitability <= r.diagnostics.kl_bound


def _small_preflib_files(max_users=400):
    import glob
    import os
    root = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "preflib")
    out = []
    for f in sorted(glob.glob(os.path.join(root, "*", "*.*"))):
        if f.rsplit(".", 1)[-1] in ("soc", "soi", "toc", "toi") and os.path.getsize(f) < 20000:
            out.append(f)
    return out


def test_item3_nlhf_small_tau_on_preflib():
    files = _small_preflib_files()
    if not files:
        pytest.skip("no PrefLib files in ../shared/data/preflib")
    for f in files:
        P = ualign.read_preflib(f)
        r = ualign.solve_nlhf(P, tau=1e-3)
        assert r.converged, f
        assert r.exploitability <= r.diagnostics.kl_bound, f


# ---------------------------------------------------------------- item 4: bounded k, ell, levels
def test_item4_k_and_ell_are_bounded():
    from ualign.core.checks import MAX_SAMPLES
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]])
    pi = np.array([0.2, 0.3, 0.5])
    for k in (2**63 - 1, 2**62, MAX_SAMPLES + 1):
        with pytest.raises(ValueError, match="k must be an integer in"):
            ualign.deviation_payoffs(P, pi, k)
        with pytest.raises(ValueError, match="k must be"):
            ualign.solve_ualign(P, k)
        with pytest.raises(ValueError, match="ell must be"):
            ualign.win_rate(P, pi, 1, pi, ell=k)
        with pytest.raises(ValueError, match="ell must be"):
            ualign.set_win_rate(P, [[0]], [1.0], pi, ell=k)
    L = ualign.deviation_payoffs(P, pi, MAX_SAMPLES)
    assert np.all((L >= 0) & (L <= 1))
    # iteration counts are not sample counts: no such bound
    r = ualign.solve_ualign(P, 2, method="hedge", max_iter=MAX_SAMPLES + 1, tol=1.0)
    assert r.converged


@pytest.mark.parametrize("levels", [
    np.array([[0, 2**63]], dtype=np.uint64),
    np.array([[0, 2**62]], dtype=np.int64),
    np.array([[0, -2**62]], dtype=np.int64),
    np.array([[0.0, 1e300]]),
    np.array([[0.0, -1e300]]),
])
def test_item4_huge_levels_rejected_before_cast(levels):
    with pytest.raises(ValueError, match="levels must be integers in"):
        Profile.from_levels(levels)


def test_item4_large_levels_keep_order():
    P = Profile.from_levels(np.array([[2**62 - 1, 0], [0, -(2**62 - 1)]]))
    np.testing.assert_array_equal(P.levels, [[1, 0], [1, 0]][:P.n_users])


# ---------------------------------------------------------------- item 5: silent acceptances
P3 = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]])


@pytest.mark.parametrize("policy", ["abc", np.array([1, 0, 0], dtype=complex),
                                    [True, False, False], np.array(["1", "0", "0"])])
def test_item5_non_real_policies_rejected(policy):
    with pytest.raises(ValueError, match="policy"):
        ualign.deviation_payoffs(P3, policy, 1)
    with pytest.raises(ValueError, match="policy"):
        ualign.robust_win_rate(P3, policy, 2)
    with pytest.raises(ValueError, match="opponent"):
        ualign.win_rate(P3, [1, 0, 0], 1, policy)


def test_item5_profile_fields():
    R = [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="labels"):
        Profile.from_rankings(R, labels="ab")
    with pytest.raises(ValueError, match="n_ranked"):
        Profile.from_rankings(R, n_ranked=[1.5, 2])
    for bad in (np.nan, -3, np.inf, 0, "x"):
        with pytest.raises(ValueError, match="n_voters"):
            Profile.from_rankings(R, n_voters=bad)
    assert Profile.from_rankings(R, labels=("a", "b"), n_ranked=[2.0, 2],
                                 n_voters=7).n_voters == 7.0
    for bad in ([-1], [3], [0.5], [], "0"):
        with pytest.raises(ValueError, match="responses"):
            P3.restrict(bad)
    assert P3.restrict([2, 0]).n_responses == 2
    for bad in (99, -1, 1.5, "0"):
        with pytest.raises(ValueError, match="y"):
            P3.label(bad)
    assert P3.label(1) == "1"


def test_item5_kset_tolerance():
    for bad in (np.inf, np.nan, -1.0, 1.0):
        with pytest.raises(ValueError, match="tol"):
            ualign.solve_kset(P3, 2, tol=bad)
    r = ualign.solve_kset(P3, 2, tol=0.5)
    assert r.value >= 2 / 3 - 0.5


def test_item5_nan_tolerances_and_time_limits():
    for kwargs in ({"tol": np.nan}, {"tol": -1.0}, {"tol": "x"}):
        with pytest.raises(ValueError, match="tol"):
            ualign.solve_nlhf(P3, 0.1, **kwargs)
        with pytest.raises(ValueError, match="tol"):
            ualign.solve_ualign(P3, 2, **kwargs)
    for bad in (np.nan, -1.0, np.inf):
        with pytest.raises(ValueError, match="time_limit"):
            ualign.solve_ualign(P3, 2, method="hedge", time_limit=bad)


# ---------------------------------------------------------------- items 6-7: crashes and hangs
@pytest.mark.parametrize("max_rounds", [1, 2, 3])
def test_item6_kset_stops_at_max_rounds_consistently(max_rounds):
    rng = np.random.default_rng(1)
    P = Profile.from_rankings(np.argsort(rng.random((30, 6)), axis=1))
    full = ualign.solve_kset(P, 3)
    r = ualign.solve_kset(P, 3, max_rounds=max_rounds)
    assert r.iterations <= max_rounds
    assert r.sets.shape[0] == r.probs.shape[0]
    assert np.isclose(r.probs.sum(), 1.0)
    assert r.value <= full.value + 1e-9 <= r.upper_bound + 2e-9
    if not r.converged:
        assert r.iterations == max_rounds


def test_item6_zero_rounds_and_iterations_rejected():
    from ualign.solvers.rlhf import bradley_terry
    for bad in (0, -1, 1.5, np.nan, None, "3"):
        with pytest.raises(ValueError, match="max_iter"):
            bradley_terry(np.ones((3, 3)), max_iter=bad)
    # max_rounds=None is solve_kset's documented default (500 rounds for multiset display)
    for bad in (0, -1, 1.5, np.nan, "3"):
        with pytest.raises(ValueError, match="max_rounds"):
            ualign.solve_kset(P3, 2, max_rounds=bad)
    for bad in (-1, 1.5, np.nan, "3"):
        with pytest.raises(ValueError, match="max_enumerate"):
            ualign.solve_kset(P3, 2, max_enumerate=bad)
        with pytest.raises(ValueError, match="max_enumerate"):
            ualign.worst_opponent(P3, [0.2, 0.3, 0.5], 2, 2, max_enumerate=bad)
    for bad in (np.nan, -1.0, np.inf):
        with pytest.raises(ValueError, match="ridge"):
            bradley_terry(np.ones((3, 3)), ridge=bad)
        with pytest.raises(ValueError, match="tol"):
            bradley_terry(np.ones((3, 3)), tol=bad)
    for bad in (np.ones(3), np.ones((2, 3)), [[1, np.nan], [0, 1]], [[1, -1], [0, 1]]):
        with pytest.raises(ValueError, match="wins"):
            bradley_terry(bad)


def test_item7_nlhf_eta_validated():
    for bad in (-1.0, 0.0, np.nan, np.inf, "x"):
        with pytest.raises(ValueError, match="eta"):
            ualign.solve_nlhf(P3, tau=0.1, eta=bad)
    # a huge (finite) step does not poison the answer: the result is still a fixed point
    r = ualign.solve_nlhf(P3, tau=0.1, eta=1e300)
    assert r.converged and np.all(np.isfinite(r.policy))


# ---------------------------------------------------------------- item 8: sizes checked first
@pytest.fixture
def small_memory(monkeypatch):
    """A 1 GiB allowance, so the checks fire the same way on any machine."""
    from ualign.core import checks
    monkeypatch.setattr(checks, "MAX_BYTES", 2**30)


def test_item8_check_size():
    from ualign.core.checks import check_size, memory_limit
    assert memory_limit() > 0
    check_size(1024, "a kilobyte")
    with pytest.raises(ValueError, match="a petabyte would need"):
        check_size(2**50, "a petabyte")


def test_item8_api_sizes(small_memory):
    P = P3
    u = [0.2, 0.3, 0.5]
    with pytest.raises(ValueError, match="ell"):
        ualign.worst_opponent(P, u, 2, 10**9)
    with pytest.raises(ValueError, match="ell"):
        ualign.win_rate(P, u, 2, u, ell=100000)
    with pytest.raises(ValueError, match="k must be"):
        ualign.solve_kset(P, 10**6)
    with pytest.raises(ValueError, match="k must be"):
        ualign.solve_ualign(P, 10**9)
    big = Profile.from_rankings(np.tile(np.arange(40), (1, 1)))
    with pytest.raises(ValueError, match="max_enumerate"):  # C(40+99, 100) sets is too many
        ualign.worst_opponent(big, np.full(40, 1 / 40), 2, 12, max_enumerate=10**18)
    with pytest.raises(ValueError, match="max_enumerate"):
        ualign.solve_kset(big, 12, max_enumerate=10**18)
    wide = Profile.from_rankings(np.argsort(np.random.default_rng(0).random((500, 50)), axis=1))
    with pytest.raises(ValueError, match="copy counts"):
        ualign.win_rate(wide, np.full(50, 0.02), 2, np.full(50, 0.02), ell=10000,
                        display="distinct")


def test_item8_preflib_header_size(tmp_path, small_memory):
    f = tmp_path / "huge.soi"
    f.write_text("# ALTERNATIVE NAME 1000000000: x\n1: 1\n")
    with pytest.raises(ValueError, match="alternatives"):
        ualign.read_preflib(f)
    g = tmp_path / "huge2.soi"
    g.write_text("# NUMBER ALTERNATIVES: 1000000000\n1: 1\n")
    with pytest.raises(ValueError, match="alternatives"):
        ualign.read_preflib(g)


@pytest.mark.parametrize("spec", ["mallows:n=1000000000,phi=0.5", "condorcet:n=100000000",
                                  "ideal:n=1000,users=1000,dim=100000000",
                                  "impartial:n=100000,users=100000", "pl:n=1000000000",
                                  "mallows:n=100000,phi=0.5,groups=3,users=100000"])
def test_item8_generator_sizes(spec, small_memory):
    with pytest.raises(ValueError, match="would need"):
        ualign.load_profile(spec)


# ---------------------------------------------------------------- item 9: wrong-type arguments
BAD_VALUES = [None, "x", 1 + 2j, True, [], {}, np.nan, -1, 2**70]
DATA = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _fuzz_calls():
    """``name -> (function, positional args, keyword args)``: a valid call of every public
    function in ``ualign.__all__`` and of every registered solver method."""
    import dataclasses

    from ualign.solvers import registry
    P = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]], labels=["a", "b", "c"],
                              n_voters=3)
    pi = np.array([0.2, 0.3, 0.5])
    calls = {
        "Profile": (Profile, [np.array([[0, 1], [1, 0]]), [0.5, 0.5]],
                    {"labels": None, "groups": None, "group_names": None, "n_ranked": None,
                     "n_voters": None, "meta": {}}),
        "Profile.from_rankings": (Profile.from_rankings, [[[0, 1, 2], [2, 1, 0]], [1, 1]], {}),
        "Profile.from_levels": (Profile.from_levels, [[[0, 1, 1], [2, 1, 0]], [1, 1]], {}),
        "Profile.from_scores": (Profile.from_scores, [[[0.1, 1, 2], [2, 1, 0]], [1, 1]], {}),
        "Profile.restrict": (P.restrict, [[0, 1]], {}),
        "Profile.label": (P.label, [1], {}),
        "deviation_payoffs": (ualign.deviation_payoffs, [P, pi, 2], {"display": "multiset"}),
        "exploitability": (ualign.exploitability, [P, pi, 2], {"display": "multiset"}),
        "robust_win_rate": (ualign.robust_win_rate, [P, pi, 2], {"display": "multiset"}),
        "set_win_rate": (ualign.set_win_rate, [P, [[0, 1]], [1.0], pi],
                         {"ell": 2, "display": "multiset"}),
        "win_rate": (ualign.win_rate, [P, pi, 2, pi], {"ell": 2, "display": "multiset"}),
        "write_preflib": (ualign.write_preflib, [P, "out.soc"],
                          {"data_type": None, "n_voters": None}),
        "load_profile": (ualign.load_profile, ["mallows:n=4,phi=0.5,users=20"], {}),
        "solve_kset": (ualign.solve_kset, [P, 2],
                       {"max_enumerate": 50000, "tol": 1e-10, "max_rounds": 500}),
        "solve_nlhf": (ualign.solve_nlhf, [P, 0.1, None],
                       {"tol": 1e-9, "max_iter": None, "eta": None, "progress": False}),
        "solve_rlhf": (ualign.solve_rlhf, [P, None, None], {"ridge": 1e-8}),
        "solve_ualign": (ualign.solve_ualign, [P, 2, "auto", 1e-9, None, None],
                         {"progress": False}),
        "worst_opponent": (ualign.worst_opponent, [P, pi, 2, 2], {"max_enumerate": 50000}),
        # added after a re-check found fit_noise(grid=1+2j) raising an unnamed TypeError
        "posterior": (ualign.posterior, [P, [0.0, 1.0, np.nan], 0.1],
                      {"group": None, "held_out": None}),
        "posterior_weights": (ualign.posterior_weights, [P, [[0.0, 1.0, np.nan]], 0.1],
                              {"group": None}),
        "fit_noise": (ualign.fit_noise, [P, [[0.0, 1.0, np.nan], [2.0, 1.0, 0.0]]],
                      {"grid": [0.05, 0.2]}),
    }
    pref = DATA / "preflib" / "00024-dots" / "00024-00000001.soc"
    if pref.is_file():
        calls["read_preflib"] = (ualign.read_preflib, [str(pref)], {})
    polis = DATA / "polis" / "15-per-hour-seattle"
    if polis.is_dir():
        calls["read_polis"] = (ualign.read_polis, [str(polis)],
                               {"min_votes": 7, "unseen": "pass", "min_statement_votes": 0,
                                "max_statements": None})
    for m in registry.methods():
        opts = {f.name: f.default for f in dataclasses.fields(m.options)}
        for cap in ("max_iter", "max_rounds"):
            if cap in opts:
                opts[cap] = 50
        calls[f"registry:{m.name}"] = (m.solve, [P, 2], opts)
    return calls


def test_item9_fuzz_only_value_errors(tmp_path, monkeypatch):
    """Every public function and registered method, each argument replaced in turn by each
    value of BAD_VALUES: the call succeeds or raises ValueError (a str path that names no file
    may raise FileNotFoundError / NotADirectoryError, as open() does)."""
    import contextlib
    import io
    monkeypatch.chdir(tmp_path)
    calls = _fuzz_calls()
    assert {"deviation_payoffs", "solve_ualign", "registry:kset"} <= set(calls)
    escaped = []
    for name, (fn, args, kwargs) in calls.items():
        fn(*args, **kwargs)  # the valid call works
        trials = [(f"arg{i}", b, [*args[:i], b, *args[i + 1:]], kwargs)
                  for i in range(len(args)) for b in BAD_VALUES]
        trials += [(kw, b, args, {**kwargs, kw: b}) for kw in kwargs for b in BAD_VALUES]
        for where, bad, a, kw in trials:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    fn(*a, **kw)
            except ValueError:
                pass
            except (FileNotFoundError, NotADirectoryError):
                if not isinstance(bad, str):
                    escaped.append((name, where, bad, "OSError"))
            except Exception as e:  # the point of the test: nothing else escapes
                escaped.append((name, where, bad, f"{type(e).__name__}: {e}"))
    assert not escaped, escaped


def test_item7_tiny_reference_entries_do_not_hang():
    """Found by a re-check: a reference entry below the smallest normal float (1e-320) made
    the Newton polish pass inf to LAPACK, which looped forever."""
    for bad in (1e-320, 1e-308, 5e-324):
        with pytest.raises(ValueError, match="reference entries must be at least"):
            ualign.solve_nlhf(P3, tau=0.1, reference=[bad, 0.5, 0.5])
    # just above: π underflows inside Newton; the polish stops instead of looping
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the guarded Jacobian
        r = ualign.solve_nlhf(P3, tau=1e-3, reference=[2.3e-308, 0.5, 0.5])
    assert np.all(np.isfinite(r.policy)) and r.policy.sum() == pytest.approx(1.0)


def test_item7_eta_checked_at_tau_zero():
    for bad in (-1.0, np.nan):
        with pytest.raises(ValueError, match="eta"):
            ualign.solve_nlhf(P3, tau=0.0, eta=bad)

