"""The population interface: ``U`` weighted users who score texts, rank them into a Profile,
and split into selection and evaluation halves.

References: shared/spec/THEORY.md §1 (profiles, weights), §8 (the oracle must rank all
candidates per user).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ualign.core import Profile
from ualign.core.checks import check_user_weights
from ualign.llm.embed import _check_texts

__all__ = ["Population"]


class Population:
    """Base class: ``U`` weighted users who score texts.

    Subclasses implement ``_scores(texts) -> (U, N)`` and ``_take(idx) -> Population``.

    Attributes:
      weights: ``(U,)`` user weights, summing to 1.
      user_labels: ``(U,)`` names of the users (persona texts, participant ids, ...).
      groups: optional ``(U,)`` integer group of each user; ``group_names`` names them.
    """

    weights: np.ndarray
    user_labels: tuple[str, ...]
    groups: np.ndarray | None = None
    group_names: tuple[str, ...] | None = None

    @property
    def n_users(self) -> int:
        return int(self.weights.shape[0])

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Utilities ``(U, N)`` of each user for each text (higher = better)."""
        texts = _check_texts(texts)
        if not texts:
            raise ValueError("texts must hold at least one candidate, got an empty list")
        S = np.asarray(self._scores(texts), dtype=float)
        if S.shape != (self.n_users, len(texts)):
            raise RuntimeError(f"internal: scores shape {S.shape} != "
                               f"{(self.n_users, len(texts))}")
        return S

    def rank(self, texts: Sequence[str]) -> Profile:
        """The Profile of this population over ``texts`` (equal scores tie, NaN unranked)."""
        return self.profile_from_scores(self.scores(texts), texts)

    def profile_from_scores(self, S: np.ndarray, texts: Sequence[str] | None = None) -> Profile:
        """``Profile.from_scores(S, weights)`` with this population's groups attached."""
        kw: dict[str, Any] = {}
        if texts is not None:
            kw["labels"] = list(texts)
        if self.groups is not None:
            kw["groups"] = self.groups
            kw["group_names"] = self.group_names
        return Profile.from_scores(S, self.weights, **kw)

    def subset(self, users: Sequence[int]) -> Population:
        """The population restricted to the given user indices (weights renormalised)."""
        idx = np.asarray(users, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise ValueError("users must select at least one user, got none")
        bad = np.flatnonzero((idx < 0) | (idx >= self.n_users))
        if bad.size:
            raise ValueError(f"users must be indices in [0, {self.n_users}), got {idx[bad[0]]} "
                             f"at position {bad[0]}")
        if self.weights[idx].sum() <= 0:
            raise ValueError("users must select users with positive total weight")
        return self._take(idx)

    def reweight(self, weights) -> Population:
        """The same users (scores, labels, groups) with new weights, e.g. a posterior given
        evidence about one user (:mod:`ualign.llm.evidence`); normalised to sum 1.

        Args:
          weights: ``(U,)`` finite, non-negative, positive sum.
        """
        w = check_user_weights(weights, self.n_users)
        new = self._take(np.arange(self.n_users))
        new.weights = w
        return new

    def split(self, frac: float = 0.5, seed=None) -> tuple[Population, Population]:
        """Random split of the users into (selection, evaluation) populations.

        ``ceil(frac·U)`` users (at least 1, at most U-1) go to the first part. Stratified by
        group when the population has groups, so both halves see every opinion group.
        """
        if not 0.0 < float(frac) < 1.0:
            raise ValueError(f"frac must lie strictly between 0 and 1, got {frac}")
        if self.n_users < 2:
            raise ValueError(f"split needs at least 2 users, this population has "
                             f"{self.n_users}")
        rng = np.random.default_rng(seed)
        groups = self.groups if self.groups is not None else np.zeros(self.n_users, np.int64)
        first, second = [], []
        for g in np.unique(groups):
            members = rng.permutation(np.flatnonzero(groups == g))
            m = math.ceil(frac * members.size)
            first.extend(members[:m].tolist())
            second.extend(members[m:].tolist())
        if not second:  # every group had a single user: move one across
            second.append(first.pop())
        if not first:
            first.append(second.pop())
        return self.subset(sorted(first)), self.subset(sorted(second))

    def _base_take(self, new, idx):
        new.weights = self.weights[idx] / self.weights[idx].sum()
        new.user_labels = tuple(self.user_labels[i] for i in idx)
        new.groups = None if self.groups is None else self.groups[idx]
        new.group_names = self.group_names
        return new

    def _scores(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _take(self, idx: np.ndarray) -> Population:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(users={self.n_users})"
