"""Alignment solvers: NLHF (maximal lottery), RLHF (Bradley-Terry), the equilibrium of the
(k+1)-player alignment game, and the best k-output policy.

References: shared/spec/THEORY.md §4-7.
"""

from ualign.solvers.committees import (
    CommitteeResult,
    chamberlin_courant,
    pav,
    top_k_borda,
    top_k_utility,
)
from ualign.solvers.equilibrium import METHODS, solve_ualign
from ualign.solvers.kset import KSetResult, multiset_win_matrix, solve_kset
from ualign.solvers.nlhf import SolverError, maximal_lottery, solve_nlhf
from ualign.solvers.opponent import WorstOpponent, worst_opponent
from ualign.solvers.result import SolverResult
from ualign.solvers.rlhf import bradley_terry, solve_rlhf

__all__ = [
    "METHODS",
    "CommitteeResult",
    "KSetResult",
    "SolverError",
    "SolverResult",
    "WorstOpponent",
    "bradley_terry",
    "chamberlin_courant",
    "maximal_lottery",
    "multiset_win_matrix",
    "pav",
    "solve_kset",
    "solve_nlhf",
    "solve_rlhf",
    "solve_ualign",
    "top_k_borda",
    "top_k_utility",
    "worst_opponent",
]
