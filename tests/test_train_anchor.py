"""Trainer capabilities against lock-in (issue 24): the tempered / truncated policy (the same warp
when sampling and in log-probs), the anchor to the reference (SPPO-with-reference, KL for PG), the
frozen-training warning, and the mode-dependent default of kl_coef."""

import itertools
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch

from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.config import FREE_TEXT_KL
from ualign.train.losses import sppo_loss, tempered_token_logps
from ualign.train.tiny import char_tokenizer, tiny_causal_lm

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation

torch.set_num_threads(1)
TOK = char_tokenizer("abcxyz ")
SMALL = char_tokenizer("ab")          # 6 tokens: <pad> <s> </s> <unk> a b


def _cfg(tmp_path, **kw):
    base = dict(prompts=["a", "b"], k=2, group_size=4, prompts_per_step=2, max_steps=2,
                max_new_tokens=6, output_dir=str(tmp_path), progress_bar=False,
                learning_rate=3e-3, updates_per_step=2, seed=7, torch_threads=1)
    base.update(kw)
    return SelfPlayConfig(**base)


class ConstantPopulation:
    """Every user is indifferent between all texts: every advantage is exactly 0."""

    weights = np.array([1.0])

    def scores(self, texts):
        return np.zeros((1, len(texts)))


# ---------------------------------------------------------------------------- the warp
@pytest.mark.parametrize("T,top_k,top_p", [(0.7, 0, 1.0), (1.0, 3, 1.0), (1.0, 0, 0.8),
                                           (1.3, 4, 0.9), (0.5, 1, 0.5)])
def test_warp_equals_transformers_warpers(T, top_k, top_p):
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 11, generator=g) * 2
    tgt = torch.randint(0, 11, (5, 7), generator=g)
    procs = LogitsProcessorList()
    if T != 1.0:
        procs.append(TemperatureLogitsWarper(T))
    if top_k:
        procs.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    want = torch.log_softmax(procs(None, logits.reshape(-1, 11)), -1).reshape(5, 7, 11)
    want = want.gather(-1, tgt[..., None])[..., 0]
    got = tempered_token_logps(logits, tgt, T, top_k, top_p)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    # keep_targets changes only the targets the truncation removed (strict: -inf)
    kept = tempered_token_logps(logits, tgt, T, top_k, top_p, keep_targets=True)
    fin = torch.isfinite(got)
    assert torch.isfinite(kept).all()
    if top_k or top_p < 1:
        assert (~fin).any()                      # the test hits removed targets
    torch.testing.assert_close(kept[fin], got[fin], rtol=0, atol=1e-6)


def test_untempered_policy_is_the_model_bit_for_bit(tmp_path):
    tr = SelfPlayTrainer(_cfg(tmp_path, kl_coef=0.0), population=CharPopulation("a", [1.0]),
                         model=tiny_causal_lm(TOK, seed=2), tokenizer=TOK)
    rows = tr._rows([([4, 5], [6, 7, 8]), ([5], [9, 2])])
    m = tr.unwrapped.eval()
    with torch.no_grad():
        got = tr._token_logps(m, rows)
        R = rows["mask"].shape[1]
        logits = m(input_ids=rows["input_ids"], attention_mask=rows["attention_mask"],
                   position_ids=rows["position_ids"]).logits[:, -(R + 1):-1].float()
        tgt = rows["input_ids"][:, -R:]
        want = (logits.gather(-1, tgt[..., None])[..., 0] - torch.logsumexp(logits, -1)) \
            * rows["mask"]
    assert torch.equal(got, want)
    assert not tr.policy.tempered


def _all_continuations(L: int):
    """Every response generate can return with max_new_tokens = L over SMALL's 6 tokens: a
    sequence stops at its first EOS, or has L tokens without one."""
    eos, V = SMALL.eos_token_id, len(SMALL)
    out = []
    for n in range(1, L + 1):
        for seq in itertools.product(range(V), repeat=n):
            if eos in seq[:-1]:
                continue
            if seq[-1] == eos or n == L:
                out.append(list(seq))
    return out


@pytest.mark.parametrize("T,top_k,top_p", [(1.0, 0, 1.0), (0.6, 0, 1.0), (0.8, 3, 0.9),
                                           (1.5, 2, 1.0), (1.0, 0, 0.7)])
def test_tempered_log_probs_of_every_continuation_sum_to_one(tmp_path, T, top_k, top_p):
    L = 3
    cfg = _cfg(tmp_path, temperature=T, top_k=top_k, top_p=top_p, max_new_tokens=L,
               kl_coef=0.0)
    tr = SelfPlayTrainer(cfg, population=CharPopulation("a", [1.0]),
                         model=tiny_causal_lm(SMALL, seed=3), tokenizer=SMALL)
    p = tr._encode_prompt("ab")
    conts = _all_continuations(L)
    with torch.no_grad():
        lp = tr.policy.token_logps(tr.unwrapped.eval(), tr._rows([(p, r) for r in conts]),
                                   strict=True).sum(-1)
    total = float(torch.exp(lp.double()).sum())
    assert total == pytest.approx(1.0, abs=1e-5)
    if top_k or top_p < 1:
        assert (lp == -math.inf).any()           # truncation removes continuations


def test_samples_are_scored_under_the_distribution_generate_drew_them_from(tmp_path):
    """On-policy: generate's processed scores (its warped next-token logits) give the same
    log-probabilities as the trainer's batched forward pass with the same warp."""
    cfg = _cfg(tmp_path, temperature=0.7, top_k=5, top_p=0.9, max_new_tokens=5, kl_coef=0.0)
    tr = SelfPlayTrainer(cfg, population=CharPopulation("a", [1.0]),
                         model=tiny_causal_lm(TOK, seed=4), tokenizer=TOK)
    m = tr.unwrapped.eval()
    p = tr._encode_prompt("ab")
    torch.manual_seed(0)
    inp = torch.tensor([p])
    with torch.no_grad():
        out = m.generate(input_ids=inp, attention_mask=torch.ones_like(inp), do_sample=True,
                         temperature=0.7, top_k=5, top_p=0.9, max_new_tokens=5,
                         num_return_sequences=6, pad_token_id=TOK.pad_token_id,
                         output_scores=True, return_dict_in_generate=True)
        seqs = out.sequences[:, len(p):]
        scores = torch.stack(out.scores, 1)                      # (6, new, V) warped
        want = torch.log_softmax(scores.float(), -1).gather(-1, seqs[..., None])[..., 0]
        eos = TOK.eos_token_id
        pairs, masks = [], []
        for row in seqs.tolist():
            r = row[:row.index(eos) + 1] if eos in row else row
            pairs.append((p, r))
            masks.append(len(r))
        got = tr.policy.token_logps(m, tr._rows(pairs), strict=True)
    for i, n in enumerate(masks):
        torch.testing.assert_close(got[i, :n], want[i, :n], rtol=0, atol=1e-5)


def test_config_checks_for_the_warp_and_the_default_anchor(tmp_path):
    free = _cfg(tmp_path)
    assert free.kl_coef is None and free.resolved().kl_coef == FREE_TEXT_KL > 0
    cand = _cfg(tmp_path, candidates=["ab", "ba"])
    assert cand.resolved().kl_coef == 0.0
    assert _cfg(tmp_path, kl_coef=0.0).resolved().kl_coef == 0.0
    for kw, match in [(dict(kl_coef=-0.1), "kl_coef must be >= 0"),
                      (dict(top_k=-1), "top_k must be an integer >= 0"),
                      (dict(candidates=["ab", "ba"], temperature=0.5), "free-text policy"),
                      (dict(candidates=["ab", "ba"], top_p=0.9), "free-text policy"),
                      (dict(top_k=5, generation_backend="vllm", vllm_url="http://x", lora=True),
                       "top_k > 0 is not sent")]:
        with pytest.raises(ValueError, match=match):
            _cfg(tmp_path, **kw)
    tr = SelfPlayTrainer(free, population=CharPopulation("a", [1.0]),
                         model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    assert tr.config.kl_coef == FREE_TEXT_KL          # the trainer runs the resolved config


# ---------------------------------------------------------------------------- the anchor
def test_sppo_with_reference_minimiser_is_the_mirror_descent_step():
    """Over n responses all sampled once (one group), the loss is 0 exactly at
    log π_θ = log π_t + η (A − τ r̃)/(1 + ητ); normalised, that is magnetic mirror descent
    π ∝ (π_t π_ref^{ητ} exp(η L))^{1/(1+ητ)} (THEORY §5), for centred A."""
    D = torch.float64
    log_t = torch.log_softmax(torch.tensor([0.3, -0.2, 1.0, 0.1], dtype=D), 0)
    log_ref = torch.log_softmax(torch.tensor([-0.5, 0.4, 0.2, 0.0], dtype=D), 0)
    L = torch.tensor([0.6, 0.2, 0.3, 0.5], dtype=D)
    A = L - L.mean()
    eta, tau = 0.8, 0.3
    r = log_t - log_ref
    target = log_t + eta * (A - tau * (r - r.mean())) / (1 + eta * tau)
    assert float(sppo_loss(target, log_t, A, eta, ref_logp=log_ref, tau=tau, group_size=4)) \
        == pytest.approx(0.0, abs=1e-28)
    mmd = torch.log_softmax((log_t + eta * tau * log_ref + eta * L) / (1 + eta * tau), 0)
    torch.testing.assert_close(torch.log_softmax(target, 0), mmd, rtol=0, atol=1e-12)
    # tau = 0 is the plain Hedge regression
    assert float(sppo_loss(log_t + eta * A, log_t, A, eta, ref_logp=log_ref, tau=0.0,
                           group_size=4)) == pytest.approx(0.0, abs=1e-28)
    with pytest.raises(ValueError, match="ref_logp and group_size"):
        sppo_loss(log_t, log_t, A, eta, tau=0.1)


def _perturbed_lora_trainer(tmp_path, **kw):
    pytest.importorskip("peft")
    cfg = _cfg(tmp_path, lora=True, lora_r=4, lora_alpha=8, learning_rate=2e-2, **kw)
    tr = SelfPlayTrainer(cfg, population=ConstantPopulation(),
                         model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():                 # move the policy away from the reference (LoRA off)
        for n, p in tr.unwrapped.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return tr


def _kl_to_reference(tr, n=64):
    """Monte-Carlo KL(π_θ ‖ π_ref) of the response distribution, on n fixed-seed samples."""
    p = tr._encode_prompt("a")
    m = tr.unwrapped.eval()
    out = tr.policy._generate(m, p, n, seed=12345)
    eos = TOK.eos_token_id
    pairs = []
    for r in out[:, len(p):].tolist():
        pairs.append((p, r[:r.index(eos) + 1] if eos in r else r))
    rows = tr._rows(pairs)
    with torch.no_grad():
        lp = tr.policy.token_logps(m, rows).sum(-1)
        with m.disable_adapter():
            ref = tr.policy.token_logps(m, rows).sum(-1)
    return float((lp - ref).mean())


@pytest.mark.parametrize("loss,kw", [
    ("sppo", dict(eta=4.0, group_size=16, max_steps=8)),    # score-function estimate: G = 16
    ("pg", dict(group_size=4, max_steps=6))])
def test_anchor_pulls_a_frozen_policy_back_to_the_reference(tmp_path, loss, kw, caplog):
    """Every sample ties (advantage 0): without the anchor nothing moves; with it the policy
    returns towards the reference (KL measured on 64 fixed-seed samples)."""
    off = _perturbed_lora_trainer(tmp_path / "off", loss=loss, kl_coef=0.0, **kw)
    before = {n: p.detach().clone() for n, p in off.unwrapped.named_parameters()}
    kl0 = _kl_to_reference(off)
    with caplog.at_level(logging.WARNING, logger="ualign.train.trainer"):
        off.train()
    assert all(torch.equal(before[n], p) for n, p in off.unwrapped.named_parameters())
    on = _perturbed_lora_trainer(tmp_path / "on", loss=loss, kl_coef=0.5, **kw)
    assert _kl_to_reference(on) == pytest.approx(kl0, abs=1e-6)
    res = on.train()
    assert all(h["advantage_abs"] == 0 for h in res.history)
    kl1 = _kl_to_reference(on)
    assert kl0 > 0.05 and kl1 < 0.7 * kl0, (kl0, kl1)
    assert "kl" in res.history[-1]


def test_frozen_training_is_warned_once_per_streak(tmp_path, caplog):
    cfg = _cfg(tmp_path, max_steps=5, frozen_warning_steps=3, kl_coef=0.0)
    tr = SelfPlayTrainer(cfg, population=ConstantPopulation(),
                         model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    with caplog.at_level(logging.WARNING, logger="ualign.train.trainer"):
        tr.train()
    msgs = [r.getMessage() for r in caplog.records if "frozen" in r.getMessage()]
    assert len(msgs) == 1 and "0 for 3 steps (to step 3)" in msgs[0], msgs
    assert "nothing moves the policy" in msgs[0]
    caplog.clear()
    quiet = SelfPlayTrainer(cfg.replace(frozen_warning_steps=0, output_dir=str(tmp_path / "q")),
                            population=ConstantPopulation(), model=tiny_causal_lm(TOK, seed=1),
                            tokenizer=TOK)
    with caplog.at_level(logging.WARNING, logger="ualign.train.trainer"):
        quiet.train()
    assert not [r for r in caplog.records if "frozen" in r.getMessage()]
    # a population that separates the samples never triggers it
    caplog.clear()
    live = SelfPlayTrainer(cfg.replace(output_dir=str(tmp_path / "l")),
                           population=CharPopulation("ab", [0.6, 0.4]),
                           model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    with caplog.at_level(logging.WARNING, logger="ualign.train.trainer"):
        live.train()
    assert not [r for r in caplog.records if "frozen" in r.getMessage()]


def test_anchored_runs_resume_exactly(tmp_path):
    """The anchor (default for free text) and a tempered policy keep resume exact."""
    kw = dict(save_steps=2, max_steps=4, temperature=0.8, top_k=6)
    full = SelfPlayTrainer(_cfg(tmp_path / "full", **kw), population=CharPopulation("ab", [.6, .4]),
                           model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    full.train()

    def kill_at_3(trainer, step, metrics):
        if step == 3:
            raise KeyboardInterrupt

    part = SelfPlayTrainer(_cfg(tmp_path / "part", **kw), population=CharPopulation("ab", [.6, .4]),
                           model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK, callbacks=[kill_at_3])
    with pytest.raises(KeyboardInterrupt):
        part.train()
    res = SelfPlayTrainer(_cfg(tmp_path / "part", resume_from_checkpoint=True, **kw),
                          population=CharPopulation("ab", [.6, .4]),
                          model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    res.train()
    assert full.reference is not None                      # full fine-tuning: a frozen copy
    assert [h["kl"] for h in full.history] == pytest.approx([h["kl"] for h in res.history],
                                                            abs=1e-6)
    for (_, a), (_, b) in zip(full.unwrapped.named_parameters(),
                              res.unwrapped.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
