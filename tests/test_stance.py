"""The stance population: a co-vote relation learned across conversations, kernel regression on
a participant's own votes (ualign.llm.populations.stance)."""

import csv

import numpy as np
import pytest

from ualign.llm import (
    PolisVotes,
    StanceModel,
    StancePopulation,
    evaluate_stance_model,
    evaluate_vote_model,
    load_population,
)
from ualign.llm.populations.stance import covote_agreement, default_stance_model

D = 12  # embedding dimension of the synthetic conversations


class TableEmbed:
    """A fixed text -> vector table (a stand-in sentence encoder with known geometry)."""

    def __init__(self, table):
        self.table = {k: np.asarray(v, dtype=float) for k, v in table.items()}

    def __call__(self, texts):
        return np.stack([self.table[t] for t in texts])


def _conversation(rng, name, axis, n_topics=15, n_part=80, missing=0.3, flip=0.05,
                  lean=0.4):
    """Statements in pro / con pairs on a topic: both sides share a large random topic vector
    (so their cosine is high) and differ by ``±lean · axis``. Each participant has a side
    ``θ = ±1`` on ``axis`` and agrees with a statement when ``θ`` matches its sign (a ``flip``
    share of votes flipped, a ``missing`` share unseen). Returns the votes and the table."""
    texts, rows, sides = [], [], []
    for t in range(n_topics):
        topic = rng.normal(size=D)
        topic -= (topic @ axis) * axis
        topic /= np.linalg.norm(topic)
        for side in (1.0, -1.0):
            e = topic + lean * side * axis
            texts.append(f"{name}: topic {t} side {side:+.0f}")
            rows.append(e / np.linalg.norm(e))
            sides.append(side)
    theta = rng.choice([-1.0, 1.0], size=n_part)
    votes = np.outer(theta, sides)
    votes[rng.random(votes.shape) < flip] *= -1
    votes[rng.random(votes.shape) < missing] = np.nan
    pv = PolisVotes(texts=tuple(texts), statement_ids=np.arange(len(texts)),
                    participants=np.arange(n_part), groups=np.full(n_part, -1),
                    votes=votes, topic=name)
    return pv, dict(zip(texts, rows, strict=True))


def _world(seed, shared_axis=True, n_conv=4, flip=0.05, lean=0.4):
    """``n_conv`` conversations; the stance axis is shared by all (transferable) or drawn anew
    for each conversation (nothing to transfer)."""
    rng = np.random.default_rng(seed)
    axis0 = np.eye(D)[0]
    convs, table = [], {}
    for c in range(n_conv):
        axis = axis0 if shared_axis else rng.normal(size=D)
        axis = axis / np.linalg.norm(axis)
        pv, tab = _conversation(rng, f"c{c}", axis, flip=flip, lean=lean)
        convs.append(pv)
        table.update(tab)
    return convs, TableEmbed(table)


def _fit(convs, embed, **kw):
    return StanceModel.fit([(pv.votes, embed(list(pv.texts))) for pv in convs], **kw)


def test_covote_agreement_by_hand():
    v = np.array([[1, 1, -1, np.nan], [1, -1, -1, 1], [0, 1, 1, -1]], dtype=float)
    a, n = covote_agreement(v)
    # statements 0, 1: participants 0 (1·1) and 1 (1·-1); participant 2 passed on 0
    assert n[0, 1] == 2 and a[0, 1] == 0.0
    # statements 1, 2: (1·-1), (-1·-1), (1·1) -> 1/3
    assert n[1, 2] == 3 and a[1, 2] == pytest.approx(1 / 3)
    assert n[0, 3] == 1 and a[0, 3] == 1.0
    np.testing.assert_allclose(a, a.T)
    with pytest.raises(ValueError, match=r"position \(0, 1\)"):
        covote_agreement([[1, 2]])


def test_learned_relation_recovers_a_shared_stance_axis():
    """Trained on three conversations, the relation separates the two sides of the fourth's
    topics (which cosine similarity cannot: both sides of a topic are close), and the held-out
    within-participant AUC on hidden statements is high where the linear vote model's and the
    cosine relation's are not (no vote is flipped: a perfect model scores AUC 1)."""
    convs, embed = _world(0, flip=0.0, lean=0.15)
    model = _fit(convs[:3], embed, lam=1e-3)
    test = convs[3]
    E = embed(list(test.texts))
    K = model.relation(E, E)
    pro, con = np.arange(0, 30, 2), np.arange(1, 30, 2)
    assert np.all(K[pro, con] < 0)          # the two sides of one topic: opposite
    same = K[pro][:, pro][~np.eye(pro.size, dtype=bool)]
    assert np.all(same > 0)                 # same side, other topics: alike
    assert np.all(np.sum(E[pro] * E[con], axis=1) > 0.9)  # cosine calls the two sides close
    new = evaluate_stance_model(test, model, embed=embed, seed=0)
    assert new["model_user_auc"] > 0.97 and new["model_acc"] > 0.9
    cosine = StanceModel(np.pad(np.eye(D), ((0, 1), (0, 1))))
    cos = evaluate_stance_model(test, cosine, embed=embed, seed=0)
    old = evaluate_vote_model(test, embed=embed, seed=0)["statements"]
    assert new["n_test"] == cos["n_test"] == old["n_test"] > 0   # one split
    assert new["model_user_auc"] > cos["model_user_auc"] + 0.2
    assert new["model_user_auc"] > old["model_user_auc"] + 0.2


def test_population_ranks_new_text_by_stance():
    convs, embed = _world(1)
    model = _fit(convs[:3], embed, lam=1e-2)
    test = convs[3]
    # hold topic 0 out of the population's known votes: both its statements are new text
    known = PolisVotes(texts=test.texts[2:], statement_ids=test.statement_ids[2:],
                       participants=test.participants, groups=test.groups,
                       votes=test.votes[:, 2:])
    pop = StancePopulation.from_polis(known, embed=embed, model=model)
    assert pop.n_users == 80
    S = pop.scores(list(test.texts[:2]))
    assert S.shape == (80, 2) and np.all(np.isfinite(S))
    theta = np.sign(np.nansum(test.votes[:, 2::2], axis=1) - np.nansum(test.votes[:, 3::2],
                                                                           axis=1))
    prefers_pro = S[:, 0] > S[:, 1]
    assert np.mean(prefers_pro == (theta > 0)) > 0.95
    P = pop.rank(list(test.texts[:2]))
    assert P.shape[1] == 2   # identical orders merge: two kinds of participant
    sub = pop.subset([0, 5])
    np.testing.assert_array_equal(sub.scores(list(test.texts[:2])), S[[0, 5]])


def test_votes_without_stance_stay_near_chance():
    """In a new conversation whose votes are coin flips (no stance structure at all) the
    model trained elsewhere must be near chance, not confidently right or wrong, with finite
    utilities; a participant without agree/disagree votes and a model that relates nothing get
    utility 0."""
    convs, embed = _world(2)
    model = _fit(convs, embed, lam=1e-2)
    rng = np.random.default_rng(5)
    aucs = []
    for c in range(4):
        pv, table = _conversation(rng, f"new{c}", np.eye(D)[0])
        embed.table.update(table)
        votes = np.where(np.isnan(pv.votes), np.nan, rng.choice([-1.0, 1.0], pv.votes.shape))
        test = PolisVotes(texts=pv.texts, statement_ids=pv.statement_ids,
                          participants=pv.participants, groups=pv.groups, votes=votes)
        aucs.append(evaluate_stance_model(test, model, embed=embed, seed=c)["model_user_auc"])
    assert 0.4 < np.mean(aucs) < 0.6, aucs
    votes = test.votes.copy()
    votes[0] = 0.0                                   # participant 0 passed on everything
    E = embed(list(test.texts))
    pop = StancePopulation(votes, test.texts, E, model, embed)
    S = pop.scores(list(test.texts[:4]))
    assert np.all(np.isfinite(S)) and np.all(S[0] == 0.0)
    zero = StanceModel(np.zeros((D + 1, D + 1)))     # relates nothing to anything
    pop0 = StancePopulation(votes, test.texts, E, zero, embed)
    assert np.all(pop0.scores(list(test.texts[:4])) == 0.0)


def test_save_load_round_trip(tmp_path):
    convs, embed = _world(3, n_conv=2)
    model = _fit(convs, embed, meta={"name": "tiny"})
    path = tmp_path / "m.npz"
    model.save(path)
    back = StanceModel.load(path)
    np.testing.assert_allclose(back.M, model.M, rtol=1e-6, atol=1e-6)
    assert back.meta["name"] == "tiny" and back.meta["lam"] == 1e-2 and back.dim == D
    # the population spec: stance:FOLDER,model=FILE
    folder = tmp_path / "conv"
    folder.mkdir()
    _write_polis(folder, convs[0])
    pop = load_population(f"stance:{folder},model={path},min_votes=3,reg=0.5", embed=embed)
    assert isinstance(pop, StancePopulation) and pop.reg == 0.5 and pop.n_users == 80
    assert pop.scores(list(convs[0].texts[:3])).shape == (80, 3)


def _write_polis(folder, pv):
    with open(folder / "comments.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["comment-id", "author-id", "agrees", "disagrees", "moderated",
                    "comment-body"])
        for i, t in zip(pv.statement_ids, pv.texts, strict=True):
            w.writerow([i, 0, 0, 0, 1, t])
    with open(folder / "participants-votes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant", "group-id"] + [str(i) for i in pv.statement_ids])
        for p, row in zip(pv.participants, pv.votes, strict=True):
            w.writerow([p, ""] + ["" if np.isnan(x) else str(int(x)) for x in row])


def test_bad_input(tmp_path):
    convs, embed = _world(4, n_conv=2)
    pv = convs[0]
    E = embed(list(pv.texts))
    with pytest.raises(ValueError, match="M must be a square"):
        StanceModel(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="M must be finite"):
        StanceModel(np.full((3, 3), np.nan))
    model = StanceModel(np.eye(D + 1))
    with pytest.raises(ValueError, match=rf"E_a must be an \(N, {D}\)"):
        model.relation(np.zeros((2, D + 1)), E)
    with pytest.raises(ValueError, match="at least one"):
        StanceModel.fit([])
    with pytest.raises(ValueError, match="position 1"):
        StanceModel.fit([(pv.votes, E), (pv.votes, E, 3)])
    with pytest.raises(ValueError, match=r"conversations\[0\] embeddings must be an \(30, d\)"):
        StanceModel.fit([(pv.votes, E[:5])])
    bad = pv.votes.copy()
    bad[2, 7] = 0.5
    with pytest.raises(ValueError, match=r"position \(2, 7\)"):
        StanceModel.fit([(bad, E)])
    with pytest.raises(ValueError, match="lam"):
        StanceModel.fit([(pv.votes, E)], lam=0)
    with pytest.raises(ValueError, match="n0"):
        StanceModel.fit([(pv.votes, E)], n0=-1)
    with pytest.raises(ValueError, match="no statement pair"):
        StanceModel.fit([(np.full((3, 30), np.nan), E)])
    with pytest.raises(ValueError, match="one embedding dimension"):
        StanceModel.fit([(pv.votes, E), (pv.votes, E[:, :5])])
    with pytest.raises(ValueError, match="no participant"):
        StancePopulation.from_polis(pv, embed=embed, model=model, min_votes=10_000)
    with pytest.raises(ValueError, match="reg"):
        StancePopulation(pv.votes, pv.texts, E, model, embed, reg=0)
    with pytest.raises(ValueError, match="one text per column"):
        StancePopulation(pv.votes, pv.texts[:3], E, model, embed)
    with pytest.raises(ValueError, match="StanceModel"):
        StancePopulation(pv.votes, pv.texts, E, "model.npz", embed)
    with pytest.raises(FileNotFoundError):
        StanceModel.load(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="not a stance model"):
        StanceModel.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="model must be a StanceModel"):
        evaluate_stance_model(pv, np.eye(D + 1), embed=embed)
    with pytest.raises(ValueError, match="test_frac"):
        evaluate_stance_model(pv, model, embed=embed, test_frac=1.0)


def test_shipped_model():
    """The package's model: all-MiniLM-L6-v2 (384 dimensions), fitted on the 13 English Polis
    conversations, records how; its relation is symmetric."""
    model = default_stance_model()
    assert model.dim == 384 and model.M.shape[0] == model.meta["rank"] + 1
    assert len(model.meta["conversations"]) == 13 and "CC BY 4.0" in model.meta["attribution"]
    E = np.random.default_rng(0).normal(size=(5, 384))
    K = model.relation(E, E)
    np.testing.assert_allclose(K, K.T, atol=1e-9)


def test_scores_and_moment_limit_match_their_definitions():
    """Kernel regression against a loop over participants and statements; ``lam=inf`` against
    the ridge fit with a very large ``lam`` (same direction of ``M``)."""
    rng = np.random.default_rng(7)
    votes = rng.choice([-1.0, 0.0, 1.0, np.nan], size=(6, 9))
    K = rng.normal(size=(4, 9))
    from ualign.llm.populations.stance import stance_scores
    U = stance_scores(votes, K, reg=0.5)
    for p in range(6):
        for n in range(4):
            num = sum(K[n, j] * votes[p, j] for j in range(9) if votes[p, j] in (1.0, -1.0))
            den = 0.5 + sum(abs(K[n, j]) for j in range(9) if votes[p, j] in (1.0, -1.0))
            assert U[p, n] == pytest.approx(num / den)
    convs, embed = _world(6, n_conv=2)
    limit = _fit(convs, embed, lam=np.inf).M.ravel()
    ridge = _fit(convs, embed, lam=1e7).M.ravel()
    cos = limit @ ridge / (np.linalg.norm(limit) * np.linalg.norm(ridge))
    assert cos > 0.999
