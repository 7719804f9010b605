"""Warm start (issue 24): supervised fine-tuning with TRL's SFTTrainer on example answers, saved
as an adapter that SelfPlayConfig.warm_start merges in; the warm-started model is the reference
policy of the self-play run."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("trl")

import torch

from ualign.train import SelfPlayConfig, SelfPlayTrainer, sft_warm_start
from ualign.train.builders import apply_warm_start
from ualign.train.sft import read_examples
from ualign.train.tiny import char_tokenizer, tiny_causal_lm

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation

torch.set_num_threads(1)
TOK = char_tokenizer("abcxyz ")
EXAMPLES = [("a", "xyz"), ("b", "zyx")] * 4


def _seq_logp(model, prompt, completion):
    ids = TOK(prompt + completion, add_special_tokens=False)["input_ids"] + [TOK.eos_token_id]
    n = len(TOK(prompt, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        lp = model(torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
    tgt = torch.tensor(ids[1:])
    return float(lp[torch.arange(len(tgt)), tgt][n - 1:].sum())


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    d = tmp_path_factory.mktemp("sft")
    model = tiny_causal_lm(TOK, seed=1)
    before = _seq_logp(model, "a", "xyz")
    res = sft_warm_start(model, TOK, EXAMPLES, d / "adapter", chat_template=False, lora_r=4,
                         lora_alpha=8, learning_rate=3e-2, max_steps=20, batch_size=4, seed=0)
    # the caller's model is given back without the adapters
    assert _seq_logp(model, "a", "xyz") == before
    return res, before


def test_sft_learns_the_examples_and_saves_an_adapter(adapter):
    res, before = adapter
    assert res.steps == 20 and len(res.losses) == 20
    assert res.losses[-1] < res.losses[0]
    assert (Path(res.adapter_dir) / "adapter_config.json").is_file()
    merged = apply_warm_start(tiny_causal_lm(TOK, seed=1), res.adapter_dir)
    assert _seq_logp(merged, "a", "xyz") > before + 1.0       # the example is now likelier


def test_warm_start_is_the_reference_of_the_self_play_run(adapter, tmp_path):
    """With LoRA the reference is the warm-started model (self-play adapters disabled), and the
    run starts there; both equal the merged SFT model."""
    res, _ = adapter
    cfg = SelfPlayConfig(prompts=["a", "b"], k=2, group_size=4, prompts_per_step=2,
                         max_steps=1, max_new_tokens=4, output_dir=str(tmp_path),
                         progress_bar=False, seed=3, torch_threads=1, lora=True, lora_r=4,
                         warm_start=res.adapter_dir)
    tr = SelfPlayTrainer(cfg, population=CharPopulation("ax", [0.5, 0.5]),
                         model=tiny_causal_lm(TOK, seed=1), tokenizer=TOK)
    merged = apply_warm_start(tiny_causal_lm(TOK, seed=1), res.adapter_dir)
    want = _seq_logp(merged, "a", "xyz")
    assert _seq_logp(tr.unwrapped, "a", "xyz") == pytest.approx(want, abs=1e-5)
    tr.train()
    with tr.unwrapped.disable_adapter():
        assert _seq_logp(tr.unwrapped, "a", "xyz") == pytest.approx(want, abs=1e-5)
    assert tr.history[-1]["kl"] >= 0


def test_bad_warm_start_and_examples_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no PEFT adapter"):
        apply_warm_start(tiny_causal_lm(TOK, seed=1), tmp_path)
    with pytest.raises(ValueError, match=r"examples\[1\]"):
        read_examples([("a", "b"), ("a", "")])
    p = tmp_path / "ex.jsonl"
    p.write_text('{"prompt": "a", "completion": "b"}\n\n{"prompt": "a"}\n')
    with pytest.raises(ValueError, match=r"ex.jsonl:3"):
        read_examples(p)
    assert read_examples([{"prompt": "p", "completion": "c"}]) == [
        {"prompt": "p", "completion": "c"}]
