"""A causal language model as a population: for each persona, the judge ranks all G candidates
of a prompt at once (listwise), under several orders of the candidates.

For persona ``u``, prompt ``q`` and distinct candidates ``x_0..x_{G-1}``, the judge is shown
the candidates labelled ``A, B, C, ...`` in the order ``σ_p`` (``P`` cyclic shifts,
``σ_p(j) = (s_p + j) mod G``) and answers a ranking of the labels, best first. The answer must
be a permutation of the ``G`` labels (:func:`parse_ranking`); a malformed answer is asked again
(greedy first, then sampled) at most ``max_retries`` times and then reported, never guessed.
Candidate ``i`` ranked ``r`` (0 = best) gets ``G - 1 - r`` Borda points, and

    s_u(x_i) = (1 / P_u) Σ_p  Borda_p(i)       (P_u: the orders with a valid ranking)

so equal means tie. With ``P = G`` shifts every candidate is shown at every position exactly once,
so a judge that only looks at positions (always ``A > B > C``) gives every candidate the same
mean and cancels out exactly; a judge that reads the texts keeps its ranking.

The judge is any generator of :mod:`ualign.llm.generate` (``HFGenerator`` for a local
transformers model, ``OpenAIGenerator`` for an OpenAI-compatible endpoint, with their key rules)
or a plain callable ``fn(prompt) -> str``. Answers are cached through
:class:`~ualign.llm.generate.GenerationCache` (key: the judge's name and the rendered judge
prompt, which holds the persona, the prompt, the candidate texts in the shown order, plus the
decoding parameters and attempt), so a rerun never asks the judge again.

References: shared/spec/THEORY.md §8 (the oracle must rank all candidates per user).
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from collections.abc import Callable, Sequence

import numpy as np

from ualign.core.checks import check_count, check_user_weights
from ualign.llm.embed import _check_texts
from ualign.llm.generate import CachedGenerator, GenerationCache
from ualign.llm.populations.base import Population

__all__ = ["DEFAULT_TEMPLATE", "JudgeError", "JudgeFailure", "JudgePopulation",
           "cyclic_orders", "kendall_tau", "parse_ranking", "self_consistency"]

LABELS = string.ascii_uppercase
ON_FAILURE = ("raise", "skip")

DEFAULT_TEMPLATE = (
    "You judge responses on behalf of this person: {persona}\n\n"
    "{question}"
    "Responses:\n{candidates}\n\n"
    "Rank all {n} responses from the one this person would like most to the one they would "
    "like least. Answer with the letters only, best first, separated by '>', for example: "
    "{example}")
_FIELDS = {"persona", "question", "candidates", "n", "example"}

_LABEL = r"(?<![A-Za-z0-9])[A-Z](?![A-Za-z0-9])"
_CHAIN = re.compile(rf"{_LABEL}(?:\s*[>,]\s*{_LABEL})+")


class JudgeError(RuntimeError):
    """The judge gave no valid ranking after its retries (``failure`` says where)."""

    def __init__(self, message: str, failure: JudgeFailure):
        super().__init__(message)
        self.failure = failure


@dataclasses.dataclass(frozen=True)
class JudgeFailure:
    """One judge call that never gave a valid ranking.

    Attributes:
      persona, prompt: whose ranking and of what (prompt None: no prompt was shown).
      order: the candidate indices in the order shown (label ``A`` first).
      answers: every answer the judge gave (first attempt first).
      reasons: why each answer was rejected.
    """

    persona: str
    prompt: str | None
    order: tuple[int, ...]
    answers: tuple[str, ...]
    reasons: tuple[str, ...]


def parse_ranking(answer: str, n: int) -> list[int]:
    """Label positions ``(n,)`` of a judge's answer, best first (``"B > A > C"`` -> ``[1, 0, 2]``).

    The ranking is the first chain of at least two single capital letters separated by ``>`` or
    ``,`` in ``answer``; it must name each of the ``n`` labels ``A, B, ...`` exactly once.
    Otherwise ``ValueError`` says why (no chain, a label out of range, a repeat, a missing
    label). Nothing is filled in: a partial ranking is rejected.
    """
    n = check_count(n, "n")
    if n > len(LABELS):
        raise ValueError(f"n must be at most {len(LABELS)} (labels A-Z), got {n}")
    if n == 1:
        found = re.findall(_LABEL, answer)
        if found[:1] == ["A"]:
            return [0]
        raise ValueError("no label 'A' found")
    m = _CHAIN.search(answer)
    if m is None:
        raise ValueError(f"no ranking of the form {_example(n)!r} found")
    letters = re.findall(r"[A-Z]", m.group(0))
    out: list[int] = []
    for pos, c in enumerate(letters):
        i = LABELS.index(c)
        if i >= n:
            raise ValueError(f"label {c!r} at position {pos} is not one of A-{LABELS[n - 1]}")
        if i in out:
            raise ValueError(f"label {c!r} is repeated at position {pos}")
        out.append(i)
    if len(out) != n:
        missing = "".join(LABELS[i] for i in range(n) if i not in out)
        raise ValueError(f"the ranking {m.group(0)!r} leaves out {missing}")
    return out


def _example(n: int) -> str:
    """A ranking of ``n`` labels that is not the shown order (``B > A > C``)."""
    idx = list(range(n))
    if n >= 2:
        idx[0], idx[1] = 1, 0
    return " > ".join(LABELS[i] for i in idx)


def cyclic_orders(G: int, P: int) -> np.ndarray:
    """``(min(P, G), G)`` candidate orders: cyclic shifts ``(s + j) mod G`` with shifts
    ``s = floor(p G / P)`` spread over ``0..G-1``. With ``P >= G`` every candidate is shown at
    every position exactly once."""
    G, P = check_count(G, "G"), check_count(P, "P")
    P = min(P, G)
    shifts = (np.arange(P) * G) // P
    return (shifts[:, None] + np.arange(G)[None, :]) % G


def kendall_tau(a: Sequence[int], b: Sequence[int]) -> float:
    """Kendall's tau between two strict rankings of the same ``G >= 2`` items (each a list of
    the item indices ``0..G-1``, best first): ``1 - 4 D / (G (G - 1))`` with ``D`` the discordant pairs."""
    x, y = [int(v) for v in a], [int(v) for v in b]
    G = len(x)
    if G < 2 or sorted(x) != sorted(y) or len(set(x)) != G or sorted(x) != list(range(G)):
        raise ValueError(f"a and b must be rankings of the same G >= 2 items 0..G-1, got {x} "
                         f"and {y}")
    ra = np.empty(G, np.int64)
    rb = np.empty(G, np.int64)
    ra[x] = np.arange(G)
    rb[y] = np.arange(G)
    i, j = np.triu_indices(G, 1)
    D = int(np.sum(np.sign(ra[i] - ra[j]) != np.sign(rb[i] - rb[j])))
    return 1.0 - 4.0 * D / (G * (G - 1))


def self_consistency(rankings: Sequence[list[int] | None]) -> dict:
    """Agreement of the rankings one judge gave the same candidates under different orders.

    Args:
      rankings: ``P`` rankings (candidate indices, best first) or ``None`` where the judge failed.

    Returns ``{"n_valid", "pairs", "kendall_tau", "top1_agree"}``: the mean Kendall tau and the
    share of pairs with the same top candidate over all pairs of valid rankings (NaN with fewer
    than two valid rankings).
    """
    valid = [r for r in rankings if r is not None]
    taus, top = [], []
    for x in range(len(valid)):
        for y in range(x + 1, len(valid)):
            taus.append(kendall_tau(valid[x], valid[y]))
            top.append(valid[x][0] == valid[y][0])
    nan = float("nan")
    return {"n_valid": len(valid), "pairs": len(taus),
            "kendall_tau": float(np.mean(taus)) if taus else nan,
            "top1_agree": float(np.mean(top)) if top else nan}


class _CallableJudge:
    """A callable ``fn(prompt) -> str`` as a generator named ``name`` (decoding parameters are
    ignored), or, with ``generator=True``, a generator's ``generate`` under another name."""

    def __init__(self, fn: Callable, name: str, generator: bool = False):
        self.fn = fn
        self.name = name
        self.generator = generator

    def generate(self, prompt: str, n: int, **params) -> list[str]:
        if self.generator:
            return list(self.fn(prompt, n, **params))
        return [str(self.fn(prompt)) for _ in range(n)]


def _as_judge(judge, name: str | None):
    if callable(getattr(judge, "generate", None)):
        if name is not None:
            return _CallableJudge(judge.generate, name, generator=True)
        if not isinstance(getattr(judge, "name", None), str):
            raise ValueError("judge must have a string name (it keys the cache); pass name=")
        return judge
    if callable(judge):
        return _CallableJudge(judge, name or f"callable:{getattr(judge, '__qualname__', '?')}")
    raise ValueError(f"judge must be a generator (with generate(prompt, n, ...)) or a callable "
                     f"prompt -> answer, got {type(judge).__name__}")


def _check_template(template) -> str:
    if not isinstance(template, str):
        raise ValueError(f"template must be a string, got {type(template).__name__}")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise ValueError(f"template is not a valid format string: {e}") from None
    if "candidates" not in fields or not fields <= _FIELDS:
        raise ValueError(f"template must contain {{candidates}} and only the fields "
                         f"{sorted(_FIELDS)}, got {sorted(fields)}")
    return template


class JudgePopulation(Population):
    """Personas whose rankings a causal language model gives, listwise (module docstring).

    Args:
      judge: a generator (``HFGenerator``, ``OpenAIGenerator``, anything with
        ``generate(prompt, n, *, temperature, top_p, max_new_tokens, seed, system)`` and a
        ``name``) or a callable ``fn(prompt) -> answer``.
      personas: ``U`` persona texts; weights: optional ``(U,)`` (uniform when None).
      permutations: orders per ranking, ``P >= 1`` cyclic shifts (at most ``G`` are used);
        None: ``G`` (each candidate at each position once).
      max_retries: extra attempts after a malformed answer (``>= 0``); the first attempt is
        greedy, retries sample at ``retry_temperature`` with seed = the attempt number.
      cache: a :class:`GenerationCache` or a JSONL path for the judge's answers (None: none).
      on_failure: ``"raise"`` (:class:`JudgeError`) or ``"skip"`` (the order is left out of the
        mean; a persona with no valid ranking gets NaN, unranked). Every failure is appended
        to ``failures`` either way.
      template: the judge prompt (fields ``{persona}``, ``{question}``, ``{candidates}``,
        ``{n}``, ``{example}``).
      system: an optional system message.
      max_new_tokens: tokens per answer; None: ``4 G + 8``.
      name: the judge's name in cache keys (default: the generator's ``name``; a callable's
        qualified name).

    Attributes besides the Population ones: ``personas``, ``failures`` (list of
    :class:`JudgeFailure`), ``stats`` (``calls``: answers asked for, cache hits included;
    ``malformed`` answers; ``first_malformed``: orders whose first answer was malformed;
    ``failed``: orders with no valid ranking after the retries), ``judge`` (a ``CachedGenerator`` with ``hits``
    when ``cache`` is given).
    """

    def __init__(self, judge, personas: Sequence[str], weights=None, *,
                 permutations: int | None = None, max_retries: int = 2,
                 retry_temperature: float = 0.7, cache=None, on_failure: str = "raise",
                 template: str = DEFAULT_TEMPLATE, system: str | None = None,
                 max_new_tokens: int | None = None, name: str | None = None):
        personas = _check_texts(personas, "personas")
        if not personas:
            raise ValueError("personas must hold at least one persona text, got none")
        self.permutations = None if permutations is None else check_count(
            permutations, "permutations", " (candidate orders per ranking)")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if not (isinstance(retry_temperature, int | float) and retry_temperature >= 0):
            raise ValueError(f"retry_temperature must be a number >= 0, got "
                             f"{retry_temperature!r}")
        if on_failure not in ON_FAILURE:
            raise ValueError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
        self.max_new_tokens = None if max_new_tokens is None else check_count(
            max_new_tokens, "max_new_tokens")
        if system is not None and not isinstance(system, str):
            raise ValueError(f"system must be a string or None, got {type(system).__name__}")
        judge = _as_judge(judge, name)
        if cache is not None:
            if not isinstance(cache, GenerationCache | str | os.PathLike):
                raise ValueError(f"cache must be a GenerationCache or a path, got "
                                 f"{type(cache).__name__}")
            judge = CachedGenerator(judge, cache)
        self.judge = judge
        self.max_retries = max_retries
        self.retry_temperature = float(retry_temperature)
        self.on_failure = on_failure
        self.template = _check_template(template)
        self.system = system
        self.personas = tuple(personas)
        self.user_labels = self.personas
        self.weights = check_user_weights(weights, len(personas))
        self.failures: list[JudgeFailure] = []
        self.stats = dict.fromkeys(("calls", "malformed", "first_malformed", "failed"), 0)

    # ------------------------------------------------------------------ the judge prompt
    def render(self, persona: str, prompt: str | None, shown: Sequence[str]) -> str:
        """The judge prompt for ``persona`` ranking the texts ``shown`` (labelled A, B, ...)."""
        candidates = "\n".join(f"{LABELS[j]}. {t}" for j, t in enumerate(shown))
        question = "" if prompt is None else f"Prompt: {prompt}\n\n"
        return self.template.format(persona=persona, question=question, candidates=candidates,
                                    n=len(shown), example=_example(len(shown)))

    def _ask(self, text: str, attempt: int, G: int) -> str:
        temperature = 0.0 if attempt == 0 else self.retry_temperature
        self.stats["calls"] += 1
        out = self.judge.generate(text, 1, temperature=temperature, top_p=1.0,
                                  max_new_tokens=self.max_new_tokens or 4 * G + 8,
                                  seed=attempt, system=self.system)
        return out[0] if out else ""

    def judge_order(self, persona: str, prompt: str | None, texts: Sequence[str],
                    order: Sequence[int]) -> list[int] | None:
        """The judge's ranking of ``texts`` (candidate indices, best first) when shown in
        ``order``; after ``max_retries`` malformed answers, the failure is recorded and
        :class:`JudgeError` raised (``on_failure="raise"``) or None returned."""
        order = [int(i) for i in order]
        text = self.render(persona, prompt, [texts[i] for i in order])
        answers, reasons = [], []
        for attempt in range(self.max_retries + 1):
            answer = self._ask(text, attempt, len(order))
            try:
                return [order[j] for j in parse_ranking(answer, len(order))]
            except ValueError as e:
                self.stats["malformed"] += 1
                self.stats["first_malformed"] += attempt == 0
                answers.append(answer)
                reasons.append(str(e))
        failure = JudgeFailure(persona, prompt, tuple(order), tuple(answers), tuple(reasons))
        self.failures.append(failure)
        self.stats["failed"] += 1
        if self.on_failure == "raise":
            where = "no prompt" if prompt is None else f"prompt {prompt[:80]!r}"
            raise JudgeError(f"judge {self.judge.name!r} gave no valid ranking for persona "
                             f"{persona[:80]!r} on {where} (order {tuple(order)}) in "
                             f"{len(answers)} attempts; last answer {answers[-1][:120]!r}: "
                             f"{reasons[-1]}", failure)
        return None

    def rankings(self, texts: Sequence[str], prompt: str | None = None
                 ) -> list[list[list[int] | None]]:
        """``U x P`` rankings of the distinct ``texts`` (indices into ``texts``' distinct values
        in first-seen order, best first; None where the judge failed and ``on_failure="skip"``)
        under the :func:`cyclic_orders`."""
        unique = list(dict.fromkeys(_check_texts(texts)))
        G = len(unique)
        if G > len(LABELS):
            raise ValueError(f"texts must hold at most {len(LABELS)} distinct candidates for a "
                             f"judge (labels A-Z), got {G}")
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError(f"prompt must be a string or None, got {type(prompt).__name__}")
        orders = cyclic_orders(G, self.permutations or G)
        return [[self.judge_order(p, prompt, unique, o) for o in orders] for p in self.personas]

    # ------------------------------------------------------------------ population
    def scores(self, texts: Sequence[str], prompt: str | None = None) -> np.ndarray:
        """Mean Borda points ``(U, N)`` of each text over the judge's rankings (higher =
        better; copies of a text score the same; NaN for a persona with no valid ranking)."""
        texts = _check_texts(texts)
        if not texts:
            raise ValueError("texts must hold at least one candidate, got an empty list")
        unique = list(dict.fromkeys(texts))
        G = len(unique)
        col = np.array([unique.index(t) for t in texts])
        S = np.zeros((self.n_users, G))
        if G > 1:
            for u, per_order in enumerate(self.rankings(unique, prompt)):
                valid = [r for r in per_order if r is not None]
                if not valid:
                    S[u] = np.nan
                    continue
                points = np.zeros(G)
                for r in valid:
                    points[r] += np.arange(G - 1, -1, -1)
                S[u] = points / len(valid)
        return S[:, col]

    def rank(self, texts: Sequence[str], prompt: str | None = None):
        """The Profile of the personas over ``texts`` (equal mean Borda points tie)."""
        return self.profile_from_scores(self.scores(texts, prompt), texts)

    def _scores(self, texts):
        return self.scores(texts)

    def _take(self, idx):
        new = object.__new__(JudgePopulation)
        new.__dict__.update(self.__dict__)
        new.personas = tuple(self.personas[i] for i in idx)
        new.failures = []
        new.stats = dict.fromkeys(self.stats, 0)
        return self._base_take(new, idx)
