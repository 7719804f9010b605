"""The claims of the universal-alignment framework, each checked by measurement.

Each claim (i)-(vii) of THEORY.md §3-6 is one :class:`ClaimSpec` in the registry
:data:`CLAIMS`: its text (key, title, statement, reference, bound), a frozen config of its
inputs, a pure ``measure(config) -> rows`` returning typed NamedTuple rows, and the presentation
built from those rows only, by field name: ``verdict(rows)``, ``summary(rows)`` (the measured
line), ``plots(rows, config)`` and the table (``columns``: row field, heading). :func:`run_claim`
turns a spec and a config into a :class:`~ualign.report.results.ClaimRow`;
:func:`~ualign.report.reproduce.build_report` and the progress count iterate :data:`CLAIMS`.
The ``claim_*`` functions are the same claims called with explicit arguments.

Bounds are the ones THEORY.md states; tolerances are numerical only (solver accuracy, floating
point) and are printed with every row.

References: shared/spec/THEORY.md §3 (copying opponent), §4 (the (k+1)-player game and its
equilibrium), §5 (self-play dynamics), §6 (instances), §7 (best k-output policy).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ualign.core import Profile, deviation_payoffs, robust_win_rate, set_win_rate, win_rate
from ualign.data.generators import (
    impartial_culture,
    mallows_mixture,
    nlhf_collapse,
    random_profile,
)
from ualign.report.compare import kset_robust_win_rate
from ualign.report.plots import Plot, Series
from ualign.report.results import ClaimRow
from ualign.solvers import dynamics as dyn
from ualign.solvers import solve_kset, solve_nlhf, solve_ualign, worst_opponent

__all__ = [
    "CLAIMS",
    "ClaimSpec",
    "best_distinct_kset_lp",
    "claim_best_kset_impartial_culture",
    "claim_copying_opponent",
    "claim_ell_output_opponents",
    "claim_hedge_sampled_iterate",
    "claim_last_iterate",
    "claim_nlhf_collapse",
    "claim_ualign_equilibrium",
    "heterogeneous_instance",
    "literal_distinct_payoffs",
    "run_claim",
    "shared_favourite_instance",
    "worst_ell_output",
]

Tick = Callable[[str], None] | None


def _tick(tick: Tick, msg: str) -> None:
    if tick is not None:
        tick(msg)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# ------------------------------------------------------------------------ the claim registry
@dataclasses.dataclass(frozen=True)
class ClaimSpec:
    """One claim: its text, how it is measured and how its rows are presented.

    Attributes:
      key: the claim's number, ``"i"`` .. ``"vii"``.
      title: a short name.
      statement: the claim with its bound as THEORY.md states it; ``{c.<field>}`` is filled
        from the claim's config (``str.format(c=config)``).
      reference: where it is stated (``THEORY.md §4``).
      bound: the bound checked, in one line.
      columns: the per-case table, ``(row field, heading)`` pairs; a field may be a property of
        the row type.
      measure: ``measure(config, tick) -> rows``: the measurement, NamedTuple rows.
      verdict: ``verdict(rows) -> bool``.
      summary: ``summary(rows) -> str``, the one-line measured value.
      plots: ``plots(rows, config) -> tuple[Plot, ...]``.
      instance: ``instance(config, rows) -> str``, the instance(s) measured, in words.
      configure: ``configure(reproduce_config) -> config``: the claim's inputs in
        ``ualign reproduce`` (see :class:`~ualign.report.reproduce.ReproduceConfig`).
      notes: how it was measured, caveats.
    """

    key: str
    title: str
    statement: str
    reference: str
    bound: str
    columns: tuple[tuple[str, str], ...]
    measure: Callable[[Any, Tick], Sequence[Any]]
    verdict: Callable[[Sequence[Any]], bool]
    summary: Callable[[Sequence[Any]], str]
    plots: Callable[[Sequence[Any], Any], tuple[Plot, ...]]
    instance: Callable[[Any, Sequence[Any]], str]
    configure: Callable[[Any], Any]
    notes: str = ""


def run_claim(spec: ClaimSpec, config, tick: Tick = None) -> ClaimRow:
    """Measure ``spec`` with ``config`` and present its rows as a :class:`ClaimRow` (the table,
    verdict, summary and plots are built from the rows by field name)."""
    t0 = time.perf_counter()
    rows = tuple(spec.measure(config, tick))
    fields = [f for f, _ in spec.columns]
    return ClaimRow(
        key=spec.key, title=spec.title, statement=spec.statement.format(c=config),
        reference=spec.reference, instance=spec.instance(config, rows),
        columns=tuple(h for _, h in spec.columns),
        cases=tuple(tuple(getattr(r, f) for f in fields) for r in rows),
        measured=spec.summary(rows), bound=spec.bound, tolerance=config.tol,
        passed=spec.verdict(rows), plots=spec.plots(rows, config), notes=spec.notes,
        seconds=time.perf_counter() - t0, rows=rows)


def _every_case_passes(rows) -> bool:
    """PASS when every judged case passes (``passed is None``: shown, not judged)."""
    return all(r.passed for r in rows if r.passed is not None)


def heterogeneous_instance(n: int = 12, seed: int = 1):
    """Three Mallows groups with random centres, dispersions φ = 0.5, 0.6, 0.7 and weights
    0.4 / 0.35 / 0.25 (a heterogeneous population). Returns ``(description, Profile)``."""
    P = mallows_mixture(n, n_users=300, phi=(0.5, 0.6, 0.7), groups=3,
                        group_weights=(0.4, 0.35, 0.25), seed=seed)
    cw = P.condorcet_winner()
    return (f"heterogeneous: 3 Mallows groups (φ = 0.5/0.6/0.7, weights 0.4/0.35/0.25, 300 "
            f"users) over {n} responses, seed {seed}; "
            f"{'no Condorcet winner' if cw is None else f'Condorcet winner {cw}'}"), P


# ----------------------------------------------- solver diagnostics read by the report
# One accessor per quantity: the only places the report reads a solver's ``extras``.
def _averaged_iterates(res) -> int:
    """Hedge: the number T of played iterates averaged."""
    return int(res.extras["averaged_iterates"])


def _sampled_iterate_value(res) -> float:
    """Hedge: ``1 - max_y (1/T) Σ_t L(π_t, y)``, the sampled-iterate policy's robust win rate."""
    return float(res.extras["sampled_iterate_robust_win_rate"])


def _mmd_residual(res) -> float:
    """MMD: the fixed-point residual ``‖π_t - softmax(log μ + L(π_t)/τ)‖_1`` at the end."""
    return float(res.extras["residual"])


def _mmd_kl_bound(res) -> float:
    """MMD: ``τ·max_y log(π_τ(y)/μ(y))``, the bound on the exploitability of π_τ."""
    return float(res.extras["kl_bound"])


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
    rng = _rng(c.seed)
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
        _tick(tick, f"(ii) instance {j + 1}/{len(instances)}")
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
                 "k", "max over policies of min_y' WR(π^⊗k, y')",
                 (Series("best random product policy", ks, [r.best_random for r in rows],
                         "points"),
                  Series("best equilibrium π*_k", ks, [r.best_equilibrium for r in rows],
                         "points"),
                  Series("k/(k+1)", ks, [r.bound for r in rows], "dashed"))),)


COPYING_OPPONENT = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"max excess of robust WR over k/(k+1) = "
                          f"{max(r.excess for r in rows):.3g}; max copying error "
                          f"= {max(r.copy_error for r in rows):.3g}"),
    plots=_copying_plots,
    instance=lambda c, rows: (f"{c.n_instances} random instances (2-12 responses, 1-40 weighted "
                              f"users, strict and tied orders) x ({c.n_policies} random "
                              f"policies + the equilibrium π*_k)"),
    configure=lambda cfg: CopyingConfig(cfg.seed, cfg.copy_instances, cfg.copy_policies),
    notes="Exact closed-form payoffs L(π, y) (core engine), batched over policies; π*_k "
          "from solve_ualign. Instances where every user is indifferent make the random "
          "policies reach k/(k+1) exactly too.")


def claim_copying_opponent(seed=0, n_instances: int = 24, n_policies: int = 64,
                           ks: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32),
                           tol: float = 1e-9, tick: Tick = None) -> ClaimRow:
    """(ii) measured with these arguments (see :func:`measure_copying_opponent`)."""
    return run_claim(COPYING_OPPONENT,
                     CopyingConfig(seed, n_instances, n_policies, tuple(ks), tol), tick)


# ----------------------------------------------------------------- exact worst ℓ-output opponent
def worst_ell_output(profile: Profile, policy, k: int, ell: int) -> tuple[float, tuple[int, ...]]:
    """``min over every ℓ-output policy Π' of WR(π^{⊗k}, Π')`` and a minimising ℓ-multiset.

    WR is linear in the opponent's distribution over ℓ-multisets, so the minimum over all
    ℓ-output opponents (correlated ones included) is attained at a single multiset ``S'``:
    ``WR(π^{⊗k}, S') = 1 - P(pick from S' against k samples of π)``, the latter being
    ``set_win_rate(profile, [S'], [1], π, ell=k)``. Enumerates all ``C(n+ℓ-1, ℓ)`` multisets.

    References: THEORY.md §2 (linearity in the opponent), §6 (ℓ-output opponents).
    """
    n = profile.n_responses
    sets = np.array(list(itertools.combinations_with_replacement(range(n), ell)), dtype=np.int64)
    wr = np.array([1.0 - set_win_rate(profile, s[None, :], [1.0], policy, ell=k) for s in sets])
    j = int(np.argmin(wr))
    return float(wr[j]), tuple(int(v) for v in sets[j])


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
        _tick(tick, f"(i) k={k}")
        t1 = time.perf_counter()
        res = solve_ualign(c.profile, k, seed=c.seed)
        f = robust_win_rate(c.profile, res.policy, k).value
        rows.append(EquilibriumRow(k, f, k / (k + 1), f - k / (k + 1),
                                   int((res.policy > 1e-6).sum()), res.iterations,
                                   bool(res.converged), time.perf_counter() - t1,
                                   f >= k / (k + 1) - c.tol))
    return tuple(rows)


def _equilibrium_config(cfg) -> EquilibriumConfig:
    name, P = heterogeneous_instance(cfg.n_heterogeneous, cfg.instance_seed)
    return EquilibriumConfig(P, name, cfg.ks_equilibrium, seed=cfg.seed)


UALIGN_EQUILIBRIUM = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"min over k = {rows[0].k}..{rows[-1].k} of f(k) - k/(k+1) = "
                          f"{min(r.gap for r in rows):.3g}"),
    plots=lambda rows, c: (
        Plot(f"(i) U-alignment f(k) on {c.instance.split(':')[0]}", "k", "f(k)",
             (Series("U-alignment equilibrium π*_k^⊗k", [r.k for r in rows],
                     [r.f for r in rows]),
              Series("k/(k+1)", [r.k for r in rows], [r.bound for r in rows], "dashed"))),),
    instance=lambda c, rows: c.instance,
    configure=_equilibrium_config,
    notes="π*_k from solve_ualign (default certified method); f(k) re-evaluated by the core "
          "engine's exact payoffs.")


def claim_ualign_equilibrium(profile: Profile, instance: str, ks: Sequence[int] = range(1, 33),
                             tol: float = 1e-6, seed=0, tick: Tick = None) -> ClaimRow:
    """(i) measured with these arguments (see :func:`measure_ualign_equilibrium`)."""
    return run_claim(UALIGN_EQUILIBRIUM,
                     EquilibriumConfig(profile, instance, tuple(int(k) for k in ks), tol, seed),
                     tick)


# ----------------------------------------------------------------------------- claim (iii)
@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    profile: Profile
    eps: float
    ks: tuple[int, ...] = tuple(range(1, 33))
    tol: float = 1e-6
    seed: Any = 0

    @property
    def half_plus_eps(self) -> float:
        return 0.5 + self.eps


class CollapseRow(NamedTuple):
    k: int
    wr_b: float  # WR(π_NLHF^⊗k, b)
    f_nlhf: float  # min_y' WR(π_NLHF^⊗k, y')
    half_plus_eps: float
    f_ualign: float  # robust win rate of π*_k^⊗k
    bound: float  # k/(k+1)
    pi_a: float  # π*_k(a)
    passed: bool
    nlhf_policy: np.ndarray  # π_NLHF (the same in every row)


def measure_nlhf_collapse(c: CollapseConfig, tick: Tick = None) -> tuple[CollapseRow, ...]:
    """(iii) NLHF collapse: on two responses a = 0, b = 1 with a share ½+ε ranking a ≻ b, the
    NLHF equilibrium is ``δ_a`` and ``δ_a^{⊗k}`` wins exactly ½+ε against b for every k, while
    the (k+1)-game equilibrium reaches k/(k+1).

    Measured per k: ``WR(π_NLHF^{⊗k}, b)``, the robust ``f_NLHF(k) = min_y' WR(π_NLHF^{⊗k}, y')``
    (which is ``min(½+ε, k/(k+1))``: at k = 1 the copy a itself ties at ½) and
    ``f_U(k)`` of π*_k. PASS when, for every k, ``|WR(π_NLHF^{⊗k}, b) - (½+ε)| <= tol``,
    ``f_NLHF(k) <= ½+ε + tol`` (NLHF never gains from showing more) and
    ``f_U(k) >= k/(k+1) - tol``.

    References: THEORY.md §6 (NLHF collapse), §4.
    """
    P, h = c.profile, c.half_plus_eps
    p_nl = np.asarray(solve_nlhf(P).policy, dtype=float)
    rows = []
    for k in c.ks:
        _tick(tick, f"(iii) k={k}")
        wr_b = win_rate(P, p_nl, k, 1)
        f_nl = robust_win_rate(P, p_nl, k).value
        ua = solve_ualign(P, k, seed=c.seed)
        f_ua = robust_win_rate(P, ua.policy, k).value
        ok = abs(wr_b - h) <= c.tol and f_nl <= h + c.tol and f_ua >= k / (k + 1) - c.tol
        rows.append(CollapseRow(k, wr_b, f_nl, h, f_ua, k / (k + 1), float(ua.policy[0]), ok,
                                p_nl))
    return tuple(rows)


def _collapse_plots(rows, c) -> tuple[Plot, ...]:
    ks = [r.k for r in rows]
    return (Plot(f"(iii) NLHF collapse (ε = {c.eps:g})", "k", "f(k)",
                 (Series("NLHF f(k)", ks, [r.f_nlhf for r in rows]),
                  Series("U-alignment f(k)", ks, [r.f_ualign for r in rows]),
                  Series("k/(k+1)", ks, [r.bound for r in rows], "dashed"),
                  Series("½+ε", ks, [r.half_plus_eps for r in rows], "dashed"))),)


def _collapse_config(cfg) -> CollapseConfig:
    return CollapseConfig(nlhf_collapse(cfg.eps), cfg.eps, cfg.ks_equilibrium, seed=cfg.seed)


NLHF_COLLAPSE = ClaimSpec(
    key="iii", title="NLHF collapses to ½+ε; U-alignment reaches k/(k+1)",
    statement="Two responses a, b; a share ½+ε = {c.half_plus_eps:g} of users rank a ≻ b. The "
              "NLHF equilibrium δ_a shows a k times and wins exactly ½+ε against b for every k; "
              "the (k+1)-game equilibrium is mixed and reaches k/(k+1).",
    reference="THEORY.md §6",
    bound="WR(π_NLHF^⊗k, b) = ½+ε, f_NLHF(k) <= ½+ε, f_U(k) >= k/(k+1)",
    columns=(("k", "k"), ("wr_b", "WR(π_NLHF^⊗k, b)"), ("f_nlhf", "f_NLHF(k)"),
             ("half_plus_eps", "½+ε"), ("f_ualign", "f_U(k)"), ("bound", "k/(k+1)"),
             ("pi_a", "π*_k(a)"), ("passed", "verdict")),
    measure=measure_nlhf_collapse,
    verdict=_every_case_passes,
    summary=lambda rows: (f"max |WR(π_NLHF^⊗k, b) - (½+ε)| = "
                          f"{max(abs(r.wr_b - r.half_plus_eps) for r in rows):.3g}; max f_NLHF = "
                          f"{max(r.f_nlhf for r in rows):.6g}; min f_U - k/(k+1) = "
                          f"{min(r.f_ualign - r.bound for r in rows):.3g}"),
    plots=_collapse_plots,
    instance=lambda c, rows: (f"NLHF-collapse instance, ε = {c.eps:g}; NLHF policy π_NLHF = "
                              f"{np.round(rows[0].nlhf_policy, 6).tolist()}"),
    configure=_collapse_config,
    notes="NLHF policy from solve_nlhf (maximal lottery), U-alignment from solve_ualign; all "
          "win rates by the core engine. f_NLHF(1) = ½ because against a itself the copies "
          "tie; for k >= 2 the worst response is b and f_NLHF(k) = ½+ε.")


def claim_nlhf_collapse(profile: Profile, eps: float, ks: Sequence[int] = range(1, 33),
                        tol: float = 1e-6, seed=0, tick: Tick = None) -> ClaimRow:
    """(iii) measured with these arguments (see :func:`measure_nlhf_collapse`)."""
    return run_claim(NLHF_COLLAPSE,
                     CollapseConfig(profile, eps, tuple(int(k) for k in ks), tol, seed), tick)


# ------------------------------------------------------------------------------ claim (iv)
@dataclasses.dataclass(frozen=True)
class KSetConfig:
    Ns: tuple[int, ...] = (3, 4, 5, 6)
    ks: tuple[int, ...] = (1, 2, 3)
    tol: float = 1e-6


class KSetRow(NamedTuple):
    N: int
    k: int
    best: float  # f* of the best k-set policy, re-evaluated
    formula: float  # k/(k+1) + (k-1)/(2(k+1)N)
    difference: float  # f* - formula
    bound: float  # k/(k+1)
    sets_used: int
    passed: bool


def measure_best_kset_impartial_culture(c: KSetConfig, tick: Tick = None) -> tuple[KSetRow, ...]:
    """(iv) Lower bound: on exact impartial culture (all N! strict orders, equal weights) the best
    k-output policy (any correlation) reaches exactly ``k/(k+1) + (k-1)/(2(k+1)N)``.

    The best k-output policy is ``ualign.solvers.solve_kset`` (the LP of THEORY.md §7); its
    worst-case win rate is re-evaluated with ``set_win_rate`` against every response. Cases with
    ``k <= N``. PASS when ``|f* - formula| <= tol`` for every case.

    References: THEORY.md §6 (lower bound), §7.
    """
    rows = []
    for N in c.Ns:
        P = impartial_culture(N, n_users=None, seed=0)
        for k in c.ks:
            if k > N:
                continue
            _tick(tick, f"(iv) N={N} k={k}")
            res = solve_kset(P, k)
            v, _ = kset_robust_win_rate(P, np.asarray(res.sets), np.asarray(res.probs))
            formula = k / (k + 1) + (k - 1) / (2 * (k + 1) * N)
            rows.append(KSetRow(N, k, v, formula, v - formula, k / (k + 1), len(res.probs),
                                abs(v - formula) <= c.tol))
    return tuple(rows)


def _kset_plots(rows, c) -> tuple[Plot, ...]:
    series = []
    for k in c.ks:
        pts = [r for r in rows if r.k == k]
        if pts:
            series.append(Series(f"best k-set, k={k}", [r.N for r in pts], [r.best for r in pts],
                                 "points"))
            series.append(Series(f"k/(k+1)+(k-1)/(2(k+1)N), k={k}", [r.N for r in pts],
                                 [r.formula for r in pts], "dashed"))
    return (Plot("(iv) best k-output policy on exact impartial culture", "N (responses)",
                 "best worst-case win rate", tuple(series)),)


BEST_KSET_IMPARTIAL_CULTURE = ClaimSpec(
    key="iv", title="Best k-output policy on impartial culture",
    statement="On impartial culture (users uniform over all N! strict orders) the best "
              "k-output policy, correlations allowed, reaches k/(k+1) + (k-1)/(2(k+1)N) -> "
              "k/(k+1): no method beats k/(k+1) in general.",
    reference="THEORY.md §6-7",
    bound="f* = k/(k+1) + (k-1)/(2(k+1)N)",
    columns=(("N", "N"), ("k", "k"), ("best", "best f* measured"), ("formula", "formula"),
             ("difference", "difference"), ("bound", "k/(k+1)"), ("sets_used", "sets used"),
             ("passed", "verdict")),
    measure=measure_best_kset_impartial_culture,
    verdict=_every_case_passes,
    summary=lambda rows: f"max |f* - formula| = {max(abs(r.difference) for r in rows):.3g}",
    plots=_kset_plots,
    instance=lambda c, rows: (f"exact impartial culture, N in {tuple(c.Ns)}, k in "
                              f"{tuple(c.ks)} with k <= N"),
    configure=lambda cfg: KSetConfig(cfg.ic_Ns, cfg.ic_ks),
    notes="Best k-set policy from solve_kset; value re-checked with the core engine against "
          "every response. The formula is stated for k <= N (for k > N it fails, e.g. N = 2, "
          "k = 3 gives 0.7917, not 0.875), so those cases are not run.")


def claim_best_kset_impartial_culture(Ns: Sequence[int] = (3, 4, 5, 6),
                                      ks: Sequence[int] = (1, 2, 3), tol: float = 1e-6,
                                      tick: Tick = None) -> ClaimRow:
    """(iv) measured with these arguments (see :func:`measure_best_kset_impartial_culture`)."""
    return run_claim(BEST_KSET_IMPARTIAL_CULTURE, KSetConfig(tuple(Ns), tuple(ks), tol), tick)


# ------------------------------------------------------------------------------- claim (v)
@dataclasses.dataclass(frozen=True)
class EllConfig:
    instances: tuple[tuple[str, Profile, bool], ...]  # (name, profile, is impartial culture)
    ks: tuple[int, ...] = (1, 2, 3, 4)
    ells: tuple[int, ...] = (1, 2, 3)
    tol: float = 1e-6
    seed: Any = 0


class EllRow(NamedTuple):
    instance: str
    k: int
    ell: int
    lower: float  # (k+1-ℓ)/(k+1)
    wr_enumeration: float  # min over ℓ-multisets (exact)
    wr_solver: float  # ualign.solvers.worst_opponent's value
    cap: float | None  # k/(k+ℓ) on impartial culture, else None
    worst_multiset: tuple[int, ...]
    passed: bool
    above_cap: bool  # measured minimum > cap + tol (shown, not judged)

    @property
    def multiset_text(self) -> str:
        return " ".join(map(str, self.worst_multiset))


def measure_ell_output_opponents(c: EllConfig, tick: Tick = None) -> tuple[EllRow, ...]:
    """(v) Against every ℓ-output opponent the (k+1)-game equilibrium keeps
    ``WR(π*_k^{⊗k}, Π') >= (k+1-ℓ)/(k+1)``; impartial culture caps any method near ``k/(k+ℓ)``.

    The minimum over all ℓ-output opponents (correlated included) is exact: by linearity it is
    attained at one ℓ-multiset, and all are enumerated (:func:`worst_ell_output`). On impartial
    culture instances (flagged ``True``) the measured value is shown beside the k/(k+ℓ) cap.
    PASS when every measured minimum is >= (k+1-ℓ)/(k+1) - tol; the cap is reported, not judged
    (THEORY.md calls it approximate and the tight ℓ-rate open).

    References: THEORY.md §6 (ℓ-output opponents).
    """
    rows = []
    for name, P, is_ic in c.instances:
        for k in c.ks:
            pi = solve_ualign(P, k, seed=c.seed).policy
            for ell in c.ells:
                _tick(tick, f"(v) {name.split(':')[0]} k={k} ℓ={ell}")
                v, S = worst_ell_output(P, pi, k, ell)
                wo = float(worst_opponent(P, pi, k, ell).value)
                lower = (k + 1 - ell) / (k + 1)
                cap = k / (k + ell) if is_ic else None
                rows.append(EllRow(name, k, ell, lower, v, wo, cap, S,
                                   v >= lower - c.tol and wo >= lower - c.tol,
                                   cap is not None and v > cap + c.tol))
    return tuple(rows)


def _ell_plots(rows, c) -> tuple[Plot, ...]:
    series = []
    for name, _, _ in c.instances:
        for ell in c.ells:
            pts = [r for r in rows if r.instance == name and r.ell == ell]
            series.append(Series(f"{name.split(':')[0]}, ℓ={ell}", [r.k for r in pts],
                                 [r.wr_enumeration for r in pts]))
    for ell in c.ells:
        series.append(Series(f"(k+1-ℓ)/(k+1), ℓ={ell}", c.ks,
                             [(k + 1 - ell) / (k + 1) for k in c.ks], "dashed"))
    return (Plot("(v) equilibrium vs the worst ℓ-output opponent", "k",
                 "min over ℓ-output Π' of WR(π*_k^⊗k, Π')", tuple(series)),)


def _ell_summary(rows) -> str:
    return (f"min over cases of WR - (k+1-ℓ)/(k+1) = "
            f"{min(r.wr_enumeration - r.lower for r in rows):.3g}; enumeration vs solver "
            f"worst_opponent differ by <= "
            f"{max(abs(r.wr_enumeration - r.wr_solver) for r in rows):.2g}; "
            f"{sum(r.above_cap for r in rows)} impartial-culture case(s) above the k/(k+ℓ) cap")


def _ell_config(cfg) -> EllConfig:
    name, P = heterogeneous_instance(cfg.n_heterogeneous, cfg.instance_seed)
    n_small = 5
    ic = impartial_culture(n_small, n_users=None, seed=cfg.seed)
    return EllConfig(((name, P, False), (f"exact impartial culture, N = {n_small}", ic, True)),
                     cfg.ell_ks, cfg.ells, seed=cfg.seed)


ELL_OUTPUT_OPPONENTS = ClaimSpec(
    key="v", title="Equilibrium against ℓ-output opponents",
    statement="The (k+1)-game equilibrium keeps WR >= (k+1-ℓ)/(k+1) against every ℓ-output "
              "opponent (union bound); on impartial culture no method gets much above "
              "k/(k+ℓ).",
    reference="THEORY.md §6",
    bound="min WR >= (k+1-ℓ)/(k+1)",
    columns=(("instance", "instance"), ("k", "k"), ("ell", "ℓ"), ("lower", "(k+1-ℓ)/(k+1)"),
             ("wr_enumeration", "min WR (enumeration)"),
             ("wr_solver", "min WR (worst_opponent)"), ("cap", "k/(k+ℓ) cap (IC)"),
             ("multiset_text", "worst opponent multiset"), ("passed", "verdict")),
    measure=measure_ell_output_opponents,
    verdict=_every_case_passes,
    summary=_ell_summary,
    plots=_ell_plots,
    instance=lambda c, rows: "; ".join(n for n, _, _ in c.instances),
    configure=_ell_config,
    notes="Worst opponent found by enumerating every ℓ-multiset with the core engine (exact "
          "over all ℓ-output policies, correlated ones included), cross-checked with "
          "ualign.solvers.worst_opponent; π*_k from solve_ualign.")


def claim_ell_output_opponents(instances: Sequence[tuple[str, Profile, bool]],
                               ks: Sequence[int] = (1, 2, 3, 4), ells: Sequence[int] = (1, 2, 3),
                               tol: float = 1e-6, seed=0, tick: Tick = None) -> ClaimRow:
    """(v) measured with these arguments (see :func:`measure_ell_output_opponents`)."""
    return run_claim(ELL_OUTPUT_OPPONENTS,
                     EllConfig(tuple(instances), tuple(ks), tuple(ells), tol, seed), tick)


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
            _tick(tick, f"(vi) hedge k={k} T={T}")
            eta = math.sqrt(8.0 * math.log(n) / T)
            res = solve_ualign(c.profile, k, method="hedge", max_iter=T, eta=eta,
                               tol=1e-15, seed=c.seed)
            T_run = _averaged_iterates(res)
            sampled = _sampled_iterate_value(res)
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
        series.append(Series(f"k={k}: k/(k+1) - f(sampled iterate)", [r.iterates for r in pts],
                             [r.shortfall for r in pts]))
    first = [r for r in rows if r.k == c.ks[0]]
    series.append(Series("sqrt(log n / (2T))", [r.iterates for r in first],
                         [r.rate for r in first], "dashed"))
    return (Plot("(vi) Hedge self-play: shortfall of the sampled-iterate policy", "T (iterates)",
                 "k/(k+1) - worst-case win rate", tuple(series), logx=True, logy=True),)


def _hedge_config(cfg) -> HedgeConfig:
    name, P = heterogeneous_instance(cfg.n_heterogeneous, cfg.instance_seed)
    return HedgeConfig(P, name, cfg.hedge_ks, cfg.hedge_Ts, seed=cfg.seed)


HEDGE_SAMPLED_ITERATE = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"min over cases of f(sampled) - bound = "
                          f"{min(r.sampled - r.bound for r in rows):.3g}; max shortfall / "
                          f"sqrt(log n/(2T)) = {max(r.shortfall / r.rate for r in rows):.3g}"),
    plots=_hedge_plots,
    instance=lambda c, rows: c.instance,
    configure=_hedge_config,
    notes="solve_ualign(method='hedge'); the sampled-iterate value is exact (mean of the "
          "payoff vectors L(π_t, ·) seen), the averaged policy is re-evaluated afresh.")


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


def _hedge_last_iterate_trace(profile: Profile, k: int, T: int) -> list:
    """The (iteration, exploitability) trace of Hedge's current iterate, η = sqrt(8 log n / T),
    by the solvers' own ``hedge_step``."""
    n = profile.n_responses
    eta = math.sqrt(8.0 * math.log(n) / T)
    target = 1.0 / (k + 1)

    def oracle(pi):
        return deviation_payoffs(profile, pi, k)

    return dyn.run_dynamics(
        lambda: dyn.hedge_init(oracle, np.full(n, 1.0 / n)),
        lambda s: dyn.hedge_step(s, oracle, eta),
        lambda s, it: (float(s.r.max() - target), 0, False),
        max_iter=T)[1]  # (state, trace, ...): the trace of (iteration, exploitability)


def _last_iterate_row(c: LastIterateConfig, k: int, method: str) -> LastIterateRow:
    if method == "mmd":
        res = solve_ualign(c.profile, k, method="mmd", max_iter=c.mmd_max_iter,
                           tol=c.residual_tol, seed=c.seed, tau=c.tau)
        resid, kl = _mmd_residual(res), _mmd_kl_bound(res)
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
            _tick(tick, f"(vii) {method} k={k}")
            rows.append(_last_iterate_row(c, k, method))
        _tick(tick, f"(vii) hedge k={k}")
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
        out.append(Series("e(π_0)/√t (optimistic, extragradient bound)", ts,
                          [e0 / math.sqrt(t) for t in ts], "dashed"))
    for r in rows:
        if r.dynamics == "mmd" and r.limit is not None and r.limit > 0:
            out.append(Series("τ·max log(π_τ/μ) (MMD bound)", [1, max(r.iterations, 1)],
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
            series.append(Series(label, *zip(*_thin(tr), strict=True)))
        series.extend(_last_iterate_bounds([r for r in rows if r.k == k]))
        plots.append(Plot(f"(vii) last-iterate exploitability, k = {k}", "iteration t",
                          "max_y L(π_t, y) - 1/(k+1)", tuple(series), logx=True, logy=True))
    return tuple(plots)


def _last_iterate_config(cfg) -> LastIterateConfig:
    name, P = heterogeneous_instance(cfg.n_heterogeneous, cfg.instance_seed)
    return LastIterateConfig(P, name, cfg.dyn_ks, cfg.dyn_iters, seed=cfg.seed)


LAST_ITERATE = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: "; ".join(f"k={r.k} {r.dynamics}: e(π_T) = {r.eT:.2e}" for r in rows
                                   if r.passed is not None),
    plots=_last_iterate_plots,
    instance=lambda c, rows: (f"{c.instance}; T = {c.T} (MMD: until its fixed-point residual "
                              f"<= {c.residual_tol:g}), τ = {c.tau:g}, μ uniform"),
    configure=_last_iterate_config,
    notes="solve_ualign(method='optimistic' / 'extragradient' / 'mmd') traces (exploitability "
          "of the current iterate every step); Hedge's last iterate by the solvers' own "
          "hedge_step. e(π) = max_y L(π, y) - 1/(k+1).")


def claim_last_iterate(profile: Profile, instance: str, ks: Sequence[int] = (2, 8),
                       T: int = 2000, tau: float = 0.01, residual_tol: float = 1e-6,
                       mmd_max_iter: int = 50000, tol: float = 1e-9, seed=0,
                       tick: Tick = None) -> ClaimRow:
    """(vii) measured with these arguments (see :func:`measure_last_iterate`)."""
    return run_claim(LAST_ITERATE,
                     LastIterateConfig(profile, instance, tuple(ks), T, tau, residual_tol,
                                       mmd_max_iter, tol, seed), tick)



# --------------------------------------------- distinct display (THEORY.md §9): claims (viii)-(x)
def best_distinct_kset_lp(profile: Profile, k: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The best distribution over k-subsets of distinct responses by the LP over *every*
    k-subset (exact; for small instances): ``(value, sets, probs)``, the value re-evaluated by
    ``robust_set_win_rate(..., display="distinct")``. The LP's rows are the engine's
    ``core.sets.set_win_matrix(..., "distinct")``.

    References: THEORY.md §7 (the LP), §9.
    """
    from ualign.core import robust_set_win_rate
    from ualign.core.sets import set_win_matrix
    from ualign.solvers.kset import _master

    n = profile.n_responses
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n = {n}] for sets of distinct responses, got {k}")
    sets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64)
    A = set_win_matrix(profile.levels, profile.weights, sets, "distinct")
    x, _v, _q = _master(A)
    keep = x > 1e-12
    probs = x[keep] / x[keep].sum()
    value = robust_set_win_rate(profile, sets[keep], probs, display="distinct").value
    return value, sets[keep], probs


def _distinct_solver(profile: Profile, k: int, time_limit: float | None = None):
    """``solve_kset(profile, k, display="distinct")``: the certified best distinct k-set."""
    return solve_kset(profile, k, display="distinct", time_limit=time_limit)


def shared_favourite_instance(n: int = 6, n_users: int = 40, seed: int = 3) -> Profile:
    """A random population (strict and tied orders) in which every user has response 0 as
    their unique favourite: each user's levels from ``random_profile`` shifted down one, with 0
    alone on top."""
    P = random_profile(seed, n, n_users, n_levels=max(2, n // 2))
    lv = P.levels + 1
    lv[:, 0] = 0
    return Profile.from_levels(lv, P.weights)


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
        _tick(tick, f"(viii) k={k}")
        best, _, _ = best_distinct_kset_lp(c.profile, k)
        res = _distinct_solver(c.profile, k)
        sv, su = float(res.value), float(res.upper_bound)
        ms = solve_kset(c.profile, k)
        ms_value = kset_robust_win_rate(c.profile, np.asarray(ms.sets), np.asarray(ms.probs))[0]
        ok = abs(best - 0.5) <= c.tol and su <= 0.5 + c.tol and abs(sv - 0.5) <= c.tol
        rows.append(FavouriteRow(k, best, sv, su, ms_value, 0.5, bool(ok)))
    return tuple(rows)


SHARED_FAVOURITE = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"max |best distinct - ½| = "
                          f"{max(abs(r.best_lp - 0.5) for r in rows):.2g}"
                          + f"; max solver upper_bound - ½ = "
                            f"{max(r.solver_upper - 0.5 for r in rows):.2g}"
                          + f"; multiset display: {rows[-1].multiset_best:.4f} at k = "
                            f"{rows[-1].k}"),
    plots=lambda rows, c: (
        Plot("(viii) shared favourite: best policy, distinct vs multiset display", "k",
             "best robust win rate",
             (Series("best distinct k-subset policy (distinct display)", [r.k for r in rows],
                     [r.best_lp for r in rows], "marked"),
              Series("best k-multiset policy (multiset display)", [r.k for r in rows],
                     [r.multiset_best for r in rows]),
              Series("½", [r.k for r in rows], [r.cap for r in rows], "dashed"))),),
    instance=lambda c, rows: c.instance,
    configure=lambda cfg: FavouriteConfig(
        shared_favourite_instance(seed=cfg.seed + 3),
        f"shared favourite: 6 responses, 40 random users (ties), response 0 every user's "
        f"unique favourite, seed {cfg.seed + 3}", cfg.distinct_ks),
    notes="The LP enumerates every k-subset (core.sets.set_win_matrix, distinct display) and "
          "its value is re-evaluated by robust_set_win_rate(display='distinct'); the solver "
          "columns are solve_kset(display='distinct'), value and certified upper bound. Under "
          "multiset display the same instance gives k/(k+1) and more: "
          "the difference is copies.")


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
        _tick(tick, f"(ix) k={k}")
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
        if k == 2:
            target = c.target
            ok = ok and abs(best - target) <= c.tol and (sv is None
                                                         or abs(sv - target) <= c.tol)
        rows.append(DistinctCollapseRow(k, wr_b, f_n, f_u, best, sv, target, bool(ok)))
    return tuple(rows)


NLHF_DISTINCT_COLLAPSE = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"max |f_NLHF(k) - ½| = {max(abs(r.f_nlhf - 0.5) for r in rows):.2g} "
                          f"(k = {rows[0].k}..{rows[-1].k}); best distinct at k = 2: "
                          + ", ".join(f"{r.best:.6f} (target {r.target:.6f})"
                                      for r in rows if r.target is not None)),
    plots=lambda rows, c: (
        Plot(f"(ix) NLHF collapse (ε = {c.eps:g}), distinct display", "k",
             "robust win rate, distinct display",
             (Series("NLHF sampled k times, merged", [r.k for r in rows],
                     [r.f_nlhf for r in rows], "marked", "C0"),
              Series("U-alignment π*_k sampled k times, merged", [r.k for r in rows],
                     [r.f_ualign for r in rows], "marked", "C1"),
              Series("best distinct policy", [r.k for r in rows if r.best is not None],
                     [r.best for r in rows if r.best is not None], "points", "C2"),
              Series("¾ − ε/2", [r.k for r in rows], [c.target for _ in rows], "dashed"))),),
    instance=lambda c, rows: f"nlhf_collapse({c.eps:g}): a = 0, b = 1, k = "
                             f"{c.ks[0]}..{c.ks[-1]} (2-subsets exist for k <= 2)",
    configure=lambda cfg: DistinctCollapseConfig(nlhf_collapse(cfg.eps), cfg.eps,
                                                 cfg.ks_equilibrium, seed=cfg.seed),
    notes="NLHF from solve_nlhf; WR and f(k) by the engine under display='distinct'; the best "
          "distinct policy by the LP over every k-subset (and solve_kset(display='distinct')). "
          "With two responses, a set of k distinct responses exists for "
          "k <= 2 only; a k-output policy for larger k still shows at most {a, b}.")


def literal_distinct_payoffs(profile: Profile, policy, k: int) -> np.ndarray:
    """``L^dist(π, y)`` by literal enumeration of every k-tuple of samples (n^k of them): the
    samples are merged, y is shown once by the competitor, and the user picks uniformly among
    the copies at the best level of all that is shown (a response shown by both sides is one
    copy per side). An oracle for small n and k.

    References: THEORY.md §9.
    """
    n = profile.n_responses
    pi = np.asarray(policy, dtype=float)
    tuples = np.array(list(itertools.product(range(n), repeat=k)), dtype=np.int64)  # (m, k)
    prob = np.prod(pi[tuples], axis=1)  # (m,)
    member = np.zeros((len(tuples), n), dtype=bool)
    member[np.arange(len(tuples))[:, None], tuples] = True  # merged samples
    out = np.zeros(n)
    for lv, w in zip(profile.levels, profile.weights, strict=True):
        for y in range(n):
            better = (member & (lv < lv[y])).any(axis=1)
            tied = (member & (lv == lv[y])).sum(axis=1)  # distinct samples tied with y
            out[y] += w * float(prob @ np.where(better, 0.0, 1.0 / (1.0 + tied)))
    return out


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
    rng = _rng(c.seed)
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
        _tick(tick, f"(x) k={k}")
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


DISTINCT_CLOSED_FORM = ClaimSpec(
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
    verdict=_every_case_passes,
    summary=lambda rows: (f"max error {max(r.max_error for r in rows):.2g}"
                          f" over k = {rows[0].k}..{rows[-1].k} ({sum(r.cases for r in rows)} "
                          f"cases)"),
    plots=lambda rows, c: (),
    instance=lambda c, rows: (f"{c.n_instances} random profiles (2-5 responses, 1-8 weighted "
                              f"users; half strict, half tied) x 3 policies (Dirichlet 1, "
                              f"Dirichlet 0.3, a point mass)"),
    configure=lambda cfg: ClosedFormConfig(cfg.seed, cfg.distinct_instances, cfg.distinct_ks),
    notes="The enumeration draws every k-tuple of samples (n^k), merges them and applies the "
          "literal choice rule of THEORY §9 per user; the closed form is evaluated directly "
          "in NumPy.")


# ------------------------------------------------------------------------ (xi) personalisation
def _personalise_claim():
    from ualign.report import personalise as pz

    return ClaimSpec(
        key="xi", title="Personalisation: k responses from the posterior on held-out people",
        statement="Conditioning the population on m ratings a held-out person revealed "
                  "(posterior w_u ∝ w_u · P(e | u), independent comparisons with noise δ "
                  "fitted on the population) and aligning k responses to the posterior "
                  "raises the mean win rate on that person's hidden ratings; at m = 0 the "
                  "choice is universal alignment exactly. Source: {c.source}.",
        reference="THEORY.md §10, docs/personalise.md",
        bound="ualign at m = 0 identical to the universal choice at every k and display "
              "(the other cells are measured, not judged)",
        columns=(("method", "method"), ("display", "display"), ("m", "m (nominal)"),
                 ("revealed", "revealed (mean)"), ("n_users", "people"),
                 ("k1", "k=1 mean WR"), ("k2", "k=2"), ("k4", "k=4"), ("k8", "k=8"),
                 ("m0_equals_universal", "m=0 = universal")),
        measure=pz.measure_section,
        verdict=lambda rows: all(r.m0_equals_universal for r in rows
                                 if r.m0_equals_universal is not None),
        summary=pz.section_summary,
        plots=pz.section_plots,
        instance=lambda c, rows: (f"{c.source}: 20 % held out, {rows[0].n_users} held-out "
                                  f"people evaluated, m ∈ {set(c.ms)}, k ∈ {{1, 2, 4, 8}}"),
        configure=lambda cfg: pz.section_config(cfg, cfg.data_dir),
        notes="Mean win rate of the shown k responses against each hidden-rated response, "
              "averaged over held-out people; ualign = k samples of the posterior's "
              "(k+1)-game equilibrium, greedy = distinct k-set greedy for the posterior mean "
              "win rate, argmax = personalised top-1 (k = 1), universal = the m = 0 choice on "
              "the same hidden ratings. Both displays: multiset (copies count) and distinct "
              "(duplicates merged). The full measurement on every dataset, with bootstrap "
              "intervals, is `ualign personalise` / benchmarks/personalise_real.py.")


PERSONALISATION = _personalise_claim()


# ------------------------------------------------------------------------------ the registry
CLAIMS: tuple[ClaimSpec, ...] = (UALIGN_EQUILIBRIUM, COPYING_OPPONENT, NLHF_COLLAPSE,
                                 BEST_KSET_IMPARTIAL_CULTURE, ELL_OUTPUT_OPPONENTS,
                                 HEDGE_SAMPLED_ITERATE, LAST_ITERATE, SHARED_FAVOURITE,
                                 NLHF_DISTINCT_COLLAPSE, DISTINCT_CLOSED_FORM,
                                 PERSONALISATION)
"""Every claim of the report, in report order: ``build_report`` measures each one and the
progress count is ``len(CLAIMS)``. A new claim is one :class:`ClaimSpec` added here."""
