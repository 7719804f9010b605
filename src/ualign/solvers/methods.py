"""The built-in solver methods, each registered once (name, options dataclass, function) in
``ualign.solvers.registry``. The order here is the order tables list them in.

Distinct-display baselines (THEORY.md §9), each returning a :class:`KSetResult` whose ``value``
is the engine's ``robust_set_win_rate(..., display="distinct")`` of what it shows:
``"kset-distinct"`` (the certified best distribution over k-subsets of distinct responses,
``solve_kset(display="distinct")``) and the committee rules ``"top-k-utility"``,
``"top-k-borda"``, ``"cc"`` (Chamberlin-Courant) and ``"pav"`` (``ualign.solvers.committees``;
one deterministic k-set of distinct responses; its ``upper_bound`` is the trivial 1, since a
committee rule certifies its own objective, not the win rate).

Selection baselines (family ``"baseline"``, offered by ``ualign.llm.select`` only): ``"best-of-n"``
(the k responses of highest mean utility ``Σ_u w_u s_u(y)``, from the raw ``scores`` of
:class:`BaselineOptions` or the mean normalised rank) and ``"sampling"`` (the first k
responses: k plain samples of the language model). Each shows one deterministic set of k
distinct responses, valued like a committee rule.

References: shared/spec/THEORY.md §4-7, §9.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ualign.core.checks import check_count, check_profile
from ualign.core.payoffs import robust_set_win_rate
from ualign.solvers import committees as _committees
from ualign.solvers import dynamics as dyn
from ualign.solvers import equilibrium as eq
from ualign.solvers.diagnostics import Diagnostics
from ualign.solvers.kset import (
    KSetDistinctOptions,
    KSetOptions,
    KSetResult,
    kset_distinct,
    kset_multiset,
)
from ualign.solvers.nlhf import NLHFOptions, nlhf_method
from ualign.solvers.registry import Method, Options, check_field, register
from ualign.solvers.result import check_nonneg
from ualign.solvers.rlhf import RLHFOptions, rlhf_method

__all__ = ["BaselineDiagnostics", "BaselineOptions", "CommitteeOptions"]


@dataclasses.dataclass(frozen=True)
class CommitteeOptions(Options):
    """Options of the committee baselines (``time_limit``: seconds for HiGHS, CC / PAV only)."""

    time_limit: float | None = None

    def __post_init__(self):
        check_field(self, "time_limit", check_nonneg)


def _one_set(profile, responses, *, pricer: str, converged: bool, t0: float,
             diagnostics: Diagnostics) -> KSetResult:
    """One k-set of distinct responses deployed deterministically, valued by the engine under
    distinct display (``upper_bound`` the trivial 1: the rule certifies no win rate)."""
    sets = np.array([sorted(int(y) for y in responses)], dtype=np.int64)
    probs = np.ones(1)
    rw = robust_set_win_rate(profile, sets, probs, display="distinct")
    opponent = np.zeros(profile.n_responses)
    opponent[rw.worst] = 1.0
    return KSetResult(sets=sets, probs=probs, value=rw.value, opponent=opponent,
                      upper_bound=1.0, exact=False, pricer=pricer, iterations=1, columns=1,
                      worst_response=rw.worst, converged=converged,
                      seconds=time.perf_counter() - t0, diagnostics=diagnostics,
                      display="distinct")


def committee_method(rule_fn, timed: bool):
    """``fn(profile, k, opts)`` for a committee rule: its k-set deployed deterministically,
    valued by the engine under distinct display; its diagnostics are the committee's, with
    the rule's own result (``rule_score``, ``rule_upper_bound``, ...) filled in."""

    def fn(profile, k, opts: CommitteeOptions) -> KSetResult:
        t0 = time.perf_counter()
        c = rule_fn(profile, k, time_limit=opts.time_limit) if timed else rule_fn(profile, k)
        diagnostics = dataclasses.replace(c.diagnostics, rule=c.rule, rule_score=float(c.score),
                                          rule_upper_bound=float(c.upper_bound),
                                          rule_optimal=bool(c.optimal),
                                          rule_status=str(c.status))
        return _one_set(profile, c.responses, pricer=c.rule, converged=bool(c.optimal), t0=t0,
                        diagnostics=diagnostics)

    fn.__doc__ = f"The committee rule {rule_fn.__name__} as a deterministic k-set policy."
    return fn


def _check_real_array(value, name: str) -> np.ndarray:
    """``value`` as a read-only float array (its shape is checked where it is used)."""
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of real numbers, got "
                         f"{type(value).__name__} {value!r:.40}") from e
    a.setflags(write=False)
    return a


@dataclasses.dataclass(frozen=True)
class BaselineOptions(Options):
    """Options of the selection baselines (``"sampling"`` ignores them).

    scores: ``(U, N)`` raw utilities of the selection users (``"best-of-n"``; NaN counts as the
      lowest score; default: the mean normalised rank ``1 - level/(N-1)``, a Borda score).
    weights: ``(U,)`` weights of the rows of ``scores`` (default: the profile's weights when
      the row counts match, else uniform; pass them, since a Profile merges identical rows).
    """

    scores: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __post_init__(self):
        check_field(self, "scores", _check_real_array)
        check_field(self, "weights", _check_real_array)


@dataclasses.dataclass(frozen=True)
class BaselineDiagnostics(Diagnostics):
    """A baseline's rule, and for ``"best-of-n"`` the mean utility of each shown response in
    the order it was chosen (highest first)."""

    rule: str | None = None
    mean_utility: tuple[float, ...] | None = None


def best_of_n(profile, k: int, opts: BaselineOptions) -> tuple[np.ndarray, tuple[float, ...]]:
    """The k responses of highest mean utility ``Σ_u w_u s_u(y)`` (ties: lower index first)
    and their mean utilities, highest first."""
    n = profile.n_responses
    if opts.scores is None:
        util = 1.0 - profile.levels / max(n - 1, 1)
    else:
        util = opts.scores
        if util.ndim != 2 or util.shape[1] != n:
            raise ValueError(f"scores must have shape (U, {n}), got {util.shape}")
        util = np.where(np.isnan(util), np.nanmin(util), util)
    if opts.weights is not None:
        w = opts.weights
        if w.shape != (util.shape[0],):
            raise ValueError(f"weights must have shape ({util.shape[0]},) (one per row of "
                             f"scores), got {w.shape}")
        w = w / w.sum()
    elif util.shape[0] == profile.n_users:
        w = profile.weights
    else:
        w = np.full(util.shape[0], 1.0 / util.shape[0])
    mean = w @ util
    top = np.argsort(-mean, kind="stable")[:k]
    return top, tuple(float(mean[i]) for i in top)


def first_k(profile, k: int, opts: BaselineOptions) -> tuple[np.ndarray, None]:
    """The first k responses (k plain samples of the language model)."""
    return np.arange(k), None


def baseline_method(rule_fn):
    """``fn(profile, k, opts)`` for a selection baseline: its k distinct responses deployed
    deterministically (k <= N), valued by the engine under distinct display."""

    def fn(profile, k, opts: BaselineOptions) -> KSetResult:
        t0 = time.perf_counter()
        check_profile(profile)
        k = check_count(k, "k", " (responses shown)")
        n = profile.n_responses
        if k > n:
            raise ValueError(f"k={k} is larger than the N={n} responses; a baseline shows k "
                             f"distinct responses, so it needs k <= N")
        shown, mean_utility = rule_fn(profile, k, opts)
        return _one_set(profile, shown, pricer=rule_fn.__name__, converged=True, t0=t0,
                        diagnostics=BaselineDiagnostics(rule_fn.__name__, mean_utility))

    fn.__doc__ = f"The selection baseline {rule_fn.__name__} as a deterministic k-set policy."
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
register(Method("kset", KSetOptions, kset_multiset, family="kset", output="kset",
                labels={"compare": "kset", "select": "ualign-kset"},
                summary="best k-output policy (distribution over k-multisets), LP"))
register(Method("kset-distinct", KSetDistinctOptions, kset_distinct, family="kset",
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
register(Method("best-of-n", BaselineOptions, baseline_method(best_of_n), family="baseline",
                output="kset", labels={"select": "best-of-n"}, displays=("distinct",),
                summary="k responses of highest mean utility (RLHF-like: one reward for all)"))
register(Method("sampling", BaselineOptions, baseline_method(first_k), family="baseline",
                output="kset", labels={"select": "sampling"}, displays=("distinct",),
                summary="the first k responses: k plain samples of the language model"))
