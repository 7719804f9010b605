"""The pieces ``SelfPlayTrainer.__init__`` is built from, each checking its part before any
training: prompts, the model and tokenizer (with its warm start merged in), the accelerator
(process layout, FSDP2 / DeepSpeed settings), and the trainable model with its optimiser (LoRA or
a frozen reference copy).

References: STYLE.md rule 7.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from ualign.llm.generate import load_causal_lm
from ualign.train.config import SelfPlayConfig
from ualign.train.tiny import is_tiny_spec, tiny_from_spec

__all__ = ["apply_warm_start", "load_model", "make_accelerator", "prepare_model",
           "read_prompts"]


def read_prompts(prompts, name: str = "prompts") -> list[str]:
    """A list of prompts from a list, a .txt file (one per line) or a .jsonl file."""
    if isinstance(prompts, str | os.PathLike):
        p = Path(prompts)
        if not p.is_file():
            raise FileNotFoundError(f"{name} file {str(p)!r} does not exist")
        if p.suffix == ".jsonl":
            out = []
            for i, line in enumerate(p.read_text().splitlines()):
                if line.strip():
                    obj = json.loads(line)
                    if "prompt" not in obj:
                        raise ValueError(f"{name} file {str(p)!r} line {i + 1} has no 'prompt'")
                    out.append(str(obj["prompt"]))
            return out
        return [ln for ln in p.read_text().splitlines() if ln.strip()]
    out = list(prompts or [])
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise ValueError(f"{name} must be strings, got {type(s).__name__} at position {i}")
    return out


def _has_gpu() -> bool:
    import torch

    xpu = getattr(torch, "xpu", None)
    return torch.cuda.is_available() or bool(xpu is not None and xpu.is_available())


def load_model(config: SelfPlayConfig):
    """Load ``(model, tokenizer)`` from ``config.model`` with the loader shared with
    :mod:`ualign.llm` (:func:`ualign.llm.generate.load_causal_lm`): a local directory, a hub id,
    a ``.gguf`` path, a directory with a GGUF file (``config.gguf_file``), or ``"smollm2"``;
    ``"tiny"`` / ``"tiny:key=value,..."`` builds a tiny random LM in memory
    (:func:`ualign.train.tiny.tiny_from_spec`, seeded by ``config.seed``).

    Raises ``FileNotFoundError`` with the path when the model cannot be found."""
    if not config.model:
        raise ValueError("model is required: a local directory, a hub id, a directory with "
                         "a .gguf file, 'smollm2' or 'tiny' (config field `model`)")
    if is_tiny_spec(config.model):
        return tiny_from_spec(config.model, seed=config.seed)
    return load_causal_lm(config.model, gguf_file=config.gguf_file, tokenizer=config.tokenizer,
                          dtype=config.dtype)


def apply_warm_start(model, adapter_dir):
    """``model`` with the PEFT adapter in ``adapter_dir`` (a warm start, e.g. from
    :func:`ualign.train.sft.sft_warm_start`) merged into its weights: ``W + (α/r) B A`` per adapted
    layer. The merged model is the run's starting point and its reference policy (the self-play
    LoRA is added on top and disabled for the reference; full fine-tuning copies it).

    Raises ``FileNotFoundError`` naming the folder when it holds no ``adapter_config.json``."""
    from peft import PeftModel

    d = Path(adapter_dir)
    if not (d / "adapter_config.json").is_file():
        raise FileNotFoundError(f"warm_start {str(d)!r} holds no PEFT adapter "
                                f"(adapter_config.json); write one with "
                                f"ualign.train.sft_warm_start")
    return PeftModel.from_pretrained(model, str(d)).merge_and_unload()


def make_accelerator(c: SelfPlayConfig, accelerator=None):
    """``accelerator`` (or one made for this launch), checked against the launch.

    Made here: several processes and no GPU need ``cpu=True`` for gloo (accelerate 1.15),
    otherwise every process trains alone (rank 0 of 1). Checks: accelerate sees ``WORLD_SIZE``
    processes, FSDP is version 2, ``prompts_per_step`` divides over the processes; DeepSpeed's
    ``auto`` micro-batch size is set to 1.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    acc = accelerator if accelerator is not None else _new_accelerator(c, world)
    if acc.num_processes != world:
        raise ValueError(f"launched as {world} processes (WORLD_SIZE) but accelerate runs "
                         f"{acc.num_processes}: each process would train alone (on a "
                         f"machine without GPUs set device: cpu)")
    from accelerate.utils import DistributedType

    if acc.distributed_type == DistributedType.FSDP and not acc.is_fsdp2:
        # FSDP1 flattens and shards the parameters of the unwrapped module, on which the
        # trainer calls generate and the candidate policy ('weight' must be 2-D).
        raise ValueError("FSDP1 is not supported: set fsdp_version: 2 in the accelerate "
                         "config (FSDP2 gathers the shards in every forward, generate too)")
    if acc.state.deepspeed_plugin is not None:
        # no dataloader goes through prepare(), so accelerate cannot fill DeepSpeed's "auto"
        # micro-batch size and raises; one micro-batch per optimiser step is what runs here
        ds = acc.state.deepspeed_plugin.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            ds["train_micro_batch_size_per_gpu"] = 1
    W = acc.num_processes
    if c.prompts_per_step % W:
        raise ValueError(f"prompts_per_step ({c.prompts_per_step}) must be divisible by "
                         f"the number of processes ({W}): a prompt's group of G samples is "
                         f"never split across processes")
    return acc


def _new_accelerator(c: SelfPlayConfig, world: int):
    from accelerate import Accelerator

    cpu = c.device == "cpu" or (c.device is None and world > 1 and not _has_gpu())
    if cpu and world > 1 and any(os.environ.get(f"ACCELERATE_USE_{x}", "").lower()
                                 == "true" for x in ("FSDP", "DEEPSPEED")):
        warnings.warn("accelerate applies FSDP / DeepSpeed only on GPUs: on CPU this "
                      "run is plain DDP (gloo)", stacklevel=4)
    log_with = None if c.report_to == "none" else c.report_to
    return Accelerator(log_with=log_with, project_dir=c.output_dir, cpu=cpu)


def prepare_model(c: SelfPlayConfig, model, acc):
    """``(model, optimizer, reference)``: LoRA adapters (``lora``) or a frozen reference copy
    (full fine-tuning with the anchor ``kl_coef > 0``; else ``reference`` is None), AdamW over the
    trainable parameters, both through ``accelerator.prepare``. ``c`` is resolved
    (:meth:`SelfPlayConfig.resolved`)."""
    import torch

    reference = None
    if c.lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(c.seed)
        model = get_peft_model(model, LoraConfig(
            r=c.lora_r, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
            target_modules=list(c.lora_target_modules), task_type="CAUSAL_LM"))
    elif c.kl_coef:                     # resolved: a float
        import copy

        reference = copy.deepcopy(model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=c.learning_rate, weight_decay=c.weight_decay)
    model, opt = acc.prepare(model, opt)
    if reference is not None:
        reference = reference.to(acc.device)
    return model, opt, reference
