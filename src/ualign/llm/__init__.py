"""Language models at test time: populations of users that rank text, k-candidate generation
and U-aligned selection (the k responses shown to a user who may disagree with everyone else).

Heavy dependencies (torch, transformers, sentence-transformers) load only when a model is used.

References: shared/spec/THEORY.md §4 (the (k+1)-player game), §8 (from games to language models).
"""

from ualign.llm.embed import Embedder, HashingEmbedder, default_model
from ualign.llm.evidence import Evidence, apply_evidence, vote_weights
from ualign.llm.persona import TemperatureFit, describe_votes, fit_temperature, persona_weights
from ualign.llm.populations import (
    EmbeddingPopulation,
    JudgeError,
    JudgePopulation,
    PolisVotes,
    Population,
    RewardModelPopulation,
    StanceModel,
    StancePopulation,
    VotePopulation,
    evaluate_stance_model,
    evaluate_vote_model,
    load_population,
    read_personas,
    read_polis_votes,
)

__all__ = [
    "Embedder",
    "EmbeddingPopulation",
    "Evidence",
    "HashingEmbedder",
    "JudgeError",
    "JudgePopulation",
    "PolisVotes",
    "Population",
    "RewardModelPopulation",
    "StanceModel",
    "StancePopulation",
    "TemperatureFit",
    "VotePopulation",
    "apply_evidence",
    "default_model",
    "describe_votes",
    "evaluate_stance_model",
    "evaluate_vote_model",
    "fit_temperature",
    "load_population",
    "persona_weights",
    "read_personas",
    "read_polis_votes",
    "vote_weights",
]
