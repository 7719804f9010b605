"""Selecting k statements for one described person: the posterior population
(``ualign select --evidence-votes``) against in-context persona baselines, on held-out Polis
participants' hidden votes (issue 14, item 5; docs/personalise.md).

Setup (per conversation, seed 0):

1. Participants with at least ``MIN_VOTES`` votes (agree / pass / disagree) are split 80 / 20;
   the population is a :class:`VotePopulation` (participant mode, all-MiniLM-L6-v2) fitted on
   the 80 %. δ of the vote noise model is fitted by :func:`ualign.llm.evidence.vote_noise`: a
   second population on 75 % of the training participants, the other 25 % (at most 16 votes
   each) as held-out evidence.
2. Each evaluated held-out participant's voted statements are put in a seeded random order; the
   first ``m`` are revealed (m in {0, 2, 4, 8}, nested); the candidate pool is the next
   ``POOL`` statements (hidden votes, the same pool for every m and method), so every shown
   statement has a real rating and the revealed ones are never shown.
3. Shown, k in {1, 2, 4}:
   - ``posterior``: the population reweighted by ``vote_weights`` given the m revealed votes
     (exactly what ``--evidence-votes`` does), ranking the pool; multiset display: k samples of
     the (k+1)-game equilibrium (``select(method="ualign")``, scored in expectation); distinct
     display: the best distinct k-set (``select(method="ualign-kset", display="distinct")``);
   - ``universal``: the same at m = 0 (prior weights), on the same pool;
   - ``persona-posterior``: the population reweighted by ``persona_weights`` given the text
     ``describe_votes(revealed)``, users described by ``vote_descriptions`` (8 of their own
     votes), τ fitted by ``fit_temperature`` on held-out users of the population; selected as
     ``posterior``;
   - ``in-context (retrieval)``: no population at all: the k pool statements whose embedding is
     closest (cosine, all-MiniLM-L6-v2) to the persona text ``describe_votes(revealed)``;
   - ``in-context (SmolLM2)`` (``--lm``, a subset of people): SmolLM2-135M-Instruct with the
     persona text in its system prompt (``PERSONAL_SYSTEM`` of ``ualign select
     --personalised``) and the conversation's question as the user message; each pool statement
     is scored as the assistant's reply by its mean token log-probability minus the same without
     the persona (pointwise mutual information); the k highest are shown. This is the in-context
     baseline on a fixed pool: what the persona in the prompt makes the generator more likely to
     say. (Free generation is not scored: the vote model is near chance on new text, docs/llm.md.)
4. Scored on the participant's real levels over the pool (agree 0, pass 1, disagree 2): win
   rate of the shown responses against each pool statement y' as a single competitor, ``mean``
   and ``robust`` (min) over y', multiset and distinct display (THEORY §2, §9); 95 % percentile
   bootstrap intervals over people (1,000 resamples).

    python benchmarks/evidence_vs_incontext.py [--conversations brexit-consensus,...]
        [--max-people 40] [--lm-people 12] [--lm-only] [--lm-cache FILE] [--out FILE]
    python benchmarks/evidence_vs_incontext.py --merge RUN1.json,RUN2.json --out FILE
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "polis"
MS = (0, 2, 4, 8)
KS = (1, 2, 4)
POOL = 12
MIN_VOTES = 8 + 6
PROMPT = ("A public online discussion asks: \"{question}\" (topic: {topic}). Write one short "
          "statement (one or two sentences) giving your own opinion that other participants "
          "could agree or disagree with. Reply with the statement only.")


@dataclasses.dataclass
class Case:
    participant: int
    revealed: list          # statement indices in reveal order (first max(MS))
    pool: list              # statement indices of the candidate pool
    levels: np.ndarray      # (POOL,) the participant's real levels over the pool
    votes: np.ndarray       # (S,) all their votes (+1 / 0 / -1 / NaN)


def _subset(pv, rows):
    return dataclasses.replace(pv, participants=pv.participants[rows], groups=pv.groups[rows],
                               votes=pv.votes[rows])


def build(folder: Path, embed, seed: int, max_people: int):
    from ualign.llm import VotePopulation, read_polis_votes
    from ualign.llm.evidence import vote_noise

    pv = read_polis_votes(folder)
    n_votes = np.sum(~np.isnan(pv.votes), axis=1)
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(np.sum(np.abs(np.nan_to_num(pv.votes)) > 0, axis=1) >= 5)
    perm = rng.permutation(eligible)
    n_hold = round(0.2 * perm.size)
    held, train = np.sort(perm[:n_hold]), np.sort(perm[n_hold:])
    pop = VotePopulation.from_polis(_subset(pv, train), embed=embed)
    # δ: a population on 75 % of the training participants, the rest's votes as evidence
    inner = rng.permutation(train)
    cut = round(0.75 * inner.size)
    pop_fit = VotePopulation.from_polis(_subset(pv, np.sort(inner[:cut])), embed=embed)
    ids = [str(int(i)) for i in pv.statement_ids]
    rows = []
    for r in inner[cut:]:
        voted = rng.permutation(np.flatnonzero(~np.isnan(pv.votes[r])))[:16]
        rows.append({ids[j]: int(pv.votes[r, j]) for j in voted})
    fit = vote_noise(pop_fit, rows)
    cases = []
    for r in held:
        if n_votes[r] < MIN_VOTES:
            continue
        order = rng.permutation(np.flatnonzero(~np.isnan(pv.votes[r])))
        pool = order[max(MS):max(MS) + POOL]
        lv = np.select([pv.votes[r, pool] > 0, pv.votes[r, pool] == 0], [0, 1], 2)
        cases.append(Case(int(pv.participants[r]), order[:max(MS)].tolist(), pool.tolist(),
                          lv, pv.votes[r]))
    return pv, pop, fit, cases[:max_people]


def revealed_votes(pv, case: Case, m: int) -> dict:
    return {pv.texts[j]: int(case.votes[j]) for j in case.revealed[:m]}


def _evaluate(levels, sel, display):
    from ualign.core import Profile
    from ualign.llm.select import evaluate
    P = Profile.from_levels(levels[None, :], [1.0])
    r = evaluate(P, sel, display=display)
    return r["mean"], r["robust"]


def _fixed(shown, k):
    from ualign.llm.select import Selection
    shown = np.asarray(shown, dtype=np.int64)
    return Selection(method="fixed", k=k, shown=shown, sets=shown[None, :], probs=np.ones(1))


def _population_rows(P, case, k, seed):
    """(multiset (mean, robust), distinct (mean, robust)) of the posterior's selections."""
    from ualign.llm.select import select
    a = select(P, k, "ualign", seed=seed)
    b = select(P, k, "ualign-kset", display="distinct", seed=seed)
    return _evaluate(case.levels, a, "multiset"), _evaluate(case.levels, b, "distinct")


def _topk_rows(score, case, k):
    shown = np.sort(np.argsort(-np.asarray(score), kind="stable")[:k])
    sel = _fixed(shown, k)
    return _evaluate(case.levels, sel, "multiset"), _evaluate(case.levels, sel, "distinct")


def run_conversation(name, embed, args, lm_scores):
    from ualign.llm.evidence import vote_descriptions, vote_weights
    from ualign.llm.persona import describe_votes, fit_temperature, persona_weights

    t0 = time.perf_counter()
    pv, pop, fit, cases = build(DATA / name, embed, args.seed, args.max_people)
    descr = vote_descriptions(pop, seed=args.seed)
    texts_all = list(pv.texts)
    tau = fit_temperature(pop, texts_all, seed=args.seed, noise=fit.delta,
                          descriptions=descr).tau
    E_all = np.asarray(embed(texts_all), float)
    E_all /= np.linalg.norm(E_all, axis=1, keepdims=True)
    out = []   # (participant, method, m, k, display, mean, robust)
    for ci, case in enumerate(cases):
        pool_texts = [pv.texts[j] for j in case.pool]
        S_prior = pop.scores(pool_texts)
        for m in MS:
            votes = revealed_votes(pv, case, m)
            persona = describe_votes(votes) if votes else None
            arms = {"posterior": vote_weights(pop, votes, fit.delta)}
            if persona is not None:
                arms["persona-posterior"] = persona_weights(pop, persona, tau,
                                                            descriptions=descr)
            for arm, w in arms.items():
                P = pop.reweight(w).profile_from_scores(S_prior, pool_texts)
                for k in KS:
                    ms, ds = _population_rows(P, case, k, args.seed)
                    out.append((case.participant, arm, m, k, "multiset", *ms))
                    out.append((case.participant, arm, m, k, "distinct", *ds))
            if persona is None:
                continue
            e = np.asarray(embed([persona]), float)[0]
            sim = E_all[case.pool] @ (e / np.linalg.norm(e))
            for k in KS:
                ms, ds = _topk_rows(sim, case, k)
                out.append((case.participant, "in-context (retrieval)", m, k, "multiset", *ms))
                out.append((case.participant, "in-context (retrieval)", m, k, "distinct", *ds))
            out += _lm_rows(lm_scores, name, case, m)
        print(f"{name}: person {ci + 1}/{len(cases)} done ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)
    summary = dict(conversation=name, n_statements=len(pv.texts),
                   n_population=pop.n_users, n_evaluated=len(cases), delta=fit.delta,
                   tau=tau, pool=POOL, seconds=time.perf_counter() - t0)
    return out, summary


def _lm_rows(lm_scores, name, case, m):
    """The SmolLM2 in-context rows of one person and m, when the cache has their scores."""
    key = _lm_key(name, case.participant, m)
    if key not in lm_scores:
        return []
    pmi = np.array(lm_scores[key]["pmi"])
    rows = []
    for k in KS:
        ms, ds = _topk_rows(pmi, case, k)
        rows.append((case.participant, "in-context (SmolLM2)", m, k, "multiset", *ms))
        rows.append((case.participant, "in-context (SmolLM2)", m, k, "distinct", *ds))
    return rows


def merge_runs(files, lm_scores, seed):
    """Raw rows and summaries of earlier runs (``--merge``), their SmolLM2 rows replaced by
    those the cache holds now. The people and pools are rebuilt exactly: ``build`` draws them
    before and independently of the embedding, so a hashing embedder gives the same cases."""
    from ualign.llm.embed import HashingEmbedder
    raw, summaries = {}, []
    for f in files:
        prev = json.loads(Path(f).read_text())
        summaries += prev["summaries"]
        for name, rows in prev["people"].items():
            rows = [tuple(r) for r in rows if r[1] != "in-context (SmolLM2)"]
            _, _, _, cases = build(DATA / name, HashingEmbedder(), seed, 10 ** 9)
            by_id = {c.participant: c for c in cases}
            for p in sorted({r[0] for r in rows}):
                for m in MS[1:]:
                    rows += _lm_rows(lm_scores, name, by_id[p], m)
            raw[name] = rows
    return raw, summaries


def _lm_key(name, participant, m):
    return f"{name}|{participant}|{m}"


def _question(pv):
    q = (pv.description.splitlines()[0].strip() if pv.description.strip() else "") or pv.topic
    return PROMPT.format(question=q[:300], topic=pv.topic or "public policy")


def lm_stage(names, args):
    """SmolLM2 PMI scores of each pool statement, persona in the system prompt, for the first
    ``--lm-people`` people of each conversation; appended to ``--lm-cache`` as they finish."""
    import torch

    from ualign.llm.experiment import PERSONAL_SYSTEM
    from ualign.llm.generate import load_causal_lm
    from ualign.llm.persona import describe_votes

    torch.set_num_threads(1)
    cache = _read_cache(args.lm_cache)
    t0 = time.perf_counter()
    lm, tok = load_causal_lm("smollm2")
    lm.eval()
    print(f"SmolLM2 loaded in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    from ualign.llm.embed import HashingEmbedder
    for name in names:
        # the people and pools do not depend on the embedder (see merge_runs)
        pv, _, _, cases = build(DATA / name, HashingEmbedder(), args.seed, args.max_people)
        user = _question(pv)
        plain_key = f"{name}|plain"
        if plain_key not in cache:
            cache[plain_key] = dict(scores=_lm_logprobs(lm, tok, None, user, list(pv.texts)))
            _write_cache(args.lm_cache, cache)
        plain = np.array(cache[plain_key]["scores"])
        for case in cases[:args.lm_people]:
            for m in MS[1:]:
                key = _lm_key(name, case.participant, m)
                if key in cache:
                    continue
                t1 = time.perf_counter()
                system = PERSONAL_SYSTEM.format(persona=describe_votes(
                    revealed_votes(pv, case, m)))
                cond = _lm_logprobs(lm, tok, system, user, [pv.texts[j] for j in case.pool])
                cache[key] = dict(cond=cond, pmi=(np.array(cond) - plain[case.pool]).tolist(),
                                  seconds=time.perf_counter() - t1)
                _write_cache(args.lm_cache, cache)
                print(f"lm {key}: {time.perf_counter() - t1:.0f} s", file=sys.stderr,
                      flush=True)


def _lm_logprobs(lm, tok, system, user, texts):
    """Mean token log-probability of each text as the assistant's reply (the prompt's key /
    value cache computed once, cropped back after each text)."""
    import torch
    msgs = ([] if system is None else [{"role": "system", "content": system}]) + [
        {"role": "user", "content": user}]
    prefix = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = tok(prefix, return_tensors="pt", add_special_tokens=False).input_ids
    out = []
    with torch.no_grad():
        first = lm(input_ids=ids, use_cache=True)
        cache, last = first.past_key_values, first.logits[0, -1]
        for t in texts:
            c = tok(t, return_tensors="pt", add_special_tokens=False).input_ids
            o = lm(input_ids=c, past_key_values=cache, use_cache=True)
            logits = torch.cat([last[None], o.logits[0, :-1]])
            lp = torch.log_softmax(logits.float(), -1).gather(1, c[0][:, None])
            out.append(float(lp.mean()))
            cache.crop(-c.shape[1])      # back to the prompt alone
    return out


def _read_cache(path):
    p = Path(path)
    return json.loads(p.read_text()) if p.is_file() else {}


def _write_cache(path, cache):
    p = Path(path)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache))
    tmp.replace(p)


def _bootstrap(values, n_boot, seed):
    v = np.asarray(values, float)
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))
    lo, hi = np.percentile(v[idx].mean(axis=1), [2.5, 97.5])
    return float(v.mean()), float(lo), float(hi)


def aggregate(raw, n_boot, seed):
    """Rows (conversation, method, m, k, display, n, mean [lo, hi], robust [lo, hi]) and the
    paired differences posterior − in-context on the people both were run for."""
    groups = {}
    for conv, rows in raw.items():
        for p, method, m, k, disp, mean, rob in rows:
            groups.setdefault((conv, method, m, k, disp), {})[p] = (mean, rob)
    table = []
    for (conv, method, m, k, disp), d in sorted(groups.items()):
        vals = np.array(list(d.values()))
        mean = _bootstrap(vals[:, 0], n_boot, seed)
        rob = _bootstrap(vals[:, 1], n_boot, seed)
        table.append(dict(conversation=conv, method=method, m=m, k=k, display=disp,
                          n=len(d), mean=mean[0], mean_lo=mean[1], mean_hi=mean[2],
                          robust=rob[0], robust_lo=rob[1], robust_hi=rob[2]))
    diffs = []
    for (conv, method, m, k, disp), d in sorted(groups.items()):
        if m == 0 or method not in ("posterior", "persona-posterior", "in-context (retrieval)",
                                    "in-context (SmolLM2)"):
            continue
        if method == "posterior":   # against universal: the posterior at m = 0
            method, d = "universal", groups[(conv, "posterior", 0, k, disp)]
        post = groups.get((conv, "posterior", m, k, disp), {})
        common = sorted(set(d) & set(post))
        if not common:
            continue
        delta = [post[p][0] - d[p][0] for p in common]
        dm = _bootstrap(delta, n_boot, seed)
        diffs.append(dict(conversation=conv, versus=method, m=m, k=k, display=disp,
                          n=len(common), diff=dm[0], diff_lo=dm[1], diff_hi=dm[2]))
    return table, diffs


METHOD_ORDER = ("posterior", "persona-posterior", "in-context (retrieval)",
                "in-context (SmolLM2)")


def _cell(x) -> str:
    if x is None:
        return ""
    return f"{x['mean']:.3f} [{x['mean_lo']:.3f}, {x['mean_hi']:.3f}] / {x['robust']:.3f}"


def _method_table(r, rows, conv, disp) -> None:
    print(f"\n**{conv}, {disp} display** (mean win rate over the pool [95 % interval] / "
          f"robust)\n")
    print("| method | m | n | k=1 | k=2 | k=4 |")
    print("|---|---:|---:|---|---|---|")
    for meth in METHOD_ORDER:
        for m in r["ms"]:
            xs = [rows.get((conv, meth, m, k, disp)) for k in r["ks"]]
            if not any(xs):
                continue
            n = next(x["n"] for x in xs if x)
            name = "universal (= posterior, m = 0)" if (meth, m) == ("posterior", 0) else meth
            print(f"| {name} | {m} | {n} | " + " | ".join(_cell(x) for x in xs) + " |")


def _diff_table(r, conv) -> None:
    print(f"\n**{conv}, paired differences (posterior − other, mean win rate, same "
          f"people)**\n")
    print("| versus | display | m | n | k=1 | k=2 | k=4 |")
    print("|---|---|---:|---:|---|---|---|")
    d = {(x["conversation"], x["versus"], x["m"], x["k"], x["display"]): x
         for x in r["paired_differences"]}
    for vs in ("universal", *METHOD_ORDER[1:]):
        for disp in ("multiset", "distinct"):
            for m in r["ms"][1:]:
                xs = [d.get((conv, vs, m, k, disp)) for k in r["ks"]]
                if not any(xs):
                    continue
                n = next(x["n"] for x in xs if x)
                cells = [f"{x['diff']:+.3f} [{x['diff_lo']:+.3f}, {x['diff_hi']:+.3f}]"
                         if x else "" for x in xs]
                print(f"| {vs} | {disp} | {m} | {n} | " + " | ".join(cells) + " |")


def markdown(r) -> None:
    """Print the tables of docs/personalise.md from a result dict."""
    rows = {(x["conversation"], x["method"], x["m"], x["k"], x["display"]): x
            for x in r["rows"]}
    for conv in sorted({x["conversation"] for x in r["rows"]}):
        for disp in ("multiset", "distinct"):
            _method_table(r, rows, conv, disp)
        _diff_table(r, conv)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", default="brexit-consensus")
    ap.add_argument("--max-people", type=int, default=40)
    ap.add_argument("--lm-people", type=int, default=0,
                    help="score the SmolLM2 baseline for this many people per conversation "
                         "(slow on CPU); 0 = use the cache only")
    ap.add_argument("--lm-only", action="store_true", help="run only the SmolLM2 stage")
    ap.add_argument("--lm-cache", default=str(ROOT / "benchmarks" / "results"
                                               / "evidence_lm_scores.json"))
    ap.add_argument("--merge", default=None,
                    help="comma-separated outputs of earlier runs: combine them, add the "
                         "SmolLM2 rows the cache holds now, aggregate, write --out")
    ap.add_argument("--embed", default=None, help="embedding model (default all-MiniLM-L6-v2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                         / "evidence_vs_incontext.json"))
    args = ap.parse_args(argv)
    import torch

    from ualign.llm.embed import as_embedder
    torch.set_num_threads(1)
    names = [c.strip() for c in args.conversations.split(",") if c.strip()]
    embed = as_embedder(args.embed)
    if args.lm_people:
        lm_stage(names, args)
    if args.lm_only:
        return 0
    lm_scores = _read_cache(args.lm_cache)
    t0 = time.perf_counter()
    raw, summaries = {}, []
    if args.merge:
        raw, summaries = merge_runs(args.merge.split(","), lm_scores, args.seed)
    else:
        for name in names:
            raw[name], s = run_conversation(name, embed, args, lm_scores)
            summaries.append(s)
    table, diffs = aggregate(raw, args.boot, args.seed)
    load = os.getloadavg()
    result = dict(
        machine=dict(platform=platform.platform(), python=platform.python_version(),
                     cpus=os.cpu_count(), load_average=[round(x, 2) for x in load]),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), seed=args.seed,
        ms=MS, ks=KS, pool=POOL, min_votes=MIN_VOTES, seconds=time.perf_counter() - t0,
        lm_cache_sha1=(hashlib.sha1(Path(args.lm_cache).read_bytes()).hexdigest()
                       if Path(args.lm_cache).is_file() else None),
        summaries=summaries, rows=table, paired_differences=diffs,
        people=raw)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    markdown(result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
