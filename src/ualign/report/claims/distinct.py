"""Claims (viii)-(x): what a person is shown, distinct display (each side's outputs merged).
A shared favourite caps every policy at ½ (viii); NLHF collapse becomes ½ against ¾ − ε/2 (ix);
the engine's distinct payoffs equal the strict-order closed form and a literal enumeration (x).

References: shared/spec/THEORY.md §9.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ualign.core import Profile, deviation_payoffs, robust_win_rate, win_rate
from ualign.data.generators import nlhf_collapse, random_profile
from ualign.report.claims.instances import (
    COLLAPSE_EPS,
    EQUILIBRIUM_KS,
    QUICK_EQUILIBRIUM_KS,
    shared_favourite_instance,
)
from ualign.report.claims.oracles import best_distinct_kset_lp, literal_distinct_payoffs
from ualign.report.claims.registry import (
    ClaimSpec,
    Tick,
    as_rng,
    every_case_passes,
    register,
    tick_message,
)
from ualign.report.compare import kset_robust_win_rate
from ualign.report.plots import Plot, Series
from ualign.solvers import solve_kset, solve_nlhf, solve_ualign

__all__ = ["DISTINCT_CLOSED_FORM", "NLHF_DISTINCT_COLLAPSE", "SHARED_FAVOURITE",
           "ClosedFormConfig", "ClosedFormRow", "DistinctCollapseConfig", "DistinctCollapseRow",
           "FavouriteConfig", "FavouriteRow", "measure_distinct_closed_form",
           "measure_distinct_collapse", "measure_shared_favourite"]


def _distinct_solver(profile: Profile, k: int, time_limit: float | None = None):
    """``solve_kset(profile, k, display="distinct")``: the certified best distinct k-set."""
    return solve_kset(profile, k, display="distinct", time_limit=time_limit)



@dataclasses.dataclass(frozen=True)
class FavouriteConfig:
    profile: Profile
    instance: str
    ks: tuple[int, ...] = (1, 2, 3, 4)
    tol: float = 1e-9

    @property
    def k_range(self) -> str:
        return f"{self.ks[0]}..{self.ks[-1]}"


class FavouriteRow(NamedTuple):
    k: int
    best_lp: float  # best distinct k-subset policy, LP over every k-subset
    solver_value: float  # solve_kset(display="distinct").value
    solver_upper: float  # its certified upper bound
    multiset_best: float  # the best k-multiset policy under multiset display (copies count)
    cap: float  # 1/2
    passed: bool


def measure_shared_favourite(c: FavouriteConfig, tick: Tick = None) -> tuple[FavouriteRow, ...]:
    """(viii) A shared unique favourite caps every policy at ½ under distinct display: the
    competitor shows the favourite f; a user sees f from both sides (one copy each) unless the
    policy omits it, so no k-output policy wins more than ½, and showing f wins exactly ½.

    Measured per k: the best distribution over k-subsets by the exact LP over every k-subset
    (:func:`best_distinct_kset_lp`), ``solve_kset(display="distinct")`` (value and certified
    upper bound), and, for contrast, the best k-multiset policy under multiset
    display (k copies of the favourite win k/(k+1) there). PASS when ``|best - ½| <= tol`` and
    the solver's ``upper_bound <= ½ + tol``.

    References: THEORY.md §9 (shared favourite), §7.
    """
    rows = []
    for k in c.ks:
        tick_message(tick, f"(viii) k={k}")
        best, _, _ = best_distinct_kset_lp(c.profile, k)
        res = _distinct_solver(c.profile, k)
        sv, su = float(res.value), float(res.upper_bound)
        ms = solve_kset(c.profile, k)
        ms_value = kset_robust_win_rate(c.profile, np.asarray(ms.sets), np.asarray(ms.probs))[0]
        ok = abs(best - 0.5) <= c.tol and su <= 0.5 + c.tol and abs(sv - 0.5) <= c.tol
        rows.append(FavouriteRow(k, best, sv, su, ms_value, 0.5, bool(ok)))
    return tuple(rows)


def _favourite_config(run, ks: tuple[int, ...]) -> FavouriteConfig:
    return FavouriteConfig(
        shared_favourite_instance(seed=run.seed + 3),
        f"shared favourite: 6 responses, 40 random users (ties), response 0 every user's "
        f"unique favourite, seed {run.seed + 3}", ks)


SHARED_FAVOURITE = register(ClaimSpec(
    key="viii", title="Shared favourite caps every policy at ½ (distinct display)",
    statement="Under distinct display, if every user has the same unique favourite, every "
              "k-output policy wins at most ½ against the competitor who shows it, for every k; "
              "the best distribution over k-subsets of distinct responses wins exactly ½ "
              "(k = {c.k_range}).",
    reference="THEORY.md §9",
    bound="best distinct k-set value = ½",
    columns=(("k", "k"), ("best_lp", "best distinct (LP, every k-subset)"),
             ("solver_value", "solve_kset distinct: value"),
             ("solver_upper", "upper_bound"), ("cap", "½"),
             ("multiset_best", "best k-multiset, multiset display"), ("passed", "verdict")),
    measure=measure_shared_favourite,
    verdict=every_case_passes,
    summary=lambda rows: (f"max |best distinct - ½| = "
                          f"{max(abs(r.best_lp - 0.5) for r in rows):.2g}"
                          + f"; max solver upper_bound - ½ = "
                            f"{max(r.solver_upper - 0.5 for r in rows):.2g}"
                          + f"; multiset display: {rows[-1].multiset_best:.4f} at k = "
                            f"{rows[-1].k}"),
    plots=lambda rows, c: (
        Plot("(viii) shared favourite: best policy, distinct vs multiset display",
             "responses shown, k", "best worst-case win rate",
             (Series("best distinct k-subset policy (distinct display)", [r.k for r in rows],
                     [r.best_lp for r in rows], "marked"),
              Series("best k-multiset policy (multiset display)", [r.k for r in rows],
                     [r.multiset_best for r in rows]),
              Series("½", [r.k for r in rows], [r.cap for r in rows], "dashed"))),),
    instance=lambda c, rows: c.instance,
    default=lambda run: _favourite_config(run, ks=(1, 2, 3, 4)),
    quick=lambda run: _favourite_config(run, ks=(1, 2, 3)),
    notes="The LP enumerates every k-subset (core.sets.set_win_matrix, distinct display) and "
          "its value is re-evaluated by robust_set_win_rate(display='distinct'); the solver "
          "columns are solve_kset(display='distinct'), value and certified upper bound. Under "
          "multiset display the same instance gives k/(k+1) and more: "
          "the difference is copies."))



@dataclasses.dataclass(frozen=True)
class DistinctCollapseConfig:
    profile: Profile
    eps: float
    ks: tuple[int, ...] = tuple(range(1, 33))
    tol: float = 1e-9
    seed: Any = 0

    @property
    def target(self) -> float:
        return 0.75 - self.eps / 2


class DistinctCollapseRow(NamedTuple):
    k: int
    wr_b: float  # WR(π_NLHF^⊗k, b), distinct display
    f_nlhf: float  # min_y' WR(π_NLHF^⊗k, y'), distinct display
    f_ualign: float  # π*_k^⊗k merged (shown, not judged)
    best: float | None  # best distinct k-subset policy (k <= n), LP over every k-subset
    solver_value: float | None  # solve_kset(display="distinct") (k <= n)
    target: float | None  # ¾ - ε/2 for k = 2
    passed: bool


def measure_distinct_collapse(c: DistinctCollapseConfig,
                              tick: Tick = None) -> tuple[DistinctCollapseRow, ...]:
    """(ix) NLHF collapse under distinct display (instance of claim (iii)): NLHF's k samples
    are the single response a, shown once, and win exactly ½ against a competitor showing a,
    for every k (so ``f_NLHF(k) = ½``); the best distinct policy for k >= 2 shows {a, b} and
    wins ``¾ - ε/2`` (against a: the ½+ε who rank a first split ½; the others take b).

    PASS when, for every k, ``|f_NLHF(k) - ½| <= tol`` and, at k = 2, the best distribution
    over 2-subsets (exact LP, and ``solve_kset(display="distinct")``) is within
    tol of ``¾ - ε/2``. The equilibrium π*_k, merged, is shown for contrast.

    References: THEORY.md §9 (NLHF collapse), §6.
    """
    nlhf = solve_nlhf(c.profile).policy
    n = c.profile.n_responses
    rows = []
    for k in c.ks:
        tick_message(tick, f"(ix) k={k}")
        wr_b = win_rate(c.profile, nlhf, k, 1, display="distinct")
        f_n = robust_win_rate(c.profile, nlhf, k, display="distinct").value
        f_u = robust_win_rate(c.profile, solve_ualign(c.profile, k, seed=c.seed).policy, k,
                              display="distinct").value
        best = sv = target = None
        ok = abs(f_n - 0.5) <= c.tol
        if k <= n:
            best = best_distinct_kset_lp(c.profile, k)[0]
            res = _distinct_solver(c.profile, k)
            sv = float(res.value)
        if k == 2 and best is not None:  # k = 2 <= n: the LP ran
            target = c.target
            ok = ok and abs(best - target) <= c.tol and (sv is None
                                                         or abs(sv - target) <= c.tol)
        rows.append(DistinctCollapseRow(k, wr_b, f_n, f_u, best, sv, target, bool(ok)))
    return tuple(rows)


NLHF_DISTINCT_COLLAPSE = register(ClaimSpec(
    key="ix", title="NLHF collapse under distinct display: ½ vs ¾ − ε/2",
    statement="On NLHF collapse (ε = {c.eps:g}) under distinct display NLHF's k samples are one "
              "response and win exactly ½ against it for every k, while the best policy for "
              "k >= 2 shows {{a, b}} and wins ¾ − ε/2 = {c.target:g}.",
    reference="THEORY.md §9",
    bound="f_NLHF(k) = ½ for every k; best distinct (k = 2) = ¾ − ε/2",
    columns=(("k", "k"), ("wr_b", "WR(NLHF^⊗k, b)"), ("f_nlhf", "f_NLHF(k)"),
             ("best", "best distinct (LP)"), ("solver_value", "solve_kset distinct"),
             ("target", "¾ − ε/2"), ("f_ualign", "π*_k merged (no claim)"),
             ("passed", "verdict")),
    measure=measure_distinct_collapse,
    verdict=every_case_passes,
    summary=lambda rows: (f"max |f_NLHF(k) - ½| = {max(abs(r.f_nlhf - 0.5) for r in rows):.2g} "
                          f"(k = {rows[0].k}..{rows[-1].k}); best distinct at k = 2: "
                          + ", ".join(f"{r.best:.6f} (target {r.target:.6f})"
                                      for r in rows if r.target is not None)),
    plots=lambda rows, c: (
        Plot(f"(ix) NLHF collapse (ε = {c.eps:g}), distinct display", "responses shown, k",
             "worst-case win rate, distinct display",
             (Series("NLHF sampled k times, merged", [r.k for r in rows],
                     [r.f_nlhf for r in rows], "marked", "C0"),
              Series("U-alignment equilibrium π*ₖ sampled k times, merged", [r.k for r in rows],
                     [r.f_ualign for r in rows], "marked", "C1"),
              Series("best distinct policy", [r.k for r in rows if r.best is not None],
                     [r.best for r in rows if r.best is not None], "points", "C2"),
              Series("¾ − ε/2", [r.k for r in rows], [c.target for _ in rows], "dashed"))),),
    instance=lambda c, rows: f"nlhf_collapse({c.eps:g}): a = 0, b = 1, k = "
                             f"{c.ks[0]}..{c.ks[-1]} (2-subsets exist for k <= 2)",
    default=lambda run: DistinctCollapseConfig(nlhf_collapse(COLLAPSE_EPS), COLLAPSE_EPS,
                                               EQUILIBRIUM_KS, seed=run.seed),
    quick=lambda run: DistinctCollapseConfig(nlhf_collapse(COLLAPSE_EPS), COLLAPSE_EPS,
                                             QUICK_EQUILIBRIUM_KS, seed=run.seed),
    notes="NLHF from solve_nlhf; WR and f(k) by the engine under display='distinct'; the best "
          "distinct policy by the LP over every k-subset (and solve_kset(display='distinct')). "
          "With two responses, a set of k distinct responses exists for "
          "k <= 2 only; a k-output policy for larger k still shows at most {a, b}."))



@dataclasses.dataclass(frozen=True)
class ClosedFormConfig:
    seed: Any = 0
    n_instances: int = 12
    ks: tuple[int, ...] = (1, 2, 3, 4)
    tol: float = 1e-12
    payoffs: Callable | None = None  # the engine under test (None: deviation_payoffs)


class ClosedFormRow(NamedTuple):
    k: int
    cases: int  # (instance, policy) pairs
    err_closed_form: float  # strict orders: max |engine - (a^k + ½((a+p)^k - a^k))|
    err_strict: float  # strict orders: max |engine - enumeration|
    err_ties: float  # weak orders: max |engine - enumeration|
    passed: bool

    @property
    def max_error(self) -> float:
        return max(self.err_closed_form, self.err_strict, self.err_ties)


def measure_distinct_closed_form(c: ClosedFormConfig,
                                 tick: Tick = None) -> tuple[ClosedFormRow, ...]:
    """(x) The strict-order closed form ``L^dist_u(π, y) = a^k + ½((a+p)^k - a^k)`` (a the
    π-mass user u ranks strictly below y, p = π(y)) and the engine's
    ``deviation_payoffs(display="distinct")`` against a literal enumeration of every k-tuple of
    samples (:func:`literal_distinct_payoffs`), on random strict and tied profiles (2-5
    responses, 1-8 users) with Dirichlet and point-mass policies. PASS when every error is
    <= tol.

    References: THEORY.md §9.
    """
    payoffs = c.payoffs or (lambda P, pi, k: deviation_payoffs(P, pi, k, display="distinct"))
    rng = as_rng(c.seed)
    cases = []
    for i in range(c.n_instances):
        n = int(rng.integers(2, 6))
        U = int(rng.integers(1, 9))
        P = random_profile(rng, n, U, None if i % 2 == 0 else int(rng.integers(1, n + 1)))
        pis = [rng.dirichlet(np.ones(n)), rng.dirichlet(np.full(n, 0.3)),
               np.eye(n)[int(rng.integers(0, n))]]
        cases.append((i % 2 == 0, P, pis))
    rows = []
    for k in c.ks:
        tick_message(tick, f"(x) k={k}")
        e_cf = e_s = e_t = 0.0
        count = 0
        for strict, P, pis in cases:
            for pi in pis:
                got = np.asarray(payoffs(P, pi, k))
                lit = literal_distinct_payoffs(P, pi, k)
                count += 1
                if strict:
                    lv = P.levels
                    a = (pi[None, None, :] * (lv[:, None, :] > lv[:, :, None])).sum(axis=2)
                    cf = P.weights @ (a ** k + 0.5 * ((a + pi[None, :]) ** k - a ** k))
                    e_cf = max(e_cf, float(np.abs(got - cf).max()))
                    e_s = max(e_s, float(np.abs(got - lit).max()))
                else:
                    e_t = max(e_t, float(np.abs(got - lit).max()))
        rows.append(ClosedFormRow(k, count, e_cf, e_s, e_t,
                                  max(e_cf, e_s, e_t) <= c.tol))
    return tuple(rows)


DISTINCT_CLOSED_FORM = register(ClaimSpec(
    key="x", title="Distinct display: strict-order closed form vs enumeration",
    statement="For a product policy π^⊗k under distinct display and strict orders, the "
              "competitor's share against y is L^dist_u(π, y) = a^k + ½((a+p)^k − a^k) "
              "(a: π-mass strictly worse than y, p = π(y)); the engine's "
              "deviation_payoffs(display='distinct') equals the literal rule, enumerated, "
              "with and without ties.",
    reference="THEORY.md §9",
    bound="max |engine − enumeration| and |engine − closed form| <= 1e-12",
    columns=(("k", "k"), ("cases", "(instance, policy) cases"),
             ("err_closed_form", "max |engine − closed form| (strict)"),
             ("err_strict", "max |engine − enumeration| (strict)"),
             ("err_ties", "max |engine − enumeration| (ties)"), ("passed", "verdict")),
    measure=measure_distinct_closed_form,
    verdict=every_case_passes,
    summary=lambda rows: (f"max error {max(r.max_error for r in rows):.2g}"
                          f" over k = {rows[0].k}..{rows[-1].k} ({sum(r.cases for r in rows)} "
                          f"cases)"),
    plots=lambda rows, c: (),
    instance=lambda c, rows: (f"{c.n_instances} random profiles (2-5 responses, 1-8 weighted "
                              f"users; half strict, half tied) x 3 policies (Dirichlet 1, "
                              f"Dirichlet 0.3, a point mass)"),
    default=lambda run: ClosedFormConfig(run.seed, n_instances=12, ks=(1, 2, 3, 4)),
    quick=lambda run: ClosedFormConfig(run.seed, n_instances=6, ks=(1, 2, 3)),
    notes="The enumeration draws every k-tuple of samples (n^k), merges them and applies the "
          "literal choice rule of THEORY §9 per user; the closed form is evaluated directly "
          "in NumPy."))
