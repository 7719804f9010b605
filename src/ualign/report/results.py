"""Typed results of the report: one :class:`ClaimRow` per claim of THEORY.md, one
:class:`CompareResult` per profile compared, and the :class:`Report` that holds them.

Everything here is plain data (numbers, strings, :class:`~ualign.report.plots.Plot`), so a
report round-trips through JSON and the renderers never compute anything.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ualign.core.displays import PAPER_DISPLAY, display_spec
from ualign.report.plots import Plot

__all__ = ["ClaimRow", "CommitteePolicy", "CompareEntry", "CompareResult", "DatasetSection",
           "KSetPolicy", "Report", "jsonable"]


def jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and numpy scalars/arrays to JSON types; NaN/inf become None.
    Dataclass fields with ``metadata={"json": False}`` are left out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("json", True)}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


@dataclasses.dataclass(frozen=True)
class ClaimRow:
    """One claim checked by measurement.

    Attributes:
      key: the claim's number, ``"i"`` .. ``"vii"``.
      title: a short name.
      statement: the claim with its bound, as THEORY.md states it.
      reference: where it is stated (``THEORY.md §4``).
      instance: the instance(s) measured, in words.
      columns: names of the per-case columns.
      cases: one tuple per case (e.g. per k), aligned with ``columns``; the last column is the
        case's PASS/FAIL when the claim is checked case by case.
      measured: the measured value(s), summarised in one line.
      bound: the bound checked, in one line.
      tolerance: the numerical tolerance allowed on the bound.
      passed: whether every case met its bound within ``tolerance``.
      plots: the claim's figures.
      notes: how it was measured, caveats.
      seconds: wall-clock time of the measurement.
      rows: the typed measurement rows (NamedTuples, see :mod:`~ualign.report.claims`) that
        ``cases``, ``measured``, ``passed`` and ``plots`` were built from; kept in memory for
        callers and tests, not written to JSON (``cases`` is).
    """

    key: str
    title: str
    statement: str
    reference: str
    instance: str
    columns: tuple[str, ...]
    cases: tuple[tuple, ...]
    measured: str
    bound: str
    tolerance: float
    passed: bool
    plots: tuple[Plot, ...] = ()
    notes: str = ""
    seconds: float = 0.0
    rows: tuple = dataclasses.field(default=(), repr=False, compare=False,
                                    metadata={"json": False})

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclasses.dataclass(frozen=True)
class CompareEntry:
    """One method at one k under one display: the robust win rate ``f(k) = min_y' WR(Π_k, y')``
    (``display``: ``"multiset"``, copies count, or ``"distinct"``, outputs merged; THEORY.md
    §9) and the diversity of the responses the policy shows (for a k-set policy: of its
    marginal ``E[#copies of y]/k``), with ``distinct_shown`` the expected number of distinct
    responses among the k shown.
    """

    method: str
    k: int
    robust_win_rate: float
    bound: float  # k/(k+1)
    entropy_bits: float
    support: int
    worst_response: int | None
    seconds: float
    converged: bool | None = None
    display: str = PAPER_DISPLAY
    distinct_shown: float | None = None


@dataclasses.dataclass(frozen=True)
class KSetPolicy:
    """A distribution ``probs`` over k-sets ``sets`` (one row per set; k-multisets for ``kset``,
    sets of k distinct responses for ``kset-distinct``), as a k-set solver returned it.

    Attributes:
      sets: ``(m, k)`` response indices, one set per row.
      probs: ``(m,)`` the probability of each set.
      solver_value: the solver's own value of the policy (the report re-evaluates it).
      exact: whether the solver certified the optimum (its pricing was exact and the gap closed).
      upper_bound: the solver's certified upper bound on the best k-set policy.
      pricer: how candidate sets were priced (``"enumeration"``, ``"greedy"``, ...).
    """

    sets: tuple[tuple[int, ...], ...]
    probs: tuple[float, ...]
    solver_value: float
    exact: bool
    upper_bound: float
    pricer: str | None


@dataclasses.dataclass(frozen=True)
class CommitteePolicy(KSetPolicy):
    """A deterministic committee (one k-set, probability 1) chosen by a voting rule (top-k,
    Chamberlin-Courant, PAV): ``rule_score`` is its score under the rule, ``rule_optimal``
    whether the rule's program proved it optimal for the rule (``None``: not applicable)."""

    rule_score: float = 0.0
    rule_optimal: bool | None = None


@dataclasses.dataclass(frozen=True)
class CompareResult:
    """f(k) curves of several methods on one profile."""

    profile: str
    n_users: int
    n_responses: int
    ks: tuple[int, ...]
    methods: tuple[str, ...]
    entries: tuple[CompareEntry, ...]
    policies: dict  # method -> {k: policy marginal as a list} (k = 0 for k-independent policies)
    # method -> {k: KSetPolicy} (the k-set methods; committees are CommitteePolicy)
    ksets: dict[str, dict[int, KSetPolicy]] = dataclasses.field(default_factory=dict)
    displays: tuple[str, ...] = (PAPER_DISPLAY,)  # the displays f(k) was evaluated under
    notes: tuple[str, ...] = ()  # caps that applied (skipped k, time limits)

    def entry(self, method: str, k: int, display: str = PAPER_DISPLAY) -> CompareEntry | None:
        for e in self.entries:
            if e.method == method and e.k == k and e.display == display:
                return e
        return None

    def value(self, method: str, k: int, display: str = PAPER_DISPLAY) -> float | None:
        e = self.entry(method, k, display)
        return None if e is None else e.robust_win_rate

    def fk_plot(self, title: str | None = None) -> Plot:
        """f(k) per method and display (distinct display dashed with markers, in the colour
        of the method's multiset curve; points that did not converge, such as greedy k-set
        solves, ringed with a hollow marker and a legend entry: they are lower bounds)."""
        from ualign.report.plots import Series

        series = []
        for i, m in enumerate(self.methods):
            for d in self.displays:
                es = [e for e in self.entries if e.method == m and e.display == d]
                if not es:
                    continue
                name = m if self.displays == (PAPER_DISPLAY,) else f"{m} ({d})"
                series.append(Series(name, [e.k for e in es], [e.robust_win_rate for e in es],
                                     "marked" if display_spec(d).merges else "line",
                                     f"C{i % 10}"))
                rough = [e for e in es if e.converged is False]  # e.g. greedy k-set pricing
                if rough:
                    series.append(Series(f"{name}: not exact (a lower bound)",
                                         [e.k for e in rough],
                                         [e.robust_win_rate for e in rough], "hollow",
                                         f"C{i % 10}"))
        ks = list(self.ks)
        series.append(Series("k/(k+1)", ks, [k / (k + 1) for k in ks], style="dashed"))
        return Plot(title or f"f(k) on {self.profile}", "responses shown, k",
                    "worst-case win rate, f(k)", tuple(series))

    def diversity_plot(self, title: str | None = None) -> Plot:
        """Entropy (bits) of a shown response against k, per method."""
        from ualign.report.plots import Series

        series = []
        for i, m in enumerate(self.methods):
            es = {e.k: e for e in self.entries if e.method == m}
            if es:
                series.append(Series(m, list(es), [e.entropy_bits for e in es.values()],
                                     color=f"C{i % 10}"))
        return Plot(title or f"diversity on {self.profile}", "responses shown, k",
                    "entropy of a shown response, bits", tuple(series))


@dataclasses.dataclass(frozen=True)
class DatasetSection:
    """A real profile in the report: its f(k) table and what each method shows a person."""

    name: str
    source: str
    kind: str  # "polis" or "preflib"
    description: str
    compare: CompareResult
    shows: dict  # method -> list of lines ("41%  <statement text>")
    attribution: str = ""
    # per user group (Polis opinion groups): {"k": K, "columns": [...], "rows": [[...], ...]}
    groups: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    # f(k) under both displays (THEORY.md §9) of the equilibrium, NLHF and the best distinct
    # k-set, with the distinct responses shown; None when not measured
    display: CompareResult | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    """The whole measured report."""

    title: str
    created_utc: str
    version: str
    machine: str
    quick: bool
    claims: tuple[ClaimRow, ...]
    datasets: tuple[DatasetSection, ...] = ()
    data_dir: str | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        d = jsonable(self)
        d["passed"] = self.passed
        for c, cd in zip(self.claims, d["claims"], strict=True):
            cd["verdict"] = c.verdict
        return d
