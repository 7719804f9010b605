"""Real-data check of the committee baselines (issue 11 item 3): Chamberlin–Courant and PAV on
the agree-approvals (``approvals="top"``) of every Polis conversation in ``../shared/data/polis``,
for k in {2, 4, 8}: seconds, whether HiGHS proved the committee optimal within the time limit,
the score and the certified upper bound. Writes ``benchmarks/results/committees.md``.

Not a test: the times depend on the machine and its load (written down with the results).

Usage: python benchmarks/bench_committees.py [--time-limit 4] [--data ../shared/data/polis]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path
from typing import NamedTuple

from ualign import read_polis
from ualign.solvers.committees import chamberlin_courant, pav

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "committees.md"
DATA = ROOT.parent.parent / "shared" / "data" / "polis"
KS = (2, 4, 8)


class Row(NamedTuple):
    conversation: str
    n: int
    participants: int
    groups: int
    k: int
    rule: str
    seconds: float
    optimal: bool
    score: float
    upper_bound: float
    incumbent: str
    responses: tuple[int, ...]


def measure(data: Path, time_limit: float) -> list[Row]:
    rows = []
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        P = read_polis(folder)
        for k in KS:
            if k > P.n_responses:
                continue
            for rule, f in (("cc", chamberlin_courant), ("pav", pav)):
                r = f(P, k, time_limit=time_limit)
                rows.append(Row(folder.name, P.n_responses, int(P.n_voters),
                                r.diagnostics.groups,
                                k, rule, r.seconds, r.optimal, r.score, r.upper_bound,
                                r.diagnostics.incumbent, r.responses))
                print(f"{folder.name:48s} k={k} {rule:3s} {r.seconds:6.2f}s "
                      f"optimal={r.optimal} score={r.score:.4f} bound={r.upper_bound:.4f}",
                      flush=True)
    return rows


def table(rows: list[Row]) -> list[str]:
    lines = ["| conversation | n | participants | approval groups | k | rule | seconds | "
             "proven optimal | score | upper bound | gap | committee from |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.conversation} | {r.n} | {r.participants} | {r.groups} | {r.k} | "
                     f"{r.rule.upper()} | {r.seconds:.2f} | {'yes' if r.optimal else 'no'} | "
                     f"{r.score:.4f} | {r.upper_bound:.4f} | {r.upper_bound - r.score:.2g} | "
                     f"{r.incumbent} |")
    return lines


def summary(rows: list[Row], time_limit: float) -> list[str]:
    out = []
    for rule in ("cc", "pav"):
        rr = [r for r in rows if r.rule == rule]
        proven = [r for r in rr if r.optimal]
        worst = max((r.upper_bound - r.score for r in rr), default=0.0)
        median = sorted(r.seconds for r in rr)[len(rr) // 2]
        out.append(f"- {rule.upper()}: {len(proven)} of {len(rr)} cases proven optimal within "
                   f"{time_limit:g} s (median {median:.2f} s); "
                   f"largest certified gap {worst:.3g}.")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=4.0, help="HiGHS seconds per case")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of Polis conversations")
    ap.add_argument("--out", type=Path, default=OUT, help="Markdown file to write")
    args = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = measure(args.data, args.time_limit)
    total = time.perf_counter() - t0
    load1 = os.getloadavg()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Committee baselines on Polis agree-approvals",
        "",
        f"{now}; {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{load0[0]:.2f} / {load0[1]:.2f} / {load0[2]:.2f} at the start, {load1[0]:.2f} / "
        f"{load1[1]:.2f} / {load1[2]:.2f} at the end (1 / 5 / 15 min; the machine is shared).",
        "",
        f"`chamberlin_courant` and `pav` (`approvals=\"top\"`: a participant approves their "
        f"level-0 class, the agrees; see `ualign.solvers.committees`), HiGHS through "
        f"`scipy.optimize.milp` with relative gap 0 and `time_limit={args.time_limit:g}` s per "
        f"case. Profiles from `ualign.read_polis` defaults (min_votes 7, unseen = pass). Scores "
        f"are shares of participants (CC) and mean H(|A ∩ S|) (PAV); gap = certified upper bound "
        f"− score (0 when proven optimal). After a time limit the committee is the better of "
        f"HiGHS's and a greedy + swap local search (last column). Total {total:.0f} s.",
        "",
        *summary(rows, args.time_limit),
        "",
        *table(rows),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
