"""Alignment solvers: NLHF (maximal lottery), RLHF (Bradley-Terry), the equilibrium of the
(k+1)-player alignment game, and the best k-output policy.

Every method is registered once in :mod:`ualign.solvers.registry` (see
``ualign.solvers.methods``); every result satisfies the :class:`Certified` protocol.

References: shared/spec/THEORY.md §4-7.
"""

from ualign.solvers import methods as _methods  # noqa: F401 (registers the built-in methods)
from ualign.solvers import registry
from ualign.solvers._talk import StoppedEarlyWarning
from ualign.solvers.committees import (
    CommitteeResult,
    chamberlin_courant,
    pav,
    top_k_borda,
    top_k_utility,
)
from ualign.solvers.equilibrium import solve_ualign
from ualign.solvers.kset import KSetResult, kset_lp, multiset_win_matrix, solve_kset
from ualign.solvers.nlhf import maximal_lottery, solve_nlhf
from ualign.solvers.opponent import WorstOpponent, worst_opponent
from ualign.solvers.result import Certified, SolverError, SolverResult
from ualign.solvers.rlhf import bradley_terry, solve_rlhf

#: the methods of ``solve_ualign`` (the registry's ``"ualign"`` family)
METHODS = registry.names("ualign")

__all__ = [
    "METHODS",
    "Certified",
    "CommitteeResult",
    "KSetResult",
    "SolverError",
    "SolverResult",
    "StoppedEarlyWarning",
    "WorstOpponent",
    "bradley_terry",
    "chamberlin_courant",
    "kset_lp",
    "maximal_lottery",
    "multiset_win_matrix",
    "pav",
    "registry",
    "solve_kset",
    "solve_nlhf",
    "solve_rlhf",
    "solve_ualign",
    "top_k_borda",
    "top_k_utility",
    "worst_opponent",
]
