"""The exactness experiment: the paper at language-model level.

A causal LM defines a policy over a fixed set of n response strings for a prompt, its normalised
sequence likelihoods ``π_θ(y) ∝ exp(log p_θ(y | x))``. The :class:`SelfPlayTrainer` trains it by
self-play (SPPO loss, G samples per step, leave-one-out payoffs P̂ from the population) against a
:class:`ualign.Profile` whose symmetric equilibrium ``π*_k`` of the (k+1)-player game the engine
computes exactly. We then measure, with the engine (no sampling):

- ``TV(π_θ, π*_k) = ½ Σ_y |π_θ(y) - π*_k(y)|``;
- the robust win rate ``1 - max_y L(π_θ, y)`` of ``π_θ^{⊗k}`` (target ``k/(k+1)``);
- the same numbers for a model trained with k = 1 (NLHF / SPPO) but deployed with k samples.

On the NLHF-collapse instance (share ½+ε rank a ≻ b) k = 1 training collapses onto a, whose k
samples win only ½+ε against b, while (k+1)-player training reaches k/(k+1).

Run: ``python -m ualign.train.exactness --out FOLDER`` (a table on stdout, JSON and a plot in
FOLDER, default ``exactness-out``; the committed results are in ``docs/``).

References: THEORY.md §4, §5, §6 (NLHF collapse), §8.
"""

from __future__ import annotations

import argparse
import json
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ualign.core.payoffs import exploitability, robust_win_rate
from ualign.core.profile import Profile

__all__ = ["ExactnessRun", "candidate_strings", "equilibrium", "run_exactness"]


def equilibrium(profile: Profile, k: int, tol: float = 1e-9) -> tuple[np.ndarray, float, str]:
    """The symmetric equilibrium ``π*_k`` of the (k+1)-player game and its exploitability
    certificate, from the engine (``ualign.solvers.solve_ualign``).

    Raises whatever the solver raises, and ``RuntimeError`` when its certified exploitability
    is above ``tol`` (there is no fallback: the experiment compares against a certified π*).
    """
    from ualign.solvers import solve_ualign

    r = solve_ualign(profile, k, tol=tol)
    if not r.converged:
        raise RuntimeError(f"solve_ualign ({r.method}) did not reach exploitability <= {tol:g} "
                           f"for k={k}: certified {r.exploitability:.3g}")
    return np.asarray(r.policy, float), float(r.exploitability), f"solve_ualign:{r.method}"


def candidate_strings(profile: Profile) -> list[str]:
    """Distinct short strings naming the profile's responses (letters/digits only)."""
    out = []
    for y in range(profile.n_responses):
        lab = profile.label(y)
        s = "".join(ch for ch in lab if ch in string.ascii_letters + string.digits + " ")[:24]
        s = s.strip() or f"r{y}"
        while s in out:
            s = f"{s} {y}"
        out.append(s)
    return out


@dataclass
class ExactnessRun:
    instance: str
    n: int
    train_k: int
    eval_k: int
    steps: int
    group_size: int
    policy: list[float]
    equilibrium: list[float]
    equilibrium_method: str
    equilibrium_exploitability: float
    tv: float
    robust_win_rate: float
    target: float
    exploitability: float
    seconds: float
    trace: list[dict] = field(default_factory=list)


def run_exactness(profile: Profile, train_k: int, eval_k: int | None = None, *,
                  instance: str = "profile", steps: int = 200, group_size: int = 32,
                  eta: float = 0.5, learning_rate: float = 0.02, updates_per_step: int = 4,
                  seed: int = 0, hidden_size: int = 32, trace_every: int = 5,
                  output_dir: str | None = None, progress_bar: bool = True) -> ExactnessRun:
    """Train a tiny LM (from scratch) by self-play at ``train_k``; evaluate at ``eval_k``."""
    import tempfile

    import torch

    from ualign.train.config import SelfPlayConfig
    from ualign.train.populations import CandidatePopulation
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm
    from ualign.train.trainer import SelfPlayTrainer

    torch.set_num_threads(1)   # tiny matrices: threads only contend (2-core shared machine)
    eval_k = train_k if eval_k is None else eval_k
    cands = candidate_strings(profile)
    tok = char_tokenizer("".join(sorted(set("".join(cands) + "Q:"))))
    model = tiny_causal_lm(tok, hidden_size=hidden_size, seed=seed)
    pi_star, cert, method = equilibrium(profile, eval_k)
    trace: list[dict] = []

    def record(tr, step, metrics):
        if step % trace_every == 0 or step == tr.config.max_steps:
            pi = tr.policy_over_candidates()
            trace.append({"step": step,
                          "robust_win_rate": float(robust_win_rate(profile, pi, eval_k).value),
                          "tv": float(0.5 * np.abs(pi - pi_star).sum())})

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SelfPlayConfig(
            prompts=["Q:"], candidates=cands, k=train_k,
            group_size=max(group_size, train_k + 1), max_steps=steps, eta=eta,
            learning_rate=learning_rate, updates_per_step=updates_per_step, seed=seed,
            output_dir=output_dir or tmp, max_grad_norm=None, progress_bar=progress_bar,
            device="cpu")
        t0 = time.perf_counter()
        tr = SelfPlayTrainer(cfg, population=CandidatePopulation(profile, cands), model=model,
                             tokenizer=tok, callbacks=[record])
        pi0 = tr.policy_over_candidates()
        trace.insert(0, {"step": 0, "robust_win_rate":
                         float(robust_win_rate(profile, pi0, eval_k).value),
                         "tv": float(0.5 * np.abs(pi0 - pi_star).sum())})
        tr.train()
        secs = time.perf_counter() - t0
        pi = tr.policy_over_candidates()
    return ExactnessRun(
        instance=instance, n=profile.n_responses, train_k=train_k, eval_k=eval_k, steps=steps,
        group_size=cfg.group_size, policy=pi.tolist(), equilibrium=pi_star.tolist(),
        equilibrium_method=method, equilibrium_exploitability=cert,
        tv=float(0.5 * np.abs(pi - pi_star).sum()),
        robust_win_rate=float(robust_win_rate(profile, pi, eval_k).value),
        target=eval_k / (eval_k + 1), exploitability=float(exploitability(profile, pi, eval_k)),
        seconds=secs, trace=trace)


def _instances(data_dir: Path, n_max: int) -> list[tuple[str, Profile]]:
    from ualign.data.generators import nlhf_collapse

    out = [("nlhf-collapse eps=0.05", nlhf_collapse(0.05))]
    # APA 1999 election (00028-00000002, 5 candidates, ties for the unranked): it has a
    # Condorcet winner, so NLHF (k = 1) collapses onto it, while the (k+1)-player equilibrium is
    # mixed for k >= 2.
    f = data_dir / "preflib" / "00028-apa" / "00028-00000002.toc"
    if f.is_file():
        from ualign.core.preflib import read_preflib

        P = read_preflib(f)
        if P.n_responses > n_max:
            P = P.restrict(range(n_max))
        out.append((f"preflib {f.parent.name}/{f.name}", P))
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Exactness experiment: self-play training of a "
                                 "tiny LM over n fixed responses vs the engine's equilibrium.")
    ap.add_argument("--out", default="exactness-out",
                    help="folder for train_exactness.json/.png (default exactness-out; "
                         "--out docs overwrites the committed results)")
    ap.add_argument("--data", default="../shared/data", help="shared data folder")
    ap.add_argument("--k", type=int, nargs="+", default=[2], help="deployment k values")
    ap.add_argument("--steps", type=int, default=120, help="self-play steps per run")
    ap.add_argument("--group-size", type=int, default=32, help="G samples per step")
    ap.add_argument("--eta", type=float, default=0.5, help="SPPO step size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-max", type=int, default=20, help="restrict real profiles to n <= this")
    ap.add_argument("--only", default="", help="run only instances whose name contains this")
    return ap


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    rows = []
    for name, P in _instances(Path(args.data), args.n_max):
        if args.only not in name:
            continue
        for k in args.k:
            for train_k in (1, k):
                r = run_exactness(P, train_k, k, instance=name, steps=args.steps,
                                  group_size=args.group_size, eta=args.eta, seed=args.seed,
                                  progress_bar=False)
                rows.append(r)
                print(f"{name:38s} n={r.n:2d} train k={train_k} deploy k={k}: "
                      f"TV={r.tv:.3f} robustWR={r.robust_win_rate:.4f} "
                      f"(target {r.target:.4f}) [{r.seconds:.0f}s]", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_exactness.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    _plot(rows, out / "train_exactness.png")
    return 0


def _plot(rows: list[ExactnessRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    insts = list(dict.fromkeys(r.instance for r in rows))
    fig, axes = plt.subplots(1, len(insts), figsize=(5.5 * len(insts), 4), squeeze=False)
    for ax, inst in zip(axes[0], insts, strict=True):
        for r in rows:
            if r.instance != inst:
                continue
            s = [t["step"] for t in r.trace]
            v = [t["robust_win_rate"] for t in r.trace]
            ls = "-" if r.train_k == r.eval_k else "--"
            ax.plot(s, v, ls, label=f"trained k={r.train_k}, shown k={r.eval_k}")
        for k in sorted({r.eval_k for r in rows if r.instance == inst}):
            ax.axhline(k / (k + 1), color="grey", lw=0.6, ls=":")
        ax.set_title(inst, fontsize=9)
        ax.set_xlabel("self-play step")
        ax.set_ylabel("robust win rate of k samples")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
