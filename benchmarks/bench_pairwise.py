"""Speed of ``Profile.pairwise_preferences`` and of ``solve_ualign`` with few users (issue 12,
items 20 and 22), old against new, measured side by side in one run.

- pairwise: the old chunked boolean einsum (``old_pairwise`` below, the code this replaced)
  against the compiled blocked compare-and-add kernel, at U = 10^4 x n = 1,000 and
  U = 10^5 x n = 100 (random strict orders); the largest difference is printed.
- few users: ``solve_ualign(auto)`` on U = 3 random strict orders of n = 8,000 responses, with
  the old first candidate set (``m0 = max(32, n // 8)``) against the new default
  (``max(32, min(n // 8, 16 U))``); both certified.

The load average is printed before and after (the machine may be shared).

Usage: python benchmarks/bench_pairwise.py [--k 4] [--old-solve-limit 300]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np

import ualign


def old_pairwise(profile) -> np.ndarray:
    """The replaced implementation: chunked ``(rows, n, n)`` boolean comparisons, einsum."""
    n = profile.n_responses
    P = np.zeros((n, n))
    rows = max(1, 2**24 // (n * n))
    for s in range(0, profile.n_users, rows):
        lv = profile.levels[s:s + rows].astype(np.int32)
        w = profile.weights[s:s + rows]
        better = lv[:, :, None] < lv[:, None, :]
        P += np.einsum("u,uyz->yz", w, better, optimize=True)
    return P


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def random_profile(rng, U, n):
    return ualign.Profile.from_rankings(np.argsort(rng.random((U, n)), axis=1))


def bench_pairwise(rng, sizes):
    ualign.Profile.from_rankings([[0, 1], [1, 0]]).pairwise_preferences()  # compile
    print("| U | n | old einsum (s) | new kernel (s) | speed-up | max abs diff |")
    print("|---:|---:|---:|---:|---:|---:|")
    for U, n in sizes:
        P = random_profile(rng, U, n)
        t_new, new = timed(P.pairwise_preferences)
        t_old, old = timed(lambda: old_pairwise(P))  # noqa: B023
        print(f"| {U:,} | {n:,} | {t_old:.2f} | {t_new:.3f} | {t_old / t_new:.1f}x | "
              f"{np.abs(new - old).max():.1e} |", flush=True)


def solve_row(seed, U, n, k, m0):
    """One ``solve_ualign`` run as a table row (the profile rebuilt from ``seed``)."""
    P = random_profile(np.random.default_rng(seed), U, n)
    ualign.solve_ualign(ualign.Profile.from_rankings([[0, 1, 2], [2, 1, 0]]), k)  # compile
    name = "new default" if m0 is None else "old default n // 8"
    size = max(32, min(n // 8, 16 * P.n_users)) if m0 is None else m0
    t, r = timed(lambda: ualign.solve_ualign(P, k, m0=m0))
    d = r.diagnostics
    return (f"| {name} ({size}) | {t:.2f} | {d.rounds} | {list(d.candidate_sizes)} | "
            f"{d.support_size} | {r.exploitability:.1e} |")


def bench_few_users(seed, U, n, k, old_limit):
    print(f"\nsolve_ualign(auto), U = {U} random strict orders x n = {n:,}, k = {k}, tol = 1e-9:")
    print("| first candidates (m0) | time (s) | rounds | candidate sizes | support | "
          "exploitability |")
    print("|---|---:|---:|---|---:|---:|")
    if old_limit > 0:  # the old start can take minutes: run it apart, under a time limit
        cmd = [sys.executable, __file__, "--solve-row", str(max(32, n // 8)), "--k", str(k),
               "--seed", str(seed)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=old_limit,
                                 check=True).stdout.strip()
        except subprocess.TimeoutExpired:
            out = (f"| old default n // 8 ({max(32, n // 8)}) | > {old_limit:.0f} "
                   f"(stopped) | | | | |")
        print(out, flush=True)
    print(solve_row(seed, U, n, k, None), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--old-solve-limit", type=float, default=300.0,
                    help="seconds allowed to the old-start solve (0: skip it)")
    ap.add_argument("--solve-row", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.solve_row is not None:
        print(solve_row(args.seed, 3, 8000, args.k, args.solve_row))
        return
    load0 = os.getloadavg()
    print(f"pairwise / few-users benchmark — {datetime.date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, numba {numba.__version__} ({numba.get_num_threads()} "
          f"threads), numpy {np.__version__}")
    rng = np.random.default_rng(args.seed)
    bench_pairwise(rng, [(10_000, 1000), (100_000, 100)])
    bench_few_users(args.seed, 3, 8000, args.k, args.old_solve_limit)
    load1 = os.getloadavg()
    print("\nload average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in load0) + " before, "
          + " ".join(f"{x:.1f}" for x in load1) + " after")


if __name__ == "__main__":
    main()
