"""``build_report``: every claim of THEORY.md measured on built-in instances, plus the real-data
section when the data folder is present. The CLI ``ualign reproduce`` renders and writes it.

What runs is each claim's own configuration (full or ``--quick``), registered with the claim in
:mod:`ualign.report.claims`, and the real-data section's
(:class:`~ualign.report.realdata.RealDataConfig`); :class:`ReproduceConfig` only picks the seed,
the size, the data folder and any overrides. The instances are described in
:mod:`ualign.report.claims.instances`.

References: shared/spec/THEORY.md §3-7, §9, §10.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ualign._version import __version__
from ualign.report import claims as C
from ualign.report.claims import heterogeneous_instance
from ualign.report.results import ClaimRow, Report
from ualign.solvers import StoppedEarlyWarning

__all__ = ["ReproduceConfig", "build_report", "default_data_dir", "heterogeneous_instance",
           "n_steps"]


@dataclasses.dataclass(frozen=True)
class ReproduceConfig:
    """What ``ualign reproduce`` runs.

    Attributes:
      seed: the seed of every random instance and solver.
      quick: each claim's (and the real data's) ``--quick`` configuration instead of the full
        one: fewer cases, smaller instances (the tests' size; about 5 s once numba's kernels
        are compiled).
      data_dir: the real-data folder (claim (xi) reads Polis from it); ``build_report`` sets it
        from its ``data_dir`` argument.
      overrides: ``{claim key or "data": {config field: value}}``, applied to the claim's
        configuration (e.g. ``{"i": {"ks": (1, 2)}}``) or to the real-data section's
        (:class:`~ualign.report.realdata.RealDataConfig`); a key that names neither is a
        ``ValueError``, and so is a field the config does not have (when it is built).
    """

    seed: int = 0
    quick: bool = False
    data_dir: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        keys = {spec.key for spec in C.CLAIMS} | {"data"}
        for key in self.overrides:
            if key not in keys:
                raise ValueError(f"overrides must be keyed by a claim key or 'data' "
                                 f"({', '.join(spec.key for spec in C.CLAIMS)}, data), got "
                                 f"{key!r}")

    @classmethod
    def quick_config(cls, seed: int = 0) -> ReproduceConfig:
        """``ReproduceConfig(seed=seed, quick=True)``."""
        return cls(seed=seed, quick=True)


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
    ``configure(config)`` gives its inputs: its full or quick configuration, then the
    overrides) and the real-data section when ``data_dir`` is given.

    A claim whose check raises is kept as a FAIL row carrying the error, so the report still
    shows everything else; nothing is written here (see :mod:`ualign.report.render`).
    ``tick(msg)`` is called as work progresses, ``advance()`` after each claim / dataset.
    ``data_left_out``: ``data_dir`` is ``None`` because the user asked for it (``--no-data``),
    not because no data folder was found; the report's note says which. The solvers'
    ``StoppedEarlyWarning`` is not repeated here: several claims stop solvers on purpose (the
    dynamics at fixed step counts) and every row records its ``converged`` flag and certificate.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoppedEarlyWarning)
        return _build_report(config, data_dir, tick, advance, data_left_out)


def _build_report(config, data_dir, tick, advance, data_left_out) -> Report:
    from ualign.report import realdata

    t0 = time.perf_counter()
    config = dataclasses.replace(config, data_dir=None if data_dir is None else str(data_dir))
    data = realdata.RealDataConfig.for_run(config)
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
        found = realdata.available_datasets(data_dir, data.datasets)
        if not found:
            notes.append(f"None of the report's datasets "
                         f"({', '.join(d.path for d in data.datasets)}) is under {data_dir}: "
                         f"the real-data section is left out.")
        for d in found:
            try:
                datasets.append(realdata.dataset_section(
                    data_dir, d, data.ks, seed=config.seed, tick=tick,
                    display_ks=data.display_ks, display_time_limit=data.display_time_limit))
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
    data = realdata.RealDataConfig.for_run(config)
    return len(C.CLAIMS) + len(realdata.available_datasets(data_dir, data.datasets))
