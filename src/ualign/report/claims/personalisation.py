"""Claim (xi): personalisation on held-out people. Conditioning the population on m ratings a
held-out person revealed and aligning k responses to the posterior (THEORY.md §10), measured by
:func:`ualign.report.personalise.measure_personalisation` and folded into one table row per
(method, display, m).

References: shared/spec/THEORY.md §10; docs/personalise.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from ualign.core.checks import DISPLAYS
from ualign.core.displays import PAPER_DISPLAY
from ualign.data.people import load_people
from ualign.report.claims.registry import ClaimSpec, register
from ualign.report.personalise import PERSONALISE_METHODS, measure_personalisation
from ualign.report.plots import Plot, Series

__all__ = ["PERSONALISATION", "SECTION_KS", "CurveRow", "SectionConfig", "measure_section",
           "section_config", "section_plots", "section_summary"]


class CurveRow(NamedTuple):
    """One line of the report's personalisation table: ``method`` under ``display`` after m
    revealed ratings, the mean win rate over each held-out person's hidden-rated responses at
    each k (``None`` where the method has no such k: ``argmax`` is k = 1 only)."""

    method: str
    display: str
    m: int
    revealed: float
    n_users: int
    k1: float | None
    k2: float | None
    k4: float | None
    k8: float | None
    m0_equals_universal: bool | None     # ualign rows at m = 0: identical to universal


SECTION_KS = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class SectionConfig:
    """Inputs of the report's personalisation section (capped so that it stays fast).

    Attributes:
      source: a Polis folder / PrefLib file / generator spec
        (:func:`ualign.data.people.load_people`).
      ms: revealed ratings (nominal).
      max_users: held-out people evaluated.
      holdout: share of people held out.
      seed: the one seed of :func:`measure_personalisation`.
      n_boot: bootstrap resamples (the table shows means only).
      tol: numerical tolerance of the m = 0 identity (it is exact: 0).
    """

    source: str
    ms: tuple[int, ...] = (0, 2, 4, 8, 16)
    max_users: int = 40
    holdout: float = 0.2
    seed: int = 0
    n_boot: int = 200
    tol: float = 0.0


def _quick_section(run) -> SectionConfig:
    """A two-group Mallows generator profile (8 responses, 12 people, m ≤ 4)."""
    return SectionConfig("mallows:n=8,phi=0.7,groups=2,users=60", ms=(0, 2, 4), max_users=12,
                         seed=run.seed)


def _default_section(run, data_dir) -> SectionConfig:
    """Polis brexit-consensus (real held-out people, at most 40 of them, m ≤ 16) when
    ``data_dir`` holds it, else :func:`_quick_section`."""
    if data_dir is not None:
        folder = Path(data_dir) / "polis" / "brexit-consensus"
        if (folder / "participants-votes.csv").is_file():
            return SectionConfig(str(folder), seed=run.seed)
    return _quick_section(run)


def section_config(reproduce_config, data_dir=None) -> SectionConfig:
    """The section's inputs in ``ualign reproduce``: Polis brexit-consensus (real held-out
    people, at most 40 of them, m ≤ 16) when ``data_dir`` holds it and the run is not ``--quick``;
    otherwise a two-group Mallows generator profile (8 responses, 12 people, m ≤ 4)."""
    if reproduce_config.quick:
        return _quick_section(reproduce_config)
    return _default_section(reproduce_config, data_dir)


def measure_section(c: SectionConfig, tick: Callable[[str], None] | None = None
                    ) -> tuple[CurveRow, ...]:
    """:func:`measure_personalisation` on ``c.source`` at k ∈ {1, 2, 4, 8}, δ fitted, folded
    into one :class:`CurveRow` per (method, display, m) (mean win rate, multiset and distinct
    display)."""
    rows, _ = measure_personalisation(load_people(c.source), c.ms, SECTION_KS,
                                      holdout=c.holdout, seed=c.seed, max_users=c.max_users,
                                      n_boot=c.n_boot, tick=tick)
    by = {(r.method, r.display, r.m, r.k): r for r in rows}
    out = []
    for method in PERSONALISE_METHODS:
        for d in DISPLAYS:
            for m in c.ms:
                got = [by.get((method, d, m, k)) for k in SECTION_KS]
                first = next((r for r in got if r is not None), None)
                if first is None:
                    continue
                same = None
                if method == "ualign" and m == 0:
                    same = all(r is None or r.mean == by[("universal", d, 0, r.k)].mean
                               for r in got)
                k1, k2, k4, k8 = (None if r is None else r.mean for r in got)
                out.append(CurveRow(method, d, m, first.revealed, first.n_users, k1, k2, k4, k8,
                                    same))
    return tuple(out)


def section_plots(rows: Sequence[CurveRow], c: SectionConfig) -> tuple:
    """One :class:`~ualign.report.plots.Plot` per display: mean win rate against m, one line
    per k (solid: ualign from the posterior; dashed, same colour: universal m = 0 choice)."""
    plots = []
    for d in DISPLAYS:
        series = []
        for j, k in enumerate(SECTION_KS):
            for method, style in (("ualign", "line"), ("universal", "dashed")):
                pts = [(r.m, getattr(r, f"k{k}")) for r in rows
                       if r.method == method and r.display == d]
                pts = [(m, v) for m, v in pts if v is not None]
                if pts:
                    series.append(Series(f"{method}, k = {k}", [p[0] for p in pts],
                                         [p[1] for p in pts], style, f"C{j}"))
        plots.append(Plot(f"{d} display: mean win rate on hidden ratings vs m revealed",
                          "ratings revealed per person, m (nominal)",
                          "mean win rate over hidden-rated responses", tuple(series)))
    return tuple(plots)


def section_summary(rows: Sequence[CurveRow]) -> str:
    """One line: ualign at k = 1, m = 0 → largest m, against universal k = 2 and 4 (the paper's
    display, multiset)."""
    sel = {(r.method, r.m): r for r in rows if r.display == PAPER_DISPLAY}
    m_hi = max(m for _, m in sel)
    u0, uh, un = sel["ualign", 0], sel["ualign", m_hi], sel["universal", m_hi]
    return (f"multiset, mean win rate on hidden ratings: ualign k = 1 {u0.k1:.3f} (m = 0) → "
            f"{uh.k1:.3f} (m = {m_hi}); universal on the same ratings k = 2 {un.k2:.3f}, "
            f"k = 4 {un.k4:.3f}")


PERSONALISATION = register(ClaimSpec(
    key="xi", title="Personalisation: k responses from the posterior on held-out people",
    statement="Conditioning the population on m ratings a held-out person revealed "
              "(posterior w_u ∝ w_u · P(e | u), independent comparisons with noise δ "
              "fitted on the population) and aligning k responses to the posterior "
              "raises the mean win rate on that person's hidden ratings; at m = 0 the "
              "choice is universal alignment exactly. Source: {c.source}.",
    reference="THEORY.md §10, docs/personalise.md",
    bound="ualign at m = 0 identical to the universal choice at every k and display "
          "(the other cells are measured, not judged)",
    columns=(("method", "method"), ("display", "display"), ("m", "m (nominal)"),
             ("revealed", "revealed (mean)"), ("n_users", "people"),
             ("k1", "k=1 mean WR"), ("k2", "k=2"), ("k4", "k=4"), ("k8", "k=8"),
             ("m0_equals_universal", "m=0 = universal")),
    measure=measure_section,
    verdict=lambda rows: all(r.m0_equals_universal for r in rows
                             if r.m0_equals_universal is not None),
    summary=section_summary,
    plots=section_plots,
    instance=lambda c, rows: (f"{c.source}: 20 % held out, {rows[0].n_users} held-out "
                              f"people evaluated, m ∈ {set(c.ms)}, k ∈ {{1, 2, 4, 8}}"),
    default=lambda run: _default_section(run, run.data_dir),
    quick=_quick_section,
    notes="Mean win rate of the shown k responses against each hidden-rated response, "
          "averaged over held-out people; ualign = k samples of the posterior's "
          "(k+1)-game equilibrium, greedy = distinct k-set greedy for the posterior mean "
          "win rate, argmax = personalised top-1 (k = 1), universal = the m = 0 choice on "
          "the same hidden ratings. Both displays: multiset (copies count) and distinct "
          "(duplicates merged). The full measurement on every dataset, with bootstrap "
          "intervals, is `ualign personalise` / benchmarks/personalise_real.py."))
