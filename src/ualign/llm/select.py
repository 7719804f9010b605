"""U-aligned selection of k responses from N candidates, baselines, and held-out evaluation.

For a prompt with candidates ``y_1..y_N`` and a population's Profile over them:

- ``"ualign"``: the symmetric equilibrium ``π*`` of the (k+1)-player alignment game over the
  pool (``solve_ualign(profile, k, method="auto")``), then k i.i.d. samples of ``π*``. Against
  any single candidate ``y'`` it wins ``1 - max_y L(π*, y) >= k/(k+1)`` on the population it
  was solved for;
- ``"ualign-kset"``: the best k-output policy (distribution over k-multisets,
  ``solve_kset``), one set drawn from it;
- ``"best-of-n"``: the k candidates of highest mean utility ``Σ_u w_u s_u(y)`` (RLHF-like:
  one reward for everyone; shown as k distinct responses, the strongest form of the baseline);
- ``"nlhf"``: k samples of the maximal lottery (the k = 1 equilibrium, ``solve_nlhf``);
- ``"sampling"``: the first k candidates, i.e. k plain samples of the language model.

Every method is a registration in ``ualign.solvers.registry`` labelled ``"select"`` (the two
baselines are the family ``"baseline"`` of ``ualign.solvers.methods``).

``display="distinct"`` (THEORY §9: a response shown twice is one response) selects over a
profile of *distinct* responses (the caller merges equivalent candidates first, e.g. with
``ualign.llm.dedupe``) and shows ``min(k, n)`` distinct ones:

- ``"ualign"``: one k-set drawn (with ``seed``) from the best distribution over k-subsets,
  ``solve_kset(profile, k, display="distinct", randomised=True)``;
- ``"ualign-kset"``: the best single k-set, ``solve_kset(..., display="distinct",
  randomised=False)`` (deterministic: the set wins against every single response with
  probability ``value``);
- ``"nlhf"``: the maximal lottery's k samples, merged (it may show fewer than k: the collapse of
  THEORY §9);
- ``"best-of-n"``: the k distinct responses of highest mean utility; ``"sampling"``: the first
  k distinct responses.

Evaluation (:func:`evaluate`) uses a Profile of *held-out* users over the candidates (plus any
extra opponents such as human-written statements): the robust win rate
``min_{y'} WR(shown, y')``, exactly in expectation for the product policies
(``1 - max_{y'} L(π, y')``) and for the realised k responses (``set_win_rate``), with the
multiset-uniform choice rule of THEORY §2 (``display="multiset"``) or with both sides' responses
merged (``display="distinct"``, §9).

References: shared/spec/THEORY.md §2 (choice rule, win rate), §3 (closed form), §4 (the game and
its k/(k+1) guarantee), §7 (best k-output policy), §8 (from games to language models), §9
(distinct display).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ualign.core import Profile, deviation_payoffs
from ualign.core import sets as sets_mod
from ualign.core.checks import DISPLAYS, check_count, check_profile
from ualign.core.displays import display_spec
from ualign.solvers import kset as kset_mod
from ualign.solvers import registry

__all__ = [
    "DISPLAYS",
    "SELECT_METHODS",
    "Selection",
    "embedding_diversity",
    "evaluate",
    "merge_selection",
    "personalised_win_rates",
    "select",
    "unmerge_selection",
]

#: the selection baselines (registry family ``"baseline"``: ``"best-of-n"``, ``"sampling"``),
#: which show k distinct candidates, without replacement
WITHOUT_REPLACEMENT = tuple(label for label, m in registry.labelled("select").items()
                            if m.family == "baseline")
_REPORT_ORDER = ("ualign", "ualign-kset", "best-of-n", "nlhf", "sampling")
#: every selection method: the registry's methods labelled for ``"select"`` (solvers and the
#: two baselines), in the order results are reported
SELECT_METHODS = tuple(sorted(registry.labelled("select"),
                              key=lambda m: (_REPORT_ORDER.index(m) if m in _REPORT_ORDER
                                             else len(_REPORT_ORDER), m)))


@dataclasses.dataclass(frozen=True)
class Selection:
    """The k responses a method shows, and the k-output policy they were drawn from.

    Attributes:
      method: one of :data:`SELECT_METHODS`.
      k: responses shown.
      shown: ``(k,)`` candidate indices shown (one realisation; may repeat for sampled
        policies; under a merging display each response at most once).
      policy: ``(N,)`` the single-output policy whose k i.i.d. samples the method shows, or None
        when the method is not a product policy.
      sets, probs: the k-output policy as a distribution over k-multisets ``(m, k)``, ``(m,)``
        (None for product policies, whose distribution is ``policy^{⊗k}``).
      seconds: wall time of the selection (solver included).
      display: the display the method selected for (``"multiset"`` or ``"distinct"``).
      solver: the solver that ran (product policies and the k-set solver of a merging display).
      exploitability: ``max_y L(π, y) - 1/(k+1)`` of a product policy on the selection users.
      converged: whether an iterative solver met its tolerance.
      value: the k-set policy's robust win rate on the selection users (k-set solvers).
      upper_bound: a certified upper bound on the best value (the merging display's k-set
        solver).
      fewer_than_k: why fewer than k responses are shown (a merging display with fewer than k
        distinct candidates), else None.
      mean_utility: best-of-n's mean utilities of the shown candidates, highest first.
    """

    method: str
    k: int
    shown: np.ndarray
    policy: np.ndarray | None = None
    sets: np.ndarray | None = None
    probs: np.ndarray | None = None
    seconds: float = 0.0
    display: str = "multiset"
    solver: str | None = None
    exploitability: float | None = None
    converged: bool | None = None
    value: float | None = None
    upper_bound: float | None = None
    fewer_than_k: str | None = None
    mean_utility: tuple[float, ...] | None = None

    def to_json(self) -> dict:
        out = dict(method=self.method, k=self.k, shown=self.shown.tolist(),
                   seconds=round(self.seconds, 6), display=self.display, solver=self.solver,
                   exploitability=self.exploitability, converged=self.converged,
                   value=self.value, upper_bound=self.upper_bound,
                   fewer_than_k=self.fewer_than_k,
                   mean_utility=None if self.mean_utility is None else list(self.mean_utility))
        if self.policy is not None:
            out["policy"] = [round(float(p), 10) for p in self.policy]
        if self.sets is not None and self.probs is not None:
            out["sets"] = self.sets.tolist()
            out["probs"] = [round(float(p), 10) for p in self.probs]
        return out


def _check_k(k, n: int, method: str) -> int:
    k = check_count(k, "k", " (responses shown)")
    if method in WITHOUT_REPLACEMENT and k > n:
        raise ValueError(f"k={k} is larger than the N={n} candidates; method {method!r} shows "
                         f"k distinct responses (without replacement), so it needs k <= N")
    return k


def _sample(policy: np.ndarray, k: int, rng) -> np.ndarray:
    p = np.clip(policy, 0.0, None)
    return np.sort(rng.choice(p.size, size=k, replace=True, p=p / p.sum()))


def select(profile: Profile, k: int, method: str = "ualign", *, display: str = "multiset",
           scores=None, weights=None, seed=None, tol: float = 1e-9) -> Selection:
    """Choose k of the profile's N candidates by ``method`` (see the module docstring).

    Args:
      profile: the selection users' Profile over the N candidates (under a merging display,
        ``"distinct"``, the N *distinct* responses: merge equivalent candidates first).
      k: number of responses shown (under ``"multiset"``, k > N is allowed only for sampled
        policies; under ``"distinct"``, ``min(k, N)`` distinct responses are shown and
        ``fewer_than_k`` says when N < k).
      method: one of :data:`SELECT_METHODS`.
      display: ``"multiset"`` (THEORY §2, the default) or ``"distinct"`` (§9).
      scores: ``(U, N)`` raw utilities of the same users (``best-of-n``; when omitted it uses
        the mean normalised rank ``1 - level/(N-1)``, a Borda score).
      weights: ``(U,)`` weights of the rows of ``scores`` (default: the profile's weights when
        the row counts match, else uniform; pass them, since a Profile merges identical rows).
      seed: seed or ``numpy.random.Generator`` for sampling the shown responses.
      tol: exploitability tolerance passed to ``solve_ualign``.

    Examples:
      On a Condorcet cycle the equilibrium is uniform and shows k i.i.d. samples of it; under
      distinct display, one of the 2-subsets (each drawn with probability 1/3) is shown:

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> from ualign.llm.select import select
      >>> s = select(P, 2, "ualign", seed=0)
      >>> s.policy.round(6).tolist(), s.shown.size, round(s.exploitability, 9)
      ([0.333333, 0.333333, 0.333333], 2, 0.0)
      >>> select(P, 2, "best-of-n").shown.tolist()  # the two highest mean ranks (ties: first)
      [0, 1]
      >>> d = select(P, 2, "ualign", display="distinct", seed=0)
      >>> d.sets.tolist(), d.probs.round(6).tolist(), round(d.value, 6)
      ([[0, 1], [0, 2], [1, 2]], [0.333333, 0.333333, 0.333333], 0.722222)
    """
    check_profile(profile)
    if method not in SELECT_METHODS:
        raise ValueError(f"method must be one of {SELECT_METHODS}, got {method!r}")
    spec = display_spec(display)
    n = profile.n_responses
    solver = registry.labelled("select")[method]
    # a merging display shows each response once: min(k, n) of them
    k = check_count(k, "k", " (responses shown)") if spec.merges else _check_k(k, n, method)
    k_shown = min(k, n) if spec.merges else k
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    fields: dict = {}
    if k_shown < k and not solver.k_free:
        fields["fewer_than_k"] = (f"only {n} distinct candidate(s) for k={k}: all {n} are "
                                  f"shown")
    if solver.family == "baseline":  # its k_shown distinct responses
        fields.update(_baseline(solver, profile, k_shown, scores, weights))
    elif spec.merges and not solver.k_free:  # U-aligned: the k-set solver of the display
        fields.update(_solve_sets(profile, k_shown, spec.name, solver.output != "kset", rng))
    else:  # k samples of a product policy (merged by a merging display), or a k-set policy
        fields.update(_solve(solver, profile, k, tol, rng))
        if spec.merges:
            fields["shown"] = np.unique(fields["shown"])
    return Selection(method=method, k=k, seconds=time.perf_counter() - t0, display=spec.name,
                     **fields)


def merge_selection(selection: Selection, labels, n_groups: int) -> Selection:
    """The same selection over merged responses: candidate ``i`` becomes group ``labels[i]``
    (``ualign.llm.dedupe.Merge.labels``); a policy's mass is summed per group, sets and shown
    responses are relabelled (repeats stay; distinct display merges them).

    Examples:
      Candidates 0 and 1 are the same response (group 0), candidate 2 is group 1:

      >>> import numpy as np
      >>> from ualign.llm.select import Selection, merge_selection
      >>> s = Selection("ualign", 2, shown=np.array([0, 1]), policy=np.array([0.5, 0.25, 0.25]))
      >>> m = merge_selection(s, labels=[0, 0, 1], n_groups=2)
      >>> m.shown.tolist(), m.policy.tolist()
      ([0, 0], [0.75, 0.25])
    """
    lab = np.asarray(labels, dtype=np.int64)
    policy = None if selection.policy is None else np.bincount(
        lab[:selection.policy.size], weights=selection.policy, minlength=n_groups)
    sets = None if selection.sets is None else lab[selection.sets]
    return dataclasses.replace(selection, shown=np.sort(lab[selection.shown]), policy=policy,
                               sets=sets)


def unmerge_selection(selection: Selection, representative, n: int) -> Selection:
    """A selection over merged responses expressed over the N candidates: group ``g`` is shown
    as its representative candidate ``representative[g]`` (a policy's mass moves there).

    Examples:
      Two groups over three candidates, shown by candidates 0 and 2:

      >>> import numpy as np
      >>> from ualign.llm.select import Selection, unmerge_selection
      >>> m = Selection("ualign", 2, shown=np.array([1, 0]), policy=np.array([0.75, 0.25]))
      >>> u = unmerge_selection(m, representative=[0, 2], n=3)
      >>> u.shown.tolist(), u.policy.tolist()
      ([0, 2], [0.75, 0.0, 0.25])
    """
    rep = np.asarray(representative, dtype=np.int64)
    policy = None
    if selection.policy is not None:
        policy = np.zeros(n)
        policy[rep] = selection.policy
    sets = None if selection.sets is None else rep[selection.sets]
    return dataclasses.replace(selection, shown=np.sort(rep[selection.shown]), policy=policy,
                               sets=sets)


def _baseline(baseline: registry.Method, profile: Profile, k: int, scores, weights) -> dict:
    """A registered baseline's selection: its one set of k distinct candidates (and, for
    best-of-n, ``mean_utility``, highest first)."""
    res = baseline.solve(profile, k, scores=scores, weights=weights)
    sets = np.array(res.sets, dtype=np.int64)
    sel = dict(shown=sets[0].copy(), sets=sets, probs=np.ones(1))
    if res.diagnostics.mean_utility is not None:
        sel["mean_utility"] = tuple(res.diagnostics.mean_utility)
    return sel


def _draw_set(sets, probs, rng) -> dict:
    """A k-set policy ``(sets, probs)`` (probabilities clipped at 0 and renormalised) and one
    set drawn from it, shown sorted."""
    sets = np.asarray(sets, dtype=np.int64)
    probs = np.clip(np.asarray(probs, float), 0, None)
    probs = probs / probs.sum()
    pick = int(rng.choice(len(probs), p=probs))
    return dict(sets=sets, probs=probs, shown=np.sort(sets[pick]))


def _solve_sets(profile: Profile, k: int, display: str, randomised: bool, rng) -> dict:
    """The U-aligned selection of a merging display: the best distribution over k-subsets of
    distinct responses (``randomised``) or the best single k-set, ``solve_kset(display=...)``,
    and one set drawn from it."""
    res = kset_mod.solve_kset(profile, k, display=display, randomised=randomised)
    return dict(_draw_set(res.sets, res.probs, rng),
                solver=f"solve_kset(display={display!r}, randomised={randomised})",
                value=float(res.value), upper_bound=float(res.upper_bound))


def _solve(solver: registry.Method, profile: Profile, k: int, tol: float, rng) -> dict:
    """A registered solver's selection: k i.i.d. samples of its policy, or one set drawn from
    its k-set policy."""
    if solver.output == "kset":
        res = solver.solve(profile, k)
        return dict(_draw_set(res.sets, res.probs, rng), value=float(res.value))
    res = (solver.solve(profile, k, tol=tol) if solver.k_free
           else solver.solve(profile, k, tol=tol, seed=rng))
    sel = dict(policy=np.asarray(res.policy, float), shown=_sample(res.policy, k, rng),
               solver=res.method, exploitability=float(res.exploitability))
    if not solver.k_free:
        sel["converged"] = bool(res.converged)
    return sel


def _pad(policy: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[:policy.size] = policy
    return out


def evaluate(profile: Profile, selection: Selection, opponents=None,
             groups: dict[str, np.ndarray] | None = None, display: str = "multiset") -> dict:
    """Win rates of a selection on (held-out) users, under ``display`` (THEORY §2 multiset,
    §9 distinct: the shown responses are merged, and so is an opponent shown by both sides).

    Args:
      profile: Profile of the evaluation users over ``N + H`` responses, whose first N are the
        candidates the selection indexes (the rest e.g. human-written statements).
      opponents: indices of the single responses ``y'`` to compete against (default: every
        response of the profile).
      groups: optional named subsets of opponents, e.g. ``{"humans": idx}``; for each, the
        robust and mean win rates against that subset are reported too.
      display: ``"multiset"`` or ``"distinct"``; for ``"distinct"`` the profile's responses are
        taken as distinct (merge equivalent candidates first, :func:`merge_selection`).

    Returns a dict with
      ``robust``: ``min_{y'} WR(Π, y')`` in expectation over the method's k-output policy Π,
      ``mean``: the average over opponents of ``WR(Π, y')``,
      ``robust_shown`` / ``mean_shown``: the same for the k responses actually shown,
      ``worst``: the minimising opponent; and ``robust_<name>``, ``mean_<name>`` per group.

    Examples:
      The uniform policy on a Condorcet cycle, k = 2: k/(k+1) = 2/3 against every candidate
      under multiset display; merged (distinct display) it wins less:

      >>> from ualign import Profile
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # a Condorcet cycle
      >>> from ualign.llm.select import evaluate, select
      >>> s = select(P, 2, "ualign", seed=0)
      >>> r = evaluate(P, s)
      >>> round(r["robust"], 6), round(r["mean"], 6)
      (0.666667, 0.666667)
      >>> round(evaluate(P, s, display="distinct")["robust"], 6)
      0.648148
    """
    n_all = profile.n_responses
    opp = np.arange(n_all) if opponents is None else np.asarray(opponents, dtype=np.int64)
    if opp.size == 0:
        raise ValueError("opponents must hold at least one response index")
    display = display_spec(display).name
    k = selection.k
    if selection.policy is not None:
        L = deviation_payoffs(profile, _pad(selection.policy, n_all), k, display)
        wr = 1.0 - L  # WR(π^{⊗k}, y') for every y'
    else:  # the core's win rate of a k-set policy against every single response
        wr = sets_mod.policy_win_rates(profile.levels, profile.weights,
                                       np.asarray(selection.sets, dtype=np.int64),
                                       np.asarray(selection.probs, float), display)
    wr_shown = sets_mod.policy_win_rates(profile.levels, profile.weights,
                                         np.asarray(selection.shown, dtype=np.int64)[None, :],
                                         np.ones(1), display)
    i = int(np.argmin(wr[opp]))
    out = dict(robust=float(wr[opp][i]), mean=float(wr[opp].mean()), worst=int(opp[i]),
               robust_shown=float(wr_shown[opp].min()), mean_shown=float(wr_shown[opp].mean()))
    for name, idx in (groups or {}).items():
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size:
            out[f"robust_{name}"] = float(wr[idx].min())
            out[f"mean_{name}"] = float(wr[idx].mean())
            out[f"robust_shown_{name}"] = float(wr_shown[idx].min())
    return out


def personalised_win_rates(scores, weights, assign, opponents) -> dict:
    """Win rates of in-context personalisation: user u is shown one response ``assign[u]``
    (generated for their persona) and compared with single opponents ``y'``:

        WR(y') = Σ_u w_u (1[s_u(assign_u) > s_u(y')] + ½·1[s_u(assign_u) = s_u(y')])

    (NaN scores are unranked: below every scored response, tied with each other).

    Args:
      scores: ``(U, M)`` utilities of the evaluation users over all responses.
      weights: ``(U,)`` user weights; assign: ``(U,)`` column shown to each user.
      opponents: indices of the opponents ``y'``.

    Examples:
      Each of two users is shown their own favourite (column 0 to the first, 1 to the
      second): against response 0 the first ties and the second wins.

      >>> from ualign.llm.select import personalised_win_rates
      >>> S = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]
      >>> r = personalised_win_rates(S, [1, 1], assign=[0, 1], opponents=[0, 1, 2])
      >>> r["robust"], round(r["mean"], 12), r["worst"]
      (0.75, 0.833333333333, 0)
    """
    S = np.asarray(scores, dtype=float)
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    a = np.asarray(assign, dtype=np.int64)
    opp = np.asarray(opponents, dtype=np.int64)
    key = np.where(np.isnan(S), -np.inf, S)
    mine = key[np.arange(S.shape[0]), a][:, None]
    theirs = key[:, opp]
    win = (mine > theirs) + 0.5 * (mine == theirs)
    wr = w @ win
    return dict(robust=float(wr.min()), mean=float(wr.mean()), worst=int(opp[np.argmin(wr)]))


def embedding_diversity(embeddings) -> dict:
    """Diversity of what is shown, measured on its embeddings ``(k, d)``: ``distinct``
    responses and the mean pairwise cosine distance ``1 - cos(e_i, e_j)`` over the k shown (0
    when fewer than two).

    Examples:
      Two identical responses and one orthogonal to them: pairs at distance 0, 1 and 1.

      >>> from ualign.llm.select import embedding_diversity
      >>> d = embedding_diversity([[1, 0], [1, 0], [0, 1]])
      >>> d["distinct"], round(d["cosine_distance"], 12)
      (2, 0.666666666667)
      >>> embedding_diversity([[3, 4]])
      {'distinct': 1, 'cosine_distance': 0.0}
    """
    E = np.asarray(embeddings, dtype=float)
    k = E.shape[0]
    E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    distinct = int(np.unique(np.round(E, 6), axis=0).shape[0]) if k else 0
    if k < 2:
        return dict(distinct=distinct, cosine_distance=0.0)
    C = E @ E.T
    iu = np.triu_indices(k, 1)
    return dict(distinct=distinct, cosine_distance=float(np.mean(np.clip(1.0 - C[iu], 0, 2))))
