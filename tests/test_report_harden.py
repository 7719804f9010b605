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


# ------------------------------------------------------------------------- item 26: plots
def test_plot_fonts_name_a_fallback_list():
    from ualign.report.plots import FONT_FALLBACK, font_families

    assert FONT_FALLBACK[0] == "DejaVu Sans"
    assert any("CJK" in f or "WenQuanYi" in f for f in FONT_FALLBACK)
    fams = font_families()
    assert fams and set(fams) <= set(FONT_FALLBACK)
    html = report_files(_report())["report.html"].decode()
    assert "Noto Sans CJK SC" in html and "WenQuanYi Zen Hei" in html  # CSS fallback


def test_identical_curves_and_reference_lines_stay_apart():
    from matplotlib.figure import Figure

    from ualign.report.plots import Series, _draw_series

    ax = Figure().add_subplot(1, 1, 1)
    same = ([1, 2, 3], [0.5, 0.6, 0.7])
    _draw_series(ax, Series("rlhf", *same), *same, 0, 0, 2)
    _draw_series(ax, Series("nlhf", *same), *same, 1, 0, 2)
    _draw_series(ax, Series("k/(k+1)", *same, "dashed"), *same, 2, 0, 2)
    _draw_series(ax, Series("1/2", *same, "dashed"), *same, 2, 1, 2)
    a, b, r1, r2 = ax.get_lines()
    assert a.get_linewidth() > b.get_linewidth() and a.get_marker() != b.get_marker()
    assert a.get_markersize() > b.get_markersize()
    assert r1.get_linestyle() != r2.get_linestyle() or r1._dash_pattern != r2._dash_pattern


def test_integer_axes_get_integer_ticks():
    from ualign.report.plots import Plot, Series, integer_x

    assert integer_x(Plot("t", "k", "f", (Series("a", [1, 2, 3], [0.1, 0.2, 0.3]),)))
    assert not integer_x(Plot("t", "x", "f", (Series("a", [0.5, 1.0], [0.1, 0.2]),)))


# ---------------------------------------------------------- item 26: compare and eval-select
def test_compare_plot_title_names_the_profile(tmp_path):
    from ualign.cli.compare import profile_name

    f = tmp_path / "sub" / "brexit-consensus.soc"
    f.parent.mkdir()
    f.write_text("")
    assert profile_name(f) == "brexit-consensus"
    assert profile_name("mallows:n=5,u=10") == "mallows:n=5,u=10"


def test_eval_select_says_why_robust_vs_humans_is_zero():
    from ualign.cli.eval_select import zero_human_notes
    from ualign.llm.experiment import SummaryRow

    rows = [SummaryRow("multiset", "multiset", "rlhf", 1, 1, robust_humans=0.0),
            SummaryRow("multiset", "distinct", "rlhf", 1, 1, robust_humans=0.2),
            SummaryRow("multiset", "multiset", "ualign", 2, 1, robust_humans=0.3)]
    (note,) = zero_human_notes(rows)
    assert "rlhf k=1" in note and "ualign" not in note and "every held-out user" in note
    # no human statements: no column
    assert zero_human_notes([SummaryRow("multiset", "multiset", "m", 1, 1)]) == []


def test_shows_lists_say_when_cut():
    import numpy as np

    from ualign.core import Profile
    from ualign.report.realdata import describe_shows

    levels = np.argsort(np.random.default_rng(0).random((8, 7)), axis=1)
    prof = Profile.from_levels(levels)
    cmp = CompareResult(profile="p", n_users=8, n_responses=7, ks=(1,), methods=("nlhf",),
                        entries=(), policies={"nlhf": {0: [1 / 7] * 7}})
    shows = describe_shows(prof, cmp, 1)
    assert list(shows) == ["nlhf (top 5 of 7)"] and len(shows["nlhf (top 5 of 7)"]) == 5
    cmp = CompareResult(profile="p", n_users=8, n_responses=7, ks=(1,), methods=("nlhf",),
                        entries=(), policies={"nlhf": {0: [0.5, 0.5, 0, 0, 0, 0, 0]}})
    assert list(describe_shows(prof, cmp, 1)) == ["nlhf"]


def test_bound_only_points_get_hollow_markers():
    from ualign.report.plots import render_png

    cmp = CompareResult(profile="p", n_users=2, n_responses=3, ks=(1, 2), methods=("kset",),
                        entries=(CompareEntry("kset", 1, 0.5, 0.5, 0.0, 1, 0, 0.0, True),
                                 CompareEntry("kset", 2, 0.6, 2 / 3, 0.0, 1, 0, 0.0, False)),
                        policies={})
    plot = cmp.fk_plot()
    (hollow,) = [s for s in plot.series if s.style == "hollow"]
    assert hollow.x == (2.0,) and "lower bound" in hollow.name
    assert render_png(plot).startswith(b"\x89PNG")


def test_last_iterate_plot_draws_the_bounds_its_verdict_uses():
    from ualign.report import claims as C

    row = C.LastIterateRow
    rows = (row(2, "optimistic", 100, 0.2, 0.001, 0.02, None, None, True, ((0, 0.2), (99, 1e-3))),
            row(2, "mmd", 50, 0.2, 0.003, 0.004, 1e-7, 1e-6, True, ((0, 0.2), (49, 3e-3))))
    cfg = C.LastIterateConfig(None, "x", (2,), 100)
    (plot,) = C.LAST_ITERATE.plots(rows, cfg)
    bounds = [s for s in plot.series if s.style == "dashed"]
    assert [s.name.split(" (")[-1] for s in bounds] == ["optimistic, extragradient bound)",
                                                        "MMD bound)"]
    assert bounds[0].y[0] == pytest.approx(0.2) and bounds[0].y[-1] == pytest.approx(0.02)
    assert bounds[1].y == (0.004, 0.004)


def test_long_legends_go_beside_the_axes():
    from ualign.report.plots import Plot, Series, legend_outside

    def plot(n):
        return Plot("t", "k", "f", tuple(Series(f"s{i}", [1, 2], [0.1, 0.2]) for i in range(n)))

    assert not legend_outside(plot(4)) and legend_outside(plot(6))  # claim (iv) has 6


def test_set_renames_free_nothing_and_leave_no_staging(tmp_path, monkeypatch):  # item 18
    """Each file a set replaces is hard-linked into the staging folder before the renames, so
    a rename frees no blocks (that made the window in which a kill mixes sets about 1 ms);
    afterwards the staging folder, and with it the old data, is gone."""
    from ualign.core import _atomic

    _atomic.atomic_write_set({"a.json": b"old", "b.png": b"old"}, tmp_path)
    links = []
    real = os.replace

    def spy(src, dst):
        links.append(os.stat(dst).st_nlink if os.path.exists(dst) else 0)
        real(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", spy)
    _atomic.atomic_write_set({"a.json": b"new", "b.png": b"new", "c.png": b"new"}, tmp_path)
    assert links == [2, 2, 0]           # a.json, b.png: still linked from the staging folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.png", "c.png"]
    assert all(p.read_bytes() == b"new" and p.stat().st_nlink == 1 for p in tmp_path.iterdir())
