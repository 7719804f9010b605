"""The built-in solver methods, each registered once (name, options dataclass, function) in
``ualign.solvers.registry``. The order here is the order tables list them in.

Distinct-display baselines (THEORY.md §9), each returning a :class:`KSetResult` whose ``value``
is the engine's ``robust_set_win_rate(..., display="distinct")`` of what it shows:
``"kset-distinct"`` (the certified best distribution over k-subsets of distinct responses,
``solve_kset(display="distinct")``) and the committee rules ``"top-k-utility"``,
``"top-k-borda"``, ``"cc"`` (Chamberlin-Courant) and ``"pav"`` (``ualign.solvers.committees``;
one deterministic k-set of distinct responses; its ``upper_bound`` is the trivial 1, since a
committee rule certifies its own objective, not the win rate).

References: shared/spec/THEORY.md §4-7, §9.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ualign.core.payoffs import robust_set_win_rate
from ualign.solvers import committees as _committees
from ualign.solvers import dynamics as dyn
from ualign.solvers import equilibrium as eq
from ualign.solvers.diagnostics import Diagnostics
from ualign.solvers.kset import KSetOptions, KSetResult, kset_method, solve_kset
from ualign.solvers.nlhf import NLHFOptions, nlhf_method
from ualign.solvers.registry import Method, Options, check_field, register
from ualign.solvers.result import check_nonneg, check_positive
from ualign.solvers.rlhf import RLHFOptions, rlhf_method

__all__ = ["CommitteeDiagnostics", "CommitteeOptions", "KSetDistinctOptions"]


@dataclasses.dataclass(frozen=True)
class KSetDistinctOptions(Options):
    """Options of ``"kset-distinct"`` (arguments of ``solve_kset(display="distinct")``)."""

    time_limit: float | None = None
    gap_tol: float = 1e-9
    randomised: bool = True

    def __post_init__(self):
        check_field(self, "time_limit", check_nonneg)
        check_field(self, "gap_tol", check_positive)
        if not isinstance(self.randomised, bool):
            raise ValueError(f"randomised must be True or False, got {self.randomised!r}")


def kset_distinct_method(profile, k, opts: KSetDistinctOptions) -> KSetResult:
    """The registered ``"kset-distinct"``: ``solve_kset(profile, k, display="distinct")``."""
    return solve_kset(profile, k, display="distinct", randomised=opts.randomised,
                      time_limit=opts.time_limit, gap_tol=opts.gap_tol)


@dataclasses.dataclass(frozen=True)
class CommitteeOptions(Options):
    """Options of the committee baselines (``time_limit``: seconds for HiGHS, CC / PAV only)."""

    time_limit: float | None = None

    def __post_init__(self):
        check_field(self, "time_limit", check_nonneg)


@dataclasses.dataclass(frozen=True)
class CommitteeDiagnostics(Diagnostics):
    """A committee rule's own result: its objective at the set, its certified bound on the
    rule's optimum, whether the set is proven optimal for the rule, and the solver status."""

    rule: str | None = None
    rule_score: float | None = None
    rule_upper_bound: float | None = None
    rule_optimal: bool | None = None
    rule_status: str | None = None


def committee_method(rule_fn, timed: bool):
    """``fn(profile, k, opts)`` for a committee rule: its k-set deployed deterministically,
    valued by the engine under distinct display."""

    def fn(profile, k, opts: CommitteeOptions) -> KSetResult:
        t0 = time.perf_counter()
        c = rule_fn(profile, k, time_limit=opts.time_limit) if timed else rule_fn(profile, k)
        sets = np.array([sorted(int(y) for y in c.responses)], dtype=np.int64)
        probs = np.ones(1)
        rw = robust_set_win_rate(profile, sets, probs, display="distinct")
        opponent = np.zeros(profile.n_responses)
        opponent[rw.worst] = 1.0
        return KSetResult(sets=sets, probs=probs, value=rw.value, opponent=opponent,
                          upper_bound=1.0, exact=False, pricer=c.rule, iterations=1, columns=1,
                          worst_response=rw.worst, converged=bool(c.optimal),
                          seconds=time.perf_counter() - t0,
                          diagnostics=CommitteeDiagnostics(c.rule, float(c.score),
                                                           float(c.upper_bound),
                                                           bool(c.optimal), str(c.status)),
                          display="distinct")

    fn.__doc__ = f"The committee rule {rule_fn.__name__} as a deterministic k-set policy."
    return fn

register(Method("rlhf", RLHFOptions, rlhf_method, family="rlhf", k_free=True,
                labels={"compare": "rlhf"},
                summary="Bradley-Terry rewards, then the greedy or KL-regularised policy"))
register(Method("nlhf", NLHFOptions, nlhf_method, family="nlhf", k_free=True,
                labels={"compare": "nlhf", "select": "nlhf"},
                summary="maximal lottery (k = 1 equilibrium), or its KL-regularised version"))
register(Method("auto", eq.AutoOptions, eq.ualign_method(eq.auto), family="ualign",
                labels={"compare": "ualign", "select": "ualign"},
                summary="(k+1)-player equilibrium: column generation + Josephy-Newton, certified"))
register(Method("hedge", eq.HedgeOptions, eq.ualign_method(eq.hedge), family="ualign",
                summary="Hedge self-play, averaged iterate"))
register(Method("optimistic", eq.LastIterateOptions,
                eq.ualign_method(eq.last_iterate("optimistic", dyn.optimistic)),
                family="ualign", summary="optimistic multiplicative weights, last iterate"))
register(Method("extragradient", eq.LastIterateOptions,
                eq.ualign_method(eq.last_iterate("extragradient", dyn.extragradient)),
                family="ualign", summary="entropic mirror prox, last iterate"))
register(Method("mmd", eq.MMDOptions, eq.ualign_method(eq.mmd), family="ualign",
                summary="magnetic mirror descent to the KL-regularised equilibrium"))
register(Method("kset", KSetOptions, kset_method, family="kset", output="kset",
                labels={"compare": "kset", "select": "ualign-kset"},
                summary="best k-output policy (distribution over k-multisets), LP"))
register(Method("kset-distinct", KSetDistinctOptions, kset_distinct_method, family="kset",
                output="kset", labels={"compare": "kset-distinct"}, displays=("distinct",),
                summary="best distribution over k-subsets of distinct responses, certified"))
for _name, _fn, _timed, _summary in (
        ("top-k-utility", _committees.top_k_utility, False, "k largest mean utilities"),
        ("top-k-borda", _committees.top_k_borda, False, "k largest mean Borda scores"),
        ("cc", _committees.chamberlin_courant, True,
         "Chamberlin-Courant committee on the favourite (Polis: agree) approvals"),
        ("pav", _committees.pav, True,
         "proportional approval voting committee on the favourite (Polis: agree) approvals")):
    register(Method(_name, CommitteeOptions, committee_method(_fn, _timed), family="committee",
                    output="kset", labels={"compare": _name}, displays=("distinct",),
                    summary=_summary))
