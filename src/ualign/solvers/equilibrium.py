"""``solve_ualign``: a symmetric Nash equilibrium of the (k+1)-player alignment game.

An equilibrium is a π with ``max_y L(π, y) <= 1/(k+1)`` (THEORY §4), i.e. a minimiser of the
convex function ``G(π) = max_y L(π, y)`` whose minimum is exactly ``1/(k+1)``. Methods (each
registered once in ``ualign.solvers.registry``, family ``"ualign"``, with its options dataclass):

- ``"hedge"``, ``"optimistic"``, ``"extragradient"``, ``"mmd"``: self-play dynamics
  (``ualign.solvers.dynamics``) on full payoff evaluations.
- ``"auto"`` (default): column generation over candidate supports; each restricted game solved
  by Josephy-Newton steps (support pivoting) safeguarded by trust-region sequential linear
  programming; certified by a fresh full evaluation (see ``_auto``).

Every method ends with a fresh full evaluation of ``L(π, ·)`` (the certificate in the result).
``max_iter`` is the number of updates a method takes: outer rounds for auto, rounds of play for
Hedge, steps for the others.

References: shared/spec/THEORY.md §3-5.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numba
import numpy as np
from scipy.optimize import linprog

from ualign.core import _kernels as core_kernels
from ualign.core._threads import serial_if_small
from ualign.core.checks import check_iterations, check_k, check_size
from ualign.core.payoffs import deviation_payoffs
from ualign.solvers import _kernels, registry
from ualign.solvers import dynamics as dyn
from ualign.solvers._talk import TIME_LIMIT, Talker, check_progress, stopped_early
from ualign.solvers.diagnostics import (
    AutoDiagnostics,
    HedgeDiagnostics,
    LastIterateDiagnostics,
    MMDDiagnostics,
)
from ualign.solvers.registry import Options, check_field
from ualign.solvers.result import (
    SolverError,
    SolverResult,
    certify,
    check_max_iter,
    check_nonneg,
    check_positive,
    check_profile,
    check_reference,
)

__all__ = ["AutoOptions", "HedgeOptions", "LastIterateOptions", "MMDOptions", "UalignOptions",
           "solve_ualign", "ualign_method"]


def solve_ualign(profile, k: int, method: str = "auto", tol: float = 1e-9,
                 max_iter: int | None = None, seed=None, *, progress: bool | None = None,
                 **options) -> SolverResult:
    """A symmetric Nash equilibrium π* of the (k+1)-player alignment game; ``π*^{⊗k}`` is
    ``(k, k/(k+1))``-robustly aligned (THEORY §4).

    Args:
      profile: the population (``ualign.Profile``).
      k: samples shown per query, an integer >= 1.
      method: ``"auto"`` (fast, certified; default), ``"hedge"``, ``"optimistic"``,
        ``"extragradient"`` or ``"mmd"`` (the registry's ``"ualign"`` family,
        ``ualign.solvers.METHODS``).
      tol: target exploitability ``max_y L(π, y) - 1/(k+1)`` (for ``"mmd"``: target residual of
        the regularised fixed point).
      max_iter: the number of updates to take at most (default per method: auto 60 outer
        rounds; hedge T = 1000 rounds of play, i.e. T iterates averaged, the first uniform;
        optimistic/extragradient 2000 steps, mmd 2000 steps).
      seed: int or ``numpy.random.Generator``; the methods are deterministic, it is accepted
        for a uniform signature and recorded in ``result.seed``.
      progress: True: report on stderr (auto: a line per round; dynamics: a progress bar);
        False: never; None (default): only once the solve has run 5 s.
      options: per method, checked by the method's options dataclass (:class:`AutoOptions`,
        :class:`HedgeOptions`, :class:`LastIterateOptions`, :class:`MMDOptions`). Every method:
        ``time_limit`` (seconds, default 60; None for no limit): a solve that reaches it stops,
        returns its certified policy with ``converged=False`` and warns
        (``StoppedEarlyWarning``), naming ``time_limit`` and ``max_iter``. hedge: ``eta``
        (default ``sqrt(8 log n / T)``, T = max_iter), ``check_every``;
        optimistic/extragradient: ``eta`` (default ``1/k``); mmd: ``tau`` (default 0.01),
        ``reference`` μ (default uniform; strictly positive), ``eta`` (default ``1/k``); auto:
        ``m0`` (first candidate set size, default max(32, min(n // 8, 16 U, ⌈√n⌉)), U user
        types).

    Returns:
      ``SolverResult``: ``exploitability`` and ``robust_win_rate`` from a fresh full evaluation
      (certified whatever the stopping reason); ``converged`` says whether the certified
      exploitability is <= tol (mmd: residual <= tol); typed ``diagnostics`` per method.

    Raises:
      ValueError: on bad input (k < 1, unknown method, τ < 0, reference off the simplex or with
        zeros, unknown options).
      SolverError: if an LP fails.

    References: shared/spec/THEORY.md §4-5.

    Examples:
      The symmetric equilibrium of the 3-player game (k = 2) on a weighted Condorcet cycle: its
      two samples win 2/3 against every single response, certified.

      >>> import numpy as np
      >>> from ualign import Profile, solve_ualign, robust_win_rate
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> eq = solve_ualign(P, k=2)
      >>> eq.policy.round(4).tolist(), round(eq.robust_win_rate, 4), eq.exploitability < 1e-9
      ([0.4849, 0.262, 0.2531], 0.6667, True)
      >>> eq.converged, eq.method
      (True, 'auto')
      >>> round(robust_win_rate(P, eq.policy, k=2, display="distinct").value, 4)  # samples merged
      0.6275
    """
    profile = check_profile(profile)
    k = check_k(k)
    check_positive(tol, "tol")
    m = registry.get(method, family="ualign")
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise ValueError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    return m.solve(profile, k, seed=seed, tol=tol, max_iter=max_iter, progress=progress,
                   **options)




def _full_oracle(profile, k):
    def oracle(pi):
        return deviation_payoffs(profile, pi, k)
    return oracle


# ---------------------------------------------------------------------------- options
@dataclasses.dataclass(frozen=True)
class UalignOptions(Options):
    """Options every ``solve_ualign`` method takes: ``tol`` (> 0), ``max_iter`` (updates, an
    integer >= 1, or None for the method's default), ``time_limit`` (seconds > 0, default 60;
    None: no limit) and ``progress`` (True, False, or None: report after 5 s)."""

    tol: float = 1e-9
    max_iter: int | None = None
    progress: bool | None = None
    time_limit: float | None = TIME_LIMIT

    def __post_init__(self):
        check_field(self, "tol", check_positive, optional=False)
        check_field(self, "max_iter", check_iterations)
        check_field(self, "progress", check_progress)
        check_field(self, "time_limit", check_positive)


@dataclasses.dataclass(frozen=True)
class AutoOptions(UalignOptions):
    """``"auto"``: ``m0``, the first candidate set size (default
    max(32, min(n // 8, 16 U, ⌈√n⌉)), U user types)."""

    m0: int | None = None

    def __post_init__(self):
        super().__post_init__()
        check_field(self, "m0", check_iterations)


@dataclasses.dataclass(frozen=True)
class _DynamicsOptions(UalignOptions):
    """Every dynamic: ``eta`` (the step size > 0; None for the method's default)."""

    eta: float | None = None

    def __post_init__(self):
        super().__post_init__()
        check_field(self, "eta", check_positive)


@dataclasses.dataclass(frozen=True)
class HedgeOptions(_DynamicsOptions):
    """``"hedge"``: ``eta`` (default ``sqrt(8 log n / T)``), ``check_every`` (steps between
    evaluations of the average; default max(1, T // 50))."""

    check_every: int | None = None

    def __post_init__(self):
        super().__post_init__()
        check_field(self, "check_every", check_iterations)


@dataclasses.dataclass(frozen=True)
class LastIterateOptions(_DynamicsOptions):
    """``"optimistic"``, ``"extragradient"``: ``eta`` (default ``1/k``)."""


@dataclasses.dataclass(frozen=True, eq=False)
class MMDOptions(_DynamicsOptions):
    """``"mmd"``: ``tau`` (KL strength > 0, default 0.01), ``reference`` μ (default uniform;
    strictly positive), ``eta`` (default ``1/k``)."""

    tau: float = 0.01
    reference: object = None

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "tau", check_positive(check_nonneg(self.tau, "tau"), "tau"))


def ualign_method(fn):
    """``fn(profile, k, options)`` as a registered method of ``solve_ualign``: profile and k
    checked, compiled kernels serial on small instances.

    Examples:
      A method body receives a checked profile and k:

      >>> from ualign import Profile
      >>> from ualign.solvers.equilibrium import AutoOptions, ualign_method
      >>> P = Profile.from_rankings([[0, 1], [1, 0]])
      >>> method = ualign_method(lambda profile, k, options: (profile.n_responses, k))
      >>> method(P, 3, AutoOptions())
      (2, 3)
      >>> method(P, 0, AutoOptions())
      Traceback (most recent call last):
        ...
      ValueError: k must be an integer >= 1, got 0
    """
    @functools.wraps(fn)
    def solve(profile, k, opts):
        profile = check_profile(profile)
        k = check_k(k)
        with serial_if_small(profile.n_users * profile.n_responses):
            result = fn(profile, k, opts)
        if getattr(result, "converged", True) is False:  # a SolverResult that missed tol
            _warn_unconverged(result, opts)
        return result
    return solve


def _warn_unconverged(result, opts) -> None:
    """The ``StoppedEarlyWarning`` of a result that missed ``opts.tol``."""
    limit = "None for no limit" if opts.time_limit is None else f"now {opts.time_limit:g} s"
    cap = "the method's default" if opts.max_iter is None else f"now {opts.max_iter}"
    stopped_early(f"solve_ualign(method={result.method!r})",
                  f"certified exploitability {result.exploitability:.3g} (tol {opts.tol:g}) "
                  f"after {result.iterations} updates in {result.seconds:.1f} s",
                  f"time_limit= (seconds; {limit}) or max_iter= ({cap})", stacklevel=6)


# ---------------------------------------------------------------------------- dynamics
def hedge(profile, k, opts: HedgeOptions) -> SolverResult:
    n = profile.n_responses
    T = check_max_iter(opts.max_iter, 1000)
    default_eta = opts.eta is None
    eta = float(np.sqrt(8.0 * np.log(max(n, 2)) / T)) if opts.eta is None else opts.eta
    check_every = max(1, T // 50) if opts.check_every is None else opts.check_every
    oracle = _full_oracle(profile, k)
    target = 1.0 / (k + 1)

    def certificate(state, it):
        # the average of the iterates played (before any round: the start π0)
        avg = state.inner.w if state.iterates == 0 else state.pi_sum / state.iterates
        e = float(oracle(avg).max() - target)
        return e, 1, e <= opts.tol

    out = dyn.run(dyn.averaged(dyn.hedge(oracle, eta)), certificate, pi0=np.full(n, 1.0 / n),
                  max_iter=T, check_every=check_every, desc="hedge", progress=opts.progress,
                  time_limit=opts.time_limit)
    state = out.state
    T_run = state.iterates
    if T_run == 0:  # π0 met tol before any round: it is the one iterate, played once
        pi_bar, r_bar, T_eff = state.inner.w, oracle(state.inner.w), 1
        r_last = r_bar
    else:
        pi_bar, r_bar, T_eff = state.pi_sum / T_run, state.r_sum / T_run, T_run
        r_last = state.inner.r
    diagnostics = HedgeDiagnostics(
        eta=float(eta), averaged_iterates=T_run,
        sampled_iterate_robust_win_rate=float(1.0 - r_bar.max()),
        sampled_iterate_exploitability=float(r_bar.max() - target),
        sampled_iterate_bound=float(k / (k + 1) - np.sqrt(np.log(n) / (2.0 * T_eff))),
        # the regret bound is a theorem only for η = sqrt(8 log n / T) run for the full T
        bound_applies=bool(default_eta and T_run == T),
        last_iterate_exploitability=float(r_last.max() - target),
        trace_seconds=tuple(out.trace_seconds))
    return certify(profile, pi_bar, k, method="hedge", iterations=state.t,
                   payoff_evals=state.evals + out.certificate_evals + (T_run == 0),
                   converged=opts.tol,
                   trace=out.trace, seconds=out.seconds, diagnostics=diagnostics)


def last_iterate(name: str, dynamics):
    """Optimistic or extragradient: run ``dynamics(oracle, eta)`` and certify the last
    iterate."""
    def solve(profile, k, opts: LastIterateOptions) -> SolverResult:
        n = profile.n_responses
        T = check_max_iter(opts.max_iter, 2000)
        eta = 1.0 / k if opts.eta is None else opts.eta
        target = 1.0 / (k + 1)

        def certificate(state, it):
            e = float(state.r.max() - target)
            return e, 0, e <= opts.tol

        out = dyn.run(dynamics(_full_oracle(profile, k), eta), certificate,
                      pi0=np.full(n, 1.0 / n), max_iter=T, desc=name, progress=opts.progress,
                      time_limit=opts.time_limit)
        return certify(profile, out.state.pi, k, method=name, iterations=out.state.t,
                       payoff_evals=out.state.evals, converged=opts.tol, trace=out.trace,
                       seconds=out.seconds,
                       diagnostics=LastIterateDiagnostics(
                           eta=float(eta), trace_seconds=tuple(out.trace_seconds)))
    return solve


def mmd(profile, k, opts: MMDOptions) -> SolverResult:
    n = profile.n_responses
    tau = opts.tau
    mu = check_reference(opts.reference, n, positive=True)
    log_mu = np.log(mu)
    T = check_max_iter(opts.max_iter, 2000)
    eta = 1.0 / k if opts.eta is None else opts.eta
    target = 1.0 / (k + 1)
    residuals = []

    def certificate(state, it):
        res = dyn.mmd_residual(state.pi, state.r, tau, log_mu)
        residuals.append((it, res))
        return float(state.r.max() - target), 0, res <= opts.tol

    out = dyn.run(dyn.mmd(_full_oracle(profile, k), eta, tau, mu), certificate, pi0=mu,
                  max_iter=T, desc="mmd", progress=opts.progress, time_limit=opts.time_limit)
    state = out.state
    diagnostics = MMDDiagnostics(
        eta=float(eta), tau=tau, residual=residuals[-1][1], residual_trace=tuple(residuals),
        kl_bound=float(tau * np.max(state.log_pi - log_mu)),
        trace_seconds=tuple(out.trace_seconds))
    return certify(profile, state.pi, k, method="mmd", iterations=state.t,
                   payoff_evals=state.evals, converged=bool(out.done), trace=out.trace,
                   seconds=out.seconds, diagnostics=diagnostics)


# ---------------------------------------------------------------------------- auto
class _SubGame:
    """The alignment game restricted to candidate responses C (π supported on C): its payoffs
    on C equal the full game's, at O(U |C|) per evaluation and O(U |C|^2) per Jacobian."""

    def __init__(self, profile, k, C):
        self.C = np.asarray(C, dtype=np.int64)
        U, m = profile.n_users, self.C.size
        check_size(U * m * profile.levels.itemsize + 8 * m * m,
                   f"the game restricted to {m} candidate responses ({U} users)")
        self.levels = np.empty((U, m), dtype=profile.levels.dtype)
        _kernels.restrict_levels(profile.levels, self.C, self.levels,
                                 4 * numba.get_num_threads())
        self.weights = profile.weights
        self.k = k
        self.nodes, self.wq = _kernels.gauss_nodes(k)
        self.evals = 0
        self.jacobians = 0
        self.newton_steps = 0
        self.lp_steps = 0

    def payoffs(self, p):
        self.evals += 1
        return core_kernels.payoffs_kernel(self.levels, self.weights,
                                           np.ascontiguousarray(p[None, :]), self.k,
                                           4 * numba.get_num_threads())[0]

    def jacobian(self, p):
        self.jacobians += 1
        return _kernels.payoff_jacobian(self.levels, self.weights, np.ascontiguousarray(p),
                                        self.k, self.nodes, self.wq)


def _slp_step(L, J, p, radius):
    """The trust-region LP of Madsen's minimax method at p:

        minimise v  s.t.  L_y + J_y (x - p) <= v  (y in C),  Σx = 1,
                          max(0, p - radius) <= x <= p + radius.

    By convexity of ``L(·, y)`` the linear model is a lower bound on ``G``. Returns (x, v).
    """
    m = p.size
    c = np.zeros(m + 1)
    c[-1] = 1.0
    A_ub = np.hstack([J, -np.ones((m, 1))])
    b_ub = J @ p - L
    A_eq = np.zeros((1, m + 1))
    A_eq[0, :m] = 1.0
    lo = np.clip(p - radius, 0.0, None)
    hi = np.minimum(p + radius, 1.0)
    bounds = np.column_stack([np.append(lo, -np.inf), np.append(hi, np.inf)])
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds,
                  method="highs-ds", options={"primal_feasibility_tolerance": 1e-10,
                                              "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise SolverError(f"trust-region LP failed: {res.message}", res.status)
    x = np.clip(res.x[:m], 0.0, None)
    return x / x.sum(), float(res.x[-1])


def _newton_on_support(L, J, p, max_pivots=40):
    """Josephy-Newton step: solve the linearised complementarity problem at p,

        x >= 0, Σx = 1, L + J (x - p) <= v, with equality where x > 0,

    by support pivoting: on a guess S solve ``[[J_SS, -1], [1ᵀ, 0]] [x_S - p_S; v] =
    [-L_S - J_{S,~S}(0 - p_~S); 0]``, drop the negative masses, add the responses whose linear
    model beats v, and repeat (at most ``max_pivots`` times). Starts from S = {p > 0}. Returns
    (x, v), or None when the pivoting does not settle (the LP step handles it)."""
    m = p.size
    in_S = p > 0
    for _ in range(max_pivots):
        S = np.flatnonzero(in_S)
        s = S.size
        if s == 0:
            return None
        M = np.zeros((s + 1, s + 1))
        M[:s, :s] = J[np.ix_(S, S)]
        M[:s, s] = -1.0
        M[s, :s] = 1.0
        # x is 0 off S: the linear model at y is L_y + J_yS (x_S - p_S) - J_{y,~S} p_~S
        base = L - J[:, ~in_S] @ p[~in_S] - J[:, S] @ p[S]
        rhs = np.concatenate([-base[S], [1.0]])
        try:
            sol = np.linalg.solve(M, rhs)
        except np.linalg.LinAlgError:
            return None
        xs, v = sol[:s], sol[s]
        if not np.all(np.isfinite(sol)):
            return None
        neg = xs < 0
        model = base + J[:, S] @ xs
        viol = (~in_S) & (model > v + 1e-15)
        if not neg.any() and not viol.any():
            x = np.zeros(m)
            x[S] = xs
            return x / x.sum(), float(v)
        in_S[S[neg]] = False
        in_S |= viol
    return None


def _solve_restricted(game, p, target, inner_tol, max_steps=100, deadline=None):
    """Josephy-Newton steps, with the trust-region LP step as the safeguard, on the restricted
    game until ``max_y L(p, y) - 1/(k+1) <= inner_tol`` (the restricted minimum of G is exactly
    1/(k+1)), ``max_steps`` steps, or the clock passes ``deadline`` (``time.perf_counter()``).
    Returns (p, L, steps)."""
    L = game.payoffs(p)
    G = L.max()
    radius = max(0.5 * p.max(), 1.0 / p.size)
    steps = 0
    while G - target > inner_tol and steps < max_steps and not _past(deadline):
        steps += 1
        L, J = game.jacobian(p)
        G = L.max()
        newton = _newton_on_support(L, J, p)
        if newton is not None:
            x, v = newton
            Lx = game.payoffs(x)
            if Lx.max() < G:
                p, L, G = x, Lx, Lx.max()
                game.newton_steps += 1
                continue
        while True:
            x, v = _slp_step(L, J, p, radius)
            game.lp_steps += 1
            pred = G - v
            if pred <= 0.1 * inner_tol:
                return p, L, steps
            Lx = game.payoffs(x)
            Gx = Lx.max()
            rho = (G - Gx) / pred
            if rho > 0.75 and np.abs(x - p).max() > 0.9 * radius:
                radius *= 2.0
            elif rho < 0.25:
                radius = radius / 4.0
            if rho > 1e-3:
                p, L, G = x, Lx, Gx
                break
            if radius < 1e-15:
                return p, L, steps
    return p, L, steps


def _past(deadline) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def default_m0(n: int, U: int) -> int:
    """The first candidate set size of ``"auto"``: max(32, min(n // 8, 16 U, ⌈√n⌉))."""
    return max(32, min(n // 8, 16 * U, int(np.ceil(np.sqrt(n)))))


def auto(profile, k, opts: AutoOptions) -> SolverResult:
    """Column generation over candidate supports, each restricted game solved by Josephy-Newton
    steps safeguarded by trust-region sequential linear programming on the convex ``G``.

    1. Evaluate ``L(uniform, ·)``; the candidate set C is the ``m0`` (default
       max(32, min(n/8, 16 U, ⌈√n⌉)), U user types) responses with the largest payoff (those
       that beat uniform sampling most). The first restricted solve costs O(U |C|^2) per
       Jacobian and an LP over |C| columns: with |C| = n/8 it was the whole cost for few users
       (U = 3, n = 8,000, k = 4: 49.8 s against 0.04 s) and for many (U = 5,000, n = 10^4,
       k = 16: 48 s of 50 for an equilibrium on 11 responses), while ⌈√n⌉ keeps a Jacobian near
       the cost of one full evaluation, and a start too small costs only rounds: each round adds
       up to max(16, |C|) violators.
    2. Solve the game restricted to C. At p compute ``L`` and the Jacobian
       ``J[y, z] = dL(p, y)/dp(z)`` on C (per user ``∂f/∂a`` if z is strictly worse than y,
       ``∂f/∂t`` if tied, ``f(a, t) = ∫(a + s t)^k ds``; O(U |C|^2), compiled). Take the
       Josephy-Newton step: the solution of the linearised complementarity problem
       ``x >= 0, Σx = 1, L + J(x - p) <= v`` with equality on the support, found by support
       pivoting (``_newton_on_support``); accept it if it lowers ``G``. Otherwise (pivoting does
       not settle, a singular system, or no decrease) take the trust-region LP step
       ``min v s.t. L + J (x - p) <= v, x ∈ Δ(C), ‖x - p‖_∞ <= radius`` (a lower model of G by
       convexity; Madsen's minimax method), accepted on a fair share of the predicted decrease.
       Both converge quadratically near a vertex solution (|S| active payoffs for |S| - 1 free
       masses and v, the generic case). The restricted minimum of G is exactly 1/(k+1), so the
       restricted gap is known exactly; each restricted game is solved to 0.05·tol.
    3. Evaluate ``L(π, ·)`` on all n responses (π = p on C, 0 elsewhere). If
       ``max_y L - 1/(k+1) <= tol`` stop; else add to C the most violating responses
       (``L_y > 1/(k+1)``; at most max(16, |C|)) and go to 2 warm-started.

    The returned π is then certified by ``certify`` (one more fresh full evaluation).
    """
    n = profile.n_responses
    tol = opts.tol
    talk = Talker(opts.progress, "solve_ualign auto")
    m0 = default_m0(n, profile.n_users) if opts.m0 is None else opts.m0
    max_outer = check_max_iter(opts.max_iter, 60)
    target = 1.0 / (k + 1)
    t0 = time.perf_counter()
    deadline = None if opts.time_limit is None else t0 + opts.time_limit
    oracle = _full_oracle(profile, k)
    L = oracle(np.full(n, 1.0 / n))
    evals = 1
    C = np.sort(np.argsort(-L, kind="stable")[:min(n, m0)])
    p = np.full(C.size, 1.0 / C.size)
    trace = [(0, float(L.max() - target))]
    times = [time.perf_counter() - t0]
    talk.say(f"{profile.n_users} users x {n} responses, k = {k}: uniform start, exploitability "
             f"{trace[0][1]:.3e}, {C.size} candidates")
    inner_tol = 0.05 * tol
    sub_evals = sub_jac = slp_steps = newton_steps = lp_steps = 0
    converged = False
    outer = 0
    sizes = []
    while outer < max_outer and not _past(deadline):
        outer += 1
        game = _SubGame(profile, k, C)
        p, _, steps = _solve_restricted(game, p, target, inner_tol, deadline=deadline)
        sub_evals += game.evals
        sub_jac += game.jacobians
        newton_steps += game.newton_steps
        lp_steps += game.lp_steps
        slp_steps += steps
        sizes.append(int(C.size))
        pi = np.zeros(n)
        pi[C] = p
        L = oracle(pi)
        evals += 1
        e = float(L.max() - target)
        trace.append((outer, e))
        times.append(time.perf_counter() - t0)
        talk.say(f"round {outer}: |C| = {C.size}, support {int((p > 0).sum())}, exploitability "
                 f"{e:.3e}")
        if e <= tol:
            converged = True
            break
        outside = np.ones(n, dtype=bool)
        outside[C] = False
        cand = np.flatnonzero(outside & (L > target + inner_tol))
        if cand.size == 0:  # the restricted solve stalled above tol: nothing to add
            break
        add = cand[np.argsort(-L[cand], kind="stable")[:max(16, C.size)]]
        C_new = np.concatenate([C, add])  # never drop: C only grows, so no cycling
        p = np.concatenate([p, np.zeros(add.size)])
        order = np.argsort(C_new)
        C, p = C_new[order], p[order]
    pi = np.zeros(n)
    pi[C] = p
    diagnostics = AutoDiagnostics(
        rounds=outer, candidate_sizes=tuple(sizes), support_size=int((pi > 0).sum()),
        restricted_evals=sub_evals, restricted_jacobians=sub_jac, steps=slp_steps,
        newton_steps=newton_steps, lp_steps=lp_steps, trace_seconds=tuple(times))
    return certify(profile, pi, k, method="auto", iterations=outer, payoff_evals=evals,
                   converged=tol if converged else False, trace=trace,
                   seconds=time.perf_counter() - t0, diagnostics=diagnostics)
