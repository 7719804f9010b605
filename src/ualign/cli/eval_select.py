"""``ualign eval-select``: the table (and a plot) of held-out win rates in a results JSONL
written by ``ualign select``."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "Summarise ualign select results: held-out win rates per method and k, and a plot"

COLUMNS = [("robust", "robust WR"), ("robust_shown", "robust WR (shown)"),
           ("mean", "mean WR"), ("robust_humans", "robust vs humans"),
           ("mean_humans", "mean vs humans"), ("distinct", "distinct"),
           ("cosine_distance", "diversity")]


def add_arguments(p) -> None:
    p.add_argument("results", help="JSONL written by ualign select")
    p.add_argument("--plot", default=None,
                   help="PNG path for the plot (default: RESULTS with suffix .png); 'none' "
                        "skips it")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table instead")


def timing_summary(records) -> dict:
    """Candidates per second (generation) and mean selection seconds per prompt per method."""
    import numpy as np
    gen_s = sum(r["timing"].get("generate_s", 0.0) for r in records)
    n_c = sum(len(r["candidates"]) for r in records)
    sel: dict[str, list[float]] = {}
    for r in records:
        for m, by_k in r["timing"].get("select_s", {}).items():
            sel.setdefault(m, []).append(sum(by_k.values()))
    return dict(candidates=n_c, generate_s=gen_s,
                candidates_per_s=(n_c / gen_s) if gen_s > 0 else float("nan"),
                select_s_per_prompt={m: float(np.mean(v)) for m, v in sel.items()})


def plot(rows, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ks = sorted({r["k"] for r in rows})
    if ks:
        grid = range(1, max(ks) + 1)
        ax.plot(list(grid), [k / (k + 1) for k in grid], "k--", lw=1, label="k/(k+1)")
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["k"], r["robust"]) for r in rows if r["method"] == method)
        style = "s" if len(pts) == 1 else "o-"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=method)
    ax.set_xlabel("k (responses shown)")
    ax.set_ylabel("held-out robust win rate vs every candidate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ualign.cli.select import read_results
    from ualign.llm.experiment import summarise

    path = Path(args.results)
    if not path.is_file():
        raise FileNotFoundError(f"no such results file: {path}")
    records = read_results(path)
    if not records:
        raise ValueError(f"{path} holds no results")
    rows = summarise(records)
    present = [(m, h) for m, h in COLUMNS if any(m in r for r in rows)]
    if args.markdown:
        print("| method | k | " + " | ".join(h for _, h in present) + " |")
        print("|---|---:|" + "---:|" * len(present))
        for r in rows:
            cells = [f"{r[m]:.3f}" if m in r else "" for m, _ in present]
            print(f"| {r['method']} | {r['k']} | " + " | ".join(cells) + " |")
    else:
        t = Table(title=f"{path.name}: {len(records)} prompt(s), held-out users")
        t.add_column("method")
        t.add_column("k", justify="right")
        t.add_column("k/(k+1)", justify="right")
        for _, h in present:
            t.add_column(h, justify="right")
        for r in rows:
            t.add_row(r["method"], str(r["k"]), f"{r['k'] / (r['k'] + 1):.3f}",
                      *[f"{r[m]:.3f}" if m in r else "" for m, _ in present])
        Console(width=None if sys.stdout.isatty() else 160).print(t)
    ts = timing_summary(records)
    sel = ", ".join(f"{m} {s * 1e3:.1f} ms" for m, s in ts["select_s_per_prompt"].items())
    print(f"generation: {ts['candidates']} candidates, {ts['candidates_per_s']:.2f} "
          f"candidates/s; selection per prompt (all k): {sel}")
    if (args.plot or "").lower() != "none":
        png = Path(args.plot) if args.plot else path.with_suffix(".png")
        plot(rows, png)
        print(f"plot: {png}")
    return 0
