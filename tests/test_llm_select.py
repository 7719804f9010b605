"""U-aligned selection, baselines and held-out evaluation (no language model needed)."""

import itertools
import math

import numpy as np
import pytest

from ualign import Profile
from ualign.data.generators import random_profile
from ualign.llm import EmbeddingPopulation, HashingEmbedder
from ualign.llm.experiment import SelectConfig, run_prompt, summarise
from ualign.llm.select import (
    Selection,
    diversity,
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


def test_diversity():
    d = diversity(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))
    assert d["distinct"] == 2 and d["cosine_distance"] == pytest.approx(2 / 3)
    assert diversity(np.ones((1, 3)))["cosine_distance"] == 0.0


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
    assert set(rec["results"]) == {"best-of-n", "nlhf", "sampling", "personalised"}
    for method in ("best-of-n", "nlhf", "sampling"):
        for k in ("1", "2", "3"):
            r = rec["results"][method][k]
            assert 0.0 <= r["robust"] <= r["mean"] <= 1.0
            assert "robust_humans" in r and 0 <= r["cosine_distance"] <= 2
            assert len(rec["selections"][method][k]["shown"]) == int(k)
    # one personalised generation per evaluation persona
    assert len(rec["personal"]) == 4 and len(gen.calls) == 5
    rows = summarise([rec, rec])
    assert {(r["method"], r["k"]) for r in rows} >= {("nlhf", 2), ("personalised", 1)}
    assert all(r["prompts"] == 2 for r in rows)


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
    assert rec["results"]["ualign"]["9"]["robust"] >= 0.0
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
