"""Speed of ``deviation_payoffs`` (issue 2): U user types x n responses, k samples.

Measured side by side in one run:
- ``ualign``: the compiled O(U n) sweep over precomputed per-user orders (the per-profile sort
  is timed separately, it is paid once);
- ``numpy``: a straightforward vectorised NumPy evaluation of the same closed form (bincount of
  class masses, reverse cumsum, the stable expm1/log1p form, gather, weighted sum);
- ``stream``: a memory-stream floor, one pass that reads the same ``(U, n)`` order array;
- distinct display (THEORY.md §9), same profile and policy: the compiled kernel against a
  straightforward NumPy version of the strict-order form ``a^k + ½((a+p)^k - a^k)``;
- ties: the profile's ranks grouped into level classes of ``--tie-class`` responses (the subset
  form of a tie class's distinct payoff), both displays; and a smaller profile
  (``--dp-users`` users) with classes of ``--dp-class`` responses, where the distinct kernel
  runs the DP over draws used x distinct count.

The load average is printed before and after (the machine may be shared).

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
    ap.add_argument("--tie-class", type=int, default=2)
    ap.add_argument("--dp-users", type=int, default=10_000)
    ap.add_argument("--dp-class", type=int, default=20)
    args = ap.parse_args()
    load0 = os.getloadavg()
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

    # distinct display, same profile and policy
    ualign.deviation_payoffs(profile, pi, k, display="distinct")
    t_dfast, Ld = best_of(lambda: ualign.deviation_payoffs(profile, pi, k, display="distinct"),
                          args.repeat)
    t_dnp, Ld_np = best_of(lambda: _kernels.distinct_payoffs_numpy(profile.levels,
                                                                   profile.weights, pi, k),
                           max(1, args.repeat - 1))
    derr = float(np.abs(Ld - Ld_np).max())

    # ties: ranks grouped into classes of --tie-class responses
    order_info = f"order array {order.dtype}, {order.nbytes / 2**20:.0f} MiB"
    tied = ualign.Profile.from_levels(profile.levels // args.tie_class)
    small = ualign.Profile.from_levels(profile.levels[:args.dp_users] // args.dp_class)
    profile = order = None  # free the strict profile
    t_tsort, _ = best_of(lambda: tied._sorted_orders, 1)
    ualign.deviation_payoffs(tied, pi, k, display="distinct")
    t_tm, _ = best_of(lambda: ualign.deviation_payoffs(tied, pi, k), args.repeat)
    t_td, _ = best_of(lambda: ualign.deviation_payoffs(tied, pi, k, display="distinct"), 1)
    tied = None
    _ = small._sorted_orders
    t_sm, _ = best_of(lambda: ualign.deviation_payoffs(small, pi, k), args.repeat)
    t_sd, _ = best_of(lambda: ualign.deviation_payoffs(small, pi, k, display="distinct"), 1)
    Us = small.n_users
    load1 = os.getloadavg()

    entries = U * n
    lines = [
        f"deviation_payoffs benchmark — {datetime.date.today()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"numba {numba.__version__} ({numba.get_num_threads()} threads), numpy {np.__version__}",
        f"U = {U:,} user types x n = {n:,} responses, k = {k} ({order_info})",
        f"load average (1, 5, 15 min): {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} before, "
        f"{load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f} after",
        "",
        "| display | profile | implementation | time (s) | entries/s | vs ualign |",
        "|---|---|---|---:|---:|---:|",
        f"| multiset | strict | ualign (compiled sweep) | {t_fast:.3f} | {entries / t_fast:.3g} "
        "| 1.0x |",
        f"| multiset | strict | straightforward NumPy | {t_np:.3f} | {entries / t_np:.3g} | "
        f"{t_np / t_fast:.1f}x slower |",
        f"| multiset | strict | memory-stream floor (one read of the order array) | "
        f"{t_stream:.3f} | {entries / t_stream:.3g} | {t_fast / t_stream:.1f}x faster |",
        f"| distinct | strict | ualign (compiled sweep) | {t_dfast:.3f} | "
        f"{entries / t_dfast:.3g} | 1.0x |",
        f"| distinct | strict | straightforward NumPy | {t_dnp:.3f} | {entries / t_dnp:.3g} | "
        f"{t_dnp / t_dfast:.1f}x slower |",
        f"| multiset | ties, classes of {args.tie_class} | ualign | {t_tm:.3f} | "
        f"{entries / t_tm:.3g} | |",
        f"| distinct | ties, classes of {args.tie_class} | ualign (subset form) | {t_td:.3f} | "
        f"{entries / t_td:.3g} | {t_td / t_tm:.1f}x multiset |",
        f"| multiset | U = {Us:,}, classes of {args.dp_class} | ualign | {t_sm:.3f} | "
        f"{Us * n / t_sm:.3g} | |",
        f"| distinct | U = {Us:,}, classes of {args.dp_class} | ualign (DP) | {t_sd:.3f} | "
        f"{Us * n / t_sd:.3g} | {t_sd / t_sm:.1f}x multiset |",
        "",
        f"once per profile: per-user sort {t_sort:.2f} s (ties: {t_tsort:.2f} s); "
        f"max |ualign - numpy| = {err:.1e} (multiset), {derr:.1e} (distinct)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
