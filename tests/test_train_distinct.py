"""The trainer's distinct-display objective (THEORY §9, docs/train.md "Distinct display"):
``group_advantages(..., display="distinct")`` held to the literal choice rule of tests/oracle.py,
``SelfPlayConfig.display``, and a short tiny-model run."""

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

sys.path.insert(0, str(Path(__file__).parent))
import oracle
from oracle import distinct_pick_share

from ualign.train import SelfPlayConfig
from ualign.train.estimators import group_advantages

torch.set_num_threads(1)

# response r is written as either of two texts that ualign.llm.dedupe.normalise makes equal
VARIANTS = [("Tax the rich.", "tax the rich"), ("Cut spending!", "CUT SPENDING"),
            ("Both.", "both"), ("Neither", "  neither?")]


def _brute_subsets(resp_levels, w, resp, k):
    """P̂_i = mean over the k-subsets S of the other samples of the competitor's share of
    response resp[i] against the responses of S, under the literal distinct rule."""
    G = len(resp)
    out = np.zeros(G)
    for i in range(G):
        subsets = list(itertools.combinations([j for j in range(G) if j != i], k))
        for u in range(len(w)):
            out[i] += w[u] * np.mean([1 - distinct_pick_share(
                resp_levels[u], [resp[j] for j in S], [resp[i]]) for S in subsets])
    return out


def _random_group(rng):
    n = int(rng.integers(1, len(VARIANTS) + 1))
    G = int(rng.integers(2, 8))
    k = int(rng.integers(1, G))
    U = int(rng.integers(1, 4))
    resp = rng.integers(0, n, G)                      # duplicates are frequent
    texts = [VARIANTS[r][int(rng.integers(0, 2))] for r in resp]
    resp_levels = rng.integers(0, 3, (U, n))          # ties between different responses too
    w = rng.random(U) + 0.1
    return resp, texts, resp_levels, w / w.sum(), k


def test_distinct_estimate_equals_subset_enumeration():
    rng = np.random.default_rng(0)
    dup = 0
    for _ in range(120):
        resp, texts, rl, w, k = _random_group(rng)
        dup += len(set(resp)) < len(resp)
        P, A = group_advantages([rl[:, resp]], [w], k, display="distinct", texts=[texts])
        np.testing.assert_allclose(P[0], _brute_subsets(rl, w, resp, k), rtol=0, atol=1e-12)
        np.testing.assert_allclose(A.numpy(), P[0] - P[0].mean(), atol=1e-6)
        assert abs(float(A.sum())) < 1e-5                  # mean 0 within the group
    assert dup > 60                                       # the cases did exercise duplicates


@pytest.mark.parametrize("k,G", [(1, 3), (2, 3), (2, 4), (3, 4)])
def test_unbiased_for_the_distinct_deviation_payoff(k, G):
    """E[P̂_0 | y_0 = t] over the G-1 other texts drawn i.i.d. (every tuple of oracle.tuples)
    equals L^dist(π, response of t) = 1 - oracle.win_rate(..., share=distinct_pick_share):
    two spellings of one response are merged (normalise) and ranked as one."""
    rng = np.random.default_rng(10 * k + G)
    n, U = 3, 3
    texts = [v for r in range(n) for v in VARIANTS[r]]            # 2n texts, text t = resp t//2
    resp_levels = rng.integers(0, 2, (U, n))
    w = rng.random(U) + 0.2
    w /= w.sum()
    pi_text = rng.dirichlet(np.ones(2 * n))
    pi_resp = pi_text.reshape(n, 2).sum(1)
    for t in range(2 * n):
        est = 0.0
        for others, p in oracle.tuples(pi_text, G - 1):
            draw = [t, *others]
            P, _ = group_advantages([resp_levels[:, [d // 2 for d in draw]]], [w], k,
                                    display="distinct", texts=[[texts[d] for d in draw]])
            est += p * P[0, 0]
        e = np.eye(n)[t // 2]
        exact = 1 - oracle.win_rate(resp_levels, w, pi_resp, k, e, 1, share=distinct_pick_share)
        assert est == pytest.approx(exact, abs=1e-12)


def test_equals_multiset_when_all_texts_differ_and_not_otherwise():
    """Every text a different response: the estimate (not the expected payoff: π may still
    repeat itself) equals the multiset one, and so do the advantages (group mean 1/(k+1))."""
    rng = np.random.default_rng(3)
    for _ in range(40):
        G = int(rng.integers(2, 8))
        k = int(rng.integers(1, G))
        U = int(rng.integers(1, 4))
        lv = rng.integers(0, 3, (U, G))
        w = rng.random(U) + 0.1
        w = w / w.sum()
        texts = [f"answer {i}" for i in range(G)]
        Pm, Am = group_advantages([lv], [w], k)
        Pd, Ad = group_advantages([lv], [w], k, display="distinct", texts=[texts])
        np.testing.assert_allclose(Pd, Pm, atol=1e-12)
        np.testing.assert_allclose(Ad.numpy(), Am.numpy(), atol=1e-6)
    # "Yes." and "yes" are one response: one user prefers "no"; k = 2
    texts = ["Yes.", "yes", "no"]
    lv = np.array([[1, 1, 0]])
    Pd, Ad = group_advantages([lv], [np.ones(1)], 2, display="distinct", texts=[texts])
    Pm, _ = group_advantages([lv], [np.ones(1)], 2)
    # "no" against {yes, yes}: shown once, "no" wins -> 1; "yes" against {yes, no}: 0
    np.testing.assert_allclose(Pd[0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(Pm[0], [0.0, 0.0, 1.0])    # same here: "no" wins both ways ...
    # ... but with "yes" preferred and written three ways, k = 2:
    texts = ["Yes.", "yes", "YES", "no"]
    lv = np.array([[0, 0, 0, 1]])
    Pd, Ad = group_advantages([lv], [np.ones(1)], 2, display="distinct", texts=[texts])
    Pm, _ = group_advantages([lv], [np.ones(1)], 2)
    # "Yes." against {yes, YES}: shown once -> 1/2 (multiset: 1 copy of 3 -> 1/3); against
    # {yes, no} or {YES, no}: 1/2 either way
    np.testing.assert_allclose(Pd[0], [0.5, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(Pm[0], [4 / 9, 4 / 9, 4 / 9, 0.0])
    np.testing.assert_allclose(Ad.numpy(), [1 / 8, 1 / 8, 1 / 8, -3 / 8], atol=1e-6)


def test_group_advantages_needs_texts_and_a_known_display():
    lv = [np.zeros((1, 3), int)]
    with pytest.raises(ValueError, match="display='distinct' needs texts"):
        group_advantages(lv, [np.ones(1)], 1, display="distinct")
    with pytest.raises(ValueError, match="display must be one of"):
        group_advantages(lv, [np.ones(1)], 1, display="set")


def test_config_display_field(tmp_path):
    assert SelfPlayConfig().display == "multiset"
    assert SelfPlayConfig(display="distinct").display == "distinct"
    with pytest.raises(ValueError, match="display must be one of \\('multiset', 'distinct'\\), "
                                         "got 'unique'"):
        SelfPlayConfig(display="unique")
    with pytest.raises(ValueError, match="display must be a string, got 2"):
        SelfPlayConfig.from_dict({"display": 2})
    p = tmp_path / "c.yaml"
    p.write_text("display: distinct\nk: 2\ngroup_size: 3\n")
    assert SelfPlayConfig.from_yaml(p).display == "distinct"
    assert "deduplicated" in SelfPlayConfig.fields_help()["display"]


def test_short_trainer_run_with_distinct_display(tmp_path):
    """Tiny model, one-character answers (duplicates in every group): the trainer's payoffs are
    group_advantages(display="distinct") of its own texts and levels, advantages have group mean
    0, and training moves the weights."""
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from _train_helpers import CharPopulation

    from ualign.train import SelfPlayTrainer
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm

    tok = char_tokenizer("abcxyz ")
    cfg = SelfPlayConfig(prompts=["a", "b"], k=2, group_size=6, prompts_per_step=2, max_steps=2,
                         max_new_tokens=1, output_dir=str(tmp_path), progress_bar=False,
                         learning_rate=3e-3, seed=7, torch_threads=1, display="distinct")
    tr = SelfPlayTrainer(cfg, population=CharPopulation("ab", [0.6, 0.4]),
                         model=tiny_causal_lm(tok, seed=1), tokenizer=tok)
    before = {n: p.detach().clone() for n, p in tr.unwrapped.named_parameters()}
    seen = []
    orig = tr.estimate_payoffs

    def wrap(batch):
        orig(batch)
        seen.append(batch)

    tr.estimate_payoffs = wrap
    res = tr.train()
    assert res.step == 2 and len(seen) == 2
    dup = 0
    for b in seen:
        P, A = group_advantages(b.levels, b.weights, 2, display="distinct", texts=b.texts)
        np.testing.assert_array_equal(b.payoffs, P)
        assert torch.equal(b.advantages, A)
        np.testing.assert_allclose(b.advantages.view(2, 6).sum(1).numpy(), 0, atol=1e-5)
        dup += sum(len(set(t)) < len(t) for t in b.texts)
    assert dup > 0
    assert all(np.isfinite(h["loss"]) for h in res.history)
    assert max(float((p.detach() - before[n]).abs().max())
               for n, p in tr.unwrapped.named_parameters()) > 0
