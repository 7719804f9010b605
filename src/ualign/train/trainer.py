"""Self-play preference optimisation: the (k+1)-player alignment game played by a language model
against k copies of itself (U-alignment); k = 1 is NLHF / SPPO self-play.

One training step is a list of named stages (STYLE.md rule 7), each a short method:

    generate          G >= k+1 samples per prompt from the current policy π_t
    score             the population ranks each group: levels (U, G), weights (U,)
    estimate_payoffs  P̂_i = leave-one-out estimate of L(π_t, y_i) (THEORY §8); advantage
                      A_i = P̂_i - 1/(k+1), whose group mean is exactly 0; display="distinct":
                      the k draws shown deduplicated (THEORY §9), A_i = P̂_i - group mean
    log_probs         log π_t(y_i) (and log π_ref(y_i) for the anchor), without gradients
    loss              SPPO:  mean_i [log π_θ(y_i) - log π_t(y_i) - η A_i]^2; with the anchor
                             τ = kl_coef > 0 the target is the mirror-descent step
                             log π_t + η(A_i - τ r̃_i)/(1+ητ), r̃ the centred log π_t/π_ref
                      PG:    -mean_i A_i log π_θ(y_i) + τ · KL(π_θ || π_ref)
                      (updates_per_step optimiser updates on the same samples)
    log               metrics to the progress bar and the trackers

In the SPPO form the minimiser is ``log π_{t+1}(y) = log π_t(y) + η (L(π_t, y) - 1/(k+1))``
(up to normalisation): Hedge on the (k+1)-player payoffs, whose averaged iterate is an
approximate symmetric equilibrium (THEORY §5). With the anchor (``kl_coef`` = τ > 0, on by
default for free text) it is magnetic mirror descent on the τ-regularised game, whose fixed point
is ``π_τ(y) ∝ π_ref(y) exp(L(π_τ, y)/τ)``: no response the reference samples is ever dropped.

The policy is the model's next-token distribution tempered and truncated by ``temperature``,
``top_k``, ``top_p``, identically when sampling and when computing log-probabilities.

The trainer is split along its two axes, each chosen once in ``__init__``:
- the policy type (:mod:`ualign.train.policies`): free text, or fixed responses
  (``config.candidates``: the model's normalised likelihood over n strings, sampled exactly;
  used by the exactness experiment);
- how the model is run and checkpointed (:mod:`ualign.train.checkpoint`): one process / DDP,
  FSDP2, DeepSpeed.
The losses are pure tensor functions in :mod:`ualign.train.losses`.

Distributed (accelerate): the prompts of a step are split in equal contiguous blocks over the
processes; a prompt's G samples always live on one process; every sample is seeded by
``(seed, step, global prompt position)``, so the samples do not depend on the number of
processes and DDP's gradient average equals the single-process mean.

References: THEORY.md §4, §5, §8.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ualign.train import checkpoint as ckpt
from ualign.train.builders import (
    apply_warm_start,
    load_model,
    make_accelerator,
    prepare_model,
    read_prompts,
)
from ualign.train.config import SelfPlayConfig
from ualign.train.estimators import group_advantages
from ualign.train.losses import pg_loss, sppo_loss
from ualign.train.policies import CandidatePolicy, make_policy, seed_for
from ualign.train.populations import as_population, rank_texts
from ualign.train.vllm_server import generate_on_server

__all__ = ["SelfPlayTrainer", "StepBatch", "TrainResult", "load_model", "read_prompts"]

COMPLETE_MARKER = "ualign-complete.json"
"""Written last by :meth:`SelfPlayTrainer.save_model`: a saved model folder without it is
incomplete."""

STAGES = ("generate", "score", "estimate_payoffs", "log_probs", "loss", "log")

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- helpers
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
    ref_seq_logp: Any = None                                       # torch (P*G,) log π_ref(y_i)
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
      model: a causal LM; loaded from ``config.model`` when None.
      tokenizer: its tokenizer; loaded from ``config.model`` when None.
      accelerator: an ``accelerate.Accelerator``; created when None.
      callbacks: functions ``f(trainer, step, metrics)`` called after each step (the step's
        samples are in ``trainer.last_batch.texts``).

    Every check (k, G, population, model, prompts, process split) runs here, before training.
    """

    stages = STAGES

    def __init__(self, config: SelfPlayConfig, population=None, model=None, tokenizer=None,
                 accelerator=None, callbacks: Sequence[Callable] = ()):
        if not isinstance(config, SelfPlayConfig):
            raise ValueError(f"config must be a SelfPlayConfig, got {type(config).__name__}")
        config.validate()
        config = config.resolved()         # mode-dependent defaults filled in (kl_coef)
        self.config = config
        if config.torch_threads:
            import torch

            torch.set_num_threads(config.torch_threads)
        # the trainer's state, built in this order (each builder checks its part)
        self.population = as_population(population, config.candidates)
        self.prompts: list[str] = []
        self.eval_prompts: list[str] = []
        self._build_prompts()
        model, self.tokenizer = self._build_model_and_tokenizer(model, tokenizer)
        self.accelerator = make_accelerator(config, accelerator)
        self.checkpoint_backend = ckpt.make_backend(self.accelerator)  # plain / FSDP / DeepSpeed
        self.vllm: Any = None             # VLLMServerClient for generation_backend='vllm'
        self._vllm_dir: Path | None = None
        self._vllm_step: int | None = None  # step whose adapters the vLLM server serves
        self._build_vllm()
        # reference: frozen copy for the KL term (full fine-tuning); None with LoRA
        self.model, self.optimizer, self.reference = prepare_model(config, model,
                                                                   self.accelerator)
        self.policy = make_policy(self)   # CandidatePolicy or FreeTextPolicy
        self.callbacks = list(callbacks)
        self.step_count = 0
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self._initial_state: dict | None = None   # initial weights (baseline without LoRA/KL)
        self.last_batch: StepBatch | None = None   # the last step's batch (texts, payoffs, ...)

    # ------------------------------------------------------------------ builders
    def _build_prompts(self) -> None:
        c = self.config
        self.prompts = read_prompts(c.prompts)
        if not self.prompts:
            raise ValueError("prompts must hold at least one prompt (config field `prompts`)")
        self.eval_prompts = read_prompts(c.eval_prompts, "eval_prompts") or self.prompts

    def _build_model_and_tokenizer(self, model, tokenizer):
        if model is None:
            model, tokenizer = load_model(self.config)
        elif tokenizer is None:
            raise ValueError("tokenizer is required when a model object is passed")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if self.config.warm_start:
            model = apply_warm_start(model, self.config.warm_start)
        return model, tokenizer

    def _build_vllm(self) -> None:
        c = self.config
        if c.generation_backend != "vllm":
            return
        from ualign.train.vllm_server import VLLMServerClient

        self.vllm = VLLMServerClient(str(c.vllm_url), timeout=c.vllm_timeout)
        self.vllm.check()                 # unreachable server: fail before any training
        self._vllm_dir = Path(c.vllm_adapter_dir or Path(c.output_dir) / "vllm_adapters")

    # ------------------------------------------------------------------ small utilities
    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def _fsdp(self) -> bool:
        """Whether FSDP shards the model (its unwrapped parameters are then shards)."""
        return isinstance(self.checkpoint_backend, ckpt.FSDPBackend)

    @property
    def tau(self) -> float:
        """The anchor's strength ``kl_coef`` of the resolved config (0 = no anchor)."""
        return float(self.config.kl_coef or 0.0)

    @property
    def fixed_responses(self) -> bool:
        """Whether the policy is over fixed candidate strings (``config.candidates``)."""
        return isinstance(self.policy, CandidatePolicy)

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

    def _encode_prompt(self, prompt: str) -> list[int]:
        return self.policy.encode_prompt(prompt)

    def _rows(self, seqs: list[tuple[list[int], list[int]]]):
        """Token rows for ``(prompt, response)`` pairs (:meth:`LMPolicy.rows`)."""
        return self.policy.rows(seqs)

    def _token_logps(self, model, rows):
        """Log-likelihoods ``(N, R)`` of the response tokens (:meth:`LMPolicy.token_logps`)."""
        return self.policy.token_logps(model, rows)

    def _sample_texts(self, model, prompt: str, M: int, seed: int) -> list[str]:
        """M free-text samples; ``model=None`` samples the reference (base) policy."""
        return self.policy.sample_texts(model, prompt, M, seed)

    def policy_over_candidates(self, prompt: str | None = None) -> np.ndarray:
        """The current policy over ``config.candidates`` for one prompt, ``(n,)``."""
        return self.policy.policy(prompt or self.prompts[0])

    def _step_prompts(self, step: int) -> tuple[list[int], list[str]]:
        """This process's block of the step's prompts: (global positions, prompts)."""
        c, acc = self.config, self.accelerator
        P, n = c.prompts_per_step, len(self.prompts)
        idx = []
        for j in range(step * P, (step + 1) * P):
            epoch, r = divmod(j, n)
            perm = np.random.default_rng(seed_for(c.seed, 1, epoch)).permutation(n)
            idx.append(int(perm[r]))
        per = P // acc.num_processes
        lo = acc.process_index * per
        pos = list(range(lo, lo + per))
        return pos, [self.prompts[idx[j]] for j in pos]

    # ------------------------------------------------------------------ stages
    def generate(self, batch: StepBatch) -> None:
        """G samples per prompt from the current policy, seeded by (seed, step, position)."""
        model = self.unwrapped
        model.eval()
        if self.vllm is not None:
            generate_on_server(self, batch)
        else:
            self.policy.sample(model, batch)
        model.train()

    def score(self, batch: StepBatch) -> None:
        """The population ranks each group of G texts."""
        for pr, texts in zip(batch.prompts, batch.texts, strict=True):
            lv, w = rank_texts(self.population, texts, prompt=pr)
            batch.levels.append(lv)
            batch.weights.append(w)

    def estimate_payoffs(self, batch: StepBatch) -> None:
        """P̂_i (THEORY §8; §9 under display="distinct") and advantages A_i = P̂_i minus the
        group mean (1/(k+1) exactly under multiset display). Under distinct display the samples
        that are one response are those the population's ``response_classes(texts)`` puts in
        one class when it has that method (e.g. one kind of a ``CategoryPopulation``), else
        the policy's rule (free text: equal after normalisation)."""
        same = getattr(self.population, "response_classes", None) or self.policy.same
        batch.payoffs, batch.advantages = group_advantages(
            batch.levels, batch.weights, self.config.k, self.accelerator.device,
            display=self.config.display, texts=batch.texts, same=same)

    def _sample_logps(self, model, batch: StepBatch, grad: bool):
        """``log π(y_i)`` of the samples ``(P*G,)``, plus what the KL term needs."""
        import torch

        with torch.enable_grad() if grad else torch.no_grad():
            return self.policy.log_probs(model, batch)

    def _reference_logps(self, batch: StepBatch):
        if self.config.lora:
            with self.unwrapped.disable_adapter():
                return self._sample_logps(self.unwrapped, batch, grad=False)
        return self._sample_logps(self.reference, batch, grad=False)

    def log_probs(self, batch: StepBatch) -> None:
        """log π_t(y_i) (frozen target of SPPO) and reference log-probs for the anchor."""
        c = self.config
        if c.loss == "sppo":                 # the PG loss does not use log π_t
            batch.old_logp, _ = self._sample_logps(self.model, batch, grad=False)
        if self.tau > 0:
            batch.ref_seq_logp, batch.ref_logp = self._reference_logps(batch)

    def _loss(self, batch: StepBatch):
        """``(loss, kl or None)`` at the current weights (:mod:`ualign.train.losses`); kl is
        the k3 estimate of KL(π_θ ‖ π_ref) (PG) or the mean of ``log π_t − log π_ref`` over the
        samples (SPPO, an unbiased estimate of KL(π_t ‖ π_ref))."""
        c = self.config
        logp, extra = self._sample_logps(self.model, batch, grad=True)
        if c.loss == "sppo":
            if self.tau > 0:
                loss = sppo_loss(logp, batch.old_logp, batch.advantages, c.eta,
                                 ref_logp=batch.ref_seq_logp, tau=self.tau,
                                 group_size=c.group_size)
                return loss, (batch.old_logp - batch.ref_seq_logp).mean()
            return sppo_loss(logp, batch.old_logp, batch.advantages, c.eta), None
        loss = pg_loss(logp, batch.advantages)
        if self.tau > 0:
            kl = self.policy.kl(extra, batch)
            return loss + self.tau * kl, kl
        return loss, None

    def loss(self, batch: StepBatch) -> None:
        """``updates_per_step`` optimiser updates of the SPPO or PG loss."""
        c, acc = self.config, self.accelerator
        for _ in range(c.updates_per_step):
            loss, kl = self._loss(batch)
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
        assert batch.payoffs is not None    # set by the payoff stage
        m["payoff_max"] = float(batch.payoffs.max(axis=1).mean())
        m["advantage_abs"] = float(batch.advantages.abs().mean())
        m["unique_frac"] = float(np.mean([len(set(t)) / len(t) for t in batch.texts]))
        m.update(self.policy.step_metrics(batch))
        self._warn_if_frozen(m["advantage_abs"], batch.step)
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

    def _warn_if_frozen(self, advantage_abs: float, step: int) -> None:
        """Log a warning when the mean absolute advantage has been exactly 0 (every sample of
        every group tied) for ``frozen_warning_steps`` consecutive steps, once per such run of
        steps. Counted from the history, so a resumed run counts on."""
        n = self.config.frozen_warning_steps
        if not n or advantage_abs > 1e-12:
            return
        streak = 1
        for h in reversed(self.history):
            if h["advantage_abs"] > 1e-12:
                break
            streak += 1
        if streak == n:
            anchor = (f"only the anchor to the reference (kl_coef = {self.tau:g}) "
                      f"still moves the policy" if self.tau > 0 else
                      "nothing moves the policy any more (kl_coef = 0: no anchor)")
            logger.warning("training has frozen: the mean absolute advantage has been 0 for %d "
                           "steps (to step %d): every group's samples tie, so the payoff gives "
                           "no signal; %s", n, step + 1, anchor)

    # ------------------------------------------------------------------ step, eval, checkpoints
    def step(self, step: int) -> dict:
        """Run the named stages once; returns the step's metrics (the batch stays in
        ``last_batch``)."""
        pos, prompts = self._step_prompts(step)
        batch = StepBatch(step=step, prompt_positions=pos, prompts=prompts)
        for name in self.stages:
            getattr(self, name)(batch)
        self.last_batch = batch
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
        out: dict[str, float] = {"step": self.step_count, **self.policy.evaluate()}
        self.evals.append(out)
        if self.config.report_to != "none":
            self.accelerator.log({f"eval/{k_}": v for k_, v in out.items() if k_ != "step"},
                                 step=self.step_count)
        return out

    def save_checkpoint(self) -> Path | None:
        """Trainable weights, optimiser state and step into ``output_dir/checkpoint-<step>``
        (:mod:`ualign.train.checkpoint`)."""
        return ckpt.save_checkpoint(self)

    def load_checkpoint(self, path: str | Path | None = None) -> int:
        """Restore from ``path`` (or the latest checkpoint in output_dir); returns the step."""
        return ckpt.load_checkpoint(self, path)

    # ------------------------------------------------------------------ driver
    def _start(self) -> int:
        """Resume if asked, record the baselines, write the config, start the trackers;
        returns the step training starts from."""
        c, acc = self.config, self.accelerator
        if c.resume_from_checkpoint:
            self.load_checkpoint(None if c.resume_from_checkpoint is True
                                 else c.resume_from_checkpoint)
            if self.step_count and acc.is_main_process and c.progress_bar:
                print(f"resuming at step {self.step_count} of {c.max_steps} from "
                      f"{c.output_dir}", file=sys.stderr, flush=True)
        if self.step_count == 0:
            # (not under FSDP: the unwrapped state dict holds shards, no usable baseline copy)
            if self.reference is None and not c.lora and not self._fsdp:
                self._initial_state = {n: t.detach().cpu().clone()
                                       for n, t in self.unwrapped.state_dict().items()}
            self.policy.remember_initial(self.eval_prompts)
        if acc.is_main_process:
            Path(c.output_dir).mkdir(parents=True, exist_ok=True)
            (Path(c.output_dir) / "config.json").write_text(c.to_json())
        if c.report_to != "none":
            acc.init_trackers(c.run_name or "selfplay",
                              config={k: (v if isinstance(v, int | float | str | bool) else
                                          str(v)) for k, v in c.to_dict().items()})
        return self.step_count

    def _after_step(self, metrics: dict) -> None:
        c = self.config
        if c.eval_steps and self.step_count % c.eval_steps == 0:
            self.evaluate()
        if c.save_steps and self.step_count % c.save_steps == 0:
            self.save_checkpoint()
        for cb in self.callbacks:
            cb(self, self.step_count, metrics)

    def train(self) -> TrainResult:
        """Run (or resume) ``max_steps`` steps with periodic eval and checkpoints."""
        from tqdm.auto import tqdm

        c, acc = self.config, self.accelerator
        t0 = time.perf_counter()
        start_step = self._start()
        bar = tqdm(total=c.max_steps, initial=self.step_count, desc=f"self-play k={c.k}",
                   disable=not (c.progress_bar and acc.is_main_process))
        try:
            while self.step_count < c.max_steps:
                metrics = self.step(self.step_count)
                self.step_count += 1
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4g}",
                                uniq=f"{metrics['unique_frac']:.2f}")
                self._after_step(metrics)
            if not c.save_steps or self.step_count % c.save_steps:
                self.save_checkpoint()
        finally:
            bar.close()
            for tracker in acc.trackers:   # not acc.end_training(): that also destroys the
                tracker.finish()           # process group, which save_model still needs
        return TrainResult(self.step_count, self.history, self.evals, c.output_dir,
                           time.perf_counter() - t0, start_step)

    def close(self) -> None:
        """End a distributed run: wait for every process, then destroy the process group.

        Call it once, after the last collective call (:meth:`save_model`, the accelerator's
        ``get_state_dict``). A process that exits without it may abort while its peer is still
        working (gloo: ``terminate called without an active exception``). Does nothing in a
        single process or when no process group is initialised."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            self.accelerator.wait_for_everyone()
            self.accelerator.state.destroy_process_group()

    def save_model(self, path: str | Path | None = None) -> Path:
        """``save_pretrained`` of the (unwrapped) model and tokenizer (adapters only for LoRA),
        then the completion marker :data:`COMPLETE_MARKER` (``{"step", "files"}``), written
        last and atomically; a stale marker is removed first, so a folder without it is an
        interrupted save."""
        path = Path(path or Path(self.config.output_dir) / "final")
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            (path / COMPLETE_MARKER).unlink(missing_ok=True)
            self.unwrapped.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
            files = sorted(str(f.relative_to(path)) for f in path.rglob("*") if f.is_file())
            tmp = path / (COMPLETE_MARKER + ".tmp")
            tmp.write_text(json.dumps({"step": self.step_count, "files": files}))
            os.replace(tmp, path / COMPLETE_MARKER)
        self.accelerator.wait_for_everyone()
        return path

