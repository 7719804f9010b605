"""Benchmark: certified best k-sets of distinct responses (``solve_kset(display="distinct")``).

Every Polis conversation and every PrefLib file in ``../shared/data``, k ∈ {2, 4, 8}: the time
to a certified gap ``upper_bound − value <= 1e-4`` with a 60 s limit each; one generated profile
with n = 5,000 responses: the certified gap reached within 60 s. Rows are appended as JSON lines
(one file per shard, so shards can run side by side) and ``--assemble`` writes
``benchmarks/results/kset_distinct.md``.

    python benchmarks/bench_kset_distinct.py --shard polis --out /tmp/kd_polis.jsonl
    python benchmarks/bench_kset_distinct.py --shard preflib --out /tmp/kd_preflib.jsonl
    python benchmarks/bench_kset_distinct.py --shard generated --out /tmp/kd_gen.jsonl
    python benchmarks/bench_kset_distinct.py --assemble /tmp/kd_*.jsonl

References: shared/spec/THEORY.md §7, §9.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import NamedTuple

import ualign
from ualign.solvers import solve_kset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "kset_distinct.md"
KS = (2, 4, 8)
GAP = 1e-4
GENERATED = "mallows:n=5000,phi=0.95,users=1000,seed=0"


class Row(NamedTuple):
    dataset: str
    n: int
    U: int
    k: int
    value: float | None
    upper_bound: float | None
    gap: float | None
    seconds: float | None
    met: bool | None
    note: str


def cases(shard):
    if shard in ("polis", "all"):
        for d in sorted((DATA / "polis").iterdir()):
            if (d / "participants-votes.csv").exists():
                yield f"polis/{d.name}", d
    if shard in ("preflib", "all"):
        for f in sorted((DATA / "preflib").rglob("*")):
            if f.suffix in (".soc", ".soi", ".toc", ".toi"):
                yield f"preflib/{f.parent.name}/{f.name}", f
    if shard in ("generated", "all"):
        yield GENERATED, GENERATED


def run_case(name, source, cap):
    P = ualign.load_profile(str(source))
    for k in KS:
        if k > P.n_responses:
            yield Row(name, P.n_responses, P.n_users, k, None, None, None, None, None,
                      "k > n: no k-set of distinct responses")
            continue
        t = time.perf_counter()
        r = solve_kset(P, k, display="distinct", gap_tol=GAP, time_limit=cap)
        sec = time.perf_counter() - t
        gap = r.upper_bound - r.value
        e = r.extras
        note = (f"{r.iterations} rounds, {r.columns} columns, {e['mip_calls']} MIPs "
                f"({e['mip_seconds']:.1f} s), bound: {e['upper_bound_from']}, {e['status']}")
        yield Row(name, P.n_responses, P.n_users, k, r.value, r.upper_bound, gap, sec,
                  bool(gap <= GAP and sec <= cap), note)


def assemble(paths):
    rows, meta = [], []
    for p in paths:
        for line in Path(p).read_text().splitlines():
            d = json.loads(line)
            (meta if "machine" in d else rows).append(d)
    out = ["# Certified best k-sets of distinct responses", "",
           "`python benchmarks/bench_kset_distinct.py` (shards run side by side, see its "
           "docstring): `solve_kset(P, k, display=\"distinct\", gap_tol=1e-4, time_limit=60)`; "
           "met = certified gap `upper_bound − value <= 1e-4` within 60 s. U = distinct user "
           "rows of the profile. Polis data: "
           "Data was gathered using the Polis software (compdemocracy.org/polis) and is "
           "sub-licensed under CC BY 4.0 with Attribution to The Computational Democracy "
           "Project.", ""]
    for m in meta:
        out.append(f"- shard `{m['shard']}`: {m['machine']}; started {m['date']}, load "
                   f"average at start {m['load']}")
    out += ["", "| dataset | n | U | k | value | upper_bound | gap | seconds | met | notes |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    missed = []
    for d in rows:
        if d["value"] is None:
            out.append(f"| {d['dataset']} | {d['n']} | {d['U']} | {d['k']} | – | – | – | – | "
                       f"n/a | {d['note']} |")
            continue
        met = "met" if d["met"] else "**missed**"
        if not d["met"]:
            missed.append(d)
        out.append(f"| {d['dataset']} | {d['n']} | {d['U']} | {d['k']} | {d['value']:.6f} | "
                   f"{d['upper_bound']:.6f} | {d['gap']:.1e} | {d['seconds']:.1f} | {met} | "
                   f"{d['note']} |")
    done = [d for d in rows if d["value"] is not None]
    out += ["", f"{len(done) - len(missed)} of {len(done)} cases met; missed:"]
    out += [f"- {d['dataset']} k = {d['k']}: gap {d['gap']:.1e} after {d['seconds']:.1f} s"
            for d in missed] or ["- none"]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n")
    print(f"wrote {RESULTS}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shard", choices=["polis", "preflib", "generated", "all"], default="all")
    ap.add_argument("--out", default="kset_distinct.jsonl", help="JSON lines, appended")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--assemble", nargs="+", help="JSON-lines files to turn into the table")
    args = ap.parse_args()
    if args.assemble:
        assemble(args.assemble)
        return
    with open(args.out, "a") as fh:
        fh.write(json.dumps({"shard": args.shard, "machine": f"{platform.machine()}, "
                             f"{os.cpu_count()} cores, {platform.python_version()}",
                             "date": datetime.datetime.now(datetime.UTC).strftime(
                                 "%Y-%m-%d %H:%M UTC"),
                             "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}) + "\n")
        for name, source in cases(args.shard):
            for row in run_case(name, source, args.cap):
                fh.write(json.dumps(row._asdict()) + "\n")
                fh.flush()
                print(row, flush=True)


if __name__ == "__main__":
    main()
