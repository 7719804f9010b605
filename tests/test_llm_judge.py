"""Listwise judge populations: fake deterministic judges (content, position-biased, garbage), the
tiny random model through transformers, and an OpenAI-compatible stub on 127.0.0.1."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import re
import typing

import numpy as np
import pytest

from localserver import JSONHandler, serve
from ualign.core import Profile
from ualign.llm import JudgeError, JudgePopulation, load_population
from ualign.llm.populations.judge import (
    cyclic_orders,
    kendall_tau,
    parse_ranking,
    self_consistency,
)

TEXTS = ["a fairly long answer about taxes", "short", "a medium answer", "the longest answer of "
         "them all, by some margin"]
PERSONAS = ["a teacher who likes brevity", "a farmer"]


def shown(prompt: str) -> list[str]:
    """The candidate texts of a judge prompt, in the order shown (lines ``X. text``)."""
    return re.findall(r"^[A-Z]\. (.*)$", prompt, flags=re.M)


def letters(order) -> str:
    return " > ".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[j] for j in order)


class ShorterJudge:
    """Prefers shorter texts, whatever their position; counts its calls."""

    def __init__(self):
        self.calls = 0
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.calls += 1
        self.prompts.append(prompt)
        c = shown(prompt)
        return "Ranking: " + letters(sorted(range(len(c)), key=lambda j: (len(c[j]), j)))


def position_judge(prompt: str) -> str:
    """Always ranks in the order shown: a pure position bias."""
    return letters(range(len(shown(prompt))))


class GarbageThenValid:
    """Answers garbage ``n_bad`` times per judge prompt, then a valid ranking."""

    def __init__(self, n_bad: int):
        self.n_bad = n_bad
        self.seen: dict[str, int] = {}

    def __call__(self, prompt: str) -> str:
        k = self.seen.get(prompt, 0)
        self.seen[prompt] = k + 1
        if k < self.n_bad:
            return ["I like them all!", "A > A", "A > B > Z"][k % 3]
        return ShorterJudge()(prompt)


# ---------------------------------------------------------------- parsing and helpers
@pytest.mark.parametrize("answer, n, expected", [
    ("B > A > C", 3, [1, 0, 2]),
    ("B, A, C", 3, [1, 0, 2]),
    ("Answer: C>A>B.", 3, [2, 0, 1]),
    ("The best is\nD > C > B > A", 4, [3, 2, 1, 0]),
])
def test_parse_ranking_accepts_permutations(answer, n, expected):
    assert parse_ranking(answer, n) == expected


@pytest.mark.parametrize("answer, n, reason", [
    ("", 3, "no ranking"),
    ("ABC", 3, "no ranking"),
    ("I like A best", 3, "no ranking"),
    ("A > B", 3, "leaves out C"),
    ("A > A > B", 3, "repeated"),
    ("A > B > E", 3, "not one of A-C"),
])
def test_parse_ranking_rejects_anything_else(answer, n, reason):
    with pytest.raises(ValueError, match=reason):
        parse_ranking(answer, n)


def test_cyclic_orders_latin_square_when_p_equals_g():
    O = cyclic_orders(5, 5)
    for pos in range(5):                        # every candidate at every position once
        assert sorted(O[:, pos].tolist()) == list(range(5))
    assert cyclic_orders(5, 9).shape == (5, 5)  # at most G orders
    assert cyclic_orders(4, 2).tolist() == [[0, 1, 2, 3], [2, 3, 0, 1]]


def _tau_by_pairs(a, b):
    """Kendall's tau by its definition: (concordant - discordant) / pairs, over item pairs."""
    pa, pb = {x: i for i, x in enumerate(a)}, {x: i for i, x in enumerate(b)}
    items = list(a)
    c = d = 0
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            x, y = items[i], items[j]
            same = (pa[x] < pa[y]) == (pb[x] < pb[y])
            c, d = c + same, d + (not same)
    return (c - d) / (c + d)


def test_kendall_tau_against_its_definition():
    rng = np.random.default_rng(0)
    for G in (2, 3, 6):
        for _ in range(20):
            a, b = rng.permutation(G).tolist(), rng.permutation(G).tolist()
            assert kendall_tau(a, b) == pytest.approx(_tau_by_pairs(a, b), abs=1e-12)
    assert kendall_tau([0, 1, 2], [2, 1, 0]) == -1.0
    with pytest.raises(ValueError, match="rankings of the same"):
        kendall_tau([0, 1], [0, 2])
    sc = self_consistency([[0, 1, 2], [0, 1, 2], None, [2, 1, 0]])
    assert sc["n_valid"] == 3 and sc["pairs"] == 3
    assert sc["kendall_tau"] == pytest.approx((1 - 1 - 1) / 3)
    assert sc["top1_agree"] == pytest.approx(1 / 3)
    assert np.isnan(self_consistency([None, [0, 1]])["kendall_tau"])


# ---------------------------------------------------------------- fake judges
def test_content_judge_ranks_by_content_under_every_order():
    judge = ShorterJudge()
    pop = JudgePopulation(judge, PERSONAS, [3, 1])
    S = pop.scores(TEXTS, prompt="What about taxes?")
    order = np.argsort([len(t) for t in TEXTS])          # shortest first
    expected = np.empty(4)
    expected[order] = [3, 2, 1, 0]
    assert np.array_equal(S, np.tile(expected, (2, 1)))
    assert judge.calls == 2 * 4                          # U personas x P = G orders
    assert all("Prompt: What about taxes?" in p for p in judge.prompts)
    assert "a teacher who likes brevity" in judge.prompts[0]
    assert len({tuple(shown(p)) for p in judge.prompts[:4]}) == 4   # four different orders
    for per_order in pop.rankings(TEXTS):
        assert self_consistency(per_order)["kendall_tau"] == 1.0
    P = pop.rank(TEXTS)
    assert np.allclose(pop.weights, [0.75, 0.25])
    assert isinstance(P, Profile) and P.n_users == 1     # both personas agree: one user type


def test_position_bias_cancels_exactly_with_g_orders():
    pop = JudgePopulation(position_judge, PERSONAS)
    S = pop.scores(TEXTS)
    assert np.array_equal(S, np.full((2, 4), 1.5))       # every candidate (G-1)/2 exactly
    assert pop.rank(TEXTS).levels.max() == 0             # one tie: the bias says nothing
    one = JudgePopulation(position_judge, PERSONAS, permutations=1)
    assert np.array_equal(one.scores(TEXTS)[0], [3, 2, 1, 0])   # one order: the bias shows
    tau = [self_consistency(r)["kendall_tau"] for r in pop.rankings(TEXTS)]
    assert tau == pytest.approx([-1 / 9, -1 / 9])        # cyclic shifts of one ranking


def test_garbage_is_retried_then_reported_never_guessed():
    ok = JudgePopulation(GarbageThenValid(2), ["p"], max_retries=2)
    assert np.array_equal(ok.scores(["xx", "x"]), [[0, 1]])
    assert ok.stats == {"calls": 2 * 3, "malformed": 2 * 2, "first_malformed": 2, "failed": 0}
    bad = JudgePopulation(GarbageThenValid(3), ["a persona who hates everything"],
                          max_retries=2)
    with pytest.raises(JudgeError, match="persona 'a persona who hates everything' on prompt "
                                         "'Q1'.*3 attempts") as e:
        bad.scores(["xx", "x", "xxx"], prompt="Q1")
    f = e.value.failure
    assert f.prompt == "Q1" and f.answers == ("I like them all!", "A > A", "A > B > Z")
    assert "no ranking" in f.reasons[0] and "repeated" in f.reasons[1]
    assert "not one of A-C" in f.reasons[2]
    assert bad.failures == [f]
    skip = JudgePopulation(GarbageThenValid(99), ["p", "q"], max_retries=1, on_failure="skip")
    S = skip.scores(["xx", "x", "xxx"])
    assert np.isnan(S).all()                              # unranked, not invented
    assert len(skip.failures) == 2 * 3 and skip.stats["calls"] == 2 * 3 * 2


def test_skip_averages_only_valid_orders():
    class FailFirstOrder(ShorterJudge):
        def __call__(self, prompt):
            return "?" if shown(prompt)[0] == "xx" else super().__call__(prompt)

    pop = JudgePopulation(FailFirstOrder(), ["p"], max_retries=0, on_failure="skip")
    S = pop.scores(["xx", "x", "xxx"])
    assert np.array_equal(S, [[1, 2, 0]]) and len(pop.failures) == 1
    assert pop.rankings(["xx", "x", "xxx"])[0][0] is None


def test_cache_avoids_a_second_call(tmp_path):
    judge = ShorterJudge()
    path = tmp_path / "judge.jsonl"
    first = JudgePopulation(judge, PERSONAS, cache=path, name="shorter")
    S1 = first.scores(TEXTS, prompt="q")
    n = judge.calls
    again = JudgePopulation(judge, PERSONAS, cache=path, name="shorter")
    assert np.array_equal(again.scores(TEXTS, prompt="q"), S1)
    assert judge.calls == n and again.judge.hits == n
    again.scores(TEXTS, prompt="another prompt")          # a new prompt is asked
    assert judge.calls == 2 * n
    other = JudgePopulation(judge, PERSONAS, cache=path, name="other judge")
    other.scores(TEXTS, prompt="q")                       # the judge's name keys the cache
    assert judge.calls == 3 * n


def test_copies_score_the_same_and_are_shown_once():
    judge = ShorterJudge()
    pop = JudgePopulation(judge, ["p"])
    S = pop.scores(["bb", "a", "bb", "ccc"])
    assert S[0, 0] == S[0, 2] and np.array_equal(S, [[1, 2, 1, 0]])
    assert all(len(shown(p)) == 3 for p in judge.prompts) and judge.calls == 3
    assert np.array_equal(pop.scores(["same", "same"]), [[0, 0]]) and judge.calls == 3


def test_trainer_passes_the_prompt_and_subsets_keep_personas():
    from ualign.llm.populations import rank_texts
    judge = ShorterJudge()
    pop = JudgePopulation(judge, ["p0", "p1", "p2"], [1, 2, 1])
    levels, w = rank_texts(pop, ["xx", "x"], prompt="train prompt")
    assert np.array_equal(levels, [[1, 0]]) and np.allclose(w, [1.0])   # one user type
    assert "Prompt: train prompt" in judge.prompts[-1]
    sub = pop.subset([2, 0])
    assert sub.personas == ("p2", "p0") and np.allclose(sub.weights, [0.5, 0.5])
    sub.scores(["xx", "x"])
    assert "p2" in judge.prompts[-4]


@pytest.mark.parametrize("kw, match", [
    (dict(personas=[]), "personas must hold at least one"),
    (dict(permutations=0), "permutations must be a positive integer"),
    (dict(max_retries=-1), "max_retries must be an integer >= 0"),
    (dict(retry_temperature=-0.5), "retry_temperature must be a number >= 0"),
    (dict(on_failure="guess"), "on_failure must be one of"),
    (dict(template="rank {persona}"), "template must contain {candidates}"),
    (dict(template="{candidates} {nope}"), "template must contain {candidates}"),
    (dict(max_new_tokens=0), "max_new_tokens must be a positive integer"),
    (dict(judge=42), "judge must be a generator"),
    (dict(cache=3), "cache must be a GenerationCache or a path"),
    (dict(weights=[1, -1]), "weights must be finite and >= 0"),
])
def test_bad_arguments_raise_value_error_naming_them(kw, match):
    args = dict(judge=position_judge, personas=PERSONAS) | kw
    with pytest.raises(ValueError, match=match):
        JudgePopulation(args.pop("judge"), args.pop("personas"), **args)


def test_bad_texts_and_prompts():
    pop = JudgePopulation(position_judge, ["p"])
    with pytest.raises(ValueError, match="at most 26 distinct"):
        pop.scores([f"t{i}" for i in range(27)])
    with pytest.raises(ValueError, match="at least one candidate"):
        pop.scores([])
    with pytest.raises(ValueError, match="texts must hold strings, got int at position 1"):
        pop.scores(["a", 3])
    with pytest.raises(ValueError, match="prompt must be a string"):
        pop.scores(["a", "b"], prompt=7)


# ---------------------------------------------------------------- tiny random model
def test_tiny_random_model_judge_is_reported_not_guessed():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from ualign.llm.generate import HFGenerator
    from ualign.train.tiny import tiny_from_spec
    model, tok = tiny_from_spec("tiny", seed=0)
    gen = HFGenerator(model, tok, name="tiny")
    pop = JudgePopulation(gen, ["likes cats"], max_retries=1, on_failure="skip",
                          template="{persona}: {candidates}. rank: {example}",
                          max_new_tokens=6)
    S = pop.scores(["cats", "dogs", "fish"], prompt="pets?")
    # a random model does not write a permutation of A, B, C: nothing is invented
    assert np.isnan(S).all() and pop.stats["failed"] == 3
    assert all(len(f.answers) == 2 and all(isinstance(a, str) for a in f.answers)
               for f in pop.failures)
    with pytest.raises(JudgeError, match="judge 'tiny' gave no valid ranking for persona "
                                         "'likes cats'"):
        JudgePopulation(gen, ["likes cats"], max_retries=0, max_new_tokens=6,
                        template="{persona}: {candidates}").scores(["cats", "dogs"])


# ---------------------------------------------------------------- OpenAI-compatible stub
class _JudgeHandler(JSONHandler):
    garbage = 0
    requests: typing.ClassVar[list] = []

    def do_POST(self):
        body = self.body()
        type(self).requests.append((self.headers.get("Authorization"), body))
        content = body["messages"][-1]["content"]
        if len(type(self).requests) <= type(self).garbage:
            text = "Hmm, hard to say."
        else:
            text = ShorterJudge()(content)
        self.reply(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})


@pytest.fixture
def judge_server():
    _JudgeHandler.requests = []
    _JudgeHandler.garbage = 0
    with serve(_JudgeHandler) as url:
        yield url, _JudgeHandler


def test_endpoint_judge_through_the_spec(judge_server, tmp_path, monkeypatch):
    url, handler = judge_server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    personas = tmp_path / "personas.txt"
    personas.write_text("2\tlikes short answers\n1\tlikes long answers\n")
    pop = load_population(f"judge:{personas},endpoint={url},model=stub,permutations=2,"
                          f"cache={tmp_path / 'c.jsonl'}")
    assert isinstance(pop, JudgePopulation) and np.allclose(pop.weights, [2 / 3, 1 / 3])
    S = pop.scores(["xxx", "x", "xx"], prompt="q")
    assert np.array_equal(S, [[0, 2, 1]] * 2)
    assert len(handler.requests) == 2 * 2
    assert all(auth is None for auth, _ in handler.requests)   # key never sent to the stub
    body = handler.requests[0][1]
    assert body["model"] == "stub" and body["temperature"] == 0.0 and body["seed"] == 0
    pop.scores(["xxx", "x", "xx"], prompt="q")
    assert len(handler.requests) == 4                        # cached


def test_endpoint_garbage_retried_with_sampling_then_reported(judge_server):
    url, handler = judge_server
    handler.garbage = 10
    from ualign.llm.generate import OpenAIGenerator
    pop = JudgePopulation(OpenAIGenerator(url, "stub", timeout=5), ["p"], max_retries=2,
                          retry_temperature=0.9)
    with pytest.raises(JudgeError, match="3 attempts; last answer 'Hmm, hard to say.'"):
        pop.scores(["a", "bb"], prompt="q")
    assert [(b["temperature"], b["seed"]) for _, b in handler.requests] == [
        (0.0, 0), (0.9, 1), (0.9, 2)]
    handler.requests = []
    handler.garbage = 1
    ok = JudgePopulation(OpenAIGenerator(url, "stub", timeout=5), ["p"], max_retries=1)
    assert np.array_equal(ok.scores(["a", "bb"]), [[1, 0]])
    assert ok.stats["malformed"] == 1 and len(handler.requests) == 3


@pytest.mark.parametrize("spec, match", [
    ("judge:{f},colour=red", "unknown judge population option"),
    ("judge:{f},permutations=two", "permutations must be int"),
    ("judge:{f},endpoint=ftp://x,model=m", "base_url must start with http"),
    ("judge:{f},endpoint=http://127.0.0.1:9,on_failure=maybe", "on_failure must be one of"),
])
def test_judge_spec_errors(tmp_path, spec, match):
    f = tmp_path / "p.txt"
    f.write_text("someone\n")
    with pytest.raises(ValueError, match=match):
        load_population(spec.format(f=f))
