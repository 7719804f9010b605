"""Populations of users that rank any list of texts.

A population holds ``U`` users with weights ``w (U,)`` (summing to 1) and a utility
``s_u(x)`` for every text ``x``. For candidate texts ``x_1..x_N``:

    scores(texts) -> S (U, N),  S[u, i] = s_u(x_i)      (higher = better, NaN = unranked)
    rank(texts)   -> Profile.from_scores(S, w)           (equal scores tie)

Three kinds:

- :class:`EmbeddingPopulation`: personas (text descriptions) as ideal points in a sentence
  embedding space, ``s_u(x) = cos(e(persona_u), e(x)) + σ ε_{u,x}`` with optional Gumbel or
  normal noise ``ε`` drawn from ``(seed, u, x)`` (the same text always gets the same noise);
- :class:`VotePopulation`: real people. One linear utility per Polis participant on statement
  embeddings, fitted to their agree (+1) / pass (0) / disagree (-1) votes by hierarchical ridge
  regression (global -> opinion group -> participant), or one per opinion group, or a low-rank
  participant model; it then scores new text;
- :class:`RewardModelPopulation`: any Hugging Face sequence-classification reward model scoring
  ``template.format(persona=..., text=...)`` for each persona and candidate.

Every population splits into a selection half and an evaluation half (:meth:`Population.split`)
so that methods are judged on users they did not see.

References: shared/spec/THEORY.md §1 (profiles, weights), §8 (the oracle must rank all
candidates per user: per-persona utilities or real votes).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ualign.core import Profile
from ualign.llm.embed import _check_texts, as_embedder

__all__ = [
    "EmbeddingPopulation",
    "PolisVotes",
    "Population",
    "RewardModelPopulation",
    "VotePopulation",
    "evaluate_vote_model",
    "load_population",
    "read_personas",
    "read_polis_votes",
]


def _text_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")


def _check_user_weights(weights, U: int, name: str = "weights") -> np.ndarray:
    if U == 0:
        raise ValueError("a population needs at least one user, got 0")
    if weights is None:
        return np.full(U, 1.0 / U)
    w = np.asarray(weights, dtype=float)
    if w.shape != (U,):
        raise ValueError(f"{name} must have shape ({U},) (one weight per user), got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"{name} must be finite and >= 0, got {w[bad[0]]} at position "
                         f"{bad[0]}")
    if w.sum() <= 0:
        raise ValueError(f"{name} must have a positive sum")
    return w / w.sum()


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
        kw = {}
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


# ---------------------------------------------------------------------- embedding personas
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
        self.weights = _check_user_weights(weights, len(personas))
        self.user_labels = self.personas
        self.embed = as_embedder(embed)
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.seed = int(seed)
        self._ids = np.arange(len(personas))  # original user index, keys the noise
        self._P = None

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


# ---------------------------------------------------------------------- Polis votes
@dataclasses.dataclass(frozen=True)
class PolisVotes:
    """Raw votes of one Polis conversation.

    Attributes:
      texts: ``(S,)`` statement texts (moderated-out statements dropped).
      statement_ids: ``(S,)`` Polis comment ids.
      participants: ``(P,)`` Polis participant ids.
      groups: ``(P,)`` opinion group id, -1 when Polis assigned none.
      votes: ``(P, S)`` float, +1 agree, -1 disagree, 0 pass, NaN not voted.
      topic: the conversation topic (summary.csv), description: its description.
    """

    texts: tuple[str, ...]
    statement_ids: np.ndarray
    participants: np.ndarray
    groups: np.ndarray
    votes: np.ndarray
    topic: str = ""
    description: str = ""


def read_polis_votes(folder, include_moderated: bool = False) -> PolisVotes:
    """Read ``comments.csv``, ``participants-votes.csv`` and ``summary.csv`` of a Polis export.

    Statements with ``moderated = -1`` are dropped unless ``include_moderated``.
    """
    folder = Path(folder)
    for f in ("comments.csv", "participants-votes.csv"):
        if not (folder / f).is_file():
            raise FileNotFoundError(f"not a Polis export folder: {folder} (missing {f})")
    texts = {}
    with open(folder / "comments.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not include_moderated and row.get("moderated", "0").strip() == "-1":
                continue
            body = (row.get("comment-body") or "").strip()
            if body:
                texts[int(row["comment-id"])] = body
    with open(folder / "participants-votes.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = [(j, int(h)) for j, h in enumerate(header) if h.strip().isdigit()
                and j >= 2 and int(h) in texts]
        # statement columns start after the count columns; only digits are comment ids
        first_vote_col = header.index("n-disagree") + 1 if "n-disagree" in header else 2
        cols = [(j, c) for j, c in cols if j >= first_vote_col]
        parts, groups, rows = [], [], []
        for row in reader:
            if not row:
                continue
            parts.append(int(row[0]))
            g = row[1].strip() if len(row) > 1 else ""
            groups.append(int(float(g)) if g else -1)
            rows.append([float(row[j]) if j < len(row) and row[j].strip() != "" else np.nan
                         for j, _ in cols])
    ids = np.array([c for _, c in cols], dtype=np.int64)
    votes = np.array(rows, dtype=float).reshape(len(rows), len(cols))
    topic, description = "", ""
    if (folder / "summary.csv").is_file():
        with open(folder / "summary.csv", newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if len(row) >= 2 and row[0] == "topic":
                    topic = row[1].strip()
                elif len(row) >= 2 and row[0] == "conversation-description":
                    description = row[1].strip()
    return PolisVotes(texts=tuple(texts[c] for c in ids), statement_ids=ids,
                      participants=np.array(parts, dtype=np.int64),
                      groups=np.array(groups, dtype=np.int64), votes=votes,
                      topic=topic, description=description)


def _ridge_primal(X, y, c, alpha, prior):
    """argmin_w Σ_i c_i (x_i·w - y_i)² + α ||w - prior||²  (closed form, d x d solve)."""
    Xc = X * c[:, None]
    A = X.T @ Xc + alpha * np.eye(X.shape[1])
    b = Xc.T @ (y - X @ prior)
    return prior + np.linalg.solve(A, b)


def _ridge_dual(X, y, alpha, prior):
    """Same with unit c, in the dual form w = prior + Xᵀ(XXᵀ + αI)⁻¹(y - X prior): cheap when
    a participant voted on fewer statements than there are dimensions."""
    K = X @ X.T + alpha * np.eye(X.shape[0])
    return prior + X.T @ np.linalg.solve(K, y - X @ prior)


@dataclasses.dataclass(frozen=True)
class _VoteFit:
    W: np.ndarray  # (P, d+1) per-participant weights, last entry the bias
    group_W: dict  # group id -> (d+1,)
    w0: np.ndarray  # (d+1,)


def _fit_votes(X, votes, groups, alpha_global, alpha_group, alpha_user):
    """Hierarchical ridge: global w0 on every vote, each opinion group shrunk to w0, each
    participant shrunk to its group (to w0 without a group). X: (S, d+1) with a bias column."""
    voted = ~np.isnan(votes)
    counts = voted.sum(axis=0).astype(float)  # votes per statement
    sums = np.nansum(votes, axis=0)
    keep = counts > 0
    mean = np.where(keep, sums / np.maximum(counts, 1), 0.0)
    # Σ_u Σ_i (x_i w - v_ui)² = Σ_i c_i (x_i w - mean_i)² + const
    w0 = _ridge_primal(X[keep], mean[keep], counts[keep], alpha_global, np.zeros(X.shape[1]))
    group_W = {}
    for g in np.unique(groups):
        if g < 0:
            continue
        m = groups == g
        c = voted[m].sum(axis=0).astype(float)
        s = np.nansum(votes[m], axis=0)
        kk = c > 0
        if kk.any():
            group_W[int(g)] = _ridge_primal(X[kk], s[kk] / c[kk], c[kk], alpha_group, w0)
    W = np.empty((votes.shape[0], X.shape[1]))
    for u in range(votes.shape[0]):
        prior = group_W.get(int(groups[u]), w0)
        idx = np.flatnonzero(voted[u])
        W[u] = prior if idx.size == 0 else _ridge_dual(X[idx], votes[u, idx], alpha_user, prior)
    return _VoteFit(W=W, group_W=group_W, w0=w0)


def _low_rank(W, w0, rank):
    """w0 + the best rank-r approximation of the participants' deviations W - w0."""
    D = W - w0
    U_, s, Vt = np.linalg.svd(D, full_matrices=False)
    r = min(rank, s.size)
    return w0 + (U_[:, :r] * s[:r]) @ Vt[:r]


MODES = ("participant", "group", "lowrank")


class VotePopulation(Population):
    """Linear utilities on text embeddings fitted to real votes: ``s_u(x) = [e(x), 1] · w_u``.

    Build with :meth:`from_polis`. ``mode``:
      - ``"participant"``: one user per participant (weight 1/P), hierarchical ridge
        (global -> opinion group -> participant, strengths ``alpha_*``);
      - ``"group"``: one user per Polis opinion group, weight = its share of participants;
      - ``"lowrank"``: participants' deviations from the global model cut to rank ``rank``.

    Attributes besides the Population ones: ``W (U, d+1)``, ``votes`` (the :class:`PolisVotes`),
    ``embed``.
    """

    def __init__(self, W, embed, weights=None, user_labels=None, groups=None,
                 group_names=None, votes: PolisVotes | None = None):
        W = np.asarray(W, dtype=float)
        if W.ndim != 2 or W.shape[0] == 0:
            raise ValueError(f"W must be a (U, d+1) array with U >= 1 users, got shape "
                             f"{W.shape}")
        self.W = W
        self.embed = as_embedder(embed)
        self.weights = _check_user_weights(weights, W.shape[0])
        self.user_labels = tuple(user_labels) if user_labels is not None else tuple(
            str(i) for i in range(W.shape[0]))
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.group_names = group_names
        self.votes = votes

    @classmethod
    def from_polis(cls, folder_or_votes, embed=None, mode: str = "participant",
                   min_votes: int = 5, rank: int = 8, alpha_global: float = 1.0,
                   alpha_group: float = 3.0, alpha_user: float = 3.0) -> VotePopulation:
        """Fit to a Polis conversation (a folder or :class:`PolisVotes`).

        Participants with fewer than ``min_votes`` agree/disagree votes are dropped. Returns a
        population whose users are participants (or groups) and which scores any text.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        pv = folder_or_votes if isinstance(folder_or_votes, PolisVotes) \
            else read_polis_votes(folder_or_votes)
        embed = as_embedder(embed)
        n_decided = np.sum(np.abs(np.nan_to_num(pv.votes)) > 0, axis=1)
        keep = n_decided >= int(min_votes)
        if not keep.any():
            raise ValueError(f"no participant has min_votes={min_votes} agree/disagree votes; "
                             f"the population would have no users")
        votes = pv.votes[keep]
        groups = pv.groups[keep]
        E = np.asarray(embed(list(pv.texts)), dtype=float)
        X = np.hstack([E, np.ones((E.shape[0], 1))])
        fit = _fit_votes(X, votes, groups, alpha_global, alpha_group, alpha_user)
        gids = sorted(int(g) for g in np.unique(groups) if g >= 0)
        # participants Polis put in no opinion group form their own group, "no group"
        no_group = max(gids) + 1 if gids else 0
        group_names = tuple(f"group {g}" for g in range(no_group)) + (
            ("no group",) if np.any(groups < 0) else ())
        g_arr = np.where(groups >= 0, groups, no_group)
        labels = [f"participant {p}" for p in pv.participants[keep]]
        if mode == "participant":
            return cls(fit.W, embed, None, labels, g_arr, group_names, pv)
        if mode == "lowrank":
            return cls(_low_rank(fit.W, fit.w0, rank), embed, None, labels, g_arr,
                       group_names, pv)
        if not gids:
            raise ValueError("mode='group' needs Polis opinion groups; this conversation has "
                             "none")
        Wg = np.stack([fit.group_W.get(g, fit.w0) for g in gids])
        share = np.array([np.sum(groups == g) for g in gids], dtype=float)
        return cls(Wg, embed, share, [f"group {g}" for g in gids], np.array(gids),
                   group_names, pv)

    def _scores(self, texts):
        E = np.asarray(self.embed(texts), dtype=float)
        return self.W[:, :-1] @ E.T + self.W[:, -1:]

    def _take(self, idx):
        new = object.__new__(VotePopulation)
        new.__dict__.update(self.__dict__)
        new.W = self.W[idx]
        return self._base_take(new, idx)

    def group_personas(self, n_statements: int = 3) -> dict[int, str]:
        """A persona text per opinion group, for in-context personalisation: the statements the
        group agrees with most relative to the other groups, and those it rejects most."""
        if self.votes is None or self.groups is None:
            raise ValueError("group_personas needs a population fitted with from_polis and "
                             "opinion groups")
        pv = self.votes
        out = {}
        for g in sorted(set(self.groups.tolist())):
            name = self.group_names[g] if self.group_names is not None else f"group {g}"
            m = pv.groups == (-1 if name == "no group" else g)
            if not m.any() or m.all():
                continue
            agree_g = _mean_vote(pv.votes[m])
            agree_o = _mean_vote(pv.votes[~m])
            distinct = agree_g - agree_o
            pro = np.argsort(-(agree_g + distinct))[:n_statements]
            con = np.argsort(agree_g + distinct)[:n_statements]
            text = "You agree with these statements: " + " | ".join(pv.texts[i] for i in pro)
            text += ". You disagree with these: " + " | ".join(pv.texts[i] for i in con) + "."
            out[int(g)] = text
        return out


def _mean_vote(votes):
    """Mean vote per statement over the participants who voted on it (0 where nobody did)."""
    voted = ~np.isnan(votes)
    return np.nansum(votes, axis=0) / np.maximum(voted.sum(axis=0), 1)


def _auc(y, s):
    """Area under the ROC curve of scores ``s`` for binary labels ``y`` (ties count 1/2)."""
    from scipy.stats import rankdata
    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _user_auc(users, y, s):
    """Mean over users (with both agree and disagree test votes) of the AUC of ``s`` within
    that user's votes: how well the scores order statements for one person, which is all a
    ranking needs (a per-user constant such as the user's majority scores exactly 0.5)."""
    vals = []
    for u in np.unique(users):
        m = users == u
        if 0 < y[m].sum() < m.sum():
            vals.append(_auc(y[m], s[m]))
    return float(np.mean(vals)) if vals else float("nan")


def _agree_share(votes, axis):
    """Share of agree among agree/disagree votes along ``axis`` (0.5 where there are none)."""
    agree = np.sum(votes > 0, axis=axis)
    decided = agree + np.sum(votes < 0, axis=axis)
    return np.where(decided > 0, agree / np.maximum(decided, 1), 0.5)


def evaluate_vote_model(folder_or_votes, embed=None, test_frac: float = 0.2, seed=0,
                        min_votes: int = 5, **fit_options) -> dict:
    """Held-out accuracy / AUC of the vote model on agree (+1) vs disagree (-1) votes.

    Two splits:
      - ``votes``: a random ``test_frac`` of the agree/disagree votes is hidden; baselines are
        the statement's majority among the remaining votes (accuracy; AUC by its agree share)
        and the participant's own majority;
      - ``statements``: a random ``test_frac`` of the statements is hidden entirely (the model
        must score new text, as it does for generated candidates); baselines are the
        participant's majority and the global (non-personalised) embedding model.

    Returns ``{split: {"n_test", "model_acc", "model_auc", "model_user_auc",
    <baseline>_acc/_auc/_user_auc, ...}}``; ``*_user_auc`` is the mean within-participant AUC
    (how well a participant's own votes are ordered, what ranking candidates needs).
    """
    pv = folder_or_votes if isinstance(folder_or_votes, PolisVotes) \
        else read_polis_votes(folder_or_votes)
    embed = as_embedder(embed)
    rng = np.random.default_rng(seed)
    n_decided = np.sum(np.abs(np.nan_to_num(pv.votes)) > 0, axis=1)
    keep = n_decided >= int(min_votes)
    votes, groups = pv.votes[keep], pv.groups[keep]
    E = np.asarray(embed(list(pv.texts)), dtype=float)
    X = np.hstack([E, np.ones((E.shape[0], 1))])
    a = dict(alpha_global=fit_options.get("alpha_global", 1.0),
             alpha_group=fit_options.get("alpha_group", 3.0),
             alpha_user=fit_options.get("alpha_user", 3.0))
    out = {}
    decided = np.argwhere(np.abs(np.nan_to_num(votes)) > 0)
    # --- split 1: hidden votes
    test = decided[rng.random(len(decided)) < test_frac]
    train = votes.copy()
    train[test[:, 0], test[:, 1]] = np.nan
    fit = _fit_votes(X, train, groups, **a)
    y = votes[test[:, 0], test[:, 1]] > 0
    pred = np.einsum("td,td->t", fit.W[test[:, 0]], X[test[:, 1]])
    stmt_share = _agree_share(train, axis=0)
    user_share = _agree_share(train, axis=1)
    sb = stmt_share[test[:, 1]]
    ub = user_share[test[:, 0]]
    out["votes"] = dict(n_test=len(test), model_acc=float(np.mean((pred > 0) == y)),
                        model_auc=_auc(y, pred),
                        model_user_auc=_user_auc(test[:, 0], y, pred),
                        statement_majority_acc=float(np.mean((sb >= 0.5) == y)),
                        statement_majority_auc=_auc(y, sb),
                        statement_majority_user_auc=_user_auc(test[:, 0], y, sb),
                        user_majority_acc=float(np.mean((ub >= 0.5) == y)),
                        user_majority_auc=_auc(y, ub))
    # --- split 2: hidden statements
    S = votes.shape[1]
    held = rng.random(S) < test_frac
    train = votes.copy()
    train[:, held] = np.nan
    fit = _fit_votes(X, train, groups, **a)
    test = decided[held[decided[:, 1]]]
    y = votes[test[:, 0], test[:, 1]] > 0
    pred = np.einsum("td,td->t", fit.W[test[:, 0]], X[test[:, 1]])
    glob = X[test[:, 1]] @ fit.w0
    user_share = _agree_share(train, axis=1)
    ub = user_share[test[:, 0]]
    out["statements"] = dict(n_test=len(test), model_acc=float(np.mean((pred > 0) == y)),
                             model_auc=_auc(y, pred),
                             model_user_auc=_user_auc(test[:, 0], y, pred),
                             global_model_acc=float(np.mean((glob > 0) == y)),
                             global_model_auc=_auc(y, glob),
                             global_model_user_auc=_user_auc(test[:, 0], y, glob),
                             user_majority_acc=float(np.mean((ub >= 0.5) == y)),
                             user_majority_auc=_auc(y, ub))
    return out


# ---------------------------------------------------------------------- reward models
class RewardModelPopulation(Population):
    """Per-persona scores from a sequence-classification reward model:
    ``s_u(x) = RM(template.format(persona=persona_u, text=x))[label_index]``.

    Args:
      model: a Hugging Face model id or local path (loaded with
        ``AutoModelForSequenceClassification``), or a loaded model.
      personas: ``U`` persona texts; weights: optional ``(U,)``.
      tokenizer: required when ``model`` is an object; loaded from ``model`` otherwise.
      template: how persona and candidate are joined.
      batch_size, max_length, device: scoring options.
    """

    def __init__(self, model, personas: Sequence[str], weights=None, tokenizer=None,
                 template: str = "{persona}\n\n{text}", batch_size: int = 16,
                 max_length: int = 512, device: str = "cpu", label_index: int = 0):
        personas = _check_texts(personas, "personas")
        if not personas:
            raise ValueError("personas must hold at least one persona text, got none")
        if "{text}" not in template:
            raise ValueError(f"template must contain '{{text}}', got {template!r}")
        if isinstance(model, str):
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
            model = AutoModelForSequenceClassification.from_pretrained(model)
        if tokenizer is None:
            raise ValueError("tokenizer must be given when model is a loaded model object")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        if getattr(tokenizer, "pad_token", None) is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.personas = tuple(personas)
        self.user_labels = self.personas
        self.weights = _check_user_weights(weights, len(personas))
        self.template = template
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.device = device
        self.label_index = int(label_index)

    def _scores(self, texts):
        import torch
        pairs = [(u, i) for u in range(len(self.personas)) for i in range(len(texts))]
        S = np.empty((len(self.personas), len(texts)))
        for s in range(0, len(pairs), self.batch_size):
            chunk = pairs[s:s + self.batch_size]
            inputs = [self.template.format(persona=self.personas[u], text=texts[i])
                      for u, i in chunk]
            enc = self.tokenizer(inputs, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.max_length).to(self.device)
            with torch.no_grad():
                logits = self.model(**enc).logits
            vals = logits[:, self.label_index].float().cpu().numpy()
            for (u, i), v in zip(chunk, vals, strict=True):
                S[u, i] = v
        return S

    def _take(self, idx):
        new = object.__new__(RewardModelPopulation)
        new.__dict__.update(self.__dict__)
        new.personas = tuple(self.personas[i] for i in idx)
        return self._base_take(new, idx)


# ---------------------------------------------------------------------- specs
def _parse_options(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, eq, val = part.partition("=")
        if not eq:
            raise ValueError(f"population options must be key=value, got {part!r}")
        out[key.strip()] = val.strip()
    return out


def read_personas(path) -> tuple[list[str], np.ndarray | None]:
    """Persona texts (and optional weights) from a file: JSON (a list of strings or of
    ``{"persona": ..., "weight": ...}``), JSONL of such objects, or plain text with one persona
    per line, optionally ``weight<TAB>text``. Blank lines and ``#`` comments are skipped."""
    import json
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such personas file: {path}")
    raw = path.read_text(encoding="utf-8")
    items: list = []
    if path.suffix in (".json", ".jsonl"):
        if path.suffix == ".json":
            items = json.loads(raw)
        else:
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
    else:
        for line in raw.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            w, tab, text = line.partition("\t")
            items.append({"persona": text.strip(), "weight": float(w)} if tab
                         else line.strip())
    texts, weights = [], []
    for i, it in enumerate(items):
        if isinstance(it, str):
            texts.append(it)
            weights.append(1.0)
        elif isinstance(it, dict) and isinstance(it.get("persona"), str):
            texts.append(it["persona"])
            weights.append(float(it.get("weight", 1.0)))
        else:
            raise ValueError(f"{path}: persona entry {i} must be a string or an object with a "
                             f"'persona' string, got {it!r}")
    if not texts:
        raise ValueError(f"{path}: the personas file holds no personas; a population needs at "
                         f"least one user")
    return texts, np.array(weights)


def load_population(spec: str, embed=None) -> Population:
    """A population from a command-line spec:

    - ``polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]`` or just a Polis
      export folder: :meth:`VotePopulation.from_polis`;
    - ``personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]``: :class:`EmbeddingPopulation`
      (file format: :func:`read_personas`);
    - ``reward:FILE,model=MODEL_ID_OR_PATH``: :class:`RewardModelPopulation`.
    """
    kind, colon, rest = spec.partition(":")
    if not colon or kind not in ("polis", "personas", "reward"):
        if (Path(spec) / "comments.csv").is_file():
            kind, rest = "polis", spec
        else:
            raise ValueError(f"population must be polis:FOLDER, personas:FILE or "
                             f"reward:FILE,model=M (or a Polis folder), got {spec!r}")
    target, _, opts = rest.partition(",")
    opts = _parse_options(opts)
    if kind == "polis":
        allowed = {"mode", "min_votes", "rank", "alpha_global", "alpha_group", "alpha_user"}
        bad = set(opts) - allowed
        if bad:
            raise ValueError(f"unknown polis population option(s) {sorted(bad)}; allowed: "
                             f"{sorted(allowed)}")
        kw = {k: (v if k == "mode" else (int(v) if k in ("min_votes", "rank") else float(v)))
              for k, v in opts.items()}
        return VotePopulation.from_polis(target, embed=embed, **kw)
    texts, weights = read_personas(target)
    if kind == "personas":
        allowed = {"noise", "noise_scale", "seed"}
        bad = set(opts) - allowed
        if bad:
            raise ValueError(f"unknown personas population option(s) {sorted(bad)}; allowed: "
                             f"{sorted(allowed)}")
        return EmbeddingPopulation(texts, weights, embed=embed, noise=opts.get("noise"),
                                   noise_scale=float(opts.get("noise_scale", 0.0)),
                                   seed=int(opts.get("seed", 0)))
    if "model" not in opts:
        raise ValueError("reward populations need model=MODEL_ID_OR_PATH, e.g. "
                         "reward:personas.txt,model=OpenAssistant/reward-model-deberta-v3-base")
    return RewardModelPopulation(opts["model"], texts, weights)
