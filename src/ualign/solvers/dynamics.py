"""Self-play dynamics for the (k+1)-player alignment game, written as optax writes its
transformations (STYLE.md rule 3): a factory closes over the oracle and the step sizes and returns
a :class:`Dynamics`, an ``(init, step)`` pair on an explicit NamedTuple state; variants compose
(:func:`averaged` wraps any dynamic) and one thin driver, :func:`run`, loops, checks a
certificate and returns a :class:`RunResult`.

All work on a payoff oracle ``r(π) = L(π, ·)`` (THEORY.md §3), the payoff of a deviation to each
response against k samples of π, in [0, 1]. Entropic (multiplicative) updates:

- :func:`hedge`: ``π_{t+1}(y) ∝ π_t(y) exp(η r_t(y))``, ``r_t = L(π_t, ·)``; one step is one
  round of play: play π_t, observe ``r_t``, update the weights. :func:`averaged` of it keeps
  ``Σ_t π_t`` and ``Σ_t r_t``, giving the average ``π̄_T = (1/T) Σ_t π_t`` and the
  sampled-iterate policy "draw t uniformly, then k samples of π_t", whose worst-case win rate
  ``1 - max_y (1/T) Σ_t L(π_t, y)`` is known exactly from the payoffs seen and is
  ``>= k/(k+1) - sqrt(log n / (2T))`` for ``η = sqrt(8 log n / T)``; by convexity of ``L(·, y)``
  the average does as well.
- :func:`optimistic`: ``π̂_{t+1} ∝ π̂_t exp(η r_t)``, ``π_{t+1} ∝ π̂_{t+1} exp(η r_t)`` (one oracle
  call per step; last iterate).
- :func:`extragradient` (mirror prox): ``π_{t+½} ∝ π_t exp(η r(π_t))``,
  ``π_{t+1} ∝ π_t exp(η r(π_{t+½}))`` (two calls per step; last iterate converges for monotone
  games).
- :func:`mmd` (magnetic mirror descent), reference μ, strength τ:
  ``π_{t+1} ∝ (π_t μ^{ητ} exp(η r_t))^{1/(1+ητ)}``; fixed point ``π_τ = softmax(log μ + L(π_τ)/τ)``,
  the unique KL-regularised equilibrium, reached linearly;
  ``max_y L(π_τ, y) <= 1/(k+1) + τ max_y log(π_τ(y)/μ(y))``.

Every state carries ``t`` (steps taken), ``pi`` (the iterate the last step played, or π0 before
any step), ``r`` (``L(pi, ·)``; None before the first round of :func:`hedge`) and ``evals``
(oracle calls so far).

Example::

    dyn = averaged(hedge(oracle, eta))
    out = run(dyn, certificate, pi0=np.full(n, 1 / n), max_iter=T)
    pi_bar = out.state.pi_sum / out.state.iterates

References: shared/spec/THEORY.md §5; Sokota et al. 2023 (MMD); Korpelevich 1976 / Nemirovski
2004 (extragradient, mirror prox); Rakhlin & Sridharan 2013 (optimistic mirror descent);
optax's ``GradientTransformation`` (the ``(init, step)`` shape).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ualign.solvers._talk import Talker

__all__ = [
    "AveragedState",
    "Dynamics",
    "HedgeState",
    "MirrorState",
    "OptimisticState",
    "RunResult",
    "averaged",
    "extragradient",
    "hedge",
    "mmd",
    "mmd_residual",
    "optimistic",
    "run",
]

Oracle = Callable[[np.ndarray], np.ndarray]
# certificate(state, it) -> (value, oracle calls it made, done)
Certificate = Callable[[Any, int], tuple[float, int, bool]]


class Dynamics(NamedTuple):
    """An ``(init, step)`` pair: ``init(π0) -> state``, ``step(state) -> state``."""

    init: Callable[[Any], Any]  # π0 -> state
    step: Callable[[Any], Any]


def _normalise_log(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (π, log π) from unnormalised log-weights, stably."""
    z = logits - logits.max()
    p = np.exp(z)
    s = p.sum()
    return p / s, z - np.log(s)


# ---------------------------------------------------------------------------- Hedge
class HedgeState(NamedTuple):
    t: int  # rounds played
    log_w: np.ndarray  # log w, w the iterate the next round plays (normalised)
    w: np.ndarray  # that iterate
    pi: np.ndarray  # π_t, the iterate played last (π0 before any round)
    r: np.ndarray | None  # L(π_t, ·); None before the first round
    evals: int


def hedge(oracle: Oracle, eta: float) -> Dynamics:
    """Hedge (multiplicative weights), step size η: a step plays ``π_t = w``, observes
    ``r_t = L(π_t, ·)`` and updates ``w ∝ π_t exp(η r_t)`` (one oracle call). T steps play the T
    iterates ``π_1 = π0, ..., π_T``.

    Examples:
      Hedge on the payoff oracle of a weighted Condorcet cycle, k = 2; the average of the
      iterates approaches the equilibrium:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import averaged, hedge
      >>> dyn = averaged(hedge(oracle, eta=0.5))
      >>> state = dyn.init(np.full(3, 1 / 3))
      >>> for _ in range(500):
      ...     state = dyn.step(state)
      ...
      >>> (state.pi_sum / state.iterates).round(2).tolist(), state.t, state.evals
      ([0.48, 0.27, 0.25], 500, 500)
    """

    def init(pi0: np.ndarray) -> HedgeState:
        w, lw = _normalise_log(np.log(pi0))
        return HedgeState(0, lw, w, w, None, 0)

    def step(state: HedgeState) -> HedgeState:
        r = oracle(state.w)
        w, lw = _normalise_log(state.log_w + eta * r)
        return HedgeState(state.t + 1, lw, w, state.w, r, state.evals + 1)

    return Dynamics(init, step)


# ---------------------------------------------------------------------------- optimistic
class OptimisticState(NamedTuple):
    t: int
    log_hat: np.ndarray  # log π̂_t (the secondary sequence)
    pi: np.ndarray  # π_t (the played iterate)
    r: np.ndarray  # L(π_t, ·)
    evals: int


def optimistic(oracle: Oracle, eta: float) -> Dynamics:
    """Optimistic multiplicative weights: ``π̂_{t+1} ∝ π̂_t exp(η r_t)``,
    ``π_{t+1} ∝ π̂_{t+1} exp(η r_t)`` (one oracle call per step).

    Examples:
      Optimistic multiplicative weights, whose last iterate converges here:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import optimistic
      >>> dyn = optimistic(oracle, eta=0.5)
      >>> state = dyn.init(np.full(3, 1 / 3))
      >>> for _ in range(500):
      ...     state = dyn.step(state)
      ...
      >>> state.pi.round(4).tolist(), float(oracle(state.pi).max() - 1 / 3) < 1e-4
      ([0.4849, 0.262, 0.2531], True)
    """

    def init(pi0: np.ndarray) -> OptimisticState:
        pi, lp = _normalise_log(np.log(pi0))
        return OptimisticState(0, lp, pi, oracle(pi), 1)

    def step(state: OptimisticState) -> OptimisticState:
        _, lh = _normalise_log(state.log_hat + eta * state.r)
        pi, _ = _normalise_log(lh + eta * state.r)
        return OptimisticState(state.t + 1, lh, pi, oracle(pi), state.evals + 1)

    return Dynamics(init, step)


# ---------------------------------------------------------------------------- mirror steps
class MirrorState(NamedTuple):
    """The state of the one-sequence mirror steps (:func:`extragradient`, :func:`mmd`)."""

    t: int
    log_pi: np.ndarray  # log π_t
    pi: np.ndarray  # π_t
    r: np.ndarray  # L(π_t, ·)
    evals: int


def _mirror_init(oracle: Oracle):
    def init(pi0: np.ndarray) -> MirrorState:
        pi, lp = _normalise_log(np.log(pi0))
        return MirrorState(0, lp, pi, oracle(pi), 1)
    return init


def extragradient(oracle: Oracle, eta: float) -> Dynamics:
    """Entropic mirror prox: ``π_{t+½} ∝ π_t exp(η r(π_t))``, ``π_{t+1} ∝ π_t exp(η r(π_{t+½}))``
    (two oracle calls per step).

    Examples:
      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import extragradient
      >>> dyn = extragradient(oracle, eta=0.5)
      >>> state = dyn.init(np.full(3, 1 / 3))
      >>> for _ in range(500):
      ...     state = dyn.step(state)
      ...
      >>> state.pi.round(4).tolist(), state.evals  # two oracle calls per step
      ([0.4849, 0.262, 0.2531], 1001)
    """

    def step(state: MirrorState) -> MirrorState:
        half, _ = _normalise_log(state.log_pi + eta * state.r)
        pi, lp = _normalise_log(state.log_pi + eta * oracle(half))
        return MirrorState(state.t + 1, lp, pi, oracle(pi), state.evals + 2)

    return Dynamics(_mirror_init(oracle), step)


def mmd(oracle: Oracle, eta: float, tau: float, mu: np.ndarray) -> Dynamics:
    """Magnetic mirror descent to reference μ (strictly positive) with strength τ:
    ``π_{t+1} ∝ (π_t μ^{ητ} exp(η r_t))^{1/(1+ητ)}`` (one oracle call per step).

    Examples:
      Magnetic mirror descent reaches the KL-regularised equilibrium π_τ, where the residual
      vanishes:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import mmd, mmd_residual
      >>> mu = np.full(3, 1 / 3)
      >>> dyn = mmd(oracle, eta=0.5, tau=0.1, mu=mu)
      >>> state = dyn.init(mu)
      >>> for _ in range(300):
      ...     state = dyn.step(state)
      ...
      >>> residual = mmd_residual(state.pi, oracle(state.pi), tau=0.1, log_mu=np.log(mu))
      >>> state.pi.round(4).tolist(), residual < 1e-9
      ([0.4139, 0.3306, 0.2555], True)
    """
    log_mu = np.log(mu)

    def step(state: MirrorState) -> MirrorState:
        pi, lp = _normalise_log((state.log_pi + eta * tau * log_mu + eta * state.r)
                                / (1.0 + eta * tau))
        return MirrorState(state.t + 1, lp, pi, oracle(pi), state.evals + 1)

    return Dynamics(_mirror_init(oracle), step)


def mmd_residual(pi: np.ndarray, r: np.ndarray, tau: float, log_mu: np.ndarray) -> float:
    """``‖π - softmax(log μ + L(π)/τ)‖_1``: zero exactly at the regularised equilibrium π_τ.

    Examples:
      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import mmd_residual
      >>> uniform = np.full(3, 1 / 3)
      >>> round(mmd_residual(uniform, oracle(uniform), tau=0.1, log_mu=np.log(uniform)), 4)
      0.2931
    """
    target, _ = _normalise_log(log_mu + r / tau)
    return float(np.abs(pi - target).sum())


# ---------------------------------------------------------------------------- averaging
class AveragedState(NamedTuple):
    inner: Any  # the wrapped dynamic's state
    pi_sum: np.ndarray  # Σ_t π_t over the iterates the steps played
    r_sum: np.ndarray  # Σ_t L(π_t, ·)
    iterates: int  # iterates summed

    @property
    def t(self) -> int:
        return self.inner.t

    @property
    def evals(self) -> int:
        return self.inner.evals


def averaged(dynamics: Dynamics) -> Dynamics:
    """Wrap a dynamic so that its state also keeps ``Σ_t π_t`` and ``Σ_t L(π_t, ·)`` over the
    iterates its steps play (``inner.pi`` and ``inner.r`` after each step): the average policy
    is ``pi_sum / iterates`` and the sampled-iterate payoffs ``r_sum / iterates``.

    Examples:
      The wrapped state keeps the sums of the iterates played and of their payoffs:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import averaged, hedge
      >>> dyn = averaged(hedge(oracle, eta=0.1))
      >>> state = dyn.step(dyn.step(dyn.init(np.full(3, 1 / 3))))
      >>> state.iterates, state.pi_sum.round(4).tolist()
      (2, [0.6675, 0.6675, 0.6649])
    """

    def init(pi0: np.ndarray) -> AveragedState:
        inner = dynamics.init(pi0)
        return AveragedState(inner, np.zeros_like(inner.pi), np.zeros_like(inner.pi), 0)

    def step(state: AveragedState) -> AveragedState:
        inner = dynamics.step(state.inner)
        return AveragedState(inner, state.pi_sum + inner.pi, state.r_sum + inner.r,
                             state.iterates + 1)

    return Dynamics(init, step)


# ---------------------------------------------------------------------------- driver
class RunResult(NamedTuple):
    """What :func:`run` returns."""

    state: Any  # the final state
    trace: list  # (step, certificate value) pairs, steps increasing
    certificate_evals: int  # oracle calls the certificate made
    done: bool  # whether the certificate said done
    seconds: float
    trace_seconds: list  # seconds since the start at each trace point


def run(dynamics: Dynamics, certificate: Certificate, *, pi0: np.ndarray | None, max_iter: int,
        check_every: int = 1, desc: str = "dynamics", progress: bool | None = None,
        time_limit: float | None = None) -> RunResult:
    """Thin driver: ``state = init(π0)``; then ``state = step(state)`` until the certificate
    says done, ``max_iter`` steps were taken, or ``time_limit`` seconds passed.

    ``certificate(state, it) -> (value, oracle calls, done)`` is called at the start, every
    ``check_every`` steps and at the last step; ``value`` goes into the trace. ``progress``: a
    progress bar on stderr from the start (True), never (False), or once the run has taken
    ``QUIET_SECONDS`` (None).

    Examples:
      Hedge until the average policy is within 0.01 of the game value 1/(k+1), checked every 10
      steps:

      >>> import numpy as np
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]], weights=[0.4, 0.35, 0.25])
      >>> from ualign.core import deviation_payoffs
      >>> oracle = lambda pi: deviation_payoffs(P, pi, k=2)
      >>> from ualign.solvers.dynamics import averaged, hedge, run
      >>> def certificate(state, it):
      ...     avg = state.inner.w if state.iterates == 0 else state.pi_sum / state.iterates
      ...     gap = float(oracle(avg).max() - 1 / 3)
      ...     return gap, 1, gap <= 0.01
      ...
      >>> out = run(averaged(hedge(oracle, eta=0.5)), certificate, pi0=np.full(3, 1 / 3),
      ...           max_iter=2000, check_every=10)
      >>> out.done, out.trace[-1][1] <= 0.01, out.state.t == out.trace[-1][0]
      (True, True, True)
    """
    t0 = time.perf_counter()
    state = dynamics.init(pi0)
    value, extra, done = certificate(state, 0)
    trace = [(0, value)]
    times = [time.perf_counter() - t0]
    it = 0
    talk = Talker(progress, desc)
    with tqdm(total=max_iter, desc=desc, disable=talk.disabled, delay=talk.delay,
              leave=False) as bar:
        while not done and it < max_iter:
            state = dynamics.step(state)
            it += 1
            bar.update(1)
            out_of_time = time_limit is not None and time.perf_counter() - t0 > time_limit
            if it % check_every == 0 or it == max_iter or out_of_time:
                value, e, done = certificate(state, it)
                extra += e
                trace.append((it, value))
                times.append(time.perf_counter() - t0)
                # refresh=False: a refresh would draw the bar before its delay
                bar.set_postfix(gap=f"{value:.2e}", refresh=False)
            if out_of_time:
                break
    return RunResult(state, trace, extra, done, time.perf_counter() - t0, times)

