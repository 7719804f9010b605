"""Issue 12, report items: user text escaped in report.md (item 18), a report set published
together (item 18), and the presentation fixes of item 26."""

from __future__ import annotations

import os
import time

import pytest

from ualign.report import report_files, write_files
from ualign.report.results import CompareEntry, CompareResult, DatasetSection, Report

EVIL = "<script>alert(1)</script> [x](javascript:alert(1)) *b* `c`"


def _report(label: str = EVIL) -> Report:
    cmp = CompareResult(profile=label, n_users=2, n_responses=3, ks=(1,),
                        methods=("nlhf",),
                        entries=(CompareEntry("nlhf", 1, 0.5, 0.5, 0.0, 1, 0, 0.0),),
                        policies={"nlhf": {0: [1.0, 0, 0]}})
    ds = DatasetSection(name=label, source=f"a`b/{label}", kind="polis", description=label,
                        compare=cmp, shows={"nlhf": [f"100% · {label}"]},
                        attribution=label,
                        groups={"k": 1, "columns": ["group", "share", "nlhf (k=1)"],
                                "rows": [[label, 1.0, 0.5]]})
    return Report(title="t", created_utc="now", version="0", machine="m", quick=True,
                  claims=(), datasets=(ds,), notes=())


def test_markdown_escapes_user_text():  # item 18
    files = report_files(_report())
    md = files["report.md"].decode()
    md = md.replace(f"`` a`b/{EVIL} ``", "")  # literal inside a code span (CommonMark)
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "[x](javascript:" not in md and "\\[x\\](javascript:" in md
    assert "*b*" not in md.replace("\\*b\\*", "")
    html = files["report.html"].decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "href=" not in html


def test_markdown_code_span_holds_backticks():  # item 18
    md = report_files(_report())["report.md"].decode()
    assert "`` a`b/" in md  # the source path's backtick cannot close its code span


def test_failed_set_write_leaves_previous_set_intact(tmp_path):  # item 18
    out = tmp_path / "rep"
    old = {"report.html": b"old html", "report.md": b"old md", "plots/p.png": b"old png"}
    write_files(old, out)
    new = {"report.html": b"new html", "report.md": object(), "plots/p.png": b"new png"}
    with pytest.raises(TypeError):  # fails after report.html of the new set is written
        write_files(new, out)
    assert {rel: (out / rel).read_bytes() for rel in old} == old
    assert [p.name for p in out.rglob("*") if p.name.startswith(".")] == []


def test_failed_rename_leaves_no_staging_folder(tmp_path, monkeypatch):  # item 18
    out = tmp_path / "rep"
    write_files({"a": b"old"}, out)

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        write_files({"a": b"new"}, out)
    monkeypatch.undo()
    assert (out / "a").read_bytes() == b"old"
    assert [p.name for p in out.iterdir()] == ["a"]


def test_stale_staging_folder_of_a_kill_is_swept(tmp_path):  # item 18
    out = tmp_path / "rep"
    stale = out / ".ualign-set.killed"
    (stale / "plots").mkdir(parents=True)
    (stale / "report.html").write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    live = out / ".ualign-set.live"
    live.mkdir()
    write_files({"report.html": b"x"}, out)
    assert not stale.exists() and live.exists()
