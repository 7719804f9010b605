"""From universal to personalised: the k-vs-evidence trade-off on real people's hidden votes.

THEORY.md §10: condition the population on what a user revealed (posterior weights
``w_u(e) ∝ w_u · P(e | u)``, :func:`ualign.posterior`), then choose the k responses shown from that
posterior. This module measures it on held-out people (pure measurement, typed rows; tables, plots
and prose are built from the rows elsewhere).

Protocol (:func:`measure_personalisation`), per dataset, all randomness from one ``seed``:

1. People: each row of ``People.levels`` is one person's real levels over the n responses, NaN
   where they gave none (a Polis statement they never voted on). ``holdout`` (20 %) of the people
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

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ualign.core import Profile, deviation_payoffs
from ualign.core.posterior import fit_noise, posterior, posterior_weights
from ualign.core.sets import set_win_matrix

__all__ = ["DISPLAYS", "METHODS", "CurveRow", "DatasetSummary", "People", "PersonaliseRow",
           "SectionConfig", "curve_png", "distinct_topk", "load_people", "measure_personalisation",
           "measure_section", "people_from_polis", "people_from_profile", "pooled_rows",
           "section_config", "section_plots", "section_summary"]

METHODS = ("ualign", "greedy", "argmax", "universal")
DISPLAYS = ("multiset", "distinct")
DEFAULT_MS = (0, 1, 2, 4, 8, 16)
DEFAULT_KS = (1, 2, 4, 8)
FIT_REVEAL = 16        # ratings revealed per validation person when fitting δ
FIT_PEOPLE = 500       # at most this many validation people when fitting δ
PRUNE = 1e-12          # posterior types below this weight are dropped before choosing


class People(NamedTuple):
    """Real people's levels: ``levels (N, n)`` float, smaller is better, NaN = not rated;
    ``fill`` the level an unrated cell takes in the population and when shown (Polis: pass)."""

    name: str
    levels: np.ndarray
    fill: float
    groups: np.ndarray | None = None
    labels: tuple[str, ...] | None = None


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
    retried with every candidate (``solver_retries``, see ``_solve_ualign``), the largest
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


# ------------------------------------------------------------------------------ people
def people_from_profile(profile: Profile, name: str = "profile") -> People:
    """One person per voter: each row repeated ``round(w · n_voters)`` times (at least once),
    or once per row when ``n_voters`` is unknown. Every response is rated."""
    P = profile
    if P.n_voters is not None:
        counts = np.maximum(1, np.round(P.weights * P.n_voters).astype(np.int64))
    else:
        counts = np.ones(P.n_users, dtype=np.int64)
    levels = np.repeat(P.levels.astype(float), counts, axis=0)
    groups = None if P.groups is None else np.repeat(P.groups, counts)
    return People(name, levels, float(P.levels.max()), groups, P.labels)


def people_from_polis(folder, min_votes: int = 7) -> People:
    """The participants of a Polis conversation kept by :func:`ualign.read_polis` (defaults:
    ``min_votes=7``, unseen tied with pass), with their real votes (agree 0, pass 1, disagree 2,
    NaN never voted) over its statements. Checked against ``read_polis``: filling NaN with pass
    gives the same population (orders and weights, groups aside), else ``ValueError``. Groups
    are left out (``read_polis_votes`` reads them from the second column, which is ``xid`` in
    some exports)."""
    from ualign.data import read_polis
    from ualign.data.polis import statement_ids
    from ualign.llm import read_polis_votes

    P = read_polis(folder, min_votes=min_votes)
    ids = statement_ids(P)
    raw = read_polis_votes(folder)
    col = {int(c): j for j, c in enumerate(raw.statement_ids)}
    missing = [c for c in ids if c not in col]
    if missing:
        raise ValueError(f"{folder}: statements {missing[:5]} of read_polis have no vote column "
                         "in read_polis_votes")
    v = raw.votes[:, [col[c] for c in ids]]                # +1 agree, 0 pass, -1 disagree
    keep = np.count_nonzero(~np.isnan(v), axis=1) >= min_votes
    levels = 1.0 - v[keep]                                 # agree 0, pass 1, disagree 2
    # Groups are not used here (no group evidence), so the check merges without them.
    check = Profile.from_levels(np.where(np.isnan(levels), 1.0, levels))
    want = Profile(P.levels, P.weights)
    if not (check.shape == want.shape and np.array_equal(check.levels, want.levels)
            and np.allclose(check.weights, want.weights, rtol=0, atol=1e-12)):
        raise ValueError(f"{folder}: the raw votes do not rebuild read_polis's profile")
    name = P.meta.get("conversation", Path(folder).name)
    return People(name, levels, 1.0, None, P.labels)


def load_people(spec: str) -> People:
    """A Polis folder (real votes, NaN where never voted) or anything ``load_profile`` reads
    (a PrefLib file, a generator spec): one person per voter."""
    from ualign.data import load_profile

    path = Path(spec)
    if path.is_dir() and (path / "participants-votes.csv").is_file():
        return people_from_polis(path)
    name = path.name if path.exists() else spec
    return people_from_profile(load_profile(spec), name)


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
    rows = np.arange(U)[:, None]
    alone = worse[rows, lv] + 0.5 * cnt[rows, lv]           # (U, n) value of z as the new best
    best = np.full(U, n)                                    # empty set: nothing shown
    c = np.zeros(U)
    cur = np.zeros(U)                                       # n · mean WR_u(S, ·) so far
    chosen: list[int] = []
    for _ in range(min(k, n)):
        tie_val = worse[rows[:, 0], best] + cnt[rows[:, 0], best] * (c + 1.0) / (c + 2.0)
        val = np.where(lv < best[:, None], alone,
                       np.where(lv == best[:, None], tie_val[:, None], cur[:, None]))
        F = w @ val
        F[chosen] = -np.inf
        z = int(np.argmax(F))
        chosen.append(z)
        lz = lv[:, z]
        cur = val[:, z]
        c = np.where(lz < best, 1.0, np.where(lz == best, c + 1.0, c))
        best = np.minimum(best, lz)
    return np.array(chosen, dtype=np.int64)


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
    predicted["argmax", "multiset", 1] = set_win_matrix(post.levels, post.weights,
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
    out["argmax", "multiset", 1] = out["argmax", "distinct", 1] = a
    return out


def _prune(post: Profile) -> tuple[Profile, float]:
    """Drop types whose posterior weight is below ``PRUNE`` (1e-12) before choosing; returns
    the renormalised profile and the dropped mass (every win rate moves by at most that)."""
    keep = post.weights >= PRUNE
    if keep.all():
        return post, 0.0
    return (Profile(post.levels[keep], post.weights[keep]),
            float(post.weights[~keep].sum()))


RETRIES: list = []     # (n_users, n, k, message) of solves retried with every candidate


def _solve_ualign(profile, k):
    """``solve_ualign(profile, k)``; if its trust-region LP fails (HiGHS status 15 was seen on
    a Polis posterior), one retry with the whole response set as the first candidate set
    (``m0 = n``), recorded in ``RETRIES``; a second failure raises."""
    from ualign.solvers import SolverError, solve_ualign

    try:
        return solve_ualign(profile, k).policy
    except SolverError as e:
        RETRIES.append((profile.n_users, profile.n_responses, k, str(e)))
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
    """Mutable bookkeeping of one dataset's evaluation: the choice per distinct evidence
    (``()`` = no comparison = universal), the number of equilibrium solves, and the largest
    posterior mass pruned by :func:`_prune`."""

    def __init__(self, cache: dict, solves: int):
        self.cache, self.solves, self.dropped = cache, solves, 0.0


def _choice_for(key, e, population, delta, ks, state: _EvalState):
    """The cached choice for evidence ``e`` (``key`` identifies it), solved on a miss."""
    choice = state.cache.get(key)
    if choice is None:
        post, mass = _prune(posterior(population, e, noise=delta))
        state.dropped = max(state.dropped, mass)
        choice = _choose(post, ks, _solve_ualign)
        state.cache[key] = choice
        state.solves += len(ks)
    return choice


def _score_person(real, choice, universal, H, unrevealed, m, vals) -> None:
    """Append ``(robust, mean, vs_worst, vs_worst_all)`` per (method, display, k) to ``vals``
    from the person's real win rates ``real`` (hidden-rated ``H``, ``unrevealed`` responses)."""
    for (method, d, k), wr in real.items():
        pred = (choice if method != "universal" else universal).predicted[
            "ualign" if method == "universal" else method,
            "multiset" if method == "argmax" else d, k]
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
            METHODS.index(kv[0][0]), DISPLAYS.index(kv[0][1]), kv[0][2], kv[0][3])):
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
      people: real levels per person (:func:`load_people`).
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
    retries0 = len(RETRIES)
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
    universal = _choose(population, ks, _solve_ualign)
    state = _EvalState({(): universal}, len(ks))
    vals: dict = {}
    revealed_counts = {m: [] for m in ms}
    rated_counts = []
    for count, i in enumerate(evaluated):
        rated_counts.append(_evaluate_person(X[i], filled[i], rng, ms, ks, population, delta,
                                             universal, state, vals, revealed_counts))
        if tick is not None:
            tick(f"{people.name}: person {count + 1}/{n_eval}")

    rows = _bootstrap_rows(people.name, vals, revealed_counts, seed, n_boot)
    summary = DatasetSummary(people.name, n, N, len(pop), n_hold, n_eval,
                             float(np.mean(rated_counts)) if rated_counts else 0.0, delta,
                             fit_rows, len(state.cache), state.solves, len(RETRIES) - retries0,
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


METRIC_NAMES = {"robust": "robust win rate (worst hidden-rated response)",
                "mean": "mean win rate over hidden-rated responses",
                "vs_worst": "win rate vs the posterior's worst hidden-rated response",
                "vs_worst_all": "win rate vs the posterior's worst unrevealed response"}


def _line(rows, key: str):
    """(m, value of ``key``) of ``rows`` in order of m, as two lists."""
    pts = sorted((r.m, getattr(r, key)) for r in rows)
    return [p[0] for p in pts], [p[1] for p in pts]


def _curve_panel(ax, sel, metric: str, method: str, ks) -> None:
    """One display's panel of :func:`curve_png`: ``sel`` holds that display's rows."""
    for k, col in zip(ks, [f"C{i}" for i in range(len(ks))], strict=True):
        x, y = _line([r for r in sel if r.method == method and r.k == k], metric)
        ax.plot(x, y, marker="o", markersize=3, color=col, label=f"{method}, k = {k}")
        if method != "argmax":
            x, y = _line([r for r in sel if r.method == "universal" and r.k == k], metric)
            ax.plot(x, y, linestyle="--", color=col, linewidth=1.0,
                    label=f"universal (m = 0), k = {k}")
        if metric.startswith("vs_worst"):
            ax.axhline(k / (k + 1), color="0.6", linestyle=":", linewidth=1.0)
    if method != "argmax":
        x, y = _line([r for r in sel if r.method == "argmax"], metric)
        ax.plot(x, y, linestyle="none", marker="s", markersize=4, color="black",
                label="personalised argmax (k = 1)")
    ax.set_xlabel("m = ratings revealed (nominal)")
    ax.grid(True, alpha=0.3)


def curve_png(rows: Sequence[PersonaliseRow], metric: str = "mean", method: str = "ualign",
              title: str | None = None, *, dpi: int = 100) -> bytes:
    """PNG of win rate against m, one line per k (solid: ``method`` chosen from the posterior;
    dashed, same colour: the universal m = 0 choice on the same hidden ratings; black dots: the
    personalised argmax; dotted grey: k/(k+1) for the ``vs_worst`` metrics), one panel per display.
    ``rows``: one dataset's rows or :func:`pooled_rows`. Agg canvas, no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ualign.report.plots import literal, png_bytes

    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, got {metric!r}")
    if method not in METHODS or method == "universal":
        raise ValueError(f"method must be one of ualign, greedy, argmax, got {method!r}")
    fig = Figure(figsize=(10.5, 4.2), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    ks = sorted({r.k for r in rows if r.method == method})
    for ax, display in zip(axes, DISPLAYS, strict=True):
        _curve_panel(ax, [r for r in rows if r.display == display], metric, method, ks)
        ax.set_title(f"{display} display", fontsize=9)
    axes[0].set_ylabel(METRIC_NAMES[metric])
    axes[1].legend(fontsize=7, loc="best")
    dataset = rows[0].dataset if rows else ""
    fig.suptitle(literal(title or f"{dataset}: {METRIC_NAMES[metric]}"), fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


# ------------------------------------------------------------------------ report section
class CurveRow(NamedTuple):
    """One line of the report's personalisation table: ``method`` under ``display`` after m
    revealed ratings, the mean win rate over each held-out person's hidden-rated responses at
    each k (``None`` where the method has no such k: ``argmax`` is k = 1 only)."""

    method: str
    display: str
    m: int
    revealed: float
    n_users: int
    k1: float | None
    k2: float | None
    k4: float | None
    k8: float | None
    m0_equals_universal: bool | None     # ualign rows at m = 0: identical to universal


SECTION_KS = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class SectionConfig:
    """Inputs of the report's personalisation section (capped so that it stays fast).

    Attributes:
      source: a Polis folder / PrefLib file / generator spec (:func:`load_people`).
      ms: revealed ratings (nominal).
      max_users: held-out people evaluated.
      holdout: share of people held out.
      seed: the one seed of :func:`measure_personalisation`.
      n_boot: bootstrap resamples (the table shows means only).
      tol: numerical tolerance of the m = 0 identity (it is exact: 0).
    """

    source: str
    ms: tuple[int, ...] = (0, 2, 4, 8, 16)
    max_users: int = 40
    holdout: float = 0.2
    seed: int = 0
    n_boot: int = 200
    tol: float = 0.0


def section_config(reproduce_config, data_dir=None) -> SectionConfig:
    """The section's inputs in ``ualign reproduce``: Polis brexit-consensus (real held-out
    people, at most 40 of them, m ≤ 16) when ``data_dir`` holds it and the run is not ``--quick``;
    otherwise a two-group Mallows generator profile (8 responses, 12 people, m ≤ 4)."""
    if data_dir is not None and not reproduce_config.quick:
        folder = Path(data_dir) / "polis" / "brexit-consensus"
        if (folder / "participants-votes.csv").is_file():
            return SectionConfig(str(folder), seed=reproduce_config.seed)
    return SectionConfig("mallows:n=8,phi=0.7,groups=2,users=60", ms=(0, 2, 4), max_users=12,
                         seed=reproduce_config.seed)


def measure_section(c: SectionConfig, tick: Callable[[str], None] | None = None
                    ) -> tuple[CurveRow, ...]:
    """:func:`measure_personalisation` on ``c.source`` at k ∈ {1, 2, 4, 8}, δ fitted, folded
    into one :class:`CurveRow` per (method, display, m) (mean win rate, multiset and distinct
    display)."""
    rows, _ = measure_personalisation(load_people(c.source), c.ms, SECTION_KS,
                                      holdout=c.holdout, seed=c.seed, max_users=c.max_users,
                                      n_boot=c.n_boot, tick=tick)
    by = {(r.method, r.display, r.m, r.k): r for r in rows}
    out = []
    for method in METHODS:
        for d in DISPLAYS:
            for m in c.ms:
                got = [by.get((method, d, m, k)) for k in SECTION_KS]
                first = next((r for r in got if r is not None), None)
                if first is None:
                    continue
                same = None
                if method == "ualign" and m == 0:
                    same = all(r is None or r.mean == by[("universal", d, 0, r.k)].mean
                               for r in got)
                out.append(CurveRow(method, d, m, first.revealed, first.n_users,
                                    *(None if r is None else r.mean for r in got), same))
    return tuple(out)


def section_plots(rows: Sequence[CurveRow], c: SectionConfig) -> tuple:
    """One :class:`~ualign.report.plots.Plot` per display: mean win rate against m, one line
    per k (solid: ualign from the posterior; dashed, same colour: universal m = 0 choice)."""
    from ualign.report.plots import Plot, Series

    plots = []
    for d in DISPLAYS:
        series = []
        for j, k in enumerate(SECTION_KS):
            for method, style in (("ualign", "line"), ("universal", "dashed")):
                pts = [(r.m, getattr(r, f"k{k}")) for r in rows
                       if r.method == method and r.display == d]
                pts = [(m, v) for m, v in pts if v is not None]
                if pts:
                    series.append(Series(f"{method}, k = {k}", [p[0] for p in pts],
                                         [p[1] for p in pts], style, f"C{j}"))
        plots.append(Plot(f"{d} display: mean win rate on hidden ratings vs m revealed",
                          "m = ratings revealed (nominal)",
                          "mean win rate over hidden-rated responses", tuple(series)))
    return tuple(plots)


def section_summary(rows: Sequence[CurveRow]) -> str:
    """One line: ualign at k = 1, m = 0 → largest m, against universal k = 2 and 4 (multiset)."""
    sel = {(r.method, r.m): r for r in rows if r.display == "multiset"}
    m_hi = max(m for _, m in sel)
    u0, uh, un = sel["ualign", 0], sel["ualign", m_hi], sel["universal", m_hi]
    return (f"multiset, mean win rate on hidden ratings: ualign k = 1 {u0.k1:.3f} (m = 0) → "
            f"{uh.k1:.3f} (m = {m_hi}); universal on the same ratings k = 2 {un.k2:.3f}, "
            f"k = 4 {un.k4:.3f}")
