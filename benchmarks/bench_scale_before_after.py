"""``solve_ualign`` before and after issue 22, on one profile, one after the other (issue 22).

The source tree at ``--old-commit`` (default a912f89, the state the issue measured: 5.9 GB peak
at U = 2x10^4 x n = 10^4) is extracted with ``git archive`` and run in a child process beside
this checkout's, each on the same profile: ``--groups`` Plackett-Luce groups (Gumbel noise
around each group's log-strengths), U x n int16 rankings built by blocks with NumPy alone (the
same in both trees), then ``Profile.from_rankings``. Each child compiles its kernels on a small
profile first, then times ``solve_ualign(P, k)`` (no time limit where the tree has one) and
samples its resident set every 20 ms (peak during the solve, and before it).

Writes benchmarks/results/scale_before_after.md.

Usage: python benchmarks/bench_scale_before_after.py [--users 20000] [--responses 10000]
       [--k 16] [--max-rss-gb 9]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, threading, time
import numpy as np

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))

peak = [0]
cap = float(sys.argv[4]) * 2**30
def sample():
    while True:
        r = rss()
        peak[0] = max(peak[0], r)
        if r > cap:
            os.write(2, b"resident set above the cap: stopping\n")
            os._exit(99)
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()

import ualign
U, n, k, G = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
rng = np.random.default_rng(0)
logw = np.log(rng.dirichlet(np.ones(n), size=G))
group = np.repeat(np.arange(G), -(-U // G))[:U]
r = np.empty((U, n), np.int16)
rows = max(1, (1 << 22) // n)
for s in range(0, U, rows):
    e = min(U, s + rows)
    r[s:e] = np.argsort(-(logw[group[s:e]] + rng.gumbel(size=(e - s, n))), axis=1)
P = ualign.Profile.from_rankings(r)
del r
small = ualign.Profile.from_rankings(np.argsort(rng.random((200, 50)), axis=1))
opts = ualign.solvers.equilibrium.UalignOptions.__dataclass_fields__
kw = {"time_limit": None} if "time_limit" in opts else {}
ualign.solve_ualign(small, k, **kw)
before = rss()
peak[0] = before
t0, c0 = time.perf_counter(), time.process_time()
res = ualign.solve_ualign(P, k, **kw)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
d = res.diagnostics
print(json.dumps({"file": ualign.__file__, "levels": int(P.levels.nbytes), "before": before,
                  "peak": max(peak[0], rss()), "wall": wall, "cpu": cpu,
                  "exploitability": res.exploitability, "converged": bool(res.converged),
                  "rounds": d.rounds, "sizes": list(d.candidate_sizes),
                  "support": d.support_size, "load": os.getloadavg()}))
"""


def extract(commit: str, into: Path) -> Path | None:
    """``src`` at ``commit`` under ``into``; None without git or the commit."""
    archive = into / "src.tar"
    try:
        with archive.open("wb") as f:
            subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, stdout=f, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(archive) as t:
        t.extractall(into, filter="data")
    return into / "src"


def run(src: Path, args) -> dict:
    import json

    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, "-c", CHILD, str(args.users), str(args.responses),
                          str(args.k), str(args.max_rss_gb), str(args.groups)], env=env,
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--responses", type=int, default=10_000)
    ap.add_argument("--groups", type=int, default=5)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--old-commit", default="a912f89")
    ap.add_argument("--max-rss-gb", type=float, default=9.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                         "scale_before_after.md"))
    args = ap.parse_args()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        old_src = extract(args.old_commit, Path(tmp))
        rows = []
        if old_src is not None:
            rows.append((f"before ({args.old_commit})", run(old_src, args)))
        rows.append(("this checkout", run(ROOT / "src", args)))
    load1 = os.getloadavg()
    lines = [
        f"## solve_ualign before and after, U = {args.users:,} x n = {args.responses:,}, "
        f"k = {args.k}",
        "",
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.groups} Plackett-Luce groups, int16 rankings; the two runs one after the "
        f"other. Load average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in load0)
        + " before, " + " ".join(f"{x:.1f}" for x in load1) + " after.",
        "",
        "| code | solve wall (s) | solve CPU (s) | resident before | peak during the solve | "
        "peak - before | (peak - before) / levels | certified exploitability | rounds, "
        "candidate sets, support |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in rows:
        if "error" in r:
            lines.append(f"| {name} | {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['wall']:.1f} | {r['cpu']:.1f} | {gib(r['before'])} | "
            f"{gib(r['peak'])} | {gib(r['peak'] - r['before'])} | "
            f"{(r['peak'] - r['before']) / r['levels']:.2f}x | {r['exploitability']:.2e} | "
            f"{r['rounds']}, {r['sizes']}, {r['support']} |")
    lines.append("")
    lines.append(f"The profile's levels: {gib(rows[-1][1].get('levels', 0))} (int16). 'Resident "
                 "before' includes the profile, the interpreter and the compiled kernels.")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
