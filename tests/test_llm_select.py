"""U-aligned selection, baselines and held-out evaluation (no language model needed)."""

import itertools
import math

import numpy as np
import pytest

from ualign import Profile
from ualign.data.generators import random_profile
from ualign.llm import EmbeddingPopulation, HashingEmbedder
from ualign.llm.experiment import SelectConfig, SelectionRecord, run_prompt, summarise
from ualign.llm.select import (
    Selection,
    embedding_diversity,
    evaluate,
    personalised_win_rates,
    select,
)

try:
    from ualign.solvers import solve_ualign  # noqa: F401
    HAVE_UALIGN = True
except ImportError:
    HAVE_UALIGN = False
needs_ualign = pytest.mark.skipif(not HAVE_UALIGN, reason="ualign.solvers.solve_ualign not in "
                                  "this checkout yet")


def test_best_of_n_and_sampling():
    S = np.array([[3.0, 1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    P = Profile.from_scores(S, [0.75, 0.25])
    s = select(P, 2, "best-of-n", scores=S)
    # mean utilities 2.25, 1.0, 2.0, 0.75 -> responses 0 and 2
    assert s.shown.tolist() == [0, 2] and s.sets.tolist() == [[0, 2]]
    assert select(P, 3, "sampling").shown.tolist() == [0, 1, 2]
    # identical rows merge in the Profile; explicit weights keep best-of-n on the population
    S2 = np.array([[0.0, 1.2], [0.0, 1.2], [2.0, 0.0]])
    P2 = Profile.from_scores(S2, [0.2, 0.2, 0.6])
    assert P2.n_users == 2
    assert select(P2, 1, "best-of-n", scores=S2, weights=[0.2, 0.2, 0.6]).shown.tolist() == [0]
    assert select(P2, 1, "best-of-n", scores=S2).shown.tolist() == [1]  # uniform fallback
    with pytest.raises(ValueError, match="k=5 is larger than the N=4"):
        select(P, 5, "best-of-n", scores=S)
    with pytest.raises(ValueError, match="k=5 is larger than the N=4"):
        select(P, 5, "sampling")
    with pytest.raises(ValueError, match="method"):
        select(P, 1, "greedy")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        select(P, 0, "sampling")


def test_nlhf_picks_condorcet_winner():
    S = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [3.0, 1.0, 2.0]])
    P = Profile.from_scores(S)
    s = select(P, 4, "nlhf", seed=0)
    assert s.shown.tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(s.policy, [1, 0, 0], atol=1e-8)


def test_evaluate_hand_values():
    P = Profile.from_scores([[3.0, 2.0, 1.0, 0.0]])  # one user, 0 is best
    dirac = Selection("nlhf", 3, shown=np.zeros(3, np.int64), policy=np.array([1.0, 0, 0, 0]))
    r = evaluate(P, dirac)
    # against y' = 0: 3 of the 4 copies of the favourite are ours (THEORY §2)
    assert r["robust"] == pytest.approx(0.75) and r["worst"] == 0
    assert r["robust_shown"] == pytest.approx(0.75)
    assert r["mean"] == pytest.approx((0.75 + 3) / 4)
    det = Selection("sampling", 3, shown=np.arange(3), sets=np.arange(3)[None], probs=np.ones(1))
    r = evaluate(P, det, opponents=[0, 3])
    assert r["robust"] == pytest.approx(0.5) and r["mean"] == pytest.approx(0.75)
    r = evaluate(P, det, opponents=[3], groups={"humans": np.array([0, 1])})
    assert r["robust"] == 1.0 and r["robust_humans"] == pytest.approx(0.5)


def test_product_policy_equals_explicit_multiset_distribution():
    P = random_profile(3, 5, 7, n_levels=3)
    pi = np.random.default_rng(0).dirichlet(np.ones(5))
    k = 3
    sets, probs = [], []
    for S in itertools.combinations_with_replacement(range(5), k):
        counts = np.bincount(S, minlength=5)
        coef = math.factorial(k) / np.prod([math.factorial(c) for c in counts])
        sets.append(S)
        probs.append(coef * np.prod(pi[list(S)]))
    a = evaluate(P, Selection("x", k, shown=np.zeros(k, np.int64), policy=pi))
    b = evaluate(P, Selection("x", k, shown=np.zeros(k, np.int64), sets=np.array(sets),
                              probs=np.array(probs)))
    assert a["robust"] == pytest.approx(b["robust"], abs=1e-12)
    assert a["mean"] == pytest.approx(b["mean"], abs=1e-12)


def test_personalised_win_rates_hand_example():
    S = np.array([[1.0, 0.0, 2.0, np.nan],   # user 0 shown col 2: beats 0, 1
                  [0.0, 1.0, 1.0, np.nan]])  # user 1 shown col 1: ties col 2... vs 0 wins
    r = personalised_win_rates(S, [1, 1], [2, 1], opponents=[0, 1])
    # vs 0: (1 + 1)/2 = 1; vs 1: (1 + 0.5)/2 = 0.75
    assert r["robust"] == pytest.approx(0.75) and r["worst"] == 1
    assert r["mean"] == pytest.approx(0.875)
    r = personalised_win_rates(S, [1, 1], [3, 3], opponents=[0])
    assert r["robust"] == 0.0  # unranked (NaN) loses to everything scored


def test_embedding_diversity():
    d = embedding_diversity(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    assert d["distinct"] == 2 and d["cosine_distance"] == pytest.approx(2 / 3)
    assert embedding_diversity(np.ones((1, 3)))["cosine_distance"] == 0.0


def _row(rec, method, k, display="multiset"):
    """The result row of ``method`` at ``k`` under ``display`` (exactly one)."""
    rows = [r for r in rec["results"] if (r["method"], r["k"], r["display"]) ==
            (method, int(k), display)]
    assert len(rows) == 1, rows
    return rows[0]


def _methods(rec):
    return {r["method"] for r in rec["results"]}


class ListGenerator:
    """Returns fixed texts (stands in for a language model in selection tests)."""

    name = "list"

    def __init__(self, texts):
        self.texts = list(texts)
        self.calls = []

    def generate(self, prompt, n, **kw):
        self.calls.append((prompt, n, kw))
        if kw.get("system"):
            return [f"response for {kw['system'].split('.')[1]}"][:n]
        return self.texts[:n]


PERSONAS = ["cats and kittens", "dogs and puppies", "taxes and budgets", "football matches",
            "cats and dogs", "budgets for football", "kittens", "the economy"]
CANDS = ["cats are lovely", "dogs are loyal", "lower taxes now", "football is great",
         "the economy grows", "puppies and kittens", "budgets matter"]


def _run(methods, ks=(1, 2, 3), personalised=False):
    pop = EmbeddingPopulation(PERSONAS, embed=HashingEmbedder(), noise="gumbel",
                              noise_scale=0.05, seed=1)
    cfg = SelectConfig(n=7, ks=ks, methods=methods, personalised=personalised, seed=2)
    gen = ListGenerator(CANDS)
    return run_prompt("write about your interests", gen, pop, cfg,
                      human_texts=["taxes and budgets are good"]), gen


def test_run_prompt_record_baselines_and_personalised():
    rec, gen = _run(("best-of-n", "nlhf", "sampling"), personalised=True)
    assert rec["candidates"] == CANDS and rec["sizes"]["eval_users"] == 4
    assert _methods(rec) == {"best-of-n", "nlhf", "sampling", "personalised"}
    for method in ("best-of-n", "nlhf", "sampling"):
        for k in ("1", "2", "3"):
            r = _row(rec, method, k)
            assert 0.0 <= r["robust"] <= r["mean"] <= 1.0
            assert "robust_humans" in r and 0 <= r["cosine_distance"] <= 2
            assert len(rec["selections"][method][k]["shown"]) == int(k)
    # one personalised generation per evaluation persona
    assert len(rec["personal"]) == 4 and len(gen.calls) == 5
    rows = summarise([rec, rec])
    assert {(r.method, r.k) for r in rows} >= {("nlhf", 2), ("personalised", 1)}
    assert all(r.prompts == 2 for r in rows)


def test_run_prompt_errors():
    pop = EmbeddingPopulation(PERSONAS, embed=HashingEmbedder())
    with pytest.raises(ValueError, match="empty"):
        run_prompt("p", ListGenerator([]), pop, SelectConfig(n=3, ks=(1,), methods=("nlhf",)))
    with pytest.raises(ValueError, match="larger than n=3"):
        SelectConfig(n=3, ks=(4,), methods=("best-of-n",))


@needs_ualign
def test_ualign_selection_reaches_k_over_k_plus_1_on_its_own_users():
    for seed in range(3):
        P = random_profile(seed, 6, 9, n_levels=3)
        for k in (1, 2, 4):
            s = select(P, k, "ualign", seed=seed)
            assert len(s.shown) == k
            r = evaluate(P, s)
            assert r["robust"] >= k / (k + 1) - 1e-6


@needs_ualign
def test_run_prompt_with_ualign():
    rec, _ = _run(("ualign", "nlhf"), ks=(1, 4, 9))
    assert _row(rec, "ualign", 9)["robust"] >= 0.0
    assert len(rec["selections"]["ualign"]["9"]["shown"]) == 9  # k > N: sampled with repeats


def test_ualign_kset_reaches_k_over_k_plus_1_on_its_own_users():
    pytest.importorskip("ualign.solvers")
    from ualign import solvers
    if not hasattr(solvers, "solve_kset"):
        pytest.skip("solve_kset not in this checkout yet")
    P = random_profile(5, 5, 8, n_levels=3)
    for k in (1, 2, 3):
        s = select(P, k, "ualign-kset", seed=0)
        assert len(s.shown) == k and s.sets.shape[1] == k
        assert evaluate(P, s)["robust"] >= k / (k + 1) - 1e-6


# --- distinct display (THEORY §9): merged candidates, k distinct responses shown -------------

from ualign.core import robust_set_win_rate, robust_win_rate  # noqa: E402
from ualign.llm.dedupe import merge_equivalent  # noqa: E402
from ualign.llm.select import (  # noqa: E402
    SELECT_METHODS,
    merge_selection,
    unmerge_selection,
)


def test_select_distinct_shows_min_k_n_distinct_and_evaluates_exactly():
    P = random_profile(4, 5, 7, n_levels=3)
    for method in SELECT_METHODS:
        for k in (1, 2, 3, 5, 7):
            s = select(P, k, method, display="distinct", seed=1)
            assert s.display == "distinct" and s.k == k
            if method == "nlhf":  # its k samples, merged: may show fewer than k
                assert 1 <= len(s.shown) <= min(k, 5)
                want = robust_win_rate(P, s.policy, k, display="distinct").value
            else:
                assert len(s.shown) == min(k, 5)
                want = robust_set_win_rate(P, s.sets, s.probs, display="distinct").value
                assert (s.fewer_than_k is not None) == (k > 5)
            assert len(np.unique(s.shown)) == len(s.shown)  # distinct responses
            r = evaluate(P, s, display="distinct")
            assert r["robust"] == pytest.approx(want, abs=1e-12)
            one = robust_set_win_rate(P, s.shown[None, :], np.ones(1), display="distinct")
            assert r["robust_shown"] == pytest.approx(one.value, abs=1e-12)
    with pytest.raises(ValueError, match="display must be one of"):
        select(P, 2, "ualign", display="copies")
    with pytest.raises(ValueError, match="display must be one of"):
        evaluate(P, select(P, 2, "sampling"), display="foo")


def test_select_distinct_u_aligned_is_the_best_k_subset_policy():
    """ualign-kset shows the best single k-set of distinct responses (against an enumeration of
    all k-subsets, distinct display); ualign's distribution does at least as well."""
    for seed in range(3):
        P = random_profile(seed, 6, 8, n_levels=3)
        for k in (2, 3):
            subsets = np.array(list(itertools.combinations(range(6), k)))
            best = max(robust_set_win_rate(P, S[None, :], np.ones(1), display="distinct").value
                       for S in subsets)
            s = select(P, k, "ualign-kset", display="distinct", seed=0)
            assert len(set(s.shown.tolist())) == k and s.sets.shape == (1, k)
            r = evaluate(P, s, display="distinct")["robust"]
            assert r == pytest.approx(best, abs=1e-9)
            assert s.value == pytest.approx(r, abs=1e-9)
            assert s.upper_bound >= s.value - 1e-9
            sr = select(P, k, "ualign", display="distinct", seed=0)
            rr = evaluate(P, sr, display="distinct")["robust"]
            assert rr >= best - 1e-9  # the best distribution beats the best single set
            assert rr == pytest.approx(sr.value, abs=1e-9)


def test_merge_and_unmerge_selection():
    labels = np.array([0, 1, 0, 2, 1])
    s = Selection("x", 3, shown=np.array([0, 2, 4]), policy=np.array([.1, .2, .3, .4, 0.]),
                  sets=np.array([[0, 2, 4], [1, 3, 4]]), probs=np.array([.5, .5]))
    g = merge_selection(s, labels, 3)
    assert g.shown.tolist() == [0, 0, 1] and g.sets.tolist() == [[0, 0, 1], [1, 2, 1]]
    np.testing.assert_allclose(g.policy, [0.4, 0.2, 0.4])
    u = unmerge_selection(Selection("x", 2, shown=np.array([2, 1]), policy=np.array([.5, 0, .5]),
                                    sets=np.array([[1, 2]]), probs=np.ones(1)),
                          np.array([0, 1, 3]), 5)
    assert u.shown.tolist() == [1, 3] and u.sets.tolist() == [[1, 3]]
    np.testing.assert_allclose(u.policy, [0.5, 0, 0, 0.5, 0])


DUP_CANDS = ["Cats are lovely.", "dogs are loyal", "cats are  LOVELY", "lower taxes now",
             "Dogs are loyal!", "football is great", "the economy grows"]


def _run_distinct(methods, ks, display="distinct", strict=False, cands=DUP_CANDS):
    pop = EmbeddingPopulation(PERSONAS, embed=HashingEmbedder(), noise="gumbel",
                              noise_scale=0.05, seed=1)
    cfg = SelectConfig(n=len(cands), ks=ks, methods=methods, seed=2, display=display,
                       strict=strict)
    rec = run_prompt("write about your interests", ListGenerator(cands), pop, cfg,
                     human_texts=["taxes and budgets are good"], embed=HashingEmbedder())
    return rec, pop, cfg


def test_run_prompt_distinct_merges_and_shows_distinct():
    methods = ("ualign", "ualign-kset", "best-of-n", "nlhf", "sampling")
    rec, pop, cfg = _run_distinct(methods, (1, 2, 4, 6))
    m = rec["merge"]
    assert m["rule"] == "exact" and m["n_merged"] == 2  # two exact repeats after normalise
    assert m["groups"] == [[0, 2], [1, 4], [3], [5], [6]] and rec["sizes"]["distinct"] == 5
    labels = np.empty(7, np.int64)
    for g, members in enumerate(m["groups"]):
        labels[members] = g
    reps = np.array([g[0] for g in m["groups"]])
    # the evaluation users of run_prompt (same seed, same split)
    _, ev = pop.split(cfg.split, seed=np.random.default_rng(cfg.seed))
    P_c = Profile.from_scores(ev.scores([DUP_CANDS[i] for i in reps]), ev.weights)
    for method in methods:
        for k in ("1", "2", "4", "6"):
            sel, r, rd = (rec["selections"][method][k], _row(rec, method, k),
                          _row(rec, method, k, "distinct"))
            shown = np.array(sel["shown"])
            assert sel["display"] == "distinct" and set(shown) <= set(reps.tolist())
            assert len(set(labels[shown])) == len(shown) == r["distinct"]  # distinct groups
            if method != "nlhf":
                assert len(shown) == min(int(k), 5)
                assert (sel["fewer_than_k"] is not None) == (int(k) > 5)
                want = robust_set_win_rate(P_c, labels[np.array(sel["sets"])],
                                           np.array(sel["probs"]), display="distinct").value
                assert rd["robust"] == pytest.approx(want, abs=1e-9)
            assert 0 <= rd["robust"] <= 1 and 0 <= r["robust"] <= 1
            assert rd["robust_humans"] is not None and rd["robust_shown"] is not None
            assert rd["selected_for"] == r["selected_for"] == "distinct"
    rows = summarise([rec])
    assert {(row.method, row.k) for row in rows if row.display == "distinct"} == {
        (row.method, row.k) for row in rows if row.display == "multiset"}


def test_run_prompt_multiset_reports_distinct_display_of_same_selection():
    rec, pop, cfg = _run_distinct(("best-of-n", "sampling"), (1, 3), display="multiset")
    assert rec["merge"]["n_merged"] == 2 and rec["config"]["display"] == "multiset"
    s = rec["selections"]["sampling"]["3"]
    assert s["shown"] == [0, 1, 2] and s["display"] == "multiset"
    r, rd = _row(rec, "sampling", 3), _row(rec, "sampling", 3, "distinct")
    assert r["distinct"] == rd["distinct"] == 2  # candidates 0 and 2 are one response
    # merged, the first three candidates are two responses: the set shown is {0, 1} of 5
    _, ev = pop.split(cfg.split, seed=np.random.default_rng(cfg.seed))
    P_c = Profile.from_scores(ev.scores([DUP_CANDS[i] for i in (0, 1, 3, 5, 6)]), ev.weights)
    want = robust_set_win_rate(P_c, np.array([[0, 1, 0]]), np.ones(1), display="distinct")
    assert rd["robust"] == pytest.approx(want.value, abs=1e-9)


def test_run_prompt_distinct_strict_and_config_errors():
    with pytest.raises(ValueError, match="larger than the 5 distinct candidates"):
        _run_distinct(("sampling",), (6,), strict=True)
    rec, _, _ = _run_distinct(("sampling",), (5,), strict=True)
    assert len(rec["selections"]["sampling"]["5"]["shown"]) == 5
    with pytest.raises(ValueError, match="display must be one of"):
        SelectConfig(display="foo")
    with pytest.raises(ValueError, match="merge must be one of"):
        SelectConfig(merge="fuzzy")
    with pytest.raises(ValueError, match="merge_threshold must be a number in"):
        SelectConfig(merge_threshold=1.5)
    # k > n is fine for the baselines under distinct display (all distinct ones are shown)
    SelectConfig(n=3, ks=(4,), methods=("best-of-n",), display="distinct")


def test_run_prompt_distinct_embedding_merge():
    cands = ["cats are lovely pets", "cats are lovely pets indeed", "lower taxes now"]
    pop = EmbeddingPopulation(PERSONAS, embed=HashingEmbedder(), seed=1)
    want = merge_equivalent(cands, rule="embedding", embed=HashingEmbedder(), threshold=0.5)
    cfg = SelectConfig(n=3, ks=(2,), methods=("best-of-n",), display="distinct",
                       merge="embedding", merge_threshold=0.5)
    rec = run_prompt("p", ListGenerator(cands), pop, cfg, embed=HashingEmbedder())
    assert rec["merge"]["groups"] == [list(map(int, g)) for g in want.groups]
    assert rec["merge"]["threshold"] == 0.5 and rec["merge"]["n_merged"] == want.n_merged


def test_summarise_keeps_selection_displays_apart():
    rec_m, _, _ = _run_distinct(("best-of-n",), (2,), display="multiset")
    rec_d, _, _ = _run_distinct(("best-of-n",), (2,))
    rows = summarise([rec_m, rec_d, rec_d])
    assert [(r.selected_for, r.display, r.method, r.k, r.prompts) for r in rows] == [
        ("multiset", "multiset", "best-of-n", 2, 1), ("multiset", "distinct", "best-of-n", 2, 1),
        ("distinct", "multiset", "best-of-n", 2, 2), ("distinct", "distinct", "best-of-n", 2, 2)]
    # the means are the rows' means, display by display
    for r in rows:
        recs = [rec_m] if r.selected_for == "multiset" else [rec_d, rec_d]
        want = np.mean([_row(x, "best-of-n", 2, r.display)["robust"] for x in recs])
        assert r.robust == pytest.approx(want, abs=1e-15)
    # a record of the format before typed rows is refused in one line naming the format
    legacy = dict(rec_m, results={"best-of-n": {"2": {"robust": 0.5, "robust_distinct": 0.4}}})
    with pytest.raises(ValueError, match=r"format before typed rows; expected a list of rows"):
        summarise([legacy])


def test_selection_row_constructor_checks_json():
    rec, _, _ = _run_distinct(("best-of-n",), (2,), display="multiset")
    assert SelectionRecord.from_json(rec).rows[0]._asdict() == rec["results"][0]
    row = rec["results"][0]
    for bad, match in (({"robust": "hi"}, r"results\[0\]\['robust'\] must be a number"),
                       ({"display": "copies"}, r"results\[0\]\['display'\] must be one of"),
                       ({"k": 0}, r"results\[0\]\['k'\] must be an integer >= 1"),
                       ({"robust_distinct": 0.5}, r"unknown field\(s\) \['robust_distinct'\]")):
        with pytest.raises(ValueError, match=match):
            SelectionRecord.from_json(dict(rec, results=[dict(row, **bad)]))
    with pytest.raises(ValueError, match=r"results\[0\] has no 'selected_for'"):
        SelectionRecord.from_json(dict(rec, results=[{"method": "x", "k": 1}]))
