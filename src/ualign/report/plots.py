"""Line plots for the report, rendered to PNG bytes with matplotlib's Agg backend.

A plot is plain data (:class:`Plot`, a list of :class:`Series`), so a report can keep it in JSON
and draw it later; :func:`render_png` draws it without touching any global pyplot state.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Sequence

__all__ = ["Plot", "Series", "literal", "render_png"]


@dataclasses.dataclass(frozen=True)
class Series:
    """One line: ``y[i]`` at ``x[i]``; ``style`` is ``"line"``, ``"dashed"`` (a bound),
    ``"points"`` or ``"marked"`` (dashed with markers: a second reading of a line, e.g. its
    distinct display); ``color`` a matplotlib colour (``None``: the next of the cycle)."""

    name: str
    x: Sequence[float]  # stored as a tuple of floats
    y: Sequence[float]
    style: str = "line"
    color: str | None = None

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: x and y must have the same length, got "
                             f"{len(self.x)} and {len(self.y)}")
        if self.style not in ("line", "dashed", "points", "marked"):
            raise ValueError(f"series {self.name!r}: style must be 'line', 'dashed', 'points' "
                             f"or 'marked', got {self.style!r}")
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


def literal(text: str) -> str:
    """``text`` as matplotlib prints it literally: every ``$`` escaped, so a profile path or a
    label such as ``a$^^$b`` is not parsed as mathtext (which raises on invalid TeX, after the
    computation, and would lose the whole report)."""
    return str(text).replace("$", r"\$")


def render_png(plot: Plot, *, width: float = 6.4, height: float = 4.0, dpi: int = 100) -> bytes:
    """Draw ``plot`` and return the PNG file's bytes (Agg canvas, no pyplot global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for s in plot.series:
        x, y = list(s.x), list(s.y)
        if plot.logy:  # non-positive values cannot be drawn on a log axis
            keep = [i for i, v in enumerate(y) if v > 0 and math.isfinite(v)]
            x, y = [x[i] for i in keep], [y[i] for i in keep]
        if not x:
            continue
        name = literal(s.name)
        if s.style == "dashed":
            ax.plot(x, y, linestyle="--", color="0.2", linewidth=1.2, label=name, zorder=3)
        elif s.style == "points":
            ax.plot(x, y, linestyle="none", marker="o", markersize=4, label=name,
                    color=s.color)
        elif s.style == "marked":
            ax.plot(x, y, linestyle="--", marker="x", markersize=5, linewidth=1.2,
                    label=name, color=s.color)
        else:
            ax.plot(x, y, marker="." if len(x) <= 40 else None, linewidth=1.4, label=name,
                    color=s.color)
    if plot.logx:
        ax.set_xscale("log")
    if plot.logy:
        ax.set_yscale("log")
    ax.set_title(literal(plot.title), fontsize=10)
    ax.set_xlabel(literal(plot.xlabel))
    ax.set_ylabel(literal(plot.ylabel))
    ax.grid(True, alpha=0.3)
    if plot.series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
