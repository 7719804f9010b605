"""One prompt end to end: generate N candidates, split the population into selection and
evaluation users, select k responses with every method, evaluate on the held-out users.

:func:`run_prompt` returns a JSON-ready record (what ``ualign select`` writes, one line per
prompt) whose ``results`` are :class:`SelectionRow` rows, one per method, k and display the win
rates are computed under; :meth:`SelectionRecord.from_json` reads such a record back (checking
every field), and :func:`summarise` turns records into the :class:`SummaryRow` rows of the
table ``ualign eval-select`` prints.

References: shared/spec/THEORY.md §4 (k/(k+1) guarantee), §8 (populations as ranking oracles).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ualign.core import Profile
from ualign.core.checks import DISPLAYS
from ualign.core.displays import display_spec
from ualign.llm.dedupe import DEFAULT_THRESHOLD, RULES, merge_equivalent
from ualign.llm.evidence import Evidence, apply_evidence
from ualign.llm.populations import EmbeddingPopulation, Population, VotePopulation
from ualign.llm.select import (
    SELECT_METHODS,
    WITHOUT_REPLACEMENT,
    Selection,
    embedding_diversity,
    evaluate,
    merge_selection,
    personalised_win_rates,
    select,
    unmerge_selection,
)

__all__ = ["SUMMARY_METRICS", "MergeCounts", "SelectConfig", "SelectionRecord", "SelectionRow",
           "SummaryRow", "merge_summary", "personas_for", "run_prompt", "summarise",
           "timing_summary"]

PERSONAL_SYSTEM = ("Write for this reader. {persona} Answer in one or two sentences, in "
                   "your own words.")


@dataclasses.dataclass(frozen=True)
class SelectConfig:
    """Options of one selection run.

    n: candidates generated per prompt (N).
    ks: numbers of responses shown (k), each evaluated.
    methods: selection methods (see ``ualign.llm.select.SELECT_METHODS``).
    temperature, top_p, max_new_tokens: sampling of the candidates.
    seed: seeds generation, the user split and the sampling of shown responses.
    split: share of users used for selection; the rest evaluate.
    personalised: also generate one response per evaluation persona (persona in the system
      prompt, generation seed 1000 + persona index, so it is cached across user splits) and
      evaluate it as the in-context personalised reference.
    system: optional system prompt for candidate generation.
    display: ``"multiset"`` (THEORY §2, the default) or ``"distinct"`` (§9): what the methods
      select for. Under ``"distinct"`` equivalent candidates are merged first and every method
      shows distinct responses (``ualign.llm.select``). Every record is evaluated under every
      display either way (one :class:`SelectionRow` per display).
    merge: ``"exact"`` or ``"embedding"``: the rule of ``ualign.llm.dedupe.merge_equivalent``
      that says which candidates are the same response (used by distinct display, both for
      selecting and for evaluating).
    merge_threshold: the embedding rule's cosine threshold (default
      ``ualign.llm.dedupe.DEFAULT_THRESHOLD``).
    strict: under ``"distinct"``, raise ``ValueError`` when a prompt has fewer distinct
      candidates than some k (default: show all of them and say so in the selection's
      ``fewer_than_k``).
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
        merges = display_spec(self.display).merges
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
            if m not in SELECT_METHODS:
                raise ValueError(f"methods must be among {SELECT_METHODS}, got {m!r}")
        for k in self.ks:
            if int(k) < 1:
                raise ValueError(f"k must be >= 1, got {k}")
            if int(k) > int(self.n) and not merges:  # a merging display shows min(k, n)
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
    shown indices are candidate indices), ``results`` (a list of :meth:`SelectionRow.to_json`
    rows, including the method ``"personalised"`` when asked), ``timing`` and ``sizes``.

    ``evidence`` (an :class:`ualign.llm.evidence.Evidence` about one described user) reweights
    both halves of the population by their posterior given it (``apply_evidence``; τ, when
    fitted, on the candidates): the methods select for the selection users' posterior and are
    scored on the evaluation users' posterior (the same user, estimated from people who did
    not select). With ``cfg.personalised`` the in-context reference is then one response
    generated with the evidence described in the system prompt. The record gets
    ``evidence`` (the evidence, δ, τ and the effective number of users of each half). Empty
    evidence changes nothing.

    Rows: one per method, k and display of the win rates (:data:`ualign.core.checks.DISPLAYS`),
    each with ``selected_for`` (``cfg.display``): ``robust``, ``mean``, ``robust_shown``,
    ``mean_shown``, ``worst`` (and ``robust_humans``, ``mean_humans``, ``robust_shown_humans``
    with human statements); under ``"multiset"`` over all N candidates as opponents, under a
    merging display (``"distinct"``) over the merged candidates (each group shown as its
    representative, ``worst`` a representative's candidate index; a policy's mass summed per
    group); ``distinct``: the number of distinct responses shown (after merging);
    ``cosine_distance``: diversity of the shown candidates (:func:`embedding_diversity`).
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
        described = None if evidence is None or ev_record is None else evidence.description(
            population)
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
    if display_spec(cfg.display).merges and cfg.strict and G < max(cfg.ks):
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
    rows: list[SelectionRow] = []
    sel_time: dict[str, dict] = {}
    for method in cfg.methods:
        selections[method], sel_time[method] = {}, {}
        for k in cfg.ks:
            s, method_rows = _select_and_evaluate(views, method, int(k), cfg.display, rng)
            selections[method][str(k)] = s.to_json()
            rows += method_rows
            sel_time[method][str(k)] = s.seconds
    if personal and assign is not None:  # assign is set whenever personal is
        rows += _personalised_rows(S_eval, eval_pop.weights, N + len(humans) + assign, opp,
                                   reps, groups, cfg.display)
    timing["select_s"] = sel_time
    timing["total_s"] = time.perf_counter() - t0
    sel_scores = sel_pop.weights @ np.where(np.isnan(S_sel), np.nanmin(S_sel), S_sel)
    return dict(prompt=prompt, candidates=candidates, humans=humans, personal=personal,
                config=dataclasses.asdict(cfg), scores=[round(float(x), 6) for x in sel_scores],
                merge=merge.to_json(),
                selections=selections, results=[r.to_json() for r in rows], timing=timing,
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



class SelectionRow(NamedTuple):
    """Held-out win rates of one selection (``method`` at ``k``) under one ``display``
    (THEORY §2 multiset, §9 distinct): the rows of a record's ``results``.

    Attributes:
      method: a selection method (:data:`ualign.llm.select.SELECT_METHODS`) or
        ``"personalised"`` (one response per evaluation persona, k = 1).
      k: responses shown.
      selected_for: the display the method selected for (``SelectConfig.display``).
      display: the display the win rates are computed under.
      robust: ``min_{y'} WR(Π, y')`` over the candidates (merged under a merging display), in
        expectation over the method's k-output policy Π, on the evaluation users.
      mean: the mean over those opponents of ``WR(Π, y')``.
      worst: the minimising opponent (a candidate index; a representative's under a merging
        display).
      robust_shown, mean_shown: the same for the k responses actually shown.
      robust_humans, mean_humans, robust_shown_humans: against the human-written statements
        (None without them).
      distinct: distinct responses shown (after merging); None for ``"personalised"``.
      cosine_distance: mean pairwise cosine distance of the shown candidates' embeddings
        (:func:`ualign.llm.select.embedding_diversity`); None without embeddings.
    """

    method: str
    k: int
    selected_for: str
    display: str
    robust: float
    mean: float | None = None
    worst: int | None = None
    robust_shown: float | None = None
    mean_shown: float | None = None
    robust_humans: float | None = None
    mean_humans: float | None = None
    robust_shown_humans: float | None = None
    distinct: int | None = None
    cosine_distance: float | None = None

    def to_json(self) -> dict:
        return self._asdict()

    @classmethod
    def from_json(cls, obj, where: str = "row") -> SelectionRow:
        """The row of a JSON object (one entry of a record's ``results``), every field
        checked: ``ValueError`` naming ``where`` and the field otherwise."""
        if not isinstance(obj, dict):
            raise ValueError(f"{where} must be an object {{{', '.join(_REQUIRED)}, ...}}, got "
                             f"{type(obj).__name__} {obj!r:.40}")
        unknown = sorted(set(obj) - set(cls._fields))
        if unknown:
            raise ValueError(f"{where} has unknown field(s) {unknown}; the fields are "
                             f"{', '.join(cls._fields)}")
        for name in _REQUIRED:
            if name not in obj:
                raise ValueError(f"{where} has no {name!r}")
        values: dict[str, Any] = {}
        for name, value in obj.items():
            at = f"{where}[{name!r}]"
            if name in ("selected_for", "display"):
                values[name] = display_spec(value, at).name
            elif name == "method":
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{at} must be a method name, got {value!r:.40}")
                values[name] = value
            elif name in ("k", "worst", "distinct"):
                low = 1 if name == "k" else 0
                if (value is None and name != "k") or (
                        isinstance(value, int) and not isinstance(value, bool) and value >= low):
                    values[name] = value
                else:
                    raise ValueError(f"{at} must be an integer >= {low}, got {value!r:.40}")
            else:
                _number(value, at, none_ok=name != "robust")
                values[name] = None if value is None else float(value)
        return cls(**values)


_REQUIRED = ("method", "k", "selected_for", "display", "robust")


def _select_and_evaluate(v: _Views, method: str, k: int, display: str, rng
                         ) -> tuple[Selection, list[SelectionRow]]:
    """Select ``k`` responses with ``method`` for ``display`` (a merging display selects over
    the merged candidates) and evaluate the selection under every display:
    ``(selection over candidates, one row per display)``."""
    if display_spec(display).merges:
        s_g = select(v.P_sel_g, k, method, display=display, scores=v.S_sel_g,
                     weights=v.weights, seed=rng)
        s = unmerge_selection(s_g, v.reps, v.N)
    else:
        s = select(v.P_sel, k, method, display=display, scores=v.S_sel, weights=v.weights,
                   seed=rng)
        s_g = merge_selection(s, v.labels, v.G)
    distinct = int(np.unique(s_g.shown).size)
    cosine = None if v.E is None else embedding_diversity(v.E[s.shown])["cosine_distance"]
    rows = []
    for name in DISPLAYS:
        if display_spec(name).merges:
            r = evaluate(v.P_eval_g, s_g, opponents=v.opp_g, groups=v.groups_g, display=name)
            r["worst"] = int(v.reps[r["worst"]])  # a group, named by its representative
        else:
            r = evaluate(v.P_eval, s, opponents=v.opp, groups=v.groups, display=name)
        rows.append(SelectionRow(method, k, display, name, **r, distinct=distinct,
                                 cosine_distance=cosine))
    return s, rows


def _personalised_rows(S_eval: np.ndarray, weights: np.ndarray, cols: np.ndarray,
                       opp: np.ndarray, reps: np.ndarray, groups: dict,
                       selected_for: str) -> list[SelectionRow]:
    """Win rates of the personalised responses (column ``cols[u]`` for user u), one row per
    display: one response is shown, so a merging display differs only in the merged
    opponents (the representatives ``reps``)."""
    rows = []
    for name in DISPLAYS:
        r = personalised_win_rates(S_eval, weights, cols,
                                   reps if display_spec(name).merges else opp)
        if "humans" in groups:
            rh = personalised_win_rates(S_eval, weights, cols, groups["humans"])
            r.update(robust_humans=rh["robust"], mean_humans=rh["mean"])
        rows.append(SelectionRow("personalised", 1, selected_for, name, **r))
    return rows


class MergeCounts(NamedTuple):
    """How many of a prompt's candidates a merge rule merged (a record's ``merge``)."""

    n_merged: int
    rule: str
    threshold: float | None


class SelectionRecord(NamedTuple):
    """One record of a results JSONL (one prompt of ``ualign select``) as ``ualign
    eval-select`` reads it: :meth:`from_json` checks every field it reads.

    Attributes:
      prompt: the prompt.
      candidates: the number of candidates.
      rows: the :class:`SelectionRow` rows of its ``results``.
      generate_s: seconds spent generating the candidates.
      select_s: ``{method: {k: seconds}}`` of the selections.
      merge: the merge counts, or None when the record has none.
    """

    prompt: str
    candidates: int
    rows: tuple[SelectionRow, ...]
    generate_s: float
    select_s: dict[str, dict[str, float]]
    merge: MergeCounts | None

    @classmethod
    def from_json(cls, rec: dict) -> SelectionRecord:
        """The record of a JSON object (``run_prompt``'s dict, or one line of the file):
        ``candidates`` a list; ``results`` a list of :class:`SelectionRow` objects; ``timing``
        ``{"generate_s": number, "select_s": {method: {k: number}}}``; ``merge`` (optional)
        ``{"n_merged": number, "rule": string, "threshold": number or null}``. ``ValueError``
        naming the field otherwise (one line)."""
        rec = _mapping(rec, "record", "{prompt, candidates, results, timing, ...}")
        if not isinstance(rec.get("prompt"), str):
            raise ValueError(f"'prompt' must be a string, got {rec.get('prompt')!r:.40}")
        if not isinstance(rec.get("candidates"), list):
            raise ValueError(f"'candidates' must be a list, got "
                             f"{type(rec.get('candidates')).__name__}")
        results = rec.get("results")
        if isinstance(results, dict):
            raise ValueError("'results' is an object {method: {k: metrics}}, the format before "
                             "typed rows; expected a list of rows {method, k, selected_for, "
                             "display, robust, ...}: rerun ualign select to write this file")
        if not isinstance(results, list):
            raise ValueError(f"'results' must be a list of rows {{method, k, selected_for, "
                             f"display, robust, ...}}, got {type(results).__name__} "
                             f"{results!r:.40}")
        rows = tuple(SelectionRow.from_json(r, f"results[{i}]") for i, r in enumerate(results))
        timing = _mapping(rec.get("timing"), "'timing'",
                          '{"generate_s": ..., "select_s": ...}')
        generate_s = timing.get("generate_s", 0.0)
        _number(generate_s, "timing['generate_s']")
        select_s: dict[str, dict[str, float]] = {}
        for method, by_k in _mapping(timing.get("select_s", {}), "timing['select_s']",
                                     "{method: {k: seconds}}").items():
            where = f"timing['select_s'][{method!r}]"
            for k, sec in _mapping(by_k, where, "{k: seconds}").items():
                _number(sec, f"{where}[{k!r}]")
            select_s[method] = {k: float(sec) for k, sec in by_k.items()}
        merge = None
        if rec.get("merge"):
            m = _mapping(rec["merge"], "'merge'", '{"n_merged": ..., "rule": ..., ...}')
            _number(m.get("n_merged"), "merge['n_merged']")
            if not isinstance(m.get("rule"), str):
                raise ValueError(f"merge['rule'] must be a string, got {m.get('rule')!r:.40}")
            _number(m.get("threshold"), "merge['threshold']", none_ok=True)
            merge = MergeCounts(int(m["n_merged"]), m["rule"], m.get("threshold"))
        return cls(rec["prompt"], len(rec["candidates"]), rows, float(generate_s), select_s,
                   merge)


def _as_record(rec) -> SelectionRecord:
    return rec if isinstance(rec, SelectionRecord) else SelectionRecord.from_json(rec)


#: the metrics :func:`summarise` averages over prompts
SUMMARY_METRICS = ("robust", "robust_shown", "mean", "robust_humans", "mean_humans",
                   "distinct", "cosine_distance")


class SummaryRow(NamedTuple):
    """The mean over prompts of the :class:`SelectionRow` metrics (:data:`SUMMARY_METRICS`) of
    one method at one k, selected for ``selected_for``, with win rates under ``display``;
    ``prompts`` counts the prompts; a metric no prompt has is None."""

    selected_for: str
    display: str
    method: str
    k: int
    prompts: int
    robust: float | None = None
    robust_shown: float | None = None
    mean: float | None = None
    robust_humans: float | None = None
    mean_humans: float | None = None
    distinct: float | None = None
    cosine_distance: float | None = None

    def to_json(self) -> dict:
        return self._asdict()


def summarise(records: Sequence) -> list[SummaryRow]:
    """:class:`SummaryRow` rows of records (:class:`SelectionRecord` or the dicts of
    :func:`run_prompt`): the mean over prompts of each metric per (selection display, display
    of the win rates, method, k), ordered by those displays (:data:`DISPLAYS` order), k and
    method."""
    acc: dict[tuple[str, str, str, int], dict[str, list[float]]] = {}
    for rec in map(_as_record, records):
        for row in rec.rows:
            slot = acc.setdefault((row.selected_for, row.display, row.method, row.k), {})
            for m in SUMMARY_METRICS:
                value = getattr(row, m)
                if value is not None:
                    slot.setdefault(m, []).append(float(value))
    order = {m: i for i, m in enumerate((*SELECT_METHODS, "personalised"))}
    rank = {d: i for i, d in enumerate(DISPLAYS)}
    return [SummaryRow(sel, disp, method, k, prompts=max(len(v) for v in vals.values()),
                       **{m: float(np.mean(v)) for m, v in vals.items()})
            for (sel, disp, method, k), vals in sorted(
                acc.items(), key=lambda t: (rank[t[0][0]], rank[t[0][1]], t[0][3],
                                            order.get(t[0][2], 99), t[0][2]))]


def timing_summary(records) -> dict:
    """Candidates per second (generation) and mean selection seconds per prompt per method."""
    recs = [_as_record(r) for r in records]
    gen_s = sum(r.generate_s for r in recs)
    n_c = sum(r.candidates for r in recs)
    sel: dict[str, list[float]] = {}
    for r in recs:
        for m, by_k in r.select_s.items():
            sel.setdefault(m, []).append(sum(by_k.values()))
    return dict(candidates=n_c, generate_s=gen_s,
                candidates_per_s=(n_c / gen_s) if gen_s > 0 else float("nan"),
                select_s_per_prompt={m: float(np.mean(v)) for m, v in sel.items()})


def merge_summary(records) -> dict:
    """How many candidates distinct display merged: ``prompts``, ``candidates`` (in all),
    ``merged`` (in all), ``distinct`` (in all), ``rules`` (the rules and thresholds used), from
    the records' ``merge`` entries (records without one are skipped)."""
    recs = [r for r in map(_as_record, records) if r.merge is not None]
    n = sum(r.candidates for r in recs)
    merged = sum(r.merge.n_merged for r in recs if r.merge is not None)
    rules = sorted({(r.merge.rule, r.merge.threshold) for r in recs if r.merge is not None},
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
