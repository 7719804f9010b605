"""SelfPlayTrainer: configuration checks, named stages, checkpoint + resume."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch

from ualign import Profile
from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.tiny import char_tokenizer, tiny_causal_lm

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation

TOK = char_tokenizer("abcxyz ")


def _cfg(tmp_path, **kw):
    base = dict(prompts=["a", "b"], k=2, group_size=4, prompts_per_step=2, max_steps=4,
                max_new_tokens=6, output_dir=str(tmp_path), progress_bar=False,
                learning_rate=3e-3, updates_per_step=2, seed=7, torch_threads=1)
    base.update(kw)
    return SelfPlayConfig(**base)


def _trainer(cfg, callbacks=()):
    return SelfPlayTrainer(cfg, population=CharPopulation("ab", [0.6, 0.4]),
                           model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK, callbacks=callbacks)


def _params(tr):
    return {n: p.detach().clone() for n, p in tr.unwrapped.named_parameters()}


@pytest.mark.parametrize("kw,match", [
    (dict(k=2, group_size=2), "group_size must be an integer >= k\\+1 = 3"),
    (dict(k=0), "k must be an integer >= 1"),
    (dict(loss="dpo"), "loss must be one of"),
    (dict(report_to="mlflow"), "report_to must be one of"),
    (dict(candidates=["x", "x"]), "candidates must be distinct"),
])
def test_bad_config_fails_early(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(tmp_path, **kw)


def test_bad_population_and_model_fail_before_training(tmp_path):
    cfg = _cfg(tmp_path)

    class Pairwise:
        def prefer(self, a, b):
            return 0.5

    with pytest.raises(ValueError, match="pairwise preference model cannot"):
        SelfPlayTrainer(cfg, population=Pairwise(), model=tiny_causal_lm(TOK), tokenizer=TOK)
    with pytest.raises(ValueError, match="population must have rank"):
        SelfPlayTrainer(cfg, population=object(), model=tiny_causal_lm(TOK), tokenizer=TOK)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SelfPlayTrainer(cfg.replace(model=str(tmp_path / "nope")),
                        population=CharPopulation("a", [1.0]))
    with pytest.raises(ValueError, match="model is required"):
        SelfPlayTrainer(cfg, population=CharPopulation("a", [1.0]))
    with pytest.raises(ValueError, match="vllm"):
        SelfPlayTrainer(cfg.replace(generation_backend="vllm"),
                        population=CharPopulation("a", [1.0]), model=tiny_causal_lm(TOK),
                        tokenizer=TOK)
    with pytest.raises(ValueError, match="only ranks fixed candidates"):
        SelfPlayTrainer(cfg, population=Profile.from_rankings([[0, 1]]),
                        model=tiny_causal_lm(TOK), tokenizer=TOK)
    assert not list(tmp_path.glob("checkpoint-*"))


def test_yaml_roundtrip_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("k: 3\ngroup_size: 6\nprompts: [hi]\nloss: pg\nkl_coef: 0.05\n")
    cfg = SelfPlayConfig.from_yaml(p, {"max_steps": 9})
    assert (cfg.k, cfg.group_size, cfg.loss, cfg.max_steps) == (3, 6, "pg", 9)
    with pytest.raises(ValueError, match="unknown config field"):
        SelfPlayConfig.from_yaml(p, {"nope": 1})
    assert all(h for h in SelfPlayConfig.fields_help().values())


def test_stages_and_group_invariant(tmp_path):
    tr = _trainer(_cfg(tmp_path, max_steps=1))
    assert tr.stages == ("generate", "score", "estimate_payoffs", "log_probs", "loss", "log")
    seen = {}
    for name in tr.stages:
        orig = getattr(tr, name)

        def wrap(batch, _o=orig, _n=name):
            _o(batch)
            seen[_n] = batch

        setattr(tr, name, wrap)
    tr.step(0)
    b = seen["estimate_payoffs"]
    assert b.payoffs.shape == (2, 4)
    # every group of G samples has mean payoff exactly 1/(k+1)
    assert np.allclose(b.payoffs.mean(axis=1), 1 / 3)
    assert list(seen) == list(tr.stages)


@pytest.mark.parametrize("loss", ["sppo", "pg"])
def test_resume_matches_uninterrupted(tmp_path, loss):
    kw = dict(loss=loss, kl_coef=0.1 if loss == "pg" else 0.0, save_steps=2, max_steps=4)
    full = _trainer(_cfg(tmp_path / "full", **kw))
    full.train()

    def kill_at_3(trainer, step, metrics):
        if step == 3:
            raise KeyboardInterrupt("simulated crash")

    part = _trainer(_cfg(tmp_path / "part", **kw), callbacks=[kill_at_3])
    with pytest.raises(KeyboardInterrupt):
        part.train()
    assert part.step_count == 3
    resumed = _trainer(_cfg(tmp_path / "part", resume_from_checkpoint=True, **kw))
    res = resumed.train()
    assert res.step == 4
    a, b = _params(full), _params(resumed)
    changed = max(float((a[n] - tiny_causal_lm(TOK, seed=1).state_dict()[n]).abs().max())
                  for n in a)
    assert changed > 1e-4                                   # training moved the weights
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=0, atol=1e-6)
    assert [h["loss"] for h in full.history] == pytest.approx([h["loss"] for h in
                                                               resumed.history], abs=1e-6)


def test_evaluate_free_text(tmp_path):
    tr = _trainer(_cfg(tmp_path, max_steps=1, eval_steps=1, eval_samples=6))
    res = tr.train()
    ev = res.evals[-1]
    assert 0 <= ev["win_rate_vs_base"] <= 1
    assert ev["exploitability_proxy"] >= -1 / 3 - 1e-12
    assert 0 < ev["unique_frac"] <= 1


def test_lora_trains_only_adapters_and_resumes(tmp_path):
    pytest.importorskip("peft")
    kw = dict(lora=True, lora_r=4, lora_alpha=8, loss="pg", kl_coef=0.1, max_steps=2,
              save_steps=1, learning_rate=1e-2)
    tr = _trainer(_cfg(tmp_path / "a", **kw))
    base = {n: p.detach().clone() for n, p in tr.unwrapped.named_parameters()
            if not p.requires_grad}
    tr.train()
    trainable = [n for n, p in tr.unwrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    for n, p in tr.unwrapped.named_parameters():
        if n in base:
            assert torch.equal(p, base[n])            # the reference (base) weights are frozen
    resumed = _trainer(_cfg(tmp_path / "a", resume_from_checkpoint=str(tmp_path / "a" /
                                                                      "checkpoint-1"), **kw))
    resumed.train()
    a, b = _params(tr), _params(resumed)
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=0, atol=1e-6)


def test_report_to_tensorboard_writes_train_and_eval_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = _cfg(tmp_path, max_steps=2, eval_steps=2, eval_samples=3, report_to="tensorboard",
               run_name="tb", lora=True)
    res = _trainer(cfg).train()
    events = list(tmp_path.rglob("events.out.tfevents.*"))
    assert events, list(tmp_path.rglob("*"))
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/payoff_max", "eval/win_rate_vs_base",
            "eval/exploitability_proxy", "eval/unique_frac"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]
    assert [e.value for e in acc.Scalars("train/loss")] == pytest.approx(
        [h["loss"] for h in res.history], rel=1e-6)
    assert [e.step for e in acc.Scalars("eval/win_rate_vs_base")] == [2]


def test_report_to_wandb_offline_logs_the_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = _cfg(tmp_path, max_steps=2, report_to="wandb", run_name="wb")
    res = _trainer(cfg).train()
    runs = list(tmp_path.rglob("offline-run-*"))
    assert len(runs) == 1 and res.step == 2
    (log,) = runs[0].glob("*.wandb")              # the run's records (protobuf)
    # wandb's service process writes the records asynchronously: on a loaded machine the file
    # may still hold only its header when finish() returns. Wait for it, bounded (60 s).
    deadline = time.monotonic() + 60
    while b"train/payoff_max" not in (data := log.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert b"train/loss" in data and b"train/payoff_max" in data
    assert repr(res.history[-1]["loss"]).encode() in data     # values are stored as JSON text


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_batched_log_probs_equal_one_sequence_at_a_time(tmp_path, arch):
    """Left-padded prompts, right-padded responses, logits for the response columns only: the
    same log-likelihoods as each (prompt, response) alone without padding."""
    model = tiny_causal_lm(TOK, seed=2, arch=arch)
    tr = SelfPlayTrainer(_cfg(tmp_path), population=CharPopulation("a", [1.0]), model=model,
                         tokenizer=TOK)
    enc = lambda t: TOK(t, add_special_tokens=False)["input_ids"]   # noqa: E731
    seqs = [(enc("a"), [*enc("xyz"), TOK.eos_token_id]), (enc("abcab"), enc("b")),
            (enc("cc"), enc("ax yz a"))]
    m = tr.unwrapped.eval()
    with torch.no_grad():
        got = tr._token_logps(m, tr._rows(seqs))
        for i, (p, r) in enumerate(seqs):
            logits = m(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1:-1]
            want = torch.log_softmax(logits, -1).gather(-1, torch.tensor(r)[:, None])[:, 0]
            torch.testing.assert_close(got[i, :len(r)], want, atol=1e-5, rtol=0)
            assert torch.all(got[i, len(r):] == 0)                  # padding contributes 0
