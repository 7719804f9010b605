"""One prompt end to end: generate N candidates, split the population into selection and
evaluation users, select k responses with every method, evaluate on the held-out users.

:func:`run_prompt` returns a JSON-ready record (what ``ualign select`` writes, one line per
prompt); :func:`summarise` turns records into the table ``ualign eval-select`` prints.

References: shared/spec/THEORY.md §4 (k/(k+1) guarantee), §8 (populations as ranking oracles).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ualign.core import Profile
from ualign.core.checks import check_display
from ualign.llm.dedupe import DEFAULT_THRESHOLD, RULES, merge_equivalent
from ualign.llm.evidence import Evidence, apply_evidence
from ualign.llm.populations import EmbeddingPopulation, Population, VotePopulation
from ualign.llm.select import (
    METHODS,
    WITHOUT_REPLACEMENT,
    diversity,
    evaluate,
    merge_selection,
    personalised_win_rates,
    select,
    unmerge_selection,
)

__all__ = ["SelectConfig", "merge_summary", "personas_for", "run_prompt", "summarise",
           "timing_summary"]

PERSONAL_SYSTEM = ("Write for this reader. {persona} Answer in one or two sentences, in "
                   "your own words.")


@dataclasses.dataclass(frozen=True)
class SelectConfig:
    """Options of one selection run.

    n: candidates generated per prompt (N).
    ks: numbers of responses shown (k), each evaluated.
    methods: selection methods (see ``ualign.llm.select.METHODS``).
    temperature, top_p, max_new_tokens: sampling of the candidates.
    seed: seeds generation, the user split and the sampling of shown responses.
    split: share of users used for selection; the rest evaluate.
    personalised: also generate one response per evaluation persona (persona in the system
      prompt, generation seed 1000 + persona index, so it is cached across user splits) and
      evaluate it as the in-context personalised reference.
    system: optional system prompt for candidate generation.
    display: ``"multiset"`` (THEORY §2, the default) or ``"distinct"`` (§9): what the methods
      select for. Under ``"distinct"`` equivalent candidates are merged first and every method
      shows distinct responses (``ualign.llm.select``). Every record is evaluated under both
      displays either way.
    merge: ``"exact"`` or ``"embedding"``: the rule of ``ualign.llm.dedupe.merge_equivalent``
      that says which candidates are the same response (used by distinct display, both for
      selecting and for evaluating).
    merge_threshold: the embedding rule's cosine threshold (default
      ``ualign.llm.dedupe.DEFAULT_THRESHOLD``).
    strict: under ``"distinct"``, raise ``ValueError`` when a prompt has fewer distinct
      candidates than some k (default: show all of them and say so in the selection's extras).
    """

    n: int = 32
    ks: tuple[int, ...] = (4,)
    methods: tuple[str, ...] = ("ualign", "best-of-n", "nlhf", "sampling")
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 64
    seed: int = 0
    split: float = 0.5
    personalised: bool = False
    system: str | None = None
    display: str = "multiset"
    merge: str = "exact"
    merge_threshold: float = DEFAULT_THRESHOLD
    strict: bool = False

    def __post_init__(self):
        check_display(self.display)
        if self.merge not in RULES:
            raise ValueError(f"merge must be one of {RULES}, got {self.merge!r}")
        t = self.merge_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t <= 1.0:
            raise ValueError(f"merge_threshold must be a number in (0, 1] (a cosine "
                             f"similarity), got {t!r}")
        if int(self.n) < 1:
            raise ValueError(f"n must be >= 1 candidates, got {self.n}")
        if not self.ks:
            raise ValueError("ks must list at least one k")
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"methods must be among {METHODS}, got {m!r}")
        for k in self.ks:
            if int(k) < 1:
                raise ValueError(f"k must be >= 1, got {k}")
            if int(k) > int(self.n) and self.display == "multiset":
                bad = [m for m in self.methods if m in WITHOUT_REPLACEMENT]
                if bad:
                    raise ValueError(f"k={k} is larger than n={self.n} candidates; methods "
                                     f"{bad} show k distinct candidates (without replacement)")


def personas_for(population: Population) -> tuple[list[str], np.ndarray] | None:
    """Persona texts for in-context personalisation and the persona index of each user:
    an embedding population's own personas; a vote population's opinion-group personas."""
    if isinstance(population, EmbeddingPopulation):
        texts = list(dict.fromkeys(population.personas))
        return texts, np.array([texts.index(p) for p in population.personas])
    if isinstance(population, VotePopulation) and population.groups is not None \
            and population.votes is not None:
        gp = population.group_personas()
        gids = sorted(gp)
        lookup = {g: i for i, g in enumerate(gids)}
        if not all(int(g) in lookup for g in population.groups):
            return None
        return [gp[g] for g in gids], np.array([lookup[int(g)] for g in population.groups])
    personas = getattr(population, "personas", None)
    if personas:
        texts = list(dict.fromkeys(personas))
        return texts, np.array([texts.index(p) for p in personas])
    return None


def _gen_kwargs(cfg: SelectConfig) -> dict:
    return dict(temperature=cfg.temperature, top_p=cfg.top_p,
                max_new_tokens=cfg.max_new_tokens)


def run_prompt(prompt: str, generator, population: Population, cfg: SelectConfig, *,
               candidates: Sequence[str] | None = None, human_texts: Sequence[str] = (),
               embed=None, evidence: Evidence | None = None) -> dict:
    """Generate (unless ``candidates`` are given), select and evaluate for one prompt.

    Returns a dict: ``prompt``, ``candidates``, ``humans``, ``config``, ``scores`` (mean
    utility of each candidate for the selection users), ``merge`` (the candidates merged by
    ``cfg.merge``: ``Merge.to_json()``), ``selections`` (``{method: {k: Selection.to_json()}}``,
    shown indices are candidate indices), ``results`` (``{method: {k: metrics}}``, including
    ``"personalised"`` when asked), ``timing`` and ``sizes``.

    ``evidence`` (an :class:`ualign.llm.evidence.Evidence` about one described user) reweights
    both halves of the population by their posterior given it (``apply_evidence``; τ, when
    fitted, on the candidates): the methods select for the selection users' posterior and are
    scored on the evaluation users' posterior (the same user, estimated from people who did
    not select). With ``cfg.personalised`` the in-context reference is then one response
    generated with the evidence described in the system prompt. The record gets
    ``evidence`` (the evidence, δ, τ and the effective number of users of each half). Empty
    evidence changes nothing.

    Metrics per method and k: ``robust``, ``mean``, ``robust_shown``, ``mean_shown``, ``worst``
    (and ``robust_humans``, ``mean_humans``, ``robust_shown_humans`` with human statements)
    under multiset display, over all N candidates as opponents; the same names with the suffix
    ``_distinct`` under distinct display, over the merged candidates (each group shown as its
    representative, ``worst_distinct`` a representative's candidate index; a policy's mass
    summed per group); ``distinct``: the number of distinct
    responses shown (after merging); ``cosine_distance``: diversity of the shown candidates.
    """
    timing: dict[str, Any] = {}
    t0 = time.perf_counter()
    candidates = _candidates(prompt, generator, cfg, candidates)
    timing["generate_s"] = time.perf_counter() - t0
    N = len(candidates)
    humans = list(human_texts)
    rng = np.random.default_rng(cfg.seed)
    sel_pop, eval_pop = population.split(cfg.split, seed=rng)
    ev_record = None
    if evidence is not None and not evidence.empty:
        t1 = time.perf_counter()
        sel_pop, info_sel = apply_evidence(sel_pop, evidence, candidates, seed=cfg.seed)
        eval_pop, info_eval = apply_evidence(eval_pop, evidence, candidates, seed=cfg.seed)
        ev_record = dict(evidence.to_json(), selection=info_sel, evaluation=info_eval)
        timing["evidence_s"] = time.perf_counter() - t1

    # personalised reference: one response per evaluation persona, persona in the prompt
    personal: list[str] = []
    assign: np.ndarray | None = None
    if cfg.personalised:
        t1 = time.perf_counter()
        described = None if ev_record is None else evidence.description(population)
        personal, assign = _personalise(prompt, generator, eval_pop, cfg, described)
        timing["personalise_s"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    S_sel = sel_pop.scores(candidates)
    P_sel = sel_pop.profile_from_scores(S_sel, candidates)
    all_texts = candidates + humans + personal
    S_eval = eval_pop.scores(all_texts)
    P_eval = Profile.from_scores(S_eval, eval_pop.weights)
    timing["score_s"] = time.perf_counter() - t1

    E = _embeddings(candidates, population, embed)

    # distinct display: which candidates are the same response
    t1 = time.perf_counter()
    merge_embed = embed if embed is not None else getattr(population, "embed", None)
    merge = merge_equivalent(candidates, rule=cfg.merge, threshold=cfg.merge_threshold,
                             embed=merge_embed if cfg.merge == "embedding" else None)
    timing["merge_s"] = time.perf_counter() - t1
    G, reps, labels = merge.n_groups, merge.representative, merge.labels
    if cfg.display == "distinct" and cfg.strict and G < max(cfg.ks):
        raise ValueError(f"k={max(cfg.ks)} is larger than the {G} distinct candidates of "
                         f"prompt {prompt[:60]!r} ({merge.n_merged} of {N} merged by "
                         f"rule {cfg.merge!r}); strict needs k <= distinct candidates")
    S_sel_g = S_sel[:, reps]
    P_sel_g = sel_pop.profile_from_scores(S_sel_g, [candidates[i] for i in reps])
    # the evaluation profile over the merged candidates, then humans and personal texts
    cols_g = np.concatenate([reps, np.arange(N, len(all_texts))])
    P_eval_g = Profile.from_scores(S_eval[:, cols_g], eval_pop.weights)

    opp = np.arange(N)
    groups = {"humans": np.arange(N, N + len(humans))} if humans else {}
    views = _Views(
        P_sel=P_sel, S_sel=S_sel, P_sel_g=P_sel_g, S_sel_g=S_sel_g, weights=sel_pop.weights,
        P_eval=P_eval, P_eval_g=P_eval_g, opp=opp, groups=groups, opp_g=np.arange(G),
        groups_g={"humans": np.arange(G, G + len(humans))} if humans else {},
        reps=reps, labels=labels, N=N, G=G, E=E)
    selections: dict[str, dict] = {}
    results: dict[str, dict] = {}
    sel_time: dict[str, dict] = {}
    for method in cfg.methods:
        selections[method], results[method], sel_time[method] = {}, {}, {}
        for k in cfg.ks:
            s, r = _select_and_evaluate(views, method, int(k), cfg.display, rng)
            selections[method][str(k)] = s.to_json()
            results[method][str(k)] = r
            sel_time[method][str(k)] = s.seconds
    if personal and assign is not None:  # assign is set whenever personal is
        results["personalised"] = {"1": _personalised_results(
            S_eval, eval_pop.weights, N + len(humans) + assign, opp, reps, groups)}
    timing["select_s"] = sel_time
    timing["total_s"] = time.perf_counter() - t0
    sel_scores = sel_pop.weights @ np.where(np.isnan(S_sel), np.nanmin(S_sel), S_sel)
    return dict(prompt=prompt, candidates=candidates, humans=humans, personal=personal,
                config=dataclasses.asdict(cfg), scores=[round(float(x), 6) for x in sel_scores],
                merge=merge.to_json(),
                selections=selections, results=results, timing=timing,
                sizes=dict(n=N, distinct=G, selection_users=sel_pop.n_users,
                           eval_users=eval_pop.n_users, humans=len(humans)),
                model=getattr(generator, "name", None), evidence=ev_record)


def _candidates(prompt: str, generator, cfg: SelectConfig,
                candidates: Sequence[str] | None) -> list[str]:
    """The given ``candidates``, or ``cfg.n`` generated ones; never empty."""
    if candidates is None:
        if generator is None:
            raise ValueError("generator must be given when candidates are not")
        candidates = generator.generate(prompt, cfg.n, seed=cfg.seed, system=cfg.system,
                                        **_gen_kwargs(cfg))
    candidates = list(candidates)
    if not candidates:
        raise ValueError(f"the candidate list for prompt {prompt[:60]!r} is empty; need at "
                         f"least one candidate")
    return candidates


def _personalise(prompt: str, generator, eval_pop: Population, cfg: SelectConfig,
                 described: str | None = None) -> tuple[list[str], np.ndarray]:
    """One response per persona of the evaluation users (persona in the system prompt,
    seed 1000 + persona index) and the persona index of each user; with ``described`` (the
    one user the evidence describes) one response for that text, shown to every user."""
    pp = personas_for(eval_pop) if described is None else (
        [described], np.zeros(eval_pop.n_users, dtype=np.int64))
    if pp is None:
        raise ValueError("personalised=True needs a population with personas (persona "
                         "texts or Polis opinion groups)")
    ptexts, assign = pp
    personal: list[str] = []
    for j, persona in enumerate(ptexts):
        personal += generator.generate(prompt, 1, seed=1000 + j,
                                       system=PERSONAL_SYSTEM.format(persona=persona),
                                       **_gen_kwargs(cfg))
    return personal, assign


def _embeddings(candidates: list[str], population: Population, embed) -> np.ndarray | None:
    """Embeddings of the candidates, ``(N, d)``: by ``embed``, else the population's own
    ``embed``, else ``None``."""
    if embed is not None:
        return np.asarray(embed(candidates), dtype=float)
    if hasattr(population, "embed"):
        return np.asarray(population.embed(candidates), dtype=float)
    return None


@dataclasses.dataclass(frozen=True)
class _Views:
    """One prompt's profiles under both displays: selection (``P_sel``/``S_sel`` over the N
    candidates, ``P_sel_g``/``S_sel_g`` over the G merged ones, ``weights`` of the selection
    users) and evaluation (``P_eval`` with opponents ``opp`` and ``groups``; ``P_eval_g`` with
    ``opp_g`` and ``groups_g``); ``reps``/``labels`` map groups to candidates and back;
    ``E``: candidate embeddings or ``None``."""

    P_sel: Profile
    S_sel: np.ndarray
    P_sel_g: Profile
    S_sel_g: np.ndarray
    weights: np.ndarray
    P_eval: Profile
    P_eval_g: Profile
    opp: np.ndarray
    groups: dict
    opp_g: np.ndarray
    groups_g: dict
    reps: np.ndarray
    labels: np.ndarray
    N: int
    G: int
    E: np.ndarray | None


def _select_and_evaluate(v: _Views, method: str, k: int, display: str, rng):
    """Select ``k`` responses with ``method`` for ``display`` and evaluate the selection
    under both displays: ``(selection over candidates, metrics)``."""
    if display == "distinct":
        s_g = select(v.P_sel_g, k, method, display="distinct", scores=v.S_sel_g,
                     weights=v.weights, seed=rng)
        s = unmerge_selection(s_g, v.reps, v.N)
    else:
        s = select(v.P_sel, k, method, scores=v.S_sel, weights=v.weights, seed=rng)
        s_g = merge_selection(s, v.labels, v.G)
    r = evaluate(v.P_eval, s, opponents=v.opp, groups=v.groups)
    rd = evaluate(v.P_eval_g, s_g, opponents=v.opp_g, groups=v.groups_g, display="distinct")
    rd["worst"] = int(v.reps[rd["worst"]])  # a group, named by its representative
    r.update({f"{key}_distinct": val for key, val in rd.items()})
    r["distinct"] = int(np.unique(s_g.shown).size)
    if v.E is not None:
        r["cosine_distance"] = diversity(v.E[s.shown])["cosine_distance"]
    return s, r


def _personalised_results(S_eval: np.ndarray, weights: np.ndarray, cols: np.ndarray,
                          opp: np.ndarray, reps: np.ndarray, groups: dict) -> dict:
    """Win rates of the personalised responses (column ``cols[u]`` for user u)."""
    r = personalised_win_rates(S_eval, weights, cols, opp)
    # one response shown: distinct display differs only in the merged opponents
    r["robust_distinct"] = personalised_win_rates(S_eval, weights, cols, reps)["robust"]
    if "humans" in groups:
        rh = personalised_win_rates(S_eval, weights, cols, groups["humans"])
        r.update(robust_humans=rh["robust"], mean_humans=rh["mean"])
    return r


METRICS = ("robust", "robust_shown", "mean", "robust_humans", "mean_humans",
           "robust_distinct", "robust_shown_distinct", "mean_distinct",
           "robust_humans_distinct", "mean_humans_distinct", "distinct", "cosine_distance")


def summarise(records: Sequence[dict]) -> list[dict]:
    """Mean over prompts of each metric, per (selection display, method, k): rows with
    ``display`` (what the methods selected for: the record's ``config["display"]``, multiset
    when absent), ``method``, ``k``, ``prompts`` and the metrics present in the records (metrics
    without the ``_distinct`` suffix are multiset display)."""
    acc: dict[tuple[str, str, int], dict[str, list]] = {}
    for rec in records:
        display = (rec.get("config") or {}).get("display", "multiset")
        for method, by_k in rec.get("results", {}).items():
            for k, r in by_k.items():
                slot = acc.setdefault((display, method, int(k)), {})
                for m in METRICS:
                    if m in r and r[m] is not None:
                        slot.setdefault(m, []).append(float(r[m]))
    order = {m: i for i, m in enumerate((*METHODS, "personalised"))}
    rows = []
    for (display, method, k), vals in sorted(
            acc.items(), key=lambda t: (t[0][0] != "multiset", t[0][0], t[0][2],
                                        order.get(t[0][1], 99), t[0][1])):
        if not vals:                    # a k with no metric measured: nothing to show
            continue
        row = dict(display=display, method=method, k=k,
                   prompts=max(len(v) for v in vals.values()))
        row.update({m: float(np.mean(v)) for m, v in vals.items()})
        rows.append(row)
    return rows


def timing_summary(records) -> dict:
    """Candidates per second (generation) and mean selection seconds per prompt per method."""
    gen_s = sum(r["timing"].get("generate_s", 0.0) for r in records)
    n_c = sum(len(r["candidates"]) for r in records)
    sel: dict[str, list[float]] = {}
    for r in records:
        for m, by_k in r["timing"].get("select_s", {}).items():
            sel.setdefault(m, []).append(sum(by_k.values()))
    return dict(candidates=n_c, generate_s=gen_s,
                candidates_per_s=(n_c / gen_s) if gen_s > 0 else float("nan"),
                select_s_per_prompt={m: float(np.mean(v)) for m, v in sel.items()})


def merge_summary(records) -> dict:
    """How many candidates distinct display merged: ``prompts``, ``candidates`` (in all),
    ``merged`` (in all), ``distinct`` (in all), ``rules`` (the rules and thresholds used), from
    the records' ``merge`` entries (records without one are skipped)."""
    recs = [r for r in records if r.get("merge")]
    n = sum(len(r["candidates"]) for r in recs)
    merged = sum(int(r["merge"]["n_merged"]) for r in recs)
    rules = sorted({(r["merge"]["rule"], r["merge"]["threshold"]) for r in recs},
                   key=lambda t: (t[0], t[1] or 0.0))
    return dict(prompts=len(recs), candidates=n, merged=merged, distinct=n - merged,
                rules=[dict(rule=a, threshold=b) for a, b in rules])


def _number(x, where: str, *, none_ok: bool = False) -> None:
    if x is None and none_ok:
        return
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{where} must be a number, got {type(x).__name__} {x!r:.40}")


def _mapping(x, where: str, form: str) -> dict:
    if not isinstance(x, dict):
        raise ValueError(f"{where} must be an object {form}, got {type(x).__name__} {x!r:.40}")
    return x


def check_record(rec: dict) -> None:
    """``ValueError`` naming the field when a results record (one line of what ``ualign
    select`` writes) has a field of another shape than :func:`summarise`,
    :func:`timing_summary` and :func:`merge_summary` read: ``candidates`` a list; ``results``
    ``{method: {k: {metric: number or null}}}`` with k a positive integer; ``timing``
    ``{"generate_s": number, "select_s": {method: {k: number}}}``; ``merge`` (optional)
    ``{"n_merged": number, "rule": string, "threshold": number or null}``."""
    if not isinstance(rec.get("candidates"), list):
        raise ValueError(f"'candidates' must be a list, got {type(rec.get('candidates')).__name__}")
    results = _mapping(rec.get("results"), "'results'", "{method: {k: metrics}}")
    for method, by_k in results.items():
        where = f"results[{method!r}]"
        for k, r in _mapping(by_k, where, "{k: metrics}").items():
            if not (k.isdigit() and int(k) >= 1):
                raise ValueError(f"{where} key {k!r} must be a k (an integer >= 1)")
            for m, val in _mapping(r, f"{where}[{k!r}]", "{metric: number}").items():
                if m in METRICS:
                    _number(val, f"{where}[{k!r}][{m!r}]", none_ok=True)
    timing = _mapping(rec.get("timing"), "'timing'", '{"generate_s": ..., "select_s": ...}')
    if "generate_s" in timing:
        _number(timing["generate_s"], "timing['generate_s']")
    for method, by_k in _mapping(timing.get("select_s", {}), "timing['select_s']",
                                 "{method: {k: seconds}}").items():
        where = f"timing['select_s'][{method!r}]"
        for k, sec in _mapping(by_k, where, "{k: seconds}").items():
            _number(sec, f"{where}[{k!r}]")
    if rec.get("merge"):
        merge = _mapping(rec["merge"], "'merge'", '{"n_merged": ..., "rule": ..., ...}')
        _number(merge.get("n_merged"), "merge['n_merged']")
        if not isinstance(merge.get("rule"), str):
            raise ValueError(f"merge['rule'] must be a string, got {merge.get('rule')!r:.40}")
        _number(merge.get("threshold"), "merge['threshold']", none_ok=True)
