"""Polis conversations as preference profiles over statements.

A Polis export folder holds ``comments.csv`` (one row per statement: ``comment-id``,
``moderated``, ``comment-body``, ...) and ``participants-votes.csv`` (one row per participant:
``participant``, optional ``xid``, ``group-id``, counts, then one column per comment id with
``1`` agree, ``-1`` disagree, ``0`` pass, empty = never shown or not voted).

Each participant becomes a user with a weak order over the kept statements:

    agree (level 0)  ≻  pass (level 1)  ≻  disagree (level 2)

**Unseen statements** (empty cells) follow the ``unseen`` rule:

- ``"pass"`` (default): unseen is *indifference*, tied with pass at the middle level. A user
  shown an unseen statement next to one they disagreed with picks the unseen one; next to one
  they agreed with, the agreed one. It adds no preference the participant did not express.
- ``"bottom"``: unseen statements are tied together below disagree (level 3), the convention of
  PrefLib's incomplete orders ("unranked at the bottom").

Statements hidden by the moderator (``moderated = -1``) are dropped, and so are statements
with no vote column (nobody was shown them) or no row in ``comments.csv`` (no text). A
participant is kept when they cast at least ``min_votes`` votes (agree, disagree or pass) on
the kept statements; then a statement is kept when at least ``min_statement_votes`` kept
participants voted on it (one pass, in this order). ``max_statements`` keeps only the most
voted statements (ties broken by smaller comment id).

Every kept participant has weight 1 (before normalising); identical orders in the same group
are merged, so ``n_users`` counts distinct (order, group) pairs and ``n_voters`` the
participants. Polis opinion groups (``group-id``) become ``Profile.groups`` (``group A`` is
Polis group 0, ...; participants without a group form a last group ``no group``), statement
texts (whitespace collapsed) the labels, and ``meta["statement ids"]`` the comma-separated
comment ids in column order (see :func:`statement_ids`).

The data is CC BY 4.0: show :data:`POLIS_ATTRIBUTION` wherever it appears.

References: shared/spec/THEORY.md §1; shared/data/README.md; compdemocracy/openData.
"""

from __future__ import annotations

import csv
import operator
import os
from pathlib import Path

import numpy as np

from ualign.core.profile import Profile

__all__ = [
    "POLIS_ATTRIBUTION",
    "POLIS_LICENSE",
    "UNSEEN_RULES",
    "read_polis",
    "statement_ids",
]

POLIS_ATTRIBUTION = (
    "Data was gathered using the Polis software (compdemocracy.org/polis) and is sub-licensed "
    "under CC BY 4.0 with Attribution to The Computational Democracy Project.")
"""The attribution the CC BY 4.0 licence of Polis open data requires (keep it in reports)."""

POLIS_LICENSE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"

UNSEEN_RULES = ("pass", "bottom")

AGREE, PASS, DISAGREE, UNSEEN_BOTTOM = 0, 1, 2, 3
_VOTE_LEVEL = {"1": AGREE, "0": PASS, "-1": DISAGREE}
_UNSEEN, _BAD = -1, -2


def _as_tuple(x) -> tuple:
    """``operator.itemgetter`` with one index returns the item, not a 1-tuple."""
    return x if isinstance(x, tuple) else (x,)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"no such Polis file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file (expected a CSV header line)") from None
        rows = [r for r in reader if r]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise ValueError(f"{path}: line {i + 2} has {len(r)} fields, the header has "
                             f"{len(header)}")
    return header, rows


def _column(header: list[str], name: str, path: Path) -> int:
    try:
        return header.index(name)
    except ValueError:
        raise ValueError(f"{path}: missing column {name!r} (header: "
                         f"{','.join(header[:8])}...)") from None


def _int_cell(text: str, path: Path, line: int, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}: line {line}, column {column!r}: expected an integer, got "
                         f"{text!r}") from None


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _group_name(g: int) -> str:
    letters = ""
    g += 1
    while g:
        g, r = divmod(g - 1, 26)
        letters = chr(65 + r) + letters
    return f"group {letters}"


def read_polis(folder: str | os.PathLike, min_votes: int = 7, unseen: str = "pass",
               min_statement_votes: int = 0, max_statements: int | None = None) -> Profile:
    """Read a Polis export folder into a Profile over its statements.

    Levels: agree 0 ≻ pass 1 ≻ disagree 2; an unseen statement is tied with pass
    (``unseen="pass"``) or put below disagree (``unseen="bottom"``, level 3). See the module
    docstring for the filters, the groups and the metadata.

    Args:
      folder: the conversation folder (``comments.csv`` and ``participants-votes.csv``;
        ``summary.csv`` is read for the topic and URL when present).
      min_votes: keep participants with at least this many votes on the kept statements
        (default 7, the threshold Polis uses to place a participant in an opinion group).
      unseen: ``"pass"`` or ``"bottom"``.
      min_statement_votes: then keep statements with at least this many votes from kept
        participants (default 0: all).
      max_statements: keep only this many statements, the most voted first.

    Returns:
      A :class:`ualign.Profile` with labels, groups, group_names, ``n_voters`` and ``meta``
      (``source``, ``conversation``, ``statement ids``, ``participants``, ``unseen``,
      ``attribution``, ``topic``/``url`` from ``summary.csv``).

    References: shared/spec/THEORY.md §1.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"no such Polis folder: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"a Polis conversation is a folder with comments.csv and "
                                 f"participants-votes.csv, got the file {folder}")
    min_votes = _check_count(min_votes, "min_votes")
    min_statement_votes = _check_count(min_statement_votes, "min_statement_votes")
    if max_statements is not None:
        max_statements = _check_count(max_statements, "max_statements")
        if max_statements < 1:
            raise ValueError(f"max_statements must be an integer >= 1 or None, got "
                             f"{max_statements}")
    if unseen not in UNSEEN_RULES:
        raise ValueError(f"unseen must be one of {', '.join(UNSEEN_RULES)}, got {unseen!r}")

    # ---- statements: comment id -> (text, moderated)
    cpath = folder / "comments.csv"
    cheader, crows = _read_csv(cpath)
    ci, mi, bi = (_column(cheader, c, cpath) for c in ("comment-id", "moderated",
                                                        "comment-body"))
    texts: dict[int, str] = {}
    hidden: set[int] = set()
    for line, r in enumerate(crows, start=2):
        cid = _int_cell(r[ci], cpath, line, "comment-id")
        if _int_cell(r[mi], cpath, line, "moderated") == -1:
            hidden.add(cid)
        texts[cid] = " ".join(r[bi].split())

    # ---- votes
    vpath = folder / "participants-votes.csv"
    vheader, vrows = _read_csv(vpath)
    if not vrows:
        raise ValueError(f"{vpath}: no participants")
    gi = vheader.index("group-id") if "group-id" in vheader else None
    vote_cols = {int(h): j for j, h in enumerate(vheader) if h.strip().lstrip("-").isdigit()}
    ids = sorted(c for c in vote_cols if c in texts and c not in hidden)
    if not ids:
        raise ValueError(f"{folder}: no statement is both in comments.csv and voted on in "
                         "participants-votes.csv without being moderated out")
    pick = operator.itemgetter(*[vote_cols[c] for c in ids])
    code = {"": _UNSEEN, **_VOTE_LEVEL}
    codes = np.array([[code.get(v, _BAD) for v in _as_tuple(pick(r))] for r in vrows],
                     dtype=np.int64).reshape(len(vrows), len(ids))
    for r, c in np.argwhere(codes == _BAD):                # tolerate padding; else fail loudly
        text = vrows[r][vote_cols[ids[c]]].strip()
        if text not in code:
            raise ValueError(f"{vpath}: line {r + 2}, column {ids[c]!r}: expected a vote 1, 0, "
                             f"-1 or empty, got {text!r}")
        codes[r, c] = code[text]
    seen = codes != _UNSEEN

    # ---- filters: participants, then statements
    keep_p = seen.sum(axis=1) >= min_votes
    if not keep_p.any():
        raise ValueError(f"{folder}: no participant cast min_votes = {min_votes} votes "
                         f"(the most is {int(seen.sum(axis=1).max())})")
    votes_per_statement = seen[keep_p].sum(axis=0)
    keep_s = votes_per_statement >= min_statement_votes
    if max_statements is not None and keep_s.sum() > max_statements:
        order = np.lexsort((np.asarray(ids), -votes_per_statement))   # most votes, then id
        order = order[keep_s[order]][:max_statements]
        keep_s = np.zeros_like(keep_s)
        keep_s[order] = True
    if not keep_s.any():
        raise ValueError(f"{folder}: no statement has min_statement_votes = "
                         f"{min_statement_votes} votes from the kept participants")
    kept_ids = [c for c, k in zip(ids, keep_s, strict=True) if k]
    levels = codes[np.ix_(keep_p, keep_s)]
    levels[levels == _UNSEEN] = PASS if unseen == "pass" else UNSEEN_BOTTOM

    # ---- opinion groups
    groups = group_names = None
    if gi is not None:
        raw = [r[gi].strip() for r, k in zip(vrows, keep_p, strict=True) if k]
        gid = np.array([_int_cell(g, vpath, 0, "group-id") if g else -1 for g in raw],
                       dtype=np.int64)
        if np.any(gid < -1):
            raise ValueError(f"{vpath}: group-id must be >= 0 or empty, got {gid.min()}")
        top = int(gid.max()) if gid.size else -1
        names = [_group_name(g) for g in range(top + 1)]
        if np.any(gid == -1):
            gid[gid == -1] = top + 1
            names.append("no group")
        groups, group_names = gid, tuple(names)

    meta = {
        "source": str(folder),
        "conversation": folder.resolve().name,
        "statement ids": ",".join(map(str, kept_ids)),
        "participants": str(int(keep_p.sum())),
        "unseen": unseen,
        "min votes": str(min_votes),
        "moderated out": str(len(hidden)),
        "attribution": POLIS_ATTRIBUTION,
        "license": POLIS_LICENSE,
    }
    spath = folder / "summary.csv"
    if spath.is_file():
        with open(spath, newline="", encoding="utf-8-sig") as f:
            for r in csv.reader(f):
                if len(r) >= 2 and r[0] in ("topic", "url"):
                    meta[r[0]] = " ".join(r[1].split())
    return Profile.from_levels(levels, labels=[texts[c] for c in kept_ids], groups=groups,
                               group_names=group_names, n_voters=int(keep_p.sum()), meta=meta)


def statement_ids(profile: Profile) -> tuple[int, ...]:
    """The Polis comment id of each response of a profile made by :func:`read_polis`."""
    text = profile.meta.get("statement ids")
    if text is None:
        raise ValueError("profile has no meta['statement ids']: it was not read by read_polis")
    ids = tuple(int(s) for s in text.split(",")) if text else ()
    if len(ids) != profile.n_responses:
        raise ValueError(f"meta['statement ids'] names {len(ids)} statements, the profile has "
                         f"{profile.n_responses} responses")
    return ids
