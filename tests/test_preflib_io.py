"""PrefLib files written and read safely (issue 12, items 15 and 13): labels and metadata are
escaped so that no text can add lines to the file, the escaping is reversed on reading, a failed
write leaves nothing behind, and malformed or truncated files raise a ValueError that names the
file and the line."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ualign
from ualign import Profile

NASTY = ["a\n999: 1,2,3", "b\r\nc", "line\u2028sep", "nel\x85x", "para\u2029x", "ff\x0cvt\x0b",
         "back\\slash", "\\n is not a newline", "tail\\", "\\\\n", "\\\n", "x\\u2028y",
         "[/bold]", "\x1b]8;;http://evil\x07ESC", "  padded  ", "fs\x1cgs\x1drs\x1e"]


def _profile(labels):
    n = len(labels)
    rng = np.random.default_rng(0)
    levels = np.array([rng.permutation(n) for _ in range(4)])
    return Profile.from_levels(levels, weights=[1, 1, 1, 1], labels=labels, n_voters=4)


@pytest.mark.parametrize("label", NASTY, ids=repr)
def test_labels_round_trip(label, tmp_path):
    P = _profile([label, "plain", "x"])
    path = ualign.write_preflib(P, tmp_path / "a.soc")
    text = path.read_bytes().decode("utf-8")
    assert len(text.split("\n")) == len(text.splitlines()) + 1   # no extra line breaks
    Q = ualign.read_preflib(path)
    assert Q.labels == P.labels and Q.n_voters == 4
    np.testing.assert_array_equal(Q.levels, P.levels)
    np.testing.assert_array_equal(Q.weights, P.weights)


def test_meta_round_trips_and_all_labels_at_once(tmp_path):
    P = _profile(NASTY)
    P = Profile.from_levels(P.levels, weights=P.weights, labels=P.labels, n_voters=4,
                            meta={"TITLE": "t\n1: 1", "a:b\nc": "v\u2028w", "PUBLICATION DATE":
                                  "2026"})
    path = ualign.write_preflib(P, tmp_path / "a.soc")
    Q = ualign.read_preflib(path)
    assert Q.labels == P.labels
    assert {k: v for k, v in Q.meta.items() if k in P.meta} == P.meta
    assert ualign.write_preflib(Q, tmp_path / "b.soc").read_bytes() == path.read_bytes()


def test_failed_write_leaves_no_tmp(tmp_path, monkeypatch):
    P = _profile(["a", "b", "c"])
    target = tmp_path / "a.soc"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("replace failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="replace failed"):
        ualign.write_preflib(P, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.soc"]
    assert target.read_text() == "old"


HEAD = "# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 3\n"


@pytest.mark.parametrize("text, msg", [
    (HEAD + "# NUMBER VOTERS: 5\n# NUMBER UNIQUE ORDERS: 2\n2: 1,2,3\n1: 3,2,1\n",
     r"a\.soc: NUMBER VOTERS says 5, the data lines count 3"),
    (HEAD + "# NUMBER VOTERS: 3\n# NUMBER UNIQUE ORDERS: 3\n2: 1,2,3\n1: 3,2,1\n",
     r"a\.soc: NUMBER UNIQUE ORDERS says 3, the file has 2 data lines"),
    (HEAD + "1" * 309 + ": 1,2,3\n", r"a\.soc:3: count must be a positive integer at most"),
    (HEAD + "# ALTERNATIVE NAME 1: x\n# ALTERNATIVE NAME 1: y\n1: 1,2,3\n",
     r"a\.soc:4: ALTERNATIVE NAME 1 is given twice"),
    (HEAD + "# ALTERNATIVE NAME 4: x\n1: 1,2,3\n",
     r"a\.soc:3: ALTERNATIVE NAME 4 is outside 1\.\.3"),
    (HEAD + "1: 1,2,3\nx: 1,2,3\n", r"a\.soc:4: count must be"),
    ("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: x\n1: 1,2,3\n",
     r"a\.soc:2: NUMBER ALTERNATIVES must be a positive integer"),
])
def test_malformed_files_name_file_and_line(text, msg, tmp_path):
    f = tmp_path / "a.soc"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=msg):
        ualign.read_preflib(f)


def test_utf8_error_names_file_and_line(tmp_path):
    f = tmp_path / "a.soc"
    f.write_bytes((HEAD + "# ALTERNATIVE NAME 1: ok\n# ALTERNATIVE NAME 2: \xff\n").encode(
        "latin-1") + b"1: 1,2,3\n")
    with pytest.raises(ValueError, match=r"a\.soc:4: not UTF-8"):
        ualign.read_preflib(f)


def test_bom_and_spaces_before_braces_are_accepted(tmp_path):
    f = tmp_path / "a.toc"
    f.write_text("\ufeff# DATA TYPE: toc\n# NUMBER ALTERNATIVES: 3\n3, {1, 2}\n",
                 encoding="utf-8")
    with pytest.raises(ValueError, match="count: order"):
        ualign.read_preflib(f)
    f.write_text("\ufeff# DATA TYPE: toc\n# NUMBER ALTERNATIVES: 3\n2: 3, {1, 2}\n"
                 "1: { 1 , 2 },3\n", encoding="utf-8")
    P = ualign.read_preflib(f)
    assert P.levels.tolist() == [[1, 1, 0], [0, 0, 1]] and P.n_voters == 3


def test_stale_tmp_of_a_killed_write_is_swept(tmp_path):
    import time

    P = _profile(["a", "b", "c"])
    stale = tmp_path / ".a.soc.kill1.tmp"
    fresh = tmp_path / ".a.soc.live2.tmp"
    for p in (stale, fresh):
        p.write_text("#")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    ualign.write_preflib(P, tmp_path / "a.soc")
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "a.soc"]


def test_sixty_byte_file_naming_alternative_one_billion(tmp_path):
    f = tmp_path / "a.soi"
    f.write_text("# ALTERNATIVE NAME 1000000000: x\n1: 1000000000\n")
    with pytest.raises(ValueError, match=r"a\.soi:2: without NUMBER ALTERNATIVES, the "
                                         r"ALTERNATIVE NAME lines must number 1\.\.n"):
        ualign.read_preflib(f)


@pytest.mark.parametrize("bad, match", [("a" * 5000, "too long"), ("d/" + "b" * 300, "too long"),
                                        ("a\0b.soc", "NUL byte")],
                         ids=["long-name", "long-component", "nul"])
def test_read_preflib_path_that_cannot_be_a_file_is_a_value_error(bad, match):
    """Found by benchmarks/fuzz_api.py (seed 0, case 7697): a name too long for the file system
    raised a bare OSError from ``Path.is_file``."""
    with pytest.raises(ValueError, match=f"path .*{match}"):
        ualign.read_preflib(bad)
    with pytest.raises(ValueError, match=f"path .*{match}"):
        ualign.write_preflib(Profile.from_levels([[0, 1]]), bad)


@pytest.mark.parametrize("folder", [".", "sub"])
def test_write_preflib_onto_a_folder_is_a_value_error(folder, tmp_path, monkeypatch):
    """Found by benchmarks/fuzz_api.py (seed 1, case 15316): writing to ``.`` raised
    ``OSError: [Errno 16] Device or resource busy`` from the final rename."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        ualign.write_preflib(Profile.from_levels([[0, 1]]), folder, n_voters=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
    assert not list((tmp_path / "sub").iterdir())


def test_written_files_get_the_umask_mode(tmp_path):
    """Found by a re-check: files written through mkstemp were 0o600 (readable by their owner
    only), unlike what a plain open() makes."""
    old = os.umask(0o022)
    try:
        path = ualign.write_preflib(Profile.from_levels([[0, 1]]), tmp_path / "a.soc",
                                    n_voters=1)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_backslashes_in_a_file_from_elsewhere_are_literal(tmp_path):
    """Found by a re-check of item 15: ``C:\\new`` in a file ualign did not write was read
    with a line feed. Only files marked ``# ESCAPES: ualign`` are unescaped."""
    path = tmp_path / "x.soc"
    path.write_text("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 2\n# ALTERNATIVE NAME 1: C:\\new\n"
                    "# ALTERNATIVE NAME 2: a\\x41\n# NOTE: tab\\t\n1: 1,2\n")
    P = ualign.read_preflib(path)
    assert P.labels == ("C:\\new", "a\\x41") and P.meta["NOTE"] == "tab\\t"
    again = ualign.write_preflib(P, tmp_path / "y.soc")
    assert again.read_text().startswith("# ESCAPES: ualign\n")   # its backslashes needed one
    Q = ualign.read_preflib(again)
    assert Q.labels == P.labels and Q.meta["NOTE"] == "tab\\t"
    plain_file = ualign.write_preflib(Profile.from_levels([[0, 1]], labels=["a", "b"]),
                                      tmp_path / "z.soc", n_voters=1)
    assert "ESCAPES" not in plain_file.read_text()         # nothing needed escaping


def test_header_count_errors_say_which_way(tmp_path):
    path = tmp_path / "x.soc"
    path.write_text("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 2\n# NUMBER VOTERS: 1\n"
                    "1: 1,2\n1: 2,1\n")
    with pytest.raises(ValueError, match="more than the header says"):
        ualign.read_preflib(path)
    path.write_text("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 2\n# NUMBER VOTERS: 3\n1: 1,2\n")
    with pytest.raises(ValueError, match="truncated"):
        ualign.read_preflib(path)


def test_repeated_names_round_trip(tmp_path):
    """Issue 22: labels may repeat (restrict repeats a column); write_preflib writes them and
    read_preflib reads them back (it refused its own file before)."""
    P = ualign.Profile.from_rankings([[0, 1, 2], [2, 0, 1]], labels=["x", "y", "z"],
                                     n_voters=2)
    Q = P.restrict([0, 1, 0])
    assert Q.labels == ("x", "y", "x")
    f = ualign.write_preflib(Q, tmp_path / "r.toc")
    back = ualign.read_preflib(f)
    assert back.labels == ("x", "y", "x") and np.array_equal(back.levels, Q.levels)
    assert ualign.write_preflib(back, tmp_path / "s.toc").read_text() == f.read_text()
