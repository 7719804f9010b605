"""End-to-end test-time alignment on real Polis conversations.

For each conversation: fit a vote population (one ridge utility per participant on
all-MiniLM-L6-v2 embeddings of the statements they voted on), report its held-out vote
accuracy / AUC against majority baselines; SmolLM2-135M-Instruct writes N candidate statements
on the conversation's topic; then, over several random splits of the participants into a
selection half and an evaluation half, show k = 1..8 responses chosen by U-aligned selection,
best-of-N (mean utility), NLHF (maximal lottery) and plain sampling, and the personalised
reference (one response written for the evaluated user's opinion group). Every method is scored
on the held-out half: robust win rate against every single candidate and against the
human-written statements of the conversation, under both displays (THEORY §2 multiset: copies
count; §9 distinct: equivalent candidates merged, both sides' responses shown once).

Every split is selected twice (``--displays multiset,distinct``): once for multiset display
(the paper's methods over all N candidates) and once for distinct display (equivalent
candidates merged by ``--merge``, k distinct responses chosen by the distinct solvers); each
selection is evaluated under both displays.

Usage:
    python benchmarks/llm_end_to_end.py [--n 16] [--splits 10] [--out /tmp/ualign_llm_e2e]
        [--displays multiset,distinct] [--merge exact|embedding] [--merge-threshold 0.98]

Outputs (under --out): results.jsonl (one record per conversation and split), gen-cache.jsonl
(generations; reruns reuse them), vote_models.json, summary.md.

Data: Polis (compdemocracy.org/polis), CC BY 4.0, The Computational Democracy Project.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "polis"

PROMPT = ("A public online discussion asks: \"{question}\" (topic: {topic}). Write one short "
          "statement (one or two sentences) giving your own opinion that other participants "
          "could agree or disagree with. Reply with the statement only.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", default="15-per-hour-seattle,brexit-consensus,"
                    "canadian-electoral-reform")
    ap.add_argument("--n", type=int, default=16, help="candidates per conversation")
    ap.add_argument("--k", default="1-8")
    ap.add_argument("--splits", type=int, default=10, help="random selection/evaluation splits")
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--out", default="/tmp/ualign_llm_e2e")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--displays", default="multiset,distinct",
                    help="displays to select for (each selection is evaluated under both)")
    ap.add_argument("--merge", default="exact", help="exact or embedding (distinct display)")
    ap.add_argument("--merge-threshold", type=float, default=None,
                    help="cosine threshold of --merge embedding (default: "
                         "ualign.llm.dedupe.DEFAULT_THRESHOLD)")
    args = ap.parse_args(argv)

    import torch
    from tqdm import tqdm

    from ualign.llm import Embedder, VotePopulation, evaluate_vote_model, read_polis_votes
    from ualign.llm.dedupe import DEFAULT_THRESHOLD
    from ualign.llm.experiment import (
        SelectConfig,
        merge_summary,
        run_prompt,
        summarise,
        timing_summary,
    )
    from ualign.llm.generate import CachedGenerator, HFGenerator
    from ualign.llm.select import SELECT_METHODS
    from ualign.report.compare import parse_ks
    from ualign.report.selection_plots import plot_win_rates

    torch.set_num_threads(args.threads)
    displays = [d.strip() for d in args.displays.split(",") if d.strip()]
    threshold = DEFAULT_THRESHOLD if args.merge_threshold is None else args.merge_threshold
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ks = parse_ks(args.k)
    methods = ["ualign", "best-of-n", "nlhf", "sampling"]
    try:
        from ualign.solvers import solve_kset  # noqa: F401
        methods.insert(1, "ualign-kset")
    except ImportError:
        print("ualign.solvers.solve_kset not available: skipping ualign-kset")
    assert all(m in SELECT_METHODS for m in methods)
    embed = Embedder(cache_dir=out / "emb-cache")

    t0 = time.perf_counter()
    gen = HFGenerator(args.model, batch_size=args.batch_size)
    load_s = time.perf_counter() - t0
    print(f"loaded {gen.name} in {load_s:.1f} s (torch threads {torch.get_num_threads()})")
    gen = CachedGenerator(gen, out / "gen-cache.jsonl")

    records, vote_models, gen_stats = [], {}, {}
    for conv in args.conversations.split(","):
        folder = DATA / conv
        if not folder.is_dir():
            print(f"skipping {conv}: {folder} not found")
            continue
        pv = read_polis_votes(folder)
        t1 = time.perf_counter()
        vote_models[conv] = evaluate_vote_model(pv, embed=embed, seed=0)
        pop = VotePopulation.from_polis(pv, embed=embed, mode="participant")
        fit_s = time.perf_counter() - t1
        question = pv.description.split("\n")[0].strip() or pv.topic
        prompt = PROMPT.format(question=question, topic=pv.topic)
        print(f"\n== {conv}: {pop.n_users} participants, {len(pv.texts)} statements, "
              f"fit {fit_s:.1f} s\nprompt: {prompt}")
        cfg = SelectConfig(n=args.n, ks=ks, methods=tuple(methods), temperature=args.temperature,
                           top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=0,
                           personalised=True)
        tok0, hits0 = gen.n_tokens, gen.hits
        t1 = time.perf_counter()
        candidates = gen.generate(prompt, args.n, seed=0, system=None,
                                  temperature=args.temperature, top_p=args.top_p,
                                  max_new_tokens=args.max_new_tokens)
        gen_s = time.perf_counter() - t1
        gen_stats[conv] = dict(seconds=gen_s, candidates=len(candidates),
                               new_tokens=gen.n_tokens - tok0, cached=gen.hits > hits0)
        print(f"generated {len(candidates)} candidates in {gen_s:.1f} s "
              f"({'cache' if gen.hits > hits0 else f'{len(candidates) / gen_s:.2f}/s'})")
        for c in candidates[:4]:
            print("   -", c[:160].replace("\n", " "))
        for split in tqdm(range(args.splits), desc=conv, unit="split"):
            for display in displays:
                cfg_s = SelectConfig(**{**cfg.__dict__, "seed": split, "display": display,
                                        "merge": args.merge, "merge_threshold": threshold})
                rec = run_prompt(prompt, gen, pop, cfg_s, candidates=candidates,
                                 human_texts=list(pv.texts), embed=embed)
                rec["conversation"] = conv
                rec["split"] = split
                rec["display"] = display
                rec["timing"]["generate_s"] = (gen_s if split == 0 and display == displays[0]
                                               else 0.0)
                records.append(rec)
        m = merge_summary([r for r in records if r["conversation"] == conv][:1])
        print(f"{conv}: {m['merged']} of {m['candidates']} candidates merged "
              f"({args.merge}), {m['distinct']} distinct")
    with open(out / "results.jsonl", "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "vote_models.json").write_text(json.dumps(vote_models, indent=1))

    by_display = {d: [r for r in records if r["display"] == d] for d in displays}
    for d, recs in by_display.items():
        plot_win_rates(summarise(recs), out / ("win_rates.png" if d == "multiset"
                                               else f"win_rates_{d}.png"))
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"python {sys.version.split()[0]}; torch {torch.__version__}",
             f"model {gen.name}; N = {args.n}; max_new_tokens {args.max_new_tokens}; "
             f"{args.splits} splits per conversation; load {load_s:.1f} s; merge rule "
             f"{args.merge}" + (f" (threshold {threshold})" if args.merge == "embedding"
                                else ""), ""]
    lines.append("Candidates merged (distinct display): " + "; ".join(
        f"{conv} {m['merged']} of {m['candidates']}" for conv, m in
        ((c, merge_summary([r for r in records if r["conversation"] == c][:1]))
         for c in dict.fromkeys(r["conversation"] for r in records))))
    lines.append("")
    lines.append("WR = robust win rate of the method's k-output policy (in expectation) vs every "
                 "candidate; M = multiset display (copies count), D = distinct display "
                 "(both sides merged); shown = the one realised set")
    lines.append("")
    lines.append("| selected for | method | k | k/(k+1) | WR M | WR D | shown M | shown D | "
                 "mean WR M | vs humans M | vs humans D | distinct shown | diversity |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    def cell(row, name: str) -> str:
        value = None if row is None else getattr(row, name)
        return "" if value is None else f"{value:.3f}"

    for d, recs in by_display.items():
        rows = summarise(recs)
        by = {(r.method, r.k, r.display): r for r in rows}
        for method, k in dict.fromkeys((r.method, r.k) for r in rows):
            if d != displays[0] and method == "personalised":
                continue  # the same response for both displays
            m, dd = by.get((method, k, "multiset")), by.get((method, k, "distinct"))
            lines.append(f"| {d} | {method} | {k} | {k / (k + 1):.3f} | "
                         f"{cell(m, 'robust')} | {cell(dd, 'robust')} | "
                         f"{cell(m, 'robust_shown')} | {cell(dd, 'robust_shown')} | "
                         f"{cell(m, 'mean')} | {cell(m, 'robust_humans')} | "
                         f"{cell(dd, 'robust_humans')} | {cell(m, 'distinct')} | "
                         f"{cell(m, 'cosine_distance')} |")
    lines.append("")
    lines.append("Per conversation (robust WR vs candidates, mean over splits; multiset "
                 "selection under multiset display, distinct selection under distinct display):")
    lines.append("")
    for conv in dict.fromkeys(r["conversation"] for r in records):
        for d, recs in by_display.items():
            sub = summarise([r for r in recs if r["conversation"] == conv])
            cells = ", ".join(f"{r.method}@{r.k}={r.robust:.3f}" for r in sub
                              if r.k in (1, 4, 8) and r.display == r.selected_for)
            lines.append(f"- {conv} ({d}): {cells}")
    lines += ["", "Vote models (held-out):", ""]
    for conv, vm in vote_models.items():
        v, s = vm["votes"], vm["statements"]
        lines.append(f"- {conv}: hidden votes acc {v['model_acc']:.3f} AUC {v['model_auc']:.3f}"
                     f" (statement majority {v['statement_majority_acc']:.3f} / "
                     f"{v['statement_majority_auc']:.3f}, n={v['n_test']}); hidden statements "
                     f"acc {s['model_acc']:.3f} AUC {s['model_auc']:.3f} within-user AUC "
                     f"{s['model_user_auc']:.3f} (global model within-user AUC "
                     f"{s['global_model_user_auc']:.3f}; global model "
                     f"{s['global_model_acc']:.3f} / {s['global_model_auc']:.3f}, user "
                     f"majority {s['user_majority_acc']:.3f} / {s['user_majority_auc']:.3f}, "
                     f"n={s['n_test']})")
    lines += ["", "Generation:", ""]
    for conv, g in gen_stats.items():
        rate = g["candidates"] / g["seconds"] if g["seconds"] > 0 else float("nan")
        lines.append(f"- {conv}: {g['candidates']} candidates, {g['new_tokens']} new tokens in "
                     f"{g['seconds']:.1f} s = {rate:.2f} candidates/s, "
                     f"{g['new_tokens'] / max(g['seconds'], 1e-9):.1f} tokens/s"
                     + (" (from cache)" if g["cached"] else ""))
    for d, recs in by_display.items():
        ts = timing_summary(recs)
        sel = ", ".join(f"{m} {s * 1e3:.1f} ms" for m, s in ts["select_s_per_prompt"].items())
        lines.append(f"- selection time per prompt for {d} display (all k = "
                     f"{ks[0]}..{ks[-1]} together): {sel}")
    text = "\n".join(lines)
    (out / "summary.md").write_text(text + "\n")
    print("\n" + text)
    print(f"\nwrote {out}/results.jsonl, summary.md, win_rates.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
