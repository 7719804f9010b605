"""Speed of ``deviation_payoffs`` (issues 2, 22): U user types x n responses, k samples.

Measured side by side in one run, for each thread count in ``--threads``:

- the memory-stream floor: one read of the ``(U, n)`` int16 level array (a compiled pass and
  NumPy's ``sum``; the faster is the floor);
- ``ualign``'s compiled sweep over the profile's levels (this checkout), on a dense policy
  (Dirichlet(1), the engine benchmark), the uniform policy (where the solvers start) and a
  sparse one (11 responses, an equilibrium's support);
- the previous kernel (``core/_kernels.py`` at ``--old-commit``, read from git), which swept
  per-user sorted orders (an int16 ``(U, n)`` array built once per profile; its build is not
  timed), on the same policies;
- distinct display (THEORY.md §9), dense policy, both kernels;
- with ``--numpy``: a straightforward vectorised NumPy evaluation (``payoffs_numpy``).

Wall and CPU seconds are the best of ``--repeat`` calls (CPU: the process's, all threads); the
load average is printed before and after (the machine may be shared: compare ratios within one
run). Agreement: largest relative difference between the kernels.

Usage: python benchmarks/bench_payoffs.py [--users 100000] [--responses 1000] [--k 16]
       [--threads 1,2] [--numpy] [--out benchmarks/results/payoffs_U100000_n1000.md]
(U = 10^6 x n = 10^3: ``--users 1000000``, about 4.5 GB resident with the previous kernel's
orders; ``--max-rss-gb`` stops the run above that.)
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
from _git import module_at  # benchmarks/ is on sys.path
from ualign.core import _kernels

ROOT = Path(__file__).resolve().parents[1]


def watchdog(max_gb: float) -> None:
    """Exit (status 99) as soon as the resident set passes ``max_gb`` GiB."""
    def run():
        while True:
            with open("/proc/self/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            if rss * 1024 > max_gb * 2**30:
                os.write(2, f"resident set above {max_gb} GiB: stopping\n".encode())
                os._exit(99)
            time.sleep(0.05)
    if os.path.exists("/proc/self/status"):
        threading.Thread(target=run, daemon=True).start()


def load_old_kernels(commit: str):
    """``core/_kernels.py`` at ``commit`` as a module, or None without git."""
    return module_at(commit, "src/ualign/core/_kernels.py", "old_kernels")


@numba.njit(parallel=True, cache=True)
def stream(levels, nchunks):
    """One read of every entry (a sum), in parallel over blocks of rows."""
    U, n = levels.shape
    size = (U + nchunks - 1) // nchunks
    acc = np.zeros(nchunks, dtype=np.int64)
    for c in numba.prange(nchunks):
        s = 0
        for u in range(c * size, min(U, c * size + size)):
            row = levels[u]
            for y in range(n):
                s += row[y]
        acc[c] = s
    return acc.sum()


def best_of(fn, repeat):
    """(best wall seconds, best CPU seconds, last result)."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu), out


def strict_profile(U: int, n: int, seed: int) -> ualign.Profile:
    """Uniformly random strict orders, built by row blocks in int16."""
    rng = np.random.default_rng(seed)
    rows = max(1, (1 << 22) // n)
    blocks = (np.argsort(rng.random((min(rows, U - s), n)), axis=1) for s in range(0, U, rows))
    return ualign.Profile.from_blocks(U, n, blocks, "rankings")


def sorted_orders(levels: np.ndarray) -> np.ndarray:
    """The previous kernel's encoded per-user orders of strict levels (best first), by row
    chunks, int16."""
    out = np.empty_like(levels)
    rows = max(1, (1 << 22) // levels.shape[1])
    for s in range(0, levels.shape[0], rows):
        out[s:s + rows] = np.argsort(levels[s:s + rows], axis=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--responses", type=int, default=1000)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--old-commit", default="a912f89",
                    help="the commit whose kernel is compared (the sorted-order sweep)")
    ap.add_argument("--no-old", action="store_true")
    ap.add_argument("--numpy", action="store_true", help="also time payoffs_numpy")
    ap.add_argument("--max-rss-gb", type=float, default=10.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    watchdog(args.max_rss_gb)
    load0 = os.getloadavg()
    U, n, k = args.users, args.responses, args.k
    entries = U * n
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    P = strict_profile(U, n, args.seed)
    t_build = time.perf_counter() - t0
    old = None if args.no_old else load_old_kernels(args.old_commit)
    order = sorted_orders(P.levels) if old is not None else None
    policies = {"dense (Dirichlet)": rng.dirichlet(np.ones(n))[None, :],
                "uniform": np.full((1, n), 1.0 / n)}
    sparse = np.zeros((1, n))
    sparse[0, rng.choice(n, 11, replace=False)] = rng.dirichlet(np.ones(11))
    policies["sparse (11 responses)"] = sparse
    lv, w = P.levels, P.weights

    rows = []
    agree = []
    for T in [int(t) for t in args.threads.split(",")]:
        numba.set_num_threads(T)
        nc = 4 * T
        stream(lv[:2], nc)
        s_numba = best_of(lambda nc=nc: stream(lv, nc), args.repeat)
        s_numpy = best_of(lambda: int(lv.sum(dtype=np.int64)), args.repeat)
        floor = min(s_numba[0], s_numpy[0])
        rows.append((T, "multiset", "memory-stream floor: compiled one-pass read", s_numba,
                     floor))
        rows.append((T, "multiset", "memory-stream floor: NumPy sum", s_numpy, floor))
        for name, pi in policies.items():
            _kernels.payoffs_kernel(lv[:2], w[:2], pi, k, nc)
            new = best_of(lambda pi=pi, nc=nc: _kernels.payoffs_kernel(lv, w, pi, k, nc),
                          args.repeat)
            rows.append((T, "multiset", f"ualign sweep over levels, {name}", new, floor))
            if old is not None:
                old.payoffs_kernel(order[:2], w[:2], pi, k, nc)
                prev = best_of(lambda pi=pi, nc=nc: old.payoffs_kernel(order, w, pi, k, nc),
                               args.repeat)
                rows.append((T, "multiset", f"previous sorted-order sweep, {name}", prev,
                             floor))
                agree.append(float(np.abs(new[2] - prev[2]).max() / np.abs(prev[2]).max()))
        pi = policies["dense (Dirichlet)"]
        _kernels.distinct_payoffs_kernel(lv[:2], w[:2], pi, k, nc)
        new = best_of(lambda pi=pi, nc=nc: _kernels.distinct_payoffs_kernel(lv, w, pi, k, nc),
                      args.repeat)
        rows.append((T, "distinct", "ualign sweep over levels, dense (Dirichlet)", new, floor))
        if old is not None:
            old.distinct_payoffs_kernel(order[:2], w[:2], pi, k, nc)
            prev = best_of(lambda pi=pi, nc=nc: old.distinct_payoffs_kernel(order, w, pi, k, nc),
                           args.repeat)
            rows.append((T, "distinct", "previous sorted-order sweep, dense (Dirichlet)", prev,
                         floor))
            agree.append(float(np.abs(new[2] - prev[2]).max() / np.abs(prev[2]).max()))
    numpy_row = None
    if args.numpy:
        pi = policies["dense (Dirichlet)"][0]
        numpy_row = best_of(lambda: _kernels.payoffs_numpy(lv, w, pi, k), 1)
    load1 = os.getloadavg()

    lines = [
        f"## deviation_payoffs, U = {U:,} x n = {n:,}, k = {k}",
        "",
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numba {numba.__version__}, numpy {np.__version__}, ualign {ualign.__version__}; "
        f"levels int16, {lv.nbytes / 2**20:,.0f} MiB (built in {t_build:.1f} s); previous "
        f"kernel: {'not run' if old is None else args.old_commit}.",
        f"Load average (1, 5, 15 min): {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f} before, "
        f"{load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f} after.",
        "",
        "| threads | display | implementation | wall (s) | CPU (s) | entries/s (wall) | "
        "wall / floor |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for T, disp, name, (wall, cpu, _), floor in rows:
        lines.append(f"| {T} | {disp} | {name} | {wall:.3f} | {cpu:.3f} | {entries / wall:.3g} "
                     f"| {wall / floor:.1f}x |")
    if numpy_row is not None:
        lines.append(f"| 1 | multiset | straightforward NumPy, dense (Dirichlet) | "
                     f"{numpy_row[0]:.3f} | {numpy_row[1]:.3f} | {entries / numpy_row[0]:.3g} | "
                     f"|")
    if agree:
        lines += ["", f"Largest relative difference, ualign vs the previous kernel: "
                      f"{max(agree):.1e}."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else \
        ROOT / "benchmarks" / "results" / f"payoffs_U{U}_n{n}.md"
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
