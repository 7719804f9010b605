"""Wall time of ``ualign compare`` with its default options on every real dataset (issue 12,
item 23: defaults finish promptly; the aim is under a minute on this 2-core machine).

Each run is ``python -m ualign.cli compare PROFILE --out TMP`` in a child process (so import
time, plots and the JSON are counted, as a user meets them), one dataset at a time: every Polis
conversation and PrefLib file under ``../shared/data``, then the README's own command
(``--k 1..16 --methods rlhf,nlhf,ualign,kset``) on brexit-consensus. Per dataset it prints the
wall time, the child's CPU time and peak resident memory, and the seconds of the three slowest
methods as ``compare.json`` records them.

Usage: python benchmarks/bench_compare_defaults.py [--data ../shared/data] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_COMMAND = ("brexit-consensus", ["--k", "1..16", "--methods", "rlhf,nlhf,ualign,kset"])


def datasets(data: Path) -> list[Path]:
    """Every Polis conversation folder and PrefLib file under ``data``, sorted by name."""
    polis = sorted(p for p in (data / "polis").iterdir() if (p / "comments.csv").is_file())
    preflib = sorted(p for p in (data / "preflib").rglob("*")
                     if p.suffix in (".soc", ".soi", ".toc", ".toi"))
    return polis + preflib


def run_one(profile: Path, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ualign.cli", "compare", str(profile), "--out",
               str(Path(tmp) / "out"), *extra]
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU and peak memory
            child.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        wall = time.perf_counter() - t0
        per_method: collections.Counter = collections.Counter()
        shape = ("?", "?")
        out = Path(tmp) / "out" / "compare.json"
        if child.returncode == 0 and out.is_file():
            doc = json.loads(out.read_text())
            shape = (doc["n_users"], doc["n_responses"])
            for entry in doc["entries"]:
                per_method[entry["method"]] += entry.get("seconds") or 0.0
    return dict(name=profile.name, extra=" ".join(extra), status=child.returncode, wall=wall,
                cpu=usage.ru_utime + usage.ru_stime, rss_mib=usage.ru_maxrss / 2**10,
                shape=shape, slowest=per_method.most_common(3),
                error=stderr.strip().splitlines()[-1:] if child.returncode else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--only", nargs="*", default=None, help="dataset names to run (default all)")
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"--data: no folder {args.data}")
    jobs = [(p, []) for p in datasets(args.data)]
    brexit = args.data / "polis" / README_COMMAND[0]
    if brexit.is_dir():
        jobs.append((brexit, README_COMMAND[1]))
    if args.only:
        jobs = [(p, e) for p, e in jobs if p.name in args.only]
    load0 = os.getloadavg()
    now = datetime.datetime.now(datetime.UTC)
    print(f"ualign compare, default options — {now:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average at start {load0[0]:.1f}")
    print("| profile | options | U × n | exit | wall s | CPU s | peak MiB | slowest methods (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    rows = []
    for profile, extra in jobs:
        r = run_one(profile, extra)
        rows.append(r)
        slow = ", ".join(f"{m} {s:.1f}" for m, s in r["slowest"])
        print(f"| {r['name']} | {r['extra'] or 'defaults'} | {r['shape'][0]} × {r['shape'][1]} "
              f"| {r['status']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mib']:,.0f} | "
              f"{slow}{' ' + r['error'][0][:120] if r['error'] else ''} |", flush=True)
    walls = sorted(r["wall"] for r in rows)
    print(f"\n{len(rows)} runs; wall median {walls[len(walls) // 2]:.1f} s, max {walls[-1]:.1f} s; "
          f"{sum(r['wall'] > 60 for r in rows)} over 60 s; {sum(r['status'] != 0 for r in rows)} "
          f"non-zero exits; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
