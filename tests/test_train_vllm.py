"""generation_backend='vllm': adapter sync and sampling through a vLLM-compatible server.

The server is a stub on 127.0.0.1 (tests/vllm_stub.py) that samples with a real model and the
adapters it was sent, seeded like the trainer's own generate path: a run through it must equal a
run without it, step by step, which only holds if every step's adapters reached the server.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

import torch

from ualign.llm.generate import EndpointError
from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.tiny import char_tokenizer, tiny_causal_lm
from ualign.train.vllm_server import VLLMServerClient, adapter_name

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation
from localserver import serve
from vllm_stub import StubVLLM

TOK = char_tokenizer("abcxyz ")


def _cfg(tmp_path, **kw):
    base = dict(prompts=["a", "b", "c"], k=2, group_size=4, prompts_per_step=3, max_steps=3,
                max_new_tokens=6, output_dir=str(tmp_path / "run"), progress_bar=False,
                learning_rate=2e-2, updates_per_step=2, seed=5, torch_threads=1, lora=True,
                lora_r=4)
    base.update(kw)
    return SelfPlayConfig(**base)


def _run(cfg):
    tr = SelfPlayTrainer(cfg, population=CharPopulation("ab", [0.6, 0.4]),
                         model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    texts = []
    orig = tr.score

    def score(batch):                      # record what each step sampled
        texts.append([list(t) for t in batch.texts])
        orig(batch)

    tr.score = score
    res = tr.train()
    params = {n: p.detach().clone() for n, p in tr.unwrapped.named_parameters()
              if p.requires_grad}
    return tr, res, texts, params


def test_vllm_backend_reproduces_the_transformers_backend(tmp_path):
    _, ref_res, ref_texts, ref_params = _run(_cfg(tmp_path / "hf"))
    stub = StubVLLM(tiny_causal_lm(TOK, seed=1), TOK)
    with serve(stub.handler()) as url:
        cfg = _cfg(tmp_path / "vllm", generation_backend="vllm", vllm_url=url)
        tr, res, texts, params = _run(cfg)
    assert texts == ref_texts
    # the adapters changed the samples: a server stuck on step 0's adapters would differ
    assert ref_texts[2] != ref_texts[0]
    assert [h["loss"] for h in res.history] == pytest.approx(
        [h["loss"] for h in ref_res.history], abs=1e-6)
    for n, p in ref_params.items():
        torch.testing.assert_close(params[n], p, atol=1e-6, rtol=0)
    d = tr._vllm_dir
    names = [adapter_name(d, s) for s in range(3)]
    assert [e for e in stub.log if e[0] != "complete"] == [
        ("load", names[0]), ("load", names[1]), ("unload", names[0]),
        ("load", names[2]), ("unload", names[1])]
    assert sorted(p.name for p in d.iterdir()) == ["step-2"]     # old adapter folders deleted


def test_sync_every_two_steps_samples_from_the_synced_adapters(tmp_path):
    stub = StubVLLM(tiny_causal_lm(TOK, seed=1), TOK)
    with serve(stub.handler()) as url:
        cfg = _cfg(tmp_path, generation_backend="vllm", vllm_url=url, vllm_sync_steps=2,
                   max_steps=4)
        tr, res, _, _ = _run(cfg)
    d = tr._vllm_dir
    loads = [name for kind, name in stub.log if kind == "load"]
    assert loads == [adapter_name(d, 0), adapter_name(d, 2)]
    served = [name for kind, name in stub.log if kind == "complete"]
    assert served == [adapter_name(d, s) for s in (0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2)]
    assert res.step == 4


def test_server_without_token_ids_falls_back_to_retokenising(tmp_path):
    ref_texts = _run(_cfg(tmp_path / "hf", max_steps=2))[2]
    stub = StubVLLM(tiny_causal_lm(TOK, seed=1), TOK, token_ids=False)
    with serve(stub.handler()) as url:
        cfg = _cfg(tmp_path / "vllm", generation_backend="vllm", vllm_url=url, max_steps=2)
        with pytest.warns(UserWarning, match="re-tokenising"):
            _, res, texts, _ = _run(cfg)
    # step 0 samples from the same adapters, so the texts agree; the token ids may not (special
    # tokens sampled inside a response vanish from the text), which is what the warning says
    assert texts[0] == ref_texts[0]
    assert res.step == 2 and all(np.isfinite(h["loss"]) for h in res.history)


def test_resume_re_registers_an_adapter_name_left_on_the_server(tmp_path):
    stub = StubVLLM(tiny_causal_lm(TOK, seed=1), TOK)
    with serve(stub.handler()) as url:
        client = VLLMServerClient(url)
        model = tiny_causal_lm(TOK, seed=1)
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))
        client.sync_adapter(model, tmp_path, 3)
        fresh = VLLMServerClient(url)              # a resumed run: same name, new client
        name = fresh.sync_adapter(model, tmp_path, 3)
    assert name == adapter_name(tmp_path, 3)
    assert stub.log == [("load", name), ("unload", name), ("load", name)]


def test_bad_vllm_settings_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="needs vllm_url"):
        _cfg(tmp_path, generation_backend="vllm")
    with pytest.raises(ValueError, match="needs lora=True"):
        _cfg(tmp_path, generation_backend="vllm", vllm_url="http://127.0.0.1:1", lora=False)
    with pytest.raises(ValueError, match="for free text"):
        _cfg(tmp_path, generation_backend="vllm", vllm_url="http://127.0.0.1:1",
             candidates=["ab", "ba"])
    with pytest.raises(ValueError, match="vllm_sync_steps must be an integer >= 1"):
        _cfg(tmp_path, generation_backend="vllm", vllm_url="http://x", vllm_sync_steps=0)
    # nothing listens on the port: the trainer refuses to start
    with serve(StubVLLM(tiny_causal_lm(TOK), TOK).handler()) as url:
        pass
    cfg = _cfg(tmp_path, generation_backend="vllm", vllm_url=url, vllm_timeout=5)
    with pytest.raises(EndpointError, match="cannot reach endpoint"):
        SelfPlayTrainer(cfg, population=CharPopulation("a", [1.0]),
                        model=tiny_causal_lm(TOK), tokenizer=TOK)
    # a server without runtime LoRA: the first step says how to start it
    stub = StubVLLM(tiny_causal_lm(TOK, seed=1), TOK, lora=False)
    with serve(stub.handler()) as url:
        tr = SelfPlayTrainer(cfg.replace(vllm_url=url), population=CharPopulation("a", [1.0]),
                             model=tiny_causal_lm(TOK), tokenizer=TOK)
        with pytest.raises(EndpointError, match=r"--enable-lora.*VLLM_ALLOW_RUNTIME_LORA"):
            tr.train()
    assert not list((tmp_path / "run").glob("checkpoint-*"))
