"""Populations of users that rank any list of texts.

A population holds ``U`` users with weights ``w (U,)`` (summing to 1) and a utility
``s_u(x)`` for every text ``x``. For candidate texts ``x_1..x_N``:

    scores(texts) -> S (U, N),  S[u, i] = s_u(x_i)      (higher = better, NaN = unranked)
    rank(texts)   -> Profile.from_scores(S, w)           (equal scores tie)

Four kinds, one module each:

- :class:`EmbeddingPopulation` (``embedding.py``): personas (text descriptions) as ideal
  points in a sentence embedding space, ``s_u(x) = cos(e(persona_u), e(x)) + σ ε_{u,x}`` with
  optional Gumbel or normal noise ``ε`` drawn from ``(seed, u, x)`` (the same text always gets
  the same noise);
- :class:`VotePopulation` (``votes.py``): real people. One linear utility per Polis participant
  on statement embeddings, fitted to their agree (+1) / pass (0) / disagree (-1) votes (read by
  :func:`ualign.data.polis.read_polis_votes`) by hierarchical ridge regression (global ->
  opinion group -> participant), or one per opinion group, or a low-rank participant model; it
  then scores new text;
- :class:`StancePopulation` (``stance.py``): the same participants, scoring new text by kernel
  regression on their own votes with a stance relation between statements learned from
  co-voting in other conversations (:class:`StanceModel`);
- :class:`RewardModelPopulation` (``reward.py``): any Hugging Face sequence-classification
  reward model scoring ``template.format(persona=..., text=...)`` for each persona and
  candidate;
- :class:`JudgePopulation` (``judge.py``): a causal language model (local or an
  OpenAI-compatible endpoint) ranks all candidates of a prompt for each persona, listwise,
  under cyclic shifts of the candidate order (mean Borda points, so a pure position bias
  cancels); malformed answers are retried then reported, answers cached;
- :class:`CategoryPopulation` (``category.py``): user types ranking K kinds of text, a text
  mapped to its kind by a keyword table or the nearest labelled example; the population over
  kinds is a Profile, so a policy's kind distribution has exact game values.

- :class:`PopulationClient` (``remote.py``): a population served by ``ualign serve``, from the
  spec ``http://HOST:PORT``.

The interface is :class:`Population` (``base.py``); ``protocol.py`` is how any population object
(a :class:`Population`, a client, a user's object with ``rank`` or ``scores``) ranks groups of
texts (:func:`rank_texts`, :func:`rank_groups`, :class:`CandidatePopulation`); ``spec.py`` reads
command-line specs (one registry, :func:`register_population_kind`) and persona files. Every
population splits into a selection half and an evaluation half (:meth:`Population.split`) so
that methods are judged on users they did not see.

References: shared/spec/THEORY.md §1 (profiles, weights), §8 (the oracle must rank all
candidates per user: per-persona utilities or real votes).
"""

from ualign.data.polis import PolisVotes, read_polis_votes
from ualign.llm.populations.base import Population
from ualign.llm.populations.category import CategoryPopulation, kind_report
from ualign.llm.populations.embedding import EmbeddingPopulation
from ualign.llm.populations.judge import JudgeError, JudgeFailure, JudgePopulation
from ualign.llm.populations.protocol import (
    CandidatePopulation,
    as_population,
    check_population,
    rank_groups,
    rank_texts,
)
from ualign.llm.populations.remote import PopulationClient, PopulationServiceError
from ualign.llm.populations.reward import RewardModelPopulation
from ualign.llm.populations.spec import (
    PopulationKind,
    load_population,
    read_personas,
    register_population_kind,
)
from ualign.llm.populations.stance import StanceModel, StancePopulation, evaluate_stance_model
from ualign.llm.populations.votes import MODES, VotePopulation, evaluate_vote_model

__all__ = [
    "MODES",
    "CandidatePopulation",
    "CategoryPopulation",
    "EmbeddingPopulation",
    "JudgeError",
    "JudgeFailure",
    "JudgePopulation",
    "PolisVotes",
    "Population",
    "PopulationClient",
    "PopulationKind",
    "PopulationServiceError",
    "RewardModelPopulation",
    "StanceModel",
    "StancePopulation",
    "VotePopulation",
    "as_population",
    "check_population",
    "evaluate_stance_model",
    "evaluate_vote_model",
    "kind_report",
    "load_population",
    "rank_groups",
    "rank_texts",
    "read_personas",
    "read_polis_votes",
    "register_population_kind",
]
