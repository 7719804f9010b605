"""``solve_ualign``: a symmetric Nash equilibrium of the (k+1)-player alignment game.

An equilibrium is a π with ``max_y L(π, y) <= 1/(k+1)`` (THEORY §4), i.e. a minimiser of the
convex function ``G(π) = max_y L(π, y)`` whose minimum is exactly ``1/(k+1)``. Methods:

- ``"hedge"``, ``"optimistic"``, ``"extragradient"``, ``"mmd"``: self-play dynamics
  (``ualign.solvers.dynamics``) on full payoff evaluations.
- ``"auto"`` (default): column generation over candidate supports; each restricted game solved
  by Josephy-Newton steps (support pivoting) safeguarded by trust-region sequential linear
  programming; certified by a fresh full evaluation (see ``_auto``).

Every method ends with a fresh full evaluation of ``L(π, ·)`` (the certificate in the result).

References: shared/spec/THEORY.md §3-5.
"""

from __future__ import annotations

import contextlib
import time

import numba
import numpy as np
from scipy.optimize import linprog

from ualign.core import _kernels as core_kernels
from ualign.core._checks import check_k
from ualign.core.payoffs import deviation_payoffs
from ualign.solvers import _kernels
from ualign.solvers import dynamics as dyn
from ualign.solvers.nlhf import SolverError
from ualign.solvers.result import (
    SolverResult,
    certify,
    check_max_iter,
    check_nonneg,
    check_positive,
    check_profile,
    check_reference,
)

__all__ = ["METHODS", "solve_ualign"]

METHODS = ("auto", "hedge", "optimistic", "extragradient", "mmd")


def _check_tol(tol) -> float:
    return check_positive(tol, "tol")


def solve_ualign(profile, k: int, method: str = "auto", tol: float = 1e-9,
                 max_iter: int | None = None, seed=None, *, progress: bool = False,
                 **options) -> SolverResult:
    """A symmetric Nash equilibrium π* of the (k+1)-player alignment game; ``π*^{⊗k}`` is
    ``(k, k/(k+1))``-robustly aligned (THEORY §4).

    Args:
      profile: the population (``ualign.Profile``).
      k: samples shown per query, an integer >= 1.
      method: ``"auto"`` (fast, certified; default), ``"hedge"``, ``"optimistic"``,
        ``"extragradient"`` or ``"mmd"``.
      tol: target exploitability ``max_y L(π, y) - 1/(k+1)`` (for ``"mmd"``: target residual of
        the regularised fixed point).
      max_iter: iteration cap (default per method: auto 60 outer rounds, hedge T = 1000 played
        iterates (the first is uniform),
        optimistic/extragradient 2000, mmd 2000).
      seed: int or ``numpy.random.Generator``; the methods are deterministic, it is accepted
        for a uniform signature and recorded.
      progress: show a progress bar.
      options: per method. hedge: ``eta`` (default ``sqrt(8 log n / T)``, T = max_iter),
        ``check_every``; optimistic/extragradient: ``eta`` (default ``1/k``); mmd: ``tau``
        (default 0.01), ``reference`` μ (default uniform; strictly positive), ``eta``
        (default ``1/k``); every dynamic: ``time_limit`` (seconds; stop early, unconverged);
        auto: ``m0`` (first candidate set size, default max(32, n // 8)).

    Returns:
      ``SolverResult``: ``exploitability`` and ``robust_win_rate`` from a fresh full evaluation;
      ``converged`` says whether the certified exploitability is <= tol (mmd: residual <= tol).

    Raises:
      ValueError on bad input (k < 1, unknown method, τ < 0, reference off the simplex or with
      zeros, unknown options); ``SolverError`` if an LP fails.

    References: shared/spec/THEORY.md §4-5.
    """
    profile = check_profile(profile)
    k = check_k(k)
    tol = _check_tol(tol)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
        raise ValueError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    fn = {"auto": _auto, "hedge": _hedge, "optimistic": _last_iterate,
          "extragradient": _last_iterate, "mmd": _mmd}[method]
    allowed = {"auto": {"m0"}, "hedge": {"eta", "check_every"}, "optimistic": {"eta"},
               "extragradient": {"eta"}, "mmd": {"tau", "reference", "eta"}}[method]
    if method != "auto":
        allowed = allowed | {"time_limit"}
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(f"options {sorted(unknown)} are not understood by method {method!r} "
                         f"(it takes {sorted(allowed)})")
    with _serial_if_small(profile):
        return fn(profile, k, method=method, tol=tol, max_iter=max_iter, progress=progress,
                  **options)


SERIAL_BELOW = 200_000  # U·n below which compiled kernels run on one thread


@contextlib.contextmanager
def _serial_if_small(profile):
    """Small instances run the compiled kernels on one thread: a parallel launch costs more than
    the work (0.1-0.3 s per launch was measured on a loaded 2-core machine, against < 1 ms
    serial). The caller's numba thread count is restored afterwards."""
    U, n = profile.shape
    if U * n >= SERIAL_BELOW:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _full_oracle(profile, k):
    def oracle(pi):
        return deviation_payoffs(profile, pi, k)
    return oracle


# ---------------------------------------------------------------------------- dynamics
def _hedge(profile, k, *, method, tol, max_iter, progress, eta=None, check_every=None,
           time_limit=None):
    n = profile.n_responses
    T = check_max_iter(max_iter, 1000)
    default_eta = eta is None
    eta = np.sqrt(8.0 * np.log(max(n, 2)) / T) if eta is None else check_positive(eta, "eta")
    check_every = max(1, T // 50) if check_every is None else check_k(check_every,
                                                                        "check_every")
    oracle = _full_oracle(profile, k)
    target = 1.0 / (k + 1)

    def gap(state, it):
        avg = state.pi_sum / state.t
        e = float(oracle(avg).max() - target)
        return e, 1, e <= tol

    state, trace, extra, _done, secs, times = dyn.run_dynamics(
        lambda: dyn.hedge_init(oracle, np.full(n, 1.0 / n)),
        lambda s: dyn.hedge_step(s, oracle, eta), gap, max_iter=T - 1, check_every=check_every,
        desc="hedge", progress=progress, time_limit=time_limit)
    T_run = state.t
    r_bar = state.r_sum / T_run
    extras = {
        "seconds": secs, "trace_seconds": times, "eta": eta, "averaged_iterates": T_run,
        "sampled_iterate_robust_win_rate": float(1.0 - r_bar.max()),
        "sampled_iterate_exploitability": float(r_bar.max() - target),
        "sampled_iterate_bound": float(k / (k + 1) - np.sqrt(np.log(n) / (2.0 * T_run))),
        # the regret bound is a theorem only for η = sqrt(8 log n / T) run for the full T
        "bound_applies": bool(default_eta and T_run == T),
        "last_iterate_exploitability": float(state.r.max() - target),
    }
    return certify(profile, state.pi_sum / T_run, k, method=method, iterations=T_run - 1,
                   payoff_evals=state.evals + extra, converged=tol, trace=trace, extras=extras)


def _last_iterate(profile, k, *, method, tol, max_iter, progress, eta=None, time_limit=None):
    n = profile.n_responses
    T = check_max_iter(max_iter, 2000)
    eta = 1.0 / k if eta is None else check_positive(eta, "eta")
    oracle = _full_oracle(profile, k)
    target = 1.0 / (k + 1)
    init, step = ((dyn.optimistic_init, dyn.optimistic_step) if method == "optimistic"
                  else (dyn.extragradient_init, dyn.extragradient_step))

    def gap(state, it):
        e = float(state.r.max() - target)
        return e, 0, e <= tol

    state, trace, _, _, secs, times = dyn.run_dynamics(
        lambda: init(oracle, np.full(n, 1.0 / n)), lambda s: step(s, oracle, eta), gap,
        max_iter=T, desc=method, progress=progress, time_limit=time_limit)
    return certify(profile, state.pi, k, method=method, iterations=state.t,
                   payoff_evals=state.evals, converged=tol, trace=trace,
                   extras={"seconds": secs, "trace_seconds": times, "eta": eta})


def _mmd(profile, k, *, method, tol, max_iter, progress, tau=0.01, reference=None, eta=None,
         time_limit=None):
    n = profile.n_responses
    tau = check_positive(check_nonneg(tau, "tau"), "tau")
    mu = check_reference(reference, n, positive=True)
    log_mu = np.log(mu)
    T = check_max_iter(max_iter, 2000)
    eta = 1.0 / k if eta is None else check_positive(eta, "eta")
    oracle = _full_oracle(profile, k)
    target = 1.0 / (k + 1)
    residuals = []

    def gap(state, it):
        res = dyn.mmd_residual(state.pi, state.r, tau, log_mu)
        residuals.append((it, res))
        return float(state.r.max() - target), 0, res <= tol

    state, trace, _, done, secs, times = dyn.run_dynamics(
        lambda: dyn.mmd_init(oracle, mu), lambda s: dyn.mmd_step(s, oracle, eta, tau, log_mu),
        gap, max_iter=T, desc="mmd", progress=progress, time_limit=time_limit)
    return certify(profile, state.pi, k, method=method, iterations=state.t,
                   payoff_evals=state.evals, converged=bool(done), trace=trace,
                   extras={"seconds": secs, "trace_seconds": times, "eta": eta, "tau": tau,
                           "residual_trace": residuals,
                           "residual": residuals[-1][1],
                           "kl_bound": float(tau * np.max(state.log_pi - log_mu))})


# ---------------------------------------------------------------------------- auto
class _SubGame:
    """The alignment game restricted to candidate responses C (π supported on C): its payoffs
    on C equal the full game's, at O(U |C|) per evaluation and O(U |C|^2) per Jacobian."""

    def __init__(self, profile, k, C):
        n = profile.n_responses
        self.C = np.asarray(C, dtype=np.int64)
        pos = np.full(n, -1, dtype=np.int64)
        pos[self.C] = np.arange(self.C.size)
        self.order = _kernels.suborder(profile._sorted_orders, pos, self.C.size)
        self.weights = profile.weights
        self.k = k
        self.nodes, self.wq = _kernels.gauss_nodes(k)
        self.evals = 0
        self.jacobians = 0
        self.newton_steps = 0
        self.lp_steps = 0
        U, m = self.order.shape
        self.buffers = (np.empty((U, m), np.int16), np.empty((U, m), np.float32),
                        np.empty((U, m), np.float32))

    def payoffs(self, p):
        self.evals += 1
        return core_kernels.payoffs_kernel(self.order, self.weights,
                                           np.ascontiguousarray(p[None, :]), self.k,
                                           4 * numba.get_num_threads())[0]

    def jacobian(self, p):
        self.jacobians += 1
        return _kernels.payoff_jacobian(self.order, self.weights, np.ascontiguousarray(p),
                                        self.k, self.nodes, self.wq, self.buffers)


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


def _solve_restricted(game, p, target, inner_tol, max_steps=100):
    """Josephy-Newton steps, with the trust-region LP step as the safeguard, on the restricted
    game until ``max_y L(p, y) - 1/(k+1) <= inner_tol`` (the restricted minimum of G is exactly
    1/(k+1)). Returns (p, L, steps)."""
    L = game.payoffs(p)
    G = L.max()
    radius = max(0.5 * p.max(), 1.0 / p.size)
    steps = 0
    while G - target > inner_tol and steps < max_steps:
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


def _auto(profile, k, *, method, tol, max_iter, progress, m0=None):
    """Column generation over candidate supports, each restricted game solved by Josephy-Newton
    steps safeguarded by trust-region sequential linear programming on the convex ``G``.

    1. Evaluate ``L(uniform, ·)``; the candidate set C is the ``m0`` (default max(32, n/8))
       responses with the largest payoff (those that beat uniform sampling most).
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
    m0 = max(32, n // 8) if m0 is None else check_k(m0, "m0")
    max_outer = check_max_iter(max_iter, 60)
    target = 1.0 / (k + 1)
    t0 = time.perf_counter()
    oracle = _full_oracle(profile, k)
    L = oracle(np.full(n, 1.0 / n))
    evals = 1
    C = np.sort(np.argsort(-L, kind="stable")[:min(n, m0)])
    p = np.full(C.size, 1.0 / C.size)
    trace = [(0, float(L.max() - target))]
    times = [time.perf_counter() - t0]
    inner_tol = 0.05 * tol
    sub_evals = sub_jac = slp_steps = newton_steps = lp_steps = 0
    converged = False
    outer = 0
    sizes = []
    while outer < max_outer:
        outer += 1
        game = _SubGame(profile, k, C)
        p, _, steps = _solve_restricted(game, p, target, inner_tol)
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
        if progress:
            print(f"auto round {outer}: |C|={C.size} support={int((p > 0).sum())} "
                  f"exploitability={e:.3e} ({time.perf_counter() - t0:.1f}s)")
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
    extras = {"seconds": time.perf_counter() - t0, "trace_seconds": times, "rounds": outer,
              "candidate_sizes": sizes,
              "support_size": int((pi > 0).sum()), "restricted_evals": sub_evals,
              "restricted_jacobians": sub_jac, "steps": slp_steps,
              "newton_steps": newton_steps, "lp_steps": lp_steps}
    return certify(profile, pi, k, method=method, iterations=outer, payoff_evals=evals,
                   converged=tol if converged else False, trace=trace, extras=extras)
