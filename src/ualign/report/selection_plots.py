"""Plots of selection results (the figure ``ualign eval-select`` writes)."""

from __future__ import annotations

from pathlib import Path

from ualign.core._atomic import atomic_write_bytes
from ualign.report.plots import literal, png_bytes

__all__ = ["plot_win_rates"]


def plot_win_rates(rows, path) -> None:
    """Held-out robust win rate against k, one line per method, beside ``k/(k+1)``: one panel
    for multiset display (``robust``) and, when the rows have it, one for distinct display
    (``robust_distinct``, THEORY §9).

    ``rows``: the dicts of :func:`ualign.llm.experiment.summarise` (``method``, ``k``,
    ``robust``, optional ``robust_distinct`` and ``display``, the display the method selected
    for: one line per method and selection display); ``path``: the PNG written.
    """
    import matplotlib  # lazy: a heavy import ``ualign --help`` should not pay for
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("robust", "multiset display")]
    if any("robust_distinct" in r for r in rows):
        panels.append(("robust_distinct", "distinct display"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.2), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=True):
        _plot_panel(ax, rows, key, title)
    fig.tight_layout()
    png = png_bytes(fig, dpi=120)
    plt.close(fig)
    atomic_write_bytes(Path(path), png)   # never a half-written PNG


def _plot_panel(ax, rows, key: str, title: str) -> None:
    """One panel: the ``k/(k+1)`` reference and, per method and selection display, the value
    ``key`` of the rows against k."""
    ks = sorted({r["k"] for r in rows})
    if ks:
        grid = range(1, max(ks) + 1)
        ax.plot(list(grid), [k / (k + 1) for k in grid], "k--", lw=1, label="k/(k+1)")
    _plot_series(ax, rows, key)
    ax.set_xlabel("k (responses shown)")
    ax.set_ylabel("held-out robust win rate vs every candidate")
    ax.set_title(title)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _plot_series(ax, rows, key: str) -> None:
    """One line per method and selection display (dashed for ``distinct`` when the rows mix
    both; a marker alone for a single point), one colour per method."""
    series = list(dict.fromkeys((r["method"], r.get("display", "multiset")) for r in rows))
    mixed = len({d for _, d in series}) > 1
    colour = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(m for m, _ in series))}
    for method, display in series:
        if mixed and method == "personalised" and display != series[0][1]:
            continue  # one response: the same point for both selections
        pts = sorted((r["k"], r[key]) for r in rows if r["method"] == method
                     and r.get("display", "multiset") == display and key in r)
        style = "s" if len(pts) == 1 else ("o--" if display == "distinct" and mixed
                                           else "o-")
        label = literal(f"{method} (selected for {display})" if mixed else method)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour[method],
                label=label)
