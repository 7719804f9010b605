"""The figure of selection results that ``ualign eval-select`` writes: held-out robust win rate
against k, one panel per display of the win rates."""

from __future__ import annotations

from pathlib import Path

from ualign.core._atomic import atomic_write_bytes
from ualign.core.checks import DISPLAYS
from ualign.core.displays import display_spec
from ualign.report.plots import HEIGHT, WIDTH, Plot, Series, render_panels

__all__ = ["plot_win_rates", "win_rate_plots"]


def plot_win_rates(rows, path) -> None:
    """Held-out robust win rate against k, one line per method (and selection display),
    beside ``k/(k+1)``: one panel per display the win rates are computed under (multiset, and
    distinct when the rows have it, THEORY §9), one legend below them.

    ``rows``: the :class:`ualign.llm.experiment.SummaryRow` rows of
    :func:`ualign.llm.experiment.summarise` (``method``, ``k``, ``robust``, ``display`` and
    ``selected_for``); ``path``: the PNG written.
    """
    plots = win_rate_plots(rows)
    png = render_panels(plots, width=max(WIDTH, 6.0 * len(plots)), height=HEIGHT)
    atomic_write_bytes(Path(path), png)   # never a half-written PNG


def win_rate_plots(rows) -> tuple[Plot, ...]:
    """The panels of :func:`plot_win_rates`, one :class:`~ualign.report.plots.Plot` per
    display the win rates are computed under."""
    panels = [d for d in DISPLAYS if any(r.display == d for r in rows)]
    return tuple(_panel([r for r in rows if r.display == d], f"{d} display") for d in panels)


def _panel(rows, title: str) -> Plot:
    """One panel: the ``k/(k+1)`` reference and, per method and selection display, the robust
    win rate of the rows against k (dotted-dashed for a merging selection display when the rows
    mix them; one colour per method)."""
    series = list(dict.fromkeys((r.method, r.selected_for) for r in rows))
    mixed = len({d for _, d in series}) > 1
    colour = {m: f"C{i % 10}" for i, m in enumerate(dict.fromkeys(m for m, _ in series))}
    out = [_method_series(rows, method, selected_for, mixed, colour[method])
           for method, selected_for in series
           # personalised: one response, the same point for both selections
           if not (mixed and method == "personalised" and selected_for != series[0][1])]
    ks = sorted({r.k for r in rows})
    if ks:
        grid = list(range(1, max(ks) + 1))
        out.append(Series("k/(k+1)", grid, [k / (k + 1) for k in grid], "dashed"))
    return Plot(title, "responses shown, k",
                "held-out robust win rate, worst case over the candidates", tuple(out))


def _method_series(rows, method: str, selected_for: str, mixed: bool, colour: str) -> Series:
    """The robust win rate of one method and selection display against k (points for a
    single k)."""
    pts = sorted((r.k, r.robust) for r in rows if r.method == method
                 and r.selected_for == selected_for and r.robust is not None)
    style = "points" if len(pts) == 1 else (
        "marked" if mixed and display_spec(selected_for).merges else "line")
    return Series(f"{method} (selected for {selected_for})" if mixed else method,
                  [p[0] for p in pts], [p[1] for p in pts], style, colour)
