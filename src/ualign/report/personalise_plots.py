"""Figures of the personalisation measurement (:mod:`ualign.report.personalise`): win rate on
held-out people's hidden ratings against the number m of ratings revealed, one line per k, one
panel per display (``ualign personalise``, benchmarks/personalise_real.py, docs/personalise.md).

References: shared/spec/THEORY.md §10.
"""

from __future__ import annotations

from collections.abc import Sequence

from ualign.core.checks import DISPLAYS
from ualign.report.personalise import PERSONALISE_METHODS, PersonaliseRow

__all__ = ["METRIC_NAMES", "curve_png"]

METRIC_NAMES = {"robust": "robust win rate (worst hidden-rated response)",
                "mean": "mean win rate over hidden-rated responses",
                "vs_worst": "win rate vs the posterior's worst hidden-rated response",
                "vs_worst_all": "win rate vs the posterior's worst unrevealed response"}


def _line(rows, key: str):
    """(m, value of ``key``) of ``rows`` in order of m, as two lists."""
    pts = sorted((r.m, getattr(r, key)) for r in rows)
    return [p[0] for p in pts], [p[1] for p in pts]


def _curve_panel(ax, sel, metric: str, method: str, ks) -> None:
    """One display's panel of :func:`curve_png`: ``sel`` holds that display's rows."""
    for k, col in zip(ks, [f"C{i}" for i in range(len(ks))], strict=True):
        x, y = _line([r for r in sel if r.method == method and r.k == k], metric)
        ax.plot(x, y, marker="o", markersize=3, color=col, label=f"{method}, k = {k}")
        if method != "argmax":
            x, y = _line([r for r in sel if r.method == "universal" and r.k == k], metric)
            ax.plot(x, y, linestyle="--", color=col, linewidth=1.0,
                    label=f"universal (m = 0), k = {k}")
        if metric.startswith("vs_worst"):
            ax.axhline(k / (k + 1), color="0.6", linestyle=":", linewidth=1.0)
    if method != "argmax":
        x, y = _line([r for r in sel if r.method == "argmax"], metric)
        ax.plot(x, y, linestyle="none", marker="s", markersize=4, color="black",
                label="personalised argmax (k = 1)")
    ax.set_xlabel("m = ratings revealed (nominal)")
    ax.grid(True, alpha=0.3)


def curve_png(rows: Sequence[PersonaliseRow], metric: str = "mean", method: str = "ualign",
              title: str | None = None, *, dpi: int = 100) -> bytes:
    """PNG of win rate against m, one line per k (solid: ``method`` chosen from the posterior;
    dashed, same colour: the universal m = 0 choice on the same hidden ratings; black dots: the
    personalised argmax; dotted grey: k/(k+1) for the ``vs_worst`` metrics), one panel per display.
    ``rows``: one dataset's rows or :func:`pooled_rows`. Agg canvas, no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ualign.report.plots import literal, png_bytes

    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, got {metric!r}")
    if method not in PERSONALISE_METHODS or method == "universal":
        raise ValueError(f"method must be one of ualign, greedy, argmax, got {method!r}")
    fig = Figure(figsize=(10.5, 4.2), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    ks = sorted({r.k for r in rows if r.method == method})
    for ax, display in zip(axes, DISPLAYS, strict=True):
        _curve_panel(ax, [r for r in rows if r.display == display], metric, method, ks)
        ax.set_title(f"{display} display", fontsize=9)
    axes[0].set_ylabel(METRIC_NAMES[metric])
    axes[1].legend(fontsize=7, loc="best")
    dataset = rows[0].dataset if rows else ""
    fig.suptitle(literal(title or f"{dataset}: {METRIC_NAMES[metric]}"), fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
