"""Plots of selection results (the figure ``ualign eval-select`` writes)."""

from __future__ import annotations

__all__ = ["plot_win_rates"]


def plot_win_rates(rows, path) -> None:
    """Held-out robust win rate against k, one line per method, beside ``k/(k+1)``.

    ``rows``: the dicts of :func:`ualign.llm.experiment.summarise` (``method``, ``k``,
    ``robust``); ``path``: the PNG written.
    """
    import matplotlib  # lazy: a heavy import ``ualign --help`` should not pay for
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ks = sorted({r["k"] for r in rows})
    if ks:
        grid = range(1, max(ks) + 1)
        ax.plot(list(grid), [k / (k + 1) for k in grid], "k--", lw=1, label="k/(k+1)")
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["k"], r["robust"]) for r in rows if r["method"] == method)
        style = "s" if len(pts) == 1 else "o-"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=method)
    ax.set_xlabel("k (responses shown)")
    ax.set_ylabel("held-out robust win rate vs every candidate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
