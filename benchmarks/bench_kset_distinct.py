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
import subprocess
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


def run_case(name, source, cap, ks=KS):
    P = ualign.load_profile(str(source))
    for k in ks:
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


def _row_line(d, commit):
    if d["value"] is None:
        return (f"| {d['dataset']} | {d['n']} | {d['U']} | {d['k']} | – | – | – | – | n/a | "
                f"{commit} | {d['note']} |")
    met = "met" if d["met"] else "**missed**"
    return (f"| {d['dataset']} | {d['n']} | {d['U']} | {d['k']} | {d['value']:.6f} | "
            f"{d['upper_bound']:.6f} | {d['gap']:.1e} | {d['seconds']:.1f} | {met} | {commit} | "
            f"{d['note']} |")


def assemble(paths):
    """Later files override earlier ones for the same (dataset, k); overridden rows are listed
    after the main table."""
    final, superseded, meta = {}, [], []
    for p in paths:
        commit = "?"
        for line in Path(p).read_text().splitlines():
            d = json.loads(line)
            if "machine" in d:
                commit = d.get("commit", "?")
                meta.append(d)
                continue
            key = (d["dataset"], d["k"])
            if key in final:
                superseded.append(final[key])
            final[key] = (d, commit)
    head = ["| dataset | n | U | k | value | upper_bound | gap | seconds | met | commit | notes |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    out = ["# Certified best k-sets of distinct responses", "",
           "`python benchmarks/bench_kset_distinct.py` (shards run side by side, see its "
           "docstring): `solve_kset(P, k, display=\"distinct\", gap_tol=1e-4, time_limit=60)`; "
           "met = certified gap `upper_bound − value <= 1e-4` within 60 s. U = distinct user "
           "rows of the profile; n/a: k > n. Polis data: "
           "Data was gathered using the Polis software (compdemocracy.org/polis) and is "
           "sub-licensed under CC BY 4.0 with Attribution to The Computational Democracy "
           "Project.", ""]
    for m in meta:
        out.append(f"- shard `{m['shard']}` at commit {m.get('commit', '?')}: {m['machine']}; "
                   f"started {m['date']}, load average at start {m['load']}")
    out += ["", *head]
    rows = [final[key] for key in final]
    out += [_row_line(d, c) for d, c in rows]
    done = [d for d, _ in rows if d["value"] is not None]
    missed = [d for d in done if not d["met"]]
    out += ["", f"{len(done) - len(missed)} of {len(done)} cases met "
            f"({len(rows) - len(done)} not applicable); missed:"]
    out += [f"- {d['dataset']} k = {d['k']}: gap {d['gap']:.1e} after {d['seconds']:.1f} s"
            for d in missed] or ["- none"]
    if superseded:
        out += ["", "## Earlier runs of the same cases (superseded by the rows above)", "",
                *head, *[_row_line(d, c) for d, c in superseded]]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n")
    print(f"wrote {RESULTS}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shard", choices=["polis", "preflib", "generated", "all"], default="all")
    ap.add_argument("--out", default="kset_distinct.jsonl", help="JSON lines, appended")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--ks", default="2,4,8", help="comma-separated k values")
    ap.add_argument("--only", default="", help="run only datasets whose name contains this")
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
                             "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                             "commit": subprocess.run(
                                 ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                 capture_output=True, text=True).stdout.strip()}) + "\n")
        for name, source in cases(args.shard):
            if args.only not in name:
                continue
            for row in run_case(name, source, args.cap,
                                tuple(int(x) for x in args.ks.split(","))):
                fh.write(json.dumps(row._asdict()) + "\n")
                fh.flush()
                print(row, flush=True)


if __name__ == "__main__":
    main()
