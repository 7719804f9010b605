"""f(k) curves of alignment methods on one profile: the test-time scaling curve of each method.

For a method and a number k of responses shown, ``f(k) = min_y' WR(Π_k, y')`` is the worst-case
win rate of the k-output policy the method deploys (THEORY.md §2), always evaluated afresh by the
core engine, never taken from a solver's own report:

- ``rlhf``: the Bradley-Terry (RLHF) policy π, deployed as k i.i.d. samples ``π^{⊗k}``;
- ``nlhf``: the maximal lottery (NLHF equilibrium, k = 1), deployed as ``π^{⊗k}``;
- ``ualign``: the symmetric Nash equilibrium π*_k of the (k+1)-player game, deployed as
  ``π*_k^{⊗k}`` (f(k) >= k/(k+1), THEORY.md §4);
- ``kset``: the best k-output policy (a distribution over k-multisets, THEORY.md §7) from
  ``solve_kset``; when its pricing is not exact (too many multisets to enumerate) the value is
  what the policy found achieves, a lower bound on the optimum (``converged`` is ``False`` and
  ``extras["kset"][k]["upper_bound"]`` holds the solver's certified upper bound).

Diversity of a policy: the entropy (bits) and the support size (responses with probability
> ``SUPPORT_EPS``) of the distribution of a shown response; for a k-set policy that is its
marginal ``Σ_S x_S · (#copies of y in S) / k``.

References: shared/spec/THEORY.md §2, §4, §7.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ualign.core import Profile, robust_win_rate, set_win_rate
from ualign.report.results import CompareEntry, CompareResult
from ualign.solvers import registry

__all__ = ["METHODS", "SUPPORT_EPS", "compare_methods", "diversity", "kset_marginal",
           "kset_robust_win_rate", "parse_ks", "parse_methods"]

#: the solvers offered for comparison: the registry's methods labelled for ``"compare"``
METHODS = tuple(registry.labelled("compare"))
SUPPORT_EPS = 1e-6
MAX_K = 1024


def parse_ks(spec: str, name: str = "--k") -> tuple[int, ...]:
    """``"1..16"``, ``"1,2,4,8"`` or a mix (``"1..4,8,16"``) -> sorted distinct ks >= 1."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{name} must be a list like 1..16 or 1,2,4,8, got {spec!r}")
    ks: set[int] = set()
    for pos, item in enumerate(spec.split(",")):
        item = item.strip()
        try:
            if ".." in item:
                lo_s, hi_s = item.split("..")
                lo, hi = int(lo_s), int(hi_s)
                if lo > hi:
                    raise ValueError
                vals = range(lo, hi + 1)
            else:
                vals = [int(item)]
        except ValueError:
            raise ValueError(f"{name} must be a list like 1..16 or 1,2,4,8 (ranges lo..hi with "
                             f"lo <= hi), got {spec!r}: cannot read item {item!r} at position "
                             f"{pos}") from None
        for k in vals:
            if not 1 <= k <= MAX_K:
                raise ValueError(f"{name} values must be integers in [1, {MAX_K}], got {k} in "
                                 f"item {item!r} at position {pos}")
            ks.add(k)
    return tuple(sorted(ks))


def parse_methods(spec: str, name: str = "--methods") -> tuple[str, ...]:
    """``"rlhf,nlhf,ualign,kset"`` (any subset, any order, no repeats) -> method names."""
    out: list[str] = []
    for pos, item in enumerate(str(spec).split(",")):
        m = item.strip().lower()
        if m not in METHODS:
            raise ValueError(f"{name} must be a comma-separated subset of {','.join(METHODS)}, "
                             f"got unknown method {item.strip()!r} at position {pos}")
        if m in out:
            raise ValueError(f"{name} lists {m!r} twice (position {pos})")
        out.append(m)
    return tuple(out)


def diversity(p: np.ndarray) -> tuple[float, int]:
    """Entropy in bits ``-Σ p log2 p`` and support size ``#{y : p(y) > SUPPORT_EPS}``."""
    p = np.asarray(p, dtype=float)
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum()) + 0.0, int((p > SUPPORT_EPS).sum())


def kset_marginal(sets: np.ndarray, probs: np.ndarray, n: int) -> np.ndarray:
    """``q(y) = Σ_S x_S · #{copies of y in S} / k``: the distribution of one shown response."""
    sets = np.asarray(sets)
    k = sets.shape[1]
    q = np.zeros(n)
    np.add.at(q, sets.ravel(), np.repeat(np.asarray(probs, dtype=float), k) / k)
    return q


def kset_robust_win_rate(profile: Profile, sets, probs) -> tuple[float, int]:
    """``min_y' Σ_S x_S WR(S, y')`` and the minimising ``y'``, evaluated by the core engine
    (``set_win_rate``) against every single response."""
    wr = np.array([set_win_rate(profile, sets, probs, y) for y in range(profile.n_responses)])
    y = int(np.argmin(wr))
    return float(wr[y]), y


def compare_methods(profile: Profile, ks: Sequence[int], methods: Sequence[str] = METHODS, *,
                    name: str = "profile", seed: int = 0, kset_max_sets: int | None = None,
                    kset_max_work: float | None = None,
                    tick: Callable[[str], None] | None = None) -> CompareResult:
    """f(k) and diversity of every method at every k (see the module docstring).

    Args:
      profile: the population.
      ks: numbers of responses shown, integers >= 1.
      methods: a subset of :data:`METHODS`.
      name: how the profile is named in the result.
      seed: seed passed to the randomised solvers.
      kset_max_sets: run ``kset`` only at the k where the C(n+k-1, k) multisets number at most
        this (``None``: every k); skipped k get no entry (shown as "–"). With the solver's
        default enumeration limit (20000) this keeps the k-set LP exact.
      kset_max_work: likewise skip ``kset`` at k where ``U · C(n+k-1, k) · n`` (the size of the
        win matrix the exact pricer builds) exceeds this; 1e8 is about 10 s on one core.
      tick: called with a short message after each (method, k) is done (progress bars).

    Returns:
      A :class:`~ualign.report.results.CompareResult`; ``policies[m][k]`` is the shown-response
      distribution (k = 0 for the k-independent RLHF / NLHF policies), ``extras["kset"][k]`` the
      k-set policy's sets and probabilities.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    methods = tuple(methods)
    by_label = registry.labelled("compare")
    for pos, m in enumerate(methods):
        if m not in by_label:
            raise ValueError(f"methods must be among {tuple(by_label)}, got {m!r} at position "
                             f"{pos}")
    n = profile.n_responses
    entries: list[CompareEntry] = []
    policies: dict = {}
    extras: dict = {}

    def done(msg):
        if tick is not None:
            tick(msg)

    for m in methods:
        method = by_label[m]
        policies[m] = {}
        if method.output == "kset":
            extras[m] = {}
            _compare_kset(profile, method, m, ks, entries, policies[m], extras[m], done,
                          kset_max_sets, kset_max_work)
        elif method.k_free:
            _compare_k_free(profile, method, m, ks, entries, policies[m], done)
        else:
            _compare_per_k(profile, method, m, ks, entries, policies[m], done, seed)
    return CompareResult(profile=name, n_users=profile.n_users, n_responses=n, ks=ks,
                         methods=methods, entries=tuple(entries), policies=policies,
                         extras=extras)


def _compare_k_free(profile, method, m, ks, entries, policies, done):
    """A policy that does not depend on k (RLHF, NLHF): solved once, deployed as ``π^{⊗k}``."""
    t0 = time.perf_counter()
    res = method.solve(profile, 1)
    pi = np.asarray(res.policy, dtype=float)
    setup = time.perf_counter() - t0
    policies[0] = pi.tolist()
    ent, sup = diversity(pi)
    for k in ks:
        t1 = time.perf_counter()
        rw = robust_win_rate(profile, pi, k)
        entries.append(CompareEntry(m, k, rw.value, k / (k + 1), ent, sup, rw.worst,
                                    time.perf_counter() - t1 + (setup if k == ks[0] else 0.0),
                                    getattr(res, "converged", None)))
        done(f"{m} k={k}")


def _compare_per_k(profile, method, m, ks, entries, policies, done, seed):
    """A single-output policy solved for each k (the equilibrium π*_k), deployed as
    ``π*_k^{⊗k}``."""
    for k in ks:
        t1 = time.perf_counter()
        res = method.solve(profile, k, seed=seed)
        pi = np.asarray(res.policy, dtype=float)
        rw = robust_win_rate(profile, pi, k)
        ent, sup = diversity(pi)
        policies[k] = pi.tolist()
        entries.append(CompareEntry(m, k, rw.value, k / (k + 1), ent, sup, rw.worst,
                                    time.perf_counter() - t1, res.converged))
        done(f"{m} k={k}")


def _compare_kset(profile, method, m, ks, entries, policies, extras, done, kset_max_sets,
                  kset_max_work):
    """A distribution over k-multisets for each k (skipped at k beyond the size limits)."""
    n = profile.n_responses
    for k in ks:
        n_sets = math.comb(n + k - 1, k)
        if ((kset_max_sets is not None and n_sets > kset_max_sets)
                or (kset_max_work is not None
                    and profile.n_users * n_sets * n > kset_max_work)):
            done(f"{m} k={k} (skipped)")
            continue
        t1 = time.perf_counter()
        res = method.solve(profile, k)
        sets = np.asarray(res.sets, dtype=np.int64)
        probs = np.asarray(res.probs, dtype=float)
        value, worst = kset_robust_win_rate(profile, sets, probs)
        q = kset_marginal(sets, probs, n)
        ent, sup = diversity(q)
        policies[k] = q.tolist()
        extras[k] = {"sets": sets.tolist(), "probs": probs.tolist(),
                     "solver_value": float(res.value), "exact": bool(res.exact),
                     "upper_bound": float(res.upper_bound), "pricer": res.pricer}
        entries.append(CompareEntry(m, k, value, k / (k + 1), ent, sup, worst,
                                    time.perf_counter() - t1, bool(res.exact)))
        done(f"{m} k={k}")
