"""The universal ↔ personalised trade-off on every real dataset in ../shared/data (THEORY.md §10).

Runs :func:`ualign.report.personalise.measure_personalisation` on each Polis conversation and one
file per PrefLib dataset (the first ``.soc``, else the first ``.toc``), seed 0, and writes
``docs/personalise.json`` (every row and dataset summary) and ``docs/personalise-*.png`` (the
macro average over datasets). Prints Markdown tables for docs/personalise.md.

    python benchmarks/personalise_real.py [--data ../shared/data] [--jobs 2] [--max-users 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


def datasets(data: Path) -> list[str]:
    out = sorted(str(p) for p in (data / "polis").iterdir()
                 if (p / "participants-votes.csv").is_file())
    for d in sorted((data / "preflib").iterdir()):
        if not d.is_dir():
            continue
        files = sorted(d.glob("*.soc")) or sorted(d.glob("*.toc"))
        if files:
            out.append(str(files[0]))
    return out


def one(job):
    spec, ms, ks, max_users, seed = job
    from ualign.data.people import load_people
    from ualign.report.personalise import measure_personalisation

    t0 = time.perf_counter()
    people = load_people(spec)
    rows, summary = measure_personalisation(people, ms, ks, seed=seed, max_users=max_users)
    print(f"  {summary.dataset}: {summary.n_evaluated} people, n = {summary.n_responses}, "
          f"δ = {summary.delta:g}, {summary.distinct_evidence} evidences, "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows, summary


def _rounded(x):
    """Floats to 6 significant digits (the JSON stays ~1 MB)."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return x


# ------------------------------------------------------------------ Markdown from the JSON
def _by(rows):
    return {(r["dataset"], r["method"], r["display"], r["m"], r["k"]): r for r in rows}


def k_equivalent(uni: dict, value: float) -> float:
    """The k at which the universal choice reaches ``value``: linear in log2 k between the
    measured ks (``uni``: k -> value); 1 below the k = 1 value, inf beyond the largest k."""
    ks = sorted(uni)
    if value <= uni[ks[0]]:
        return float(ks[0])
    for a, b in itertools.pairwise(ks):
        if uni[a] <= value <= uni[b] and uni[b] > uni[a]:
            t = (value - uni[a]) / (uni[b] - uni[a])
            return float(2 ** ((1 - t) * np.log2(a) + t * np.log2(b)))
    return float("inf")


def _pooled_tables(P, name, ms, ks, n_datasets) -> list[str]:
    """Per display and metric: the macro average over datasets, one row per m."""
    out = []
    for display in ("multiset", "distinct"):
        for metric in ("mean", "robust", "vs_worst", "vs_worst_all"):
            out.append(f"\n**{metric.replace('_', ' ')}, {display} display** (macro average "
                       f"over {n_datasets} datasets; ualign / greedy / universal per k, argmax "
                       "at k = 1)\n")
            head = "| m | revealed | " + " | ".join(
                f"k={k} ualign | k={k} greedy | k={k} univ." for k in ks) + " | argmax |"
            out.append(head)
            out.append("|" + "---|" * (3 + 3 * len(ks)))
            for m in ms:
                cells = [f"{P[name, meth, display, m, k][metric]:.3f}" for k in ks
                         for meth in ("ualign", "greedy", "universal")]
                a = P[name, "argmax", display, m, 1][metric]
                out.append(f"| {m} | {P[name, 'ualign', display, m, 1]['revealed']:.1f} | "
                           + " | ".join(cells) + f" | {a:.3f} |")
    return out


def _dataset_row(B, s, ms) -> str:
    """One dataset's row of the per-dataset table."""
    d = s["dataset"]

    def c(meth, m, k, metric="mean"):
        r = B[d, meth, "multiset", m, k]
        return f"{r[metric]:.3f} [{r[metric + '_lo']:.3f}, {r[metric + '_hi']:.3f}]"

    mstar = next((m for m in ms if B[d, "ualign", "multiset", m, 1]["mean"]
                  >= B[d, "universal", "multiset", m, 4]["mean"]), None)
    return (f"| {d} | {s['n_responses']} | {s['n_people']} ({s['n_evaluated']}) | "
            f"{s['delta']:g} | {c('ualign', 0, 1)} | {c('ualign', 4, 1)} | "
            f"{c('ualign', 16, 1)} | {c('universal', 16, 4)} | "
            f"{'never' if mstar is None else mstar} | {c('ualign', 0, 4, 'vs_worst')} | "
            f"{c('ualign', 16, 4, 'vs_worst')} | {c('ualign', 0, 4, 'vs_worst_all')} | "
            f"{c('ualign', 16, 4, 'vs_worst_all')} |")


def _per_dataset_table(B, sums, ms) -> list[str]:
    out = ["\n**Per dataset** (multiset display, mean win rate over hidden-rated responses "
           "[95 % bootstrap interval]; m* = smallest m at which ualign k = 1 reaches the "
           "universal k = 4 on the same hidden ratings)\n",
           "| dataset | n | people (eval.) | δ | ualign k=1, m=0 | k=1, m=4 | k=1, m=16 | "
           "univ. k=4, m=16 | m* | vs worst k=4, m=0 | m=16 | vs worst all k=4, m=0 | "
           "m=16 (bound 0.8) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    return out + [_dataset_row(B, s, ms) for s in sums]


def _units_of_k_table(P, B, name, sums, ms, ks) -> list[str]:
    out = ["\n**Units of k** (multiset, mean win rate): the k the universal choice needs (same "
           "hidden ratings, log-linear between k = 1, 2, 4, 8) to match ualign with k = 1 "
           "after m revealed ratings\n",
           "| dataset | " + " | ".join(f"m={m}" for m in ms if m > 0) + " |",
           "|---|" + "---:|" * (len(ms) - 1)]
    for d in [name] + [s["dataset"] for s in sums]:
        src = P if d == name else B
        cells = []
        for m in ms:
            if m == 0:
                continue
            uni = {k: src[d, "universal", "multiset", m, k]["mean"] for k in ks}
            keq = k_equivalent(uni, src[d, "ualign", "multiset", m, 1]["mean"])
            cells.append("> 8" if keq == float("inf") else f"{keq:.2f}")
        out.append(f"| {d} | " + " | ".join(cells) + " |")
    return out


def _guarantee_checks(rows, ms) -> list[str]:
    out = []
    cells = [r for r in rows if r["method"] == "ualign" and r["display"] == "multiset"]
    for metric in ("vs_worst", "vs_worst_all"):
        viol = [r for r in cells if r[metric + "_hi"] < r["k"] / (r["k"] + 1) - 1e-9]
        out.append(f"\n**Guarantee check ({metric})**: ualign (multiset) cells whose 95 % upper "
                   f"bound is below k/(k+1): {len(viol)} of {len(cells)}; by m: "
                   + ", ".join(f"m={m}: {sum(1 for r in viol if r['m'] == m)}" for m in ms))
        for r in sorted(viol, key=lambda r: r[metric] - r["k"] / (r["k"] + 1))[:12]:
            out.append(f"- {r['dataset']} m={r['m']} k={r['k']}: {r[metric]:.3f} (upper "
                       f"{r[metric + '_hi']:.3f}, bound {r['k'] / (r['k'] + 1):.3f})")
    return out


def markdown(data) -> str:
    """The tables of docs/personalise.md from a finished run's JSON."""
    rows, pooled, sums = data["rows"], data["pooled"], data["summaries"]
    ms, ks = data["ms"], data["ks"]
    P = _by(pooled)
    B = _by(rows)
    name = pooled[0]["dataset"]
    out = (_pooled_tables(P, name, ms, ks, len(sums)) + _per_dataset_table(B, sums, ms)
           + _units_of_k_table(P, B, name, sums, ms, ks) + _guarantee_checks(rows, ms))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--max-users", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "docs"))
    p.add_argument("--only", default="", help="comma-separated substrings of dataset paths")
    p.add_argument("--markdown", metavar="JSON", help="only print the Markdown of a finished run")
    args = p.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0

    from ualign.report.personalise import DEFAULT_KS, DEFAULT_MS, pooled_rows
    from ualign.report.personalise_plots import curve_png

    specs = datasets(Path(args.data))
    if args.only:
        keys = args.only.split(",")
        specs = [s for s in specs if any(k in s for k in keys)]
    def size(spec):                    # a cost proxy: the biggest datasets start first
        path = Path(spec)
        return (path / "participants-votes.csv").stat().st_size if path.is_dir() else \
            path.stat().st_size

    order = sorted(range(len(specs)), key=lambda i: -size(specs[i]))
    jobs = [(specs[i], DEFAULT_MS, DEFAULT_KS, args.max_users, args.seed) for i in order]
    t0 = time.perf_counter()
    print(f"{len(jobs)} datasets, {args.jobs} processes", file=sys.stderr, flush=True)
    if args.jobs > 1:
        from multiprocessing import get_context

        from tqdm import tqdm

        with get_context("spawn").Pool(args.jobs) as pool:
            results = list(tqdm(pool.imap(one, jobs), total=len(jobs), file=sys.stderr))
    else:
        results = [one(j) for j in jobs]
    results = [results[order.index(i)] for i in range(len(specs))]     # back to name order
    rows = [r for rs, _ in results for r in rs]
    summaries = [s for _, s in results]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pooled = pooled_rows(rows)
    data = {"seed": args.seed, "max_users": args.max_users, "ms": DEFAULT_MS, "ks": DEFAULT_KS,
            "seconds": time.perf_counter() - t0,
            "summaries": [s._asdict() for s in summaries],
            "rows": [r._asdict() for r in rows], "pooled": [r._asdict() for r in pooled]}
    (out / "personalise.json").write_text(json.dumps(_rounded(data), separators=(",", ":"))
                                          + "\n")
    for metric in ("mean", "robust", "vs_worst", "vs_worst_all"):
        (out / f"personalise-{metric}.png").write_bytes(curve_png(
            pooled, metric, title=f"{len(summaries)} real datasets (macro average): "
                                  f"{metric.replace('_', ' ')}, ualign"))
    (out / "personalise-greedy-mean.png").write_bytes(curve_png(
        pooled, "mean", "greedy", title=f"{len(summaries)} real datasets (macro average): "
                                        "mean, greedy distinct k-set"))
    print(f"done in {time.perf_counter() - t0:.0f} s; wrote {out / 'personalise.json'}",
          file=sys.stderr)
    print(markdown(json.loads((out / "personalise.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
