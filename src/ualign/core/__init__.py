"""Core maths: preference profiles, exact win rates, the (k+1)-player alignment game."""

from ualign.core.payoffs import (
    RobustWinRate,
    deviation_payoffs,
    exploitability,
    robust_set_win_rate,
    robust_win_rate,
    set_win_rate,
    win_rate,
)
from ualign.core.preflib import read_preflib, write_preflib
from ualign.core.profile import Profile

__all__ = [
    "Profile",
    "RobustWinRate",
    "deviation_payoffs",
    "exploitability",
    "read_preflib",
    "robust_set_win_rate",
    "robust_win_rate",
    "set_win_rate",
    "win_rate",
    "write_preflib",
]
