"""Load test of the population scoring service (``ualign serve``): requests/s and latency
percentiles for groups of G texts, from C concurrent clients, on 127.0.0.1.

The service runs in a subprocess (``python -m ualign.cli serve``), the clients are threads of this
process, each request is one ``POST /payoffs`` of ``--groups-per-request`` groups of G texts
(``k``, display as given). Latency is the client's wall time per request (HTTP included).

    python benchmarks/bench_serve.py --G 8 --requests 400 --concurrency 1,4,16
    python benchmarks/bench_serve.py --population polis:../shared/data/polis/brexit-consensus

``--population`` takes any ``ualign serve`` spec; the default ``py:bench_serve:char_population``
is a trivial population (users who like a letter), so the numbers are the service's own cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORDS = ("we should fund public transport and cut taxes for families while protecting the "
         "environment and keeping borders open to trade with europe").split()


class CharPopulation:
    """Users who like a letter: utility = its count in the text (no model: service cost only)."""

    def __init__(self, chars="aeiou"):
        self.chars = list(chars)
        self.weights = np.full(len(self.chars), 1.0 / len(self.chars))

    def scores(self, texts):
        return np.array([[t.count(c) for t in texts] for c in self.chars], float)


def char_population():
    return CharPopulation()


def _texts(rng, G: int, duplicates: bool) -> list[str]:
    out = [" ".join(rng.choice(WORDS, int(rng.integers(6, 16)))) for _ in range(G)]
    if duplicates:                       # distinct display: some repeats to merge
        out[-1] = out[0]
        out[-2] = out[1].upper()
    return out


def start_server(spec: str, max_batch: int) -> tuple[subprocess.Popen, str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent / "src"), str(HERE), os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ualign.cli", "serve", "--population", spec,
                             "--port", "0", "--max-batch", str(max_batch), "--max-queue", "256"],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("ualign serve did not start (see its stderr above)")
    return proc, json.loads(line)["url"], time.perf_counter() - t0


def run_load(url: str, args, concurrency: int, display: str) -> dict:
    from ualign.integrations import PopulationClient

    per = [args.requests // concurrency + (i < args.requests % concurrency)
           for i in range(concurrency)]
    lat: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def worker(i: int) -> None:
        rng = np.random.default_rng([args.seed, concurrency, i])
        client = PopulationClient(url, timeout=120, retries=2)
        mine = []
        for r in range(per[i]):
            groups = [(f"prompt {i}.{r}.{g}", _texts(rng, args.G, display == "distinct"))
                      for g in range(args.groups_per_request)]
            t = time.perf_counter()
            try:
                client.payoffs(groups, args.k, display)
            except Exception as e:   # counted and reported
                errors.append(f"{type(e).__name__}: {e}")
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = np.array(lat) * 1e3
    return {"concurrency": concurrency, "display": display, "requests": len(lat),
            "errors": len(errors), "wall_s": wall, "req_per_s": len(lat) / wall,
            "groups_per_s": len(lat) * args.groups_per_request / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()),
            "first_error": errors[0] if errors else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", default="py:bench_serve:char_population")
    ap.add_argument("--G", type=int, default=8, help="texts per group")
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--groups-per-request", type=int, default=1)
    ap.add_argument("--requests", type=int, default=400, help="requests per row")
    ap.add_argument("--concurrency", default="1,4,16", help="client threads, comma-separated")
    ap.add_argument("--displays", default="multiset,distinct")
    ap.add_argument("--max-batch", type=int, default=16, help="the service's --max-batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="append a Markdown section to this file")
    args = ap.parse_args(argv)

    load0 = os.getloadavg()
    proc, url, startup = start_server(args.population, args.max_batch)
    try:
        from ualign.integrations import PopulationClient

        warm = PopulationClient(url)
        rng = np.random.default_rng(args.seed)
        for _ in range(5):
            warm.payoffs([("warm-up", _texts(rng, args.G, False))], args.k)
        rows = [run_load(url, args, int(c), d) for d in args.displays.split(",")
                for c in args.concurrency.split(",")]
        health = warm.health()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load1 = os.getloadavg()
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "python": platform.python_version(), "population": args.population,
            "users": health.get("users"), "G": args.G, "k": args.k,
            "groups_per_request": args.groups_per_request, "max_batch": args.max_batch,
            "startup_s": round(startup, 2), "batches": health.get("batches"),
            "served_requests": health.get("requests"),
            "load_before": [round(x, 2) for x in load0],
            "load_after": [round(x, 2) for x in load1]}
    lines = [f"### `{args.population}`, G = {args.G}, k = {args.k}, "
             f"{args.groups_per_request} group(s) per request — {info['date']}", "",
             f"{info['machine']}, Python {info['python']}; {info['users']} users; service "
             f"started in {info['startup_s']} s; `--max-batch {args.max_batch}` "
             f"({info['served_requests']} requests in {info['batches']} worker batches); "
             f"load average (1/5/15 min) {info['load_before']} before, {info['load_after']} "
             f"after.", "",
             "| display | clients | requests | errors | requests/s | groups/s | p50 ms | "
             "p95 ms | p99 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['display']} | {r['concurrency']} | {r['requests']} | "
                     f"{r['errors']} | {r['req_per_s']:.1f} | {r['groups_per_s']:.1f} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} |")
    text = "\n".join(lines) + "\n"
    print(json.dumps(info))
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
