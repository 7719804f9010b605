"""Choosing the cosine threshold of ``merge_equivalent(rule="embedding")`` (docs/llm.md,
"Distinct display: merging equivalent candidates").

Two measurements with all-MiniLM-L6-v2 (the default embedder), on normalised texts:

1. hand-written sentence pairs by kind (paraphrase, near-verbatim variant, opposite stance, same
   topic, unrelated): each cosine, and per kind the range and how many pairs merge at each
   threshold;
2. real Polis statements, written by different people and meant to be distinct: candidates the
   exact rule merges (literal repeats), pairs of distinct normalised statements at or above each
   threshold, and candidates ``rule="embedding"`` merges at each threshold (exact merges
   included); then the pairs at or above ``--show``, to read.

    python benchmarks/dedupe_thresholds.py [--data ../shared/data/polis] [--show 0.9]
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

_WAGE = "Raising the minimum wage to $15 will help workers."
_BREXIT = "The UK should hold a second referendum on Brexit."
_HOUSING = "Cities should build more affordable housing."
_FOOTBALL = "Football is too dangerous for children."
_CLIMATE = "We need stronger action on climate change."
_TRANSPORT = "Public transport should be free for everyone."
_LONG_WAGE = ("A $15 minimum wage will help low-income workers in Seattle afford rent, food and "
              "transport, and it will reduce reliance on public assistance programs.")
_LONG_BREXIT = ("The government should hold a second referendum on Brexit because voters now know "
                "much more about what leaving the European Union actually means for trade and "
                "jobs.")
_LONG_FOOTBALL = ("Youth football programs should require baseline concussion testing for every "
                  "player and remove any child with symptoms from play until a doctor clears "
                  "them.")
PAIRS = {
    "paraphrase": [
        (_WAGE, "A $15 minimum wage would help workers."),
        (_BREXIT, "Britain ought to have another Brexit referendum."),
        (_HOUSING, "More affordable homes should be built in cities."),
        (_FOOTBALL, "Football is too risky for kids."),
        (_CLIMATE, "Stronger climate action is needed."),
        (_TRANSPORT, "Everyone should be able to ride public transit for free."),
        ("I think taxes on the rich should go up.",
         "Taxes for wealthy people should be increased."),
        ("Concussions in football are a serious health problem.",
         "Football concussions are a serious problem for health."),
        (_LONG_WAGE, "I believe a $15 minimum wage would help low-income workers in Seattle to "
                     "afford rent, food and transportation, and would reduce reliance on public "
                     "assistance."),
        (_LONG_BREXIT, "There should be a second Brexit referendum, since voters now understand "
                       "far better what leaving the EU means for trade and jobs."),
        (_LONG_FOOTBALL, "Youth football programs should require baseline concussion tests for "
                         "all players, and any child showing symptoms should sit out until "
                         "cleared by a doctor."),
    ],
    "near-verbatim": [
        (_WAGE, "I think raising the minimum wage to $15 will help workers."),
        (_WAGE, "In my opinion, raising the minimum wage to $15 will help workers."),
        (_HOUSING, "Cities should build more affordable houses."),
        (_HOUSING, "Cities must build more affordable housing."),
        (_FOOTBALL, "Football is too dangerous for young children."),
        (_CLIMATE, "We need stronger action on climate change now."),
        (_BREXIT, "The UK should hold a 2nd referendum on Brexit."),
        (_TRANSPORT, "Public transport should be free for all."),
        ("Taxes on the rich should go up.", "Taxes on the rich should go up, and soon."),
    ],
    "typos": [
        (_FOOTBALL, "Footbal is too dangerous for childern."),
    ],
    "opposite stance": [
        (_WAGE, "Raising the minimum wage to $15 will cost jobs."),
        ("Brexit was a good decision.", "Brexit was not a good decision."),
        (_BREXIT, "The UK should not hold a second referendum on Brexit."),
        (_FOOTBALL, "Football is safe enough for children."),
        ("Taxes on the rich should go up.", "Taxes on the rich should go down."),
        ("Canada should switch to proportional representation.",
         "Canada should keep first past the post."),
        (_HOUSING, "Cities should not build more affordable housing."),
        (_HOUSING, "Cities should build less affordable housing."),
        (_CLIMATE, "We need weaker action on climate change."),
        (_CLIMATE, "We do not need stronger action on climate change."),
        (_TRANSPORT, "Public transport should not be free for everyone."),
        ("I support the $15 minimum wage.", "I oppose the $15 minimum wage."),
        ("Uber should be legal in Taiwan.", "Uber should be banned in Taiwan."),
        ("Police should carry guns.", "Police should not carry guns."),
        (_LONG_WAGE, "A $15 minimum wage will not help low-income workers in Seattle afford rent, "
                     "food and transport, and it will not reduce reliance on public assistance "
                     "programs."),
        (_LONG_WAGE, "A $15 minimum wage will hurt low-income workers in Seattle who need to "
                     "afford rent, food and transport, and it will increase reliance on public "
                     "assistance programs."),
        (_LONG_BREXIT, "The government should not hold a second referendum on Brexit because "
                       "voters already knew what leaving the European Union actually means for "
                       "trade and jobs."),
        (_LONG_FOOTBALL, "Youth football programs should not require baseline concussion testing "
                         "for every player or remove a child with symptoms from play until a "
                         "doctor clears them."),
    ],
    "same topic": [
        (_WAGE, "Small businesses in Seattle pay their staff well."),
        (_HOUSING, "Rents in Auckland have doubled in ten years."),
        (_FOOTBALL, "The NFL should fund concussion research."),
    ],
    "unrelated": [
        (_WAGE, _FOOTBALL),
        (_HOUSING, "I adore kittens."),
        (_BREXIT, _CLIMATE),
        (_TRANSPORT, "Concussions in football are a serious health problem."),
    ],
}


def hand_pairs(emb) -> None:
    print("kind pairs min max " + " ".join(f"merged@{t}" for t in THRESHOLDS))
    lines = []
    for kind, pairs in PAIRS.items():
        cos = []
        for a, b in pairs:
            E = emb([normalise(a), normalise(b)])
            cos.append(float(E[0] @ E[1]))
            lines.append(f"{cos[-1]:.4f} {kind}: {a[:60]!r} | {b[:60]!r}")
        c = np.array(cos)
        print(kind, c.size, f"{c.min():.3f} {c.max():.3f}",
              *[int((c >= t).sum()) for t in THRESHOLDS])
    print(*lines, sep="\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared"
                                          / "data" / "polis"))
    ap.add_argument("--conversations", nargs="*", default=list(CONVERSATIONS))
    ap.add_argument("--show", type=float, default=0.9, help="list pairs with cosine >= this")
    args = ap.parse_args(argv)
    emb = Embedder()
    hand_pairs(emb)
    print()
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
