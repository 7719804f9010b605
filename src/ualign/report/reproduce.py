"""``build_report``: every claim of THEORY.md measured on built-in instances, plus the real-data
section when the data folder is present. The CLI ``ualign reproduce`` renders and writes it.

Instances (all seeded):
- heterogeneous: a mixture of three Mallows groups with random centres (φ = 0.5, 0.6, 0.7,
  weights 0.4, 0.35, 0.25, 300 users) over 12 responses, instance seed 1 — picked among seeds
  0-5 as the one without a Condorcet winner, so that even the NLHF equilibrium mixes (3
  responses); used by (i), (v), (vi), (vii);
- NLHF collapse with ε = 0.1 (iii); exact impartial culture (iv, v); random instances (ii).

References: shared/spec/THEORY.md §3-7.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ualign._version import __version__
from ualign.report import claims as C
from ualign.report.claims import heterogeneous_instance
from ualign.report.results import ClaimRow, Report

__all__ = ["ReproduceConfig", "build_report", "default_data_dir", "heterogeneous_instance",
           ]


@dataclasses.dataclass(frozen=True)
class ReproduceConfig:
    """What ``ualign reproduce`` runs. ``quick()`` is the version the tests use (about 5 s once
    numba's kernels are compiled)."""

    ks_equilibrium: tuple[int, ...] = tuple(range(1, 33))  # (i), (iii)
    copy_instances: int = 24  # (ii)
    copy_policies: int = 64
    ic_Ns: tuple[int, ...] = (3, 4, 5, 6)  # (iv)
    ic_ks: tuple[int, ...] = (1, 2, 3)
    ell_ks: tuple[int, ...] = (1, 2, 3, 4)  # (v)
    ells: tuple[int, ...] = (1, 2, 3)
    hedge_ks: tuple[int, ...] = (1, 2, 4, 8)  # (vi)
    hedge_Ts: tuple[int, ...] = (10, 100, 1000, 10000)
    dyn_ks: tuple[int, ...] = (2, 8)  # (vii)
    dyn_iters: int = 2000
    data_ks: tuple[int, ...] = tuple(range(1, 9))
    distinct_ks: tuple[int, ...] = (1, 2, 3, 4)  # (viii), (x)
    distinct_instances: int = 12  # (x)
    display_ks: tuple[int, ...] = (1, 2, 4, 8)  # real data under both displays
    display_time_limit: float = 5.0  # seconds per k for the best distinct k-set on real data
    n_heterogeneous: int = 12
    instance_seed: int = 1  # the heterogeneous instance (no Condorcet winner)
    eps: float = 0.1
    quick: bool = False
    seed: int = 0
    data_dir: str | None = None  # (xi); build_report sets it from its data_dir argument

    @classmethod
    def quick_config(cls, seed: int = 0) -> ReproduceConfig:
        return cls(ks_equilibrium=(1, 2, 3, 4, 8, 16, 32), copy_instances=6, copy_policies=32,
                   ic_Ns=(3, 4), ic_ks=(1, 2, 3), ell_ks=(1, 2), ells=(1, 2),
                   hedge_ks=(1, 4), hedge_Ts=(10, 100, 1000), dyn_ks=(2,), dyn_iters=1000,
                   data_ks=(1, 2, 3), distinct_ks=(1, 2, 3), distinct_instances=6,
                   display_ks=(1, 2), display_time_limit=2.0, quick=True, seed=seed)


def default_data_dir() -> Path | None:
    """``../shared/data`` relative to the working directory, else relative to the repository
    this package is installed from (editable installs); ``None`` when neither exists."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        cand = base.parent / "shared" / "data"
        if cand.is_dir():
            return cand
    return None


def _error_row(key: str, title: str, exc: BaseException, seconds: float) -> ClaimRow:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return ClaimRow(key=key, title=title, statement="(not measured: the check raised an error)",
                    reference="THEORY.md", instance="–", columns=(), cases=(),
                    measured=f"error: {last}", bound="–", tolerance=0.0, passed=False,
                    notes=traceback.format_exc(limit=4), seconds=seconds)


def build_report(config: ReproduceConfig, data_dir: str | os.PathLike | None = None,
                 tick: Callable[[str], None] | None = None,
                 advance: Callable[[], None] | None = None, *,
                 data_left_out: bool = False) -> Report:
    """Measure every claim of the registry :data:`ualign.report.claims.CLAIMS` (each spec's
    ``configure(config)`` gives its inputs) and the real-data section when ``data_dir`` is given.

    A claim whose check raises is kept as a FAIL row carrying the error, so the report still
    shows everything else; nothing is written here (see :mod:`ualign.report.render`).
    ``tick(msg)`` is called as work progresses, ``advance()`` after each claim / dataset.
    ``data_left_out``: ``data_dir`` is ``None`` because the user asked for it (``--no-data``),
    not because no data folder was found; the report's note says which.
    """
    from ualign.report import realdata

    t0 = time.perf_counter()
    config = dataclasses.replace(config, data_dir=None if data_dir is None else str(data_dir))
    rows = []
    for spec in C.CLAIMS:
        t1 = time.perf_counter()
        try:
            rows.append(C.run_claim(spec, spec.configure(config), tick))
        except Exception as exc:  # a failing check is reported, not hidden
            rows.append(_error_row(spec.key, spec.title, exc, time.perf_counter() - t1))
        if advance is not None:
            advance()
    notes = []
    datasets = []
    if data_dir is not None:
        wanted = realdata.QUICK_DATASETS if config.quick else realdata.DATASETS
        found = realdata.available_datasets(data_dir, wanted)
        if not found:
            notes.append(f"None of the report's datasets ({', '.join(d.path for d in wanted)}) "
                         f"is under {data_dir}: the real-data section is left out.")
        for d in found:
            try:
                datasets.append(realdata.dataset_section(
                    data_dir, d, config.data_ks, seed=config.seed, tick=tick,
                    display_ks=config.display_ks, display_time_limit=config.display_time_limit))
            except Exception as exc:
                last = traceback.format_exception_only(type(exc), exc)[-1].strip()
                notes.append(f"Real data {d.name} ({d.path}) was not measured: {last}")
            if advance is not None:
                advance()
    elif data_left_out:
        notes.append("The real-data section is left out on request (--no-data).")
    else:
        notes.append("No data folder found (../shared/data or --data): the real-data section "
                     "is left out.")
    machine = f"{platform.machine()} {os.cpu_count()}-core CPU, Python {platform.python_version()}"
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title="ualign: the universal-alignment claims, measured", created_utc=created,
                  version=__version__, machine=machine, quick=config.quick, claims=tuple(rows),
                  datasets=tuple(datasets), data_dir=None if data_dir is None else str(data_dir),
                  notes=tuple(notes), seconds=time.perf_counter() - t0)


def n_steps(config: ReproduceConfig, data_dir) -> int:
    """How many times ``build_report`` calls ``advance`` (for a progress bar's total)."""
    from ualign.report import realdata

    if data_dir is None:
        return len(C.CLAIMS)
    wanted = realdata.QUICK_DATASETS if config.quick else realdata.DATASETS
    return len(C.CLAIMS) + len(realdata.available_datasets(data_dir, wanted))
