"""Benchmark the alignment solvers (issue 3). Prints a Markdown report and writes
``benchmarks/results/solvers.md``.

1. Every ``solve_ualign`` method on n = 1,000 responses, U = 10,000 users, k = 8 (impartial
   culture, i.e. uniformly random strict orders; and a Mallows profile for the default):
   full payoff evaluations and seconds until the certified exploitability first drops to 1e-6
   and 1e-9 (first-order methods are capped at ``--cap`` seconds).
2. Our maximal lottery (``solve_nlhf``) against pref_voting's on n = 100, U = 10,000.
3. Peers on the dense (k+1)-player payoff table (n = 10, k = 2, 3): pygambit's
   ``logit_solve`` / ``gnm_solve`` and OpenSpiel's projected replicator dynamics, as time ratios
   against ``solve_ualign(method="auto")``, which reaches an exploitability at least as small.
   A peer that does not install is skipped and said so.
4. Few users, many responses (issue 12, item 22): ``solve_ualign`` (auto, k = 16) on U = 130
   users x n = 5,904 responses, the shape of a PrefLib file that took 69-115 s (738 starting
   candidates); that file is not in ../shared/data, so four generated shapes stand in for it
   (partial orders short and long, complete strict orders, ratings in 5 tie classes), plus any
   real files given with ``--preflib``; and U = 3 x n = 8,000, k = 4.

5. RLHF and NLHF at that shape (issue 22): ``solve_rlhf`` and ``solve_nlhf`` on three of the
   stand-ins (``--sections pairwise --out benchmarks/results/solvers_pairwise.md``).

Usage: python benchmarks/bench_solvers.py [--cap 60] [--quick] [--sections few] [--out FILE]
       [--preflib FILE ...]
(results/solvers.md is rewritten only when every section runs.)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numpy as np

from ualign import Profile, exploitability
from ualign.solvers import solve_nlhf, solve_ualign

OUT = Path(__file__).resolve().parent / "results" / "solvers.md"
GAMBIT_MAX_CELLS = 1000  # pygambit's logit_solve ran > 7 min on the 10^4-cell (n=10, k=3) table


def first_time(res, thr):
    """(payoff evals, seconds) when the trace first reaches ``thr`` (interpolating evals
    linearly in the iteration count), or None."""
    times = getattr(res.diagnostics, "trace_seconds", None)
    for idx, (it, e) in enumerate(res.trace):
        if e <= thr:
            if times is None or idx >= len(times):
                return res.payoff_evals, res.seconds
            frac = it / max(1, res.iterations)
            return round(frac * res.payoff_evals), times[idx]
    return None


def random_strict(n, U, seed):
    rng = np.random.default_rng(seed)
    return Profile.from_rankings(np.argsort(rng.random((U, n)), axis=1))


def section_methods(lines, n, U, k, cap, quick):
    P = random_strict(n, U, 0)
    solve_ualign(P.restrict(np.arange(20)), k)  # compile kernels outside the timings
    lines += [f"### Every method, impartial culture n = {n}, U = {U}, k = {k}", "",
              "| method | evals to 1e-6 | time to 1e-6 | evals to 1e-9 | time to 1e-9 | "
              "final exploitability | evals | seconds |", "|---|---|---|---|---|---|---|---|"]
    runs = [("auto", {})]
    if not quick:
        # Hedge's step depends on its horizon T (η = sqrt(8 log n / T)): T = what fits the cap
        runs += [("hedge", {"max_iter": 300, "check_every": 10}),
                 ("optimistic", {"max_iter": 100000}),
                 ("extragradient", {"max_iter": 100000}),
                 ("mmd", {"max_iter": 100000, "tau": 1e-3})]
    for method, opts in runs:
        kw = dict(opts)
        if method != "auto":
            kw["time_limit"] = cap
        res = solve_ualign(P, k, method=method, tol=1e-9, **kw)
        cells = []
        for thr in (1e-6, 1e-9):
            hit = first_time(res, thr)
            cells += ([str(hit[0]), f"{hit[1]:.1f} s"] if hit else
                      ["–", f"not reached in {res.seconds:.0f} s"])
        lines.append(f"| {method} | " + " | ".join(cells) +
                     f" | {res.exploitability:.2e} | {res.payoff_evals} | "
                     f"{res.seconds:.1f} |")
        print(lines[-1], flush=True)
        if method == "auto":
            ex = res.diagnostics
            note = (f"auto: {ex.rounds} rounds, candidate sets {list(ex.candidate_sizes)}, "
                    f"support {ex.support_size}, {ex.restricted_jacobians} restricted "
                    f"Jacobians, {ex.newton_steps} Newton + {ex.lp_steps} LP steps, "
                    f"certified exploitability {res.exploitability:.2e}")
    lines += ["", note, ""]
    try:
        from ualign.data import mallows

        M = mallows(n, U, phi=0.9, seed=1)
        t = time.perf_counter()
        res = solve_ualign(M, k)
        lines += [f"Mallows (phi = 0.9) n = {n}, U = {U}, k = {k}: auto reaches "
                  f"{res.exploitability:.2e} in {time.perf_counter() - t:.1f} s "
                  f"({res.payoff_evals} full evaluations, support {res.diagnostics.support_size},"
                  f" converged={res.converged}).", ""]
        print(lines[-2], flush=True)
    except ImportError:
        lines += ["(ualign.data.mallows not available: Mallows run skipped)", ""]


def section_maximal_lottery(lines, n=100, U=10000):
    rng = np.random.default_rng(2)
    R = np.argsort(rng.random((U, n)), axis=1)
    lines += [f"### Maximal lottery, n = {n}, U = {U} (random strict orders)", ""]
    t = time.perf_counter()
    P = Profile.from_rankings(R)
    ours = solve_nlhf(P)
    t_ours = time.perf_counter() - t
    try:
        from pref_voting.probabilistic_methods import maximal_lottery
        from pref_voting.profiles import Profile as PVProfile
    except ImportError:
        lines += [f"ualign: {t_ours:.2f} s; pref_voting not installed: skipped", ""]
        return
    t = time.perf_counter()
    ml = maximal_lottery(PVProfile([list(map(int, r)) for r in R]))
    t_pv = time.perf_counter() - t
    theirs = np.array([ml[c] for c in range(n)])
    lines += ["| implementation | seconds (profile construction + solve) | exploitability |",
              "|---|---|---|",
              f"| ualign `solve_nlhf` | {t_ours:.2f} | {ours.exploitability:.1e} |",
              f"| pref_voting `maximal_lottery` | {t_pv:.2f} | "
              f"{exploitability(P, theirs, 1):.1e} |", "",
              f"Ratio pref_voting / ualign: {t_pv / t_ours:.1f}x; max |difference| "
              f"{np.abs(ours.policy - theirs).max():.1e}.", ""]
    print("\n".join(lines[-7:]), flush=True)


def payoff_tensors(P, k):
    """Dense (k+1)-player table: ``T[i][y_0, ..., y_k]`` = chance player i's copy is picked."""
    n = P.n_responses
    lv = P.levels.astype(np.int64)
    grids = np.stack(np.meshgrid(*[np.arange(n)] * (k + 1), indexing="ij"), -1)
    prof = grids.reshape(-1, k + 1)  # (n^{k+1}, k+1)
    out = np.zeros((k + 1, prof.shape[0]))
    for u in range(P.n_users):
        L = lv[u][prof]
        best = L == L.min(axis=1, keepdims=True)
        out += P.weights[u] * (best / best.sum(axis=1, keepdims=True)).T
    return out.reshape((k + 1,) + (n,) * (k + 1))


def sym_exploitability(P, x, k):
    x = np.clip(np.asarray(x, dtype=float), 0, None)
    return exploitability(P, x / x.sum(), k)


def section_peers(lines, n=10, U=1000, ks=(2, 3)):
    lines += [f"### Peers on the dense (k+1)-player table (n = {n}, U = {U} random strict "
              "orders)", "",
              "| k | solver | seconds | exploitability (player 0's strategy, symmetric) | "
              "ualign auto seconds | ratio peer / ualign |", "|---|---|---|---|---|---|"]
    try:
        import pygambit as gbt
    except ImportError:
        gbt = None
    try:
        from open_spiel.python.algorithms import projected_replicator_dynamics as prd
    except ImportError:
        prd = None
    for k in ks:
        P = random_strict(n, U, 10 + k)
        solve_ualign(P, k)
        t_ours = np.inf
        for _ in range(5):  # best of 5: small solves are dominated by launch noise under load
            t = time.perf_counter()
            ours = solve_ualign(P, k)
            t_ours = min(t_ours, time.perf_counter() - t)
        T = payoff_tensors(P, k)
        rows = []
        if gbt is not None and n ** (k + 1) > GAMBIT_MAX_CELLS:
            rows.append((f"pygambit (skipped: {n ** (k + 1)} cells; logit_solve did not return "
                         "in 7 min at 10^4)", float("nan"), float("nan")))
        elif gbt is not None:
            t = time.perf_counter()
            g = gbt.Game.from_arrays(*[T[i] for i in range(k + 1)])
            t_build = time.perf_counter() - t
            for name, fn in (("pygambit logit_solve", gbt.nash.logit_solve),
                             ("pygambit gnm_solve", gbt.nash.gnm_solve)):
                t = time.perf_counter()
                try:
                    eqs = fn(g).equilibria
                    secs = time.perf_counter() - t + t_build
                    if not eqs:
                        rows.append((f"{name} (returned no equilibrium)", secs, float("nan")))
                        continue
                    player = next(iter(g.players))
                    x = [float(eqs[0][s]) for s in player.strategies]
                    rows.append((name, secs, sym_exploitability(P, x, k)))
                except Exception as err:  # report, do not hide
                    rows.append((f"{name} (failed: {type(err).__name__})",
                                 time.perf_counter() - t, float("nan")))
        if prd is not None:
            t = time.perf_counter()
            strat = prd.projected_replicator_dynamics(list(T), prd_iterations=20000)
            rows.append(("OpenSpiel projected replicator (20,000 it.)",
                         time.perf_counter() - t, sym_exploitability(P, strat[0], k)))
        for name, secs, e in rows:
            lines.append(f"| {k} | {name} | {secs:.2f} | {e:.1e} | {t_ours:.3f} "
                         f"(expl. {ours.exploitability:.0e}) | {secs / t_ours:.0f}x |")
            print(lines[-1], flush=True)
    if gbt is None:
        lines.append("pygambit is not installed: skipped.")
    if prd is None:
        lines.append("open_spiel is not installed: skipped.")
    lines.append("")


def partial_orders(U, n, lo, hi, skew, seed, ratings=False):
    """U users each ordering m ~ [lo, hi) of n responses drawn by popularity ∝ rank^-skew,
    the rest unranked (tied last); ``ratings``: the m rated in 5 tie classes instead."""
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n + 1) ** skew
    pop /= pop.sum()
    lv = np.full((U, n), hi, dtype=np.int64)
    for u in range(U):
        m = int(rng.integers(lo, hi))
        items = rng.choice(n, size=m, replace=False, p=pop)
        lv[u, items] = rng.integers(0, 5, m) if ratings else np.arange(m)
    return Profile.from_levels(lv)


def section_few_users(lines, preflib=()):
    from ualign import read_preflib
    cases = [("partial orders of 5-80 (popularity skew 0.8)", 16,
              partial_orders(130, 5904, 5, 80, 0.8, 0)),
             ("partial orders of 300-3,000 (skew 0.3)", 16,
              partial_orders(130, 5904, 300, 3000, 0.3, 0)),
             ("complete strict orders", 16, random_strict(5904, 130, 0)),
             ("20-400 rated in 5 tie classes (skew 0.5)", 16,
              partial_orders(130, 5904, 20, 400, 0.5, 0, ratings=True)),
             ("U = 3 x n = 8,000 strict", 4, random_strict(8000, 3, 0))]
    cases += [(f"PrefLib {Path(f).name}", 16, read_preflib(f)) for f in preflib]
    solve_ualign(random_strict(20, 5, 0), 16)  # compile kernels outside the timings
    lines += ["### Few users, many responses (auto)", "",
              "| profile | U | n | k | first candidates | rounds | support | exploitability | "
              "seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for name, k, P in cases:
        res = solve_ualign(P, k)
        d = res.diagnostics
        lines.append(f"| {name} | {P.n_users} | {P.n_responses:,} | {k} | "
                     f"{d.candidate_sizes[0]} | {d.rounds} | {d.support_size} | "
                     f"{res.exploitability:.1e} | {res.seconds:.2f} |")
        print(lines[-1], flush=True)
    lines.append("")


def section_pairwise_many(lines):
    """RLHF and NLHF (the maximal lottery) where a PrefLib-shaped file of U = 130 users x
    n = 5,904 items took 162 s (RLHF) and 285 s / 4.5 GB (NLHF, one LP over all columns):
    the Bradley-Terry fit by compiled Newton-CG and the lottery by column generation."""
    from ualign.solvers import solve_rlhf

    cases = [("partial orders of 5-80 (popularity skew 0.8)",
              partial_orders(130, 5904, 5, 80, 0.8, 0)),
             ("partial orders of 300-3,000 (skew 0.3)",
              partial_orders(130, 5904, 300, 3000, 0.3, 0)),
             ("complete strict orders", random_strict(5904, 130, 0))]
    small = random_strict(30, 20, 0)
    solve_rlhf(small)  # compile outside the timings
    solve_nlhf(small)
    lines += ["### RLHF and NLHF, U = 130 x n = 5,904 (stand-ins for the PrefLib shape)", "",
              "| profile | method | wall (s) | CPU (s) | Newton steps / support | "
              "exploitability (k = 1) | converged |", "|---|---|---:|---:|---:|---:|---|"]
    for name, P in cases:
        for method, fn in (("solve_rlhf", solve_rlhf), ("solve_nlhf (tau = 0)", solve_nlhf)):
            t0, c0 = time.perf_counter(), time.process_time()
            res = fn(P)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            extra = res.iterations if method == "solve_rlhf" else int((res.policy > 0).sum())
            lines.append(f"| {name} | {method} | {wall:.1f} | {cpu:.1f} | {extra} | "
                         f"{res.exploitability:.1e} | {res.converged} |")
            print(lines[-1], flush=True)
    lines.append("")


SECTIONS = ("methods", "lottery", "peers", "few", "pairwise")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per first-order method")
    ap.add_argument("--quick", action="store_true", help="auto only in section 1")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--preflib", nargs="*", default=(), help="real files for section 4")
    ap.add_argument("--out", default=None,
                    help="write the sections run to this file (default: results/solvers.md "
                         "when every section runs)")
    args = ap.parse_args()
    sections = args.sections.split(",")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    lines = ["## Solver benchmarks", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"load average at start {load:.1f}; {now} UTC.", ""]
    if "methods" in sections:
        section_methods(lines, 1000, 10000, 8, args.cap, args.quick)
    if "lottery" in sections:
        section_maximal_lottery(lines)
    if "peers" in sections:
        section_peers(lines)
    if "few" in sections:
        section_few_users(lines, args.preflib)
    if "pairwise" in sections:
        section_pairwise_many(lines)
    lines.append(f"Load average at the end: {os.getloadavg()[0]:.1f}.")
    text = "\n".join(lines)
    out = Path(args.out) if args.out else (OUT if set(SECTIONS) <= set(sections) else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
