"""The measured report: each claim of the universal-alignment framework checked against its
bound (:mod:`~ualign.report.claims`), f(k) curves of alignment methods
(:mod:`~ualign.report.compare`), the real-data section (:mod:`~ualign.report.realdata`) and the
HTML / Markdown / JSON renderers (:mod:`~ualign.report.render`).

References: shared/spec/THEORY.md §3-7.
"""

from ualign.report.compare import METHODS, compare_methods, parse_ks, parse_methods
from ualign.report.plots import Plot, Series, render_png
from ualign.report.render import report_files, write_files
from ualign.report.reproduce import ReproduceConfig, build_report
from ualign.report.results import ClaimRow, CompareEntry, CompareResult, DatasetSection, Report

__all__ = [
    "METHODS",
    "ClaimRow",
    "CompareEntry",
    "CompareResult",
    "DatasetSection",
    "Plot",
    "Report",
    "ReproduceConfig",
    "Series",
    "build_report",
    "compare_methods",
    "parse_ks",
    "parse_methods",
    "render_png",
    "report_files",
    "write_files",
]
