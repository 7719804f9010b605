"""The figure of selection results that ``ualign eval-select`` writes: held-out robust win rate
against k, one panel per display of the win rates."""

from __future__ import annotations

from pathlib import Path

from ualign.core._atomic import atomic_write_bytes
from ualign.core.checks import DISPLAYS
from ualign.core.displays import display_spec
from ualign.report.plots import literal, png_bytes

__all__ = ["plot_win_rates"]


def plot_win_rates(rows, path) -> None:
    """Held-out robust win rate against k, one line per method (and selection display),
    beside ``k/(k+1)``: one panel per display the win rates are computed under (multiset, and
    distinct when the rows have it, THEORY §9).

    ``rows``: the :class:`ualign.llm.experiment.SummaryRow` rows of
    :func:`ualign.llm.experiment.summarise` (``method``, ``k``, ``robust``, ``display`` and
    ``selected_for``); ``path``: the PNG written.
    """
    import matplotlib  # lazy: a heavy import ``ualign --help`` should not pay for
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [d for d in DISPLAYS if any(r.display == d for r in rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), squeeze=False)
    for ax, display in zip(axes[0], panels, strict=True):
        _plot_panel(ax, [r for r in rows if r.display == display], f"{display} display")
    fig.tight_layout()
    png = png_bytes(fig, dpi=120)
    plt.close(fig)
    atomic_write_bytes(Path(path), png)   # never a half-written PNG


def _plot_panel(ax, rows, title: str) -> None:
    """One panel: the ``k/(k+1)`` reference and, per method and selection display, the robust
    win rate of the rows against k."""
    ks = sorted({r.k for r in rows})
    if ks:
        grid = range(1, max(ks) + 1)
        ax.plot(list(grid), [k / (k + 1) for k in grid], "k--", lw=1, label="k/(k+1)")
    _plot_series(ax, rows)
    ax.set_xlabel("k (responses shown)")
    ax.set_ylabel("held-out robust win rate vs every candidate")
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _plot_series(ax, rows) -> None:
    """One line per method and selection display (dashed for a merging selection display when
    the rows mix them; a marker alone for a single point), one colour per method."""
    series = list(dict.fromkeys((r.method, r.selected_for) for r in rows))
    mixed = len({d for _, d in series}) > 1
    colour = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(m for m, _ in series))}
    for method, selected_for in series:
        if mixed and method == "personalised" and selected_for != series[0][1]:
            continue  # one response: the same point for both selections
        pts = sorted((r.k, r.robust) for r in rows if r.method == method
                     and r.selected_for == selected_for and r.robust is not None)
        style = "s" if len(pts) == 1 else (
            "o--" if mixed and display_spec(selected_for).merges else "o-")
        label = literal(f"{method} (selected for {selected_for})" if mixed else method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour[method],
                label=label)
