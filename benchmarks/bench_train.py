"""Throughput of one self-play training step vs TRL's GRPOTrainer, side by side in one run.

Rows: ualign's ``SelfPlayTrainer`` (pg loss); TRL's ``GRPOTrainer`` with the ualign reward
(``ualign.integrations.trl.SelfPlayReward``: the (k+1)-player payoffs of each group, the same
population); ``GRPOTrainer`` with a plain per-completion reward (the population's mean utility);
with ``--serve``, also ``GRPOTrainer`` with the ualign reward through ``ualign serve`` on
127.0.0.1 (an in-process service). Both GRPO rows use the settings under which GRPO's loss is
the (k+1)-player policy gradient (``scale_rewards="none"``, ``loss_type="dr_grpo"``, β = 0).

Same model (a fresh copy from the same seed), same G samples per prompt, same prompt, same
maximum completion length, one prompt per step, one optimiser update per step, CPU, fp32.
Reports samples/s and completion tokens/s per training step (median over the timed steps,
after one warm-up step).

    python benchmarks/bench_train.py --model tiny --G 8 --max-new-tokens 32 --steps 5
    python benchmarks/bench_train.py --model smollm2 --G 4 --max-new-tokens 32 --steps 3

TRL is an optional extra (``pip install ualign[trl]``); without it only ualign is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np


class CharPopulation:
    """Users who like a character: utility = count of it (a cheap oracle for throughput)."""

    def __init__(self, chars="aeiou", weights=None):
        self.chars = list(chars)
        self.weights = np.ones(len(self.chars)) if weights is None else np.asarray(weights)

    def scores(self, texts):
        return np.array([[t.count(c) for t in texts] for c in self.chars], float)


def _model(kind: str, seed: int):
    import torch

    torch.manual_seed(seed)
    if kind == "tiny":
        from ualign.train.tiny import char_tokenizer, tiny_causal_lm

        tok = char_tokenizer()
        return tiny_causal_lm(tok, hidden_size=64, num_layers=2, seed=seed), tok
    from ualign.llm.generate import resolve_model
    from ualign.train.config import SelfPlayConfig
    from ualign.train.trainer import load_model

    path, gguf = resolve_model("smollm2")
    return load_model(SelfPlayConfig(model=path, gguf_file=gguf))


def bench_ualign(args, prompt: str) -> dict:
    from ualign.train import SelfPlayConfig
    from ualign.train.trainer import SelfPlayTrainer

    model, tok = _model(args.model, args.seed)
    times: list[float] = []
    tokens: list[float] = []
    last = [time.perf_counter()]

    def cb(tr, step, metrics):
        now = time.perf_counter()
        times.append(now - last[0])
        tokens.append(metrics["response_tokens"] * args.G)
        last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SelfPlayConfig(prompts=[prompt], k=args.k, group_size=args.G, loss="pg",
                             max_steps=args.steps + 1, max_new_tokens=args.max_new_tokens,
                             learning_rate=1e-5, output_dir=tmp, progress_bar=False,
                             device="cpu", top_p=1.0, temperature=1.0)
        tr = SelfPlayTrainer(cfg, population=CharPopulation(), model=model, tokenizer=tok,
                             callbacks=[cb])
        last[0] = time.perf_counter()
        tr.train()
    t, n = times[1:], tokens[1:]
    return {"trainer": "ualign SelfPlayTrainer (pg)", "step_s": statistics.median(t),
            "samples_per_s": args.G / statistics.median(t),
            "tokens_per_s": float(np.median(np.array(n) / np.array(t)))}


def bench_trl(args, prompt: str, reward_kind: str = "plain") -> dict:
    """GRPOTrainer with ``reward_kind``: ``"plain"`` (mean utility per completion),
    ``"ualign"`` (SelfPlayReward, local population) or ``"ualign-serve"`` (SelfPlayReward
    through an in-process ``ualign serve`` on 127.0.0.1)."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from ualign.integrations.trl import SelfPlayReward

    model, tok = _model(args.model, args.seed)
    if getattr(model, "hf_quantizer", None) is not None:
        # a GGUF checkpoint is dequantised to fp32 on load, but transformers still flags it as
        # quantized and Trainer refuses full fine-tuning; the weights are plain fp32 tensors
        model.hf_quantizer = None
        model.is_quantized = False
    pop = CharPopulation()
    service = None
    if reward_kind == "plain":
        def reward(prompts, completions, **kw):
            return pop.scores(list(completions)).mean(axis=0).tolist()
    elif reward_kind == "ualign":
        reward = SelfPlayReward(pop, k=args.k, num_generations=args.G)
    else:
        from ualign.integrations.service import PopulationService

        service = PopulationService(pop)
        reward = SelfPlayReward(service.start(), k=args.k, num_generations=args.G)

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            times.append(time.perf_counter() - self.t)

    lengths: list[float] = []

    class Lengths(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = GRPOConfig(output_dir=tmp, per_device_train_batch_size=args.G,
                             num_generations=args.G, max_completion_length=args.max_new_tokens,
                             max_steps=args.steps + 1, learning_rate=1e-5, logging_steps=1,
                             report_to="none", use_cpu=True, bf16=False, beta=0.0,
                             scale_rewards="none", loss_type="dr_grpo",
                             temperature=1.0, top_p=1.0, save_strategy="no",
                             disable_tqdm=True, seed=args.seed)
            ds = Dataset.from_dict({"prompt": [prompt] * (args.steps + 2)})
            tr = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=ds,
                             processing_class=tok, callbacks=[Timer(), Lengths()])
            tr.train()
    finally:
        if service is not None:
            service.stop()
    t = times[1:]
    L = lengths[1:] if len(lengths) > 1 else lengths
    tok_s = (float(np.median([args.G * length / s for length, s in zip(L, t, strict=False)]))
             if L else float("nan"))
    name = {"plain": "trl GRPOTrainer, plain reward", "ualign": "trl GRPOTrainer + ualign reward",
            "ualign-serve": "trl GRPOTrainer + ualign serve"}[reward_kind]
    return {"trainer": name, "step_s": statistics.median(t),
            "samples_per_s": args.G / statistics.median(t), "tokens_per_s": tok_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["tiny", "smollm2"], default="tiny")
    ap.add_argument("--G", type=int, default=8, help="samples per prompt (num_generations)")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after 1 warm-up)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--serve", action="store_true",
                    help="also GRPOTrainer + ualign reward through ualign serve (127.0.0.1)")
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    prompt = "Write a short friendly sentence about the sea:"
    rows = [bench_ualign(args, prompt)]
    try:
        import trl  # noqa: F401
    except ImportError:
        print("trl is not installed: pip install trl (bench-only) to compare with GRPOTrainer")
    else:
        rows.append(bench_trl(args, prompt, "ualign"))
        rows.append(bench_trl(args, prompt, "plain"))
        if args.serve:
            rows.append(bench_trl(args, prompt, "ualign-serve"))

    info = {"model": args.model, "G": args.G, "k": args.k,
            "max_new_tokens": args.max_new_tokens, "steps": args.steps,
            "torch_threads": torch.get_num_threads(), "load_avg": os.getloadavg(),
            "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d", time.gmtime())}
    print(json.dumps(info))
    print(f"{'trainer':34s} {'s/step':>8s} {'samples/s':>10s} {'tokens/s':>10s} "
          f"{'vs ualign':>9s}")
    for r in rows:
        print(f"{r['trainer']:34s} {r['step_s']:8.3f} {r['samples_per_s']:10.2f} "
              f"{r['tokens_per_s']:10.1f} {r['step_s'] / rows[0]['step_s']:8.2f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"info": info, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
