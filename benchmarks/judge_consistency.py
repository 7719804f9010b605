"""Self-consistency of listwise judges (``JudgePopulation``, docs/llm.md "Listwise judges").

Each judge ranks the G candidates of a few prompts for a few personas under all G cyclic
shifts of the candidate order (the population's default). Measured per judge:

- ``first_try_malformed``: share of first answers that are not a permutation of the labels;
  ``failed``: share of orders still malformed after ``max_retries`` retries (reported, never
  guessed);
- ``kendall_tau`` / ``spearman`` / ``top1_agree``: agreement of the rankings one persona gets
  for one prompt under different orders (pairs of valid rankings; 1 = the same ranking under
  every order), averaged over (prompt, persona);
- ``top_is_first_shown``: share of valid rankings whose winner is the candidate shown first
  (label A), against ``1/G`` for a judge that ignores positions; ``borda_by_position``: mean
  Borda points by shown position (all equal to (G-1)/2 for a position-blind judge);
- ``obvious_top1``: on a prompt with one clearly right answer, the share of orders where the
  judge puts it first;
- reference values of the same statistics for a judge that only follows positions (always
  ``A > B > ...``) and for uniformly random rankings (expected tau 0).

    nice -n 15 python benchmarks/judge_consistency.py [--judges tiny,smollm2] [--out FILE]

Answers are cached in ``--cache`` (a rerun asks nothing again, and loads no model when every
answer is cached; ``judge_s`` then times the cache, not the judge); delete it to measure anew.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import typing
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np

from ualign.llm.populations.judge import JudgePopulation, cyclic_orders, self_consistency

PERSONAS = [
    "a retired teacher who values short, plain answers",
    "a software engineer who wants precise technical detail",
    "a small-business owner worried about costs",
]
PROMPTS: list[dict] = [
    {"prompt": "What is the capital of France?", "obvious": 1,
     "candidates": ["London.", "Paris.", "Berlin.", "I do not know."]},
    {"prompt": "Should my city raise the minimum wage to $15?",
     "candidates": ["Yes: it lifts low-paid workers out of poverty.",
                    "No: small businesses would cut jobs.",
                    "Phase it in over three years and exempt the smallest firms.",
                    "It depends on local rents and prices."]},
    {"prompt": "How do I make my Python code faster?",
     "candidates": ["Profile it first, then optimise the hot loops.",
                    "Use NumPy for numerical work.",
                    "Rewrite it in C.",
                    "Buy a faster computer.",
                    "Cache results you compute twice.",
                    "Use PyPy."]},
]


class LazyJudge:
    """A generator loaded at its first uncached call, so a rerun answered entirely from the
    cache never loads the model."""

    def __init__(self, name: str):
        from ualign.llm.generate import resolve_model

        self.model_name = name
        if name == "tiny":
            self.name = "tiny"
        else:
            path, gguf = resolve_model(name)
            self.name = f"{path}/{gguf}" if gguf else path     # as HFGenerator names it
        self._gen = None
        self.load_s = 0.0

    def generate(self, prompt: str, n: int, **params) -> list[str]:
        if self._gen is None:
            t0 = time.perf_counter()
            self._gen = load_judge(self.model_name)
            self.load_s = time.perf_counter() - t0
        return self._gen.generate(prompt, n, **params)


def load_judge(name: str):
    """A generator for ``tiny`` (the random 2-layer Llama of ``ualign.train.tiny``) or any model
    :func:`ualign.llm.generate.load_generator` reads (``smollm2``)."""
    import torch

    torch.set_num_threads(1)
    from ualign.llm.generate import HFGenerator, load_generator

    if name == "tiny":
        from ualign.train.tiny import tiny_from_spec

        model, tok = tiny_from_spec("tiny", seed=0)
        return HFGenerator(model, tok, name="tiny")
    gen = load_generator(name)
    return gen


def _spearman(a, b) -> float:
    G = len(a)
    ra, rb = np.empty(G), np.empty(G)
    ra[np.asarray(a)] = np.arange(G)
    rb[np.asarray(b)] = np.arange(G)
    return 1.0 - 6.0 * float(np.sum((ra - rb) ** 2)) / (G * (G * G - 1))


def _mean_spearman(rankings) -> float:
    valid = [r for r in rankings if r is not None]
    vals = [_spearman(valid[x], valid[y]) for x in range(len(valid))
            for y in range(x + 1, len(valid))]
    return float(np.mean(vals)) if vals else float("nan")


def measure_row(pop: JudgePopulation, u: int, item: dict) -> dict:
    """The consistency of persona ``u``'s rankings of ``item`` under the G cyclic orders."""
    texts = item["candidates"]
    G = len(texts)
    orders = cyclic_orders(G, G)
    sub = typing.cast(JudgePopulation, pop.subset([u]))  # fresh stats, shared cache
    per_order = sub.rankings(texts, item["prompt"])[0]
    sc = self_consistency(per_order)
    by_pos = np.zeros(G)
    n_first = n_obvious = 0
    for order, r in zip(orders, per_order, strict=True):
        if r is None:
            continue
        pos = {c: j for j, c in enumerate(order.tolist())}
        for rank, c in enumerate(r):
            by_pos[pos[c]] += G - 1 - rank
        n_first += pos[r[0]] == 0
        n_obvious += r[0] == item.get("obvious", -1)
    nv = sc["n_valid"]
    return dict(prompt=item["prompt"], persona=pop.personas[u], G=G, orders=G,
                calls=sub.stats["calls"], malformed=sub.stats["malformed"],
                first_malformed=sub.stats["first_malformed"],
                failed=G - nv, n_valid=nv, kendall_tau=sc["kendall_tau"],
                spearman=_mean_spearman(per_order), top1_agree=sc["top1_agree"],
                top_is_first_shown=n_first / nv if nv else float("nan"),
                borda_by_position=(by_pos / nv).tolist() if nv else None,
                obvious_top1=(n_obvious / nv if nv and "obvious" in item else None),
                rankings=per_order,
                failures=[dict(order=list(f.order), answers=list(f.answers),
                               reasons=list(f.reasons)) for f in sub.failures])


def _nanmean(xs) -> float | None:
    xs = [x for x in xs if x is not None and not np.isnan(x)]
    return float(np.mean(xs)) if xs else None


def summarise(rows: list[dict]) -> dict:
    """Pooled numbers of one judge from its rows (orders, not rows, weight the shares)."""
    orders = sum(r["orders"] for r in rows)
    valid = sum(r["n_valid"] for r in rows)
    firsts = sum(r["top_is_first_shown"] * r["n_valid"] for r in rows if r["n_valid"])
    chance = sum(r["n_valid"] / r["G"] for r in rows)
    obvious = [r["obvious_top1"] for r in rows if r["obvious_top1"] is not None]
    return dict(orders=orders, calls=sum(r["calls"] for r in rows),
                first_try_malformed=sum(r["first_malformed"] for r in rows) / orders,
                failed=sum(r["failed"] for r in rows) / orders,
                kendall_tau=_nanmean([r["kendall_tau"] for r in rows]),
                spearman=_nanmean([r["spearman"] for r in rows]),
                top1_agree=_nanmean([r["top1_agree"] for r in rows]),
                top_is_first_shown=firsts / valid if valid else None,
                top_is_first_shown_chance=chance / valid if valid else None,
                obvious_top1=_nanmean(obvious),
                rows_with_two_valid=sum(r["n_valid"] >= 2 for r in rows), rows=len(rows))


def references() -> dict:
    """The same statistics for a position-only judge and for random rankings, per G."""
    out = {}
    rng = np.random.default_rng(0)
    for G in sorted({len(p["candidates"]) for p in PROMPTS}):
        pos_only = [o.tolist() for o in cyclic_orders(G, G)]    # ranking = the shown order
        rand = [self_consistency([rng.permutation(G).tolist() for _ in range(G)])["kendall_tau"]
                for _ in range(2000)]
        out[f"G={G}"] = dict(position_only_kendall_tau=self_consistency(pos_only)["kendall_tau"],
                             position_only_top1_agree=self_consistency(pos_only)["top1_agree"],
                             random_kendall_tau_mean=float(np.mean(rand)),
                             random_kendall_tau_sd=float(np.std(rand)),
                             random_top1_agree=1 / G)
    return out


def run_judge(name: str, cache: Path, max_retries: int, prompts: list[dict],
              personas: list[str], checkpoint=None) -> dict:
    """Rows persona by persona (every prompt for the first persona, then the next), the result
    passed to ``checkpoint`` after each row (so an interrupted run keeps its finished rows)."""
    gen = LazyJudge(name)
    pop = JudgePopulation(gen, personas, on_failure="skip", max_retries=max_retries,
                          cache=cache)
    rows: list[dict] = []
    t1 = time.perf_counter()
    result: dict = {}
    for u in range(len(personas)):
        for item in prompts:
            rows.append(measure_row(pop, u, item))
            result = dict(judge=gen.name, load_s=gen.load_s, judge_s=time.perf_counter() - t1,
                          cache_hits=pop.judge.hits, complete=False,
                          summary=summarise(rows), rows=rows)
            if checkpoint is not None:
                checkpoint(result)
            print(f"  {name}: persona {u}, {item['prompt'][:40]!r} done "
                  f"({time.perf_counter() - t1:.0f} s)", flush=True)
    result["complete"] = True
    return result


def machine() -> dict:
    import torch
    import transformers

    return dict(platform=platform.platform(), python=sys.version.split()[0],
                cpus=os.cpu_count(), load_avg_at_start=os.getloadavg(),
                torch=torch.__version__, transformers=transformers.__version__,
                threads=torch.get_num_threads())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judges", default="tiny,smollm2")
    ap.add_argument("--max-retries", type=int, default=2)
    ap.add_argument("--prompts", default=",".join(map(str, range(len(PROMPTS)))),
                    help="indices of the prompts to use, in this order (default: all)")
    ap.add_argument("--personas", type=int, default=len(PERSONAS),
                    help="use the first N personas")
    ap.add_argument("--cache", default="/tmp/ualign-judge-cache")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "judge_consistency.json"))
    a = ap.parse_args(argv)
    prompts = [PROMPTS[int(i)] for i in a.prompts.split(",")]
    personas = PERSONAS[:a.personas]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    judges: dict[str, dict] = {}
    result = dict(date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                  machine=machine(), personas=personas, prompts=prompts,
                  max_retries=a.max_retries, references=references(), judges=judges)
    for name in a.judges.split(","):
        cache = Path(a.cache) / f"{name.replace('/', '_')}.jsonl"

        def checkpoint(partial, name=name):
            judges[name] = partial
            out.write_text(json.dumps(result, indent=1) + "\n")

        judges[name] = r = run_judge(name, cache, a.max_retries, prompts, personas, checkpoint)
        s = r["summary"]
        print(f"{name}: {s['orders']} orders, {s['calls']} calls in {r['judge_s']:.0f} s; "
              f"first-try malformed {s['first_try_malformed']:.2f}, failed {s['failed']:.2f}; "
              f"tau {s['kendall_tau']}, spearman {s['spearman']}, top-1 agree "
              f"{s['top1_agree']}; top = first shown {s['top_is_first_shown']} "
              f"(chance {s['top_is_first_shown_chance']}); obvious top-1 {s['obvious_top1']}")
    print("references:", json.dumps(result["references"], indent=1))
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
