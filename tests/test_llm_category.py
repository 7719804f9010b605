"""The category population (llm/populations/category.py): texts to kinds, user types ranking the
kinds, exact game values over kinds (both displays, held to the literal choice rule over texts),
the texts-to-kinds report with Goodman intervals, the spec kind, and the trainer's distinct
display merging by kind."""

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from ualign.core.checks import DISPLAYS
from ualign.core.displays import display_spec
from ualign.core.payoffs import deviation_payoffs, robust_win_rate
from ualign.llm import load_population
from ualign.llm.embed import HashingEmbedder
from ualign.llm.populations.category import (
    CategoryPopulation,
    goodman_intervals,
    kind_report,
    parse_order,
)

sys.path.insert(0, str(Path(__file__).parent))
import oracle

KINDS = ["outdoors", "home", "tech", "other"]
SPEC = {
    "kinds": KINDS,
    "types": [{"name": "outdoorsy", "weight": 0.55, "order": "outdoors > home > tech > other"},
              {"name": "homebody", "weight": 0.30, "order": "home > tech > outdoors > other"},
              {"name": "techie", "weight": 0.15, "order": "tech > outdoors = home > other"}],
    "keywords": {"outdoors": ["hik", "park", "beach", "bike ride"],
                 "home": ["bake", "read", "book"],
                 "tech": ["game", "code", "app"]},
}
TEXTS = ["Go hiking in the park.", "Bake bread and read a book", "Play a video game at the beach",
         "Nothing at all", "Take a bike ride", "code an app", "Read in the park"]


@pytest.fixture
def pop():
    return CategoryPopulation.from_dict(SPEC)


def test_parse_order_ties_lists_and_errors():
    assert parse_order("b > a = c", ["a", "b", "c"]).tolist() == [1, 0, 1]
    assert parse_order([["a", "c"], "b"], ["a", "b", "c"]).tolist() == [0, 1, 0]
    for bad, match in [("a > b", "missing \\['c'\\]"), ("a > b > c > a", "appears twice"),
                       ("a > b > d", "unknown kind 'd'"), (3, "must be a string")]:
        with pytest.raises(ValueError, match=match):
            parse_order(bad, ["a", "b", "c"], where="types[0].order")


def test_keywords_pick_the_kind_with_most_hits_then_the_earliest(pop):
    # "video game at the beach" and "Read in the park": one hit for each of two kinds; the
    # earliest hit decides (tech, home)
    assert pop.kinds_of(TEXTS) == ["outdoors", "home", "tech", "other", "outdoors", "tech",
                                   "home"]
    assert pop.kinds_of(["read, bake, hike"]) == ["home"]          # 2 home hits beat 1
    assert pop.response_classes(TEXTS).tolist() == pop.kind_index(TEXTS).tolist()


def test_embedding_classifier_nearest_example_and_threshold():
    spec = dict(SPEC, classifier="embedding", threshold=0.3,
                examples={"outdoors": ["go hiking in the hills"], "home": ["bake a cake"],
                          "tech": ["play a video game"]})
    del spec["keywords"]
    p = CategoryPopulation.from_dict(spec, embed=HashingEmbedder())
    assert p.kinds_of(["go hiking in the hills today", "bake a cake", "zzz qqq"]) == [
        "outdoors", "home", "other"]


def test_ranks_tie_within_a_kind_and_follow_the_types(pop):
    P = pop.rank(TEXTS)
    kinds = pop.kind_index(TEXTS)
    for u in range(3):
        for i, j in itertools.combinations(range(len(TEXTS)), 2):
            same = np.sign(P.levels[u, i] - P.levels[u, j])
            want = np.sign(pop.kind_levels[u, kinds[i]] - pop.kind_levels[u, kinds[j]])
            assert same == want
    assert pop.kind_profile.n_responses == 4 and pop.kind_profile.labels == tuple(KINDS)
    np.testing.assert_allclose(pop.kind_profile.weights, [0.55, 0.30, 0.15])


def _kind_share_rule(kind_of, merges):
    """The literal choice rule over texts, texts of one kind being one response under a merging
    display."""
    def share(levels_row, S, T):
        if merges:
            return oracle.distinct_pick_share(levels_row, [kind_of[y] for y in S],
                                              [kind_of[y] for y in T])
        return oracle.pick_share(levels_row, [kind_of[y] for y in S], [kind_of[y] for y in T])
    return share


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("display", DISPLAYS)
def test_kind_game_values_are_the_text_game_values(pop, k, display):
    """A policy over 6 texts (two kinds repeated) acts on the users only through its kind
    distribution: the engine's payoffs over kinds equal the literal rule over text draws."""
    texts = TEXTS[:6]
    kind_of = pop.kind_index(texts)
    pi = np.array([0.3, 0.1, 0.15, 0.05, 0.25, 0.15])            # over the 6 texts
    q = np.bincount(kind_of, weights=pi, minlength=4)               # over the 4 kinds
    L = deviation_payoffs(pop.kind_profile, q, k, display)
    share = _kind_share_rule(kind_of, display_spec(display).merges)
    lv = pop.kind_levels
    for y in range(len(texts)):
        e = np.zeros(len(texts))
        e[y] = 1.0
        want = 1 - oracle.win_rate(lv, pop.weights, pi, k, e, 1, share=share)
        assert L[kind_of[y]] == pytest.approx(want, abs=1e-12)
    # the minority type's own win rate: its profile alone
    rw = robust_win_rate(pop.type_profile("techie"), q, k, display).value
    Lt = deviation_payoffs(pop.type_profile(2), q, k, display)
    assert rw == pytest.approx(1 - Lt.max(), abs=1e-15)


def test_goodman_intervals_are_bonferroni_wilson_intervals():
    from scipy.stats import norm

    counts = np.array([40, 25, 30, 5])
    low, high = goodman_intervals(counts, 0.95)
    N, K = counts.sum(), counts.size
    z = norm.ppf(1 - 0.05 / (2 * K))
    p = counts / N
    centre = (p + z * z / (2 * N)) / (1 + z * z / N)
    half = z * np.sqrt(p * (1 - p) / N + z * z / (4 * N * N)) / (1 + z * z / N)
    np.testing.assert_allclose(low, centre - half, atol=1e-12)
    np.testing.assert_allclose(high, centre + half, atol=1e-12)
    assert np.all(low <= p) and np.all(p <= high)
    lo0, hi0 = goodman_intervals(np.array([0, 10]))
    assert lo0[0] == 0.0 and hi0[0] > 0 and hi0[1] == pytest.approx(1.0)
    for bad in (np.array([1.5, 2.0]), np.array([0, 0]), np.array([3])):
        with pytest.raises(ValueError, match="counts must"):
            goodman_intervals(bad)
    with pytest.raises(ValueError, match="confidence"):
        goodman_intervals(counts, 1.0)


def test_kind_report_counts_shares_and_intervals(pop):
    rows = kind_report(pop, TEXTS * 3)
    assert [r.kind for r in rows] == KINDS
    assert [r.n for r in rows] == [6, 6, 6, 3]
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    assert all(r.low <= r.share <= r.high for r in rows)
    np.testing.assert_allclose(pop.shares(TEXTS * 3), [r.share for r in rows])


def test_spec_kind_loads_the_file_and_its_options(tmp_path):
    f = tmp_path / "pop.json"
    f.write_text(json.dumps(SPEC))
    p = load_population(f"category:{f}")
    assert isinstance(p, CategoryPopulation) and p.user_labels == ("outdoorsy", "homebody",
                                                                   "techie")
    back = CategoryPopulation.from_dict(p.to_dict())
    assert np.array_equal(back.kind_levels, p.kind_levels)
    with pytest.raises(ValueError, match="needs examples"):
        load_population(f"category:{f},classifier=embedding")
    with pytest.raises(ValueError, match="unknown category population option"):
        load_population(f"category:{f},nope=1")
    with pytest.raises(FileNotFoundError):
        load_population(f"category:{tmp_path / 'missing.json'}")
    (tmp_path / "bad.json").write_text("{\n  oops")
    with pytest.raises(ValueError, match=r"bad\.json:2: not JSON"):
        load_population(f"category:{tmp_path / 'bad.json'}")
    with pytest.raises(ValueError, match=r"other .* must be one of the kinds"):
        CategoryPopulation(["a", "b"], np.array([[0, 1]]), keywords={"a": ["x"]})
    with pytest.raises(ValueError, match="unknown kind 'sport'"):
        CategoryPopulation.from_dict(dict(SPEC, keywords={"sport": ["run"]}))


def test_split_keeps_types_and_kinds(pop):
    a, b = pop.split(0.5, seed=0)
    assert a.n_users + b.n_users == 3
    assert a.kind_profile.n_users == a.n_users
    assert a.kinds_of(TEXTS) == pop.kinds_of(TEXTS)


def test_trainer_distinct_display_merges_by_kind(tmp_path):
    """display='distinct' with a category population: the samples of one kind are one
    response (the population's response_classes), not only equal texts."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from ualign.llm.group_payoffs import group_result
    from ualign.train import SelfPlayConfig, SelfPlayTrainer
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm

    tok = char_tokenizer("abcxyz ")
    spec = dict(SPEC, keywords={"outdoors": ["a"], "home": ["b"], "tech": ["c"]})
    cat = CategoryPopulation.from_dict(spec)
    cfg = SelfPlayConfig(prompts=["a"], k=2, group_size=8, max_steps=1, max_new_tokens=6,
                         output_dir=str(tmp_path), progress_bar=False, seed=0,
                         torch_threads=1, display="distinct", kl_coef=0.0)
    tr = SelfPlayTrainer(cfg, population=cat, model=tiny_causal_lm(tok, seed=1), tokenizer=tok)
    seen = {}
    orig = tr.estimate_payoffs

    def wrap(batch):
        orig(batch)
        seen["b"] = batch

    tr.estimate_payoffs = wrap
    tr.step(0)
    b = seen["b"]
    texts = b.texts[0]
    want = group_result(b.levels[0], b.weights[0], texts, 2, "distinct", "group_mean",
                        cat.response_classes)
    np.testing.assert_allclose(b.payoffs[0], want["payoffs"], atol=1e-12)
    kinds = cat.kind_index(texts)
    assert len(set(kinds)) < len(set(texts))          # kinds merged different texts here
    by_text = group_result(b.levels[0], b.weights[0], texts, 2, "distinct", "group_mean")
    assert not np.allclose(by_text["payoffs"], want["payoffs"])
    assert math.isclose(float(b.advantages.sum()), 0.0, abs_tol=1e-6)
