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

Run from the repository root: ``python experiments/exactness.py --out FOLDER`` (a table on
stdout, JSON and a plot in FOLDER, default ``exactness-out``; the committed results are in
``docs/``). ``--tiny`` runs a few steps on the NLHF-collapse instance only (seconds).

References: THEORY.md §4, §5, §6 (NLHF collapse), §8.
"""

from __future__ import annotations

import dataclasses
import json
import string
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from _args import field, parse_args
from ualign.core.payoffs import exploitability, robust_win_rate
from ualign.core.profile import Profile


@dataclass(frozen=True)
class Args:
    """The experiment's options (``python experiments/exactness.py --help``)."""

    out: str = field("exactness-out", "folder for train_exactness.json/.png (--out docs "
                     "overwrites the committed results)")
    data: str = field("../shared/data", "the shared data folder (PrefLib APA 1999 is read "
                      "from it when present)")
    k: str = field("2", "comma-separated deployment k values")
    steps: int = field(120, "self-play steps per run")
    group_size: int = field(32, "G samples per step")
    eta: float = field(0.5, "SPPO step size")
    seed: int = field(0, "seed of the model and the sampler")
    n_max: int = field(20, "restrict real profiles to their first n <= this responses")
    only: str = field("", "run only instances whose name contains this")
    tiny: bool = field(False, "a smoke run: the NLHF-collapse instance only, 4 steps of 8 "
                       "samples (seconds)")

    def resolved(self) -> Args:
        """``--tiny``: the NLHF-collapse instance only, 4 steps, 8 samples per step."""
        if not self.tiny:
            return self
        return dataclasses.replace(self, steps=4, group_size=8, only="nlhf-collapse")


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
    """One training run: the instance, train and deployment k, the trained policy over the
    candidates, the engine's equilibrium and the distances to it, and the trace."""

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
    trace: list[dict] = dataclasses.field(default_factory=list)


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


def _ks(text: str) -> list[int]:
    """``"2"`` or ``"2,4"`` -> the deployment ks (integers >= 1), else ``ValueError``."""
    out = []
    for pos, item in enumerate(text.split(",")):
        try:
            k = int(item)
        except ValueError:
            raise ValueError(f"--k must be a list like 2 or 2,4, got {text!r}: cannot read item "
                             f"{item.strip()!r} at position {pos}") from None
        if k < 1:
            raise ValueError(f"--k values must be integers >= 1, got {k} at position {pos}")
        out.append(k)
    return out


def main(argv=None) -> int:
    args = parse_args(Args, argv, prog="python experiments/exactness.py",
                      description="Exactness experiment: self-play training of a tiny LM over n "
                                  "fixed responses vs the engine's equilibrium.").resolved()
    try:
        ks = _ks(args.k)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = []
    for name, P in _instances(Path(args.data), args.n_max):
        if args.only not in name:
            continue
        for k in ks:
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
