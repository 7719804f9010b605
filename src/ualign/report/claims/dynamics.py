"""Claims (vi) and (vii): self-play dynamics. Hedge's sampled-iterate policy keeps
k/(k+1) - sqrt(log n / (2T)) (vi); optimistic mirror descent and extragradient converge in the
last iterate, magnetic mirror descent linearly to its regularised equilibrium (vii).

References: shared/spec/THEORY.md §5.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ualign.core import Profile, deviation_payoffs, robust_win_rate
from ualign.report.claims.instances import heterogeneous_instance
from ualign.report.claims.registry import (
    ClaimSpec,
    Tick,
    every_case_passes,
    register,
    run_claim,
    tick_message,
)
from ualign.report.plots import Plot, Series
from ualign.report.results import ClaimRow
from ualign.solvers import dynamics as dyn
from ualign.solvers import solve_ualign
from ualign.solvers.diagnostics import HedgeDiagnostics, MMDDiagnostics

D = TypeVar("D")

__all__ = ["HEDGE_SAMPLED_ITERATE", "LAST_ITERATE", "HedgeConfig", "HedgeRow",
           "LastIterateConfig", "LastIterateRow", "claim_hedge_sampled_iterate",
           "claim_last_iterate", "measure_hedge_sampled_iterate", "measure_last_iterate"]


# ------------------------------------------------------------------------------ claim (vi)
@dataclasses.dataclass(frozen=True)
class HedgeConfig:
    profile: Profile
    instance: str
    ks: tuple[int, ...] = (1, 2, 4, 8)
    Ts: tuple[int, ...] = (10, 100, 1000, 4000)
    tol: float = 1e-12
    seed: Any = 0


class HedgeRow(NamedTuple):
    k: int
    T: int  # iterates asked for
    iterates: int  # iterates averaged by the solver
    sampled: float  # robust WR of the sampled-iterate policy (exact)
    averaged: float  # robust WR of the averaged policy π̄^⊗k (re-evaluated)
    bound: float  # k/(k+1) - sqrt(log n / (2T))
    target: float  # k/(k+1)
    shortfall: float  # k/(k+1) - sampled
    rate: float  # sqrt(log n / (2T))
    passed: bool


def measure_hedge_sampled_iterate(c: HedgeConfig, tick: Tick = None) -> tuple[HedgeRow, ...]:
    """(vi) Hedge self-play with ``η = sqrt(8 log n / T)`` over T iterates: the deployed policy
    "draw t uniformly from the T iterates, then k samples of π_t" has worst-case win rate
    ``1 - max_y (1/T) Σ_t L(π_t, y) >= k/(k+1) - sqrt(log n / (2T))``; by convexity of
    ``L(·, y)`` the averaged policy ``π̄^{⊗k}`` does at least as well.

    Runs ``solve_ualign(method="hedge", max_iter=T, eta=sqrt(8 log n / T))``: for Hedge the
    solver's ``max_iter`` counts the played iterates, i.e. the initial uniform iterate plus T-1
    updates = T iterates (the solver reports them as ``averaged_iterates``; the bound uses that
    count). The sampled-iterate value is the solver's exact running sum of payoffs; the averaged
    policy is re-evaluated by the core engine. PASS when both are >= the bound - tol for every
    (k, T).

    References: THEORY.md §5 (Hedge).
    """
    n = c.profile.n_responses
    rows = []
    for k in c.ks:
        for T in c.Ts:
            tick_message(tick, f"(vi) hedge k={k} T={T}")
            eta = math.sqrt(8.0 * math.log(n) / T)
            # no seed: Hedge is deterministic (a seed is only recorded, and recording it
            # rebuilds the result with untyped diagnostics today)
            res = solve_ualign(c.profile, k, method="hedge", max_iter=T, eta=eta, tol=1e-15)
            diag = _diagnostics(res, HedgeDiagnostics)
            T_run = int(diag.averaged_iterates)
            sampled = float(diag.sampled_iterate_robust_win_rate)
            avg = robust_win_rate(c.profile, res.policy, k).value
            rate = math.sqrt(math.log(n) / (2 * T_run))
            bound = k / (k + 1) - rate
            rows.append(HedgeRow(k, T, T_run, sampled, avg, bound, k / (k + 1),
                                 k / (k + 1) - sampled, rate,
                                 sampled >= bound - c.tol and avg >= bound - c.tol))
    return tuple(rows)


def _hedge_plots(rows, c) -> tuple[Plot, ...]:
    series = []
    for k in c.ks:
        pts = [r for r in rows if r.k == k]
        series.append(Series(f"k = {k}", [r.iterates for r in pts],
                             [r.shortfall for r in pts]))
    first = [r for r in rows if r.k == c.ks[0]]
    series.append(Series("Hedge bound, √(log n / (2T))", [r.iterates for r in first],
                         [r.rate for r in first], "dashed"))
    return (Plot("(vi) Hedge self-play: shortfall of the sampled-iterate policy",
                 "self-play iterates, T",
                 "shortfall of the sampled iterate, k/(k+1) − f(k)", tuple(series), logx=True,
                 logy=True),)


def _hedge_config(run, ks: tuple[int, ...], Ts: tuple[int, ...]) -> HedgeConfig:
    name, P = heterogeneous_instance()
    return HedgeConfig(P, name, ks, Ts, seed=run.seed)


HEDGE_SAMPLED_ITERATE = register(ClaimSpec(
    key="vi", title="Hedge self-play: sampled-iterate guarantee",
    statement="Hedge self-play with η = sqrt(8 log n / T): the policy 'draw t uniformly, then "
              "k samples of π_t' has worst-case win rate >= k/(k+1) - sqrt(log n / (2T)); "
              "the averaged policy π̄^⊗k as well.",
    reference="THEORY.md §5",
    bound="f >= k/(k+1) - sqrt(log n/(2T))",
    columns=(("k", "k"), ("T", "T"), ("iterates", "iterates"),
             ("sampled", "f sampled iterate"), ("averaged", "f averaged π̄"), ("bound", "bound"),
             ("target", "k/(k+1)"), ("shortfall", "shortfall"),
             ("rate", "sqrt(log n/(2T))"), ("passed", "verdict")),
    measure=measure_hedge_sampled_iterate,
    verdict=every_case_passes,
    summary=lambda rows: (f"min over cases of f(sampled) - bound = "
                          f"{min(r.sampled - r.bound for r in rows):.3g}; max shortfall / "
                          f"sqrt(log n/(2T)) = {max(r.shortfall / r.rate for r in rows):.3g}"),
    plots=_hedge_plots,
    instance=lambda c, rows: c.instance,
    default=lambda run: _hedge_config(run, ks=(1, 2, 4, 8), Ts=(10, 100, 1000, 10000)),
    quick=lambda run: _hedge_config(run, ks=(1, 4), Ts=(10, 100, 1000)),
    notes="solve_ualign(method='hedge'); the sampled-iterate value is exact (mean of the "
          "payoff vectors L(π_t, ·) seen), the averaged policy is re-evaluated afresh."))


def claim_hedge_sampled_iterate(profile: Profile, instance: str, ks: Sequence[int] = (1, 2, 4, 8),
                                Ts: Sequence[int] = (10, 100, 1000, 4000), tol: float = 1e-12,
                                seed=0, tick: Tick = None) -> ClaimRow:
    """(vi) measured with these arguments (see :func:`measure_hedge_sampled_iterate`)."""
    return run_claim(HEDGE_SAMPLED_ITERATE,
                     HedgeConfig(profile, instance, tuple(ks), tuple(Ts), tol, seed), tick)



# ----------------------------------------------------------------------------- claim (vii)
@dataclasses.dataclass(frozen=True)
class LastIterateConfig:
    profile: Profile
    instance: str
    ks: tuple[int, ...] = (2, 8)
    T: int = 2000
    tau: float = 0.01
    residual_tol: float = 1e-6
    mmd_max_iter: int = 50000
    tol: float = 1e-9
    seed: Any = 0


class LastIterateRow(NamedTuple):
    k: int
    dynamics: str  # "optimistic", "extragradient", "mmd" or "hedge (last iterate)"
    iterations: int
    e0: float  # e(π_0)
    eT: float  # e(π_T)
    limit: float | None  # e(π_0)/√T, or MMD's τ·max log(π_τ/μ); None for Hedge (no claim)
    residual: float | None  # MMD's fixed-point residual at the end
    residual_tol: float | None  # MMD's residual target
    passed: bool | None  # None: drawn for contrast, not judged
    trace: tuple  # (iteration, exploitability) pairs of the current iterate

    @property
    def bound_text(self) -> str:
        if self.passed is None:
            return "(no claim)"
        if self.dynamics == "mmd":
            return (f"<= τ·max log(π_τ/μ) = {self.limit:.3g} (residual {self.residual:.2g} <= "
                    f"{self.residual_tol:g} after {self.iterations} steps)")
        return f"<= e(π_0)/√T = {self.limit:.3g}"


def _diagnostics(res, kind: type[D]) -> D:
    """``res.diagnostics``, checked to be the method's typed diagnostics ``kind``."""
    if not isinstance(res.diagnostics, kind):
        raise TypeError(f"{res.method} returned {type(res.diagnostics).__name__}, not "
                        f"{kind.__name__}")
    return res.diagnostics


def _hedge_last_iterate_trace(profile: Profile, k: int, T: int) -> list:
    """The (iteration, exploitability) trace of Hedge's current iterate, η = sqrt(8 log n / T),
    by the solvers' own dynamics (``dynamics.hedge`` driven by ``dynamics.run``): at step t the
    iterate ``w_t`` the next round plays, ``e(w_t) = max_y L(w_t, y) - 1/(k+1)``."""
    n = profile.n_responses
    eta = math.sqrt(8.0 * math.log(n) / T)
    target = 1.0 / (k + 1)

    def oracle(pi):
        return deviation_payoffs(profile, pi, k)

    def exploitability(state, it):
        return float(oracle(state.w).max() - target), 1, False

    return dyn.run(dyn.hedge(oracle, eta), exploitability, pi0=np.full(n, 1.0 / n),
                   max_iter=T).trace


def _last_iterate_row(c: LastIterateConfig, k: int, method: str) -> LastIterateRow:
    if method == "mmd":
        res = solve_ualign(c.profile, k, method="mmd", max_iter=c.mmd_max_iter,  # no seed: (vi)
                           tol=c.residual_tol, tau=c.tau)
        diag = _diagnostics(res, MMDDiagnostics)
        resid, kl = float(diag.residual), float(diag.kl_bound)
        return LastIterateRow(k, method, res.iterations, res.trace[0][1], res.exploitability,
                              kl, resid, c.residual_tol,
                              resid <= c.residual_tol and res.exploitability <= kl + c.tol,
                              tuple(res.trace))
    res = solve_ualign(c.profile, k, method=method, max_iter=c.T, tol=1e-15, seed=c.seed)
    e0 = res.trace[0][1]
    env = e0 / math.sqrt(res.iterations)
    return LastIterateRow(k, method, res.iterations, e0, res.exploitability, env, None, None,
                          res.exploitability <= env + c.tol, tuple(res.trace))


def measure_last_iterate(c: LastIterateConfig, tick: Tick = None) -> tuple[LastIterateRow, ...]:
    """(vii) Last-iterate convergence of the self-play dynamics (exploitability of the current
    iterate π_t against iteration t):

    - optimistic mirror descent and extragradient converge in the last iterate (gap O(1/√T));
      checked as ``e(π_T) <= e(π_0)/√T``, the O(1/√T) envelope anchored at the uniform start
      (THEORY.md gives the rate, not the constant: the anchor is this report's choice);
    - magnetic mirror descent (KL to uniform μ, strength τ) converges linearly to π_τ with
      ``max_y L(π_τ, y) <= 1/(k+1) + τ max_y log(π_τ(y)/μ(y))``; run until its fixed-point
      residual ``‖π_t - softmax(log μ + L(π_t)/τ)‖_1 <= residual_tol`` (at most
      ``mmd_max_iter`` steps; not reaching it is a FAIL), then the bound is checked there;
    - Hedge's last iterate (η = sqrt(8 log n / T)) is drawn for contrast, without a claim.

    References: THEORY.md §5.
    """
    rows = []
    for k in c.ks:
        for method in ("optimistic", "extragradient", "mmd"):
            tick_message(tick, f"(vii) {method} k={k}")
            rows.append(_last_iterate_row(c, k, method))
        tick_message(tick, f"(vii) hedge k={k}")
        trace = _hedge_last_iterate_trace(c.profile, k, c.T)
        rows.append(LastIterateRow(k, "hedge (last iterate)", c.T, trace[0][1], trace[-1][1],
                                   None, None, None, None, tuple(trace)))
    return tuple(rows)


def _thin(trace, m: int = 120):
    """At most ~m points of a trace, log-spaced in the iteration (first and last kept)."""
    if len(trace) <= m:
        return list(trace)
    idx = np.unique(np.round(np.geomspace(1, len(trace), m)).astype(int) - 1)
    return [trace[0]] + [trace[i] for i in idx if i > 0]


def _last_iterate_bounds(rows) -> list[Series]:
    """The bounds the (vii) verdicts use, as reference lines: the envelope ``e(π_0)/√t`` of
    optimistic / extragradient (judged at t = T) and MMD's ``τ·max log(π_τ/μ)``."""
    out = []
    env = [r for r in rows if r.dynamics in ("optimistic", "extragradient")]
    if env:
        e0, T = env[0].e0, max(r.iterations for r in env)
        ts = sorted({int(t) for t in np.geomspace(1, max(T, 1), 60)} | {T})
        out.append(Series("optimistic / extragradient bound, e(π₀)/√t", ts,
                          [e0 / math.sqrt(t) for t in ts], "dashed"))
    for r in rows:
        if r.dynamics == "mmd" and r.limit is not None and r.limit > 0:
            out.append(Series("MMD bound, τ·max log(π(τ)/μ)", [1, max(r.iterations, 1)],
                              [r.limit, r.limit], "dashed"))
    return out


def _last_iterate_plots(rows, c) -> tuple[Plot, ...]:
    plots = []
    for k in c.ks:
        series = []
        for r in rows:
            if r.k != k:
                continue
            tr = [(max(i, 1), e) for i, e in r.trace]  # iteration 0 drawn at 1 (log axis)
            label = r.dynamics if r.passed is not None else "hedge (last iterate, no claim)"
            its, values = zip(*_thin(tr), strict=True)
            series.append(Series(label, its, values))
        series.extend(_last_iterate_bounds([r for r in rows if r.k == k]))
        plots.append(Plot(f"(vii) last-iterate exploitability, k = {k}", "iteration, t",
                          "exploitability, max over y of L(πₜ, y) − 1/(k+1)", tuple(series),
                          logx=True, logy=True))
    return tuple(plots)


def _last_iterate_config(run, ks: tuple[int, ...], T: int) -> LastIterateConfig:
    name, P = heterogeneous_instance()
    return LastIterateConfig(P, name, ks, T, seed=run.seed)


LAST_ITERATE = register(ClaimSpec(
    key="vii", title="Last-iterate convergence of the dynamics",
    statement="Optimistic mirror descent and extragradient converge in the last iterate "
              "(exploitability O(1/√T)); magnetic mirror descent converges linearly to the "
              "KL-regularised equilibrium π_τ, whose exploitability is at most "
              "τ·max_y log(π_τ(y)/μ(y)).",
    reference="THEORY.md §5",
    bound="e(π_T) <= e(π_0)/√T (optimistic, extragradient); MMD: e <= τ·max log(π_τ/μ)",
    columns=(("k", "k"), ("dynamics", "dynamics"), ("iterations", "iterations"),
             ("e0", "e(π_0)"), ("eT", "e(π_T)"), ("bound_text", "bound"), ("passed", "verdict")),
    measure=measure_last_iterate,
    verdict=every_case_passes,
    summary=lambda rows: "; ".join(f"k={r.k} {r.dynamics}: e(π_T) = {r.eT:.2e}" for r in rows
                                   if r.passed is not None),
    plots=_last_iterate_plots,
    instance=lambda c, rows: (f"{c.instance}; T = {c.T} (MMD: until its fixed-point residual "
                              f"<= {c.residual_tol:g}), τ = {c.tau:g}, μ uniform"),
    default=lambda run: _last_iterate_config(run, ks=(2, 8), T=2000),
    quick=lambda run: _last_iterate_config(run, ks=(2,), T=1000),
    notes="solve_ualign(method='optimistic' / 'extragradient' / 'mmd') traces (exploitability "
          "of the current iterate every step); Hedge's last iterate by the solvers' own "
          "dynamics.hedge. e(π) = max_y L(π, y) - 1/(k+1)."))


def claim_last_iterate(profile: Profile, instance: str, ks: Sequence[int] = (2, 8),
                       T: int = 2000, tau: float = 0.01, residual_tol: float = 1e-6,
                       mmd_max_iter: int = 50000, tol: float = 1e-9, seed=0,
                       tick: Tick = None) -> ClaimRow:
    """(vii) measured with these arguments (see :func:`measure_last_iterate`)."""
    return run_claim(LAST_ITERATE,
                     LastIterateConfig(profile, instance, tuple(ks), T, tau, residual_tol,
                                       mmd_max_iter, tol, seed), tick)
