"""Peak memory and time of building a ``Profile`` (issue 12, item 19): the row-chunked
constructor against the previous one (``profile.py`` at ``--old-commit``, loaded from git when
the checkout has it), measured in one run on the same random strict rankings.

Peak = tracemalloc's peak of the allocations made while building (NumPy reports its buffers to
tracemalloc), the input array not counted; the ratio is to the input's size.

Usage: python benchmarks/bench_profile_memory.py [--users 100000] [--responses 1000]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import ualign


def load_old_profile(commit: str):
    """``Profile`` from ``src/ualign/core/profile.py`` at ``commit``, or None without git."""
    root = Path(__file__).resolve().parents[1]
    try:
        src = subprocess.run(["git", "show", f"{commit}:src/ualign/core/profile.py"], cwd=root,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_profile.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_profile", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_profile"] = mod  # dataclasses looks its module up
    spec.loader.exec_module(mod)
    return mod.Profile


def measure(build, rankings):
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    P = build(rankings)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, P


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--responses", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--old-commit", default="f9a7142")
    args = ap.parse_args()
    load0 = os.getloadavg()
    U, n = args.users, args.responses
    rankings = np.argsort(np.random.default_rng(args.seed).random((U, n)), axis=1)
    mib = rankings.nbytes / 2**20
    print(f"Profile construction benchmark — {datetime.date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    print(f"from_rankings: U = {U:,} x n = {n:,} strict rankings, input {rankings.dtype} "
          f"{mib:.0f} MiB\n")
    print("| constructor | time (s) | peak (MiB) | peak / input |")
    print("|---|---:|---:|---:|")
    old = load_old_profile(args.old_commit)
    rows = [("row-chunked (new)", ualign.Profile)]
    if old is not None:
        rows.insert(0, (f"previous ({args.old_commit})", old))
    built = []
    for name, cls in rows:
        seconds, peak, P = measure(cls.from_rankings, rankings)
        built.append(P)
        print(f"| {name} | {seconds:.2f} | {peak / 2**20:.0f} | {peak / rankings.nbytes:.2f}x |",
              flush=True)
    if len(built) == 2:
        same = np.array_equal(built[0].levels, built[1].levels) \
            and np.array_equal(built[0].weights, built[1].weights)
        print(f"\nsame levels and weights: {same}")
    load1 = os.getloadavg()
    print("load average (1, 5, 15 min): " + " ".join(f"{x:.1f}" for x in load0) + " before, "
          + " ".join(f"{x:.1f}" for x in load1) + " after")


if __name__ == "__main__":
    main()
