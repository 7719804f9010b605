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

import numpy as np

from ualign.core import Profile
from ualign.llm.populations import EmbeddingPopulation, Population, VotePopulation
from ualign.llm.select import METHODS, diversity, evaluate, personalised_win_rates, select

__all__ = ["SelectConfig", "personas_for", "run_prompt", "summarise", "timing_summary"]

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

    def __post_init__(self):
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
            if int(k) > int(self.n):
                bad = [m for m in self.methods if m in ("best-of-n", "sampling")]
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
               embed=None) -> dict:
    """Generate (unless ``candidates`` are given), select and evaluate for one prompt.

    Returns a dict: ``prompt``, ``candidates``, ``humans``, ``config``, ``scores`` (mean
    utility of each candidate for the selection users), ``selections``
    (``{method: {k: Selection.to_json()}}``), ``results`` (``{method: {k: metrics}}``,
    including ``"personalised"`` when asked), ``timing`` and ``sizes``.
    """
    timing = {}
    t0 = time.perf_counter()
    if candidates is None:
        if generator is None:
            raise ValueError("generator must be given when candidates are not")
        candidates = generator.generate(prompt, cfg.n, seed=cfg.seed, system=cfg.system,
                                        **_gen_kwargs(cfg))
    candidates = list(candidates)
    timing["generate_s"] = time.perf_counter() - t0
    N = len(candidates)
    if N == 0:
        raise ValueError(f"the candidate list for prompt {prompt[:60]!r} is empty; need at "
                         f"least one candidate")
    humans = list(human_texts)
    rng = np.random.default_rng(cfg.seed)
    sel_pop, eval_pop = population.split(cfg.split, seed=rng)

    # personalised reference: one response per evaluation persona, persona in the prompt
    personal, assign = [], None
    if cfg.personalised:
        pp = personas_for(eval_pop)
        if pp is None:
            raise ValueError("personalised=True needs a population with personas (persona "
                             "texts or Polis opinion groups)")
        ptexts, assign = pp
        t1 = time.perf_counter()
        for j, persona in enumerate(ptexts):
            personal += generator.generate(prompt, 1, seed=1000 + j,
                                           system=PERSONAL_SYSTEM.format(persona=persona),
                                           **_gen_kwargs(cfg))
        timing["personalise_s"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    S_sel = sel_pop.scores(candidates)
    P_sel = sel_pop.profile_from_scores(S_sel, candidates)
    all_texts = candidates + humans + personal
    S_eval = eval_pop.scores(all_texts)
    P_eval = Profile.from_scores(S_eval, eval_pop.weights)
    timing["score_s"] = time.perf_counter() - t1

    E = None
    if embed is not None:
        E = np.asarray(embed(candidates), dtype=float)
    elif hasattr(population, "embed"):
        E = np.asarray(population.embed(candidates), dtype=float)

    opp = np.arange(N)
    groups = {"humans": np.arange(N, N + len(humans))} if humans else {}
    selections, results, sel_time = {}, {}, {}
    for method in cfg.methods:
        selections[method], results[method], sel_time[method] = {}, {}, {}
        for k in cfg.ks:
            s = select(P_sel, int(k), method, scores=S_sel, weights=sel_pop.weights,
                       seed=rng)
            r = evaluate(P_eval, s, opponents=opp, groups=groups)
            r["distinct"] = int(np.unique(s.shown).size)
            if E is not None:
                r["cosine_distance"] = diversity(E[s.shown])["cosine_distance"]
            selections[method][str(k)] = s.to_json()
            results[method][str(k)] = r
            sel_time[method][str(k)] = s.seconds
    if personal:
        cols = N + len(humans) + assign
        r = personalised_win_rates(S_eval, eval_pop.weights, cols, opp)
        if humans:
            rh = personalised_win_rates(S_eval, eval_pop.weights, cols, groups["humans"])
            r.update(robust_humans=rh["robust"], mean_humans=rh["mean"])
        results["personalised"] = {"1": r}
    timing["select_s"] = sel_time
    timing["total_s"] = time.perf_counter() - t0
    sel_scores = sel_pop.weights @ np.where(np.isnan(S_sel), np.nanmin(S_sel), S_sel)
    return dict(prompt=prompt, candidates=candidates, humans=humans, personal=personal,
                config=dataclasses.asdict(cfg), scores=[round(float(x), 6) for x in sel_scores],
                selections=selections, results=results, timing=timing,
                sizes=dict(n=N, selection_users=sel_pop.n_users,
                           eval_users=eval_pop.n_users, humans=len(humans)),
                model=getattr(generator, "name", None))


METRICS = ("robust", "robust_shown", "mean", "robust_humans", "mean_humans", "distinct",
           "cosine_distance")


def summarise(records: Sequence[dict]) -> list[dict]:
    """Mean over prompts of each metric, per (method, k): rows with ``method``, ``k``,
    ``prompts`` and the metrics present in the records."""
    acc: dict[tuple[str, int], dict[str, list]] = {}
    for rec in records:
        for method, by_k in rec.get("results", {}).items():
            for k, r in by_k.items():
                slot = acc.setdefault((method, int(k)), {})
                for m in METRICS:
                    if m in r and r[m] is not None:
                        slot.setdefault(m, []).append(float(r[m]))
    order = {m: i for i, m in enumerate((*METHODS, "personalised"))}
    rows = []
    for (method, k), vals in sorted(acc.items(), key=lambda t: (t[0][1], order.get(t[0][0], 99),
                                                                 t[0][0])):
        row = dict(method=method, k=k, prompts=max(len(v) for v in vals.values()))
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
