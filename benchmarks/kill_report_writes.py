"""Kill ``ualign compare`` while it writes its report set, and check the set is never mixed
(issue 12, item 18: the fuzzing's "56 kills during report writes" once left a new
``report.html`` beside old ``report.md``/``.json`` and a new ``compare.json`` beside old PNGs).

A first run writes a complete set (``compare.json``, ``compare.png``,
``compare-diversity.png``) into one folder. Then each of ``--kills`` runs of
``python -m ualign.cli compare`` into the same folder (another seed each time, so its output
differs) gets SIGKILL at a random moment, drawn mostly from the end of a run, where the files
are written (uniform in 0.7–1.1 × the uncut run's wall time). After each kill the folder must
hold one whole set: all three files present and staged together (their modification times
within ``--together`` seconds of each other; files of two runs are seconds apart), the JSON
complete. Hidden staging folders left by kills are counted (the next write sweeps those older
than an hour).

Usage: python benchmarks/kill_report_writes.py [--kills 56] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = ("compare.json", "compare.png", "compare-diversity.png")


def command(out: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "ualign.cli", "compare",
            f"mallows:n=6,phi=0.6,users=60,seed={seed}", "--k", "1..4", "--methods",
            "rlhf,nlhf,ualign", "--out", str(out)]


def check_set(out: Path, together: float) -> str | None:
    """None when ``out`` holds one whole set, else what is wrong."""
    missing = [f for f in FILES if not (out / f).is_file()]
    if missing:
        return f"missing {missing}"
    times = [(out / f).stat().st_mtime for f in FILES]
    if max(times) - min(times) > together:
        return f"files from different runs (mtimes spread {max(times) - min(times):.2f} s)"
    try:
        json.loads((out / "compare.json").read_text())
    except ValueError as e:
        return f"compare.json unreadable: {e}"
    return None


def wait_for_stage(proc, out: Path, delay: float) -> bool:
    """Poll (every 0.2 ms) until the run's staging folder appears, then sleep ``delay`` s:
    True to kill it now (inside the write), False if it ended first."""
    before = set(out.glob(".ualign-set.*"))
    while proc.poll() is None:
        if set(out.glob(".ualign-set.*")) - before:
            time.sleep(delay)
            return proc.poll() is None
        time.sleep(0.0002)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=56)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--together", type=float, default=0.5,
                    help="seconds within which one set's files are staged")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        subprocess.run(command(out, 10_000), check=True, capture_output=True)
        wall = time.perf_counter() - t0
        assert check_set(out, args.together) is None
        bad, finished, killed = [], 0, 0
        for i in range(args.kills):
            proc = subprocess.Popen(command(out, i), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if i % 2 == 0:
                cut = wait_for_stage(proc, out, rng.uniform(0.0, 0.003))
            else:
                try:
                    proc.wait(timeout=rng.uniform(0.7, 1.1) * wall)
                    cut = False
                except subprocess.TimeoutExpired:
                    cut = True
            if cut:
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
            else:
                finished += 1
            proc.wait()
            problem = check_set(out, args.together)
            if problem:
                bad.append((i, problem))
        stages = len(list(out.glob(".ualign-set.*")))
    print(f"kill_report_writes — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, seed {args.seed}")
    print(f"uncut run {wall:.1f} s; {args.kills} runs: {killed} killed, {finished} finished "
          f"before the kill; mixed or broken sets afterwards: {len(bad)}; staging folders "
          f"left by kills: {stages}")
    for i, problem in bad:
        print(f"- run {i}: {problem}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
