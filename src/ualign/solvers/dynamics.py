"""Self-play dynamics for the (k+1)-player alignment game, each an ``init`` + ``step`` pair with
explicit state and one thin driver (STYLE.md rule 3).

All work on a payoff oracle ``r(π) = L(π, ·)`` (THEORY.md §3), the payoff of a deviation to each
response against k samples of π, in [0, 1]. Entropic (multiplicative) updates:

- Hedge:        ``π_{t+1}(y) ∝ π_t(y) exp(η r_t(y))``, ``r_t = L(π_t, ·)``; outputs the average
                ``π̄_T = (1/T) Σ_t π_t`` and the sampled-iterate policy "draw t uniformly, then k
                samples of π_t", whose worst-case win rate ``1 - max_y (1/T) Σ_t L(π_t, y)`` is
                known exactly from the payoffs seen and is ``>= k/(k+1) - sqrt(log n / (2T))`` for
                ``η = sqrt(8 log n / T)``; by convexity of ``L(·, y)`` the average does as well.
- Optimistic:   ``π̂_{t+1} ∝ π̂_t exp(η r_t)``, ``π_{t+1} ∝ π̂_{t+1} exp(η r_t)`` (one oracle call
                per step; last iterate).
- Extragradient (mirror prox): ``π_{t+½} ∝ π_t exp(η r(π_t))``, ``π_{t+1} ∝ π_t exp(η r(π_{t+½}))``
                (two calls per step; last iterate converges for monotone games).
- Magnetic mirror descent (MMD), reference μ, strength τ:
                ``π_{t+1} ∝ (π_t μ^{ητ} exp(η r_t))^{1/(1+ητ)}``; fixed point
                ``π_τ = softmax(log μ + L(π_τ)/τ)``, the unique KL-regularised equilibrium, reached
                linearly; ``max_y L(π_τ, y) <= 1/(k+1) + τ max_y log(π_τ(y)/μ(y))``.

References: shared/spec/THEORY.md §5; Sokota et al. 2023 (MMD); Korpelevich 1976 / Nemirovski
2004 (extragradient, mirror prox); Rakhlin & Sridharan 2013 (optimistic mirror descent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "ExtragradientState",
    "HedgeState",
    "MMDState",
    "OptimisticState",
    "extragradient_init",
    "extragradient_step",
    "hedge_init",
    "hedge_step",
    "mmd_init",
    "mmd_step",
    "optimistic_init",
    "optimistic_step",
    "run_dynamics",
]

Oracle = Callable[[np.ndarray], np.ndarray]


def _normalise_log(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (π, log π) from unnormalised log-weights, stably."""
    z = logits - logits.max()
    p = np.exp(z)
    s = p.sum()
    return p / s, z - np.log(s)


# ---------------------------------------------------------------------------- Hedge
class HedgeState(NamedTuple):
    t: int  # steps taken
    log_pi: np.ndarray  # log π_t (current iterate)
    r: np.ndarray  # L(π_t, ·)
    pi_sum: np.ndarray  # Σ_{s<=t} π_s (for the average)
    r_sum: np.ndarray  # Σ_{s<=t} L(π_s, ·) (for the sampled-iterate policy)
    evals: int


def hedge_init(oracle: Oracle, pi0: np.ndarray) -> HedgeState:
    pi, lp = _normalise_log(np.log(pi0))
    r = oracle(pi)
    return HedgeState(1, lp, r, pi.copy(), r.copy(), 1)


def hedge_step(state: HedgeState, oracle: Oracle, eta: float) -> HedgeState:
    pi, lp = _normalise_log(state.log_pi + eta * state.r)
    r = oracle(pi)
    return HedgeState(state.t + 1, lp, r, state.pi_sum + pi, state.r_sum + r, state.evals + 1)


# ---------------------------------------------------------------------------- optimistic
class OptimisticState(NamedTuple):
    t: int
    log_hat: np.ndarray  # log π̂_t (the secondary sequence)
    pi: np.ndarray  # π_t (the played iterate)
    r: np.ndarray  # L(π_t, ·)
    evals: int


def optimistic_init(oracle: Oracle, pi0: np.ndarray) -> OptimisticState:
    pi, lp = _normalise_log(np.log(pi0))
    return OptimisticState(0, lp, pi, oracle(pi), 1)


def optimistic_step(state: OptimisticState, oracle: Oracle, eta: float) -> OptimisticState:
    _, lh = _normalise_log(state.log_hat + eta * state.r)
    pi, _ = _normalise_log(lh + eta * state.r)
    return OptimisticState(state.t + 1, lh, pi, oracle(pi), state.evals + 1)


# ---------------------------------------------------------------------------- extragradient
class ExtragradientState(NamedTuple):
    t: int
    log_pi: np.ndarray
    pi: np.ndarray
    r: np.ndarray  # L(π_t, ·)
    evals: int


def extragradient_init(oracle: Oracle, pi0: np.ndarray) -> ExtragradientState:
    pi, lp = _normalise_log(np.log(pi0))
    return ExtragradientState(0, lp, pi, oracle(pi), 1)


def extragradient_step(state: ExtragradientState, oracle: Oracle,
                       eta: float) -> ExtragradientState:
    half, _ = _normalise_log(state.log_pi + eta * state.r)
    pi, lp = _normalise_log(state.log_pi + eta * oracle(half))
    return ExtragradientState(state.t + 1, lp, pi, oracle(pi), state.evals + 2)


# ---------------------------------------------------------------------------- MMD
class MMDState(NamedTuple):
    t: int
    log_pi: np.ndarray
    pi: np.ndarray
    r: np.ndarray
    evals: int


def mmd_init(oracle: Oracle, pi0: np.ndarray) -> MMDState:
    pi, lp = _normalise_log(np.log(pi0))
    return MMDState(0, lp, pi, oracle(pi), 1)


def mmd_step(state: MMDState, oracle: Oracle, eta: float, tau: float,
             log_mu: np.ndarray) -> MMDState:
    pi, lp = _normalise_log((state.log_pi + eta * tau * log_mu + eta * state.r)
                            / (1.0 + eta * tau))
    return MMDState(state.t + 1, lp, pi, oracle(pi), state.evals + 1)


def mmd_residual(pi: np.ndarray, r: np.ndarray, tau: float, log_mu: np.ndarray) -> float:
    """``‖π - softmax(log μ + L(π)/τ)‖_1``: zero exactly at the regularised equilibrium π_τ."""
    target, _ = _normalise_log(log_mu + r / tau)
    return float(np.abs(pi - target).sum())


# ---------------------------------------------------------------------------- driver
def run_dynamics(init: Callable, step: Callable, gap: Callable, *, max_iter: int,
                 check_every: int = 1, desc: str = "dynamics", progress: bool = False,
                 time_limit: float | None = None):
    """Thin driver: ``state = init()``; then ``state = step(state)`` until ``gap(state, it)``
    returns ``(value, extra_evals, done)`` with ``done`` true, ``max_iter`` steps, or
    ``time_limit`` seconds.

    ``gap`` is called every ``check_every`` steps (and at the last step); ``value`` goes into the
    trace. Returns ``(state, trace, gap_evals, done, seconds, trace_seconds)``.
    """
    t0 = time.perf_counter()
    state = init()
    trace = []
    times = []
    extra = 0
    value, e, done = gap(state, 0)
    extra += e
    trace.append((0, value))
    times.append(time.perf_counter() - t0)
    it = 0
    with tqdm(total=max_iter, desc=desc, disable=not progress, leave=False) as bar:
        while not done and it < max_iter:
            state = step(state)
            it += 1
            bar.update(1)
            out_of_time = time_limit is not None and time.perf_counter() - t0 > time_limit
            if it % check_every == 0 or it == max_iter or out_of_time:
                value, e, done = gap(state, it)
                extra += e
                trace.append((it, value))
                times.append(time.perf_counter() - t0)
                bar.set_postfix(gap=f"{value:.2e}")
            if out_of_time:
                break
    return state, trace, extra, done, time.perf_counter() - t0, times
