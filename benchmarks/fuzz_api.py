"""Fuzz the public API and the CLI with random and mutated bad input (issue 12, the fuzz rerun).

Each case ``j`` is generated from ``(--seed, j)`` alone, so any finding can be replayed with
``--replay J``. Kinds of case:

- ``api``: a valid call of a public function or registered solver method (the table of
  ``tests/test_harden.py::_fuzz_calls``, reused) with one to three arguments replaced by bad
  values (``BAD_VALUES`` of that test plus random arrays with NaN / inf / negative / huge /
  wrong shapes / wrong dtypes, nested lists, huge sizes, bad strings);
- ``preflib``: a small real PrefLib file with random byte, line and number mutations, read by
  ``read_preflib`` and (every other case) by ``ualign info``;
- ``polis``: a real Polis conversation with one CSV mutated, read by ``read_polis``;
- ``cli``: ``ualign info`` / ``ualign compare`` with mutated option values.

An API case passes when it returns or raises ``ValueError`` (or the documented ``SolverError``;
a ``str`` path that names no file may raise ``FileNotFoundError`` / ``NotADirectoryError``, as
``open`` does). A CLI case passes unless an exception escapes ``ualign.cli.main`` or a
``Traceback`` is printed. Cases run in a worker process under a per-call CPU-time limit
(``ITIMER_PROF``, then ``RLIMIT_CPU``; a call past it counts as ``timeout`` or ``killed``, not
as a finding), an address-space limit
(``RLIMIT_AS``, so a missed size check shows as a ``MemoryError`` finding and cannot swap the
machine) and ``ualign.core.checks.MAX_BYTES = 1 GiB``; a worker that dies is restarted after
the case that killed it.

Usage: nice -n 15 python benchmarks/fuzz_api.py [--calls 30000] [--seed 0] [--cpu-limit 5]
       python benchmarks/fuzz_api.py --replay J      (run one case here and show it)
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import io
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PREFLIB = DATA / "preflib" / "00024-dots" / "00024-00000001.soc"
PREFLIB_SOI = DATA / "preflib" / "00009-agh" / "00009-00000001.soc"
POLIS = DATA / "polis" / "15-per-hour-seattle"
KINDS = ("api",) * 6 + ("preflib",) * 2 + ("polis", "cli")


class _Timeout(BaseException):
    """Raised by SIGPROF in a worker: the case ran past its CPU-time limit (``ITIMER_PROF``).
    Compiled code that does not return to Python meets ``RLIMIT_CPU`` 5 s later instead,
    whose SIGXCPU ends the worker (counted as ``killed``)."""


# ------------------------------------------------------------------ bad values
def bad_value(rng, base, bad_values):
    """A bad value: one of the test's BAD_VALUES, or a mutation of the valid value ``base``."""
    r = rng.integers(0, 12)
    if r < 3:
        return bad_values[rng.integers(0, len(bad_values))]
    if r == 3:
        return [float("nan"), float("inf"), -float("inf"), -0.0, 1e308, -1e308, 5e-324,
                2**63, -(2**63), 10**6, 10**9, 10**18][rng.integers(0, 12)]
    if r == 4:
        return ["", "\x00", "../../etc", "a" * 10000, "[/bold]", "\u2028", "1..0", "-1",
                "mallows:n=-1", "impartial:n=10**9", "nan", "1e309"][rng.integers(0, 12)]
    if r == 5:  # a random array of a random shape and dtype
        shape = tuple(int(s) for s in rng.integers(0, 5, rng.integers(0, 4)))
        arr = rng.normal(size=shape) * 10 ** rng.integers(0, 20)
        return arr.astype([np.float64, np.int64, np.int8, np.uint64, np.bool_,
                           np.complex128, object][rng.integers(0, 7)])
    if r == 6:
        return [[1, "a"], [None]] if rng.random() < 0.5 else [[[]]]
    try:
        arr = np.array(base, dtype=float)
    except (TypeError, ValueError):
        return bad_values[rng.integers(0, len(bad_values))]
    if arr.size == 0:
        return arr
    if r == 7:
        arr.flat[rng.integers(0, arr.size)] = [np.nan, np.inf, -1.0, 1e300][rng.integers(0, 4)]
        return arr
    if r == 8:
        return arr.T if arr.ndim == 2 else arr[None]
    if r == 9:
        return arr.ravel()[:-1]
    if r == 10:
        return -arr
    return arr * 1e200


def api_case(rng, calls, bad_values):
    names = sorted(calls)
    name = names[rng.integers(0, len(names))]
    fn, args, kwargs = calls[name]
    args, kwargs = list(args), dict(kwargs)
    slots = [("arg", i) for i in range(len(args))] + [("kw", k) for k in kwargs]
    where = []
    for _ in range(int(rng.integers(1, 4))):
        kind, key = slots[rng.integers(0, len(slots))]
        if kind == "arg":
            args[key] = bad_value(rng, args[key], bad_values)
        else:
            kwargs[key] = bad_value(rng, kwargs[key], bad_values)
        where.append(f"{kind}{key}")
    return name, ",".join(where), lambda: fn(*args, **kwargs)


# ------------------------------------------------------------------ mutated files
def mutate_text(rng, text: str) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(int(rng.integers(1, 4))):
        r = rng.integers(0, 8)
        i = int(rng.integers(0, max(len(lines), 1)))
        if not lines:
            lines = ["\n"]
        if r == 0:      # delete a line
            del lines[i]
        elif r == 1:    # duplicate a line
            lines.insert(i, lines[i])
        elif r == 2:    # flip bytes
            s = bytearray(lines[i].encode("utf-8", "surrogateescape"))
            for _ in range(int(rng.integers(1, 4))):
                if s:
                    s[int(rng.integers(0, len(s)))] = int(rng.integers(0, 256))
            lines[i] = s.decode("utf-8", "surrogateescape")
        elif r == 3:    # a number becomes huge / negative / fractional / empty
            toks = lines[i].split(",")
            j = int(rng.integers(0, len(toks)))
            toks[j] = ["99999999999999999999", "-3", "1.5", "", "nan", "1e400", " {1, 2}",
                       "0"][rng.integers(0, 8)]
            lines[i] = ",".join(toks)
        elif r == 4:    # truncate the file
            lines = lines[:i]
            if lines and rng.random() < 0.5:
                lines[-1] = lines[-1][:len(lines[-1]) // 2]
        elif r == 5:    # insert odd text
            lines.insert(i, ["\ufeff", "# ALTERNATIVE NAME 1000000000: x\n", "\x1b]0;x\x07\n",
                             "1: " + ",".join(map(str, range(5000))) + "\n", "\u2028\n",
                             "{}\n", ",,,,\n", "a" * 200000 + "\n"][rng.integers(0, 8)])
        elif r == 6:    # swap two lines
            j = int(rng.integers(0, len(lines)))
            lines[i], lines[j] = lines[j], lines[i]
        else:           # header count changed
            lines = [ln.replace(": ", ": 1" if rng.random() < 0.5 else ": -", 1)
                     if ln.startswith("# NUMBER") and rng.random() < 0.5 else ln for ln in lines]
    return "".join(lines)


def preflib_case(rng, tmp: Path, cli):
    import ualign
    src = PREFLIB if rng.random() < 0.7 else PREFLIB_SOI
    text = src.read_text(encoding="utf-8", errors="surrogateescape")
    path = tmp / f"m{rng.integers(0, 10**9)}{src.suffix}"
    path.write_bytes(mutate_text(rng, text).encode("utf-8", "surrogateescape"))
    if rng.random() < 0.5:
        return "read_preflib", "file", lambda: ualign.read_preflib(path)
    return "cli info preflib", "file", lambda: cli(["info", str(path)])


def polis_case(rng, tmp: Path):
    import ualign
    folder = tmp / f"p{rng.integers(0, 10**9)}"
    shutil.copytree(POLIS, folder)
    files = sorted(p.name for p in folder.iterdir())
    victim = folder / files[rng.integers(0, len(files))]
    if rng.random() < 0.1:
        victim.unlink()
    else:
        text = victim.read_text(encoding="utf-8", errors="surrogateescape")
        victim.write_bytes(mutate_text(rng, text).encode("utf-8", "surrogateescape"))
    return "read_polis", victim.name, lambda: ualign.read_polis(folder)


def cli_case(rng, tmp: Path, cli):
    vals = ["1..2", "0", "-1", "1..1000000000", "a", "", "1,2,x", "2-1", "nan", "1e9", "[/x]",
            "rlhf,nlhf", "kset", "bogus", "both", "distinct", "3"]
    pick = lambda: vals[rng.integers(0, len(vals))]  # noqa: E731
    target = [str(PREFLIB), "mallows:n=5,phi=0.5,users=30", "impartial:n=4,users=20",
              "mallows:n=" + pick(), str(tmp / "missing.soc"), pick()][rng.integers(0, 6)]
    if rng.random() < 0.3:
        argv = ["info", target]
    else:
        argv = ["compare", target, "--out", str(tmp / f"o{rng.integers(0, 10**9)}"),
                "--k", "1..2", "--methods", "rlhf,nlhf,ualign"]
        for opt in rng.choice(["--k", "--methods", "--display", "--time-limit", "--seed",
                               "--kset-max-sets", "--kset-max-work"],
                              size=int(rng.integers(1, 3)), replace=False):
            argv += [str(opt), pick()]
    return "cli " + argv[0], " ".join(argv[2:])[:80], lambda: cli(argv)


# ------------------------------------------------------------------ running a case
def make_case(seed: int, j: int, tmp: Path, calls, bad_values, cli):
    rng = np.random.default_rng([seed, j])
    kind = KINDS[rng.integers(0, len(KINDS))]
    if kind == "api":
        return kind, *api_case(rng, calls, bad_values)
    if kind == "preflib":
        return kind, *preflib_case(rng, tmp, cli)
    if kind == "polis":
        return kind, *polis_case(rng, tmp)
    return kind, *cli_case(rng, tmp, cli)


def run_cli(argv):
    """``ualign.cli.main(argv)``: raises what escapes main; ``Traceback`` in its output is a
    finding too (returned as a RuntimeError)."""
    from ualign.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit:
            pass
    if "Traceback" in out.getvalue() + err.getvalue():
        raise RuntimeError("traceback printed: " + err.getvalue()[-300:])


def classify(call, kind):
    """(outcome, detail) of one call: ok, value_error, solver_error, timeout or escape."""
    from ualign import SolverError
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            call()
        return "ok", ""
    except _Timeout:
        return "timeout", ""
    except ValueError:
        return "value_error", ""
    except SolverError:
        return "solver_error", ""
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
        # an API str path naming no file, or a Polis case that deleted a required file
        return (("value_error", "") if kind in ("api", "polis")
                else ("escape", f"{type(e).__name__}: {e}"))
    except Exception as e:  # the point: anything else is a finding
        return "escape", f"{type(e).__name__}: {str(e)[:200]}"


def _on_prof(signum, frame):
    raise _Timeout()


def worker(args):
    """Run cases ``args.start .. args.stop - 1``, one JSON line each, under the limits."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_harden import BAD_VALUES, _fuzz_calls

    from ualign.core import checks
    checks.MAX_BYTES = 2**30
    resource.setrlimit(resource.RLIMIT_AS, (args.max_gib * 2**30, args.max_gib * 2**30))
    signal.signal(signal.SIGPROF, _on_prof)  # SIGXCPU keeps its default: the process ends
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    os.chdir(tmp)
    calls = _fuzz_calls()
    try:
        for j in range(args.start, args.stop):
            used = resource.getrusage(resource.RUSAGE_SELF)
            cpu = int(used.ru_utime + used.ru_stime) + 1
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            resource.setrlimit(resource.RLIMIT_CPU, (cpu + args.cpu_limit + 5, hard))
            signal.setitimer(signal.ITIMER_PROF, args.cpu_limit)
            try:
                kind, name, where, call = make_case(args.seed, j, tmp, calls, BAD_VALUES,
                                                    run_cli)
                outcome, detail = classify(call, kind)
                signal.setitimer(signal.ITIMER_PROF, 0)
            except _Timeout:
                kind, name, where, outcome, detail = "?", "?", "", "timeout", ""
            print(json.dumps(dict(j=j, kind=kind, name=name, where=where, outcome=outcome,
                                  detail=detail)), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parent(args):
    counts = collections.Counter()
    findings = collections.OrderedDict()
    by_kind = collections.Counter()
    killed = []
    j, t0, load0 = 0, time.perf_counter(), os.getloadavg()
    while j < args.calls:
        cmd = [sys.executable, __file__, "--worker", "--start", str(j), "--stop",
               str(args.calls), "--seed", str(args.seed), "--cpu-limit", str(args.cpu_limit),
               "--max-gib", str(args.max_gib)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        for line in proc.stdout:
            rec = json.loads(line)
            j = rec["j"] + 1
            counts[rec["outcome"]] += 1
            by_kind[rec["kind"]] += 1
            if rec["outcome"] == "escape":
                key = (rec["name"], rec["detail"][:90])
                findings.setdefault(key, []).append(rec["j"])
            if j % 1000 == 0:
                print(f"{j:,} cases, {time.perf_counter() - t0:.0f} s: {dict(counts)}",
                      flush=True)
        err = proc.stderr.read()
        if proc.wait() != 0 and j < args.calls:  # killed at its hard CPU or memory limit
            counts["killed"] += 1
            killed.append((j, proc.returncode, err.strip().splitlines()[-1:] or [""]))
            j += 1
    print(f"\nfuzz_api — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, load average at start "
          f"{load0[0]:.1f}; seed {args.seed}, {args.calls:,} cases "
          f"({', '.join(f'{k} {v:,}' for k, v in sorted(by_kind.items()))}), CPU limit "
          f"{args.cpu_limit} s per case, {time.perf_counter() - t0:.0f} s")
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    print(f"findings (non-ValueError exceptions, CLI tracebacks): {counts['escape']} cases, "
          f"{len(findings)} distinct")
    for j, rc, tail in killed:
        print(f"- worker died at case {j} (exit status {rc}) {tail[0][:200]}")
    for (name, detail), js in findings.items():
        print(f"- {name}: {detail} (cases {', '.join(map(str, js[:5]))}"
              f"{', ...' if len(js) > 5 else ''}; {len(js)} in all)")


def replay(args):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_harden import BAD_VALUES, _fuzz_calls
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    os.chdir(tmp)
    kind, name, where, call = make_case(args.seed, args.replay, tmp, _fuzz_calls(), BAD_VALUES,
                                        run_cli)
    print(kind, name, where)
    call()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu-limit", type=int, default=5, help="CPU seconds per case")
    ap.add_argument("--max-gib", type=int, default=6, help="address-space limit of a worker")
    ap.add_argument("--replay", type=int, default=None, help="run case J here, unguarded")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
    elif args.replay is not None:
        replay(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
