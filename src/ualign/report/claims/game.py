"""Claims (i) and (ii): the (k+1)-player game's equilibrium reaches k/(k+1), and no product
policy exceeds it (the copying opponent).

References: shared/spec/THEORY.md §3 (copying opponent), §4 (the (k+1)-player game and its
equilibrium).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ualign.core import Profile, deviation_payoffs, robust_win_rate
from ualign.data.generators import random_profile
from ualign.report.claims.instances import (
    EQUILIBRIUM_KS,
    QUICK_EQUILIBRIUM_KS,
    heterogeneous_instance,
)
from ualign.report.claims.registry import (
    ClaimSpec,
    Tick,
    as_rng,
    every_case_passes,
    register,
    run_claim,
    tick_message,
)
from ualign.report.plots import Plot, Series
from ualign.report.results import ClaimRow
from ualign.solvers import solve_ualign

__all__ = ["COPYING_OPPONENT", "UALIGN_EQUILIBRIUM", "CopyingConfig", "CopyingRow",
           "EquilibriumConfig", "EquilibriumRow", "claim_copying_opponent",
           "claim_ualign_equilibrium", "measure_copying_opponent", "measure_ualign_equilibrium"]


# ------------------------------------------------------------------------------ claim (i)
@dataclasses.dataclass(frozen=True)
class EquilibriumConfig:
    profile: Profile
    instance: str
    ks: tuple[int, ...] = tuple(range(1, 33))
    tol: float = 1e-6
    seed: Any = 0


class EquilibriumRow(NamedTuple):
    k: int
    f: float  # robust win rate of π*_k^⊗k, re-evaluated
    bound: float  # k/(k+1)
    gap: float  # f - k/(k+1)
    support: int  # responses with π*_k(y) > 1e-6
    iterations: int
    converged: bool
    seconds: float
    passed: bool


def measure_ualign_equilibrium(c: EquilibriumConfig,
                               tick: Tick = None) -> tuple[EquilibriumRow, ...]:
    """(i) The symmetric NE π*_k of the (k+1)-player game gives ``f(k) = k/(k+1)``:
    ``min_y' WR(π*_k^{⊗k}, y') = 1 - max_y L(π*_k, y) >= k/(k+1)``.

    π*_k comes from ``ualign.solvers.solve_ualign``; its robust win rate is evaluated afresh by
    the core engine. PASS when ``f(k) >= k/(k+1) - tol`` for every k (by claim (ii) it cannot
    exceed k/(k+1)). One untimed solve at the first k comes first, so that the seconds column
    does not charge numba's compilation to it.

    References: THEORY.md §4 (theorem and proof).
    """
    rows = []
    if c.ks:  # warm-up, untimed: numba compiles its kernels here, not inside k = ks[0]'s time
        warm = solve_ualign(c.profile, c.ks[0], seed=c.seed)
        robust_win_rate(c.profile, warm.policy, c.ks[0])
    for k in c.ks:
        tick_message(tick, f"(i) k={k}")
        t1 = time.perf_counter()
        res = solve_ualign(c.profile, k, seed=c.seed)
        f = robust_win_rate(c.profile, res.policy, k).value
        rows.append(EquilibriumRow(k, f, k / (k + 1), f - k / (k + 1),
                                   int((res.policy > 1e-6).sum()), res.iterations,
                                   bool(res.converged), time.perf_counter() - t1,
                                   f >= k / (k + 1) - c.tol))
    return tuple(rows)


def _equilibrium_config(run, ks: tuple[int, ...]) -> EquilibriumConfig:
    name, P = heterogeneous_instance()
    return EquilibriumConfig(P, name, ks, seed=run.seed)


UALIGN_EQUILIBRIUM = register(ClaimSpec(
    key="i", title="U-alignment equilibrium reaches k/(k+1)",
    statement="Sampling k times from a symmetric Nash equilibrium π*_k of the (k+1)-player "
              "alignment game is (k, k/(k+1))-robustly aligned: min_y' WR(π*_k^⊗k, y') >= "
              "k/(k+1).",
    reference="THEORY.md §4",
    bound="f(k) >= k/(k+1)",
    columns=(("k", "k"), ("f", "f(k) measured"), ("bound", "k/(k+1)"),
             ("gap", "f(k) - k/(k+1)"), ("support", "support"), ("iterations", "iterations"),
             ("converged", "converged"), ("seconds", "seconds"), ("passed", "verdict")),
    measure=measure_ualign_equilibrium,
    verdict=every_case_passes,
    summary=lambda rows: (f"min over k = {rows[0].k}..{rows[-1].k} of f(k) - k/(k+1) = "
                          f"{min(r.gap for r in rows):.3g}"),
    plots=lambda rows, c: (
        Plot(f"(i) U-alignment f(k) on {c.instance.split(':')[0]}", "responses shown, k",
             "worst-case win rate, f(k)",
             (Series("U-alignment equilibrium sampled k times, π*ₖ⊗ᵏ", [r.k for r in rows],
                     [r.f for r in rows]),
              Series("k/(k+1)", [r.k for r in rows], [r.bound for r in rows], "dashed"))),),
    instance=lambda c, rows: c.instance,
    default=lambda run: _equilibrium_config(run, EQUILIBRIUM_KS),
    quick=lambda run: _equilibrium_config(run, QUICK_EQUILIBRIUM_KS),
    notes="π*_k from solve_ualign (default certified method); f(k) re-evaluated by the core "
          "engine's exact payoffs."))


def claim_ualign_equilibrium(profile: Profile, instance: str, ks: Sequence[int] = range(1, 33),
                             tol: float = 1e-6, seed=0, tick: Tick = None) -> ClaimRow:
    """(i) measured with these arguments (see :func:`measure_ualign_equilibrium`)."""
    return run_claim(UALIGN_EQUILIBRIUM,
                     EquilibriumConfig(profile, instance, tuple(int(k) for k in ks), tol, seed),
                     tick)



# ------------------------------------------------------------------------------ claim (ii)
@dataclasses.dataclass(frozen=True)
class CopyingConfig:
    seed: Any = 0
    n_instances: int = 24
    n_policies: int = 64
    ks: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32)
    tol: float = 1e-9


class CopyingRow(NamedTuple):
    k: int
    policies: int
    best_random: float  # max robust WR over the random product policies
    best_equilibrium: float  # max robust WR over the equilibria π*_k
    bound: float  # k/(k+1)
    excess: float  # max of both - k/(k+1)
    copy_error: float  # max |WR(π^⊗k, π) - k/(k+1)|
    passed: bool


def _random_policies(rng: np.random.Generator, n: int, n_policies: int) -> np.ndarray:
    """``(n_policies, n)``: Dirichlet with concentration 0.1, 1 and 10 (a quarter each), then
    point masses."""
    m = n_policies // 4
    return np.concatenate([rng.dirichlet(np.full(n, 0.1), m), rng.dirichlet(np.ones(n), m),
                           rng.dirichlet(np.full(n, 10.0), m),
                           np.eye(n)[rng.integers(0, n, n_policies - 3 * m)]])


def measure_copying_opponent(c: CopyingConfig, tick: Tick = None) -> tuple[CopyingRow, ...]:
    """(ii) No product policy exceeds k/(k+1): the copying opponent ``π' = π`` wins exactly
    ``1/(k+1)``, since ``Σ_y π(y) L(π, y) = 1/(k+1)`` (exchangeability), so
    ``min_y' WR(π^{⊗k}, y') <= WR(π^{⊗k}, π) = k/(k+1)``.

    Measured on random instances (strict and tied weak orders, 2..12 responses) with random
    policies (Dirichlet with concentration 0.1, 1 and 10, and point masses) and, as the
    strongest product policy, the (k+1)-game equilibrium π*_k of each instance
    (``solve_ualign``): for each k, the largest robust win rate ``1 - max_y L(π, y)`` found and
    the largest ``|WR(π^{⊗k}, π) - k/(k+1)|``.

    References: THEORY.md §3 (identity and corollary).
    """
    rng = as_rng(c.seed)
    ks = tuple(int(k) for k in c.ks)
    instances = []
    for i in range(c.n_instances):
        n = int(rng.integers(2, 13))
        U = int(rng.integers(1, 41))
        n_levels = None if i % 2 == 0 else int(rng.integers(1, n + 1))
        instances.append(random_profile(rng, n, U, n_levels))
    best = {k: -np.inf for k in ks}
    best_eq = {k: -np.inf for k in ks}
    copy_err = {k: 0.0 for k in ks}
    for j, P in enumerate(instances):
        tick_message(tick, f"(ii) instance {j + 1}/{len(instances)}")
        pis = _random_policies(rng, P.n_responses, c.n_policies)
        for k in ks:
            allp = np.concatenate([pis, solve_ualign(P, k, seed=c.seed).policy[None, :]])
            L = deviation_payoffs(P, allp, k)  # (policies + 1, n)
            robust = 1.0 - L.max(axis=1)
            copy = 1.0 - np.einsum("py,py->p", allp, L)  # WR(π^{⊗k}, π)
            best[k] = max(best[k], float(robust[:-1].max()))
            best_eq[k] = max(best_eq[k], float(robust[-1]))
            copy_err[k] = max(copy_err[k], float(np.abs(copy - k / (k + 1)).max()))
    rows = []
    for k in ks:
        top = max(best[k], best_eq[k])
        rows.append(CopyingRow(k, c.n_instances * (c.n_policies + 1), best[k], best_eq[k],
                               k / (k + 1), top - k / (k + 1), copy_err[k],
                               top <= k / (k + 1) + c.tol and copy_err[k] <= c.tol))
    return tuple(rows)


def _copying_plots(rows, c) -> tuple[Plot, ...]:
    ks = [r.k for r in rows]
    return (Plot("(ii) best robust win rate found among product policies",
                 "responses shown, k",
                 "best worst-case win rate found, max over π of min over y′ of WR(π⊗ᵏ, y′)",
                 (Series("best random product policy", ks, [r.best_random for r in rows],
                         "points"),
                  Series("best equilibrium, π*ₖ", ks, [r.best_equilibrium for r in rows],
                         "points"),
                  Series("k/(k+1)", ks, [r.bound for r in rows], "dashed"))),)


COPYING_OPPONENT = register(ClaimSpec(
    key="ii", title="No product policy exceeds k/(k+1) (copying opponent)",
    statement="For every π and k, the copying opponent π' = π wins exactly 1/(k+1): "
              "WR(π^⊗k, π) = k/(k+1), so min_y' WR(π^⊗k, y') <= k/(k+1) on every instance.",
    reference="THEORY.md §3",
    bound="robust WR <= k/(k+1) and WR(π^⊗k, π) = k/(k+1)",
    columns=(("k", "k"), ("policies", "policies"), ("best_random", "max robust WR (random)"),
             ("best_equilibrium", "max robust WR (π*_k)"), ("bound", "k/(k+1)"),
             ("excess", "excess"), ("copy_error", "max |WR(π,π)-k/(k+1)|"),
             ("passed", "verdict")),
    measure=measure_copying_opponent,
    verdict=every_case_passes,
    summary=lambda rows: (f"max excess of robust WR over k/(k+1) = "
                          f"{max(r.excess for r in rows):.3g}; max copying error "
                          f"= {max(r.copy_error for r in rows):.3g}"),
    plots=_copying_plots,
    instance=lambda c, rows: (f"{c.n_instances} random instances (2-12 responses, 1-40 weighted "
                              f"users, strict and tied orders) x ({c.n_policies} random "
                              f"policies + the equilibrium π*_k)"),
    default=lambda run: CopyingConfig(run.seed, n_instances=24, n_policies=64),
    quick=lambda run: CopyingConfig(run.seed, n_instances=6, n_policies=32),
    notes="Exact closed-form payoffs L(π, y) (core engine), batched over policies; π*_k "
          "from solve_ualign. Instances where every user is indifferent make the random "
          "policies reach k/(k+1) exactly too."))


def claim_copying_opponent(seed=0, n_instances: int = 24, n_policies: int = 64,
                           ks: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32),
                           tol: float = 1e-9, tick: Tick = None) -> ClaimRow:
    """(ii) measured with these arguments (see :func:`measure_copying_opponent`)."""
    return run_claim(COPYING_OPPONENT,
                     CopyingConfig(seed, n_instances, n_policies, tuple(ks), tol), tick)

