"""``ualign eval-select``: the table (and a plot) of held-out win rates in a results JSONL
written by ``ualign select``."""

from __future__ import annotations

import sys
from pathlib import Path

from ualign.llm.experiment import summarise, timing_summary
from ualign.llm.plots import plot_win_rates
from ualign.llm.store import read_results

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


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

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
        plot_win_rates(rows, png)
        print(f"plot: {png}")
    return 0
