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

import contextlib
import csv
import dataclasses
import io
import operator
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from ualign._text import plain
from ualign.core.checks import check_path
from ualign.core.profile import Profile

__all__ = [
    "POLIS_ATTRIBUTION",
    "POLIS_LICENSE",
    "UNSEEN_RULES",
    "PolisVotes",
    "read_polis",
    "read_polis_votes",
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


@contextlib.contextmanager
def _field_limit(size: int):
    """Let one CSV field be as long as the whole file (csv's default stops at 128 KB, and one
    long comment is enough); the process-wide limit is restored afterwards."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, min(size + 1, sys.maxsize)))
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); Polis "
                         f"exports are UTF-8 CSV") from None


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise FileNotFoundError(f"no such Polis file: {path}")
    data = path.read_bytes()
    with _field_limit(len(data)):
        reader = csv.reader(io.StringIO(_decode(data, path), newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty file (expected a CSV header line)") from None
        except csv.Error as e:
            raise ValueError(f"{path}: line 1: malformed CSV ({e})") from None
        try:
            rows = [r for r in reader if r]
        except csv.Error as e:
            raise ValueError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
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
                         f"{plain(','.join(header[:8]))}...)") from None


_MAX_ID = 2 ** 62
_MAX_GROUP = 10_000   # Polis finds a handful of opinion groups; ids are 0, 1, 2, ...


def _int_cell(text: str, path: Path, line: int, column: str, top: int = _MAX_ID) -> int:
    """An integer cell in ``-1..top`` (ids fit in int64); else ValueError naming the cell."""
    try:
        v = int(text) if len(text.strip()) <= 20 else None
    except ValueError:
        v = None
    if v is None or not -_MAX_ID <= v <= top:
        raise ValueError(f"{path}: line {line}, column {column!r}: expected an integer "
                         f"{'at most ' + str(top) if top < _MAX_ID else 'below 2**62'}, got "
                         f"{text[:40]!r}") from None
    return v


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


@dataclasses.dataclass(frozen=True)
class PolisVotes:
    """The raw votes of one Polis conversation (what :func:`read_polis_votes` returns).

    Attributes:
      texts: ``(S,)`` statement texts (whitespace runs collapsed to one space).
      statement_ids: ``(S,)`` Polis comment ids, ascending.
      participants: ``(P,)`` Polis participant ids (row numbers when the column is absent).
      groups: ``(P,)`` opinion group id (Polis ``group-id``), -1 when Polis assigned none.
      votes: ``(P, S)`` float, +1 agree, -1 disagree, 0 pass, NaN not voted.
      topic: the conversation topic (``summary.csv``), description: its description.
    """

    texts: tuple[str, ...]
    statement_ids: np.ndarray
    participants: np.ndarray
    groups: np.ndarray
    votes: np.ndarray
    topic: str = ""
    description: str = ""


@dataclasses.dataclass(frozen=True)
class _Export:
    """A parsed Polis export folder: every statement with a text and a vote column."""

    folder: Path
    ids: list[int]               # (S,) comment ids, ascending, moderated ones included
    texts: list[str]             # (S,) whitespace-collapsed texts
    hidden: np.ndarray           # (S,) bool, moderated = -1
    n_hidden: int                # statements moderated out in comments.csv
    codes: np.ndarray            # (P, S) AGREE / PASS / DISAGREE or _UNSEEN
    participants: np.ndarray     # (P,) int
    groups: np.ndarray | None    # (P,) int, -1 = no group; None without a group-id column
    summary: dict[str, str]      # summary.csv rows (first column -> second, raw)


def _read_comments(cpath: Path) -> tuple[dict[int, str], set[int]]:
    """comment id -> whitespace-collapsed text, and the ids moderated out (``moderated = -1``)."""
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
    return texts, hidden


def _vote_codes(vpath: Path, vheader: list[str], vrows: list[list[str]],
                columns: list[int]) -> np.ndarray:
    """``(P, len(columns))`` vote codes of the given CSV columns (``_UNSEEN`` for empty)."""
    pick = operator.itemgetter(*columns)
    code = {"": _UNSEEN, **_VOTE_LEVEL}
    codes = np.array([[code.get(v, _BAD) for v in _as_tuple(pick(r))] for r in vrows],
                     dtype=np.int64).reshape(len(vrows), len(columns))
    for r, c in np.argwhere(codes == _BAD):                # tolerate padding; else fail loudly
        text = vrows[r][columns[c]].strip()
        if text not in code:
            raise ValueError(f"{vpath}: line {r + 2}, column "
                             f"{plain(vheader[columns[c]].strip())}: expected a vote 1, 0, -1 or "
                             f"empty, got {text!r}")
        codes[r, c] = code[text]
    return codes


def _group_ids(vpath: Path, vheader: list[str], vrows: list[list[str]]) -> np.ndarray | None:
    """``(P,)`` Polis ``group-id`` of each participant (-1 when empty); None without the column."""
    if "group-id" not in vheader:
        return None
    gi = vheader.index("group-id")
    gid = np.array([_int_cell(r[gi].strip(), vpath, line, "group-id", _MAX_GROUP)
                    if r[gi].strip() else -1
                    for line, r in enumerate(vrows, start=2)], dtype=np.int64)
    if np.any(gid < -1):
        raise ValueError(f"{vpath}: group-id must be >= 0 or empty, got {gid.min()} at line "
                         f"{int(np.argmin(gid)) + 2}")
    return gid


_MAX_SUMMARY = 1 << 20


def _read_summary(spath: Path) -> dict[str, str]:
    """``summary.csv`` rows (first column -> second). The file is optional: when it is
    missing, larger than 1 MiB, not UTF-8 or not CSV, the conversation is read without it
    (with a warning for the last three)."""
    out: dict[str, str] = {}
    if not spath.is_file():
        return out
    try:
        if spath.stat().st_size > _MAX_SUMMARY:
            raise ValueError(f"larger than {_MAX_SUMMARY} bytes")
        data = spath.read_bytes()
        with _field_limit(len(data)):
            for r in csv.reader(io.StringIO(_decode(data, spath), newline="")):
                if len(r) >= 2:
                    out[r[0]] = r[1]
    except (ValueError, OSError, csv.Error) as e:
        warnings.warn(f"{spath}: ignored ({e}); reading the conversation without its "
                      f"summary.csv", UserWarning, stacklevel=4)
        return {}
    return out


def _read_export(folder: str | os.PathLike) -> _Export:
    """Parse ``comments.csv``, ``participants-votes.csv`` and ``summary.csv`` (the only place
    ualign reads Polis CSVs). Keeps the statements that have both a row and a vote column."""
    folder = Path(check_path(folder, "folder"))
    if not folder.exists():
        raise FileNotFoundError(f"no such Polis folder: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"a Polis conversation is a folder with comments.csv and "
                                 f"participants-votes.csv, got the file {folder}")
    texts, hidden = _read_comments(folder / "comments.csv")
    vpath = folder / "participants-votes.csv"
    vheader, vrows = _read_csv(vpath)
    vote_cols = {int(h): j for j, h in enumerate(vheader) if h.strip().lstrip("-").isdigit()}
    ids = sorted(c for c in vote_cols if c in texts)
    codes = _vote_codes(vpath, vheader, vrows, [vote_cols[c] for c in ids]) if ids \
        else np.zeros((len(vrows), 0), dtype=np.int64)
    if "participant" in vheader:
        pi = vheader.index("participant")
        participants = np.array([_int_cell(r[pi], vpath, line, "participant")
                                 for line, r in enumerate(vrows, start=2)], dtype=np.int64)
    else:
        participants = np.arange(len(vrows), dtype=np.int64)
    return _Export(folder=folder, ids=ids, texts=[texts[c] for c in ids],
                   hidden=np.array([c in hidden for c in ids], dtype=bool),
                   n_hidden=len(hidden), codes=codes, participants=participants,
                   groups=_group_ids(vpath, vheader, vrows),
                   summary=_read_summary(folder / "summary.csv"))


def read_polis_votes(folder: str | os.PathLike, include_moderated: bool = False) -> PolisVotes:
    """The raw vote matrix of a Polis export folder, every participant kept.

    Statements are those :func:`read_polis` reads (a row in ``comments.csv`` and a vote
    column; ``moderated = -1`` dropped unless ``include_moderated``), texts whitespace-collapsed
    as there; votes are +1 agree, -1 disagree, 0 pass and NaN unseen; ``groups`` holds Polis
    ``group-id`` (-1 for none, and for everyone when the column is absent).

    References: shared/data/README.md; compdemocracy/openData.
    """
    ex = _read_export(folder)
    keep = np.ones(len(ex.ids), dtype=bool) if include_moderated else ~ex.hidden
    codes = ex.codes[:, keep]
    votes = np.select([codes == AGREE, codes == PASS, codes == DISAGREE], [1.0, 0.0, -1.0],
                      default=np.nan)
    groups = ex.groups if ex.groups is not None \
        else np.full(len(ex.participants), -1, dtype=np.int64)
    return PolisVotes(texts=tuple(t for t, k in zip(ex.texts, keep, strict=True) if k),
                      statement_ids=np.array(ex.ids, dtype=np.int64)[keep],
                      participants=ex.participants, groups=groups, votes=votes,
                      topic=ex.summary.get("topic", "").strip(),
                      description=ex.summary.get("conversation-description", "").strip())


def _check_read_options(min_votes, unseen, min_statement_votes, max_statements):
    min_votes = _check_count(min_votes, "min_votes")
    min_statement_votes = _check_count(min_statement_votes, "min_statement_votes")
    if max_statements is not None:
        max_statements = _check_count(max_statements, "max_statements")
        if max_statements < 1:
            raise ValueError(f"max_statements must be an integer >= 1 or None, got "
                             f"{max_statements}")
    if unseen not in UNSEEN_RULES:
        raise ValueError(f"unseen must be one of {', '.join(UNSEEN_RULES)}, got {unseen!r}")
    return min_votes, min_statement_votes, max_statements


def _keep_statements(seen: np.ndarray, ids: list[int], min_statement_votes: int,
                     max_statements: int | None) -> np.ndarray:
    """Statements with ``min_statement_votes`` votes, then the ``max_statements`` most voted
    (ties: smaller id); ``seen`` is ``(P_kept, S)``."""
    votes_per_statement = seen.sum(axis=0)
    keep_s = votes_per_statement >= min_statement_votes
    if max_statements is not None and keep_s.sum() > max_statements:
        order = np.lexsort((np.asarray(ids), -votes_per_statement))   # most votes, then id
        order = order[keep_s[order]][:max_statements]
        keep_s = np.zeros_like(keep_s)
        keep_s[order] = True
    return keep_s


def _opinion_groups(gid: np.ndarray | None) -> tuple[np.ndarray | None, tuple | None]:
    """Polis group ids (-1 = none) -> ``(groups, group_names)``: ``group A`` is Polis group 0,
    ...; participants without a group form a last group ``no group``."""
    if gid is None:
        return None, None
    gid = gid.copy()
    top = int(gid.max()) if gid.size else -1
    names = [_group_name(g) for g in range(top + 1)]
    if np.any(gid == -1):
        gid[gid == -1] = top + 1
        names.append("no group")
    return gid, tuple(names)


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
    min_votes, min_statement_votes, max_statements = _check_read_options(
        min_votes, unseen, min_statement_votes, max_statements)
    ex = _read_export(folder)
    folder = ex.folder
    if not len(ex.participants):
        raise ValueError(f"{folder / 'participants-votes.csv'}: no participants")
    shown = ~ex.hidden
    if not shown.any():
        raise ValueError(f"{folder}: no statement is both in comments.csv and voted on in "
                         "participants-votes.csv without being moderated out")
    ids = [c for c, s in zip(ex.ids, shown, strict=True) if s]
    codes = ex.codes[:, shown]
    seen = codes != _UNSEEN

    # ---- filters: participants, then statements
    keep_p = seen.sum(axis=1) >= min_votes
    if not keep_p.any():
        raise ValueError(f"{folder}: no participant cast min_votes = {min_votes} votes "
                         f"(the most is {int(seen.sum(axis=1).max())})")
    keep_s = _keep_statements(seen[keep_p], ids, min_statement_votes, max_statements)
    if not keep_s.any():
        raise ValueError(f"{folder}: no statement has min_statement_votes = "
                         f"{min_statement_votes} votes from the kept participants")
    kept_ids = [c for c, k in zip(ids, keep_s, strict=True) if k]
    texts = dict(zip(ex.ids, ex.texts, strict=True))
    levels = codes[np.ix_(keep_p, keep_s)]
    levels[levels == _UNSEEN] = PASS if unseen == "pass" else UNSEEN_BOTTOM
    groups, group_names = _opinion_groups(None if ex.groups is None else ex.groups[keep_p])

    meta = {
        "source": str(folder),
        "conversation": folder.resolve().name,
        "statement ids": ",".join(map(str, kept_ids)),
        "participants": str(int(keep_p.sum())),
        "unseen": unseen,
        "min votes": str(min_votes),
        "moderated out": str(ex.n_hidden),
        "attribution": POLIS_ATTRIBUTION,
        "license": POLIS_LICENSE,
    }
    meta.update({k: " ".join(ex.summary[k].split()) for k in ("topic", "url")
                 if k in ex.summary})
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
