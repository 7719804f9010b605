"""Line plots for the report, rendered to PNG bytes with matplotlib's Agg backend.

A plot is plain data (:class:`Plot`, a list of :class:`Series`), so a report can keep it in JSON
and draw it later; :func:`render_png` draws it without touching any global pyplot state.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence

from ualign._text import plain

__all__ = ["FONT_FALLBACK", "Plot", "Series", "font_families", "literal", "png_bytes",
           "render_png"]


STYLES = ("line", "dashed", "points", "marked", "hollow")


@dataclasses.dataclass(frozen=True)
class Series:
    """One line: ``y[i]`` at ``x[i]``; ``style`` is ``"line"``, ``"dashed"`` (a bound),
    ``"points"``, ``"marked"`` (dashed with markers: a second reading of a line, e.g. its
    distinct display) or ``"hollow"`` (hollow rings over points of a line that are only lower
    bounds, e.g. a greedy k-set solve); ``color`` a matplotlib colour (``None``: the next of the
    cycle)."""

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
# One marker per line (so two identical curves stay visible: the one below is drawn wider with a
# larger marker) and one dash pattern per reference line.
LEGEND_INSIDE = 4  # at most this many entries in a legend inside the axes
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_DASHES = ((5, 2), (1.5, 1.5), (6, 2, 1.5, 2), (3, 3), (8, 2, 1.5, 2, 1.5, 2))


def font_families() -> list[str]:
    """The fonts of :data:`FONT_FALLBACK` installed here (at least DejaVu Sans)."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONT_FALLBACK if f in have] or ["DejaVu Sans"]


def render_png(plot: Plot, *, width: float = 6.4, height: float = 4.0, dpi: int = 100) -> bytes:
    """Draw ``plot`` and return the PNG file's bytes (Agg canvas, no pyplot global state; the
    fonts of :func:`font_families` as a fallback list, so CJK text is not drawn as boxes)."""
    import matplotlib

    with matplotlib.rc_context({"font.family": font_families()}):
        return _render_png(plot, width, height, dpi)


def _draw_series(ax, s: Series, x, y, i_line: int, i_ref: int, n_lines: int) -> None:
    """One series: ``i_line`` / ``i_ref`` count the lines / reference lines drawn before it."""
    name = literal(s.name)
    if s.style == "dashed":
        ax.plot(x, y, linestyle=(0, _DASHES[i_ref % len(_DASHES)]), color="0.2",
                linewidth=1.2, label=name, zorder=3)
    elif s.style == "points":
        ax.plot(x, y, linestyle="none", marker="o", markersize=4, label=name, color=s.color)
    elif s.style == "hollow":
        ax.plot(x, y, linestyle="none", marker="o", markersize=10, markerfacecolor="white",
                markeredgecolor=s.color or "0.2", markeredgewidth=1.5, label=name, zorder=4)
    elif s.style == "marked":
        ax.plot(x, y, linestyle="--", marker="x", markersize=5, linewidth=1.2, label=name,
                color=s.color)
    else:  # earlier lines wider, with larger markers: a later identical line leaves them seen
        wider = n_lines - 1 - i_line
        ax.plot(x, y, marker=_MARKERS[i_line % len(_MARKERS)] if len(x) <= 40 else None,
                markersize=3.5 + 1.8 * wider, linewidth=1.4 + 0.9 * wider, label=name,
                color=s.color, alpha=0.9)


def legend_outside(plot: Plot) -> bool:
    """Whether the legend goes beside the axes: more than :data:`LEGEND_INSIDE` entries (a
    legend that long inside covered data, e.g. in claim (iv))."""
    return len(plot.series) > LEGEND_INSIDE


def integer_x(plot: Plot) -> bool:
    """Whether every x of ``plot`` is a whole number (k, T, ...): its axis gets integer ticks."""
    return all(float(v).is_integer() for s in plot.series for v in s.x)


def _render_png(plot: Plot, width: float, height: float, dpi: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    n_lines = sum(s.style == "line" for s in plot.series)
    i_line = i_ref = 0
    for s in plot.series:
        x, y = list(s.x), list(s.y)
        if plot.logy:  # non-positive values cannot be drawn on a log axis
            keep = [i for i, v in enumerate(y) if v > 0 and math.isfinite(v)]
            x, y = [x[i] for i in keep], [y[i] for i in keep]
        if not x:
            continue
        _draw_series(ax, s, x, y, i_line, i_ref, n_lines)
        i_line += s.style == "line"
        i_ref += s.style == "dashed"
    if plot.logx:
        ax.set_xscale("log")
    elif integer_x(plot):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k, T, ...: no 1.5 ticks
    if plot.logy:
        ax.set_yscale("log")
    ax.set_title(literal(plot.title), fontsize=10)
    ax.set_xlabel(literal(plot.xlabel))
    ax.set_ylabel(literal(plot.ylabel))
    ax.grid(True, alpha=0.3)
    if legend_outside(plot):  # a long legend beside the axes, off the data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    elif plot.series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig)
