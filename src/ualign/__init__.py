"""ualign: align language models to people who disagree, by showing k responses.

A k-output policy is (k, f(k))-robustly aligned when the user picks one of its k responses with
probability at least f(k) against any single competing response. Sampling k times from a
symmetric Nash equilibrium of the (k+1)-player alignment game reaches f(k) = k/(k+1)
(Cai & Zheng, arXiv 2601.08777).

The public API is re-exported here; the layers live in ``ualign.core`` (profiles and exact win
rates), ``ualign.solvers``, ``ualign.data``, ``ualign.report``, ``ualign.llm`` and
``ualign.train`` (the last two need the ``llm`` / ``train`` extras).
"""

from ualign._version import __version__
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
