"""Speed of ``deviation_payoffs`` (issue 2): U user types x n responses, k samples.

Measured side by side in one run:
- ``ualign``: the compiled O(U n) sweep over precomputed per-user orders (the per-profile sort
  is timed separately, it is paid once);
- ``numpy``: a straightforward vectorised NumPy evaluation of the same closed form (bincount of
  class masses, reverse cumsum, the stable expm1/log1p form, gather, weighted sum);
- ``stream``: a memory-stream floor, one pass that reads the same ``(U, n)`` order array.

Usage: python benchmarks/bench_payoffs.py [--users 100000] [--responses 1000] [--k 16]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numba
import numpy as np

import ualign
from ualign.core import _kernels


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--responses", type=int, default=1000)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    U, n, k = args.users, args.responses, args.k
    rng = np.random.default_rng(args.seed)
    rankings = np.argsort(rng.random((U, n)), axis=1)
    profile = ualign.Profile.from_rankings(rankings)
    del rankings
    pi = rng.dirichlet(np.ones(n))

    t_sort, order = best_of(lambda: profile._sorted_orders, 1)
    ualign.deviation_payoffs(profile, pi, k)  # compile / load the cached kernel
    t_fast, L = best_of(lambda: ualign.deviation_payoffs(profile, pi, k), args.repeat)
    t_np, L_np = best_of(lambda: _kernels.payoffs_numpy(profile.levels, profile.weights, pi, k),
                         max(1, args.repeat - 1))
    t_stream, _ = best_of(lambda: int(order.sum(dtype=np.int64)), args.repeat)
    err = float(np.abs(L - L_np).max())
    entries = U * n
    lines = [
        f"deviation_payoffs benchmark — {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numba {numba.__version__} ({numba.get_num_threads()} threads), numpy {np.__version__}",
        f"U = {U:,} user types x n = {n:,} responses, k = {k} (order array {order.dtype}, "
        f"{order.nbytes / 2**20:.0f} MiB)",
        "",
        "| implementation | time (s) | entries/s | vs ualign |",
        "|---|---:|---:|---:|",
        f"| ualign (compiled sweep) | {t_fast:.3f} | {entries / t_fast:.3g} | 1.0x |",
        f"| straightforward NumPy | {t_np:.3f} | {entries / t_np:.3g} | "
        f"{t_np / t_fast:.1f}x slower |",
        f"| memory-stream floor (one read of the order array) | {t_stream:.3f} | "
        f"{entries / t_stream:.3g} | {t_fast / t_stream:.1f}x faster |",
        "",
        f"once per profile: per-user sort {t_sort:.2f} s; max |ualign - numpy| = {err:.1e}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
