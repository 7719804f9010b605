"""Self-play preference optimisation: the (k+1)-player alignment game played by a language model
against k copies of itself (U-alignment); k = 1 is NLHF / SPPO self-play.

One training step is a list of named stages (STYLE.md rule 7), each a short method:

    generate          G >= k+1 samples per prompt from the current policy π_t
    score             the population ranks each group: levels (U, G), weights (U,)
    estimate_payoffs  P̂_i = leave-one-out estimate of L(π_t, y_i) (THEORY §8); advantage
                      A_i = P̂_i - 1/(k+1), whose group mean is exactly 0
    log_probs         log π_t(y_i) (and log π_ref(y_i) for the KL term), without gradients
    loss              SPPO:  mean_i [log π_θ(y_i) - log π_t(y_i) - η A_i]^2
                      PG:    -mean_i A_i log π_θ(y_i) + kl_coef · KL(π_θ || π_ref)
                      (updates_per_step optimiser updates on the same samples)
    log               metrics to the progress bar and the trackers

In the SPPO form the minimiser is ``log π_{t+1}(y) = log π_t(y) + η (L(π_t, y) - 1/(k+1))``
(up to normalisation): Hedge on the (k+1)-player payoffs, whose averaged iterate is an
approximate symmetric equilibrium (THEORY §5).

Two policy types share the code:
- free text: samples come from ``model.generate``; ``log π(y)`` is the summed token log-likelihood;
- fixed responses (``config.candidates``): ``π(y) ∝ exp(log-likelihood of string y)`` over the n
  given strings, sampled exactly; used by the exactness experiment.

Distributed (accelerate): the prompts of a step are split in equal contiguous blocks over the
processes; a prompt's G samples always live on one process; every sample is seeded by
``(seed, step, global prompt position)``, so the samples do not depend on the number of
processes and DDP's gradient average equals the single-process mean.

References: THEORY.md §4, §5, §8.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ualign.train.config import SelfPlayConfig
from ualign.train.estimators import leave_one_out_payoffs, payoff_against_group
from ualign.train.populations import CandidatePopulation, check_population, rank_texts

__all__ = ["SelfPlayTrainer", "StepBatch", "TrainResult", "load_model", "read_prompts"]

STAGES = ("generate", "score", "estimate_payoffs", "log_probs", "loss", "log")


# ---------------------------------------------------------------------------- helpers
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


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint32)[0])


def load_model(config: SelfPlayConfig):
    """Load ``(model, tokenizer)`` from ``config.model`` (local dir, hub id, or GGUF in a dir).

    Raises ``FileNotFoundError`` with the path when the model cannot be found."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not config.model:
        raise ValueError("model is required: a local directory, a hub id, or a directory with "
                         "a .gguf file (config field `model`)")
    path = os.path.expanduser(config.model)
    looks_local = (path.startswith(("/", ".", "~")) or os.path.exists(path)
                   or path.count("/") != 1)
    if looks_local and not os.path.exists(path):
        raise FileNotFoundError(f"model path {config.model!r} does not exist")
    kw: dict[str, Any] = {}
    gguf = config.gguf_file
    if gguf == "auto":
        found = sorted(glob.glob(os.path.join(path, "**", "*.gguf"), recursive=True))
        if len(found) != 1:
            raise FileNotFoundError(f"gguf_file='auto' needs exactly one .gguf under "
                                    f"{config.model!r}, found {len(found)}")
        gguf = os.path.relpath(found[0], path)
    if gguf:
        if os.path.isdir(path) and not os.path.exists(os.path.join(path, gguf)):
            raise FileNotFoundError(f"gguf_file {gguf!r} not found in {config.model!r}")
        kw["gguf_file"] = gguf
    import torch

    dtype = getattr(torch, config.dtype) if config.dtype != "auto" else "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
        tok = AutoTokenizer.from_pretrained(config.tokenizer or path,
                                            **({} if config.tokenizer else kw))
    except OSError as e:
        raise FileNotFoundError(f"model {config.model!r} could not be loaded: {e}") from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


@dataclass
class StepBatch:
    """What flows through the stages of one step (this process's share of the prompts)."""

    step: int
    prompt_positions: list[int]            # global positions in the step (seeds)
    prompts: list[str]
    texts: list[list[str]] = field(default_factory=list)          # (P, G)
    sample_index: np.ndarray | None = None                         # (P, G) fixed-response mode
    rows: dict | None = None                                       # token rows for the loss
    levels: list[np.ndarray] = field(default_factory=list)         # P x (U, G)
    weights: list[np.ndarray] = field(default_factory=list)        # P x (U,)
    payoffs: np.ndarray | None = None                              # (P, G) P̂
    advantages: Any = None                                         # torch (P*G,)
    old_logp: Any = None                                           # torch (P*G,)
    ref_logp: Any = None                                           # torch (P*G,) or token-level
    metrics: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    step: int
    history: list[dict]
    evals: list[dict]
    output_dir: str
    seconds: float
    start_step: int = 0            # > 0 when the run resumed from a checkpoint at that step


# ---------------------------------------------------------------------------- trainer
class SelfPlayTrainer:
    """(k+1)-player self-play trainer (see the module docstring for the stages and losses).

    Args:
      config: a :class:`SelfPlayConfig`.
      population: object with ``rank(texts) -> Profile`` or ``scores(texts) -> (U, G)``
        (+ ``weights``). In fixed-response mode a :class:`ualign.Profile` over the candidates is
        accepted and wrapped in :class:`CandidatePopulation`.
      model, tokenizer: a causal LM and its tokenizer; loaded from ``config.model`` when None.
      accelerator: an ``accelerate.Accelerator``; created when None.
      callbacks: functions ``f(trainer, step, metrics)`` called after each step.

    Every check (k, G, population, model, prompts, process split) runs here, before training.
    """

    stages = STAGES

    def __init__(self, config: SelfPlayConfig, population=None, model=None, tokenizer=None,
                 accelerator=None, callbacks: Sequence[Callable] = ()):
        import torch
        from accelerate import Accelerator

        if not isinstance(config, SelfPlayConfig):
            raise ValueError(f"config must be a SelfPlayConfig, got {type(config).__name__}")
        config.validate()
        self.config = c = config
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        from ualign.core.profile import Profile

        if isinstance(population, Profile):
            if c.candidates is None:
                raise ValueError("population is a Profile, which only ranks fixed candidates: "
                                 "set config.candidates (fixed-response mode)")
            population = CandidatePopulation(population, c.candidates)
        check_population(population)
        if isinstance(population, CandidatePopulation) and c.candidates is not None:
            if list(population.candidates) != list(c.candidates):
                raise ValueError("population.candidates must equal config.candidates (same "
                                 "strings, same order)")
        self.population = population
        self.prompts = read_prompts(c.prompts)
        if not self.prompts:
            raise ValueError("prompts must hold at least one prompt (config field `prompts`)")
        self.eval_prompts = read_prompts(c.eval_prompts, "eval_prompts") or self.prompts
        if model is None:
            model, tokenizer = load_model(c)
        elif tokenizer is None:
            raise ValueError("tokenizer is required when a model object is passed")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer

        log_with = None if c.report_to == "none" else c.report_to
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if accelerator is None:
            # several processes and no GPU: accelerate (1.15) needs cpu=True for gloo, otherwise
            # every process trains alone (rank 0 of 1)
            cpu = c.device == "cpu" or (c.device is None and world > 1 and not _has_gpu())
            if cpu and world > 1 and any(os.environ.get(f"ACCELERATE_USE_{x}", "").lower()
                                         == "true" for x in ("FSDP", "DEEPSPEED")):
                warnings.warn("accelerate applies FSDP / DeepSpeed only on GPUs: on CPU this "
                              "run is plain DDP (gloo)", stacklevel=2)
            accelerator = Accelerator(log_with=log_with, project_dir=c.output_dir, cpu=cpu)
        self.accelerator = acc = accelerator
        if acc.num_processes != world:
            raise ValueError(f"launched as {world} processes (WORLD_SIZE) but accelerate runs "
                             f"{acc.num_processes}: each process would train alone (on a "
                             f"machine without GPUs set device: cpu)")
        if self._fsdp and not acc.is_fsdp2:
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
        self.vllm = None
        if c.generation_backend == "vllm":
            from ualign.train.vllm_server import VLLMServerClient

            self.vllm = VLLMServerClient(c.vllm_url, timeout=c.vllm_timeout)
            self.vllm.check()                 # unreachable server: fail before any training
            self._vllm_dir = Path(c.vllm_adapter_dir or Path(c.output_dir) / "vllm_adapters")

        self.reference = None
        if c.lora:
            from peft import LoraConfig, get_peft_model

            torch.manual_seed(c.seed)
            model = get_peft_model(model, LoraConfig(
                r=c.lora_r, lora_alpha=c.lora_alpha, lora_dropout=c.lora_dropout,
                target_modules=list(c.lora_target_modules), task_type="CAUSAL_LM"))
        elif c.loss == "pg" and c.kl_coef > 0:
            import copy

            self.reference = copy.deepcopy(model).eval()
            for p in self.reference.parameters():
                p.requires_grad_(False)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        opt = torch.optim.AdamW(params, lr=c.learning_rate, weight_decay=c.weight_decay)
        self.model, self.optimizer = acc.prepare(model, opt)
        if self.reference is not None:
            self.reference = self.reference.to(acc.device)
        self.callbacks = list(callbacks)
        self.step_count = 0
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self._vllm_step = None            # step whose adapters the vLLM server serves
        self._logits_to_keep = True       # the model accepts logits_to_keep (checked on use)

    # ------------------------------------------------------------------ small utilities
    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def _fsdp(self) -> bool:
        """Whether FSDP shards the model (its unwrapped parameters are then shards)."""
        from accelerate.utils import DistributedType

        return self.accelerator.distributed_type == DistributedType.FSDP

    @property
    def _deepspeed(self) -> bool:
        """Whether DeepSpeed runs the model (ZeRO partitions the optimiser state)."""
        from accelerate.utils import DistributedType

        return self.accelerator.distributed_type == DistributedType.DEEPSPEED

    def _full_state(self) -> tuple[dict, dict]:
        """Full model and optimiser state dicts (FQN-keyed) gathered from the FSDP shards.

        A collective: every process calls it; the tensors land on the main process's CPU
        (other processes get empty dicts)."""
        from torch.distributed.checkpoint import state_dict as dsd

        opts = dsd.StateDictOptions(full_state_dict=True, cpu_offload=True)
        return (dsd.get_model_state_dict(self.model, options=opts),
                dsd.get_optimizer_state_dict(self.model, self.optimizer.optimizer, options=opts))

    @contextlib.contextmanager
    def _unsharded_root(self):
        """Under FSDP2, the root module's own parameters (embeddings, final norm, LM head)
        gathered: ``PeftModel.generate`` calls the inner model directly, bypassing the root's
        forward hook (the decoder layers, their own FSDP units, gather in their forward)."""
        if not self._fsdp:
            yield
            return
        self.model._get_fsdp_state()._lazy_init()   # as the root (its forward would do it)
        self.model.unshard()
        try:
            yield
        finally:
            self.model.reshard()

    @property
    def fixed_responses(self) -> bool:
        return self.config.candidates is not None

    def _encode_prompt(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if self.config.chat_template and getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                          add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            ids = list(ids)
        else:
            ids = tok(prompt, add_special_tokens=True)["input_ids"]
        if not ids:
            ids = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        return list(ids)

    def _step_prompts(self, step: int) -> tuple[list[int], list[str]]:
        """This process's block of the step's prompts: (global positions, prompts)."""
        c, acc = self.config, self.accelerator
        P, n = c.prompts_per_step, len(self.prompts)
        idx = []
        for j in range(step * P, (step + 1) * P):
            epoch, r = divmod(j, n)
            perm = np.random.default_rng(_seed_for(c.seed, 1, epoch)).permutation(n)
            idx.append(int(perm[r]))
        per = P // acc.num_processes
        lo = acc.process_index * per
        pos = list(range(lo, lo + per))
        return pos, [self.prompts[idx[j]] for j in pos]

    def _rows(self, seqs: list[tuple[list[int], list[int]]]):
        """Token rows for ``(prompt, response)`` pairs: prompts left-padded to a common end,
        responses right-padded after it, so every response starts in the same column and the
        loss needs logits for the last ``R + 1`` columns only (``logits_to_keep``). Positions
        count real tokens only, as in ``generate``."""
        import torch

        P = max(len(p) for p, _ in seqs)
        R = max(1, max(len(r) for _, r in seqs))
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), P + R), pad, dtype=torch.long)
        attn = torch.zeros((len(seqs), P + R), dtype=torch.long)
        mask = torch.zeros((len(seqs), R), dtype=torch.bool)
        for i, (p, r) in enumerate(seqs):
            ids[i, P - len(p):P + len(r)] = torch.tensor(p + r)
            attn[i, P - len(p):P + len(r)] = 1
            mask[i, :len(r)] = True
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        dev = self.accelerator.device
        return {"input_ids": ids.to(dev), "attention_mask": attn.to(dev),
                "position_ids": pos.to(dev), "mask": mask.to(dev)}

    def _token_logps(self, model, rows):
        """Log-likelihoods ``(N, R)`` of the response tokens (0 where padded)."""
        import torch

        R = rows["mask"].shape[1]
        kw = {k: rows[k] for k in ("input_ids", "attention_mask", "position_ids")}
        if self._logits_to_keep:
            try:
                out = model(**kw, logits_to_keep=R + 1)
            except TypeError as e:          # a model without logits_to_keep: full logits
                if "logits_to_keep" not in str(e):
                    raise
                self._logits_to_keep = False
                out = model(**kw)
        else:
            out = model(**kw)
        logits = out.logits[:, -(R + 1):-1].float()          # the logits that predict R tokens
        tgt = rows["input_ids"][:, -R:]
        lp = logits.gather(-1, tgt[..., None])[..., 0] - torch.logsumexp(logits, dim=-1)
        return lp * rows["mask"]

    def _candidate_rows(self, prompts: list[str]):
        eos = self.tokenizer.eos_token_id
        seqs = []
        for pr in prompts:
            p = self._encode_prompt(pr)
            for cand in self.config.candidates:
                r = self.tokenizer(cand, add_special_tokens=False)["input_ids"]
                seqs.append((p, list(r) + ([eos] if eos is not None else [])))
        return self._rows(seqs)

    def _candidate_logpolicy(self, model, prompts: list[str]):
        """``log π(y | x)`` over the n candidates: ``(P, n)`` (normalised sequence likelihood)."""
        import torch

        rows = self._candidate_rows(prompts)
        seq = self._token_logps(model, rows).sum(-1).view(len(prompts), -1)
        return torch.log_softmax(seq, dim=-1)

    def policy_over_candidates(self, prompt: str | None = None) -> np.ndarray:
        """The current policy over ``config.candidates`` for one prompt, ``(n,)``."""
        import torch

        if not self.fixed_responses:
            raise ValueError("policy_over_candidates needs config.candidates")
        with torch.no_grad():
            lp = self._candidate_logpolicy(self.unwrapped, [prompt or self.prompts[0]])
        p = lp.exp()[0].double().cpu().numpy()
        return p / p.sum()

    # ------------------------------------------------------------------ stages
    def generate(self, batch: StepBatch) -> None:
        """G samples per prompt from the current policy, seeded by (seed, step, position)."""
        import torch

        c, G = self.config, self.config.group_size
        model = self.unwrapped
        model.eval()
        if self.fixed_responses:
            with torch.no_grad():
                lp = self._candidate_logpolicy(model, batch.prompts)
            probs = lp.exp().double().cpu().numpy()
            idx = np.zeros((len(batch.prompts), G), dtype=np.int64)
            for j, pos in enumerate(batch.prompt_positions):
                rng = np.random.default_rng(_seed_for(c.seed, 2, batch.step, pos))
                pj = probs[j] / probs[j].sum()
                idx[j] = rng.choice(len(pj), size=G, p=pj)
            batch.sample_index = idx
            batch.texts = [[c.candidates[i] for i in row] for row in idx]
        elif self.vllm is not None:
            self._generate_vllm(batch)
        else:
            eos = self.tokenizer.eos_token_id
            seqs = []
            for pr, pos in zip(batch.prompts, batch.prompt_positions, strict=True):
                p = self._encode_prompt(pr)
                torch.manual_seed(_seed_for(c.seed, 2, batch.step, pos))
                inp = torch.tensor([p], device=self.accelerator.device)
                with torch.no_grad(), self._unsharded_root():
                    out = model.generate(
                        input_ids=inp, attention_mask=torch.ones_like(inp), do_sample=True,
                        temperature=c.temperature, top_p=c.top_p, top_k=0,
                        max_new_tokens=c.max_new_tokens, num_return_sequences=G,
                        pad_token_id=self.tokenizer.pad_token_id)
                resp = out[:, len(p):].tolist()
                texts = []
                for r in resp:
                    if eos is not None and eos in r:
                        r = r[:r.index(eos) + 1]
                    seqs.append((p, r))
                    texts.append(self.tokenizer.decode(r, skip_special_tokens=True))
                batch.texts.append(texts)
            batch.rows = self._rows(seqs)
        model.train()

    def _generate_vllm(self, batch: StepBatch) -> None:
        """The free-text ``generate`` stage on a vLLM server (same seeds as the default)."""
        from ualign.train.vllm_server import adapter_name

        c, acc = self.config, self.accelerator
        if self._vllm_step is None or batch.step % c.vllm_sync_steps == 0:
            state = acc.get_state_dict(self.model)       # collective under FSDP / ZeRO-3
            if acc.is_main_process:
                self.vllm.sync_adapter(self.unwrapped, self._vllm_dir, batch.step, state)
            acc.wait_for_everyone()
            self._vllm_step = batch.step
        name = adapter_name(self._vllm_dir, self._vllm_step)
        prompts = [self._encode_prompt(pr) for pr in batch.prompts]
        reqs = [(p, _seed_for(c.seed, 2, batch.step, pos))
                for p, pos in zip(prompts, batch.prompt_positions, strict=True)]
        responses = self.vllm.sample_many(
            name, reqs, c.group_size, temperature=c.temperature, top_p=c.top_p,
            max_new_tokens=c.max_new_tokens, eos_token_id=self.tokenizer.eos_token_id,
            tokenizer=self.tokenizer)
        seqs = []
        for p, group in zip(prompts, responses, strict=True):
            seqs.extend((p, r) for r in group)
            batch.texts.append([self.tokenizer.decode(r, skip_special_tokens=True)
                                for r in group])
        batch.rows = self._rows(seqs)

    def score(self, batch: StepBatch) -> None:
        """The population ranks each group of G texts."""
        for pr, texts in zip(batch.prompts, batch.texts, strict=True):
            lv, w = rank_texts(self.population, texts, prompt=pr)
            batch.levels.append(lv)
            batch.weights.append(w)

    def estimate_payoffs(self, batch: StepBatch) -> None:
        """P̂_i (THEORY §8) and advantages A_i = P̂_i - 1/(k+1)."""
        import torch

        k = self.config.k
        batch.payoffs = np.stack([leave_one_out_payoffs(lv, k, w)
                                  for lv, w in zip(batch.levels, batch.weights, strict=True)])
        adv = batch.payoffs - 1.0 / (k + 1)
        batch.advantages = torch.tensor(adv.reshape(-1), dtype=torch.float32,
                                        device=self.accelerator.device)

    def _sample_logps(self, model, batch: StepBatch, grad: bool):
        """``log π(y_i)`` of the samples ``(P*G,)``, plus what the KL term needs."""
        import torch

        ctx = torch.enable_grad() if grad else torch.no_grad()
        with ctx:
            if self.fixed_responses:
                lp = self._candidate_logpolicy(model, batch.prompts)            # (P, n)
                idx = torch.as_tensor(batch.sample_index, device=lp.device)
                return lp.gather(1, idx).reshape(-1), lp
            tok = self._token_logps(model, batch.rows)                          # (N, R)
            return tok.sum(-1), tok

    def _reference_logps(self, batch: StepBatch):
        if self.config.lora:
            with self.unwrapped.disable_adapter():
                return self._sample_logps(self.unwrapped, batch, grad=False)
        return self._sample_logps(self.reference, batch, grad=False)

    def log_probs(self, batch: StepBatch) -> None:
        """log π_t(y_i) (frozen target of SPPO) and reference log-probs for the KL term."""
        if self.config.loss == "sppo":                 # the PG loss does not use log π_t
            batch.old_logp, _ = self._sample_logps(self.model, batch, grad=False)
        if self.config.loss == "pg" and self.config.kl_coef > 0:
            batch.ref_logp = self._reference_logps(batch)[1]

    def loss(self, batch: StepBatch) -> None:
        """``updates_per_step`` optimiser updates of the SPPO or PG loss."""
        import torch

        c, acc = self.config, self.accelerator
        A = batch.advantages
        for _ in range(c.updates_per_step):
            logp, extra = self._sample_logps(self.model, batch, grad=True)
            if c.loss == "sppo":
                loss = ((logp - batch.old_logp - c.eta * A) ** 2).mean()
                kl = None
            else:
                loss = -(A * logp).mean()
                kl = None
                if c.kl_coef > 0:
                    if self.fixed_responses:            # exact KL over the n candidates
                        kl = (extra.exp() * (extra - batch.ref_logp)).sum(-1).mean()
                    else:                               # per-token k3 estimator
                        mask = batch.rows["mask"]
                        d = (batch.ref_logp - extra) * mask
                        k3 = (torch.exp(d) - d - 1) * mask
                        kl = (k3.sum(-1) / mask.sum(-1).clamp(min=1)).mean()
                    loss = loss + c.kl_coef * kl
            acc.backward(loss)
            if c.max_grad_norm is not None:
                acc.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        batch.metrics["loss"] = float(loss.detach())
        if kl is not None:
            batch.metrics["kl"] = float(kl.detach())

    def log(self, batch: StepBatch) -> None:
        """Step metrics (averaged over processes) to the history and the trackers."""
        import torch

        acc = self.accelerator
        m = batch.metrics
        m["payoff_max"] = float(batch.payoffs.max(axis=1).mean())
        m["advantage_abs"] = float(np.abs(batch.payoffs - 1 / (self.config.k + 1)).mean())
        m["unique_frac"] = float(np.mean([len(set(t)) / len(t) for t in batch.texts]))
        if not self.fixed_responses:
            m["response_tokens"] = float(batch.rows["mask"].sum()) / len(batch.rows["mask"])
        keys = sorted(m)
        v = torch.tensor([m[k] for k in keys], dtype=torch.float64, device=acc.device)
        if acc.num_processes > 1:
            v = acc.reduce(v, reduction="mean")
        metrics = {k: float(x) for k, x in zip(keys, v.tolist(), strict=True)}
        metrics["step"] = batch.step + 1
        batch.metrics = metrics
        self.history.append(metrics)
        if self.config.report_to != "none" and (batch.step + 1) % self.config.logging_steps == 0:
            acc.log({f"train/{k}": x for k, x in metrics.items() if k != "step"},
                    step=batch.step + 1)

    # ------------------------------------------------------------------ step, eval, checkpoints
    def step(self, step: int) -> dict:
        """Run the named stages once; returns the step's metrics."""
        pos, prompts = self._step_prompts(step)
        batch = StepBatch(step=step, prompt_positions=pos, prompts=prompts)
        for name in self.stages:
            getattr(self, name)(batch)
        return batch.metrics

    def evaluate(self) -> dict:
        """Win rate of k policy samples against one baseline (reference) sample, an
        exploitability proxy over a candidate pool, and diversity.

        Fixed-response mode with a :class:`CandidatePopulation`: exact values from the engine
        (exploitability, robust win rate, win rate against the reference policy, entropy).
        Free text: ``M = eval_samples`` policy and baseline samples per prompt, ranked together;
        win rate = 1 - mean_b P(b picked against k policy samples) (leave-one-out over the M
        policy samples); proxy = max over the pool of that estimate - 1/(k+1).
        """
        from ualign import deviation_payoffs, exploitability, robust_win_rate

        c, k = self.config, self.config.k
        out: dict[str, float] = {"step": self.step_count}
        if self.fixed_responses and isinstance(self.population, CandidatePopulation):
            prof = self.population.profile
            vals = []
            for pr in self.eval_prompts:
                pi = self.policy_over_candidates(pr)
                ref = self._reference_policy(pr)
                L = deviation_payoffs(prof, pi, k)
                vals.append({
                    "exploitability": float(exploitability(prof, pi, k)),
                    "robust_win_rate": float(robust_win_rate(prof, pi, k).value),
                    "win_rate_vs_reference": float(1 - ref @ L),
                    "entropy": float(-(pi * np.log(np.clip(pi, 1e-300, None))).sum())})
            for key in vals[0]:
                out[key] = float(np.mean([v[key] for v in vals]))
        else:
            M = max(c.eval_samples, k + 1)
            wr, prox, div, d2 = [], [], [], []
            for j, pr in enumerate(self.eval_prompts):
                pol = self._sample_texts(self.unwrapped, pr, M, _seed_for(c.seed, 3, j))
                base = self._sample_texts(None, pr, M, _seed_for(c.seed, 4, j))
                lv, w = rank_texts(self.population, pol + base, prompt=pr)
                group = np.zeros(2 * M, dtype=bool)
                group[:M] = True
                L = payoff_against_group(lv, group, k, w)
                wr.append(1 - L[M:].mean())
                prox.append(L.max() - 1 / (k + 1))
                div.append(len(set(pol)) / M)
                d2.append(_distinct_n(pol, 2))
            out.update(win_rate_vs_base=float(np.mean(wr)),
                       exploitability_proxy=float(np.mean(prox)),
                       unique_frac=float(np.mean(div)), distinct_2=float(np.mean(d2)))
        self.evals.append(out)
        if c.report_to != "none":
            self.accelerator.log({f"eval/{k_}": v for k_, v in out.items() if k_ != "step"},
                                 step=self.step_count)
        return out

    def _reference_policy(self, prompt: str) -> np.ndarray:
        import torch

        with torch.no_grad():
            if self.config.lora:
                with self.unwrapped.disable_adapter():
                    lp = self._candidate_logpolicy(self.unwrapped, [prompt])
            elif self.reference is not None:
                lp = self._candidate_logpolicy(self.reference, [prompt])
            else:
                ref = getattr(self, "_initial_policy", {}).get(prompt)
                return ref if ref is not None else self.policy_over_candidates(prompt)
        p = lp.exp()[0].double().cpu().numpy()
        return p / p.sum()

    def _sample_texts(self, model, prompt: str, M: int, seed: int) -> list[str]:
        """M free-text samples; ``model=None`` samples the reference (base) policy."""
        import torch

        c = self.config
        p = self._encode_prompt(prompt)
        torch.manual_seed(seed)
        inp = torch.tensor([p], device=self.accelerator.device)
        kw = dict(input_ids=inp, attention_mask=torch.ones_like(inp), do_sample=True,
                  temperature=c.temperature, top_p=c.top_p, top_k=0,
                  max_new_tokens=c.max_new_tokens, num_return_sequences=M,
                  pad_token_id=self.tokenizer.pad_token_id)
        with torch.no_grad(), self._unsharded_root():
            if model is None and c.lora:
                with self.unwrapped.disable_adapter():
                    out = self.unwrapped.generate(**kw)
            elif model is None:
                ref = self.reference if self.reference is not None else self._base_model()
                out = ref.generate(**kw)
            else:
                out = model.generate(**kw)
        return self.tokenizer.batch_decode(out[:, len(p):], skip_special_tokens=True)

    def _base_model(self):
        if getattr(self, "_base", None) is None:
            import copy

            initial = getattr(self, "_initial_state", None)
            if initial is None:
                raise ValueError("no baseline model: use lora=True, kl_coef > 0, or evaluate "
                                 "after train() has recorded the initial weights")
            base = copy.deepcopy(self.unwrapped).eval()
            base.load_state_dict(initial)
            self._base = base
        return self._base

    def _checkpoint_dirs(self) -> list[Path]:
        d = Path(self.config.output_dir)
        found = [p for p in d.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)
                 and (p / "trainer_state.pt").is_file()]
        return sorted(found, key=lambda p: int(p.name.split("-")[1]))

    def save_checkpoint(self) -> Path | None:
        """Trainable weights, optimiser state and step into ``output_dir/checkpoint-<step>``."""
        import torch

        acc = self.accelerator
        acc.wait_for_everyone()
        path = Path(self.config.output_dir) / f"checkpoint-{self.step_count}"
        # under FSDP the unwrapped parameters and the optimiser state are per-process shards:
        # every process gathers the full state dicts, the main process writes them
        full = self._full_state() if self._fsdp else None
        if self._deepspeed:
            # ZeRO partitions the optimiser state: every process writes its part (DeepSpeed's
            # own checkpoint format), before trainer_state.pt marks the checkpoint complete
            self.model.save_checkpoint(str(path / "deepspeed"), tag="state")
            acc.wait_for_everyone()
        if acc.is_main_process:
            path.mkdir(parents=True, exist_ok=True)
            model = self.unwrapped
            if self._deepspeed:
                trainable = {n: p.detach().cpu().clone() for n, p in model.named_parameters()
                             if p.requires_grad}
                optim = {"optimizer_deepspeed": "deepspeed/state"}
            elif full is None:
                trainable = {n: p.detach().cpu().clone() for n, p in model.named_parameters()
                             if p.requires_grad}
                optim = {"optimizer": self.optimizer.state_dict()}
            else:
                trainable = {n: full[0][n] for n, p in model.named_parameters()
                             if p.requires_grad}
                optim = {"optimizer_full": full[1]}      # FQN-keyed, independent of sharding
            state = {"step": self.step_count, "trainable": trainable, **optim,
                     "history": self.history, "evals": self.evals}
            if getattr(self, "_initial_state", None) is not None:
                state["initial_state"] = self._initial_state
            torch.save(state, path / "trainer_state.pt.tmp")
            os.replace(path / "trainer_state.pt.tmp", path / "trainer_state.pt")
            (path / "config.json").write_text(self.config.to_json())
            lim = self.config.save_total_limit
            if lim is not None:
                for old in self._checkpoint_dirs()[:-lim]:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return path

    def load_checkpoint(self, path: str | Path | None = None) -> int:
        """Restore from ``path`` (or the latest checkpoint in output_dir); returns the step."""
        import torch

        if path is None:
            found = self._checkpoint_dirs()
            if not found:
                return 0
            path = found[-1]
        path = Path(path)
        if not (path / "trainer_state.pt").is_file():
            raise FileNotFoundError(f"no checkpoint at {str(path)!r} (missing trainer_state.pt)")
        state = torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=False)
        named = dict(self.unwrapped.named_parameters())
        for n in state["trainable"]:
            if n not in named:
                raise ValueError(f"checkpoint parameter {n!r} is not in the model")
        if ("optimizer_deepspeed" in state) != self._deepspeed:
            where = "with" if "optimizer_deepspeed" in state else "without"
            raise ValueError(f"checkpoint {str(path)!r} was written {where} DeepSpeed; resume it "
                             f"the same way (its optimiser state is in that format)")
        if self._deepspeed:                  # DeepSpeed's checkpoint: weights + partitioned state
            self.model.load_checkpoint(str(path / "deepspeed"), tag="state",
                                       load_optimizer_states=True,
                                       load_lr_scheduler_states=False)
        elif "optimizer_full" in state:      # full state dicts (written under FSDP): re-shard
            from torch.distributed.checkpoint import state_dict as dsd

            opts = dsd.StateDictOptions(full_state_dict=True, strict=False)
            dsd.set_model_state_dict(self.model, state["trainable"], options=opts)
            dsd.set_optimizer_state_dict(self.model, self.optimizer.optimizer,
                                         state["optimizer_full"], options=opts)
        elif self._fsdp:
            raise ValueError(f"checkpoint {str(path)!r} was written without FSDP and cannot be "
                             f"resumed under FSDP")
        else:
            with torch.no_grad():
                for n, t in state["trainable"].items():
                    named[n].copy_(t.to(named[n].device))
            self.optimizer.load_state_dict(state["optimizer"])
        self.step_count = int(state["step"])
        self.history = list(state["history"])
        self.evals = list(state["evals"])
        if "initial_state" in state:
            self._initial_state = state["initial_state"]
        return self.step_count

    # ------------------------------------------------------------------ driver
    def train(self) -> TrainResult:
        """Run (or resume) ``max_steps`` steps with periodic eval and checkpoints."""
        from tqdm.auto import tqdm

        c, acc = self.config, self.accelerator
        t0 = time.perf_counter()
        if c.resume_from_checkpoint:
            self.load_checkpoint(None if c.resume_from_checkpoint is True
                                 else c.resume_from_checkpoint)
            if self.step_count and acc.is_main_process and c.progress_bar:
                print(f"resuming at step {self.step_count} of {c.max_steps} from "
                      f"{c.output_dir}", file=sys.stderr, flush=True)
        start_step = self.step_count
        # (not under FSDP: the unwrapped state dict holds shards, no usable baseline copy)
        if self.step_count == 0 and self.reference is None and not c.lora and not self._fsdp:
            self._initial_state = {n: t.detach().cpu().clone()
                                   for n, t in self.unwrapped.state_dict().items()}
        if self.fixed_responses and self.step_count == 0:
            self._initial_policy = {p: self.policy_over_candidates(p) for p in self.eval_prompts}
        if acc.is_main_process:
            Path(c.output_dir).mkdir(parents=True, exist_ok=True)
            (Path(c.output_dir) / "config.json").write_text(c.to_json())
        if c.report_to != "none":
            acc.init_trackers(c.run_name or "selfplay",
                              config={k: (v if isinstance(v, int | float | str | bool) else
                                          str(v)) for k, v in c.to_dict().items()})
        bar = tqdm(total=c.max_steps, initial=self.step_count, desc=f"self-play k={c.k}",
                   disable=not (c.progress_bar and acc.is_main_process))
        try:
            while self.step_count < c.max_steps:
                metrics = self.step(self.step_count)
                self.step_count += 1
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4g}",
                                uniq=f"{metrics['unique_frac']:.2f}")
                if c.eval_steps and self.step_count % c.eval_steps == 0:
                    self.evaluate()
                if c.save_steps and self.step_count % c.save_steps == 0:
                    self.save_checkpoint()
                for cb in self.callbacks:
                    cb(self, self.step_count, metrics)
            if not c.save_steps or self.step_count % c.save_steps:
                self.save_checkpoint()
        finally:
            bar.close()
            if c.report_to != "none":
                acc.end_training()
        return TrainResult(self.step_count, self.history, self.evals, c.output_dir,
                           time.perf_counter() - t0, start_step)

    def save_model(self, path: str | Path | None = None) -> Path:
        """``save_pretrained`` of the (unwrapped) model and tokenizer (adapters only for LoRA)."""
        path = Path(path or Path(self.config.output_dir) / "final")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self.unwrapped.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        return path


def _distinct_n(texts: list[str], n: int) -> float:
    grams, total = set(), 0
    for t in texts:
        w = t.split()
        g = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
        grams.update(g)
        total += len(g)
    return len(grams) / total if total else 0.0
