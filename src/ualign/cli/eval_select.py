"""``ualign eval-select``: the table (and a plot) of held-out win rates in a results JSONL
written by ``ualign select``."""

from __future__ import annotations

import json
from pathlib import Path

from ualign._text import markup, plain

HELP = "Summarise ualign select results: held-out win rates per method and k, and a plot"

#: the metric columns of the table: (SummaryRow field, header); the display of the win rates is
#: a column of its own
COLUMNS = [("robust", "robust WR"), ("robust_shown", "robust WR (shown)"), ("mean", "mean WR"),
           ("robust_humans", "robust vs humans"), ("mean_humans", "mean vs humans"),
           ("distinct", "distinct shown"), ("cosine_distance", "diversity")]


def add_arguments(p) -> None:
    p.add_argument("results", help="JSONL written by ualign select")
    p.add_argument("--plot", default=None,
                   help="PNG path for the plot (default: RESULTS with suffix .png); 'none' "
                        "skips it")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table instead")
    p.add_argument("--json", default=None,
                   help="also write the rows (one per display), the merge counts and the timing "
                        "as JSON to this path ('-' for stdout)")


def _cell(row, field: str) -> str:
    value = getattr(row, field)
    return "" if value is None else f"{value:.3f}"


def _print_markdown(rows, present, sel_col) -> None:
    """The rows as a Markdown table: method, k, display, the ``present`` columns, and the
    selection display when ``sel_col``."""
    print("| method | k | display | " + " | ".join(h for _, h in present)
          + (" | selected for |" if sel_col else " |"))
    print("|---|---:|---|" + "---:|" * len(present) + ("---|" if sel_col else ""))
    for r in rows:
        cells = [_cell(r, m) for m, _ in present] + ([r.selected_for] if sel_col else [])
        print(f"| {plain(r.method)} | {r.k} | {r.display} | " + " | ".join(cells) + " |")


def _print_rich(rows, present, sel_col, title: str) -> None:
    """The rows as a rich table, with ``k/(k+1)`` beside k."""
    from rich.table import Table

    from ualign.cli._console import print_tables

    t = Table(title=title)
    t.add_column("method")
    t.add_column("k", justify="right")
    t.add_column("k/(k+1)", justify="right")
    t.add_column("display")
    for _, h in present:
        t.add_column(h, justify="right")
    if sel_col:
        t.add_column("selected for")
    for r in rows:
        t.add_row(markup(r.method), str(r.k), f"{r.k / (r.k + 1):.3f}", r.display,
                  *[_cell(r, m) for m, _ in present], *([r.selected_for] if sel_col else []))
    print_tables([t])


def _print_notes(ts, displays, merged) -> None:
    """Generation and selection timing, the selection displays, and the merge counts."""
    sel = ", ".join(f"{m} {s * 1e3:.1f} ms" for m, s in ts["select_s_per_prompt"].items())
    print(f"generation: {ts['candidates']} candidates, {ts['candidates_per_s']:.2f} "
          f"candidates/s; selection per prompt (all k): {sel}")
    print(f"selected for display {'/'.join(displays)}; win rates under each display (column "
          f"'display'; distinct: both sides' responses merged, THEORY §9)")
    if merged["prompts"]:
        rules = ", ".join(r["rule"] + (f" >= {r['threshold']}" if r["threshold"] is not None
                                       else "") for r in merged["rules"])
        print(f"merged: {merged['merged']} of {merged['candidates']} candidates over "
              f"{merged['prompts']} prompt(s) ({rules}); {merged['distinct']} distinct")


def zero_human_notes(rows) -> list[str]:
    """Why a ``robust vs humans`` cell reads 0.000: it is the worst case over the human-written
    statements, so 0 means that in every prompt one human statement is preferred by every
    held-out user to each response the method shows (the win rate against it is 0)."""
    notes = []
    for display in dict.fromkeys(r.display for r in rows):
        zero = [f"{r.method} k={r.k}" for r in rows if r.display == display
                and r.robust_humans is not None and r.robust_humans <= 1e-12]
        if zero:
            notes.append(f"robust vs humans {display} = 0.000 for {', '.join(zero)}: in every "
                         f"prompt some human-written statement is preferred by every held-out "
                         f"user to each response shown (the worst case over human statements; "
                         f"'mean vs humans' averages over them)")
    return notes


def _write_json(target: str, doc: dict) -> None:
    """``doc`` as indented JSON to ``target``, a path or ``-`` for stdout."""
    from ualign.core._atomic import atomic_write_text

    text = json.dumps(doc, indent=1)
    if target == "-":
        print(text)
    else:
        atomic_write_text(Path(target), text + "\n")
        print(f"json: {plain(target)}")


def _plot_path(args, path: Path) -> Path | None:
    """The ``--plot`` PNG (default: RESULTS with suffix .png; None for 'none'); it and
    ``--json`` are checked writable before anything is read."""
    from ualign.cli._paths import out_file

    if args.json and args.json != "-":
        out_file(args.json, "--json")
    if (args.plot or "").lower() == "none":
        return None
    return out_file(args.plot if args.plot else path.with_suffix(".png"), "--plot")


def run(args) -> int:
    from ualign.llm.experiment import SelectionRecord, merge_summary, summarise, timing_summary
    from ualign.llm.store import read_results
    from ualign.report.selection_plots import plot_win_rates

    path = Path(args.results)
    png = _plot_path(args, path)
    if not path.is_file():
        raise FileNotFoundError(f"no such results file: {path}")
    records = read_results(path, require=("candidates", "results", "timing"),
                           parse=SelectionRecord.from_json)
    if not records:
        raise ValueError(f"{path} holds no results")
    rows = summarise(records)
    if not rows:
        raise ValueError(f"{path}: its records hold no win rates (every 'results' is empty)")
    merged = merge_summary(records)
    present = [(m, h) for m, h in COLUMNS if any(getattr(r, m) is not None for r in rows)]
    displays = list(dict.fromkeys(r.selected_for for r in rows))
    sel_col = len(displays) > 1  # the selection display as a last column when the file mixes
    if args.markdown:
        _print_markdown(rows, present, sel_col)
    else:
        _print_rich(rows, present, sel_col,
                    f"{markup(path.name)}: {len(records)} prompt(s), held-out users")
    ts = timing_summary(records)
    _print_notes(ts, displays, merged)
    for note in zero_human_notes(rows):
        print(f"note: {plain(note)}")
    if args.json:
        _write_json(args.json, dict(results=str(path), prompts=len(records),
                                    displays=displays, rows=[r.to_json() for r in rows],
                                    merge=merged, timing=ts))
    if png is not None:
        plot_win_rates(rows, png)
        print(f"plot: {plain(png)}")
    return 0
