"""The real-data section of the report: f(k) of RLHF / NLHF / U-alignment / the best k-set on
Polis conversations and PrefLib profiles, and, readable by a person, what each method shows.

Data is read where it lies (``../shared/data`` or ``--data``), never copied. Polis data is
CC BY 4.0: every section built from it carries ``ualign.data.polis.POLIS_ATTRIBUTION``.

References: shared/spec/THEORY.md §2, §4, §7; shared/data/README.md (formats, licences).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ualign.core import Profile
from ualign.core.displays import PAPER_DISPLAY
from ualign.report._overrides import with_overrides
from ualign.report.compare import compare_methods
from ualign.report.results import CompareResult, DatasetSection, KSetPolicy
from ualign.solvers import registry

__all__ = ["DATASETS", "DISPLAY_METHODS", "KSET_MAX_SETS", "KSET_MAX_WORK", "QUICK_DATASETS",
           "Dataset", "RealDataConfig", "available_datasets", "dataset_section", "describe_shows",
           "display_compare", "group_table"]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A real profile under the data folder: ``kind`` is ``"polis"`` (a conversation folder) or
    ``"preflib"`` (a file); ``path`` is relative to the data folder."""

    name: str
    kind: str
    path: str
    description: str


DATASETS = (
    Dataset("Polis: 15-per-hour-seattle", "polis", "polis/15-per-hour-seattle",
            "Seattle residents voting on statements about a $15/hour minimum wage."),
    Dataset("Polis: brexit-consensus", "polis", "polis/brexit-consensus",
            "UK participants voting on statements about Brexit."),
    Dataset("Polis: vTaiwan uberx", "polis", "polis/vtaiwan.uberx",
            "vTaiwan consultation on regulating Uber and ride-sharing in Taiwan."),
    Dataset("PrefLib: AGH course selection 2003", "preflib", "preflib/00009-agh/00009-00000001.soc",
            "Students ranking 9 courses (PrefLib 00009, strict complete orders)."),
    Dataset("PrefLib: Dots (MTurk)", "preflib", "preflib/00024-dots/00024-00000001.soc",
            "Mechanical Turk workers ranking 4 images of dots (PrefLib 00024)."),
    Dataset("PrefLib: APA election 1998", "preflib", "preflib/00028-apa/00028-00000001.toc",
            "American Psychological Association presidential election, 5 candidates; unranked "
            "candidates tied at the bottom (PrefLib 00028, .toc)."),
    Dataset("PrefLib: breakfast items", "preflib", "preflib/00035-breakfast/00035-00000002.soc",
            "42 people ranking 15 breakfast items (PrefLib 00035)."),
)

QUICK_DATASETS = (DATASETS[4], DATASETS[0])
#: the methods of the distinct-display table (THEORY.md §9): the equilibrium, NLHF and the
#: certified best distinct k-set
DISPLAY_METHODS = ("ualign", "nlhf", "kset-distinct")
KSET_MAX_SETS = 20000
KSET_MAX_WORK = 1e8


@dataclasses.dataclass(frozen=True)
class RealDataConfig:
    """The real-data section of ``ualign reproduce`` (overrides key ``"data"``).

    Attributes:
      datasets: the datasets measured when present under the data folder.
      ks: the k of the f(k) table (RLHF, NLHF, U-alignment, best k-set).
      display_ks: the k of the both-displays table (:func:`display_compare`).
      display_time_limit: seconds per k for the best distinct k-set there.
    """

    datasets: tuple[Dataset, ...] = DATASETS
    ks: tuple[int, ...] = tuple(range(1, 9))
    display_ks: tuple[int, ...] = (1, 2, 4, 8)
    display_time_limit: float = 5.0

    @classmethod
    def for_run(cls, run) -> RealDataConfig:
        """The full or ``--quick`` section for the run ``run`` (a
        :class:`~ualign.report.reproduce.ReproduceConfig`), with ``run.overrides["data"]``
        applied (a field this class does not have is a ``ValueError`` naming it)."""
        config = (cls(QUICK_DATASETS, ks=(1, 2, 3), display_ks=(1, 2), display_time_limit=2.0)
                  if run.quick else cls())
        return with_overrides(config, run.overrides.get("data", {}), "data")


#: compare's methods by name (registry properties decide how each policy is stored)
_COMPARE_BY_NAME = registry.labelled("compare")


def available_datasets(data_dir: str | os.PathLike | None,
                       wanted: Sequence[Dataset] = DATASETS) -> list[Dataset]:
    """The datasets of ``wanted`` present under ``data_dir`` (none when it is ``None`` or
    missing)."""
    if data_dir is None:
        return []
    root = Path(data_dir)
    if not root.is_dir():
        return []
    return [d for d in wanted if (root / d.path).exists()]


def load_dataset(data_dir: str | os.PathLike, d: Dataset) -> tuple[Profile, str]:
    """The profile and its attribution / citation line."""
    path = Path(data_dir) / d.path
    if d.kind == "polis":
        from ualign.data import polis

        return polis.read_polis(path), polis.POLIS_ATTRIBUTION
    from ualign.core import read_preflib

    cite = ("From PrefLib (www.preflib.org), Mattei & Walsh; see info.txt in "
            f"{path.parent.name} for the dataset's citation.")
    return read_preflib(path), cite


def _short(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe_shows(profile: Profile, cmp: CompareResult, k_show: int, top: int = 5,
                   favourite: str = "ranked first by") -> dict:
    """Readable lines per method: the responses (statement texts / candidate names) each
    method's policy shows, with their probability, and the share of users who put each in their
    top level (``favourite`` names it: "ranked first by" for rankings, "agreed with by" for
    Polis votes). For the k-set policy: its most likely k-sets."""
    fav = profile.weights @ (profile.levels == 0)  # share of users with y in their top level

    def line(y, p):
        return (f"{p:6.1%} of the policy · {favourite} {fav[y]:.0%} of users · "
                f"{_short(profile.label(y))}")

    shows: dict[str, list[str]] = {}
    for m in cmp.methods:
        meth, pol = _COMPARE_BY_NAME[m], cmp.policies.get(m, {})
        key = 0 if meth.k_free else k_show  # RLHF / NLHF policies are stored at k = 0
        if meth.output == "policy" and key in pol:
            p = np.asarray(pol[key])
            idx = [int(y) for y in np.argsort(-p)[:top] if p[y] > 1e-6]
            title = m if meth.k_free else f"{m} (π*_{k_show}, sampled {k_show} times)"
            support = int(np.count_nonzero(p > 1e-6))
            if support > len(idx):  # say when the list is cut
                title += f" (top {len(idx)} of {support})"
            shows[title] = [line(y, p[y]) for y in idx]
        elif meth.output == "kset" and meth.family == "kset" and cmp.ksets.get(m):
            k_set = k_show if k_show in cmp.ksets[m] else max(cmp.ksets[m])
            what = "distinct " if PAPER_DISPLAY not in meth.displays else ""
            lines = _set_lines(profile, cmp.ksets[m][k_set])
            n_sets = int(np.count_nonzero(np.asarray(cmp.ksets[m][k_set].probs) > 0))
            cut = f" (top {len(lines)} of {n_sets})" if n_sets > len(lines) else ""
            shows[f"{m} (best {what}{k_set}-set policy){cut}"] = lines
    return shows


def _set_lines(profile: Profile, policy: KSetPolicy, top: int = 3) -> list[str]:
    """The ``top`` most likely sets of a k-set policy, with their probability and texts."""
    probs = np.asarray(policy.probs)
    lines = []
    for j in np.argsort(-probs)[:top]:
        items = "; ".join(_short(profile.label(int(y)), 60) for y in policy.sets[j])
        lines.append(f"{probs[j]:6.1%}: {{{items}}}")
    return lines


def group_table(profile: Profile, cmp: CompareResult) -> dict:
    """f(k) of each method within each user group (Polis opinion groups) at the largest k each
    method was run at: the worst case over single responses of the method's k-output policy
    when only that group's users choose. Shows whom a method leaves behind. Empty when the
    profile has no groups."""
    from ualign.core import robust_win_rate
    from ualign.report.compare import kset_robust_win_rate

    if profile.groups is None or len(np.unique(profile.groups)) < 2:
        return {}
    k = max(cmp.ks)
    columns = ["group", "share of users"]
    policies: list[tuple[str, np.ndarray, Any]] = []  # ("product", π, k) or ("sets", sets, probs)
    for m in cmp.methods:  # multiset display: the methods that have it
        meth, pol = _COMPARE_BY_NAME[m], cmp.policies.get(m, {})
        key = 0 if meth.k_free else k
        if PAPER_DISPLAY not in meth.displays:
            continue
        if meth.output == "policy" and key in pol:
            columns.append(f"{m} (k={k})")
            policies.append(("product", np.asarray(pol[key]), k))
        elif meth.output == "kset" and cmp.ksets.get(m):
            kk = max(cmp.ksets[m])
            ks_policy = cmp.ksets[m][kk]
            columns.append(f"{m} (k={kk})")
            policies.append(("sets", np.asarray(ks_policy.sets), np.asarray(ks_policy.probs)))
    rows = []
    for g in np.unique(profile.groups):
        mask = profile.groups == g
        sub = Profile.from_levels(profile.levels[mask], profile.weights[mask])
        name = (profile.group_names[g] if profile.group_names is not None
                and g < len(profile.group_names) else f"group {g}")
        values = [robust_win_rate(sub, a, b).value if kind == "product"
                  else kset_robust_win_rate(sub, a, b)[0] for kind, a, b in policies]
        rows.append([name, float(profile.weights[mask].sum()), *values])
    return {"k": k, "columns": columns, "rows": rows}


def display_compare(profile: Profile, ks: Sequence[int], name: str, seed: int = 0,
                    time_limit: float | None = 5.0,
                    tick: Callable[[str], None] | None = None) -> CompareResult:
    """f(k) under both displays and the distinct responses shown (THEORY.md §9) of
    :data:`DISPLAY_METHODS` at ``ks``; ``time_limit`` seconds per k for the
    best distinct k-set (a run it stops keeps its certified ``upper_bound``, noted)."""
    return compare_methods(profile, ks, DISPLAY_METHODS, name=name, seed=seed, display="both",
                           time_limit=time_limit, tick=tick)


def dataset_section(data_dir: str | os.PathLike, d: Dataset, ks: Sequence[int],
                    methods: Sequence[str] = ("rlhf", "nlhf", "ualign", "kset"), seed: int = 0,
                    kset_max_sets: int | None = KSET_MAX_SETS,
                    kset_max_work: float | None = KSET_MAX_WORK,
                    tick: Callable[[str], None] | None = None,
                    display_ks: Sequence[int] = (),
                    display_time_limit: float | None = 5.0) -> DatasetSection:
    """Compare the methods on one real dataset and describe what each shows at the largest k.

    The best k-set LP runs only where its C(n+k-1, k) multisets number at most
    ``kset_max_sets`` (exact pricing by enumeration; beyond it the greedy pricer takes minutes
    per k on a Polis conversation, measured 14-116 s per k on brexit-consensus) and its win
    matrix ``U · C(n+k-1, k) · n`` at most ``kset_max_work`` (vTaiwan uberx at k = 2,
    1.0e9 entries, took 98 s).

    With ``display_ks``, the section also holds :func:`display_compare` at those k (f(k) under
    multiset and distinct display, distinct responses shown)."""
    t0 = time.perf_counter()
    profile, attribution = load_dataset(data_dir, d)
    cmp = compare_methods(profile, ks, methods, name=d.name, seed=seed,
                          kset_max_sets=kset_max_sets, kset_max_work=kset_max_work, tick=tick)
    shows = describe_shows(profile, cmp, max(ks),
                           favourite="agreed with by" if d.kind == "polis" else "ranked first by")
    desc = d.description
    if profile.n_voters is not None:
        desc += f" {profile.n_voters:g} voters."
    if "kset" in cmp.methods:
        done = sorted(cmp.ksets.get("kset", {}))
        skipped = [k for k in cmp.ks if k not in done]
        if skipped:
            desc += (f" The best k-set LP (exact, by enumerating the C(n+k-1, k) multisets) was "
                     f"run for k = {', '.join(map(str, done))} only; at k = "
                     f"{', '.join(map(str, skipped))} it is too large for this report's time "
                     f"budget (–).")
    display = (display_compare(profile, display_ks, d.name, seed, display_time_limit, tick)
               if display_ks else None)
    if display is not None and display.ksets.get("kset-distinct"):
        shows.update(describe_shows(profile, dataclasses.replace(display,
                                                                 methods=("kset-distinct",)),
                                    max(display_ks)))
    return DatasetSection(name=d.name, source=d.path, kind=d.kind, description=desc,
                          compare=cmp, shows=shows, attribution=attribution,
                          groups=group_table(profile, cmp), seconds=time.perf_counter() - t0,
                          display=display)
