"""Persona evidence (``ualign.llm.persona``): the softmax over embedding similarity held to
hand-computed values, and the temperature fit held to a brute-force sum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ualign.core import Profile
from ualign.core.posterior import log_likelihoods
from ualign.llm import EmbeddingPopulation, HashingEmbedder
from ualign.llm.persona import (
    TAU_GRID,
    fit_temperature,
    persona_weights,
    similarity_weights,
)

TOPICS = ["cats", "dogs", "trains", "music", "football", "cooking"]


def _population(noise_scale=0.05):
    personas = [f"I love {t} and talk about {t} all day" for t in TOPICS for _ in range(4)]
    return EmbeddingPopulation(personas, embed=HashingEmbedder(), noise="normal",
                               noise_scale=noise_scale)


TEXTS = [f"an essay about {t}" for t in TOPICS] + [f"{a} and {b}" for a, b in
                                                   itertools.pairwise(TOPICS)]


def test_similarity_weights_hand_values():
    w = similarity_weights([0.5, 0.5], [1.0, 0.0], 1.0)
    np.testing.assert_allclose(w, [np.e / (np.e + 1), 1 / (np.e + 1)], rtol=0, atol=1e-12)
    w = similarity_weights([0.2, 0.8], [[0.3, 0.3], [0.0, 0.5]], 0.25)   # batched rows
    np.testing.assert_allclose(w[0], [0.2, 0.8], atol=1e-12)             # equal s: the prior
    want = np.array([0.2, 0.8 * np.exp(2.0)])
    np.testing.assert_allclose(w[1], want / want.sum(), atol=1e-12)


def test_persona_weights_equal_a_brute_force_softmax_and_limits():
    pop = _population()
    persona = "someone who loves trains"
    E = HashingEmbedder()([persona, *pop.personas]).astype(float)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    s = E[1:] @ E[0]
    for tau in (0.05, 0.3, 2.0):
        want = pop.weights * np.exp(s / tau)
        np.testing.assert_allclose(persona_weights(pop, persona, tau), want / want.sum(),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(persona_weights(pop, persona, 1e6), pop.weights, atol=1e-6)
    cold = persona_weights(pop, pop.personas[9], 1e-3)    # exactly a train lover's text
    assert cold[8:12].sum() > 1 - 1e-9                   # all on the four train lovers


def test_fit_temperature_equals_brute_force_and_beats_the_prior():
    pop = _population()
    fit = fit_temperature(pop, TEXTS, holdout=0.25, noise=0.1, seed=3)
    assert fit.tau in TAU_GRID and fit.n_heldout == 6
    assert fit.log_likelihood == max(fit.log_likelihoods)
    assert fit.log_likelihood > fit.prior_log_likelihood
    # brute force: the same split, every held-out user and type summed by hand
    perm = np.random.default_rng(3).permutation(pop.n_users)
    held, mix = np.sort(perm[:6]), np.sort(perm[6:])
    S = pop.scores(TEXTS)
    lv = np.stack([Profile.from_scores(S[u][None]).levels[0] for u in range(pop.n_users)])
    for j in (0, 5, len(TAU_GRID) - 1):
        total = 0.0
        for h in held:
            wh = persona_weights(pop.subset(mix), pop.personas[h], TAU_GRID[j])
            lik = [np.exp(log_likelihoods(Profile(lv[[u]], [1.0]), lv[h].astype(float), 0.1)[0, 0])
                   for u in mix]
            total += np.log(np.dot(wh, lik))
        assert abs(total - fit.log_likelihoods[j]) <= 1e-8 * abs(total)


def test_uninformative_descriptions_fit_a_hot_temperature():
    pop = _population()
    rng = np.random.default_rng(0)
    noise = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"], size=3)) for _ in
             range(pop.n_users)]
    fit = fit_temperature(pop, TEXTS, descriptions=noise, seed=0)
    informative = fit_temperature(pop, TEXTS, seed=0)
    # random words say little about preferences: a hotter τ and a smaller gain over the prior
    assert informative.tau < fit.tau
    assert (fit.log_likelihood - fit.prior_log_likelihood
            < (informative.log_likelihood - informative.prior_log_likelihood) / 2)


@pytest.mark.parametrize("call, fragment", [
    (lambda p: persona_weights(p, "", 1.0), "persona must"),
    (lambda p: persona_weights(p, "x", 0.0), "tau must"),
    (lambda p: persona_weights(p, "x", float("inf")), "tau must"),
    (lambda p: persona_weights(p, "x", 1.0, descriptions=["a"]), "descriptions must"),
    (lambda p: fit_temperature(p, ["only one"]), "texts must"),
    (lambda p: fit_temperature(p, TEXTS, holdout=1.0), "holdout must"),
    (lambda p: fit_temperature(p, TEXTS, noise=0.7), "delta must"),
    (lambda p: fit_temperature(p, TEXTS, grid=(1.0, -1.0)), "grid must"),
    (lambda p: similarity_weights([1.0, -1.0], [0.0, 0.0], 1.0), "weights must"),
    (lambda p: similarity_weights([0.5, 0.5], [0.0], 1.0), "similarities must"),
])
def test_bad_input_names_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call(_population())


def test_population_without_personas_needs_descriptions():
    class Plain:
        n_users = 2
        weights = np.array([0.5, 0.5])
        embed = HashingEmbedder()

    with pytest.raises(ValueError, match="descriptions must be given"):
        persona_weights(Plain(), "x", 1.0)
    w = persona_weights(Plain(), "agrees with trains", 0.1,
                        descriptions=["agrees with trains", "agrees with cats"])
    assert w[0] > w[1]
