"""ualign: align language models to people who disagree, by showing k responses.

A k-output policy is (k, f(k))-robustly aligned when the user picks one of its k responses with
probability at least f(k) against any single competing response. Sampling k times from a
symmetric Nash equilibrium of the (k+1)-player alignment game reaches f(k) = k/(k+1)
(Cai & Zheng, arXiv 2601.08777).
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

__all__ = [
    "Profile",
    "RobustWinRate",
    "__version__",
    "deviation_payoffs",
    "exploitability",
    "read_preflib",
    "robust_win_rate",
    "set_win_rate",
    "win_rate",
    "write_preflib",
]
