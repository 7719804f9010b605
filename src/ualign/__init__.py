"""ualign: align language models to people who disagree, by showing k responses.

A k-output policy is (k, f(k))-robustly aligned when the user picks one of its k responses with
probability at least f(k) against any single competing response. Sampling k times from a
symmetric Nash equilibrium of the (k+1)-player alignment game reaches f(k) = k/(k+1)
(Cai & Zheng, arXiv 2601.08777).

The public API is re-exported here; the layers live in ``ualign.core`` (profiles and exact win
rates), ``ualign.solvers``, ``ualign.data``, ``ualign.report``, ``ualign.llm`` and
``ualign.train`` (the last two need the ``llm`` / ``train`` extras).

The re-exports are imported on first use (PEP 562), so that ``import ualign.cli`` and
``ualign --version`` do not load NumPy, SciPy and the compiled kernels.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ualign._version import __version__

if TYPE_CHECKING:  # what the names below resolve to (for type checkers and readers)
    from ualign.core import (
        Profile,
        RobustWinRate,
        deviation_payoffs,
        exploitability,
        read_preflib,
        robust_win_rate,
        set_win_rate,
        win_rate,
        write_preflib,
    )
    from ualign.core.posterior import fit_noise, posterior, posterior_weights
    from ualign.data import load_profile, read_polis
    from ualign.solvers import (
        KSetResult,
        SolverError,
        SolverResult,
        solve_kset,
        solve_nlhf,
        solve_rlhf,
        solve_ualign,
        worst_opponent,
    )

# public name -> the module it is imported from on first use
_HOMES = {
    **dict.fromkeys(("Profile", "RobustWinRate", "deviation_payoffs", "exploitability",
                     "read_preflib", "robust_win_rate", "set_win_rate", "win_rate",
                     "write_preflib"), "ualign.core"),
    **dict.fromkeys(("fit_noise", "posterior", "posterior_weights"), "ualign.core.posterior"),
    **dict.fromkeys(("load_profile", "read_polis"), "ualign.data"),
    **dict.fromkeys(("KSetResult", "SolverError", "SolverResult", "solve_kset", "solve_nlhf",
                     "solve_rlhf", "solve_ualign", "worst_opponent"), "ualign.solvers"),
}

__all__ = [
    "KSetResult",
    "Profile",
    "RobustWinRate",
    "SolverError",
    "SolverResult",
    "__version__",
    "deviation_payoffs",
    "exploitability",
    "fit_noise",
    "load_profile",
    "posterior",
    "posterior_weights",
    "read_polis",
    "read_preflib",
    "robust_win_rate",
    "set_win_rate",
    "solve_kset",
    "solve_nlhf",
    "solve_rlhf",
    "solve_ualign",
    "win_rate",
    "worst_opponent",
    "write_preflib",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ualign' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value          # later look-ups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
