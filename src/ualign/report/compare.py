"""f(k) curves of alignment methods on one profile: the test-time scaling curve of each method.

For a method and a number k of responses shown, ``f(k) = min_y' WR(Π_k, y')`` is the worst-case
win rate of the k-output policy the method deploys (THEORY.md §2), always evaluated afresh by the
core engine, never taken from a solver's own report, under a **display** (THEORY.md §9):
``"multiset"`` (the paper's rule: copies count) or ``"distinct"`` (what a person sees: the k
outputs are merged, a response shown by both sides is one copy per side). Every method is one
registration of the solver registry (label ``"compare"``):

- ``rlhf``: the Bradley-Terry (RLHF) policy π, deployed as k i.i.d. samples ``π^{⊗k}``;
- ``nlhf``: the maximal lottery (NLHF equilibrium, k = 1), deployed as ``π^{⊗k}``;
- ``ualign``: the symmetric Nash equilibrium π*_k of the (k+1)-player game, deployed as
  ``π*_k^{⊗k}`` (f(k) >= k/(k+1) under multiset display, THEORY.md §4); under distinct display
  its k samples are merged: ``robust_win_rate(..., display="distinct")``;
- ``kset``: the best k-output policy over k-multisets (THEORY.md §7) from ``solve_kset``; under
  distinct display the same multisets, merged (``robust_set_win_rate(..., display=...)``).
  When its pricing is not exact the value is what the policy found achieves, a lower bound on
  the optimum (``converged`` is ``False``; ``ksets["kset"][k].upper_bound`` holds the
  solver's certified upper bound);
- distinct display only (sets of k distinct responses, "–" under multiset display and at
  k > n): ``kset-distinct``, the certified best distribution over k-subsets
  (``solve_kset(display="distinct")``; ``upper_bound`` in its :class:`KSetPolicy`), and the
  committee rules ``top-k-utility``, ``top-k-borda``, ``cc`` (Chamberlin-Courant) and ``pav``
  (on the favourite approvals: for Polis, the agrees), each one deterministic k-set.

Diversity of a policy: the entropy (bits) and the support size (responses with probability
> ``SUPPORT_EPS``) of the distribution of a shown response (for a k-set policy its marginal
``Σ_S x_S · (#copies of y in S) / k``), and the expected number of distinct responses shown:
``Σ_y 1 - (1 - π(y))^k`` for k samples of π, ``Σ_S x_S |set(S)|`` for a k-set policy (k for
sets of distinct responses).

References: shared/spec/THEORY.md §2, §4, §7, §9.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from ualign.core import Profile, robust_set_win_rate, robust_win_rate
from ualign.core.checks import DISPLAYS
from ualign.core.displays import PAPER_DISPLAY, display_spec
from ualign.report.results import CommitteePolicy, CompareEntry, CompareResult, KSetPolicy
from ualign.solvers import registry

__all__ = ["COMPARE_METHODS", "SUPPORT_EPS", "compare_displays", "compare_methods",
           "distinct_shown", "entropy_and_support", "kset_marginal", "kset_robust_win_rate"]

#: the solvers offered for comparison: the registry's methods labelled for ``"compare"``
COMPARE_METHODS = tuple(registry.labelled("compare"))
SUPPORT_EPS = 1e-6


def compare_displays(display: str, name: str = "display") -> tuple[str, ...]:
    """The displays ``display`` names: one of :data:`~ualign.core.checks.DISPLAYS`, or
    ``"both"`` for all of them (in that order)."""
    if display == "both":
        return DISPLAYS
    if isinstance(display, str) and display in DISPLAYS:
        return (display,)
    raise ValueError(f"{name} must be one of {', '.join(DISPLAYS)}, both, got {display!r}")


def entropy_and_support(p: np.ndarray) -> tuple[float, int]:
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


def kset_robust_win_rate(profile: Profile, sets, probs,
                         display: str = PAPER_DISPLAY) -> tuple[float, int]:
    """``min_y' Σ_S x_S WR(S, y')`` and the minimising ``y'``, evaluated by the core engine
    (``robust_set_win_rate``) against every single response, under ``display``."""
    r = robust_set_win_rate(profile, sets, probs, display)
    return r.value, r.worst


def distinct_shown(policy=None, k: int | None = None, sets=None, probs=None) -> float:
    """The expected number of distinct responses shown: ``Σ_y 1 - (1 - π(y))^k`` for k i.i.d.
    samples of ``policy``, or ``Σ_S x_S |set(S)|`` for a distribution ``probs`` over ``sets``."""
    if sets is not None:
        S = np.sort(np.asarray(sets), axis=1)
        sizes = 1 + (S[:, 1:] != S[:, :-1]).sum(axis=1)
        return float(np.asarray(probs, dtype=float) @ sizes)
    p = np.clip(np.asarray(policy, dtype=float), 0.0, 1.0)
    return float(np.sum(-np.expm1(k * np.log1p(-p[p < 1.0]))) + np.sum(p >= 1.0))


def compare_methods(profile: Profile, ks: Sequence[int],
                    methods: Sequence[str] = COMPARE_METHODS, *,
                    name: str = "profile", seed: int = 0, kset_max_sets: int | None = None,
                    kset_max_work: float | None = None, display: str = PAPER_DISPLAY,
                    time_limit: float | None = None,
                    tick: Callable[[str], None] | None = None) -> CompareResult:
    """f(k) and diversity of every method at every k (see the module docstring).

    Args:
      profile: the population.
      ks: numbers of responses shown, integers >= 1.
      methods: a subset of :data:`COMPARE_METHODS`.
      name: how the profile is named in the result.
      seed: seed passed to the randomised solvers.
      kset_max_sets: run ``kset`` only at the k where the C(n+k-1, k) multisets number at most
        this (``None``: every k); skipped k get no entry (shown as "–") and a note. With the
        solver's default enumeration limit (20000) this keeps the k-set LP exact.
      kset_max_work: likewise skip ``kset`` at k where ``U · C(n+k-1, k) · n`` (the size of the
        win matrix the exact pricer builds) exceeds this; 1e8 is about 10 s on one core.
      display: ``"multiset"`` (the default), ``"distinct"`` or ``"both"``: the displays f(k)
        is evaluated under (one entry per method, k and display; a method that does not exist
        under a display has no entry there).
      time_limit: seconds per k for ``kset-distinct`` and the ``cc`` / ``pav`` programs
        (``None``: none); a run stopped by it keeps its certified bound and gets a note.
      tick: called with a short message after each (method, k) is done (progress bars).

    Returns:
      A :class:`~ualign.report.results.CompareResult`; ``policies[m][k]`` is the shown-response
      distribution (k = 0 for the k-independent RLHF / NLHF policies), ``ksets[m][k]`` a k-set
      policy (:class:`~ualign.report.results.KSetPolicy`), ``notes`` every cap that applied.
    """
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {ks}")
    displays = compare_displays(display)
    methods = tuple(methods)
    by_label = registry.labelled("compare")
    for pos, m in enumerate(methods):
        if m not in by_label:
            raise ValueError(f"methods must be among {tuple(by_label)}, got {m!r} at position "
                             f"{pos}")
    n = profile.n_responses
    entries: list[CompareEntry] = []
    policies: dict = {}
    ksets: dict = {}
    notes: list[str] = []

    def done(msg):
        if tick is not None:
            tick(msg)

    for m in methods:
        method = by_label[m]
        policies[m] = {}
        shown = tuple(d for d in displays if d in method.displays)
        if method.output == "kset":
            ksets[m] = {}
            _compare_kset(profile, method, m, ks, entries, policies[m], ksets[m], done,
                          kset_max_sets, kset_max_work, shown, time_limit, notes)
        elif method.k_free:
            _compare_k_free(profile, method, m, ks, entries, policies[m], done, shown)
        else:
            _compare_per_k(profile, method, m, ks, entries, policies[m], done, seed, shown)
    return CompareResult(profile=name, n_users=profile.n_users, n_responses=n, ks=ks,
                         methods=methods, entries=tuple(entries), policies=policies,
                         ksets=ksets, displays=displays, notes=tuple(notes))


def _product_entries(profile, m, k, pi, shown, seconds, converged):
    """One entry per display for ``π^{⊗k}``."""
    ent, sup = entropy_and_support(pi)
    dist = distinct_shown(pi, k)
    out = []
    for d in shown:
        rw = robust_win_rate(profile, pi, k, display=d)
        out.append(CompareEntry(m, k, rw.value, k / (k + 1), ent, sup, rw.worst, seconds,
                                converged, d, dist))
    return out


def _compare_k_free(profile, method, m, ks, entries, policies, done, shown):
    """A policy that does not depend on k (RLHF, NLHF): solved once, deployed as ``π^{⊗k}``."""
    t0 = time.perf_counter()
    res = method.solve(profile, 1)
    pi = np.asarray(res.policy, dtype=float)
    setup = time.perf_counter() - t0
    policies[0] = pi.tolist()
    for k in ks:
        t1 = time.perf_counter()
        new = _product_entries(profile, m, k, pi, shown, 0.0, getattr(res, "converged", None))
        secs = time.perf_counter() - t1 + (setup if k == ks[0] else 0.0)
        entries.extend(dataclasses.replace(e, seconds=secs) for e in new)
        done(f"{m} k={k}")


def _compare_per_k(profile, method, m, ks, entries, policies, done, seed, shown):
    """A single-output policy solved for each k (the equilibrium π*_k), deployed as
    ``π*_k^{⊗k}``."""
    for k in ks:
        t1 = time.perf_counter()
        res = method.solve(profile, k, seed=seed)
        pi = np.asarray(res.policy, dtype=float)
        policies[k] = pi.tolist()
        new = _product_entries(profile, m, k, pi, shown, 0.0, res.converged)
        secs = time.perf_counter() - t1
        entries.extend(dataclasses.replace(e, seconds=secs) for e in new)
        done(f"{m} k={k}")


def _kset_skip(profile, k, distinct_sets, kset_max_sets, kset_max_work):
    """Why the k-set program is not run at ``k`` (the progress suffix), or None: a set of k
    distinct responses needs k <= n; the k-multiset LP has size caps on its
    C(n+k-1, k) multisets and on its U·C(n+k-1, k)·n win-matrix entries."""
    n = profile.n_responses
    if distinct_sets:
        return "(k > n)" if k > n else None
    n_sets = math.comb(n + k - 1, k)
    if ((kset_max_sets is not None and n_sets > kset_max_sets)
            or (kset_max_work is not None and profile.n_users * n_sets * n > kset_max_work)):
        return "(skipped)"
    return None


def _kset_policy(res, k, distinct_sets, sets, probs, capped) -> tuple[KSetPolicy, bool]:
    """The typed record of one k-set solve, and whether it converged: kset / kset-distinct are
    certified optimal when the gap closed; a committee is optimal for its own rule (its win
    rate is never certified optimal, see ``upper_bound``). Appends to ``capped`` when not."""
    common = dict(sets=tuple(tuple(int(y) for y in S) for S in sets),
                  probs=tuple(float(p) for p in probs), solver_value=float(res.value),
                  exact=bool(res.exact), upper_bound=float(res.upper_bound), pricer=res.pricer)
    diag = res.diagnostics
    if hasattr(diag, "rule_score"):
        if diag.rule_optimal is False:
            capped.append(f"k={k}")
        return (CommitteePolicy(**common, rule_score=diag.rule_score,
                                rule_optimal=diag.rule_optimal), bool(diag.rule_optimal))
    if distinct_sets and not res.exact:
        capped.append(f"k={k} (gap {res.upper_bound - res.value:.2g})")
    return KSetPolicy(**common), bool(res.exact)


def _kset_entries(profile, method, m, k, policies, ksets, shown, time_limit, distinct_sets,
                  capped):
    """Solve the k-set program of ``method`` at ``k``; one entry per shown display."""
    n = profile.n_responses
    t1 = time.perf_counter()
    options = ({"time_limit": time_limit}
               if time_limit is not None and "time_limit" in method.options.__dataclass_fields__
               else {})
    res = method.solve(profile, k, **options)
    sets = np.asarray(res.sets, dtype=np.int64)
    probs = np.asarray(res.probs, dtype=float)
    q = kset_marginal(sets, probs, n)
    ent, sup = entropy_and_support(q)
    dist = distinct_shown(sets=sets, probs=probs)
    policies[k] = q.tolist()
    ksets[k], converged = _kset_policy(res, k, distinct_sets, sets, probs, capped)
    secs = time.perf_counter() - t1
    entries = []
    for d in shown:
        value, worst = kset_robust_win_rate(profile, sets, probs, d)
        entries.append(CompareEntry(m, k, value, k / (k + 1), ent, sup, worst, secs,
                                    converged, d, dist))
    return entries


def _kset_notes(method, m, n, skipped, capped, distinct_sets, kset_max_sets, kset_max_work,
                time_limit, notes):
    """The notes of a k-set method: the k it skipped and the k its time limit stopped."""
    if skipped and distinct_sets:
        notes.append(f"{m}: no set of k distinct responses at k = "
                     f"{', '.join(map(str, skipped))} (k > n = {n}): –.")
    elif skipped:
        notes.append(f"{m}: the k-multiset LP was skipped at k = {', '.join(map(str, skipped))} "
                     f"(over the cap: C(n+k-1, k) > {kset_max_sets} multisets"
                     + ("" if kset_max_work is None
                        else f" or U·C(n+k-1, k)·n > {kset_max_work:g}") + "): –.")
    if capped:
        what = ("the time limit stopped it before the certified gap closed"
                if method.family == "kset" else
                "its program stopped at the time limit (committee not proven optimal for its "
                "rule)")
        notes.append(f"{m}: {what} at {', '.join(capped)}"
                     + (f"; time limit {time_limit:g} s per k." if time_limit else "."))


def _compare_kset(profile, method, m, ks, entries, policies, ksets, done, kset_max_sets,
                  kset_max_work, shown, time_limit, notes):
    """A distribution over k-sets for each k: k-multisets (``kset``, skipped at k beyond the
    size limits) or sets of k distinct responses (skipped at k > n)."""
    distinct_sets = all(display_spec(d).merges for d in method.displays)
    skipped, capped = [], []
    for k in ks:
        why = _kset_skip(profile, k, distinct_sets, kset_max_sets, kset_max_work)
        if why is not None:
            skipped.append(k)
            done(f"{m} k={k} {why}")
            continue
        if shown:
            entries.extend(_kset_entries(profile, method, m, k, policies, ksets, shown,
                                         time_limit, distinct_sets, capped))
        done(f"{m} k={k}")
    _kset_notes(method, m, profile.n_responses, skipped, capped, distinct_sets, kset_max_sets,
                kset_max_work, time_limit, notes)
