"""From universal to personalised: the k-vs-evidence trade-off on real people's hidden votes.

THEORY.md §10: condition the population on what a user revealed (posterior weights
``w_u(e) ∝ w_u · P(e | u)``, :func:`ualign.posterior`), then choose the k responses shown from that
posterior. This module measures it on held-out people (pure measurement, typed rows; tables, plots
and prose are built from the rows elsewhere).

Protocol (:func:`measure_personalisation`), per dataset, all randomness from one ``seed`` and no
state kept between calls:

1. People (:class:`ualign.data.people.People`): each row of ``People.levels`` is one person's
   real levels over the n responses, NaN where they gave none (a Polis statement they never
   voted on). ``holdout`` (20 %) of the people
   are held out; the other 80 % are the population (unrated cells at ``People.fill``, for Polis
   the pass level: :func:`ualign.read_polis`'s rule).
2. δ (``noise="fit"``): the population is split 75/25 once more; :func:`ualign.fit_noise` picks δ
   by the likelihood of the 25 %'s evidence (at most 500 people, up to 16 revealed ratings each)
   under the 75 %.
   No held-out person's data is used to fit δ.
3. At most ``max_users`` held-out people are evaluated. For each, a seeded random order of their
   rated responses is drawn once; at nominal m the first ``min(m, r - 1)`` are *revealed* (r =
   the number they rated, so at least one stays hidden; revealed sets are nested in m). The rest of
   their ratings are *hidden*: H = rated and not revealed.
4. Shown policies, chosen from the posterior profile (the population given the revealed levels,
   δ as above; cached per distinct evidence):
   - ``ualign``: k i.i.d. samples of the (k+1)-game equilibrium of the posterior
     (``solve_ualign``; the paper's policy);
   - ``greedy``: a distinct k-set, built greedily (:func:`distinct_topk`) for the posterior's mean
     win rate. It is NOT the certified best distinct k-set: ``solve_kset(display="distinct")``
     took 0.6-75 s per solve on Polis conversations (measured, 2026-12-01), far too slow for one
     solve per person, m and k;
   - ``argmax``: the single response with the largest posterior mean win rate (the greedy set's
     first element; personalised alignment's one answer), rows at k = 1 only;
   - ``universal``: the m = 0 equilibrium (no evidence), evaluated on the same hidden votes, so
     every m compares like with like.
5. Each is scored on the person's *real* levels (every response may be shown; a shown statement
   they never voted on sits at ``fill``, the pass level, as in the population), against the
   hidden-rated responses y' ∈ H only, under both displays (``multiset``: copies count, §2;
   ``distinct``: duplicates merged, §9; identical for ``greedy`` and ``argmax``, which repeat
   nothing):
   - ``robust``: ``min_{y' ∈ H} WR(shown, y')`` — the competitor knows the person's hidden votes;
   - ``mean``: ``mean_{y' ∈ H} WR(shown, y')``;
   - ``vs_worst``: ``WR(shown, y'_e)`` with ``y'_e = argmin_{y' ∈ H}`` of the win rate the
     *posterior predicts* — a competitor who knows the evidence but not the hidden votes. If the
     population and noise model were the truth, its average would be >= k/(k+1) for ``ualign``
     (multiset), the posterior's guarantee (§4 applied to the posterior profile);
   - ``vs_worst_all``: the same with y'_e chosen among *all* unrevealed responses, a response
     the person never rated scored at ``fill`` (Polis: pass), the convention the population
     itself uses. For PrefLib (everything rated) it equals ``vs_worst``. On Polis the two differ
     because whether a person rated a statement is informative (the population's unseen-as-pass
     cells are not missing at random); ``vs_worst_all`` is the check consistent with the model.
   Averages are over evaluated people, with 95 % percentile bootstrap intervals over people.

References: shared/spec/THEORY.md §2, §4, §9, §10.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ualign.core import Profile, deviation_payoffs
from ualign.core.checks import DISPLAYS
from ualign.core.displays import PAPER_DISPLAY
from ualign.core.posterior import fit_noise, posterior, posterior_weights
from ualign.core.search import local_search
from ualign.core.sets import set_win_matrix
from ualign.data.people import People

__all__ = ["DEFAULT_KS", "DEFAULT_MS", "PERSONALISE_METHODS", "DatasetSummary", "PersonaliseRow",
           "distinct_topk", "measure_personalisation", "pooled_rows"]

#: the shown policies compared (protocol step 4), in table order
PERSONALISE_METHODS = ("ualign", "greedy", "argmax", "universal")
DEFAULT_MS = (0, 1, 2, 4, 8, 16)
DEFAULT_KS = (1, 2, 4, 8)
FIT_REVEAL = 16        # ratings revealed per validation person when fitting δ
FIT_PEOPLE = 500       # at most this many validation people when fitting δ
PRUNE = 1e-12          # posterior types below this weight are dropped before choosing


class PersonaliseRow(NamedTuple):
    """One (dataset, method, display, m, k) cell: means over evaluated people with 95 %
    bootstrap intervals. ``revealed`` is the mean number of ratings actually revealed."""

    dataset: str
    method: str
    display: str
    m: int
    k: int
    n_users: int
    revealed: float
    robust: float
    robust_lo: float
    robust_hi: float
    mean: float
    mean_lo: float
    mean_hi: float
    vs_worst: float
    vs_worst_lo: float
    vs_worst_hi: float
    vs_worst_all: float
    vs_worst_all_lo: float
    vs_worst_all_hi: float


class DatasetSummary(NamedTuple):
    """What one dataset's run used: sizes, the fitted δ, cache statistics, equilibrium solves
    retried with every candidate (``solver_retries``, see :class:`_EvalState`), the largest
    posterior mass pruned before choosing (``max_dropped``), wall time."""

    dataset: str
    n_responses: int
    n_people: int
    n_population: int
    n_held_out: int
    n_evaluated: int
    mean_rated: float
    delta: float
    delta_fit_rows: int
    distinct_evidence: int
    solves: int
    solver_retries: int
    max_dropped: float
    seconds: float


# ------------------------------------------------------------------------ distinct top-k
def distinct_topk(profile: Profile, k: int) -> np.ndarray:
    """k distinct responses chosen greedily for the profile's mean win rate (the documented
    rule standing in for the certified best distinct k-set):

        F(S) = Σ_u w_u · (1/n) Σ_{y'} WR_u(S, y'),   WR_u(S, y') = 1 if S holds a response u
        strictly prefers to y', c/(c+1) if u's best level in S ties y' (c responses of S there,
        y' included), 0 otherwise;

    step i adds the response that maximises ``F(S ∪ {z})`` (ties: smallest index). The first
    pick is the response with the largest mean win rate against every response (the
    personalised argmax). Sets are nested in k; ``k > n`` returns all n. O(k · U · n).
    """
    lv = profile.levels.astype(np.int64)
    w = profile.weights
    U, n = lv.shape
    cnt = np.zeros((U, n + 1))                              # responses per level (dense: < n)
    np.add.at(cnt, (np.repeat(np.arange(U), n), lv.ravel()), 1.0)
    worse = np.cumsum(cnt[:, ::-1], axis=1)[:, ::-1] - cnt  # responses strictly below a level
    r0 = np.arange(U)
    alone = worse[r0[:, None], lv] + 0.5 * cnt[r0[:, None], lv]  # (U, n) z as the new best

    def gains(T: tuple[int, ...]) -> np.ndarray:
        """``F(T ∪ {z})`` for every z."""
        if T:
            sl = lv[:, list(T)]
            best = sl.min(axis=1)                           # u's best level in T
            c = (sl == best[:, None]).sum(axis=1).astype(float)
            cur = worse[r0, best] + cnt[r0, best] * c / (c + 1.0)  # n · mean WR_u(T, ·)
        else:                                               # empty set: nothing shown
            best, c, cur = np.full(U, n), np.zeros(U), np.zeros(U)
        tie_val = worse[r0, best] + cnt[r0, best] * (c + 1.0) / (c + 2.0)
        val = np.where(lv < best[:, None], alone,
                       np.where(lv == best[:, None], tie_val[:, None], cur[:, None]))
        return w @ val

    greedy = local_search(gains, n, min(k, n), distinct=True, max_rounds=0).greedy[0]
    return np.array(greedy, dtype=np.int64)


# ------------------------------------------------------------------------------ measure
def _check_list(values, name: str, lo: int) -> tuple[int, ...]:
    out = tuple(int(v) for v in values)
    if not out:
        raise ValueError(f"{name} must hold at least one integer >= {lo}")
    for i, v in enumerate(out):
        if v < lo:
            raise ValueError(f"{name} must hold integers >= {lo}, got {v} at position {i}")
    return tuple(sorted(set(out)))


def _bootstrap(values: np.ndarray, idx: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % percentile interval over people (``idx`` (B, N) resampled indices)."""
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(lo), float(hi)


class _Choice(NamedTuple):
    """The shown policies for one evidence, and the win rates the posterior predicts for each
    against every single response (to find the posterior's worst competitor)."""

    policies: dict              # k -> equilibrium policy (n,)
    greedy: np.ndarray          # greedy order (max k,)
    predicted: dict             # (method, display, k) -> (n,) predicted WR


def _choose(post: Profile, ks, solve) -> _Choice:
    policies, predicted = {}, {}
    greedy = distinct_topk(post, max(ks))
    for k in ks:
        pi = solve(post, k)
        policies[k] = pi
        for d in DISPLAYS:
            predicted["ualign", d, k] = 1.0 - deviation_payoffs(post, pi, k, d)
            predicted["greedy", d, k] = set_win_matrix(post.levels, post.weights,
                                                       greedy[:k][None, :], d)[0]
    predicted["argmax", PAPER_DISPLAY, 1] = set_win_matrix(post.levels, post.weights,
                                                           greedy[:1][None, :])[0]
    return _Choice(policies, greedy, predicted)


def _real_win_rates(person: Profile, choice: _Choice, universal: _Choice, ks):
    """(method, display, k) -> (n,) the person's real win rate against every response."""
    out = {}
    for k in ks:
        for d in DISPLAYS:
            out["ualign", d, k] = 1.0 - deviation_payoffs(person, choice.policies[k], k, d)
            out["universal", d, k] = 1.0 - deviation_payoffs(person, universal.policies[k], k, d)
            out["greedy", d, k] = set_win_matrix(person.levels, person.weights,
                                                 choice.greedy[:k][None, :], d)[0]
    a = set_win_matrix(person.levels, person.weights, choice.greedy[:1][None, :])[0]
    for d in DISPLAYS:  # one response: every display shows the same
        out["argmax", d, 1] = a
    return out


def _prune(post: Profile) -> tuple[Profile, float]:
    """Drop types whose posterior weight is below ``PRUNE`` (1e-12) before choosing; returns
    the renormalised profile and the dropped mass (every win rate moves by at most that)."""
    keep = post.weights >= PRUNE
    if keep.all():
        return post, 0.0
    return (Profile(post.levels[keep], post.weights[keep]),
            float(post.weights[~keep].sum()))


def _solve_ualign(profile, k, retries: list):
    """``solve_ualign(profile, k)``; if its trust-region LP fails (HiGHS status 15 was seen on
    a Polis posterior), one retry with the whole response set as the first candidate set
    (``m0 = n``), recorded in ``retries`` as ``(n_users, n, k, message)``; a second failure
    raises."""
    from ualign.solvers import SolverError, solve_ualign

    try:
        return solve_ualign(profile, k).policy
    except SolverError as e:
        retries.append((profile.n_users, profile.n_responses, k, str(e)))
        return solve_ualign(profile, k, m0=profile.n_responses).policy


def _noise_delta(noise, X, filled, pop, population, rng) -> tuple[float, int]:
    """``(δ, evidence rows used to fit it)``: ``noise`` itself when it is a number (validated),
    else fitted by held-out likelihood inside the population: 75 % of it as the mixture, the
    other 25 % (at most ``FIT_PEOPLE``) revealing up to ``FIT_REVEAL`` ratings each."""
    n = X.shape[1]
    if not isinstance(noise, str):
        posterior_weights(population, np.full(n, np.nan), float(noise))     # validates δ
        return float(noise), 0
    if noise != "fit":
        raise ValueError(f"noise must be a float δ in (0, 0.5) or 'fit', got {noise!r}")
    sub = rng.permutation(pop)
    n_val = max(1, len(sub) // 4)
    val, fit_pop = sub[:min(n_val, FIT_PEOPLE)], sub[n_val:]
    ev = np.full((len(val), n), np.nan)
    for r, i in enumerate(val):
        rated = np.flatnonzero(~np.isnan(X[i]))
        show = rng.permutation(rated)[:FIT_REVEAL]
        ev[r, show] = X[i, show]
    try:
        fit = fit_noise(Profile.from_levels(filled[fit_pop]), ev)
    except ValueError:                    # no comparison at all: nothing to learn from
        return 0.25, 0
    return fit.delta, fit.n_evidence


class _EvalState:
    """Mutable bookkeeping of one call of :func:`measure_personalisation` (nothing outlives
    it): the choice per distinct evidence (``()`` = no comparison = universal), the number of
    equilibrium solves, the largest posterior mass pruned by :func:`_prune`, and the solves
    retried with every candidate (``retries``, see :func:`_solve_ualign`)."""

    def __init__(self):
        self.cache: dict = {}
        self.solves = 0
        self.dropped = 0.0
        self.retries: list = []

    def solve(self, profile: Profile, k: int) -> np.ndarray:
        """The posterior equilibrium π*_k (:func:`_solve_ualign`, retries recorded here)."""
        return _solve_ualign(profile, k, self.retries)


def _choice_for(key, e, population, delta, ks, state: _EvalState):
    """The cached choice for evidence ``e`` (``key`` identifies it), solved on a miss."""
    choice = state.cache.get(key)
    if choice is None:
        post, mass = _prune(posterior(population, e, noise=delta))
        state.dropped = max(state.dropped, mass)
        choice = _choose(post, ks, state.solve)
        state.cache[key] = choice
        state.solves += len(ks)
    return choice


def _score_person(real, choice, universal, H, unrevealed, m, vals) -> None:
    """Append ``(robust, mean, vs_worst, vs_worst_all)`` per (method, display, k) to ``vals``
    from the person's real win rates ``real`` (hidden-rated ``H``, ``unrevealed`` responses)."""
    for (method, d, k), wr in real.items():
        pred = (choice if method != "universal" else universal).predicted[
            "ualign" if method == "universal" else method,
            PAPER_DISPLAY if method == "argmax" else d, k]
        y_worst = H[np.argmin(pred[H])]
        y_any = unrevealed[np.argmin(pred[unrevealed])]
        vals.setdefault((method, d, m, k), []).append(
            (wr[H].min(), wr[H].mean(), wr[y_worst], wr[y_any]))


def _evaluate_person(x, filled_x, rng, ms, ks, population, delta, universal,
                     state: _EvalState, vals, revealed_counts) -> int:
    """Score one held-out person (real levels ``x`` with NaN, ``filled_x`` without) at every
    m into ``vals`` and ``revealed_counts``; returns how many responses they rated."""
    n = x.size
    rated = np.flatnonzero(~np.isnan(x))
    order = rng.permutation(rated)
    person = Profile.from_levels(filled_x[None, :])
    for m in ms:
        r = min(m, max(rated.size - 1, 0))
        R = np.sort(order[:r])
        H = np.setdiff1d(rated, R)
        unrevealed = np.setdiff1d(np.arange(n), R)
        if H.size == 0:
            continue
        revealed_counts[m].append(r)
        e = np.full(n, np.nan)
        e[R] = x[R]
        key = (tuple(R.tolist()), tuple(x[R].tolist())) if r >= 2 else ()
        choice = _choice_for(key, e, population, delta, ks, state)
        real = _real_win_rates(person, choice, universal, ks)
        _score_person(real, choice, universal, H, unrevealed, m, vals)
    return rated.size


def _bootstrap_rows(name, vals, revealed_counts, seed, n_boot) -> list[PersonaliseRow]:
    """One row per (method, display, m, k) with bootstrap intervals over people; the same
    resamples for every row with the same number of people (paired)."""
    rows = []
    boot_rng = np.random.default_rng([seed, 1])
    resamples: dict = {}
    for (method, d, m, k), v in sorted(vals.items(), key=lambda kv: (
            PERSONALISE_METHODS.index(kv[0][0]), DISPLAYS.index(kv[0][1]), kv[0][2],
            kv[0][3])):
        a = np.asarray(v)
        if a.shape[0] not in resamples:
            resamples[a.shape[0]] = boot_rng.integers(0, a.shape[0], size=(n_boot, a.shape[0]))
        idx = resamples[a.shape[0]]
        stats = [x for j in range(a.shape[1]) for x in _bootstrap(a[:, j], idx)]
        rows.append(PersonaliseRow(name, method, d, m, k, a.shape[0],
                                   float(np.mean(revealed_counts[m])), *stats))
    return rows


def measure_personalisation(people: People, ms: Sequence[int] = DEFAULT_MS,
                            ks: Sequence[int] = DEFAULT_KS, *, holdout: float = 0.2,
                            seed: int = 0, max_users: int = 200, noise="fit",
                            n_boot: int = 1000,
                            tick: Callable[[str], None] | None = None
                            ) -> tuple[list[PersonaliseRow], DatasetSummary]:
    """The trade-off curve on one dataset's held-out people (protocol in the module docstring).

    Args:
      people: real levels per person (:func:`ualign.data.people.load_people`).
      ms: numbers of revealed ratings (nominal; fewer when a person rated fewer).
      ks: numbers of responses shown.
      holdout: share of people held out, in (0, 1).
      seed: the one seed of the split, the sample of evaluated people, the revealed orders and
        the bootstrap.
      max_users: evaluate at most this many held-out people.
      noise: δ in (0, ½) or ``"fit"`` (fitted on a split of the population).
      n_boot: bootstrap resamples.
      tick: called after each evaluated person with a short message (progress bars).

    Returns:
      ``(rows, summary)``: one :class:`PersonaliseRow` per (method, display, m, k) (``argmax``
      at k = 1 only) and a :class:`DatasetSummary`.
    """
    t0 = time.perf_counter()
    ms = _check_list(ms, "ms", 0)
    ks = _check_list(ks, "ks", 1)
    if not 0.0 < float(holdout) < 1.0:
        raise ValueError(f"holdout must be a share in (0, 1), got {holdout}")
    if isinstance(max_users, bool) or int(max_users) < 1:
        raise ValueError(f"max_users must be an integer >= 1, got {max_users!r}")
    X = np.asarray(people.levels, dtype=float)
    N, n = X.shape
    filled = np.where(np.isnan(X), people.fill, X)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(N)
    n_hold = round(holdout * N)
    if n_hold < 1 or N - n_hold < 2:
        raise ValueError(f"holdout = {holdout} of {N} people leaves {n_hold} held out and "
                         f"{N - n_hold} in the population; need >= 1 and >= 2")
    held, pop = perm[:n_hold], perm[n_hold:]
    population = Profile.from_levels(filled[pop])

    delta, fit_rows = _noise_delta(noise, X, filled, pop, population, rng)

    # ---- evaluated people
    n_eval = min(int(max_users), n_hold)
    evaluated = rng.choice(held, size=n_eval, replace=False)
    state = _EvalState()
    universal = _choose(population, ks, state.solve)
    state.cache[()] = universal
    state.solves = len(ks)
    vals: dict = {}
    revealed_counts: dict[int, list[int]] = {m: [] for m in ms}
    rated_counts = []
    for count, i in enumerate(evaluated):
        rated_counts.append(_evaluate_person(X[i], filled[i], rng, ms, ks, population, delta,
                                             universal, state, vals, revealed_counts))
        if tick is not None:
            tick(f"{people.name}: person {count + 1}/{n_eval}")

    rows = _bootstrap_rows(people.name, vals, revealed_counts, seed, n_boot)
    summary = DatasetSummary(people.name, n, N, len(pop), n_hold, n_eval,
                             float(np.mean(rated_counts)) if rated_counts else 0.0, delta,
                             fit_rows, len(state.cache), state.solves, len(state.retries),
                             state.dropped, time.perf_counter() - t0)
    return rows, summary



# ------------------------------------------------------------------------ summaries, plots
def pooled_rows(rows: Sequence[PersonaliseRow], name: str = "all datasets"
                ) -> list[PersonaliseRow]:
    """Macro average over datasets per (method, display, m, k): each dataset counts once;
    the interval columns are the smallest / largest dataset mean (not a confidence interval)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r.method, r.display, r.m, r.k), []).append(r)
    out = []
    for (method, d, m, k), rs in groups.items():
        def col(f, rs=rs):
            return [getattr(r, f) for r in rs]
        out.append(PersonaliseRow(
            name, method, d, m, k, int(sum(col("n_users"))), float(np.mean(col("revealed"))),
            float(np.mean(col("robust"))), min(col("robust")), max(col("robust")),
            float(np.mean(col("mean"))), min(col("mean")), max(col("mean")),
            float(np.mean(col("vs_worst"))), min(col("vs_worst")), max(col("vs_worst")),
            float(np.mean(col("vs_worst_all"))), min(col("vs_worst_all")),
            max(col("vs_worst_all"))))
    return out
