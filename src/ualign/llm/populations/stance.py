"""Stance-aware Polis participants: a participant's utility for a new text is a weighted vote
of their own known votes, weighted by how the text *relates in stance* to each statement they
voted on.

The relation is learned across conversations from co-voting. For two statements ``i, j`` of one
conversation, their **co-vote agreement** is

    a_ij = mean over participants who agreed or disagreed with both of  v_i · v_j  ∈ [-1, 1]

(+1: everyone votes them alike; -1: everyone votes them oppositely; passes and unseen votes are
left out). A :class:`StanceModel` predicts it from frozen sentence embeddings through a
symmetric bilinear form on ``x = [Pᵀ(e - μ), 1]`` (``P``: the top ``rank`` principal directions
of the training statements' embeddings, ``μ`` their mean),

    k(s, j) = x_sᵀ M x_j,

fitted by weighted ridge least squares over the statement pairs of *training* conversations
(weight ``n_ij / (n_ij + n0)`` for ``n_ij`` co-voters, each conversation's weights divided by
their sum to the power ``conversation_power``, all weights then summing to 1; L-BFGS on ``M``).
Unlike a linear utility on the embedding, which scores the two sides of a topic alike because
an encoder places them close together, ``M`` may map two close embeddings to a negative
relation (it can only where the stance is encoded along directions shared with the training
conversations).

A participant ``p`` who voted ``v_pj ∈ {+1, 0, -1}`` then scores a text ``s`` by kernel
regression on their own votes (passes count in neither sum):

    u_p(s) = Σ_j k(s, j) v_pj / (reg + Σ_j |k(s, j)| [v_pj ≠ 0]).

It is 0 (the participant's indifference) for a participant with no agree/disagree vote or a
text unrelated to everything they voted on. :func:`evaluate_stance_model` scores it on the
hidden-statement split of :func:`~ualign.llm.populations.votes.evaluate_vote_model`
(:func:`~ualign.llm.populations.votes.vote_splits`), so the two models are compared on the
same held-out votes; ``benchmarks/stance_auc.py`` trains one model per held-out conversation
(leave one conversation out) and reports both.

The package ships a model fitted on the English Polis conversations of ``shared/data``
(:func:`default_stance_model`; Polis data is CC BY 4.0, see
:data:`ualign.data.polis.POLIS_ATTRIBUTION`).

References: shared/spec/THEORY.md §8 (real votes as the ranking oracle); docs/llm.md
(measured within-participant AUC).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ualign.core.checks import check_user_weights
from ualign.data.polis import PolisVotes, read_polis_votes
from ualign.llm.embed import as_embedder
from ualign.llm.populations.base import Population
from ualign.llm.populations.votes import (
    _auc,
    _user_auc,
    kept_participants,
    participant_groups,
    vote_splits,
)

__all__ = ["StanceModel", "StancePopulation", "covote_agreement", "default_stance_model",
           "evaluate_stance_model"]

DEFAULT_MODEL_FILE = Path(__file__).with_name("stance_minilm.npz")
"""The shipped :class:`StanceModel` (all-MiniLM-L6-v2 embeddings)."""

_MAX_DIM = 4096  # M is (d+1)²: refuse embeddings whose model would not fit in memory sensibly


def _check_votes(votes, name: str = "votes") -> np.ndarray:
    """``(P, S)`` float votes in {+1, 0, -1} or NaN; ValueError naming the first bad entry."""
    v = np.asarray(votes, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"{name} must be a (participants, statements) array, got shape "
                         f"{v.shape}")
    bad = np.argwhere(~np.isnan(v) & ~np.isin(v, (-1.0, 0.0, 1.0)))
    if bad.size:
        p, s = bad[0]
        raise ValueError(f"{name} must hold +1 (agree), 0 (pass), -1 (disagree) or NaN "
                         f"(not voted), got {v[p, s]!r} at position ({p}, {s})")
    return v


def _check_embeddings(E, n: int, name: str) -> np.ndarray:
    E = np.asarray(E, dtype=float)
    if E.ndim != 2 or E.shape[0] != n:
        raise ValueError(f"{name} must be an ({n}, d) array (one row per statement), got "
                         f"shape {E.shape}")
    if not np.all(np.isfinite(E)):
        i = int(np.argwhere(~np.isfinite(E))[0, 0])
        raise ValueError(f"{name} must be finite, got a non-finite value in row {i}")
    return E


def covote_agreement(votes) -> tuple[np.ndarray, np.ndarray]:
    """Co-vote agreement of every statement pair of one conversation.

    Args:
      votes: ``(P, S)`` votes, +1 agree, 0 pass, -1 disagree, NaN not voted.

    Returns:
      ``(a, n)``: ``(S, S)`` mean of ``v_i · v_j`` over the participants who agreed or
      disagreed with both statements (0 where nobody did), and ``(S, S)`` their number.
    """
    v = _check_votes(votes)
    D = np.nan_to_num(v)
    B = (D != 0).astype(float)
    n = B.T @ B
    a = np.where(n > 0, (D.T @ D) / np.maximum(n, 1.0), 0.0)
    return a, n


def _with_bias(Z: np.ndarray) -> np.ndarray:
    return np.hstack([Z, np.ones((Z.shape[0], 1))])


class StanceModel:
    """The learned stance relation ``k(s, j) = x_sᵀ M x_j`` with ``x = [Pᵀ(e - μ), 1]``.

    Args:
      M: ``(r+1, r+1)`` symmetric (symmetrised) matrix.
      P: ``(d, r)`` projection of the embeddings (default: the identity, ``r = d``).
      mu: ``(d,)`` embedding mean subtracted before projecting (default 0).
      meta: how it was fitted (conversations, options).

    Build with :meth:`fit` (from training conversations) or :meth:`load`.
    """

    def __init__(self, M, P=None, mu=None, meta: dict | None = None):
        M = np.asarray(M, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] < 2:
            raise ValueError(f"M must be a square (r+1, r+1) array with r >= 1, got shape "
                             f"{M.shape}")
        r = M.shape[0] - 1
        P = np.eye(r) if P is None else np.asarray(P, dtype=float)
        if P.ndim != 2 or P.shape[1] != r:
            raise ValueError(f"P must be a (d, {r}) projection (M is {r + 1} x {r + 1}), got "
                             f"shape {P.shape}")
        mu = np.zeros(P.shape[0]) if mu is None else np.asarray(mu, dtype=float)
        if mu.shape != (P.shape[0],):
            raise ValueError(f"mu must be a ({P.shape[0]},) mean embedding, got shape "
                             f"{mu.shape}")
        for name, x in (("M", M), ("P", P), ("mu", mu)):
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name} must be finite")
        self.M, self.P, self.mu = (M + M.T) / 2, P, mu
        self.meta = dict(meta or {})

    @property
    def dim(self) -> int:
        """The embedding dimension ``d`` the model expects."""
        return self.P.shape[0]

    def features(self, E) -> np.ndarray:
        """``(N, r+1)`` features ``[Pᵀ(e - μ), 1]`` of embeddings ``E (N, d)``."""
        return _with_bias((self._check_dim(E, "E") - self.mu) @ self.P)

    def relation(self, E_a, E_b) -> np.ndarray:
        """``(A, B)`` predicted co-vote agreement between the rows of ``E_a`` and ``E_b``."""
        Xa = _with_bias((self._check_dim(E_a, "E_a") - self.mu) @ self.P)
        Xb = _with_bias((self._check_dim(E_b, "E_b") - self.mu) @ self.P)
        return Xa @ self.M @ Xb.T

    def _check_dim(self, E, name: str) -> np.ndarray:
        E = np.asarray(E, dtype=float)
        if E.ndim != 2 or E.shape[1] != self.dim:
            raise ValueError(f"{name} must be an (N, {self.dim}) array of embeddings (the "
                             f"model's dimension), got shape {E.shape}")
        return E

    @classmethod
    def fit(cls, conversations: Sequence[tuple[np.ndarray, np.ndarray]], lam: float = 1e-2,
            rank: int | None = 64, n0: float = 10.0, conversation_power: float = 0.5,
            maxiter: int = 500, meta: dict | None = None) -> StanceModel:
        """Fit ``M`` to the co-vote agreement of training conversations.

        Args:
          conversations: ``(votes (P, S), embeddings (S, d))`` per conversation.
          lam: ridge strength on ``||M||²`` (> 0; the pair weights sum to 1); ``inf`` takes
            the limit, ``M ∝ Σ_c X_cᵀ (w_c ⊙ a_c) X_c`` (statements relate as the training
            statements near them co-voted), scaled by least squares.
          rank: principal directions kept (``None`` or ``>= d``: all, no centring).
          n0: pair weight ``n / (n + n0)`` for ``n`` co-voters (>= 0).
          conversation_power: each conversation's pair weights are divided by their sum to
            this power (0: large conversations dominate; 1: every conversation counts alike).
          maxiter: L-BFGS iterations.
        """
        from scipy.optimize import minimize
        if not 0 < float(lam) <= float("inf"):
            raise ValueError(f"lam must be a positive number or inf, got {lam}")
        raw = _fit_items(conversations, n0, conversation_power)
        P, mu = _principal(np.vstack([E for E, _, _ in raw]), rank)
        items = [(_with_bias((E - mu) @ P), a, w) for E, a, w in raw]
        r1 = P.shape[1] + 1
        info = dict(meta or {}, lam=float(lam), rank=P.shape[1], n0=float(n0),
                    conversation_power=float(conversation_power))
        if np.isinf(lam):
            return cls(_moment_fit(items), P, mu, dict(info, iterations=0, converged=True))

        def loss(m):
            M = m.reshape(r1, r1)
            M = (M + M.T) / 2
            val, grad = lam * float(np.sum(M * M)), 2 * lam * M
            for X, a, w in items:
                R = X @ M @ X.T - a
                WR = w * R
                val += float(np.sum(WR * R))
                grad += 2 * X.T @ WR @ X
            return val, grad.ravel()

        res = minimize(loss, np.zeros(r1 * r1), jac=True, method="L-BFGS-B",
                       options={"maxiter": int(maxiter), "ftol": 1e-13, "gtol": 1e-10})
        info.update(iterations=int(res.nit), loss=float(res.fun), converged=bool(res.success))
        return cls(res.x.reshape(r1, r1), P, mu, info)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``M``, ``P``, ``mu`` (float32) and ``meta`` to an ``.npz`` file (temporary file
        + rename)."""
        import io
        import json

        from ualign.core._atomic import atomic_write_bytes
        buf = io.BytesIO()
        np.savez_compressed(buf, M=self.M.astype(np.float32), P=self.P.astype(np.float32),
                            mu=self.mu.astype(np.float32), meta=np.array(json.dumps(self.meta)))
        atomic_write_bytes(Path(path), buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> StanceModel:
        """Read a model written by :meth:`save`."""
        import json
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such stance model file: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                M, P, mu, meta = z["M"], z["P"], z["mu"], json.loads(str(z["meta"]))
        except (OSError, KeyError, ValueError) as e:
            raise ValueError(f"{path}: not a stance model .npz with M, P, mu and meta "
                             f"({e})") from None
        return cls(M, P, mu, meta)


def _moment_fit(items) -> np.ndarray:
    """The ``lam -> inf`` limit of the ridge fit: ``M = c G`` with ``G = Σ Xᵀ (w ⊙ a) X`` (the
    ridge solution's direction as ``lam`` grows) and ``c`` its least-squares scale."""
    G = sum(X.T @ (w * a) @ X for X, a, w in items)
    num = den = 0.0
    for X, a, w in items:
        F = X @ G @ X.T
        num += float(np.sum(w * F * a))
        den += float(np.sum(w * F * F))
    return G * (num / den if den > 0 else 0.0)


def _principal(E: np.ndarray, rank: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(P (d, r), mu (d,))``: the top ``rank`` principal directions of the rows of ``E``
    and their mean; the identity and 0 when ``rank`` is None or at least ``d``."""
    d = E.shape[1]
    if rank is None or int(rank) >= d:
        return np.eye(d), np.zeros(d)
    if int(rank) < 1:
        raise ValueError(f"rank must be a positive integer or None, got {rank}")
    mu = E.mean(axis=0)
    _, _, Vt = np.linalg.svd(E - mu, full_matrices=False)
    return Vt[:int(rank)].T, mu


def _fit_items(conversations, n0, conversation_power):
    """``(E (S, d), a (S, S), w (S, S))`` per conversation, the weights summing to 1 overall."""
    if not 0 <= float(n0) < float("inf"):
        raise ValueError(f"n0 must be a non-negative number, got {n0}")
    if not 0 <= float(conversation_power) <= 1:
        raise ValueError(f"conversation_power must lie in [0, 1], got {conversation_power}")
    conversations = list(conversations)
    if not conversations:
        raise ValueError("conversations must hold at least one (votes, embeddings) pair")
    items, dims = [], set()
    for c, item in enumerate(conversations):
        if not isinstance(item, tuple) or len(item) != 2:
            raise ValueError(f"conversations must hold (votes, embeddings) pairs, got "
                             f"{type(item).__name__} at position {c}")
        v = _check_votes(item[0], f"conversations[{c}] votes")
        E = _check_embeddings(item[1], v.shape[1], f"conversations[{c}] embeddings")
        dims.add(E.shape[1])
        if E.shape[1] + 1 > _MAX_DIM:
            raise ValueError(f"conversations[{c}] embeddings must have at most "
                             f"{_MAX_DIM - 1} dimensions, got {E.shape[1]}")
        a, n = covote_agreement(v)
        w = n / (n + n0) if n0 > 0 else (n > 0).astype(float)
        np.fill_diagonal(w, 0.0)
        if w.sum() > 0:
            items.append((E, a, w / w.sum() ** float(conversation_power)))
    if len(dims) > 1:
        raise ValueError(f"conversations must share one embedding dimension, got {sorted(dims)}")
    if not items:
        raise ValueError("conversations hold no statement pair that two participants both "
                         "agreed or disagreed with; nothing to fit")
    total = sum(w.sum() for _, _, w in items)
    return [(E, a, w / total) for E, a, w in items]


_DEFAULT: StanceModel | None = None


def default_stance_model() -> StanceModel:
    """The shipped model (``stance_minilm.npz``, all-MiniLM-L6-v2), loaded once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = StanceModel.load(DEFAULT_MODEL_FILE)
    return _DEFAULT


def stance_scores(votes: np.ndarray, K: np.ndarray, reg: float = 1.0) -> np.ndarray:
    """``(P, N)`` kernel-regression utilities ``Σ_j K_nj v_pj / (reg + Σ_j |K_nj| [v_pj ≠ 0])``
    of participants with ``votes (P, S)`` for texts related to the statements by ``K (N, S)``."""
    D = np.nan_to_num(votes)
    B = (D != 0).astype(float)
    return (D @ K.T) / (float(reg) + B @ np.abs(K).T)


class StancePopulation(Population):
    """Polis participants who score text by its learned stance relation to what they voted on.

    Build with :meth:`from_polis`. One user per participant (weight 1/P, at least ``min_votes``
    agree/disagree votes), grouped by Polis opinion group like
    :class:`~ualign.llm.populations.votes.VotePopulation`.

    Attributes besides the Population ones: ``known (P, S)`` votes, ``statements`` (their
    texts), ``E (S, d)`` their embeddings, ``model`` (:class:`StanceModel`), ``reg``, ``embed``.
    """

    def __init__(self, known, statements: Sequence[str], E, model: StanceModel, embed,
                 reg: float = 1.0, weights=None, user_labels=None, groups=None,
                 group_names=None):
        known = _check_votes(known, "known")
        if known.shape[0] == 0:
            raise ValueError("known must hold at least one participant (row), got none")
        self.statements = tuple(statements)
        if len(self.statements) != known.shape[1]:
            raise ValueError(f"statements must hold one text per column of known "
                             f"({known.shape[1]}), got {len(self.statements)}")
        if not isinstance(model, StanceModel):
            raise ValueError(f"model must be a StanceModel, got {type(model).__name__}")
        self.E = model._check_dim(_check_embeddings(E, known.shape[1], "E"), "E")
        if not 0 < float(reg) < float("inf"):
            raise ValueError(f"reg must be a positive number, got {reg}")
        self.known, self.model, self.reg = known, model, float(reg)
        self.embed = as_embedder(embed)
        self.weights = check_user_weights(weights, known.shape[0])
        self.user_labels = tuple(user_labels) if user_labels is not None else tuple(
            str(i) for i in range(known.shape[0]))
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.group_names = group_names

    @classmethod
    def from_polis(cls, folder_or_votes, embed=None, model=None, min_votes: int = 5,
                   reg: float = 1.0) -> StancePopulation:
        """Participants of a Polis conversation (a folder or :class:`PolisVotes`).

        ``model``: a :class:`StanceModel`, a path to one, or None for
        :func:`default_stance_model` (which expects all-MiniLM-L6-v2 embeddings).
        """
        pv = folder_or_votes if isinstance(folder_or_votes, PolisVotes) \
            else read_polis_votes(folder_or_votes)
        if model is None:
            model = default_stance_model()
        elif isinstance(model, (str, os.PathLike)):
            model = StanceModel.load(model)
        embed = as_embedder(embed)
        keep = kept_participants(pv.votes, min_votes)
        if not keep.any():
            raise ValueError(f"no participant has min_votes={min_votes} agree/disagree votes; "
                             f"the population would have no users")
        groups, group_names = participant_groups(pv.groups[keep])
        E = np.asarray(embed(list(pv.texts)), dtype=float)
        return cls(pv.votes[keep], pv.texts, E, model, embed, reg, None,
                   [f"participant {p}" for p in pv.participants[keep]], groups, group_names)

    def _scores(self, texts):
        K = self.model.relation(np.asarray(self.embed(texts), dtype=float), self.E)
        return stance_scores(self.known, K, self.reg)

    def _take(self, idx):
        new = object.__new__(StancePopulation)
        new.__dict__.update(self.__dict__)
        new.known = self.known[idx]
        return self._base_take(new, idx)


def evaluate_stance_model(folder_or_votes, model: StanceModel, embed=None,
                          test_frac: float = 0.2, seed=0, min_votes: int = 5,
                          reg: float = 1.0) -> dict:
    """Held-out within-participant AUC of the stance population on hidden statements.

    The split is the ``statements`` split of
    :func:`~ualign.llm.populations.votes.evaluate_vote_model` with the same ``test_frac``,
    ``seed`` and ``min_votes`` (:func:`~ualign.llm.populations.votes.vote_splits`): every vote
    on the hidden statements is removed, each participant's utility for a hidden statement is
    computed from their remaining votes, and agree (+1) is told from disagree (-1).

    Returns ``{"n_test", "model_auc", "model_user_auc", "model_acc"}`` (``model_acc``: the sign
    of the utility against the vote, 0 counting as agree). ``model`` should not have been
    fitted on this conversation.
    """
    if not isinstance(model, StanceModel):
        raise ValueError(f"model must be a StanceModel, got {type(model).__name__}")
    pv = folder_or_votes if isinstance(folder_or_votes, PolisVotes) \
        else read_polis_votes(folder_or_votes)
    embed = as_embedder(embed)
    votes = pv.votes[kept_participants(pv.votes, min_votes)]
    _, held = vote_splits(votes, test_frac, seed)
    decided = np.argwhere(np.abs(np.nan_to_num(votes)) > 0)
    test = decided[held[decided[:, 1]]]
    E = model._check_dim(np.asarray(embed(list(pv.texts)), dtype=float), "embeddings")
    K = model.relation(E[held], E[~held])
    U = stance_scores(votes[:, ~held], K, reg)        # (P, hidden statements)
    col = np.cumsum(held) - 1                         # statement -> column of U
    y = votes[test[:, 0], test[:, 1]] > 0
    pred = U[test[:, 0], col[test[:, 1]]]
    return dict(n_test=len(test), model_acc=float(np.mean((pred >= 0) == y)),
                model_auc=_auc(y, pred), model_user_auc=_user_auc(test[:, 0], y, pred))
