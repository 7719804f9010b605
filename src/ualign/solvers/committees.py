"""Committee baselines: one set of k *distinct* responses chosen by a classical rule.

These are the non-game baselines of distinct display (THEORY §9): each returns a single
deterministic k-set ``S`` (``|S| = k``, no repeats) and the rule's own objective at ``S``.

- :func:`top_k_utility`: the k responses with the largest mean utility
  ``ū(y) = Σ_u w_u υ_u(y)``, with ``υ_u(y) = 1 − level_u(y) / (c_u − 1)`` by default (``c_u``
  the number of level classes of user u: favourite 1, worst 0, linear in the level; a user
  indifferent among all responses gives ½ to each), or a given utility per level.
- :func:`top_k_borda`: the k responses with the largest mean Borda score
  ``β(y) = Σ_u w_u (#{z : y ≻_u z} + ½ #{z ≠ y : z ∼_u y})`` (ties split).
- :func:`chamberlin_courant` and :func:`pav`: proportional committees on approval ballots
  ``A_u ⊆ [n]``. Chamberlin–Courant maximises the weight of users with at least one approved
  response, ``CC(S) = Σ_u w_u 1{|A_u ∩ S| ≥ 1}``; proportional approval voting maximises
  ``PAV(S) = Σ_u w_u H(|A_u ∩ S|)`` with ``H(j) = 1 + 1/2 + … + 1/j``. Both are solved exactly as
  integer programs by HiGHS (``scipy.optimize.milp``): binaries ``x_y`` (``Σ_y x_y = k``) and,
  per group g of users with the same approval set (merged first, weights summed),

      CC:   max Σ_g w_g z_g              s.t.  z_g ≤ Σ_{y∈A_g} x_y,            0 ≤ z_g ≤ 1;
      PAV:  max Σ_g w_g Σ_j t_{g,j} / j  s.t.  Σ_j t_{g,j} ≤ Σ_{y∈A_g} x_y,  0 ≤ t_{g,j} ≤ 1,

  ``j = 1..min(k, |A_g|)``. Because ``1/j`` decreases, an optimal ``t_g`` fills its first
  ``|A_g ∩ S|`` increments, so the program's value is ``PAV(S)`` (the concave ``H`` linearised
  by its increments). Only ``x`` is integral. A greedy + single-swap local search also runs
  (milliseconds): its committee stands in when HiGHS stops at a time limit with a worse one.
  (Its score as an objective cut, in place of the starting solution ``scipy.optimize.milp``
  does not accept, was tried on Polis: it slowed HiGHS's root LP as often as it helped.)

**Approval rule** (``approvals=``): ``"top"`` (default): a user approves their level-0 class,
i.e. their favourite responses; a user indifferent among all n responses approves nothing (such a
ballot carries no information and adds a constant to every committee). For a Polis profile
(:func:`ualign.read_polis`: agree 0 ≻ pass 1 ≻ disagree 2) this is the participant's
**agree-approvals**, except for a participant who agreed with nothing: the profile's levels are
dense per user, so their level-0 class is their pass (and unseen) statements. An explicit boolean
array ``(U, n)`` aligned with ``profile.levels`` rows may be given instead.

Every result is a :class:`CommitteeResult`; its ``score`` is re-evaluated from the definition at
the returned set, ``upper_bound`` is a certified bound on the rule's optimum (HiGHS's dual
bound for the programs; the score itself for the top-k rules), and ``optimal`` says whether the
set is proven optimal; its ``diagnostics`` (a typed ``CommitteeDiagnostics``) hold the rule's
details. A program that fails (infeasible, unbounded, a HiGHS error) raises
:class:`ualign.SolverError` with the HiGHS status; a time limit returns the better of HiGHS's
committee (if it found one) and the local-search one (``diagnostics.incumbent`` says which) with
``optimal = False`` and the certified bound ``min(HiGHS's dual bound, Σ_g w_g · best score of
group g alone)``.

References: shared/spec/THEORY.md §9; Chamberlin & Courant 1983; Thiele 1895 and Aziz et al.
2017 (PAV); Lackner & Skowron 2023 (approval-based committee voting).
"""

from __future__ import annotations

import dataclasses
import numbers
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from ualign.core.checks import check_k
from ualign.core.profile import Profile
from ualign.core.search import local_search
from ualign.solvers.diagnostics import CommitteeDiagnostics
from ualign.solvers.result import SolverError, check_profile

__all__ = [
    "APPROVAL_RULES",
    "CommitteeResult",
    "approval_ballots",
    "approval_score",
    "borda_scores",
    "chamberlin_courant",
    "pav",
    "top_k_borda",
    "top_k_utility",
]

APPROVAL_RULES = ("top",)
"""Named approval rules accepted by ``approvals=`` (besides an explicit boolean array)."""

_RULES = ("cc", "pav")


@dataclasses.dataclass(frozen=True)
class CommitteeResult:
    """One k-set of distinct responses chosen by a baseline rule.

    Attributes:
      responses: the k distinct response indices, sorted.
      score: the rule's objective at ``responses`` (mean utility or mean Borda score summed over
        the set; the weighted CC or PAV score, weights summing to 1), re-evaluated from its
        definition.
      rule: ``"utility"``, ``"borda"``, ``"cc"`` or ``"pav"``.
      optimal: whether ``responses`` is proven to maximise the rule's objective.
      upper_bound: a certified upper bound on the objective's maximum (``score`` for the top-k
        rules; HiGHS's dual bound, mapped back to the score's scale, for CC and PAV).
      status: ``"exact"`` for the top-k rules; for CC and PAV the HiGHS status and message.
      seconds: wall time of the choice (for CC / PAV: merging, building and solving).
      diagnostics: the rule's details, a :class:`CommitteeDiagnostics` (``scores`` for the
        top-k rules; ``groups`` = distinct non-empty approval sets, ``mip_gap``,
        ``time_limit``, ``incumbent`` = ``"highs"``, ``"local search"`` or ``"enumeration"``,
        and ``local_search_score`` for CC / PAV).
    """

    responses: tuple[int, ...]
    score: float
    rule: str
    optimal: bool
    upper_bound: float
    status: str
    seconds: float
    diagnostics: CommitteeDiagnostics = dataclasses.field(default_factory=CommitteeDiagnostics)


# ---------------------------------------------------------------------------- validation
def _check_k_responses(k, n: int) -> int:
    k = check_k(k)
    if k > n:
        raise ValueError(f"k must lie in 1..{n} (a set of k distinct responses out of n = {n}), "
                         f"got {k}")
    return k


def _check_time_limit(time_limit) -> float | None:
    if time_limit is None:
        return None
    if (isinstance(time_limit, bool) or not isinstance(time_limit, numbers.Real)
            or not np.isfinite(float(time_limit)) or time_limit <= 0):
        raise ValueError(f"time_limit must be a finite number of seconds > 0 or None, got "
                         f"{time_limit!r}")
    return float(time_limit)


def _top_k(scores: np.ndarray, k: int) -> tuple[int, ...]:
    """The k largest entries; exact ties broken by the smaller index."""
    order = np.lexsort((np.arange(scores.size), -scores))
    return tuple(sorted(int(y) for y in order[:k]))


# ---------------------------------------------------------------------------- top-k rules
def _mean_utility(profile: Profile, utility) -> np.ndarray:
    lv = profile.levels.astype(np.int64)
    if utility is None:
        c = lv.max(axis=1, keepdims=True)                     # c_u − 1
        util = np.where(c > 0, 1.0 - lv / np.maximum(c, 1), 0.5)
    else:
        table = np.asarray(utility, dtype=float)
        if table.ndim != 1 or table.size == 0:
            raise ValueError(f"utility must be a 1-d sequence of utilities, one per level "
                             f"(level 0 first), got shape {table.shape}")
        bad = np.flatnonzero(~np.isfinite(table))
        if bad.size:
            raise ValueError(f"utility must be finite, got {table[bad[0]]} at position "
                             f"{bad[0]}")
        top = int(lv.max())
        if top >= table.size:
            r, y = np.argwhere(lv == top)[0]
            raise ValueError(f"utility must give a value for every level 0..{top}, got "
                             f"{table.size} values (level {top} at row {r}, response {y})")
        util = table[lv]
    return profile.weights @ util


def top_k_utility(profile: Profile, k: int, *, utility=None) -> CommitteeResult:
    """The k responses with the largest mean utility ``ū(y) = Σ_u w_u υ_u(y)``.

    ``υ_u(y)`` is a function of user u's level of y: by default ``1 − level_u(y) / (c_u − 1)``
    with ``c_u`` the number of u's level classes (favourite 1, worst 0, evenly spaced; ½ for a
    user indifferent among all responses); or ``utility[level_u(y)]`` for a given 1-d sequence
    of utilities per level (level 0 first; e.g. ``(1, 0, -1)`` for Polis agree / pass /
    disagree). Levels are dense per user (see :class:`ualign.Profile`), so level 1 is each
    user's second class. Exact ties are broken by the smaller index.

    Args:
      profile: a :class:`ualign.Profile` (levels ``(U, n)``, weights ``(U,)``).
      k: set size, ``1 <= k <= n``.
      utility: ``None`` (the normalised level rule) or one utility per level.

    Returns:
      A :class:`CommitteeResult` with ``score = Σ_{y∈S} ū(y)``, ``optimal = True`` and
      ``diagnostics.scores`` the ``(n,)`` mean utilities.

    Raises:
      ValueError: on a bad profile, ``k`` or ``utility``.

    Examples:
      Four users in five rank 0 ≻ 1 ≻ 2, one ranks 2 ≻ 0 ≻ 1: mean utilities 0.9, 0.4, 0.2,
      so the top two are the majority's favourites.

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import top_k_utility
      >>> r = top_k_utility(P, 2)
      >>> r.responses, round(r.score, 12), r.diagnostics.scores.round(12).tolist()
      ((0, 1), 1.3, [0.9, 0.4, 0.2])
      >>> round(top_k_utility(P, 1, utility=(1, 0, -1)).score, 12)  # agree / pass / disagree
      0.8
    """
    t0 = time.perf_counter()
    profile = check_profile(profile)
    k = _check_k_responses(k, profile.n_responses)
    u = _mean_utility(profile, utility)
    S = _top_k(u, k)
    score = float(u[list(S)].sum())
    return CommitteeResult(S, score, "utility", True, score, "exact",
                           time.perf_counter() - t0, CommitteeDiagnostics(scores=u))


def borda_scores(profile: Profile) -> np.ndarray:
    """Mean Borda score ``β(y) = Σ_u w_u (#{z : y ≻_u z} + ½ #{z ≠ y : z ∼_u y})``, ``(n,)``.

    The scores sum to ``n (n − 1) / 2``. O(U·n).

    Examples:
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import borda_scores
      >>> borda_scores(P).round(12).tolist()
      [1.8, 0.8, 0.4]
      >>> borda_scores(Profile.from_levels([[0, 0, 1]])).tolist()  # a tie splits its point
      [1.5, 1.5, 0.0]
    """
    lv = profile.levels.astype(np.int64)
    U, n = lv.shape
    C = int(lv.max()) + 1
    flat = (np.arange(U)[:, None] * C + lv).ravel()
    count = np.bincount(flat, minlength=U * C).reshape(U, C)      # users × level: class size
    at_or_above = np.cumsum(count, axis=1)                       # #{z : level <= l}
    same = np.take_along_axis(count, lv, axis=1)
    worse = n - np.take_along_axis(at_or_above, lv, axis=1)
    return profile.weights @ (worse + 0.5 * (same - 1))


def top_k_borda(profile: Profile, k: int) -> CommitteeResult:
    """The k responses with the largest mean Borda score (ties split ½; see
    :func:`borda_scores`). Exact ties are broken by the smaller index.

    Returns:
      A :class:`CommitteeResult` with ``score = Σ_{y∈S} β(y)``, ``optimal = True`` and
      ``diagnostics.scores`` the ``(n,)`` Borda scores.

    Raises:
      ValueError: on a bad profile or ``k``.

    Examples:
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import top_k_borda
      >>> r = top_k_borda(P, 2)
      >>> r.responses, round(r.score, 12), r.optimal
      ((0, 1), 2.6, True)
    """
    t0 = time.perf_counter()
    profile = check_profile(profile)
    k = _check_k_responses(k, profile.n_responses)
    b = borda_scores(profile)
    S = _top_k(b, k)
    score = float(b[list(S)].sum())
    return CommitteeResult(S, score, "borda", True, score, "exact",
                           time.perf_counter() - t0, CommitteeDiagnostics(scores=b))


# ---------------------------------------------------------------------------- approvals
def approval_ballots(profile: Profile, approvals="top") -> np.ndarray:
    """The ``(U, n)`` boolean approval ballots of a profile's rows under a rule.

    ``"top"``: each user approves their level-0 class; a user indifferent among all n responses
    approves nothing. An explicit boolean (or 0/1 integer) array ``(U, n)`` aligned with
    ``profile.levels`` is checked and returned as bool. See the module docstring for Polis.

    Examples:
      One row per distinct order of the profile (identical users are merged into one row):

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import approval_ballots
      >>> approval_ballots(P).astype(int).tolist()
      [[1, 0, 0], [0, 0, 1]]
      >>> approval_ballots(Profile.from_levels([[0, 0, 0]])).tolist()  # indifferent: none
      [[False, False, False]]
    """
    profile = check_profile(profile)
    U, n = profile.shape
    if isinstance(approvals, str):
        if approvals not in APPROVAL_RULES:
            raise ValueError(f"approvals must be one of {', '.join(APPROVAL_RULES)} or a "
                             f"boolean array ({U}, {n}), got {approvals!r}")
        lv = profile.levels
        return (lv == 0) & (lv.max(axis=1, keepdims=True) > 0)
    A = np.asarray(approvals)
    if A.shape != (U, n):
        raise ValueError(f"approvals must be one of {', '.join(APPROVAL_RULES)} or a boolean "
                         f"array of shape ({U}, {n}) (one row per profile row), got shape "
                         f"{A.shape}")
    if A.dtype != bool:
        if A.dtype.kind not in "iu":
            raise ValueError(f"approvals must be a boolean (or 0/1 integer) array, got dtype "
                             f"{A.dtype}")
        bad = np.argwhere((A != 0) & (A != 1))
        if bad.size:
            r, y = bad[0]
            raise ValueError(f"approvals must hold 0 or 1, got {A[r, y]} at row {r}, "
                             f"response {y}")
        A = A.astype(bool)
    return A.copy()


def _harmonic(j: np.ndarray) -> np.ndarray:
    H = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, int(j.max(initial=0)) + 1))])
    return H[j]


def approval_score(approvals, weights, responses, rule: str) -> float:
    """``CC(S) = Σ_u w_u 1{|A_u ∩ S| ≥ 1}`` or ``PAV(S) = Σ_u w_u H(|A_u ∩ S|)``.

    Args:
      approvals: ``(U, n)`` bool ballots; weights: ``(U,)``; responses: the set S (indices);
      rule: ``"cc"`` or ``"pav"``.

    Examples:
      >>> from ualign.solvers.committees import approval_score
      >>> A, w = [[True, True, False], [False, False, True]], [0.8, 0.2]
      >>> approval_score(A, w, [0, 1], "cc"), round(approval_score(A, w, [0, 1], "pav"), 12)
      (0.8, 1.2)
      >>> approval_score(A, w, [0, 2], "cc")  # both users covered
      1.0
    """
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {', '.join(_RULES)}, got {rule!r}")
    A = np.asarray(approvals, dtype=bool)
    hits = A[:, np.asarray(responses, dtype=np.int64)].sum(axis=1)
    vals = (hits >= 1).astype(float) if rule == "cc" else _harmonic(hits)
    return float(np.asarray(weights, dtype=float) @ vals)


def _merge_ballots(A: np.ndarray, w: np.ndarray):
    """Distinct non-empty approval sets of users with positive weight, ``(G, n)``, and their
    summed weights ``(G,)``."""
    keep = A.any(axis=1) & (w > 0)
    A, w = A[keep], w[keep]
    if A.shape[0] == 0:
        return A, w
    packed = np.packbits(A, axis=1)
    _, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    return A[first], np.bincount(inv.ravel(), weights=w, minlength=first.size)


def _local_search(A: np.ndarray, w: np.ndarray, k: int, rule: str) -> tuple[int, ...]:
    """A good committee fast: greedy (add the response of largest marginal score, k times),
    then single swaps position by position until none improves by more than
    ``ualign.core.search.TOL`` (``ualign.core.search.local_search``). Not optimal in general;
    its committee is returned when HiGHS stops at its time limit without a better one."""
    Af = A.astype(float)
    gain_of = (lambda h: (h >= 1).astype(float)) if rule == "cc" else _harmonic

    def hits(T):                        # (G,) approvals of each group in T
        return A[:, list(T)].sum(axis=1, dtype=np.int64)

    def gains(T):                       # (n,) score of T ∪ {y} for every y
        h = hits(T)
        base, up = gain_of(h), gain_of(h + 1)
        return w @ base + (w * (up - base)) @ Af

    def value(S):
        return float(w @ gain_of(hits(S)))

    r = local_search(gains, A.shape[1], k, value=value, reevaluate=False, distinct=True)
    return tuple(int(y) for y in r.set)


_PAIR_BYTES = 2**28
"""Largest ``n × n`` float64 pair table (256 MiB, n ≤ 5,792) for the exact k ≤ 2 path."""


def _enumerated(A, w, A_all, weights, k, rule, diagnostics, t0) -> CommitteeResult:
    """CC and PAV at k ≤ 2 exactly, every committee scored at once: with ``s = w @ A`` (the
    weight approving each response) and ``M = Aᵀ diag(w) A`` (the weight approving both of a
    pair), a pair ``{a, b}`` scores ``s_a + s_b − M_ab`` under CC (approvers of both count once)
    and ``s_a + s_b − M_ab / 2`` under PAV (their second approval adds 1/2). Ties go to the
    smallest response, then the smallest partner. A HiGHS program took 6 s at k = 1 on a Polis
    conversation (n = 607) and stopped at its time limit at k = 2 without proving anything."""
    Af = A.astype(float)
    s = w @ Af
    S: tuple[int, ...]
    if k == 1:
        S = (int(np.argmax(s)),)
    else:
        pair = s[:, None] + s[None, :] - (0.5 if rule == "pav" else 1.0) * ((Af.T * w) @ Af)
        pair[np.tril_indices(s.size)] = -np.inf          # each pair once, a < b
        a, b = np.unravel_index(int(np.argmax(pair)), pair.shape)
        S = (int(a), int(b))
    score = approval_score(A_all, weights, S, rule)
    diagnostics = dataclasses.replace(
        diagnostics, incumbent="enumeration", mip_gap=0.0,
        local_search_score=approval_score(A, w, _local_search(A, w, k, rule), rule))
    return CommitteeResult(S, score, rule, True, score, f"exact (k = {k}: every committee "
                           "scored)", time.perf_counter() - t0, diagnostics)


def _program(A, w, n, k, rule, scale):
    """The integer program of the module docstring: objective ``c`` over ``x (n)`` then the
    ``m`` auxiliaries, the coupling rows ``lin`` (``<= 0``) and the auxiliaries' upper bounds."""
    G = A.shape[0]
    Ag = sp.csr_matrix(A, dtype=float)  # (G, n)
    if rule == "cc":
        m = G                           # z_g
        c = np.concatenate([np.zeros(n), -w * scale])
        lin = sp.hstack([-Ag, sp.identity(G, format="csr")], format="csr")  # z_g − Σ x ≤ 0
        return c, lin, np.ones(G), m
    J = np.minimum(A.sum(axis=1), k)                 # increments per group
    m = G * k                                        # t_{g,j}, j = 1..k (row-major)
    inc = np.tile(1.0 / np.arange(1, k + 1), G)
    c = np.concatenate([np.zeros(n), -np.repeat(w * scale, k) * inc])
    rows = np.repeat(np.arange(G), k)
    T = sp.csr_matrix((np.ones(m), (rows, np.arange(m))), shape=(G, m))
    lin = sp.hstack([-Ag, T], format="csr")          # Σ_j t_{g,j} − Σ x ≤ 0
    return c, lin, (np.arange(k)[None, :] < J[:, None]).astype(float).ravel(), m


def _solve_program(A, w, n, k, rule, time_limit):
    """HiGHS on the program (relative gap 0); returns scipy's result and the objective's
    scale. The smallest group counts 1 in the objective, so HiGHS's absolute gap (1e-6) is far
    below the difference between two committees' scores when weights are counts of users."""
    scale = 1.0 / w.min()
    c, lin, ub_aux, m = _program(A, w, n, k, rule, scale)
    card = sp.csr_matrix(np.concatenate([np.ones(n), np.zeros(m)])[None, :])
    constraints = [LinearConstraint(lin, -np.inf, 0.0), LinearConstraint(card, k, k)]
    integrality = np.concatenate([np.ones(n), np.zeros(m)])
    bounds = Bounds(np.zeros(n + m), np.concatenate([np.ones(n), ub_aux]))
    options = {"disp": False, "mip_rel_gap": 0.0}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(c, integrality=integrality, bounds=bounds, constraints=constraints,
               options=options)
    if res.status not in (0, 1) or (res.status == 0 and res.x is None):
        raise SolverError(f"{rule.upper()} integer program failed (n = {n}, k = {k}, "
                          f"{A.shape[0]} approval groups): {res.message}", res.status)
    return res, scale


def _highs_committee(res, n, k, rule) -> tuple[int, ...] | None:
    """HiGHS's committee (its k largest x), checked integral; None if it found none."""
    if res.x is None:
        return None
    x = res.x[:n]
    S = tuple(sorted(int(y) for y in np.argsort(-x, kind="stable")[:k]))
    if not np.all(x[list(S)] > 0.5):
        raise SolverError(f"{rule.upper()} integer program returned a non-integral x "
                          f"(max fractional {np.abs(x - np.round(x)).max():.3g})", res.status)
    return S


def _solve_committee(profile, k, approvals, time_limit, rule) -> CommitteeResult:
    t0 = time.perf_counter()
    profile = check_profile(profile)
    n = profile.n_responses
    k = _check_k_responses(k, n)
    time_limit = _check_time_limit(time_limit)
    A_all = approval_ballots(profile, approvals)
    A, w = _merge_ballots(A_all, profile.weights)
    G = A.shape[0]
    diagnostics = CommitteeDiagnostics(groups=G, time_limit=time_limit,
                                       incumbent="any (no approvals)")
    if G == 0:                          # nobody approves anything: every set scores 0
        return CommitteeResult(tuple(range(k)), 0.0, rule, True, 0.0, "exact (no approvals)",
                               time.perf_counter() - t0,
                               dataclasses.replace(diagnostics, local_search_score=0.0))
    if k <= 2 and n * n * 8 <= _PAIR_BYTES:
        return _enumerated(A, w, A_all, profile.weights, k, rule, diagnostics, t0)
    S = _local_search(A, w, k, rule)
    score_ls = approval_score(A, w, S, rule)
    res, scale = _solve_program(A, w, n, k, rule, time_limit)
    optimal = res.status == 0
    score, incumbent = approval_score(A_all, profile.weights, S, rule), "local search"
    S_h = _highs_committee(res, n, k, rule)
    if S_h is not None:
        score_h = approval_score(A_all, profile.weights, S_h, rule)
        if score_h >= score - 1e-12:
            S, score, incumbent = S_h, score_h, "highs"
    # Certified bound: HiGHS's dual bound, capped by every group scoring its best alone
    # (CC: covered; PAV: H(min(k, |A_g|))).
    trivial = float(w.sum()) if rule == "cc" else float(w @ _harmonic(np.minimum(
        A.sum(axis=1), k)))
    dual = getattr(res, "mip_dual_bound", None)
    bound = trivial if dual is None or not np.isfinite(dual) else min(trivial, -dual / scale)
    bound = score if optimal else max(score, bound)
    diagnostics = dataclasses.replace(diagnostics, incumbent=incumbent,
                                      local_search_score=score_ls,
                                      mip_gap=getattr(res, "mip_gap", None))
    return CommitteeResult(S, score, rule, bool(optimal), float(bound),
                           f"{res.status}: {res.message}", time.perf_counter() - t0, diagnostics)


def chamberlin_courant(profile: Profile, k: int, *, approvals="top",
                       time_limit: float | None = None) -> CommitteeResult:
    """The Chamberlin–Courant committee: k distinct responses maximising the weight of users
    who approve at least one of them, ``CC(S) = Σ_u w_u 1{|A_u ∩ S| ≥ 1}``.

    Solved exactly as the integer program of the module docstring (HiGHS, relative gap 0),
    after merging users with equal approval sets.

    Args:
      profile: a :class:`ualign.Profile`.
      k: committee size, ``1 <= k <= n``.
      approvals: ``"top"`` (each user approves their level-0 class; for Polis, the agrees) or a
        boolean array ``(U, n)`` aligned with ``profile.levels``.
      time_limit: seconds for HiGHS (``None``: no limit). If it runs out, the better of
        HiGHS's committee (if any) and the local-search one (``diagnostics.incumbent``) is
        returned with ``optimal = False`` and a certified bound (HiGHS's dual bound, capped by
        every user scoring their best).

    Returns:
      A :class:`CommitteeResult` (``score`` = CC score, weights summing to 1).

    Raises:
      ValueError: on a bad profile, ``k``, ``approvals`` or ``time_limit``.
      SolverError: (with the HiGHS status) when the program fails (not on a time limit).

    Examples:
      The minority's favourite joins the majority's: every user approves one of the two
      (top-k by utility or Borda picks (0, 1), which leaves the minority out).

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import chamberlin_courant
      >>> r = chamberlin_courant(P, 2)
      >>> r.responses, r.score, r.optimal, r.upper_bound
      ((0, 2), 1.0, True, 1.0)
    """
    return _solve_committee(profile, k, approvals, time_limit, "cc")


def pav(profile: Profile, k: int, *, approvals="top",
        time_limit: float | None = None) -> CommitteeResult:
    """The proportional-approval-voting committee: k distinct responses maximising
    ``PAV(S) = Σ_u w_u H(|A_u ∩ S|)``, ``H(j) = 1 + 1/2 + … + 1/j``.

    Solved exactly as the integer program of the module docstring (``H`` linearised by its
    decreasing increments, one continuous variable per user group and increment; HiGHS,
    relative gap 0), after merging users with equal approval sets. Arguments, result and errors
    as :func:`chamberlin_courant`.

    Examples:
      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [0, 1, 2], [2, 0, 1]], weights=[2, 2, 1])
      >>> from ualign.solvers.committees import pav
      >>> r = pav(P, 2)
      >>> r.responses, round(r.score, 12), r.optimal
      ((0, 2), 1.0, True)
    """
    return _solve_committee(profile, k, approvals, time_limit, "pav")
