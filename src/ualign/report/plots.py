"""Line plots for the report, rendered to PNG bytes with matplotlib's Agg backend.

A plot is plain data (:class:`Plot`, a list of :class:`Series`), so a report can keep it in JSON
and draw it later; :func:`render_png` draws it without touching any global pyplot state.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
import textwrap
from collections.abc import Sequence

from ualign._text import plain

__all__ = ["DPI", "FONT_FALLBACK", "HEIGHT", "WIDTH", "Plot", "Series", "cjk_font",
           "font_families", "has_cjk", "legend_below", "literal", "overlaps", "png_bytes",
           "render_panels", "render_png"]


STYLES = ("line", "dashed", "points", "marked", "hollow")


@dataclasses.dataclass(frozen=True)
class Series:
    """One line: ``y[i]`` at ``x[i]``; ``style`` is ``"line"``, ``"dashed"`` (a bound),
    ``"points"``, ``"marked"`` (dashed with markers: a second reading of a line, e.g. its
    distinct display) or ``"hollow"`` (hollow rings over points of a line that are only lower
    bounds, e.g. a greedy k-set solve); ``color`` a matplotlib colour (``None``: the next of the
    cycle; a ``"dashed"`` reference line is near-black unless given one)."""

    name: str
    x: Sequence[float]  # stored as a tuple of floats
    y: Sequence[float]
    style: str = "line"
    color: str | None = None

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: x and y must have the same length, got "
                             f"{len(self.x)} and {len(self.y)}")
        if self.style not in STYLES:
            raise ValueError(f"series {self.name!r}: style must be one of "
                             f"{', '.join(map(repr, STYLES))}, got {self.style!r}")
        object.__setattr__(self, "x", tuple(float(v) for v in self.x))
        object.__setattr__(self, "y", tuple(float(v) for v in self.y))


@dataclasses.dataclass(frozen=True)
class Plot:
    """A titled set of series on shared axes (``logx`` / ``logy`` for log scales)."""

    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    logx: bool = False
    logy: bool = False

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def png_bytes(fig, dpi: float | None = None) -> bytes:
    """A matplotlib figure as PNG bytes (written with ``atomic_write_*`` or into a report set,
    so that no reader ever sees half a PNG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def literal(text: str) -> str:
    """``text`` as matplotlib prints it literally: every ``$`` escaped, so a profile path or a
    label such as ``a$^^$b`` is not parsed as mathtext (which raises on invalid TeX, after the
    computation, and would lose the whole report), and control characters written as visible
    escapes (``\\x1b``; matplotlib's warning about a missing glyph would otherwise carry the
    raw byte to the terminal)."""
    return plain(text).replace("$", r"\$")


# Fonts tried in order for each glyph (matplotlib font fallback): DejaVu Sans first, then CJK
# faces for vTaiwan's and other Chinese/Japanese/Korean statements. Only the installed ones are
# named, so a machine without them draws with DejaVu Sans and warns about nothing.
FONT_FALLBACK = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP",
                 "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
                 "Droid Sans Fallback", "AR PL UMing CN")
#: figure size in inches at :data:`DPI` (1000 × 560 pixels), and font sizes in points: a plot
#: shown at its size in the report (at most 1100 pixels wide) reads without zooming
WIDTH, HEIGHT, DPI = 10.0, 5.6, 100
FONT = {"title": 13.0, "label": 11.5, "tick": 10.5, "legend": 10.5}
LEGEND_INSIDE = 4  # at most this many short entries in a legend inside the axes; else below
LEGEND_INSIDE_CHARS = 44  # ... each at most this long
LEGEND_ROW = 0.3  # inches of figure height per row of a legend below the axes
YLABEL_CHARS = 52  # a longer y-axis label goes on two lines
# One marker per line and one dash pattern per reference line; a series drawn over an earlier
# one it coincides with is dashed, with a hollow marker a size larger (the earlier one shows in
# its gaps and inside its rings) and a legend note saying so.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_DASHES = ((5, 2), (1.5, 1.5), (6, 2, 1.5, 2), (3, 3), (8, 2, 1.5, 2, 1.5, 2))
_OVER = (0, (4, 2.5))  # the dash pattern of a line drawn over one it coincides with
CLOSE = 0.01  # series closer than this share of the y range at every x overlap on the plot
_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def font_families() -> list[str]:
    """The fonts of :data:`FONT_FALLBACK` installed here (at least DejaVu Sans)."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONT_FALLBACK if f in have] or ["DejaVu Sans"]


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds Chinese, Japanese or Korean characters."""
    return bool(_CJK.search(str(text)))


def cjk_font() -> str | None:
    """The first CJK font of :data:`FONT_FALLBACK` installed here (None: such text is drawn as
    boxes, in plots and in a browser on this machine)."""
    return next((f for f in font_families() if f != "DejaVu Sans"), None)


def render_png(plot: Plot, *, width: float = WIDTH, height: float = HEIGHT,
               dpi: int = DPI) -> bytes:
    """Draw ``plot`` and return the PNG file's bytes (Agg canvas, no pyplot global state; the
    fonts of :func:`font_families` as a fallback list, so CJK text is not drawn as boxes)."""
    return render_panels((plot,), width=width, height=height, dpi=dpi)


def render_panels(plots: Sequence[Plot], title: str | None = None, *, width: float = WIDTH,
                  height: float = HEIGHT, dpi: int = DPI, sharey: bool = True) -> bytes:
    """Several plots side by side (one panel each, y shared when ``sharey``) with one legend
    for all and an optional overall ``title``, as PNG bytes: what ``ualign eval-select`` and
    ``ualign personalise`` draw, one panel per display."""
    import matplotlib

    if not plots:
        raise ValueError("plots must hold at least one plot")
    with matplotlib.rc_context({"font.family": font_families()}):
        return _render(tuple(plots), title, width, height, dpi, sharey)


def overlaps(series: Sequence[Series], logy: bool = False) -> dict[int, tuple[int, str]]:
    """The series (by position; ``"hollow"`` rings aside) that would be drawn over an earlier
    one: ``{i: (j, how)}`` when series ``i`` and an earlier series ``j`` agree at every x of
    one of them (the one with fewer points; for two lines, x values that are consecutive in
    the other, so that the segments between agree too), within :data:`CLOSE` of the y range of
    all ``series`` (of log10 y when ``logy``). ``how`` is ``"identical"`` (within 1e-9) or
    ``"close"``, with ``" where drawn"`` appended when ``j`` has fewer points than ``i`` (it
    agrees with ``i`` where it is drawn); of several such ``j``, an identical one before a close
    one, a full match before a partial one, then the first."""
    pts = [_points(s, logy) for s in series]
    every = [v for p in pts for v in p.values()]
    span = (max(every) - min(every)) if every else 0.0
    near = CLOSE * (span if span > 0 else 1.0)
    out: dict[int, tuple[int, str]] = {}
    for i in range(len(series)):
        for j in range(i):
            how = _coincide(series[i], pts[i], series[j], pts[j], near)
            if how is not None and (i not in out or _RANK[how] < _RANK[out[i][1]]):
                out[i] = (j, how)   # the best match, then the first
    return out


def _points(s: Series, logy: bool) -> dict[float, float]:
    """``{x: y}`` of the drawable points of ``s`` (log10 y on a log axis)."""
    if not logy:
        return {x: y for x, y in zip(s.x, s.y, strict=True) if math.isfinite(y)}
    return {x: math.log10(y) for x, y in zip(s.x, s.y, strict=True)
            if y > 0 and math.isfinite(y)}


def _coincide(a: Series, p: dict, b: Series, q: dict, near: float) -> str | None:
    """How the later series ``a`` (points ``p``) lies on the earlier ``b`` (points ``q``),
    or None (see :func:`overlaps`)."""
    if not p or not q or "hollow" in (a.style, b.style):  # rings mark points on purpose
        return None
    common = set(p) & set(q)
    if common != set(p) and common != set(q):
        return None
    lines = a.style != "points" and b.style != "points"
    if lines and not _run_of(sorted(common), sorted(q if common == set(p) else p)):
        return None                 # the segments between the common points differ
    gap = max(abs(p[x] - q[x]) for x in common)
    if gap > near:
        return None
    exact = gap <= 1e-9 * max(1.0, *(abs(p[x]) for x in common))
    return ("identical" if exact else "close") + (" where drawn" if common != set(p) else "")


def _run_of(part: list[float], whole: list[float]) -> bool:
    """Whether sorted ``part`` is a run of consecutive values of sorted ``whole``."""
    start = whole.index(part[0])
    return whole[start:start + len(part)] == part


_RANK = {"identical": 0, "identical where drawn": 1, "close": 2, "close where drawn": 3}


def legend_name(series: Sequence[Series], i: int, over: dict[int, tuple[int, str]]) -> str:
    """The legend entry of ``series[i]``: its name, and when it is drawn over an earlier series
    (:func:`overlaps`), which one (``identical to nlhf``, ``on top of nlhf``, ``identical to
    kset where both are drawn``)."""
    name = series[i].name
    if i in over:
        j, how = over[i]
        other = series[j].name
        name += (" (identical to " if how.startswith("identical") else " (on top of ") + other
        name += " where both are drawn)" if how.endswith("where drawn") else ")"
    return literal(name)


def _style(s: Series, i_line: int, i_ref: int, n: int, on_top: bool) -> dict:
    """The matplotlib keywords of one series: ``i_line`` / ``i_ref`` count the lines /
    reference lines before it, ``n`` is its number of points, ``on_top`` whether it lies on
    an earlier series."""
    if s.style == "dashed":
        return dict(linestyle=(0, _DASHES[i_ref % len(_DASHES)]), color=s.color or "0.15",
                    linewidth=1.6, zorder=4)
    if s.style == "points":
        return dict(linestyle="none", marker=_MARKERS[i_line % len(_MARKERS)],
                    markersize=10 if on_top else 6.5, color=s.color, zorder=3 if on_top else 2,
                    **({"markerfacecolor": "none", "markeredgewidth": 1.6} if on_top else {}))
    if s.style == "hollow":
        return dict(linestyle="none", marker="o", markersize=12, markerfacecolor="none",
                    markeredgecolor=s.color or "0.2", markeredgewidth=1.8, zorder=5)
    marker = _MARKERS[i_line % len(_MARKERS)] if n <= 40 else None
    if s.style == "marked":
        return dict(linestyle=(0, (1.5, 2)) if on_top else "--", marker="+" if on_top else "x",
                    markersize=9 if on_top else 6.5, linewidth=1.6, color=s.color,
                    zorder=3 if on_top else 2)
    if on_top:
        return dict(linestyle=_OVER, marker=marker, markersize=10, markerfacecolor="none",
                    markeredgewidth=1.6, linewidth=2.0, color=s.color, zorder=3)
    return dict(marker=marker, markersize=6.5, linewidth=2.2, color=s.color, zorder=2)


def wrapped(text: str, width: int) -> str:
    """``text`` on lines of about ``width`` characters, broken at spaces into lines of even
    length (a y-axis label longer than the axis is tall would be cut off)."""
    if len(text) <= width:
        return text
    lines = -(-len(text) // width)
    return "\n".join(textwrap.wrap(text, width=-(-len(text) // lines) + 6))


def integer_x(plot: Plot) -> bool:
    """Whether every x of ``plot`` is a whole number (k, T, ...): its axis gets integer ticks."""
    return all(float(v).is_integer() for s in plot.series for v in s.x)


def legend_below(entries: Sequence[str]) -> bool:
    """Whether the legend goes below the axes: more than :data:`LEGEND_INSIDE` entries or one
    longer than :data:`LEGEND_INSIDE_CHARS` (inside, such a legend covers data)."""
    return len(entries) > LEGEND_INSIDE or any(len(e) > LEGEND_INSIDE_CHARS for e in entries)


def legend_columns(entries: Sequence[str], width: float) -> int:
    """Columns of a legend below the axes of a ``width``-inch figure: as many as its longest
    entry allows at :data:`FONT` ``legend`` points (about 0.55 em a character)."""
    chars = width * 72 / (0.55 * FONT["legend"])        # characters across the figure
    longest = max((len(e) for e in entries), default=1) + 6  # + the line sample and padding
    return max(1, min(len(entries), int(chars // longest)))


def _draw(ax, plot: Plot) -> tuple[list, list[str]]:
    """The series of ``plot`` on ``ax``; its legend handles and entries."""
    from matplotlib.ticker import MaxNLocator

    over = overlaps(plot.series, plot.logy)
    handles, names = [], []
    i_line = i_ref = 0
    for i, s in enumerate(plot.series):
        x, y = list(s.x), list(s.y)
        if plot.logy:  # non-positive values cannot be drawn on a log axis
            keep = [i for i, v in enumerate(y) if v > 0 and math.isfinite(v)]
            x, y = [x[i] for i in keep], [y[i] for i in keep]
        if x:
            (h,) = ax.plot(x, y, **_style(s, i_line, i_ref, len(x), i in over))
            handles.append(h)
            names.append(legend_name(plot.series, i, over))
        i_line += s.style != "dashed"
        i_ref += s.style == "dashed"
    if plot.logx:
        ax.set_xscale("log")
    elif integer_x(plot):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k, T, m: no 1.5 ticks
    if plot.logy:
        ax.set_yscale("log")
    ax.set_xlabel(literal(plot.xlabel), fontsize=FONT["label"])
    ax.set_ylabel(wrapped(literal(plot.ylabel), YLABEL_CHARS), fontsize=FONT["label"])
    ax.tick_params(labelsize=FONT["tick"])
    ax.grid(True, alpha=0.3)
    return handles, names


def _render(plots: tuple[Plot, ...], title: str | None, width: float, height: float,
            dpi: int, sharey: bool) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    handles: list = []
    names: list[str] = []
    drawn = []
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(plots), sharey=sharey, squeeze=False)[0]
    for ax, plot in zip(axes, plots, strict=True):
        h, n = _draw(ax, plot)
        drawn.append((ax, h, n))
        for hi, ni in zip(h, n, strict=True):
            if ni not in names:         # one entry per name across the panels
                handles.append(hi)
                names.append(ni)
        if len(plots) > 1 or title is not None:
            ax.set_title(literal(plot.title), fontsize=FONT["label"])
        else:
            ax.set_title(literal(plot.title), fontsize=FONT["title"])
        if sharey and ax is not axes[0]:
            ax.set_ylabel("")
    if title is not None:
        fig.suptitle(literal(title), fontsize=FONT["title"])
    if len(plots) == 1 and names and not legend_below(names):
        axes[0].legend(drawn[0][1], drawn[0][2], fontsize=FONT["legend"], loc="best")
    elif names:  # below the axes, across the figure, in as many columns as fit
        ncol = legend_columns(names, width)
        rows = -(-len(names) // ncol)
        fig.set_figheight(height + LEGEND_ROW * rows)
        fig.legend(handles, names, loc="outside lower center", ncol=ncol,
                   fontsize=FONT["legend"], frameon=False)
    return png_bytes(fig)
