"""Selection for one described user (issue 14, item 5): evidence -> posterior weights over a
text population's users (``ualign.llm.evidence``), ``Population.reweight``, the Polis helpers
and ``ualign select --evidence-votes / --evidence-persona``. Model-free (hashing embedder)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from ualign.core import Profile
from ualign.data.polis import PolisVotes
from ualign.llm import EmbeddingPopulation, HashingEmbedder, VotePopulation
from ualign.llm.evidence import (
    Evidence,
    apply_evidence,
    read_vote_evidence,
    resolve_votes,
    vote_levels,
    vote_noise,
    vote_weights,
)
from ualign.llm.persona import describe_votes
from ualign.llm.select import select

PERSONAS = ["cats kittens pets", "taxes budgets money", "football sport games",
            "cats kittens pets"]
TEXTS = ["cats and kittens are pets", "taxes and budgets and money", "football is a sport",
         "the weather is mild", "games and pets"]


def _pop(weights=(0.1, 0.4, 0.3, 0.2)):
    return EmbeddingPopulation(PERSONAS, weights=list(weights), embed=HashingEmbedder())


def _brute_votes(pop, votes, delta):
    """w_u ∏ over strict pairs of the votes: 1-δ agree, δ disagree, ½ when u ties them."""
    texts = list(votes)
    lv = {"1": 0, "0": 1, "-1": 2}
    e = [lv[str(votes[t])] for t in texts]
    S = pop.scores(texts)
    out = []
    for u in range(pop.n_users):
        p = pop.weights[u]
        for i, j in itertools.combinations(range(len(texts)), 2):
            if e[i] == e[j]:
                continue
            b, w = (i, j) if e[i] < e[j] else (j, i)
            p *= 0.5 if S[u, b] == S[u, w] else (1 - delta if S[u, b] > S[u, w] else delta)
        out.append(p)
    out = np.array(out)
    return out / out.sum()


def test_vote_weights_equal_brute_force_bayes():
    pop = _pop()
    for votes, delta in [({TEXTS[0]: 1, TEXTS[1]: -1, TEXTS[2]: 0}, 0.1),
                         ({TEXTS[2]: 1, TEXTS[0]: 1, TEXTS[3]: -1, TEXTS[1]: 0}, 0.3),
                         ({TEXTS[4]: -1, TEXTS[1]: 1}, 0.01)]:
        np.testing.assert_allclose(vote_weights(pop, votes, delta),
                                   _brute_votes(pop, votes, delta), rtol=1e-12, atol=1e-15)


def test_users_with_the_same_order_are_not_merged():
    pop = _pop()   # users 0 and 3 share a persona, so the same order over every text
    w = vote_weights(pop, {TEXTS[0]: 1, TEXTS[1]: -1}, 0.1)
    assert w.shape == (4,)
    assert w[0] / w[3] == pytest.approx(0.1 / 0.2, rel=1e-12)


def test_empty_evidence_gives_exactly_the_universal_selection():
    pop = _pop()
    same, info = apply_evidence(pop, Evidence())
    assert same is pop and info["tau"] is None
    # one vote, or only tied votes, imply no comparison: the prior exactly
    for votes in ({TEXTS[0]: 1}, {TEXTS[0]: -1, TEXTS[1]: -1}, {}):
        assert np.array_equal(vote_weights(pop, votes, 0.1), pop.weights)
    cands = TEXTS
    for k in (1, 2, 3):
        a = select(pop.rank(cands), k, "ualign", seed=3)
        b = select(pop.reweight(vote_weights(pop, {TEXTS[2]: 0}, 0.2)).rank(cands), k,
                   "ualign", seed=3)
        assert np.array_equal(a.shown, b.shown) and np.array_equal(a.policy, b.policy)


def test_concentrated_vote_evidence_selects_that_users_favourite():
    pop = _pop((0.05, 0.5, 0.45, 0.0))
    S = pop.scores(TEXTS)
    fav = int(np.argmax(S[0]))
    assert fav != int(np.argmax(pop.weights @ S))          # the universal choice differs
    # user 0 agrees with its favourite and rejects the other users' favourites, which each of
    # them ranks strictly above it: every other user disagrees with a revealed comparison
    votes = {TEXTS[fav]: 1, TEXTS[int(np.argmax(S[1]))]: -1, TEXTS[int(np.argmax(S[2]))]: -1}
    assert len(votes) == 3
    w = vote_weights(pop, votes, 1e-9)
    assert w[0] > 1 - 1e-6
    post = pop.reweight(w)
    for method in ("ualign", "nlhf", "best-of-n"):
        assert select(post.rank(TEXTS), 1, method, scores=post.scores(TEXTS),
                      weights=post.weights).shown.tolist() == [fav]


def test_persona_evidence_with_a_hashing_embedder():
    pop = _pop((0.05, 0.5, 0.45, 0.0))
    S = pop.scores(TEXTS)
    ev = Evidence(persona="I love my cats and kittens, my pets", tau=0.002)
    post, info = apply_evidence(pop, ev)
    assert info["tau"] == 0.002 and post.weights[0] > 1 - 1e-6
    assert select(post.rank(TEXTS), 1, "ualign").shown.tolist() == [int(np.argmax(S[0]))]
    # the temperature fitted on held-out users (users 0 and 3 merge nothing in the fit)
    big = EmbeddingPopulation(PERSONAS * 5, embed=HashingEmbedder(), noise="gumbel",
                              noise_scale=0.05)
    post, info = apply_evidence(big, Evidence(persona="cats and kittens"), TEXTS)
    assert info["tau"] > 0 and post.weights.sum() == pytest.approx(1.0)


def test_reweight_keeps_users_and_scores():
    pop = _pop()
    new = pop.reweight([1, 0, 0, 3])
    assert new is not pop and new.n_users == 4 and new.user_labels == pop.user_labels
    np.testing.assert_allclose(new.weights, [0.25, 0, 0, 0.75])
    np.testing.assert_array_equal(new.scores(TEXTS), pop.scores(TEXTS))
    np.testing.assert_allclose(pop.weights, [0.1, 0.4, 0.3, 0.2])    # unchanged
    with pytest.raises(ValueError, match="weights"):
        pop.reweight([1, 0, -1, 0])
    with pytest.raises(ValueError, match=r"weights must have shape \(4,\)"):
        pop.reweight([1, 1])


def _polis():
    texts = ("cats are great pets", "taxes are too high", "football is fun",
             "budgets must balance", "kittens need care")
    votes = np.array([[1, -1, 0, -1, 1], [-1, 1, np.nan, 1, -1], [1, np.nan, 1, -1, 1],
                      [-1, 1, -1, 1, np.nan], [1, -1, 1, np.nan, 1], [np.nan, 1, -1, 1, -1]])
    return PolisVotes(texts=texts, statement_ids=np.array([3, 5, 8, 9, 12]),
                      participants=np.array([10, 11, 12, 13, 14, 15]),
                      groups=np.array([0, 1, 0, 1, 0, 1]), votes=votes)


def test_vote_population_helpers_and_statement_ids():
    pop = VotePopulation.from_polis(_polis(), embed=HashingEmbedder(), min_votes=2)
    assert pop.participant_votes(11) == {3: -1, 5: 1, 9: 1, 12: -1}
    assert pop.participant_ids.tolist() == [10, 11, 12, 13, 14, 15]
    assert pop.subset([1, 4]).participant_ids.tolist() == [11, 14]
    texts, values = resolve_votes(pop, {"5": 1, "cats are great pets": -1, "a new text": 0})
    assert texts == ["taxes are too high", "cats are great pets", "a new text"]
    assert values.tolist() == [1, -1, 0]
    np.testing.assert_array_equal(
        vote_weights(pop, {"5": 1, "3": -1}, 0.2),
        vote_weights(pop, {"taxes are too high": 1, "cats are great pets": -1}, 0.2))
    with pytest.raises(ValueError, match=r"statement id 7 .*ids present: 3\.\.12"):
        resolve_votes(pop, {"7": 1})
    with pytest.raises(ValueError, match="twice"):
        resolve_votes(pop, {"3": 1, "cats are great pets": 1})
    with pytest.raises(ValueError, match="participant must be a participant id"):
        pop.participant_votes(99)
    fit = vote_noise(pop, [{"3": 1, "5": -1, "8": 1}, {"5": 1, "9": 1, "12": -1}])
    assert 0 < fit.delta < 0.5 and fit.n_evidence == 2
    # the evidence described for a prompt: ids resolved to texts
    assert Evidence(votes=(("5", 1), ("3", -1))).description(pop) == describe_votes(
        {"taxes are too high": 1, "cats are great pets": -1})


def test_describe_votes_and_group_personas_format():
    assert describe_votes({"a": 1, "b": -1, "c": 0}) == (
        "You agree with these statements: a. You disagree with these: b. You passed on "
        "these: c.")
    assert describe_votes([("b", -1), ("d", -1)]) == "You disagree with these statements: b | d."
    with pytest.raises(ValueError, match="votes must hold at least one"):
        describe_votes({})
    with pytest.raises(ValueError, match="position 1"):
        describe_votes([("a", 1), ("b", 2)])
    pop = VotePopulation.from_polis(_polis(), embed=HashingEmbedder(), min_votes=2)
    for text in pop.group_personas(2).values():
        assert text.startswith("You agree with these statements: ")
        assert ". You disagree with these: " in text and text.endswith(".")


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    ("{not json", "not valid JSON .* line 1, column 2"),
    ("[1, 2]", "JSON object .* got a JSON list"),
    ('{"a": 2}', "vote \\+1 \\(agree\\), 0 \\(pass\\) or -1 \\(disagree\\), got 2 for "
                 "statement 'a'"),
    ('{"a": true}', "got True"),
])
def test_bad_vote_files_name_the_argument(tmp_path, content, fragment):
    path = tmp_path / "votes.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match="--evidence-votes must .*" + fragment):
        read_vote_evidence(path)


@pytest.mark.parametrize("kw, fragment", [
    (dict(noise=0.5), "noise must be a float"),
    (dict(tau=-1.0), "tau must be a positive"),
    (dict(persona="  "), "persona must be a non-empty"),
    (dict(votes=(("a", 3),)), "votes must map"),
])
def test_bad_evidence_names_the_argument(kw, fragment):
    with pytest.raises(ValueError, match=fragment):
        Evidence(**kw)


def test_vote_levels():
    assert np.array_equal(vote_levels([1, 0, -1, np.nan]), [0, 1, 2, np.nan], equal_nan=True)
    with pytest.raises(ValueError, match="position 1"):
        vote_levels([1, 0.5])


def test_profile_of_posterior_is_an_ordinary_profile():
    pop = _pop()
    P = pop.reweight(vote_weights(pop, {TEXTS[0]: 1, TEXTS[1]: -1}, 0.1)).rank(TEXTS)
    assert isinstance(P, Profile) and P.weights.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------- ualign select --evidence-*
from localserver import JSONHandler, serve  # noqa: E402

from ualign.cli import main  # noqa: E402

POOL = ["cats are lovely pets", "dogs are loyal friends", "lower taxes help budgets",
        "football is a great sport", "the economy is growing", "kittens and puppies"]


class _Stub(JSONHandler):
    def do_POST(self):
        body = self.body()
        choices = [{"message": {"content": POOL[(body["seed"] + i) % len(POOL)]}}
                   for i in range(body["n"])]
        self.reply(200, {"choices": choices})


@pytest.fixture
def cli_files(tmp_path):
    personas = tmp_path / "personas.txt"
    # half of the users like cats, so both halves of any split hold some (seed 0 puts 2 of
    # the 4 in the selection half)
    personas.write_text("1\tI love cats and kittens\n1\tdogs and puppies\n1\ttaxes and budgets\n"
                        "1\tfootball every weekend\n1\tcats are lovely\n"
                        "1\tcats and dogs\n1\tsport and the economy\n1\tkittens\n")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What makes a good pet?\n")
    return tmp_path, personas, prompts


def _run(url, personas, prompts, out, *extra):
    return main(["select", "--endpoint", url, "--model", "stub", "--prompts", str(prompts),
                 "--population", f"personas:{personas}", "--embed", "hashing", "--n", "6",
                 "--k", "1,2", "--out", str(out), "--methods", "ualign,best-of-n", *extra])


def test_cli_select_with_evidence(cli_files, capsys):
    tmp, personas, prompts = cli_files
    empty = tmp / "empty.json"
    empty.write_text("{}")
    votes = tmp / "votes.json"
    votes.write_text(json.dumps({POOL[0]: 1, POOL[2]: -1, POOL[3]: -1}))
    with serve(_Stub) as url:
        assert _run(url, personas, prompts, tmp / "plain.jsonl") == 0
        assert _run(url, personas, prompts, tmp / "empty.jsonl", "--evidence-votes",
                    str(empty)) == 0
        assert _run(url, personas, prompts, tmp / "votes.jsonl", "--evidence-votes",
                    str(votes), "--evidence-noise", "0.05", "--personalised") == 0
        assert _run(url, personas, prompts, tmp / "persona.jsonl", "--evidence-persona",
                    "I love cats", "--evidence-tau", "0.01") == 0
    plain, emp, vot, per = (json.loads((tmp / f"{n}.jsonl").read_text())
                            for n in ("plain", "empty", "votes", "persona"))
    assert plain["evidence"] is None and emp["evidence"] is None    # empty evidence: universal
    def _no_time(sel):
        return {m: {k: {f: v for f, v in s.items() if f != "seconds"} for k, s in by_k.items()}
                for m, by_k in sel.items()}
    assert _no_time(emp["selections"]) == _no_time(plain["selections"])
    assert emp["results"] == plain["results"]
    ev = vot["evidence"]
    assert ev["noise"] == 0.05 and len(ev["votes"]) == 3
    assert ev["selection"]["effective_users"] < plain["sizes"]["selection_users"]
    assert "personalised" in {r["method"] for r in vot["results"]} and len(vot["personal"]) == 1
    assert per["evidence"]["selection"]["tau"] == 0.01
    # the cat lover's evidence: the k = 1 choice is a cat statement
    shown = vot["selections"]["ualign"]["1"]["shown"][0]
    assert "cat" in vot["candidates"][shown] or "kitten" in vot["candidates"][shown]


@pytest.mark.parametrize("extra, fragment", [
    (("--evidence-votes", "{missing}"), "--evidence-votes must be an existing JSON file"),
    (("--evidence-votes", "{bad}"), "--evidence-votes must map each statement to a vote"),
    (("--evidence-votes", "{ids}"), "statement id 12 at position 0, but the population has "
                                    "no Polis statement"),
    (("--evidence-persona", " "), "--evidence-persona must be a non-empty text"),
    (("--evidence-persona", "x", "--evidence-noise", "0.7"), "--evidence-noise must be"),
    (("--evidence-tau", "1"), "--evidence-tau needs --evidence-votes or --evidence-persona"),
])
def test_cli_bad_evidence_is_one_line(cli_files, capsys, extra, fragment):
    tmp, personas, prompts = cli_files
    (tmp / "bad.json").write_text('{"a": "yes"}')
    (tmp / "ids.json").write_text('{"12": 1}')
    extra = [e.format(missing=tmp / "nope.json", bad=tmp / "bad.json", ids=tmp / "ids.json")
             for e in extra]
    # the endpoint is never contacted: every check runs before generation
    assert _run("http://127.0.0.1:9", personas, prompts, tmp / "o.jsonl", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp / "o.jsonl").exists() or (tmp / "o.jsonl").read_text() == ""


def test_cli_bad_evidence_subprocess_has_no_traceback(cli_files):
    tmp, personas, prompts = cli_files
    (tmp / "bad.json").write_text("[1]")
    r = subprocess.run([sys.executable, "-m", "ualign.cli", "select", "--endpoint",
                        "http://127.0.0.1:9", "--prompts", str(prompts), "--population",
                        f"personas:{personas}", "--embed", "hashing", "--out",
                        str(tmp / "o.jsonl"), "--evidence-votes", str(tmp / "bad.json")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "--evidence-votes" in r.stderr
