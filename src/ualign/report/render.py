"""Rendering a :class:`~ualign.report.results.Report` as self-contained HTML (plots embedded as
base64 PNG), Markdown (plots as PNG files beside it) and JSON, and writing files atomically.

Every file is rendered in memory first; the set is then written into a hidden staging folder in
the target folder and only renamed into place once all of it is on disk, so an error or kill
never leaves a half-written report or a new file beside old ones. User text (labels, names,
paths) is escaped in HTML and in Markdown.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ualign.core._atomic import atomic_write_set
from ualign.core.displays import PAPER_DISPLAY
from ualign.report.plots import Plot, cjk_font, has_cjk, render_png
from ualign.report.results import CompareResult, DatasetSection, Report, jsonable

__all__ = ["CJK_NOTE", "cjk_note", "fmt", "render_html", "render_json", "render_markdown",
           "report_files", "write_files"]


def fmt(v, verdict: bool = False) -> str:
    """A cell: floats with 6 significant digits (tiny ones in scientific notation); booleans as
    PASS / FAIL in a verdict column, yes / no elsewhere."""
    if v is None:
        return "–"
    if isinstance(v, bool | np.bool_):
        if verdict:
            return "PASS" if v else "FAIL"
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.6g}"
    return str(v)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "plot"


def _plot_names(report: Report) -> dict[int, str]:
    """A file name for every claim plot (keyed by ``id(plot)``), unique within the report."""
    names: dict[int, str] = {}
    used: set[str] = set()

    def add(plot: Plot, prefix: str):
        base = f"{prefix}-{_slug(plot.title)}"
        name, i = base, 2
        while name in used:
            name, i = f"{base}-{i}", i + 1
        used.add(name)
        names[id(plot)] = f"plots/{name}.png"

    for c in report.claims:
        for p in c.plots:
            add(p, f"claim-{c.key}")
    return names


CJK_NOTE = ("This section holds Chinese, Japanese or Korean text, and the machine that wrote the "
            "report has no CJK font (ualign looks for Noto Sans CJK, Source Han Sans, "
            "WenQuanYi, ...): a browser there draws those characters as boxes, and so do the "
            "plots. Install one (for example apt-get install fonts-noto-cjk) to read them; a "
            "browser needs no rerun, the plots do.")


def cjk_note(d: DatasetSection) -> str | None:
    """:data:`CJK_NOTE` when section ``d`` holds CJK text (statements, groups) and no CJK font
    is installed here (:func:`ualign.report.plots.cjk_font`), else None."""
    texts = [d.name, d.description, *(line for lines in d.shows.values() for line in lines)]
    if d.groups:
        texts += [str(v) for row in d.groups["rows"] for v in row]
    if not any(has_cjk(t) for t in texts) or cjk_font() is not None:
        return None
    return CJK_NOTE


_GROUPS_TEXT = ("Within each user group (Polis opinion groups): the worst-case win rate of each "
                "method's k responses when only that group chooses.")
_DISPLAY_TEXT = ("What a person sees (THEORY.md §9): f(k) under multiset display (the paper's "
                 "rule: copies count) and distinct display (the k responses merged, a response "
                 "shown by both sides one copy per side), and the expected number of distinct "
                 "responses among the k shown, for the U-alignment equilibrium π*_k (k samples), "
                 "NLHF (k samples) and the certified best distribution over k-subsets of "
                 "distinct responses (kset-distinct, distinct display only).")


# ---------------------------------------------------------------------------------- JSON
def render_json(obj) -> str:
    """JSON text of a report / compare result (NaN and inf as null)."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else jsonable(obj)
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------ Markdown
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~]|^#)")


def _md(text) -> str:
    """User text (labels, data set names, paths) as literal Markdown: HTML special characters
    as entities (no ``<script>`` reaches a renderer), Markdown punctuation backslash-escaped (no
    ``[x](javascript:...)`` link, emphasis or heading), line breaks as spaces."""
    s = html.escape(str(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\r", " ").replace("\n", " ")


def _md_code(text) -> str:
    """``text`` as an inline code span, fenced by more backticks than it contains in a row."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    run = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _md_table(columns, rows, user: tuple[int, ...] = ()) -> str:
    """A Markdown table; the columns at positions ``user`` hold user text (escaped with
    :func:`_md`), the others claim and method text (ours: only the table syntax is escaped)."""
    def cell(v, col="", i=-1):
        if i in user:
            return _md(fmt(v))
        return fmt(v, col == "verdict").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v, c, i) for i, (v, c) in
                                enumerate(zip(r, columns, strict=False))) + " |"
              for r in rows]
    return "\n".join(lines)


def fk_table(cmp: CompareResult) -> tuple[list[str], list[list]]:
    """The f(k) table: one row per method (plus the k/(k+1) row), one column per k; when the
    result holds both displays, one row per method and display (``"nlhf (distinct)"``) and,
    per method, the expected number of distinct responses shown."""
    columns = ["method", *(f"k={k}" for k in cmp.ks)]
    if cmp.displays == (PAPER_DISPLAY,):
        rows = [[m, *(cmp.value(m, k) for k in cmp.ks)] for m in cmp.methods]
    else:
        rows = []
        for m in cmp.methods:
            for d in cmp.displays:
                if any(e.method == m and e.display == d for e in cmp.entries):
                    rows.append([f"{m} ({d})", *(cmp.value(m, k, d) for k in cmp.ks)])
            shown = {e.k: e.distinct_shown for e in cmp.entries if e.method == m}
            if shown:
                rows.append([f"{m}: distinct responses shown",
                             *(shown.get(k) for k in cmp.ks)])
    rows.append(["k/(k+1)", *(k / (k + 1) for k in cmp.ks)])
    return columns, rows


def render_markdown(report: Report, plot_names: Mapping[int, str] | None = None) -> str:
    plot_names = plot_names if plot_names is not None else _plot_names(report)
    out = [f"# {_md(report.title)}", "",
           f"ualign {report.version}, {report.created_utc}, {report.machine}; "
           f"{'quick run' if report.quick else 'full run'}, {report.seconds:.1f} s.", "",
           f"**Overall: {'PASS' if report.passed else 'FAIL'}** "
           f"({sum(c.passed for c in report.claims)}/{len(report.claims)} claims pass).", ""]
    out += [_md_table(["claim", "what", "measured", "bound", "tolerance", "verdict"],
                      [[c.key, c.title, c.measured, c.bound, c.tolerance, c.verdict]
                       for c in report.claims]), ""]
    for c in report.claims:
        out += [f"## ({c.key}) {c.title} — {c.verdict}", "", f"*Claim* ({c.reference}): "
                f"{c.statement}", "", f"*Instance*: {c.instance}", "",
                f"*Measured*: {c.measured}. *Bound*: {c.bound} (tolerance {fmt(c.tolerance)}).",
                ""]
        if c.cases:
            out += [_md_table(c.columns, c.cases), ""]
        for p in c.plots:
            out += [f"![{_md(p.title)}]({plot_names[id(p)]})", ""]
        if c.notes:
            out += [c.notes, ""]
        out += [f"({c.seconds:.1f} s)", ""]
    if report.datasets:
        out += ["## Real preference data", ""]
        for d in report.datasets:
            out += _md_dataset(d, plot_names)
    for note in report.notes:
        out += [f"> {note}", ""]
    return "\n".join(out)


def _md_dataset(d: DatasetSection, plot_names) -> list[str]:
    cmp = d.compare
    out = [f"### {_md(d.name)}", "", f"{_md(d.description)} Source: {_md_code(d.source)}. "
           f"{cmp.n_users} distinct orders over {cmp.n_responses} responses.", ""]
    cols, rows = fk_table(cmp)
    out += ["f(k) = worst-case win rate of the k responses each method shows:", "",
            _md_table(cols, rows), ""]
    name = plot_names.get(id(cmp))
    if name:
        out += [f"![f(k) on {_md(d.name)}]({name})", ""]
    if d.display is not None:
        out += [_DISPLAY_TEXT, "", _md_table(*fk_table(d.display)), ""]
        name = plot_names.get(id(d.display))
        if name:
            out += [f"![f(k) under both displays on {_md(d.name)}]({name})", ""]
        out += [f"- {_md(note)}" for note in d.display.notes] + ([""] if d.display.notes else [])
    if d.groups:
        out += [_GROUPS_TEXT, "", _md_table(d.groups["columns"], d.groups["rows"], user=(0,)), ""]
    note = cjk_note(d)
    if note:
        out += [f"> **Note**: {note}", ""]
    for m, lines in d.shows.items():
        out += [f"**{_md(m)}** shows:", ""] + [f"- {_md(line)}" for line in lines] + [""]
    if d.attribution:
        out += [f"*{_md(d.attribution)}*", ""]
    return out


# ---------------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",
"Noto Sans CJK TC","PingFang SC","Microsoft YaHei","WenQuanYi Zen Hei",sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right;vertical-align:top}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.PASS{color:#0a7a28;font-weight:bold}.FAIL{color:#b00020;font-weight:bold}
.claim{border-top:2px solid #ddd;margin-top:1.6em;padding-top:.4em}
.note{color:#555;font-size:.9em}.attr{font-style:italic;color:#444}
.warn{background:#fff4e0;border-left:4px solid #e08a00;padding:.4em .7em}
img{max-width:100%;border:1px solid #eee}
details{margin:.4em 0}
"""


def _h(text) -> str:
    return html.escape(str(text))


def _html_cell(v, col: str = "") -> str:
    s = fmt(v, col == "verdict")
    cls = ""
    if s in ("PASS", "FAIL"):
        cls = s
    elif not isinstance(v, int | float) or isinstance(v, bool):
        cls = "l"
    return f'<td class="{cls}">{_h(s)}</td>' if cls else f"<td>{_h(s)}</td>"


def _html_table(columns, rows) -> str:
    head = "".join(f'<th class="l">{_h(c)}</th>' if i == 0 else f"<th>{_h(c)}</th>"
                   for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(_html_cell(v, c) for v, c in zip(r, columns, strict=False))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img alt="{_h(alt)}" src="data:image/png;base64,{data}"></p>'


def _html_head(report: Report) -> list[str]:
    """The page head, title, run line, overall verdict and the table of claims."""
    return [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_h(report.title)}"
            f"</title><style>{_CSS}</style></head><body>",
            f"<h1>{_h(report.title)}</h1>",
            f"<p class='note'>ualign {_h(report.version)}, {_h(report.created_utc)}, "
            f"{_h(report.machine)}; {'quick run' if report.quick else 'full run'}, "
            f"{report.seconds:.1f} s.</p>",
            f"<p>Overall: <span class='{'PASS' if report.passed else 'FAIL'}'>"
            f"{'PASS' if report.passed else 'FAIL'}</span> "
            f"({sum(c.passed for c in report.claims)}/{len(report.claims)} claims pass).</p>",
            _html_table(
                ["claim", "what", "measured", "bound", "tolerance", "verdict"],
                [[f"({c.key})", c.title, c.measured, c.bound, c.tolerance, c.verdict]
                 for c in report.claims])]


def _html_claim(c, pngs: Mapping[int, bytes]) -> list[str]:
    """The section of one claim: statement, cases (folded beyond 12), plots and notes."""
    parts = [f"<div class='claim' id='claim-{_h(c.key)}'>"
             f"<h2>({_h(c.key)}) {_h(c.title)} — <span class='{c.verdict}'>{c.verdict}"
             f"</span></h2>"
             f"<p><b>Claim</b> ({_h(c.reference)}): {_h(c.statement)}</p>"
             f"<p><b>Instance</b>: {_h(c.instance)}</p>"
             f"<p><b>Measured</b>: {_h(c.measured)}. <b>Bound</b>: {_h(c.bound)} "
             f"(tolerance {_h(fmt(c.tolerance))}).</p>"]
    if c.cases:
        table = _html_table(c.columns, c.cases)
        if len(c.cases) > 12:
            table = f"<details><summary>{len(c.cases)} cases</summary>{table}</details>"
        parts.append(table)
    for p in c.plots:
        parts.append(_img(pngs[id(p)], p.title))
    if c.notes:
        parts.append(f"<p class='note'>{_h(c.notes)}</p>")
    parts.append(f"<p class='note'>({c.seconds:.1f} s)</p></div>")
    return parts


def _html_display(d, pngs: Mapping[int, bytes]) -> list[str]:
    """f(k) of a data set under both displays, its plot and its notes (none without one)."""
    if d.display is None:
        return []
    parts = [f"<p>{_h(_DISPLAY_TEXT)}</p>", _html_table(*fk_table(d.display))]
    if id(d.display) in pngs:
        parts.append(_img(pngs[id(d.display)], f"f(k), both displays, {d.name}"))
    parts.extend(f"<p class='note'>{_h(note)}</p>" for note in d.display.notes)
    return parts


def _html_dataset(d, pngs: Mapping[int, bytes]) -> list[str]:
    """The section of one real data set: f(k) table and plot, displays, groups, what each
    method shows, attribution."""
    cmp = d.compare
    parts = [f"<h3>{_h(d.name)}</h3><p>{_h(d.description)} Source: "
             f"<code>{_h(d.source)}</code>. {cmp.n_users} distinct orders over "
             f"{cmp.n_responses} responses.</p>"
             "<p>f(k) = worst-case win rate of the k responses each method shows:"
             "</p>"]
    cols, rows = fk_table(cmp)
    parts.append(_html_table(cols, rows))
    if id(cmp) in pngs:
        parts.append(_img(pngs[id(cmp)], f"f(k) on {d.name}"))
    parts.extend(_html_display(d, pngs))
    if d.groups:
        parts.append(f"<p>{_h(_GROUPS_TEXT)}</p>")
        parts.append(_html_table(d.groups["columns"], d.groups["rows"]))
    note = cjk_note(d)
    if note:
        parts.append(f"<p class='warn'><b>Note</b>: {_h(note)}</p>")
    for m, lines in d.shows.items():
        items = "".join(f"<li>{_h(line)}</li>" for line in lines)
        parts.append(f"<p><b>{_h(m)}</b> shows:</p><ul>{items}</ul>")
    if d.attribution:
        parts.append(f"<p class='attr'>{_h(d.attribution)}</p>")
    return parts


def render_html(report: Report, pngs: Mapping[int, bytes]) -> str:
    """One self-contained page; ``pngs`` maps ``id(plot)`` to its PNG bytes."""
    parts = _html_head(report)
    for c in report.claims:
        parts.extend(_html_claim(c, pngs))
    if report.datasets:
        parts.append("<div class='claim'><h2>Real preference data</h2>")
        for d in report.datasets:
            parts.extend(_html_dataset(d, pngs))
        parts.append("</div>")
    for note in report.notes:
        parts.append(f"<p class='note'>{_h(note)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ------------------------------------------------------------------------------- writing
def report_files(report: Report, stem: str = "report") -> dict[str, bytes]:
    """Every file of the report, rendered in memory: ``{relative path: bytes}`` (the HTML,
    Markdown and JSON, and each plot as a PNG under ``plots/`` for the Markdown)."""
    names = _plot_names(report)
    pngs: dict[int, bytes] = {}
    files: dict[str, bytes] = {}
    for c in report.claims:
        for p in c.plots:
            pngs[id(p)] = render_png(p)
            files[names[id(p)]] = pngs[id(p)]
    for d in report.datasets:
        png = render_png(d.compare.fk_plot(f"f(k) on {d.name}"))
        name = f"plots/data-{_slug(d.name)}-fk.png"
        pngs[id(d.compare)] = png
        names[id(d.compare)] = name
        files[name] = png
        if d.display is not None:
            png = render_png(d.display.fk_plot(f"f(k), multiset and distinct display: {d.name}"))
            name = f"plots/data-{_slug(d.name)}-display.png"
            pngs[id(d.display)] = png
            names[id(d.display)] = name
            files[name] = png
    files[f"{stem}.html"] = render_html(report, pngs).encode()
    files[f"{stem}.md"] = render_markdown(report, names).encode()
    files[f"{stem}.json"] = render_json(report).encode()
    return files


def write_files(files: Mapping[str, bytes], out_dir: str | os.PathLike) -> list[Path]:
    """Publish ``{relative path: bytes}`` under ``out_dir`` as one set
    (:func:`ualign.core._atomic.atomic_write_set`): everything is written into a hidden
    staging folder first and renamed into place only once all of it is on disk, so a failure
    or kill while rendering or writing leaves the previous report (HTML, Markdown, JSON, plots)
    intact; only a kill inside the final renames (about 0.1 ms) can mix new and old files."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out must be a folder, got the file {out}")
    return atomic_write_set(files, out)
