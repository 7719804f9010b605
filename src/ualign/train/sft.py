"""Warm start: supervised fine-tuning on a few example answers before self-play, with TRL's
``SFTTrainer`` (LoRA), saved as a PEFT adapter that ``SelfPlayConfig.warm_start`` merges in.

Why: self-play can only move probability between responses the policy samples. A kind of answer
the model never writes at the start is never scored, so no estimate of its payoff can bring it
in (the lock-in of docs/train.md, "Collapse benchmark"). A few example answers of every kind,
learnt by supervised fine-tuning, make every kind sampled from the first step; the fine-tuned
model is then the reference policy of every self-play arm (the anchor ``kl_coef`` pulls towards
it, and the arms start from it).

The loss is TRL's: the negative log-likelihood of each completion's tokens given its prompt
(``completion_only_loss``), with the chat template applied as the self-play trainer applies it
(``chat_template=True``: the prompt is a user turn, the completion the assistant's answer).

References: TRL ``SFTTrainer`` (prompt-completion datasets); THEORY.md §8.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SFTResult", "read_examples", "sft_warm_start"]


@dataclasses.dataclass(frozen=True)
class SFTResult:
    """What :func:`sft_warm_start` did.

    Attributes:
      adapter_dir: the folder holding the PEFT adapter (``SelfPlayConfig.warm_start``).
      losses: the training loss at each logged step (TRL's mean token NLL of the batch).
      steps: optimiser steps taken.
      seconds: wall time of the training.
    """

    adapter_dir: str
    losses: tuple[float, ...]
    steps: int
    seconds: float


def read_examples(examples) -> list[dict[str, str]]:
    """``[{"prompt": str, "completion": str}, ...]`` from a list of such mappings or of
    ``(prompt, completion)`` pairs, or a ``.jsonl`` file of ``{"prompt", "completion"}`` objects.
    ``ValueError`` naming the position (or file and line) of a bad entry."""
    where = None
    if isinstance(examples, str | Path):
        path = Path(examples)
        if not path.is_file():
            raise FileNotFoundError(f"examples file {str(path)!r} does not exist")
        items, lines = [], []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{i}: not JSON ({e.msg})") from None
                lines.append(i)
        where = [f"{path}:{i}" for i in lines]
    else:
        items = list(examples)
    out = []
    for j, it in enumerate(items):
        at = where[j] if where else f"examples[{j}]"
        if isinstance(it, Mapping):
            p, c = it.get("prompt"), it.get("completion")
        elif isinstance(it, Sequence) and not isinstance(it, str) and len(it) == 2:
            p, c = it
        else:
            p = c = None
        if not (isinstance(p, str) and isinstance(c, str) and p and c):
            raise ValueError(f"{at}: an example must be a non-empty prompt and completion "
                             f"({{'prompt': ..., 'completion': ...}} or a pair), got {it!r}")
        out.append({"prompt": p, "completion": c})
    if not out:
        raise ValueError("examples must hold at least one (prompt, completion) pair")
    return out


def _dataset(examples: list[dict[str, str]], chat_template: bool):
    from datasets import Dataset

    rows: list[dict[str, Any]]
    if chat_template:
        rows = [{"prompt": [{"role": "user", "content": e["prompt"]}],
                 "completion": [{"role": "assistant", "content": e["completion"]}]}
                for e in examples]
    else:
        rows = list(examples)
    return Dataset.from_list(rows)


def sft_warm_start(model, tokenizer, examples, output_dir, *, chat_template: bool = True,
                   lora_r: int = 16, lora_alpha: int = 32,
                   lora_target_modules: Sequence[str] = ("q_proj", "v_proj"),
                   learning_rate: float = 1e-3, epochs: float = 3.0, batch_size: int = 8,
                   max_steps: int = -1, seed: int = 0) -> SFTResult:
    """Fine-tune LoRA adapters on ``examples`` with TRL's ``SFTTrainer`` and save them to
    ``output_dir`` (a folder for ``SelfPlayConfig.warm_start``).

    Minimises ``−mean over completion tokens of log p_θ(token | prompt, earlier tokens)`` (TRL's
    completion-only NLL) with AdamW at a constant ``learning_rate``.

    Args:
      model: the causal LM to warm-start. The adapters are removed again afterwards
        (``unload``), so ``model`` is returned to its own weights.
      tokenizer: its tokenizer.
      examples: see :func:`read_examples`.
      output_dir: where the adapter is written (``adapter_config.json`` + weights).
      chat_template: prompt as a user turn and completion as the assistant's, through the
        tokenizer's chat template (as ``SelfPlayConfig.chat_template``); else plain text with
        EOS appended to the completion.
      lora_r: the adapters' rank.
      lora_alpha: their scale.
      lora_target_modules: the modules that get adapters.
      learning_rate: AdamW's constant learning rate.
      epochs: passes over ``examples``.
      batch_size: examples per optimisation step.
      max_steps: optimisation steps when > 0 (then overrides ``epochs``).
      seed: seeds the adapters' initialisation and the batch order.

    Returns: :class:`SFTResult`.
    """
    import torch
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    rows = read_examples(examples)
    out = Path(output_dir)
    if getattr(model, "hf_quantizer", None) is not None:
        # a GGUF checkpoint is dequantised to float on load, but transformers still flags the
        # model as quantized and TRL then prepares it for k-bit training; the weights are plain
        # float tensors, so clear the flag (as benchmarks/bench_train.py does for TRL)
        model.hf_quantizer = None
        model.is_quantized = False
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    args = SFTConfig(
        output_dir=str(out / "_trl"), per_device_train_batch_size=batch_size,
        num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
        lr_scheduler_type="constant", warmup_steps=0, logging_steps=1, save_strategy="no",
        report_to="none", seed=seed, data_seed=seed, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True, completion_only_loss=True, bf16=False, fp16=False,
        dataloader_num_workers=0)
    peft = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.0,
                      target_modules=list(lora_target_modules), task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=_dataset(rows, chat_template),
                         processing_class=tokenizer, peft_config=peft)
    trainer.remove_callback(PrinterCallback)  # losses are returned, not printed
    t0 = time.perf_counter()
    state = trainer.train()
    seconds = time.perf_counter() - t0
    peft_model: Any = trainer.model         # the PeftModel SFTTrainer wrapped around `model`
    peft_model.save_pretrained(str(out))
    losses = tuple(float(h["loss"]) for h in trainer.state.log_history if "loss" in h)
    peft_model.unload()                     # the caller's model without the adapters again
    return SFTResult(str(out), losses, int(state.global_step), seconds)
