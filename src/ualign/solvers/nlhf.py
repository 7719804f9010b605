"""NLHF: the Nash equilibrium of the pairwise preference game (k = 1), exact or KL-regularised.

For k = 1 the deviation payoff is linear: ``L(π, y) = P(y ≻ π) = 1/2 + (M π)_y / 2`` with the
margin matrix ``M = P - Pᵀ`` (ties count ½). The unregularised equilibrium is the (margin)
**maximal lottery**, the LP

    maximise v  s.t.  Σ_y p_y M[y, z] >= v  for every z,  Σ_y p_y = 1,  p >= 0,

whose value is 0 (M is skew-symmetric). With a reference μ and strength τ > 0 the regularised
game has the unique equilibrium ``π_τ = softmax(log μ + L(π_τ)/τ)``, found by magnetic mirror
descent and polished by Newton's method on that fixed-point equation.

References: shared/spec/THEORY.md §4 (k = 1), §5 (MMD); Fishburn 1984 (maximal lotteries);
Munos et al. 2024 (NLHF, Nash-MD).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from scipy.optimize import linprog

from ualign.core.checks import check_iterations, check_k
from ualign.solvers import dynamics as dyn
from ualign.solvers._talk import TIME_LIMIT, check_progress, stopped_early
from ualign.solvers.diagnostics import NLHFDiagnostics
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

__all__ = ["NLHFOptions", "maximal_lottery", "solve_nlhf"]


DIRECT_MAX = 400  # up to this n the maximal lottery is one LP; beyond, column generation


def maximal_lottery(margins: np.ndarray, *, tol: float = 1e-10,
                    time_limit: float | None = None) -> np.ndarray:
    """The maximal lottery of a skew-symmetric margin matrix ``M (n, n)`` by HiGHS.

    Solves ``max v s.t. Mᵀ p >= v, Σp = 1, p >= 0`` (value 0: M is skew-symmetric); raises
    ``SolverError`` with the HiGHS status on failure. Among several maximal lotteries HiGHS
    returns one vertex. Up to ``DIRECT_MAX`` responses this is one LP; beyond, column
    generation (an LP over all n columns held 35M nonzeros and took 285 s and 4.5 GB at
    n = 5,904): the LP restricted to candidates C (first the ``max(32, ⌈√n⌉)`` responses of
    largest margin sum), then every response checked against the restricted answer p (``Mᵀp``,
    O(n |C|)), the most violated (``(Mᵀp)_z < -tol``, at most ``max(16, |C|)``) added, until
    none is. ``time_limit`` (seconds) stops the rounds; the last restricted answer is returned.

    Examples:
      Margins of a majority cycle (0 beats 1 by 1, 1 beats 2 by 3, 2 beats 0 by 2): the maximal
      lottery is proportional to (3, 2, 1).

      >>> import numpy as np
      >>> from ualign.solvers import maximal_lottery
      >>> M = np.array([[0.0, 1.0, -2.0], [-1.0, 0.0, 3.0], [2.0, -3.0, 0.0]])
      >>> maximal_lottery(M).round(4).tolist()
      [0.5, 0.3333, 0.1667]
    """
    M = np.asarray(margins, dtype=float)
    n = M.shape[0]
    if n <= DIRECT_MAX:
        return _lottery_lp(M, tol, time_limit)
    t0 = time.perf_counter()
    m0 = max(32, int(np.ceil(np.sqrt(n))))
    C = np.sort(np.argsort(-M.sum(axis=1), kind="stable")[:m0])
    while True:
        left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - t0))
        p_C = _lottery_lp(M[np.ix_(C, C)], tol, left)
        full = M[C, :].T @ p_C               # (Mᵀp)_z over every response z
        viol = np.flatnonzero(full < -tol)
        viol = viol[~np.isin(viol, C)]
        p = np.zeros(n)
        p[C] = p_C
        if viol.size == 0 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            return p
        add = viol[np.argsort(full[viol], kind="stable")[:max(16, C.size)]]
        C = np.sort(np.concatenate([C, add]))


def _lottery_lp(M: np.ndarray, tol: float, time_limit: float | None) -> np.ndarray:
    """``max v s.t. Mᵀ p >= v, Σp = 1, p >= 0`` by HiGHS: p."""
    n = M.shape[0]
    # variables (p_0..p_{n-1}, v); minimise -v; -Mᵀp + v <= 0
    c = np.zeros(n + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-M.T, np.ones((n, 1))])
    A_eq = np.zeros((1, n + 1))
    A_eq[0, :n] = 1.0
    bounds = [(0.0, None)] * n + [(-1.0, 1.0)]
    options = {"primal_feasibility_tolerance": tol, "dual_feasibility_tolerance": tol}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=bounds,
                  method="highs", options=options)
    if res.status != 0 or res.x is None:
        raise SolverError(f"maximal-lottery LP failed: {res.message}", res.status)
    p = np.clip(res.x[:n], 0.0, None)
    return p / p.sum()


def _regularised_newton(M, log_mu, tau, pi, *, iters=50, tol=1e-13, deadline=None):
    """Newton on ``log π - log μ - L(π)/τ - c = 0``, ``Σπ = 1`` with ``L = 1/2 + Mπ/2``.

    Unknowns ``(π, c)``; Jacobian ``[[diag(1/π) - M/(2τ), -1], [1ᵀ, 0]]``; damped so that π stays
    positive. Returns ``(π, iterations, residual)``.
    """
    n = pi.size
    c = 0.0
    for it in range(iters):
        if _past(deadline):
            iters = it
            break
        L = 0.5 + 0.5 * (M @ pi)
        F = np.concatenate([np.log(pi) - log_mu - L / tau - c, [pi.sum() - 1.0]])
        res = np.abs(F).max()
        if res <= tol:
            return pi, it, res
        Jm = np.zeros((n + 1, n + 1))
        with np.errstate(over="ignore", divide="ignore"):   # checked just below
            Jm[:n, :n] = np.diag(1.0 / pi) - M / (2.0 * tau)
        Jm[:n, n] = -1.0
        Jm[n, :n] = 1.0
        if not (np.isfinite(Jm).all() and np.isfinite(F).all()):
            break                       # π underflowed: LAPACK would loop on inf/NaN
        d = np.linalg.lstsq(Jm, -F, rcond=None)[0]
        step = 1.0
        neg = d[:n] < 0
        if np.any(neg):
            step = min(1.0, 0.9 * np.min(-pi[neg] / d[:n][neg]))
        pi = pi + step * d[:n]
        c = c + step * d[n]
    L = 0.5 + 0.5 * (M @ pi)
    return pi, iters, np.abs(np.log(pi) - log_mu - L / tau - c).max()


def _log_newton(M, log_mu, tau, x, *, iters=60, rtol=1e-13, deadline=None):
    """Newton on the fixed point in log space: unknowns ``x = log π`` and ``c``,

        F(x, c) = (x - log μ - L(π)/τ - c,  log Σ_y exp(x_y)),   π = exp(x),

    Jacobian ``[[I - M diag(π)/(2τ), -1], [softmax(x)ᵀ, 0]]`` (nonsingular: ``diag(π)^{1/2} M
    diag(π)^{1/2}`` is skew, so the block is the identity plus a skew matrix up to similarity),
    with backtracking on ``‖F‖_2``. Tiny masses stay representable (their logs are the
    unknowns). Returns ``(x, converged, iterations)``; converged when ``‖F‖_∞ <= tol`` with
    ``tol = rtol (1 + 1/τ + max|log μ|)``, the scale of F's terms (rounding alone leaves
    about ``ε/τ``)."""
    n = x.size
    tol = rtol * (1.0 + 1.0 / tau + float(np.abs(log_mu).max()))
    x = x - _logsumexp(x)
    pi = np.exp(x)
    c = float(np.mean(x - log_mu - (0.5 + 0.5 * (M @ pi)) / tau))

    def F_of(x, c):
        with np.errstate(over="ignore", invalid="ignore"):  # a trial step may overshoot
            pi = np.exp(x)
            return np.concatenate([x - log_mu - (0.5 + 0.5 * (M @ pi)) / tau - c,
                                   [_logsumexp(x)]]), pi

    F, pi = F_of(x, c)
    norm = float(np.linalg.norm(F))
    for it in range(iters):
        if np.abs(F).max() <= tol:
            return x, True, it
        if _past(deadline):
            return x, False, it
        J = np.zeros((n + 1, n + 1))
        J[:n, :n] = np.eye(n) - M * (pi / (2.0 * tau))[None, :]
        J[:n, n] = -1.0
        J[n, :n] = pi / pi.sum()
        try:
            d = np.linalg.solve(J, -F)
        except np.linalg.LinAlgError:
            return x, False, it
        if not np.all(np.isfinite(d)):
            return x, False, it
        step = 1.0
        while step >= 1e-10:
            x_new, c_new = x + step * d[:n], c + step * d[n]
            F_new, pi_new = F_of(x_new, c_new)
            with np.errstate(over="ignore", invalid="ignore"):
                norm_new = float(np.linalg.norm(F_new))
            if np.isfinite(norm_new) and norm_new <= (1.0 - 1e-4 * step) * norm:
                break
            step *= 0.5
        else:
            return x, bool(np.abs(F).max() <= tol), it
        x, c, F, pi, norm = x_new, c_new, F_new, pi_new, norm_new
    return x, bool(np.abs(F).max() <= tol), iters


def _past(deadline) -> bool:
    return deadline is not None and time.perf_counter() > deadline


def _logsumexp(x):
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))


def _continuation(M, log_mu, tau, *, tau0=1.0, shrink=0.25, max_stages=400, deadline=None):
    """π_τ by continuation in τ: from ``π_{τ0}`` (Newton from μ, where ``τ0 = max(τ, 1)``
    keeps the fixed point near μ) down to τ, each stage's Newton (``_log_newton``) warm-started
    at the previous stage's answer; a stage that fails is retried with a smaller decrease
    (``shrink`` → its square root). Returns ``(π or None, Newton iterations)``; π is None when
    a stage could not be solved."""
    cur = max(tau, tau0)
    x, ok, total = _log_newton(M, log_mu, cur, log_mu.copy(), deadline=deadline)
    stages = 1
    if not ok:
        return None, total
    f = shrink
    while cur > tau and stages < max_stages and not _past(deadline):
        nxt = max(tau, cur * f)
        x_new, ok, its = _log_newton(M, log_mu, nxt, x, deadline=deadline)
        stages += 1
        total += its
        if ok:
            x, cur = x_new, nxt
            f = min(shrink, f * f)
        else:
            f = np.sqrt(f)
            if f > 1.0 - 1e-6:
                break
    if cur > tau:
        return None, total
    pi = np.exp(x - _logsumexp(x))
    return pi / pi.sum(), total


def solve_nlhf(profile, tau: float = 0.0, reference=None, *, tol: float = 1e-9,
               max_iter: int | None = None, eta: float | None = None,
               progress: bool | None = None, time_limit: float | None = TIME_LIMIT
               ) -> SolverResult:
    """The NLHF policy: a Nash equilibrium of the k = 1 preference game.

    Args:
      profile: the population (a ``ualign.Profile``).
      tau: KL strength τ >= 0. τ = 0: the maximal lottery by LP (HiGHS); ``reference`` is not
        used then. τ > 0: the unique regularised equilibrium ``π_τ ∝ μ exp(P(· ≻ π_τ)/τ)``.
      reference: μ, a strictly positive distribution ``(n,)`` (default uniform); τ > 0 only.
      tol: τ = 0: ``converged`` means the certified exploitability is <= tol; τ > 0: the
        fixed-point residual ``‖π - softmax(log μ + L(π)/τ)‖_1`` is <= tol.
      max_iter: MMD updates before the Newton polish (τ > 0; default 200).
      eta: MMD step size (default ``1/(1+τ)``).
      progress: True, False, or None (default: a progress bar on stderr once MMD has run 5 s).
      time_limit: seconds (default 60; None: no limit) for the LP rounds (τ = 0) or for MMD,
        the Newton polish and the continuation (τ > 0); a solve that reaches it returns its
        certified policy with ``converged=False`` and a ``StoppedEarlyWarning``.

    τ > 0 runs MMD, then Newton on the fixed point from the MMD iterate, and keeps whichever has
    the smaller residual (a Newton step from far away can land on a worse point). When neither
    meets ``tol`` (small τ: MMD contracts by about ``1/(1+ητ)`` per step), π_τ is found by
    continuation in τ (``_continuation``: Newton in log space from τ = 1 down to τ, warm-started
    stage by stage) and kept if its residual is smaller still.

    Returns:
      ``SolverResult`` with k = 1 and ``NLHFDiagnostics``: for τ > 0 ``residual`` (of the
      returned π), ``newton_iterations`` (polish and continuation) and ``kl_bound``
      (``τ max_y log(π/μ)``, THEORY §5, from the returned π). The bound holds at the exact π_τ
      only, so it is reported (raised to the certified exploitability when rounding puts it
      below) only when the residual is <= tol and it bounds the certified exploitability;
      otherwise ``kl_bound`` is None and ``converged`` is False.

    Raises:
      ValueError: on bad input.
      SolverError: if the LP fails (with the HiGHS status).

    References: shared/spec/THEORY.md §4-5.

    Examples:
      A majority cycle (0 beats 1, 1 beats 2, 2 beats 0 by margins 0.3, 0.5, 0.2): the maximal
      lottery (τ = 0) and a KL-regularised equilibrium, which moves towards the uniform
      reference.

      >>> import numpy as np
      >>> from ualign import Profile, solve_nlhf
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> res = solve_nlhf(P)
      >>> res.policy.round(4).tolist(), res.k, res.converged, res.exploitability < 1e-9
      ([0.5, 0.2, 0.3], 1, True, True)
      >>> solve_nlhf(P, tau=1.0).policy.round(4).tolist()
      [0.3402, 0.3431, 0.3167]
    """
    profile = check_profile(profile)
    tau = check_nonneg(tau, "tau")
    tol = check_positive(tol, "tol")
    progress = check_progress(progress)
    if time_limit is not None:
        time_limit = check_positive(time_limit, "time_limit")
    if eta is not None:                 # checked at τ = 0 too, where it is unused
        eta = check_positive(eta, "eta")
    max_iter = check_max_iter(max_iter, 200)
    n = profile.n_responses
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    M = profile.margins()
    if tau == 0.0:
        if reference is not None:
            check_reference(reference, n, positive=False)
        left = None if deadline is None else max(1.0, deadline - time.perf_counter())
        p = maximal_lottery(M, time_limit=left)
        res = certify(profile, p, 1, method="nlhf-lp", iterations=1, payoff_evals=0,
                      converged=tol, trace=[], seconds=time.perf_counter() - t0,
                      diagnostics=NLHFDiagnostics(tau=tau))
        _warn_if_stopped(res, deadline, time_limit)
        return res
    mu = check_reference(reference, n, positive=True)
    log_mu = np.log(mu)
    eta = 1.0 / (1.0 + tau) if eta is None else eta

    def oracle(pi):
        return 0.5 + 0.5 * (M @ pi)

    def certificate(state, it):
        r = dyn.mmd_residual(state.pi, state.r, tau, log_mu)
        return r, 0, r <= 1e-6

    out = dyn.run(dyn.mmd(oracle, eta, tau, mu), certificate, pi0=mu, max_iter=max_iter,
                  desc="nlhf-mmd", progress=progress, time_limit=time_limit)
    state, trace = out.state, out.trace

    def residual_of(p):
        if not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0):
            return np.inf, mu  # a diverged iterate (e.g. a huge eta): never kept
        p = p / p.sum()
        return dyn.mmd_residual(p, oracle(p), tau, log_mu), p

    # Candidates, best residual kept: the MMD iterate, its Newton polish, and (when neither
    # meets tol) the answer of a continuation in τ.
    best_res, best_pi = residual_of(state.pi)
    newton_it = 0
    if np.isfinite(best_res):
        newton_pi, newton_it, _ = _regularised_newton(M, log_mu, tau, state.pi,
                                                      deadline=deadline)
        r_newton, p_newton = residual_of(np.clip(newton_pi, 0.0, None))
        if r_newton <= best_res:
            best_res, best_pi = r_newton, p_newton
    stages = 0
    if not best_res <= tol:
        cont_pi, stages = _continuation(M, log_mu, tau, deadline=deadline)
        if cont_pi is not None:
            r_cont, p_cont = residual_of(cont_pi)
            if r_cont <= best_res:
                best_res, best_pi = r_cont, p_cont
    pi, residual = best_pi, best_res
    newton_it += stages
    trace.append((state.t + newton_it, residual))
    # THEORY §5: at the exact π_τ, exploitability <= τ max_y log(π_τ/μ). Off the fixed point that
    # need not hold, so the bound is reported only when the residual meets tol and the bound,
    # recomputed from the returned π, is >= its certified exploitability (up to rounding).
    res = certify(profile, pi, 1, method="nlhf-mmd", iterations=state.t + newton_it,
                  payoff_evals=state.evals + newton_it + 1, converged=False, trace=[],
                  seconds=time.perf_counter() - t0)
    with np.errstate(divide="ignore"):
        bound = float(tau * np.max(np.log(res.policy / mu)))
    holds = bool(residual <= tol and bound >= res.exploitability - 1e-12)
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    fields.update(converged=holds, diagnostics=NLHFDiagnostics(
        tau=tau, residual=residual, residual_trace=tuple(trace), newton_iterations=newton_it,
        kl_bound=max(bound, res.exploitability) if holds else None))
    result = SolverResult(**fields)
    _warn_if_stopped(result, deadline, time_limit)
    return result


def _warn_if_stopped(result: SolverResult, deadline, time_limit) -> None:
    """A ``StoppedEarlyWarning`` when ``result`` is unconverged and the deadline passed."""
    if result.converged or not _past(deadline):
        return
    tau = getattr(result.diagnostics, "tau", 0.0)
    stopped_early(f"solve_nlhf(tau={tau:g})",
                  f"certified exploitability {result.exploitability:.3g} after "
                  f"{result.seconds:.1f} s",
                  f"time_limit= (seconds; now {time_limit:g} s, None for no limit)",
                  stacklevel=4)


@dataclasses.dataclass(frozen=True, eq=False)
class NLHFOptions(Options):
    """Options of the registered method ``"nlhf"`` (the arguments of :func:`solve_nlhf`)."""

    tau: float = 0.0
    reference: object = None
    tol: float = 1e-9
    max_iter: int | None = None
    eta: float | None = None
    progress: bool | None = None
    time_limit: float | None = TIME_LIMIT

    def __post_init__(self):
        check_field(self, "tau", check_nonneg, optional=False)
        check_field(self, "tol", check_positive, optional=False)
        check_field(self, "progress", check_progress)
        check_field(self, "time_limit", check_positive)
        check_field(self, "max_iter", check_iterations)
        check_field(self, "eta", check_positive)


def nlhf_method(profile, k, opts: NLHFOptions) -> SolverResult:
    """The registered ``"nlhf"``: :func:`solve_nlhf` (k-free: the policy is deployed as
    ``π^{⊗k}``; its certificate is at k = 1)."""
    check_k(k)
    return solve_nlhf(profile, opts.tau, opts.reference, tol=opts.tol, max_iter=opts.max_iter,
                      eta=opts.eta, progress=opts.progress, time_limit=opts.time_limit)
