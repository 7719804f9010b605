"""Evidence about one described user, turned into posterior weights over a text population's
users (``ualign select --evidence-votes / --evidence-persona``).

Two kinds of evidence, each a reuse of an existing posterior:

- **Votes** ``{statement: +1 / 0 / -1}`` (agree / pass / disagree) on some statements. The
  statements are texts, or Polis comment ids of a :class:`VotePopulation`'s conversation. Each
  population user's *predicted* order over those statements (``population.scores``, row by
  row, never merged) is a type, the votes are evidence at the Polis levels agree 0 ≻ pass 1 ≻
  disagree 2, and the weights are :func:`ualign.core.posterior.posterior_weights`:
  ``w_u(e) ∝ w_u · P(e | u; δ)`` with the comparison noise model documented there (revealed
  ties — two passes, two agrees — are not evidence; a single vote implies no comparison, so
  it returns the prior).
- **Persona** text p: :func:`ualign.llm.persona.persona_weights`,
  ``w_u(p) ∝ w_u · exp(cos(e(p), e(d_u)) / τ)``, with ``d_u`` the population's persona texts
  or, for a :class:`VotePopulation`, a description of each participant's own real votes
  (:func:`vote_descriptions`); τ given, or fitted on held-out users
  (:func:`ualign.llm.persona.fit_temperature`).

Both together multiply: the persona posterior is the prior of the votes posterior.
:meth:`ualign.llm.populations.Population.reweight` then gives a population with the same users
and the posterior weights, and selection runs on it unchanged. Empty evidence (no votes, no
persona) returns the population's own weights exactly, so selection equals the universal one.

References: shared/spec/THEORY.md §10 (the posterior population); docs/personalise.md.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np

from ualign.core import Profile
from ualign.core.posterior import NoiseFit, _check_delta, fit_noise, posterior_weights
from ualign.data.polis import AGREE, DISAGREE, PASS
from ualign.llm.persona import _check_tau, _levels, describe_votes, fit_temperature, persona_weights

__all__ = ["Evidence", "apply_evidence", "read_vote_evidence", "resolve_votes",
           "vote_descriptions", "vote_levels", "vote_noise", "vote_weights"]

_LEVEL = {1: AGREE, 0: PASS, -1: DISAGREE}


def _check_vote(value, key: str, name: str) -> int:
    """A vote +1 / 0 / -1 (bool rejected), as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value not in _LEVEL:
        raise ValueError(f"{name} must map each statement to a vote +1 (agree), 0 (pass) or -1 "
                         f"(disagree), got {value!r} for statement {key!r}")
    return int(float(value))


def read_vote_evidence(path: str | os.PathLike, name: str = "--evidence-votes"
                       ) -> dict[str, int]:
    """Votes of one user from a JSON file: an object ``{statement id or text: +1 / 0 / -1}``.

    Raises ``ValueError`` naming ``name`` and the file for a missing file, invalid JSON (with
    line and column), a non-object, an empty key or a bad vote."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{name} must be an existing JSON file, got {os.fspath(path)!r} (no "
                         f"such file)") from None
    except IsADirectoryError:
        raise ValueError(f"{name} must be a JSON file, got the folder "
                         f"{os.fspath(path)!r}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{name} must be UTF-8 JSON, {os.fspath(path)!r} is not (byte "
                         f"{e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{name} must hold a JSON object {{statement: vote}}; "
                         f"{os.fspath(path)!r} is not valid JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name} must hold a JSON object {{statement id or text: +1/0/-1}}, "
                         f"got a JSON {type(data).__name__} in {os.fspath(path)!r}")
    return {str(k): _check_vote(v, k, name) for k, v in data.items()}


def _statement_lookup(population) -> tuple[dict[str, str], dict[str, str]]:
    """``(id -> text, text -> text)`` of a vote population's conversation (empty otherwise)."""
    pv = getattr(population, "votes", None)
    if pv is None:
        return {}, {}
    ids = {str(int(i)): t for i, t in zip(pv.statement_ids, pv.texts, strict=True)}
    return ids, {t: t for t in pv.texts}


def resolve_votes(population, votes: Mapping, name: str = "votes"
                  ) -> tuple[list[str], np.ndarray]:
    """The statement texts and votes ``(texts, values)`` of a vote mapping.

    A key that is a whole number names a Polis comment id of ``population.votes`` (a
    :class:`VotePopulation`); any other key is the statement's text, scored by the population
    like any text. Keys naming the same statement twice are an error."""
    if not isinstance(votes, Mapping):
        raise ValueError(f"{name} must be a mapping {{statement id or text: +1/0/-1}}, got "
                         f"{type(votes).__name__}")
    ids, _ = _statement_lookup(population)
    texts: list[str] = []
    values: list[int] = []
    for pos, (key, value) in enumerate(votes.items()):
        k = str(key).strip()
        if not k:
            raise ValueError(f"{name} must name statements by id or non-empty text, got an "
                             f"empty key at position {pos}")
        if k.lstrip("-").isdigit():
            if k not in ids:
                known = "" if not ids else f" (ids present: {min(map(int, ids))}.." \
                                           f"{max(map(int, ids))})"
                raise ValueError(f"{name} names statement id {k} at position {pos}, but the "
                                 f"population has no Polis statement with that id{known}")
            text = ids[k]
        else:
            text = " ".join(k.split())
        if text in texts:
            raise ValueError(f"{name} names the statement {text[:60]!r} twice (again at "
                             f"position {pos})")
        texts.append(text)
        values.append(_check_vote(value, k, name))
    return texts, np.array(values, dtype=float)


def vote_levels(values) -> np.ndarray:
    """Votes +1 / 0 / -1 (NaN = unknown) as levels agree 0, pass 1, disagree 2 (NaN kept)."""
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, np.nan)
    for vote, level in _LEVEL.items():
        out[v == vote] = level
    bad = np.flatnonzero(~np.isnan(v.ravel()) & np.isnan(out.ravel()))
    if bad.size:
        raise ValueError(f"values must be votes +1, 0, -1 or NaN, got {v.ravel()[bad[0]]} at "
                         f"position {bad[0]}")
    return out


def _types(population, texts: Sequence[str]) -> Profile:
    """Each user's predicted order over ``texts`` as one type (a group per user, so no two
    users are merged), with the population's weights."""
    levels = _levels(population.scores(list(texts))).astype(np.int64)
    return Profile(levels, population.weights, groups=np.arange(population.n_users))


def vote_weights(population, votes: Mapping, noise: float = 0.1) -> np.ndarray:
    """Posterior weights ``(U,)`` of the population's users given one user's votes (module
    docstring): :func:`ualign.core.posterior.posterior_weights` over the users' predicted
    orders of the voted statements. Fewer than two votes at different levels: the prior."""
    delta = _check_delta(noise, "noise")
    texts, values = resolve_votes(population, votes)
    if not texts:
        return population.weights.copy()
    return posterior_weights(_types(population, texts), vote_levels(values), delta)[0]


def vote_noise(population, held_out: Sequence[Mapping], grid=None) -> NoiseFit:
    """δ for :func:`vote_weights` by the held-out likelihood of other users' votes
    (:func:`ualign.core.posterior.fit_noise`): ``held_out`` holds one vote mapping per user
    who is *not* in ``population``."""
    rows = [resolve_votes(population, v, f"held_out[{i}]") for i, v in enumerate(held_out)]
    texts = list(dict.fromkeys(t for r in rows for t in r[0]))
    if not texts:
        raise ValueError("held_out must hold at least one vote, got none")
    col = {t: j for j, t in enumerate(texts)}
    E = np.full((len(rows), len(texts)), np.nan)
    for i, (ts, vs) in enumerate(rows):
        E[i, [col[t] for t in ts]] = vote_levels(vs)
    return fit_noise(_types(population, texts), E, grid)


def vote_descriptions(population, max_votes: int = 8, seed=0) -> tuple[str, ...]:
    """One description per user of a :class:`VotePopulation` (participant mode): up to
    ``max_votes`` of the participant's real votes, drawn at random (seeded), as
    :func:`ualign.llm.persona.describe_votes` writes them."""
    ids = getattr(population, "participant_ids", None)
    if ids is None:
        raise ValueError(f"population must be a VotePopulation of participants (mode "
                         f"'participant' or 'lowrank') to describe its users' votes, got "
                         f"{type(population).__name__}")
    text_of, _ = _statement_lookup(population)
    rng = np.random.default_rng(seed)
    out = []
    for p in ids:
        votes = population.participant_votes(int(p))
        keys = list(votes)
        pick = sorted(rng.permutation(len(keys))[:max_votes]) if keys else []
        chosen = {text_of[str(keys[i])]: votes[keys[i]] for i in pick}
        out.append(describe_votes(chosen) if chosen else "No votes.")
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What is known about the one user selection is for.

    Attributes:
      votes: ``((statement id or text, vote), ...)`` with votes +1 / 0 / -1.
      persona: a description of the user, or None.
      noise: δ of the votes' comparison noise model, in (0, ½).
      tau: the persona temperature τ > 0, or None to fit it on held-out users
        (:func:`ualign.llm.persona.fit_temperature` over the texts selection ranks).
    """

    votes: tuple[tuple[str, int], ...] = ()
    persona: str | None = None
    noise: float = 0.1
    tau: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "votes", tuple((str(k), _check_vote(v, str(k), "votes"))
                                                for k, v in dict(self.votes).items()))
        if self.persona is not None and (not isinstance(self.persona, str)
                                         or not self.persona.strip()):
            raise ValueError(f"persona must be a non-empty string or None, got "
                             f"{self.persona!r}")
        _check_delta(self.noise, "noise")
        if self.tau is not None:
            object.__setattr__(self, "tau", _check_tau(self.tau, "tau"))

    @property
    def empty(self) -> bool:
        return not self.votes and self.persona is None

    def description(self, population=None) -> str | None:
        """The user as text (for an in-context prompt): the persona when given, else the
        votes described (statement ids resolved through ``population``), else None."""
        if self.persona is not None:
            return self.persona
        if not self.votes:
            return None
        texts, values = resolve_votes(population, dict(self.votes))
        return describe_votes(dict(zip(texts, values.astype(int).tolist(), strict=True)))

    def to_json(self) -> dict:
        return dict(votes=[list(v) for v in self.votes], persona=self.persona,
                    noise=self.noise, tau=self.tau)


def _descriptions(population):
    if getattr(population, "personas", None) is not None:
        return None
    return vote_descriptions(population)


def apply_evidence(population, evidence: Evidence, texts: Sequence[str] | None = None,
                   seed=0):
    """The population reweighted by the evidence, and what was done.

    Args:
      population: a :class:`~ualign.llm.populations.Population`.
      evidence: an :class:`Evidence`.
      texts: texts the users rank, used to fit τ when ``evidence.tau`` is None and a persona
        is given (e.g. the prompt's candidates).
      seed: seed of the τ fit's held-out split.

    Returns:
      ``(population, info)``: ``population.reweight(w)`` (the same object when the evidence is
      empty) and a dict with ``effective_users`` (``1 / Σ w_u²``), ``tau`` and ``noise``.
    """
    if evidence.empty:
        w = population.weights
        return population, dict(effective_users=float(1.0 / np.sum(w ** 2)), tau=None,
                                noise=None)
    info: dict = dict(tau=None, noise=None)
    pop = population
    if evidence.persona is not None:
        d = _descriptions(pop)
        tau = evidence.tau
        if tau is None:
            if texts is None:
                raise ValueError("texts must be given to fit the persona temperature (or give "
                                 "the evidence a tau)")
            tau = fit_temperature(pop, texts, seed=seed, descriptions=d).tau
        pop = pop.reweight(persona_weights(pop, evidence.persona, tau, descriptions=d))
        info["tau"] = float(tau)
    if evidence.votes:
        pop = pop.reweight(vote_weights(pop, dict(evidence.votes), evidence.noise))
        info["noise"] = evidence.noise
    info["effective_users"] = float(1.0 / np.sum(pop.weights ** 2))
    return pop, info
