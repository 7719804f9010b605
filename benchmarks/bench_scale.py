"""The equilibrium solver at scale (issue 22): time and peak memory of building a generated
profile and of ``solve_ualign(profile, k)`` on it, in one process.

A profile spec (``load_profile``; default ``pl:n=10000,users=100000,groups=5``: five
Plackett-Luce groups, Gumbel noise around each group's log-strengths, 10^9 entries, 2 GB as
int16) is built, then solved by ``solve_ualign(method="auto")`` to ``--tol`` with progress on
stderr. The resident set is sampled every 20 ms: peak during the build and during the solve,
against the size of the profile's level array and the process's resident set before the build
(interpreter and libraries). ``--time-limit`` is the solver's (0: none, to measure the time to
certify whatever the load).

Writes one Markdown section (appended to ``--out``; default benchmarks/results/scale.md).

Usage: python benchmarks/bench_scale.py [--spec pl:n=10000,users=100000,groups=5] [--k 16]
       [--tol 1e-9] [--time-limit 0] [--threads 2] [--max-rss-gb 10]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import threading
import time
from pathlib import Path

import numba
import numpy as np

import ualign
from ualign.data import load_profile

ROOT = Path(__file__).resolve().parents[1]


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


class Sampler:
    """Resident-set samples every 20 ms: ``peak()`` since the last call; exits the process
    (status 99) above ``cap`` bytes."""

    def __init__(self, cap: float):
        self.cap = cap
        self._peak = rss()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            r = rss()
            self._peak = max(self._peak, r)
            if r > self.cap:
                os.write(2, f"resident set {r / 2**30:.2f} GiB above the cap: stopping\n"
                         .encode())
                os._exit(99)
            time.sleep(0.02)

    def peak(self) -> int:
        p, self._peak = max(self._peak, rss()), rss()
        return p


def gib(x: float) -> str:
    return f"{x / 2**30:.2f} GiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="pl:n=10000,users=100000,groups=5")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--tol", type=float, default=1e-9)
    ap.add_argument("--time-limit", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-rss-gb", type=float, default=10.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.md"))
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    sampler = Sampler(args.max_rss_gb * 2**30)
    # compile the kernels on a small instance, outside the measurements
    ualign.solve_ualign(load_profile("pl:n=50,users=200,groups=3"), args.k, time_limit=None)
    base = rss()
    sampler.peak()
    load0 = os.getloadavg()

    t0, c0 = time.perf_counter(), time.process_time()
    P = load_profile(args.spec)
    build = (time.perf_counter() - t0, time.process_time() - c0)
    build_peak = sampler.peak()
    size = P.levels.nbytes

    t0, c0 = time.perf_counter(), time.process_time()
    res = ualign.solve_ualign(P, args.k, tol=args.tol, progress=True,
                              time_limit=args.time_limit or None)
    solve = (time.perf_counter() - t0, time.process_time() - c0)
    solve_peak = sampler.peak()
    load1 = os.getloadavg()
    d = res.diagnostics

    lines = [
        f"### `{args.spec}`, k = {args.k}",
        "",
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, {numba.get_num_threads()} numba "
        f"threads, Python {platform.python_version()}, numba {numba.__version__}, numpy "
        f"{np.__version__}, ualign {ualign.__version__}. Load average (1, 5, 15 min): "
        + " ".join(f"{x:.1f}" for x in load0) + " before, "
        + " ".join(f"{x:.1f}" for x in load1) + " after.",
        "",
        f"Profile: {P.n_users:,} user types x {P.n_responses:,} responses, levels "
        f"{P.levels.dtype} = {gib(size)}; resident before building (interpreter, libraries, "
        f"compiled kernels): {gib(base)}.",
        "",
        "| stage | wall (s) | CPU (s) | peak resident | peak / levels | (peak - before) / "
        "levels |",
        "|---|---:|---:|---:|---:|---:|",
        f"| build (`load_profile`) | {build[0]:.1f} | {build[1]:.1f} | {gib(build_peak)} | "
        f"{build_peak / size:.2f}x | {(build_peak - base) / size:.2f}x |",
        f"| `solve_ualign` (auto) | {solve[0]:.1f} | {solve[1]:.1f} | {gib(solve_peak)} | "
        f"{solve_peak / size:.2f}x | {(solve_peak - base) / size:.2f}x |",
        "",
        f"Result: certified exploitability {res.exploitability:.3g} (tol {args.tol:g}, "
        f"converged={res.converged}), robust win rate {res.robust_win_rate:.6f} (multiset), "
        f"{d.rounds} rounds, candidate sets {list(d.candidate_sizes)}, support "
        f"{d.support_size}, {res.payoff_evals} full evaluations, {d.restricted_jacobians} "
        f"restricted Jacobians; seconds at each round: "
        + ", ".join(f"{t:.1f}" for t in d.trace_seconds) + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    with out.open("a") as f:
        f.write(text + "\n")
    print(f"appended to {out}")


if __name__ == "__main__":
    main()
