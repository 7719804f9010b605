"""The two policy types of the self-play trainer, chosen once from the config.

- :class:`FreeTextPolicy`: samples come from ``model.generate``; ``log π(y | x)`` is the summed
  token log-likelihood of the response; the KL term of the PG loss is the per-token k3 estimate.
- :class:`CandidatePolicy` (``config.candidates``, fixed responses): the policy is the model's
  normalised likelihood of the n strings, ``π(y | x) ∝ exp(log p_θ(y | x))``, sampled exactly;
  the KL term is exact over the n strings; evaluation is exact with the engine. Used by the
  exactness experiment.

Each type has the same four operations, which the trainer's stages call:

    sample(model, batch)          the ``generate`` stage: G samples per prompt, seeded by
                                  ``(seed, step, global prompt position)``
    log_probs(model, batch)       ``(log π(y_i) (P*G,), what the KL term needs)``
    kl(extra, batch)              ``KL(π_θ ‖ π_ref)`` from the above and ``batch.ref_logp``
    evaluate()                    evaluation metrics (a dict of floats)

A new policy type is a subclass of :class:`LMPolicy` with these four methods (plus
``step_metrics``), chosen in :func:`make_policy`.

References: THEORY.md §3, §8.
"""

from __future__ import annotations

import numpy as np

from ualign.core.estimators import payoff_against_group
from ualign.core.payoffs import deviation_payoffs, exploitability, robust_win_rate
from ualign.train.losses import exact_kl, k3_kl, tempered_token_logps
from ualign.train.populations import CandidatePopulation, rank_texts

__all__ = ["CandidatePolicy", "FreeTextPolicy", "LMPolicy", "make_policy", "seed_for"]


def seed_for(*parts: int) -> int:
    """A 32-bit seed derived from integer parts (``numpy.random.SeedSequence``)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint32)[0])


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct word n-grams over all n-grams of ``texts`` (0 when there are none)."""
    grams, total = set(), 0
    for t in texts:
        w = t.split()
        g = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
        grams.update(g)
        total += len(g)
    return len(grams) / total if total else 0.0


class LMPolicy:
    """What both policy types share: prompt encoding, token rows and token log-likelihoods, and
    free-text sampling and evaluation.

    Args:
      trainer: the :class:`~ualign.train.trainer.SelfPlayTrainer` whose model, tokenizer,
        config, accelerator and reference model the policy reads.
    """

    same = "exact"
    """Distinct display (``config.display``): which samples are one response
    (:func:`ualign.llm.group_payoffs.text_classes`): free text merges texts equal after
    :func:`ualign.llm.dedupe.normalise`."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.config = trainer.config
        self.tokenizer = trainer.tokenizer
        self._logits_to_keep = True       # the model accepts logits_to_keep (checked on use)
        self._base = None                 # copy of the initial weights (free-text baseline)

    @property
    def device(self):
        return self.trainer.accelerator.device

    # ------------------------------------------------------------------ tokens
    def encode_prompt(self, prompt: str) -> list[int]:
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

    def rows(self, seqs: list[tuple[list[int], list[int]]]):
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
        dev = self.device
        return {"input_ids": ids.to(dev), "attention_mask": attn.to(dev),
                "position_ids": pos.to(dev), "mask": mask.to(dev)}

    @property
    def tempered(self) -> bool:
        """Whether the policy is the model warped by temperature / top-k / top-p (free text)."""
        c = self.config
        return c.temperature != 1.0 or c.top_k > 0 or c.top_p < 1.0

    def token_logps(self, model, rows, strict: bool = False):
        """Log-likelihoods ``(N, R)`` of the response tokens (0 where padded), under the
        policy that samples them: the model's next-token distribution tempered and truncated
        by ``config.temperature``, ``top_k`` and ``top_p`` exactly as ``generate`` warps it
        (:func:`~ualign.train.losses.tempered_token_logps`); untouched at the defaults.
        ``strict=False`` keeps a scored token inside its truncated support (its log-prob stays
        finite when rounding or the reference would exclude it); ``strict=True`` gives
        ``−inf`` for it."""
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
        if not self.tempered:
            lp = logits.gather(-1, tgt[..., None])[..., 0] - torch.logsumexp(logits, dim=-1)
            return lp * rows["mask"]
        c = self.config
        lp = tempered_token_logps(logits, tgt, c.temperature, c.top_k, c.top_p,
                                  keep_targets=not strict)
        return torch.where(rows["mask"], lp, torch.zeros_like(lp))

    # ------------------------------------------------------------------ free-text sampling
    def _generate(self, model, prompt_ids: list[int], n: int, seed: int):
        """``n`` sampled continuations of one prompt, ``(n, len(prompt) + new)`` token ids."""
        import torch

        c = self.config
        torch.manual_seed(seed)
        inp = torch.tensor([prompt_ids], device=self.device)
        with torch.no_grad(), self.trainer._unsharded_root():
            return model.generate(
                input_ids=inp, attention_mask=torch.ones_like(inp), do_sample=True,
                temperature=c.temperature, top_p=c.top_p, top_k=c.top_k,
                max_new_tokens=c.max_new_tokens, num_return_sequences=n,
                pad_token_id=self.tokenizer.pad_token_id)

    # What each policy type defines (the trainer's stages call them).
    def sample(self, model, batch) -> None:
        """Fill ``batch`` with G samples per prompt from ``model``."""
        raise NotImplementedError

    def log_probs(self, model, batch):
        """Log-probabilities of the batch's samples under ``model``."""
        raise NotImplementedError

    def kl(self, extra, batch):
        """The anchor's KL term to the reference for the batch."""
        raise NotImplementedError

    def step_metrics(self, batch) -> dict[str, float]:
        """Policy-specific metrics of one step."""
        raise NotImplementedError

    def sample_texts(self, model, prompt: str, M: int, seed: int) -> list[str]:
        """M free-text samples; ``model=None`` samples the reference (base) policy."""
        tr = self.trainer
        p = self.encode_prompt(prompt)
        if model is None and self.config.lora:
            with tr.unwrapped.disable_adapter():
                out = self._generate(tr.unwrapped, p, M, seed)
        elif model is None:
            ref = tr.reference if tr.reference is not None else self.base_model()
            out = self._generate(ref, p, M, seed)
        else:
            out = self._generate(model, p, M, seed)
        return self.tokenizer.batch_decode(out[:, len(p):], skip_special_tokens=True)

    def base_model(self):
        """A frozen copy of the initial weights (the free-text baseline without LoRA or KL)."""
        if self._base is None:
            import copy

            initial = self.trainer._initial_state
            if initial is None:
                raise ValueError("no baseline model: use lora=True, kl_coef > 0, or evaluate "
                                 "after train() has recorded the initial weights")
            base = copy.deepcopy(self.trainer.unwrapped).eval()
            base.load_state_dict(initial)
            self._base = base
        return self._base

    def evaluate(self) -> dict[str, float]:
        """Free text: ``M = eval_samples`` policy and baseline samples per prompt, ranked
        together; win rate = 1 - mean_b P̂(b picked against k policy samples) (leave-one-out
        over the M policy samples); proxy = max over the pool of that estimate - 1/(k+1);
        diversity = unique fraction and distinct-2 of the policy samples."""
        tr, c, k = self.trainer, self.config, self.config.k
        M = max(c.eval_samples, k + 1)
        wr, prox, div, d2 = [], [], [], []
        for j, pr in enumerate(tr.eval_prompts):
            pol = self.sample_texts(tr.unwrapped, pr, M, seed_for(c.seed, 3, j))
            base = self.sample_texts(None, pr, M, seed_for(c.seed, 4, j))
            lv, w = rank_texts(tr.population, pol + base, prompt=pr)
            group = np.zeros(2 * M, dtype=bool)
            group[:M] = True
            L = payoff_against_group(lv, group, k, w)
            wr.append(1 - L[M:].mean())
            prox.append(L.max() - 1 / (k + 1))
            div.append(len(set(pol)) / M)
            d2.append(distinct_n(pol, 2))
        return dict(win_rate_vs_base=float(np.mean(wr)),
                    exploitability_proxy=float(np.mean(prox)),
                    unique_frac=float(np.mean(div)), distinct_2=float(np.mean(d2)))

    def remember_initial(self, prompts: list[str]) -> None:
        """Record what evaluation compares against before the first step (nothing here)."""

    def policy(self, prompt: str, model=None) -> np.ndarray:
        """The policy as a distribution over fixed candidates (fixed-response mode only)."""
        raise ValueError("policy_over_candidates needs config.candidates")


class FreeTextPolicy(LMPolicy):
    """Free text: samples from ``model.generate``, ``log π(y|x) = Σ_t log p_θ(y_t | x, y_<t)``."""

    def sample(self, model, batch) -> None:
        """G samples per prompt (cut after the first EOS), their texts and token rows."""
        c, eos = self.config, self.tokenizer.eos_token_id
        seqs = []
        for pr, pos in zip(batch.prompts, batch.prompt_positions, strict=True):
            p = self.encode_prompt(pr)
            out = self._generate(model, p, c.group_size, seed_for(c.seed, 2, batch.step, pos))
            texts = []
            for r in out[:, len(p):].tolist():
                if eos is not None and eos in r:
                    r = r[:r.index(eos) + 1]
                seqs.append((p, r))
                texts.append(self.tokenizer.decode(r, skip_special_tokens=True))
            batch.texts.append(texts)
        batch.rows = self.rows(seqs)

    def log_probs(self, model, batch):
        """``(log π(y_i) (P*G,), token log-likelihoods (P*G, R))``."""
        tok = self.token_logps(model, batch.rows)
        return tok.sum(-1), tok

    def kl(self, extra, batch):
        """Per-token k3 estimate of ``KL(π_θ ‖ π_ref)`` (:func:`~ualign.train.losses.k3_kl`)."""
        return k3_kl(extra, batch.ref_logp, batch.rows["mask"])

    def step_metrics(self, batch) -> dict[str, float]:
        return {"response_tokens": float(batch.rows["mask"].sum()) / len(batch.rows["mask"])}


class CandidatePolicy(LMPolicy):
    """Fixed responses: ``π(y | x) ∝ exp(log p_θ(y | x))`` over ``config.candidates`` (each
    string followed by EOS), sampled exactly."""

    same = "identical"      # the candidates are distinct strings: one response per candidate

    def __init__(self, trainer):
        super().__init__(trainer)
        self.candidates = list(self.config.candidates)
        self._initial: dict[str, np.ndarray] = {}

    def candidate_rows(self, prompts: list[str]):
        eos = self.tokenizer.eos_token_id
        seqs = []
        for pr in prompts:
            p = self.encode_prompt(pr)
            for cand in self.candidates:
                r = self.tokenizer(cand, add_special_tokens=False)["input_ids"]
                seqs.append((p, list(r) + ([eos] if eos is not None else [])))
        return self.rows(seqs)

    def logpolicy(self, model, prompts: list[str]):
        """``log π(y | x)`` over the n candidates: ``(P, n)`` (normalised sequence likelihood)."""
        import torch

        rows = self.candidate_rows(prompts)
        seq = self.token_logps(model, rows).sum(-1).view(len(prompts), -1)
        return torch.log_softmax(seq, dim=-1)

    def policy(self, prompt: str, model=None) -> np.ndarray:
        """The policy over the candidates for one prompt, ``(n,)`` (current weights default)."""
        import torch

        with torch.no_grad():
            lp = self.logpolicy(self.trainer.unwrapped if model is None else model, [prompt])
        p = lp.exp()[0].double().cpu().numpy()
        return p / p.sum()

    def reference_policy(self, prompt: str) -> np.ndarray:
        """The reference policy: LoRA disabled, the frozen reference copy, or the initial one."""
        tr = self.trainer
        if self.config.lora:
            with tr.unwrapped.disable_adapter():
                return self.policy(prompt)
        if tr.reference is not None:
            return self.policy(prompt, tr.reference)
        ref = self._initial.get(prompt)
        return ref if ref is not None else self.policy(prompt)

    def remember_initial(self, prompts: list[str]) -> None:
        self._initial = {p: self.policy(p) for p in prompts}

    def sample(self, model, batch) -> None:
        """G exact draws per prompt from the policy over the candidates."""
        import torch

        c, G = self.config, self.config.group_size
        with torch.no_grad():
            lp = self.logpolicy(model, batch.prompts)
        probs = lp.exp().double().cpu().numpy()
        idx = np.zeros((len(batch.prompts), G), dtype=np.int64)
        for j, pos in enumerate(batch.prompt_positions):
            rng = np.random.default_rng(seed_for(c.seed, 2, batch.step, pos))
            pj = probs[j] / probs[j].sum()
            idx[j] = rng.choice(len(pj), size=G, p=pj)
        batch.sample_index = idx
        batch.texts = [[self.candidates[i] for i in row] for row in idx]

    def log_probs(self, model, batch):
        """``(log π(y_i) (P*G,), log π over the candidates (P, n))``."""
        import torch

        lp = self.logpolicy(model, batch.prompts)
        idx = torch.as_tensor(batch.sample_index, device=lp.device)
        return lp.gather(1, idx).reshape(-1), lp

    def kl(self, extra, batch):
        """Exact ``KL(π_θ ‖ π_ref)`` over the n candidates
        (:func:`~ualign.train.losses.exact_kl`)."""
        return exact_kl(extra, batch.ref_logp)

    def step_metrics(self, batch) -> dict[str, float]:
        return {}

    def evaluate(self) -> dict[str, float]:
        """With a :class:`CandidatePopulation`: exact values from the engine (exploitability,
        robust win rate, win rate against the reference policy, entropy), averaged over the
        eval prompts; otherwise the free-text evaluation."""
        tr, k = self.trainer, self.config.k
        if not isinstance(tr.population, CandidatePopulation):
            return super().evaluate()
        prof = tr.population.profile
        vals = []
        for pr in tr.eval_prompts:
            pi = self.policy(pr)
            ref = self.reference_policy(pr)
            L = deviation_payoffs(prof, pi, k)
            vals.append({
                "exploitability": float(exploitability(prof, pi, k)),
                "robust_win_rate": float(robust_win_rate(prof, pi, k).value),
                "win_rate_vs_reference": float(1 - ref @ L),
                "entropy": float(-(pi * np.log(np.clip(pi, 1e-300, None))).sum())})
        return {key: float(np.mean([v[key] for v in vals])) for key in vals[0]}


def make_policy(trainer) -> LMPolicy:
    """The policy type of ``trainer.config``: candidates given -> :class:`CandidatePolicy`."""
    if trainer.config.candidates is not None:
        return CandidatePolicy(trainer)
    return FreeTextPolicy(trainer)
