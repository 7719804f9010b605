"""Personas as ideal points in a sentence embedding space:
``s_u(x) = cos(e(persona_u), e(x)) + σ ε_{u,x}``, with optional Gumbel or normal noise ``ε``
drawn from ``(seed, u, x)`` (the same text always gets the same noise).

References: shared/spec/THEORY.md §8 (per-persona utilities as the ranking oracle).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ualign.core.checks import check_user_weights
from ualign.llm.embed import _check_texts, as_embedder
from ualign.llm.populations.base import Population

__all__ = ["EmbeddingPopulation"]


def _text_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")


class EmbeddingPopulation(Population):
    """Personas as ideal points: ``s_u(x) = cos(e(persona_u), e(x)) + noise_scale · ε_{u,x}``.

    Args:
      personas: ``U`` text descriptions of the users.
      weights: optional ``(U,)`` shares (default uniform).
      embed: an :class:`~ualign.llm.embed.Embedder`, a model name, or any callable
        ``texts -> (N, d)`` array; ``None`` loads all-MiniLM-L6-v2.
      noise: ``None``, ``"gumbel"`` or ``"normal"``; ε is drawn from a generator seeded by
        ``(seed, user, text)``, so a text keeps its noise across calls and subsets.
      noise_scale: σ >= 0.
      seed: integer seed for the noise.
    """

    def __init__(self, personas: Sequence[str], weights=None, embed=None,
                 noise: str | None = None, noise_scale: float = 0.0, seed: int = 0):
        personas = _check_texts(personas, "personas")
        if not personas:
            raise ValueError("personas must hold at least one persona text, got none")
        if noise not in (None, "gumbel", "normal"):
            raise ValueError(f"noise must be None, 'gumbel' or 'normal', got {noise!r}")
        if not (np.isfinite(noise_scale) and noise_scale >= 0):
            raise ValueError(f"noise_scale must be a finite number >= 0, got {noise_scale}")
        self.personas = tuple(personas)
        self.weights = check_user_weights(weights, len(personas))
        self.user_labels = self.personas
        self.embed = as_embedder(embed)
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.seed = int(seed)
        self._ids = np.arange(len(personas))  # original user index, keys the noise
        self._P: np.ndarray | None = None

    @property
    def persona_embeddings(self) -> np.ndarray:
        if self._P is None:
            P = np.asarray(self.embed(list(self.personas)), dtype=float)
            self._P = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
        return self._P

    def _scores(self, texts):
        E = np.asarray(self.embed(texts), dtype=float)
        E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        S = self.persona_embeddings @ E.T  # (U, N) cosine similarities
        if self.noise is not None and self.noise_scale > 0:
            n_all = int(self._ids.max()) + 1
            eps = np.empty((n_all, len(texts)))
            for i, t in enumerate(texts):
                rng = np.random.default_rng([self.seed, _text_seed(t)])
                eps[:, i] = rng.gumbel(size=n_all) if self.noise == "gumbel" \
                    else rng.standard_normal(n_all)
            S = S + self.noise_scale * eps[self._ids]
        return S

    def _take(self, idx):
        new = object.__new__(EmbeddingPopulation)
        new.__dict__.update(self.__dict__)
        new.personas = tuple(self.personas[i] for i in idx)
        new._ids = self._ids[idx]
        new._P = None if self._P is None else self._P[idx]
        return self._base_take(new, idx)
