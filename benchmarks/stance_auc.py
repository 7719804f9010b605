"""Within-participant AUC on hidden statements: the stance population against the linear vote
model, on the same splits, leave one conversation out.

The ridge strength ``lam`` and the rank of the embedding projection are chosen first, without
the evaluation conversations: leave one conversation out over the eight other English
conversations, best mean within-participant AUC on their own hidden-statement splits.

Then, for each evaluation conversation (the five of the docs/llm.md table), a
:class:`~ualign.llm.populations.stance.StanceModel` is fitted on the co-votes of every *other*
English Polis conversation in ``../shared/data/polis`` (the German austria-climate and the
Chinese vtaiwan conversations are left out: all-MiniLM-L6-v2 is an English encoder) and scored
with :func:`~ualign.llm.populations.stance.evaluate_stance_model`; the linear vote model is
rerun with :func:`~ualign.llm.populations.votes.evaluate_vote_model` on the same split
(``test_frac=0.2, seed=0, min_votes=5``; both draw it from
:func:`~ualign.llm.populations.votes.vote_splits`, and the script checks that the held-out vote
counts agree). A third row scores the untrained relation ``k(s, j) = cos(e_s, e_j)`` (topic
similarity only) with the same kernel regression.

``--ship`` also fits the model on all English conversations and writes it to
``src/ualign/llm/populations/stance_minilm.npz`` (the package's default stance model).

Usage (one thread; embeddings cached under --cache):
    OMP_NUM_THREADS=1 python benchmarks/stance_auc.py [--ship] [--out FILE.json]

Polis data: Data was gathered using the Polis software (compdemocracy.org/polis) and is
sub-licensed under CC BY 4.0 with Attribution to The Computational Democracy Project.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "polis"
ENGLISH = ("15-per-hour-seattle", "american-assembly.bowling-green", "bg2050-volunteers",
           "brexit-consensus", "canadian-electoral-reform", "football-concussions",
           "london.youth.policing", "scoop-hivemind.affordable-housing",
           "scoop-hivemind.biodiversity", "scoop-hivemind.freshwater", "scoop-hivemind.taxes",
           "scoop-hivemind.ubi", "ssis.land-bank-farmland.2rumnecbeh.2021-08-01")
EVALUATE = ("15-per-hour-seattle", "brexit-consensus", "canadian-electoral-reform",
            "football-concussions", "american-assembly.bowling-green")


def _load(embed, min_votes):
    from ualign.llm import read_polis_votes
    from ualign.llm.populations.votes import kept_participants
    out = {}
    for conv in ENGLISH:
        pv = read_polis_votes(DATA / conv)
        keep = kept_participants(pv.votes, min_votes)
        out[conv] = (pv, pv.votes[keep], np.asarray(embed(list(pv.texts)), dtype=float))
    return out


def _clean(x):
    """JSON-safe: non-finite floats as strings ("inf", "nan")."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def _rank(text):
    return None if text == "full" else int(text)


def _validate(data, embed, args):
    """Choose (lam, rank) without the evaluation conversations: leave one out over the other
    English conversations (fit on the rest of them), mean within-participant AUC."""
    from ualign.llm.populations.stance import StanceModel, evaluate_stance_model
    val = [c for c in ENGLISH if c not in EVALUATE]
    grid = []
    for lam in (float(x) for x in args.lams.split(",")):
        for rank in args.ranks.split(","):
            aucs, c0 = {}, time.process_time()
            for conv in val:
                model = StanceModel.fit([data[c][1:] for c in val if c != conv], lam=lam,
                                        rank=_rank(rank), n0=args.n0,
                                        conversation_power=args.power, maxiter=args.maxiter)
                aucs[conv] = evaluate_stance_model(data[conv][0], model, embed=embed,
                                                   reg=args.reg)["model_user_auc"]
            mean = float(np.nanmean(list(aucs.values())))
            grid.append(dict(lam=lam, rank=rank, mean_user_auc=mean, per_conversation=aucs,
                             cpu_s=time.process_time() - c0))
            print(f"validation lam={lam:g} rank={rank}: mean within-participant AUC "
                  f"{mean:.3f}", flush=True)
    best = max(grid, key=lambda g: g["mean_user_auc"])
    return dict(conversations=val, grid=grid, chosen=dict(lam=best["lam"], rank=best["rank"]))


def _fold(conv, data, embed, args):
    """Fit on every other conversation, score ``conv``; old model and cosine on the same split."""
    from ualign.llm.populations.stance import StanceModel, evaluate_stance_model
    from ualign.llm.populations.votes import evaluate_vote_model
    train = [c for c in ENGLISH if c != conv]
    t0, c0 = time.perf_counter(), time.process_time()
    model = StanceModel.fit([data[c][1:] for c in train], lam=args.lam, rank=_rank(args.rank),
                            n0=args.n0, conversation_power=args.power, maxiter=args.maxiter)
    fit_wall, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    pv = data[conv][0]
    new = evaluate_stance_model(pv, model, embed=embed, reg=args.reg)
    d = data[conv][2].shape[1]
    cosine = StanceModel(np.pad(np.eye(d), ((0, 1), (0, 1))), meta={"name": "cosine"})
    cos = evaluate_stance_model(pv, cosine, embed=embed, reg=args.reg)
    old = evaluate_vote_model(pv, embed=embed, test_frac=0.2, seed=0)["statements"]
    if not old["n_test"] == new["n_test"] == cos["n_test"]:
        raise RuntimeError(f"{conv}: the splits differ ({old['n_test']} vs {new['n_test']} "
                           f"held-out votes)")
    seeds = {}
    for seed in (int(x) for x in args.seeds.split(",") if x.strip()):
        seeds[seed] = dict(
            stance=evaluate_stance_model(pv, model, embed=embed, reg=args.reg,
                                         seed=seed)["model_user_auc"],
            cosine=evaluate_stance_model(pv, cosine, embed=embed, reg=args.reg,
                                         seed=seed)["model_user_auc"],
            old=evaluate_vote_model(pv, embed=embed, test_frac=0.2,
                                    seed=seed)["statements"]["model_user_auc"])
    return dict(conversation=conv, other_seeds=seeds, participants=int(data[conv][1].shape[0]),
                statements=len(pv.texts), n_test=new["n_test"], train_conversations=train,
                stance=new, cosine=cos, old_model={k: old[k] for k in (
                    "model_acc", "model_auc", "model_user_auc", "global_model_user_auc",
                    "user_majority_acc")},
                fit_wall_s=fit_wall, fit_cpu_s=fit_cpu, iterations=model.meta["iterations"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "stance_auc.json"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/ualign/stance-emb"))
    ap.add_argument("--lams", default="0.1,1,10,inf", help="validation grid of lam")
    ap.add_argument("--ranks", default="64,full", help="validation grid of rank")
    ap.add_argument("--n0", type=float, default=10.0)
    ap.add_argument("--power", type=float, default=0.5)
    ap.add_argument("--reg", type=float, default=1.0)
    ap.add_argument("--maxiter", type=int, default=300)
    ap.add_argument("--lam", type=float, default=None, help="skip validation: use this lam")
    ap.add_argument("--rank", default="64", help="with --lam: the rank (an integer or full)")
    ap.add_argument("--seeds", default="1,2,3,4", help="further hidden-statement splits "
                    "(seed 0 is the docs table's split)")
    ap.add_argument("--only", default=",".join(EVALUATE), help="evaluation conversations")
    ap.add_argument("--ship", action="store_true", help="also fit on all English "
                    "conversations and write the package's default model")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from ualign.llm import Embedder
    embed = Embedder(cache_dir=args.cache)
    t0 = time.perf_counter()
    data = _load(embed, 5)
    print(f"embedded {sum(len(d[0].texts) for d in data.values())} statements "
          f"({embed.n_encoded} encoded) in {time.perf_counter() - t0:.0f} s", flush=True)
    validation = None
    if args.lam is None:
        validation = _validate(data, embed, args)
        args.lam, args.rank = validation["chosen"]["lam"], validation["chosen"]["rank"]
    print(f"lam={args.lam:g} rank={args.rank}", flush=True)
    rows = []
    for conv in args.only.split(","):
        r = _fold(conv, data, embed, args)
        rows.append(r)
        print(f"{conv}: within-participant AUC stance {r['stance']['model_user_auc']:.3f}, "
              f"cosine {r['cosine']['model_user_auc']:.3f}, old "
              f"{r['old_model']['model_user_auc']:.3f} (n={r['n_test']}, fit "
              f"{r['fit_cpu_s']:.1f} CPU s)", flush=True)
        if r["other_seeds"]:
            m = {k: np.mean([x[k] for x in r["other_seeds"].values()])
                 for k in ("stance", "cosine", "old")}
            print(f"  seeds {','.join(map(str, r['other_seeds']))}: mean stance "
                  f"{m['stance']:.3f}, cosine {m['cosine']:.3f}, old {m['old']:.3f}",
                  flush=True)
    result = dict(
        cpu_s_total=time.process_time(),
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine=f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, "
                f"load average {os.getloadavg()[0]:.1f} at the end (shared machine)",
        validation=validation,
        options=dict(lam=args.lam, rank=args.rank, n0=args.n0, conversation_power=args.power,
                     reg=args.reg,
                     maxiter=args.maxiter, test_frac=0.2, seed=0, min_votes=5,
                     embedder="all-MiniLM-L6-v2", protocol="leave one conversation out "
                     "over the English conversations"),
        rows=rows, attribution="Data was gathered using the Polis software "
        "(compdemocracy.org/polis) and is sub-licensed under CC BY 4.0 with Attribution to The "
        "Computational Democracy Project.")
    if args.ship:
        from ualign.llm.populations.stance import DEFAULT_MODEL_FILE, StanceModel
        c0 = time.process_time()
        model = StanceModel.fit([data[c][1:] for c in ENGLISH], lam=args.lam,
                                rank=_rank(args.rank), n0=args.n0,
                                conversation_power=args.power, maxiter=args.maxiter,
                                meta={"conversations": list(ENGLISH),
                                      "embedder": "all-MiniLM-L6-v2",
                                      "attribution": result["attribution"]})
        model.save(DEFAULT_MODEL_FILE)
        result["shipped"] = dict(file=str(DEFAULT_MODEL_FILE.relative_to(ROOT)),
                                 bytes=DEFAULT_MODEL_FILE.stat().st_size,
                                 fit_cpu_s=time.process_time() - c0)
        print(f"wrote {DEFAULT_MODEL_FILE} ({result['shipped']['bytes']} bytes)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_clean(result), indent=1, allow_nan=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
