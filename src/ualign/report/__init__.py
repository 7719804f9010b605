"""The measured report: each claim of the universal-alignment framework checked against its
bound (:mod:`~ualign.report.claims`), f(k) curves of alignment methods
(:mod:`~ualign.report.compare`), the real-data section (:mod:`~ualign.report.realdata`) and the
HTML / Markdown / JSON renderers (:mod:`~ualign.report.render`).

References: shared/spec/THEORY.md §3-7.
"""

from ualign.report.compare import COMPARE_METHODS, compare_methods
from ualign.report.plots import Plot, Series, render_png
from ualign.report.render import report_files, write_files
from ualign.report.reproduce import ReproduceConfig, build_report
from ualign.report.results import (
    ClaimRow,
    CommitteePolicy,
    CompareEntry,
    CompareResult,
    DatasetSection,
    KSetPolicy,
    Report,
)

__all__ = [
    "COMPARE_METHODS",
    "ClaimRow",
    "CommitteePolicy",
    "CompareEntry",
    "CompareResult",
    "DatasetSection",
    "KSetPolicy",
    "Plot",
    "Report",
    "ReproduceConfig",
    "Series",
    "build_report",
    "compare_methods",
    "render_png",
    "report_files",
    "write_files",
]
