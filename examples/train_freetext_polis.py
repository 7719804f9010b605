"""Free-text self-play run: SmolLM2-135M-Instruct + LoRA against a Polis vote population.

Participants of a Polis conversation are split in two halves (stratified by opinion group):
the model is trained by self-play against vote models of the first half and evaluated on the
second half. Two LoRA runs with the same budget: the (k+1)-player game (U-alignment, k = K) and
NLHF/SPPO (k = 1). Reported (held-out users, exact given the samples, U-statistics):

- win rate of k samples of a model against one sample of the base model / the NLHF model;
- diversity of the shown samples (unique fraction, distinct-2).

Usage (CPU, minutes):  python examples/train_freetext_polis.py --steps 12 --k 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ualign.train import SelfPlayConfig
from ualign.train.estimators import payoff_against_group
from ualign.train.populations import rank_texts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversation", default="../shared/data/polis/brexit-consensus")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--eval-samples", type=int, default=12)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/freetext")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)   # far faster than 2 contending threads on a busy 2-core machine
    from ualign.llm import VotePopulation
    from ualign.llm.generate import resolve_model
    from ualign.train.trainer import SelfPlayTrainer, load_model

    t0 = time.perf_counter()
    conv = Path(args.conversation)
    topic = dict(line.split(",", 1) for line in (conv / "summary.csv").read_text().splitlines()
                 if "," in line).get("topic", conv.name).strip()
    pop = VotePopulation.from_polis(conv, mode="participant")
    train_pop, eval_pop = pop.split(0.5, seed=args.seed)
    prompts = [f"Write one short statement (one sentence) for a public discussion: {topic}",
               f"Give your opinion in one sentence on this question: {topic}"]
    eval_prompts = [f"In one sentence, what should people agree on about: {topic}"]
    path, gguf = resolve_model("smollm2")
    print(f"population: {pop.n_users} participants ({train_pop.n_users} train / "
          f"{eval_pop.n_users} held out); model {path}/{gguf}; {time.perf_counter() - t0:.0f}s",
          flush=True)

    def train(k: int):
        cfg = SelfPlayConfig(
            model=path, gguf_file=gguf, chat_template=True, lora=True, lora_r=8,
            lora_target_modules=["q_proj", "v_proj"], prompts=prompts, k=k,
            group_size=max(args.group_size, k + 1), prompts_per_step=1, loss="sppo", eta=1.0,
            learning_rate=args.lr, updates_per_step=2, max_steps=args.steps,
            max_new_tokens=args.max_new_tokens, seed=args.seed, device="cpu",
            output_dir=f"{args.out}/k{k}", progress_bar=True, torch_threads=1)
        model, tok = load_model(cfg)
        tr = SelfPlayTrainer(cfg, population=train_pop, model=model, tokenizer=tok)
        t = time.perf_counter()
        res = tr.train()
        return tr, res, time.perf_counter() - t

    u_tr, u_res, u_secs = train(args.k)
    n_tr, n_res, n_secs = train(1)

    K, M = args.k, args.eval_samples
    rows = {}
    for j, pr in enumerate(eval_prompts):
        seed = 1000 + j
        u = u_tr._sample_texts(u_tr.unwrapped, pr, M, seed)
        base = u_tr._sample_texts(None, pr, M, seed + 1)
        nl = n_tr._sample_texts(n_tr.unwrapped, pr, M, seed + 2)
        texts = u + base + nl
        lv, w = rank_texts(eval_pop, texts, prompt=pr)
        for name, own in ((f"U (k={K})", slice(0, M)), ("NLHF (k=1)", slice(2 * M, 3 * M)),
                          ("base", slice(M, 2 * M))):
            grp = np.zeros(3 * M, bool)
            grp[own] = True
            L = payoff_against_group(lv, grp, K, w)           # each text vs K samples of `own`
            r = rows.setdefault(name, {"samples": texts[own][:3]})
            idx = np.arange(3 * M)
            r["vs_base"] = float(1 - L[(idx >= M) & (idx < 2 * M)].mean()) \
                if name != "base" else 1 - 1 / (K + 1)
            r["vs_nlhf"] = float(1 - L[idx >= 2 * M].mean()) if name != "NLHF (k=1)" \
                else 1 - 1 / (K + 1)
            r["vs_u"] = float(1 - L[idx < M].mean()) if not name.startswith("U") \
                else 1 - 1 / (K + 1)
            r["pool_worst"] = float(1 - L.max())
            s = texts[own]
            r["unique_frac"] = len(set(s)) / M
            grams = [tuple(t.split()[i:i + 2]) for t in s for i in range(len(t.split()) - 1)]
            r["distinct_2"] = len(set(grams)) / max(1, len(grams))
    result = {"conversation": conv.name, "topic": topic, "k": K, "steps": args.steps,
              "group_size": args.group_size, "max_new_tokens": args.max_new_tokens,
              "train_users": train_pop.n_users, "eval_users": eval_pop.n_users,
              "eval_samples": M, "train_seconds": {"U": u_secs, "NLHF": n_secs},
              "final_train_metrics": {"U": u_res.history[-1], "NLHF": n_res.history[-1]},
              "rows": rows, "torch_threads": torch.get_num_threads()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "freetext_result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
