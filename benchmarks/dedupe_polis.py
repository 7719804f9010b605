"""How many distinct Polis statements the text-merging rules would merge (docs/llm.md, "Distinct
display: merging equivalent candidates").

Polis statements are written by different people and are, by construction of the conversation,
meant to be distinct; the exact rule finds literal repeats, and every pair the embedding rule
merges on top of them is a candidate false merge (or a real near-duplicate) to read.

    python benchmarks/dedupe_polis.py [--data ../shared/data/polis] [--show 0.9]

Prints, per conversation: statements, candidates merged by ``rule="exact"``, pairs of distinct
normalised statements with all-MiniLM-L6-v2 cosine >= each threshold, and candidates merged by
``rule="embedding"`` at each threshold; then the pairs at or above ``--show``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from ualign.llm import Embedder, read_polis_votes
from ualign.llm.dedupe import merge_equivalent, normalise

CONVERSATIONS = ("15-per-hour-seattle", "brexit-consensus", "canadian-electoral-reform",
                 "football-concussions", "vtaiwan.uberx", "london.youth.policing",
                 "scoop-hivemind.ubi")
THRESHOLDS = (0.85, 0.9, 0.95, 0.97, 0.98, 0.99)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"
                                          / "data" / "polis"))
    ap.add_argument("--conversations", nargs="*", default=list(CONVERSATIONS))
    ap.add_argument("--show", type=float, default=0.9, help="list pairs with cosine >= this")
    args = ap.parse_args(argv)
    emb = Embedder()
    head = " ".join(f"pairs>={t} merged@{t}" for t in THRESHOLDS)
    print(f"conversation statements exact-merged {head}")
    shown = []
    tot = np.zeros(2 + 2 * len(THRESHOLDS), dtype=int)
    for name in args.conversations:
        texts = list(read_polis_votes(Path(args.data) / name).texts)
        keys = list(dict.fromkeys(normalise(t) for t in texts))
        E = emb(keys)
        S = E @ E.T
        iu = np.triu_indices(len(keys), 1)
        cos = S[iu]
        row = [len(texts), merge_equivalent(texts).n_merged]
        for t in THRESHOLDS:
            row += [int((cos >= t).sum()),
                    merge_equivalent(texts, rule="embedding", embed=emb, threshold=t).n_merged]
        tot += row
        print(name, *row)
        for q in np.flatnonzero(cos >= args.show):
            shown.append((float(cos[q]), name, keys[iu[0][q]], keys[iu[1][q]]))
    print("total", *tot.tolist())
    for c, name, a, b in sorted(shown, reverse=True):
        print(f"{c:.3f} {name}: {a[:80]!r} | {b[:80]!r}")


if __name__ == "__main__":
    main()
