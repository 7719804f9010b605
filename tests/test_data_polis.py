"""Polis reader (ualign.data.polis): synthetic folders with known answers, and every real
conversation in ../shared/data/polis checked against independent counts from the CSVs."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from ualign import Profile
from ualign.data.polis import POLIS_ATTRIBUTION, read_polis, read_polis_votes, statement_ids

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "polis"
REAL = sorted(p for p in DATA.glob("*") if (p / "participants-votes.csv").is_file()) \
    if DATA.is_dir() else []


def _bare(P: Profile) -> Profile:
    """The profile without labels and metadata (levels, weights, groups only)."""
    return Profile(P.levels, P.weights, groups=P.groups)


def _write(folder: Path, comments, votes, group=True, summary=True):
    """comments: [(id, moderated, text)]; votes: [(group or '', {id: '1'|'0'|'-1'})]."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "comments.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "datetime", "comment-id", "author-id", "agrees", "disagrees",
                    "moderated", "comment-body"])
        for cid, mod, text in comments:
            w.writerow([0, "x", cid, 0, 0, 0, mod, text])
    ids = [c[0] for c in comments]
    with open(folder / "participants-votes.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        head = ["participant"] + (["group-id"] if group else []) + ["n-comments", "n-votes"]
        w.writerow(head + [str(c) for c in ids])
        for p, (g, vs) in enumerate(votes):
            w.writerow([p] + ([g] if group else []) + [0, len(vs)]
                       + [vs.get(c, "") for c in ids])
    if summary:
        with open(folder / "summary.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["topic", "A test\nconversation"], ["url", "https://x"]])
    return folder


@pytest.fixture
def small(tmp_path):
    comments = [(0, 1, "Alpha  statement\nwith newline"), (1, 0, "Beta, with comma"),
                (2, -1, "Hidden by moderator"), (3, 1, 'Delta "quoted"')]
    votes = [
        ("0", {0: "1", 1: "-1", 2: "1", 3: "0"}),     # A: 0 agree, 1 disagree, 3 pass
        ("1", {0: "-1", 1: "1"}),                       # B: 3 unseen
        ("", {3: "1"}),                                 # no group, 1 vote
        ("0", {0: "1", 1: "-1", 3: "0"}),               # same order as participant 0
    ]
    return _write(tmp_path / "conv", comments, votes)


def test_small_levels_unseen_as_pass(small):
    P = read_polis(small, min_votes=1)
    assert P.labels == ("Alpha statement with newline", "Beta, with comma", 'Delta "quoted"')
    assert statement_ids(P) == (0, 1, 3)
    assert P.n_voters == 4
    # participant 0 and 3 merge: levels agree 0, disagree 2, pass 1
    want = Profile.from_levels([[0, 2, 1], [2, 0, 1], [1, 1, 0]], weights=[2, 1, 1],
                               groups=[0, 1, 2])
    assert _bare(P) == want
    assert P.group_names == ("group A", "group B", "no group")
    assert P.meta["topic"] == "A test conversation"
    assert P.meta["attribution"] == POLIS_ATTRIBUTION
    assert P.meta["moderated out"] == "1"


def test_small_unseen_at_the_bottom(small):
    P = read_polis(small, min_votes=1, unseen="bottom")
    want = Profile.from_levels([[0, 2, 1], [2, 0, 3], [3, 3, 0]], weights=[2, 1, 1],
                               groups=[0, 1, 2])
    assert _bare(P) == want
    # the rules differ only on B (disagrees with statement 0, never saw statement 3):
    # as pass, B prefers 3 to 0; at the bottom, B prefers 0 to 3
    Ppass = read_polis(small, min_votes=1, unseen="pass")
    assert Ppass.pairwise_preferences()[2, 0] == pytest.approx(0.5)
    assert Ppass.pairwise_preferences()[0, 2] == pytest.approx(0.5)
    assert P.pairwise_preferences()[2, 0] == pytest.approx(0.25)
    assert P.pairwise_preferences()[0, 2] == pytest.approx(0.75)


def test_small_min_votes_and_statement_filters(small):
    P = read_polis(small, min_votes=2)              # drops the 1-vote participant
    assert P.n_voters == 3 and P.group_names == ("group A", "group B")
    P = read_polis(small, min_votes=1, min_statement_votes=3)
    assert statement_ids(P) == (0, 1, 3)
    # without the 1-vote participant, statement 3 has 2 votes, statements 0 and 1 have 3
    P = read_polis(small, min_votes=2, min_statement_votes=3)
    assert statement_ids(P) == (0, 1)
    P = read_polis(small, min_votes=2, max_statements=2)        # most voted, then smaller id
    assert statement_ids(P) == (0, 1)
    P = read_polis(small, min_votes=1, max_statements=1)        # all have 3 votes: id 0
    assert statement_ids(P) == (0,)
    with pytest.raises(ValueError, match="min_votes = 9"):
        read_polis(small, min_votes=9)
    with pytest.raises(ValueError, match="min_statement_votes"):
        read_polis(small, min_votes=1, min_statement_votes=4)


def test_small_without_groups_or_summary(tmp_path):
    folder = _write(tmp_path / "c", [(5, 1, "x"), (7, 1, "y")],
                    [("", {5: "1", 7: "0"}), ("", {5: "-1"})], group=False, summary=False)
    P = read_polis(folder, min_votes=1)
    assert P.groups is None and "topic" not in P.meta
    assert _bare(P) == Profile.from_levels([[0, 1], [2, 1]])


def test_bad_input(small, tmp_path):
    with pytest.raises(FileNotFoundError):
        read_polis(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        read_polis(small / "comments.csv")
    with pytest.raises(ValueError, match="unseen must be one of pass, bottom"):
        read_polis(small, unseen="ignore")
    with pytest.raises(ValueError, match="min_votes"):
        read_polis(small, min_votes=-1)
    bad = _write(tmp_path / "bad", [(0, 1, "x")], [("0", {0: "2"})])
    with pytest.raises(ValueError, match=r"line 2, column 0: expected a vote"):
        read_polis(bad, min_votes=0)
    padded = _write(tmp_path / "padded", [(0, 1, "x"), (1, 1, "y")],
                    [("0", {0: " 1", 1: "-1 "})])
    assert _bare(read_polis(padded, min_votes=0)) == Profile.from_levels([[0, 1]], groups=[0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"comments\.csv"):
        read_polis(tmp_path / "empty")


def test_small_raw_votes(small):
    """read_polis_votes: the same statements as read_polis, votes +1 / 0 / -1 / NaN, every
    participant, Polis group ids (-1 = none)."""
    pv = read_polis_votes(small)
    np.testing.assert_array_equal(pv.statement_ids, [0, 1, 3])
    assert pv.texts == ("Alpha statement with newline", "Beta, with comma", 'Delta "quoted"')
    nan = np.nan
    np.testing.assert_array_equal(pv.votes, [[1, -1, 0], [-1, 1, nan], [nan, nan, 1],
                                             [1, -1, 0]])
    np.testing.assert_array_equal(pv.groups, [0, 1, -1, 0])
    np.testing.assert_array_equal(pv.participants, [0, 1, 2, 3])
    assert pv.topic == "A test\nconversation"
    every = read_polis_votes(small, include_moderated=True)
    np.testing.assert_array_equal(every.statement_ids, [0, 1, 2, 3])
    np.testing.assert_array_equal(every.votes[:, 2], [1, nan, nan, nan])


def test_raw_votes_find_group_id_by_name(tmp_path):
    """An ``xid`` column before ``group-id`` (as in the austria-climate exports) is not a
    group."""
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "comments.csv").write_text("comment-id,moderated,comment-body\n0,1,a\n1,0,b\n")
    (folder / "participants-votes.csv").write_text(
        "participant,xid,group-id,n-votes,0,1\n4,,1,2,1,-1\n9,,,1,,0\n")
    pv = read_polis_votes(folder)
    np.testing.assert_array_equal(pv.groups, [1, -1])
    np.testing.assert_array_equal(pv.participants, [4, 9])
    np.testing.assert_array_equal(pv.votes, [[1, -1], [np.nan, 0]])


def test_header_text_in_errors_is_escaped(tmp_path):
    """Issue 22: a comments.csv header with a quoted newline: the missing-column error is one
    line (the header's newline escaped by the library)."""
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "comments.csv").write_text('"comment\nid",moderated,comment-body\n0,1,a\n')
    (folder / "participants-votes.csv").write_text("participant,group-id,n-votes,0\n4,1,1,1\n")
    with pytest.raises(ValueError) as e:
        read_polis(folder)
    assert "\n" not in str(e.value) and "comment\\x0aid" in str(e.value)


# ------------------------------------------------------------------ the real conversations
def _independent(folder: Path, min_votes: int):
    """Kept statement ids, kept participants' raw levels (agree 0, pass 1, disagree 2,
    unseen 3) and group ids, straight from the CSVs with the csv module."""
    with open(folder / "comments.csv", newline="", encoding="utf-8") as f:
        comments = {int(r["comment-id"]): r for r in csv.DictReader(f)}
    with open(folder / "participants-votes.csv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    col = {h: j for j, h in enumerate(header)}
    ids = sorted(int(h) for h in header if h.isdigit()
                 and int(h) in comments and comments[int(h)]["moderated"] != "-1")
    js = [col[str(c)] for c in ids]
    code = {"1": 0, "0": 1, "-1": 2, "": 3}
    raw = np.array([[code[r[j]] for j in js] for r in rows]).reshape(len(rows), len(ids))
    keep = (raw != 3).sum(axis=1) >= min_votes
    g = col["group-id"]
    gids = [r[g] for r, k in zip(rows, keep, strict=True) if k]
    top = max((int(x) for x in gids if x != ""), default=-1)
    groups = np.array([int(x) if x != "" else top + 1 for x in gids])
    return ids, raw[keep], groups, [comments[c]["comment-body"] for c in ids]


@pytest.mark.data
@pytest.mark.skipif(not REAL, reason="../shared/data/polis is absent")
@pytest.mark.parametrize("folder", REAL, ids=[p.name for p in REAL])
def test_real_conversation_matches_the_csvs(folder):
    ids, raw, groups, texts = _independent(folder, 7)
    for unseen in ("bottom", "pass"):
        P = read_polis(folder, min_votes=7, unseen=unseen)
        assert statement_ids(P) == tuple(ids)
        assert P.n_voters == raw.shape[0]
        assert P.labels == tuple(" ".join(t.split()) for t in texts)
        levels = raw if unseen == "bottom" else np.where(raw == 3, 1, raw)
        assert _bare(P) == Profile.from_levels(levels, groups=groups)
        # weighted agree counts survive densifying when every row has an agree vote; in
        # general check the share of participants holding each statement in their top class
        top = (P.weights[:, None] * (P.levels == 0)).sum(axis=0)
        want_top = (levels == levels.min(axis=1, keepdims=True)).mean(axis=0)
        np.testing.assert_allclose(top, want_top, atol=1e-9)
    assert P.meta["attribution"] == POLIS_ATTRIBUTION
    assert P.meta["conversation"] == folder.name
    # with no vote filter every participant row is a voter, and the opinion groups are the
    # ones Polis reports in summary.csv
    with open(folder / "summary.csv", newline="", encoding="utf-8") as f:
        summary = {r[0]: r[1] for r in csv.reader(f) if len(r) > 1}
    A = read_polis(folder, min_votes=0)
    assert A.n_voters == int(summary["voters"])
    # the raw vote matrix of the same reader: every participant, the same statements
    pv = read_polis_votes(folder)
    assert tuple(pv.statement_ids) == statement_ids(A) and pv.texts == A.labels
    _, raw0, _, _ = _independent(folder, 0)
    np.testing.assert_array_equal(pv.votes, np.where(raw0 == 3, np.nan, 1.0 - raw0))
    assert len([g for g in A.group_names if g != "no group"]) == int(summary["groups"])



# ---- issue 12, items 11 and 13: long fields, optional summary.csv, encodings, huge ids
def test_long_comment_over_the_csv_field_limit(tmp_path, small):
    long = "word " * 60_000                                   # 300 KB, above csv's 128 KB
    folder = _write(tmp_path / "long", [(0, 1, long), (1, 1, "short")],
                    [("0", {0: "1", 1: "-1"}), ("1", {0: "-1", 1: "1"})])
    P = read_polis(folder, min_votes=1)
    assert P.labels[0] == long.strip() and P.n_responses == 2
    import csv as _csv
    assert _csv.field_size_limit() == 131072                  # the global limit is restored


@pytest.mark.parametrize("summary, warns", [
    (None, False), (b"topic,\xff\xfe bad bytes\n", True),
    (b'topic,"' + b"x" * 300_000 + b'"\n', False),           # a long field is read
    (b'topic,"' + b"x" * (2 << 20) + b'"\n', True),          # over 1 MiB: ignored
    (b'topic,"unclosed\n', False), (b"\x00\x00", False)])
def test_optional_summary_never_makes_the_conversation_unreadable(summary, warns, small):
    (small / "summary.csv").unlink()
    if summary is not None:
        (small / "summary.csv").write_bytes(summary)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        P = read_polis(small, min_votes=1)
    assert [str(w.message).split(":")[0].endswith("summary.csv") for w in seen] == \
        ([True] if warns else [])
    assert P.n_responses == 3
    if warns:
        assert "topic" not in P.meta


def test_non_utf8_votes_name_the_file_and_line(small):
    path = small / "participants-votes.csv"
    path.write_bytes(path.read_bytes().replace(b"\n0,", b"\n0\xff,", 1))
    with pytest.raises(ValueError, match=r"participants-votes\.csv:2: not UTF-8"):
        read_polis(small, min_votes=1)


@pytest.mark.parametrize("col, value, msg", [
    ("group-id", "9" * 309, "group-id"), ("group-id", "1000000000", "group-id"),
    ("participant", "9" * 30, "participant"),
])
def test_huge_ids_raise_value_error(small, col, value, msg):
    path = small / "participants-votes.csv"
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    rows[1][rows[0].index(col)] = value
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(ValueError, match=rf"participants-votes\.csv: line 2, column '{msg}'"):
        read_polis(small, min_votes=1)
