"""Peak memory and time of ``ualign compare`` with default options on a large PrefLib-like file
(issue 12, item 21: 10^5 voters, n = 10 peaked at 7.5 GB before the set functions were
chunked).

The file is generated into a temporary folder (random strict orders, one line per voter
count, about 2.4 MB; never committed) and ``python -m ualign.cli compare FILE`` runs in a child
process; its peak resident set is the child's ``ru_maxrss``.

Usage: python benchmarks/bench_compare_memory.py [--voters 100000] [--responses 10]
       [--args "--k 1..4"]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ualign


def write_file(path: Path, voters: int, n: int, seed: int) -> int:
    """A PrefLib ``soc`` file of ``voters`` random strict orders; returns its distinct orders."""
    rng = np.random.default_rng(seed)
    P = ualign.Profile.from_rankings(np.argsort(rng.random((voters, n)), axis=1),
                                     labels=[f"option {i}" for i in range(n)])
    ualign.write_preflib(P, path, n_voters=voters)
    return P.n_users


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voters", type=int, default=100_000)
    ap.add_argument("--responses", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--args", default="", help="extra compare options (default: none)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.soc"
        rows = write_file(path, args.voters, args.responses, args.seed)
        cmd = [sys.executable, "-m", "ualign.cli", "compare", str(path), "--out",
               str(Path(tmp) / "out"), *shlex.split(args.args)]
        load0 = os.getloadavg()
        t0 = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**10  # KiB on Linux
        size = path.stat().st_size
    print(f"ualign compare memory benchmark — {datetime.date.today()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    print(f"file: {args.voters:,} voters ({rows:,} distinct orders) x n = {args.responses}, "
          f"{size / 2**20:.1f} MiB; options: {args.args or '(defaults)'}")
    print(f"exit status {run.returncode}; {seconds:.1f} s; peak resident {rss:,.0f} MiB")
    print("load average (1, 5, 15 min) before: " + " ".join(f"{x:.1f}" for x in load0))
    if run.returncode:
        print(run.stderr[-2000:])


if __name__ == "__main__":
    main()
