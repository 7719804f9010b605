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
    """A series drawn over an earlier one it coincides with is dashed, with a hollow marker a
    size larger (the earlier one shows in its gaps and rings), and its legend entry says so;
    each reference line has its own dash pattern."""
    from matplotlib.figure import Figure

    from ualign.report.plots import Plot, Series, _draw, overlaps

    same = ([1, 2, 3], [0.5, 0.6, 0.7])
    series = (Series("rlhf", *same), Series("nlhf", *same),
              Series("k/(k+1)", *same, "dashed"), Series("1/2", [1, 2, 3], [0.5] * 3, "dashed"))
    assert overlaps(series) == {1: (0, "identical"), 2: (0, "identical")}
    handles, names = _draw(Figure().add_subplot(1, 1, 1), Plot("t", "k", "f", series))
    assert names == ["rlhf", "nlhf (identical to rlhf)", "k/(k+1) (identical to rlhf)", "1/2"]
    a, b, r1, r2 = handles
    assert a.get_linestyle() == "-" and b.get_linestyle() != "-"
    assert b.get_markerfacecolor() == "none" and b.get_markersize() > a.get_markersize()
    assert a.get_marker() != b.get_marker()
    assert r1._dash_pattern != r2._dash_pattern


def test_overlaps_need_the_lines_between_to_agree():
    """Two lines coincide where one's points are consecutive points of the other (kset, drawn
    at k = 1, 2 only, under kset-distinct); a reference drawn at its two ends only does not lie
    on a curve that agrees with it at those ends; near (within 1 % of the y range) is said as
    such."""
    from ualign.report.plots import Series, legend_name, overlaps

    wide = Series("kset-distinct", [1, 2, 3, 4], [0.0, 1.0, 1.58, 2.0])
    short = Series("kset", [1, 2], [0.0, 1.0])
    assert overlaps((short, wide)) == {1: (0, "identical where drawn")}
    assert legend_name((short, wide), 1, overlaps((short, wide))) == \
        "kset-distinct (identical to kset where both are drawn)"
    ends = Series("k/(k+1) = 0.5", [1, 4], [0.0, 2.0], "dashed")
    assert overlaps((wide, ends)) == {}
    near = Series("b", [1, 2, 3, 4], [0.0, 1.0, 1.58, 2.01])
    assert overlaps((wide, near)) == {1: (0, "close")}
    assert overlaps((wide, Series("c", [1, 2, 3, 4], [0.0, 1.0, 1.7, 2.0]))) == {}


def test_plots_are_wide_with_legends_below_when_long():
    from ualign.report.plots import Plot, Series, legend_below, render_png

    def plot(n, name="s"):
        return Plot("t", "k", "f", tuple(Series(f"{name}{i}", [1, 2], [0.1, 0.2 + i])
                                         for i in range(n)))

    assert not legend_below([s.name for s in plot(4).series])
    assert legend_below([s.name for s in plot(6).series])          # claim (iv) has 6
    assert legend_below(["x" * 60])                                  # one long entry
    sizes = [(int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"))
             for png in (render_png(plot(3)), render_png(plot(12, "a long series name ")))]
    assert all(w >= 900 for w, _ in sizes)
    assert sizes[1][1] > sizes[0][1]    # the legend below adds its rows to the figure


def test_cjk_text_gets_a_note_when_no_cjk_font_is_installed(monkeypatch):
    """A section holding Chinese statements says, on the page, that this machine has no CJK
    font (its characters would be boxes) and how to install one; with a CJK font, or without
    CJK text, no note. The test does not depend on the fonts installed here."""
    from ualign.report import render
    from ualign.report.plots import has_cjk

    assert has_cjk("我覺得 Uber") and not has_cjk("Uber, café, ½ ≥ π*ₖ")
    monkeypatch.setattr(render, "cjk_font", lambda: None)
    files = report_files(_report("我覺得 UberX 應該投保"))
    html, md = files["report.html"].decode(), files["report.md"].decode()
    assert "class='warn'" in html and "apt-get install fonts-noto-cjk" in html
    assert "apt-get install fonts-noto-cjk" in md
    assert "fonts-noto-cjk" not in report_files(_report("plain")).get("report.html").decode()
    monkeypatch.setattr(render, "cjk_font", lambda: "Noto Sans CJK TC")
    assert "fonts-noto-cjk" not in report_files(_report("我覺得"))["report.html"].decode()


def test_eval_select_and_personalise_plots_have_integer_axes():
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    from ualign.report.plots import _draw, integer_x
    from ualign.report.selection_plots import win_rate_plots

    rows = [SimpleNamespace(method=m, k=k, robust=0.1 * k, display=d, selected_for="multiset")
            for m in ("ualign", "nlhf") for k in (1, 2, 3) for d in ("multiset", "distinct")]
    plots = win_rate_plots(rows)
    assert [p.title for p in plots] == ["multiset display", "distinct display"]
    for plot in plots:
        assert integer_x(plot)
        ax = Figure().add_subplot(1, 1, 1)
        _draw(ax, plot)
        assert all(float(t).is_integer() for t in ax.get_xticks()), ax.get_xticks()


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
    assert [s.name.split(",")[0] for s in bounds] == ["optimistic / extragradient bound",
                                                      "MMD bound"]
    assert bounds[0].y[0] == pytest.approx(0.2) and bounds[0].y[-1] == pytest.approx(0.02)
    assert bounds[1].y == (0.004, 0.004)


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
