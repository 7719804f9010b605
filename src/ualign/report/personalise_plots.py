"""Figures of the personalisation measurement (:mod:`ualign.report.personalise`): win rate on
held-out people's hidden ratings against the number m of ratings revealed, one line per k, one
panel per display (``ualign personalise``, benchmarks/personalise_real.py, docs/personalise.md).

References: shared/spec/THEORY.md §10.
"""

from __future__ import annotations

from collections.abc import Sequence

from ualign.core.checks import DISPLAYS
from ualign.report.personalise import PERSONALISE_METHODS, PersonaliseRow

__all__ = ["METRIC_NAMES", "curve_plots", "curve_png"]

METRIC_NAMES = {"robust": "robust win rate (worst hidden-rated response)",
                "mean": "mean win rate over hidden-rated responses",
                "vs_worst": "win rate vs the posterior's worst hidden-rated response",
                "vs_worst_all": "win rate vs the posterior's worst unrevealed response"}


def _line(rows, key: str) -> tuple[list[float], list[float]]:
    """(m, value of ``key``) of ``rows`` in order of m, as two lists."""
    pts = sorted((r.m, getattr(r, key)) for r in rows)
    return [p[0] for p in pts], [p[1] for p in pts]


def curve_plots(rows: Sequence[PersonaliseRow], metric: str = "mean",
                method: str = "ualign") -> tuple:
    """The panels of :func:`curve_png`, one :class:`~ualign.report.plots.Plot` per display."""
    from ualign.report.plots import Plot

    ks = sorted({r.k for r in rows if r.method == method})
    return tuple(Plot(f"{display} display", "ratings revealed per person, m (nominal)",
                      METRIC_NAMES[metric],
                      _curve_series([r for r in rows if r.display == display], metric, method,
                                    ks))
                 for display in DISPLAYS)


def _curve_series(sel, metric: str, method: str, ks) -> tuple:
    """One display's series: per k, ``method`` (solid) and the universal m = 0 choice (dashed,
    same colour); the personalised argmax (black points); k/(k+1) for the ``vs_worst``
    metrics (dashed grey)."""
    from ualign.report.plots import Series

    series = []
    for i, k in enumerate(ks):
        col = f"C{i % 10}"
        series.append(Series(f"{method}, k = {k}", *_line(
            [r for r in sel if r.method == method and r.k == k], metric), "line", col))
        if method != "argmax":
            series.append(Series(f"universal (m = 0), k = {k}", *_line(
                [r for r in sel if r.method == "universal" and r.k == k], metric), "dashed",
                col))
    if method != "argmax":
        series.append(Series("personalised argmax (k = 1)",
                             *_line([r for r in sel if r.method == "argmax"], metric),
                             "points", "black"))
    if metric.startswith("vs_worst"):
        ms = sorted({r.m for r in sel}) or [0]
        series += [Series(f"k/(k+1) = {k / (k + 1):.3f}", [ms[0], ms[-1]], [k / (k + 1)] * 2,
                          "dashed", "0.6") for k in ks]
    return tuple(series)


def curve_png(rows: Sequence[PersonaliseRow], metric: str = "mean", method: str = "ualign",
              title: str | None = None, *, dpi: int = 100) -> bytes:
    """PNG of win rate against m, one line per k (solid: ``method`` chosen from the posterior;
    dashed, same colour: the universal m = 0 choice on the same hidden ratings; black dots: the
    personalised argmax; dashed grey: k/(k+1) for the ``vs_worst`` metrics), one panel per
    display, one legend below them. ``rows``: one dataset's rows or :func:`pooled_rows`. Agg
    canvas, no pyplot global state."""
    from ualign.report.plots import WIDTH, render_panels

    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, got {metric!r}")
    if method not in PERSONALISE_METHODS or method == "universal":
        raise ValueError(f"method must be one of ualign, greedy, argmax, got {method!r}")
    dataset = rows[0].dataset if rows else ""
    return render_panels(curve_plots(rows, metric, method),
                         title or f"{dataset}: {METRIC_NAMES[metric]}",
                         width=max(WIDTH, 11.0), dpi=dpi)
