"""The plural free-text experiment: does self-play in the (k+1)-player game keep a minority's kind
of answer where NLHF (k = 1) drifts to the majority's? (issue 13, docs/train.md).

Setup. Prompts with many good answers ("suggest a weekend activity"); a population of three
groups of unequal size (55 % / 30 % / 15 %) that prefer different *kinds* of answer (outdoors and
sport / home, food and books / technology and games). Each user is a persona text; their utility
for a text is the cosine of the two MiniLM embeddings (:class:`ualign.llm.EmbeddingPopulation`),
so the groups can be told apart on anything the model writes (measured on base samples: see
``group_check`` in the result). Every group has 8 personas: 4 train the model, 4 are held out
and judge it. Arms: NLHF (k = 1), U-alignment k = 2 and k = 4 (and, with ``--arms ...,u4d``,
k = 4 trained with the distinct-display payoff); every arm is trained from the same base model
with the same budget for each seed.

Evaluation, on 4 held-out prompts and the 12 held-out personas, for every arm, seed, shown k in
{1, 2, 4} and both displays (THEORY §2 multiset, §9 distinct):

- robust win rate: ``min_y`` over a pool (every run's samples, base samples, one reference answer
  per group) of the population's win rate of k samples against ``y`` (exact for the empirical
  policy of the run's M samples: :func:`ualign.core.payoffs.deviation_payoffs`);
- per group: the same minimum over the pool, and the win rate against that group's reference;
- win rate against one base sample; distinct texts among k samples (exact, after
  :func:`ualign.llm.dedupe.normalise`) and NoveltyBench-style distinct classes among k samples
  (complete-linkage embedding merge, :func:`ualign.llm.dedupe.merge_equivalent`).

Intervals: 95 % percentile bootstrap resampling training seeds, prompts and held-out users
together (the same draws for every arm, so differences are paired).

Resumable: every (arm, seed) run writes ``runs/<arm>-s<seed>/samples.json`` when it ends and is
skipped when that file exists; a run killed midway resumes from its last checkpoint
(``save_steps``). ``--tiny`` runs the whole pipeline on a tiny random model in minutes.

The population here (personas in three weighted groups, an embedding utility) is this study's
own; a reusable group population kind belongs in ``ualign.llm.populations``.

Usage (from the repository root)::

  python experiments/plural.py --out runs/plural                  # SmolLM2, ~90 min on 2 CPUs
  python experiments/plural.py --tiny --out runs/plural-tiny       # minutes
  python experiments/plural.py --out runs/plural --analyse-only --json docs/train_plural.json \
      --plot docs/train_plural.png
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from _args import field, parse_args
from ualign.core.checks import DISPLAYS

# (name, share, personas): 8 personas per group, the first 4 train, the last 4 are held out.
GROUPS: list[tuple[str, float, list[str]]] = [
    ("outdoors", 0.55, [
        "I love being outdoors: hiking, camping and long walks in nature.",
        "Sport is my life: running, cycling and football every week.",
        "I feel best in the mountains, climbing and skiing.",
        "Give me fresh air: gardening, trail running and swimming in lakes.",
        "I spend my weekends hiking forests and camping under the stars.",
        "I am an athlete who loves outdoor exercise, cycling and team sports.",
        "Nature lover: I go kayaking, fishing and bird watching whenever I can.",
        "I enjoy physical adventures outside, like surfing, rock climbing and biking.",
    ]),
    ("home", 0.30, [
        "I love cosy evenings at home cooking, baking and reading novels.",
        "My favourite things are good food, recipes and dinner with family.",
        "I enjoy quiet time with a book, tea and a blanket on the sofa.",
        "I like knitting, board games and cooking for friends at home.",
        "Home is my happy place: baking bread, reading and watching films.",
        "I treasure slow days at home with books, music and homemade meals.",
        "I relax by cooking new recipes and reading in my kitchen.",
        "Crafts, painting and a good novel at home are what I enjoy most.",
    ]),
    ("tech", 0.15, [
        "I am passionate about technology: programming, gadgets and video games.",
        "I love computers, coding side projects and science fiction.",
        "Video games, robotics and the latest tech gadgets excite me.",
        "I enjoy learning about science, electronics and building apps.",
        "I am a gamer and a programmer who loves new software and hardware.",
        "Tech enthusiast: I build computers, write code and play online games.",
        "I love artificial intelligence, physics and tinkering with electronics.",
        "My hobbies are coding, 3D printing and playing strategy video games.",
    ]),
]
N_TRAIN_PERSONAS = 4

TRAIN_PROMPTS = [
    "Suggest one thing to do this weekend. Answer in one sentence.",
    "Recommend a hobby to pick up this year. Answer in one sentence.",
    "What is a good way to spend a free evening? Answer in one sentence.",
    "Suggest a birthday present for a friend. Answer in one sentence.",
    "What should I do to relax after a long week? Answer in one sentence.",
    "Suggest a fun activity for a group of friends. Answer in one sentence.",
    "Recommend a way to spend a day off. Answer in one sentence.",
    "What is a good new year's resolution? Answer in one sentence.",
]
EVAL_PROMPTS = [
    "What is a nice way to spend a Sunday afternoon? Answer in one sentence.",
    "Suggest a new skill worth learning. Answer in one sentence.",
    "Recommend a gift for a colleague who is retiring. Answer in one sentence.",
    "What is a fun thing to do during a long holiday? Answer in one sentence.",
]
# One reference answer per group (in GROUPS order) for each evaluation prompt.
REFERENCES: list[list[str]] = [
    ["Go for a hike in the hills and have a picnic by a lake.",
     "Bake a cake at home and read a good novel with a cup of tea.",
     "Play a new video game or start a small coding project."],
    ["Learn to rock climb or train for a trail run.",
     "Learn to cook dishes from a new cuisine.",
     "Learn to program in Python and build your own app."],
    ["A good pair of hiking boots for long walks in nature.",
     "A beautiful cookbook and a set of fine teas for cosy evenings.",
     "A tablet loaded with games and e-books about science."],
    ["Go camping and cycling through the mountains.",
     "Stay home, bake bread and read the novels you never had time for.",
     "Build a gaming PC and play through a long video game."],
]

ARMS: dict[str, dict] = {
    "nlhf": {"k": 1, "label": "NLHF (k=1)"},
    "u2": {"k": 2, "label": "U (k=2)"},
    "u4": {"k": 4, "label": "U (k=4)"},
    "u4d": {"k": 4, "display": "distinct", "label": "U (k=4, distinct payoff)"},
}
SHOWN_K = (1, 2, 4)


@dataclasses.dataclass(frozen=True)
class Args:
    """The experiment's options (``python experiments/plural.py --help``)."""

    out: str = field("runs/plural", "folder of the runs (runs/<arm>-s<seed>/samples.json), "
                     "config.json and result.json")
    tiny: bool = field(False, "a tiny random model instead of SmolLM2 + LoRA: minutes, "
                       "plumbing only")
    arms: str = field("nlhf,u2,u4", f"comma-separated arms among {','.join(ARMS)}")
    seeds: str = field("0,1,2", "comma-separated training seeds")
    steps: int | None = field(None, "self-play steps per run (default 30; 6 with --tiny)")
    group_size: int = field(6, "samples per prompt and step (>= k+1 for every arm)")
    max_new_tokens: int | None = field(None, "tokens per sample (default 24; 16 with --tiny)")
    eval_samples: int | None = field(None, "samples per evaluation prompt and run (default 12; "
                                     "6 with --tiny; >= the largest shown k)")
    lr: float = field(1e-3, "learning rate")
    eta: float = field(1.0, "SPPO step size")
    save_steps: int = field(4, "checkpoint every this many steps (a killed run resumes)")
    bootstrap: int = field(1000, "bootstrap resamples of the intervals")
    only: str | None = field(None, "run only these ARM-SEED pairs (e.g. nlhf-0,u2-1), then stop")
    embed: str | None = field(None, "sentence embedding of the personas' utilities: default "
                              "MiniLM; 'hashing' for a model-free lexical one (tests)")
    analyse_only: bool = field(False, "skip training: analyse the finished runs under --out")
    json: str | None = field(None, "also write the result here")
    plot: str | None = field(None, "write the plot (PNG) here")

    def resolved(self) -> Args:
        """The defaults that depend on ``tiny`` filled in."""
        return dataclasses.replace(
            self, steps=self.steps if self.steps is not None else (6 if self.tiny else 30),
            max_new_tokens=self.max_new_tokens or (16 if self.tiny else 24),
            eval_samples=self.eval_samples or (6 if self.tiny else 12))


def population(split: str, embed=None):
    """The ``"train"`` or ``"eval"`` (held-out) personas as an :class:`EmbeddingPopulation` with
    groups; group shares are kept (each persona weighs share / personas in the group)."""
    from ualign.llm import EmbeddingPopulation

    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    personas, weights, groups = [], [], []
    for g, (_, share, ps) in enumerate(GROUPS):
        part = ps[:N_TRAIN_PERSONAS] if split == "train" else ps[N_TRAIN_PERSONAS:]
        personas += part
        weights += [share / len(part)] * len(part)
        groups += [g] * len(part)
    pop = EmbeddingPopulation(personas, weights=weights, embed=embed)
    pop.groups = np.asarray(groups, dtype=np.int64)
    pop.group_names = tuple(name for name, _, _ in GROUPS)
    return pop


def distinct_among_k(labels, k: int) -> float:
    """Expected number of distinct classes among k of the M samples drawn without replacement
    (``labels`` ``(M,)``: the class of each sample): ``Σ_c 1 - C(M - m_c, k) / C(M, k)``."""
    labels = np.asarray(labels)
    M = labels.size
    if not 1 <= k <= M:
        raise ValueError(f"k must lie in 1..{M} (the number of samples), got {k}")
    _, counts = np.unique(labels, return_counts=True)
    return float(sum(1.0 - math.comb(M - int(m), k) / math.comb(M, k) for m in counts))


# ----------------------------------------------------------------------------- training
def _model_args(args) -> dict:
    if args.tiny:
        return {"model": "tiny:hidden_size=64,num_layers=2,num_heads=2", "chat_template": False,
                "lora": False}
    from ualign.llm.generate import resolve_model

    path, gguf = resolve_model("smollm2")
    return {"model": path, "gguf_file": gguf, "chat_template": True, "lora": True, "lora_r": 8,
            "lora_target_modules": ["q_proj", "v_proj"]}


def _config(args, arm: str, seed: int, out: Path):
    from ualign.train import SelfPlayConfig

    spec = ARMS.get(arm, {"k": 1})   # "base": never trained, only sampled
    kw = dict(_model_args(args), prompts=list(TRAIN_PROMPTS), k=spec["k"],
              group_size=args.group_size, prompts_per_step=1, loss="sppo", eta=args.eta,
              kl_coef=0.0,   # no anchor: the committed run (docs/train_plural.json) predates it
              learning_rate=args.lr, updates_per_step=2, max_steps=args.steps,
              max_new_tokens=args.max_new_tokens, seed=seed, device="cpu",
              output_dir=str(out), save_steps=args.save_steps, save_total_limit=1,
              progress_bar=True, torch_threads=1)
    if "display" in spec:
        kw["display"] = spec["display"]
    return SelfPlayConfig(**kw)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def run_arm(args, arm: str, seed: int, pop) -> Path:
    """Train one arm with one seed (resuming a killed run), sample the evaluation prompts, and
    write ``<out>/runs/<arm>-s<seed>/samples.json``; returns its path (skips if it exists)."""
    from ualign.train.trainer import SelfPlayTrainer, load_model

    out = Path(args.out) / "runs" / f"{arm}-s{seed}"
    done = out / "samples.json"
    if done.exists():
        return done
    out.mkdir(parents=True, exist_ok=True)
    cfg = _config(args, arm, seed, out)
    has_ckpt = any(out.glob("checkpoint-*"))
    if has_ckpt:
        cfg.resume_from_checkpoint = True
    model, tok = load_model(cfg)
    tr = SelfPlayTrainer(cfg, population=pop, model=model, tokenizer=tok)
    t0 = time.perf_counter()
    train_s = 0.0
    history: list = []
    if arm != "base":
        res = tr.train()
        train_s = time.perf_counter() - t0
        history = [{k: (float(v) if isinstance(v, int | float) else v) for k, v in h.items()}
                   for h in res.history]
    # "base" is never trained: its (LoRA-initialised, so unchanged) model is the base model
    samples = [tr._sample_texts(tr.unwrapped, p, args.eval_samples, 10_000 + 100 * seed + j)
               for j, p in enumerate(EVAL_PROMPTS)]
    _write_json(done, {"arm": arm, "seed": seed, "train_seconds": train_s,
                       "steps": 0 if arm == "base" else args.steps, "history": history,
                       "eval_prompts": EVAL_PROMPTS, "samples": samples,
                       "sample_seconds": time.perf_counter() - t0 - train_s})
    print(f"[plural] {arm} seed {seed}: trained {train_s:.0f}s, sampled "
          f"{time.perf_counter() - t0 - train_s:.0f}s", flush=True)
    return done


# ----------------------------------------------------------------------------- analysis
def _load_runs(out: Path) -> dict[tuple[str, int], dict]:
    runs = {}
    for f in sorted((out / "runs").glob("*/samples.json")):
        r = json.loads(f.read_text())
        runs[(r["arm"], int(r["seed"]))] = r
    return runs


def _interval(boot: np.ndarray) -> list[float]:
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return [float(lo), float(hi)]


def _run_keys(runs) -> tuple[list[str], list[int], list[tuple[str, int]]]:
    """The arms (base first), the seeds and the (arm, seed) keys of finished runs; every arm
    must have every seed."""
    if not runs:
        raise ValueError("no finished runs")
    arms = [a for a in ["base", *ARMS] if any(r[0] == a for r in runs)]
    seeds = sorted({s for (_, s) in runs})
    keys = [(a, s) for a in arms for s in seeds if (a, s) in runs]
    missing = [(a, s) for a in arms for s in seeds if (a, s) not in runs]
    if missing:
        raise ValueError(f"runs missing for (arm, seed) {missing}: run the experiment to the end "
                         f"first (it resumes)")
    return arms, seeds, keys


@dataclasses.dataclass
class _Measured:
    """Per-prompt measurements of every run. ``WR[(arm, seed, k, display)][j]``: ``(U, Y_j)``
    per-user win rates of k samples against each pool text; ``vs_base[...][j]``: ``(U,)`` mean
    win rate against the base samples; ``ref_cols[j]``: the pool columns of the group
    references; ``div[(arm, seed)]``: distinct texts / classes among k and mean words."""

    WR: dict
    vs_base: dict
    ref_cols: list
    div: dict
    group_check: list


def _pool(runs, keys, j) -> tuple[list[str], dict, np.ndarray]:
    """Prompt j's pool (every run's samples, then the group references, each text once), the
    pool columns of each run's samples, and those of the references."""
    pool: list[str] = []
    index: dict[str, int] = {}

    def col(t: str) -> int:
        if t not in index:
            index[t] = len(pool)
            pool.append(t)
        return index[t]

    cols = {key: np.array([col(t) for t in runs[key]["samples"][j]]) for key in keys}
    refs = np.array([col(t) for t in REFERENCES[j]])
    return pool, cols, refs


def _group_check(S, w, groups, base_cols, j) -> dict:
    """Can the groups be told apart on what the base model writes? Group-mean utilities of the
    base texts: their correlations, whether the favourites differ, their spread."""
    G_util = np.stack([w[groups == g] @ S[groups == g][:, base_cols] / w[groups == g].sum()
                       for g in range(len(GROUPS))])
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant group row -> NaN
        corr = np.corrcoef(G_util)
    fav = np.argmax(G_util, axis=1)
    return {"prompt": EVAL_PROMPTS[j], "n_base_texts": int(base_cols.size),
            "group_utility_corr": corr.tolist(),
            "favourite_differs": [[bool(fav[a] != fav[b]) for b in range(len(GROUPS))]
                                  for a in range(len(GROUPS))],
            "utility_sd": G_util.std(axis=1).tolist()}


def _measure_prompt(j, runs, keys, seeds, ev, embed, m: _Measured) -> None:
    """Score every run's samples of evaluation prompt j into ``m``."""
    from ualign.core import Profile
    from ualign.core.payoffs import deviation_payoffs
    from ualign.llm.dedupe import merge_equivalent, normalise

    pool, cols, refs = _pool(runs, keys, j)
    m.ref_cols.append(refs)
    S = ev.scores(pool)
    Y = len(pool)
    base_cols = np.unique(np.concatenate([cols[("base", s)] for s in seeds]))
    m.group_check.append(_group_check(S, ev.weights, ev.groups, base_cols, j))
    base_all = np.concatenate([cols[("base", s)] for s in seeds])
    user_profiles = [Profile.from_scores(S[u:u + 1], np.ones(1)) for u in range(ev.n_users)]
    classes = merge_equivalent(pool, rule="embedding", embed=embed).labels
    for key in keys:
        p = np.bincount(cols[key], minlength=Y) / cols[key].size
        texts = runs[key]["samples"][j]
        for k in SHOWN_K:
            for d in DISPLAYS:
                L = np.stack([deviation_payoffs(P, p, k, display=d) for P in user_profiles])
                m.WR.setdefault((*key, k, d), []).append(1.0 - L)
                m.vs_base.setdefault((*key, k, d), []).append((1.0 - L[:, base_all]).mean(1))
            m.div[key]["exact"][k].append(distinct_among_k([normalise(t) for t in texts], k))
            m.div[key]["classes"][k].append(distinct_among_k(classes[cols[key]], k))
        m.div[key]["words"].append(float(np.mean([len(t.split()) for t in texts])))
    print(f"[plural] analysed prompt {j + 1}/{len(EVAL_PROMPTS)} ({Y} pool texts)", flush=True)


@dataclasses.dataclass
class _Bootstrap:
    """The paired bootstrap over seeds, prompts and held-out users: the same draws ``sb``,
    ``jb``, ``ub`` for every statistic."""

    w: np.ndarray
    n_seeds: int
    n_prompts: int
    n_boot: int
    sb: np.ndarray
    jb: np.ndarray
    ub: np.ndarray

    @classmethod
    def draw(cls, w, n_seeds, n_prompts, n_boot, seed) -> _Bootstrap:
        rng = np.random.default_rng(seed)
        sb = rng.integers(0, n_seeds, (n_boot, n_seeds))
        jb = rng.integers(0, n_prompts, (n_boot, n_prompts))
        ub = rng.integers(0, w.size, (n_boot, w.size))
        return cls(w, n_seeds, n_prompts, n_boot, sb, jb, ub)

    def stat(self, per_sj) -> tuple[float, np.ndarray]:
        """``per_sj(seed index, prompt, users, weights) -> float`` averaged over seeds and
        prompts: the point estimate and the ``n_boot`` bootstrap replicates."""
        U = self.w.size
        point = np.mean([per_sj(si, j, np.arange(U), self.w) for si in range(self.n_seeds)
                         for j in range(self.n_prompts)])
        boot = np.empty(self.n_boot)
        for b in range(self.n_boot):
            u = self.ub[b]
            wb = self.w[u]
            boot[b] = np.mean([per_sj(si, j, u, wb) for si in self.sb[b] for j in self.jb[b]])
        return float(point), boot


def _robust(m: _Measured, seeds, groups, arm, k, d, g=None):
    """The robust win rate over the pool (within group ``g`` when given), per seed and prompt."""
    def f(si, j, u, wu):
        A = m.WR[(arm, seeds[si], k, d)][j][u]
        mask = np.ones(u.size, bool) if g is None else groups[u] == g
        if not mask.any():
            return np.nan
        return float((wu[mask] @ A[mask]).min() / wu[mask].sum())
    return f


def _vs_reference(m: _Measured, seeds, groups, arm, k, d, g):
    """Group g's win rate against its own reference answer, per seed and prompt."""
    def f(si, j, u, wu):
        A = m.WR[(arm, seeds[si], k, d)][j][u][:, m.ref_cols[j][g]]
        mask = groups[u] == g
        return float(wu[mask] @ A[mask] / wu[mask].sum()) if mask.any() else np.nan
    return f


def _vs_base(m: _Measured, seeds, arm, k, d):
    """The win rate against one base sample, per seed and prompt."""
    def f(si, j, u, wu):
        return float(wu @ m.vs_base[(arm, seeds[si], k, d)][j][u] / wu.sum())
    return f


def _summary(point, boot) -> dict:
    boot = boot[np.isfinite(boot)]
    return {"mean": point, "ci": _interval(boot) if boot.size else [np.nan, np.nan]}


def _cell(m, seeds, groups, bs: _Bootstrap, a, k, d) -> tuple[dict, np.ndarray]:
    """One (arm, shown k, display) cell of the result, and the robust win rate's replicates."""
    pt, bt = bs.stat(_robust(m, seeds, groups, a, k, d))
    names = range(len(GROUPS))
    cell = {"robust": _summary(pt, bt),
            "robust_by_group": {GROUPS[g][0]: _summary(*bs.stat(_robust(m, seeds, groups, a, k,
                                                                        d, g)))
                                for g in names},
            "vs_own_reference": {GROUPS[g][0]: _summary(*bs.stat(_vs_reference(
                m, seeds, groups, a, k, d, g))) for g in names},
            "vs_base": _summary(*bs.stat(_vs_base(m, seeds, a, k, d)))}
    return cell, bt


def _arm_cells(result, m, runs, seeds, groups, bs, a, boots) -> None:
    """Every cell of arm ``a``, its diversity (multiset cells) and its runs."""
    for k in SHOWN_K:
        for d in DISPLAYS:
            result["cells"][f"{a}|k={k}|{d}"], boots[(a, k, d)] = _cell(m, seeds, groups, bs, a,
                                                                        k, d)
    for k in SHOWN_K:
        cell = result["cells"][f"{a}|k={k}|multiset"]
        cell["distinct_texts"] = float(np.mean([np.mean(m.div[(a, s)]["exact"][k])
                                                for s in seeds]))
        cell["distinct_classes"] = float(np.mean([np.mean(m.div[(a, s)]["classes"][k])
                                                  for s in seeds]))
    for s in seeds:
        r = runs[(a, s)]
        result["runs"][f"{a}-s{s}"] = {
            "train_seconds": r["train_seconds"], "steps": r["steps"],
            "mean_words": float(np.mean(m.div[(a, s)]["words"])),
            "examples": [r["samples"][j][:3] for j in range(len(EVAL_PROMPTS))]}


def _paired(result, arms, boots) -> None:
    """Each arm minus NLHF, robust win rate, with the paired bootstrap interval."""
    cells = result["cells"]
    for a in arms:
        if a == "nlhf":
            continue
        for k in SHOWN_K:
            for d in DISPLAYS:
                if ("nlhf", k, d) in boots:
                    diff = boots[(a, k, d)] - boots[("nlhf", k, d)]
                    pt = (cells[f"{a}|k={k}|{d}"]["robust"]["mean"]
                          - cells[f"nlhf|k={k}|{d}"]["robust"]["mean"])
                    result["paired"][f"{a}-nlhf|k={k}|{d}"] = {"mean": pt, "ci": _interval(diff)}


def analyse(out: Path, embed=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Every measured quantity of the experiment from ``<out>/runs/*/samples.json``."""
    from ualign.llm.embed import as_embedder

    embed = as_embedder(embed)
    runs = _load_runs(out)
    if not runs:
        raise ValueError(f"no finished runs under {out / 'runs'}")
    arms, seeds, keys = _run_keys(runs)
    ev = population("eval", embed=embed)
    m = _Measured({}, {}, [], {key: {"exact": {k: [] for k in SHOWN_K},
                                     "classes": {k: [] for k in SHOWN_K}, "words": []}
                               for key in keys}, [])
    for j in range(len(EVAL_PROMPTS)):
        _measure_prompt(j, runs, keys, seeds, ev, embed, m)
    bs = _Bootstrap.draw(ev.weights, len(seeds), len(EVAL_PROMPTS), n_boot, seed)
    result: dict = {"arms": {a: ARMS.get(a, {"k": 0, "label": "base"})["label"] for a in arms},
                    "seeds": seeds, "shown_k": list(SHOWN_K), "displays": list(DISPLAYS),
                    "groups": [{"name": n, "share": s} for n, s, _ in GROUPS],
                    "eval_users": ev.n_users, "eval_prompts": EVAL_PROMPTS, "bootstrap": n_boot,
                    "group_check": m.group_check, "cells": {}, "paired": {}, "runs": {}}
    boots: dict = {}
    for a in arms:
        _arm_cells(result, m, runs, seeds, ev.groups, bs, a, boots)
    _paired(result, arms, boots)
    return result


def plot(result: dict, path: str | Path) -> None:
    """Robust win rate against k (one line per arm), one panel per display, plus the per-group
    robust win rate at k = 4 (distinct display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = result["shown_k"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    styles = ["o-", "s--", "^-.", "d:", "v-"]
    for ax, d in zip(axes[:2], DISPLAYS, strict=True):
        for i, (a, label) in enumerate(result["arms"].items()):
            c = [result["cells"][f"{a}|k={k}|{d}"]["robust"] for k in ks]
            m = np.array([x["mean"] for x in c])
            err = np.array([[x["mean"] - x["ci"][0] for x in c],
                            [x["ci"][1] - x["mean"] for x in c]])
            ax.errorbar(np.array(ks) + 0.06 * (i - 2), m, yerr=err, fmt=styles[i % 5], capsize=3,
                        label=label)
        ax.plot(ks, [k / (k + 1) for k in ks], color="grey", lw=1, ls=(0, (1, 1)),
                label="k/(k+1)")
        ax.set_xticks(ks)
        ax.set_xlabel("k shown")
        ax.set_ylabel("robust win rate vs pool (95% CI)")
        ax.set_title(f"{d} display")
    axes[0].legend(fontsize="small", loc="lower right")
    ax = axes[2]
    names = [g["name"] for g in result["groups"]]
    width = 0.8 / len(result["arms"])
    for i, (a, label) in enumerate(result["arms"].items()):
        c = result["cells"][f"{a}|k=4|distinct"]["robust_by_group"]
        m = np.array([c[n]["mean"] for n in names])
        err = np.array([[c[n]["mean"] - c[n]["ci"][0] for n in names],
                        [c[n]["ci"][1] - c[n]["mean"] for n in names]])
        ax.bar(np.arange(len(names)) + i * width, m, width, yerr=err, capsize=2, label=label)
    ax.set_xticks(np.arange(len(names)) + width * (len(result["arms"]) - 1) / 2,
                  [f"{g['name']} ({g['share']:.0%})" for g in result["groups"]])
    ax.set_ylabel("robust win rate within group, k = 4")
    ax.set_title("per group (distinct display)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse_list(text: str, name: str, allowed=None, cast=str) -> list:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ValueError(f"{name} must be a comma-separated list, got {text!r}")
    out = []
    for i, x in enumerate(items):
        try:
            v = cast(x)
        except ValueError:
            raise ValueError(f"{name}: item {i + 1} ({x!r}) must be {cast.__name__}") from None
        if allowed is not None and v not in allowed:
            raise ValueError(f"{name}: item {i + 1} ({x!r}) must be one of {sorted(allowed)}")
        out.append(v)
    return out


def _check(args: Args) -> tuple[list[str], list[int]]:
    """The arms and seeds, with every option checked (``ValueError`` naming it)."""
    arms = _parse_list(args.arms, "--arms", set(ARMS))
    seeds = _parse_list(args.seeds, "--seeds", cast=int)
    if args.group_size < max(ARMS[a]["k"] for a in arms) + 1:
        raise ValueError(f"--group-size must be >= k+1 for every arm, got {args.group_size}")
    if args.eval_samples < max(SHOWN_K):
        raise ValueError(f"--eval-samples must be >= {max(SHOWN_K)}, got {args.eval_samples}")
    for name in ("steps", "bootstrap"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    return arms, seeds


def _train_all(args: Args, arms, seeds, embed, out: Path) -> None:
    """Train and sample every (arm, seed) not finished yet (``--only``: those pairs), the
    never-trained base model first; the arms run so far are kept in config.json."""
    import torch

    torch.set_num_threads(1)
    pop = population("train", embed=embed)
    jobs = [("base", s) for s in seeds] + [(a, s) for s in seeds for a in arms]
    if args.only:
        want = set(args.only.split(","))
        jobs = [(a, s) for a, s in jobs if f"{a}-{s}" in want]
    cfg_path = out / "config.json"
    old = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    arms_run = sorted(set(old.get("arms", "").split(",") + arms) - {""})
    _write_json(cfg_path, dict(dataclasses.asdict(args), arms=",".join(arms_run), only=None))
    for i, (a, s) in enumerate(jobs):
        print(f"[plural] run {i + 1}/{len(jobs)}: {a} seed {s}", flush=True)
        run_arm(args, a, s, pop)


def main(argv=None) -> int:
    args = parse_args(Args, argv, prog="python experiments/plural.py",
                      description=__doc__.splitlines()[0]).resolved()
    try:
        arms, seeds = _check(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from ualign.llm.embed import as_embedder

    embed = as_embedder(args.embed)
    if not args.analyse_only:
        _train_all(args, arms, seeds, embed, out)
        if args.only:
            return 0
    result = analyse(out, embed=embed, n_boot=args.bootstrap)
    result["config"] = json.loads((out / "config.json").read_text()) \
        if (out / "config.json").exists() else None
    _write_json(out / "result.json", result)
    if args.json:
        _write_json(Path(args.json), result)
    if args.plot:
        plot(result, args.plot)
    print(report_table(result))
    return 0


def report_table(result: dict) -> str:
    """Markdown table: robust win rate (95% CI) per arm, shown k and display."""
    lines = ["| arm | " + " | ".join(f"k={k} {d}" for k in result["shown_k"]
                                       for d in result["displays"]) + " | vs base (k=1) |",
             "|---|" + "---|" * (len(result["shown_k"]) * len(result["displays"]) + 1)]
    for a, label in result["arms"].items():
        cells = []
        for k in result["shown_k"]:
            for d in result["displays"]:
                c = result["cells"][f"{a}|k={k}|{d}"]["robust"]
                cells.append(f"{c['mean']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]")
        b = result["cells"][f"{a}|k=1|multiset"]["vs_base"]
        cells.append(f"{b['mean']:.3f} [{b['ci'][0]:.3f}, {b['ci'][1]:.3f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
