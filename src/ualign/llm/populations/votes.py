"""Real people: one linear utility per Polis participant on statement embeddings, fitted to
their agree (+1) / pass (0) / disagree (-1) votes by hierarchical ridge regression (global ->
opinion group -> participant), or one per opinion group, or a low-rank participant model; it
then scores new text. The votes come from :func:`ualign.data.polis.read_polis_votes`, the one
Polis reader.

References: shared/spec/THEORY.md §8 (real votes as the ranking oracle); shared/data/README.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ualign.core.checks import check_user_weights
from ualign.data.polis import PolisVotes, read_polis_votes
from ualign.llm.embed import as_embedder
from ualign.llm.persona import describe_votes
from ualign.llm.populations.base import Population

__all__ = ["MODES", "VotePopulation", "evaluate_vote_model", "vote_splits"]


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


def kept_participants(votes: np.ndarray, min_votes: int) -> np.ndarray:
    """``(P,)`` bool: the participants with at least ``min_votes`` agree/disagree votes (the
    users of the Polis vote and stance populations and of their evaluations)."""
    return np.sum(np.abs(np.nan_to_num(votes)) > 0, axis=1) >= int(min_votes)


def participant_groups(groups: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Polis ``group-id`` (-1: none) -> ``(group index per participant, group names)``:
    ``group 0``, ``group 1``, ... and a last ``no group`` for the participants Polis put in
    no opinion group."""
    gids = sorted(int(g) for g in np.unique(groups) if g >= 0)
    no_group = max(gids) + 1 if gids else 0
    names = tuple(f"group {g}" for g in range(no_group)) + (
        ("no group",) if np.any(groups < 0) else ())
    return np.where(groups >= 0, groups, no_group), names


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
    ``embed``, ``participant_ids`` (``(U,)`` the Polis participant id of each user, or None
    when users are not participants, e.g. ``mode="group"``).
    """

    def __init__(self, W, embed, weights=None, user_labels=None, groups=None,
                 group_names=None, votes: PolisVotes | None = None, participant_ids=None):
        W = np.asarray(W, dtype=float)
        if W.ndim != 2 or W.shape[0] == 0:
            raise ValueError(f"W must be a (U, d+1) array with U >= 1 users, got shape "
                             f"{W.shape}")
        self.W = W
        self.embed = as_embedder(embed)
        self.weights = check_user_weights(weights, W.shape[0])
        self.user_labels = tuple(user_labels) if user_labels is not None else tuple(
            str(i) for i in range(W.shape[0]))
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.group_names = group_names
        self.votes = votes
        self.participant_ids = None if participant_ids is None else np.asarray(
            participant_ids, dtype=np.int64)
        if self.participant_ids is not None and self.participant_ids.shape != (W.shape[0],):
            raise ValueError(f"participant_ids must hold one id per user ({W.shape[0]}), got "
                             f"shape {self.participant_ids.shape}")

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
        keep = kept_participants(pv.votes, min_votes)
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
        g_arr, group_names = participant_groups(groups)
        labels = [f"participant {p}" for p in pv.participants[keep]]
        ids = pv.participants[keep]
        if mode == "participant":
            return cls(fit.W, embed, None, labels, g_arr, group_names, pv, ids)
        if mode == "lowrank":
            return cls(_low_rank(fit.W, fit.w0, rank), embed, None, labels, g_arr,
                       group_names, pv, ids)
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
        if self.participant_ids is not None:
            new.participant_ids = self.participant_ids[idx]
        return self._base_take(new, idx)

    def participant_votes(self, participant: int) -> dict[int, int]:
        """The real votes of one Polis participant: ``{statement id: +1 / 0 / -1}`` (agree /
        pass / disagree) over the statements they voted on, in statement-id order.

        Args:
          participant: a Polis participant id of the conversation (any participant of
            ``votes``, in the population or not).
        """
        if self.votes is None:
            raise ValueError("participant_votes needs a population fitted with from_polis")
        pv = self.votes
        if isinstance(participant, bool) or not isinstance(participant, (int, np.integer)):
            raise ValueError(f"participant must be an integer Polis participant id, got "
                             f"{participant!r}")
        row = np.flatnonzero(pv.participants == int(participant))
        if row.size == 0:
            raise ValueError(f"participant must be a participant id of the conversation, got "
                             f"{participant} (ids {int(pv.participants.min())}.."
                             f"{int(pv.participants.max())})")
        v = pv.votes[row[0]]
        voted = np.flatnonzero(~np.isnan(v))
        return {int(pv.statement_ids[j]): int(v[j]) for j in voted}

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
            out[int(g)] = describe_votes([(pv.texts[i], 1) for i in pro]
                                         + [(pv.texts[i], -1) for i in con])
        return out


def _mean_vote(votes):
    """Mean vote per statement over the participants who voted on it (0 where nobody did)."""
    voted = ~np.isnan(votes)
    return np.nansum(votes, axis=0) / np.maximum(voted.sum(axis=0), 1)


def _auc(y, s):
    """Area under the ROC curve of scores ``s`` for binary labels ``y`` (ties count 1/2)."""
    from scipy.stats import rankdata  # lazy: scipy.stats takes ~1.5 s to import
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


def vote_splits(votes: np.ndarray, test_frac: float = 0.2, seed=0
                ) -> tuple[np.ndarray, np.ndarray]:
    """The two held-out splits of :func:`evaluate_vote_model` (one home, so other vote models
    are scored on exactly the same splits).

    ``votes`` is the ``(P, S)`` matrix (+1 / 0 / -1, NaN unseen) of the kept participants.
    Returns ``(hidden_votes, hidden_statements)``: ``(T, 2)`` (participant, statement) indices
    of a random ``test_frac`` of the agree/disagree votes, and an ``(S,)`` bool mask of a
    random ``test_frac`` of the statements, both drawn from ``numpy.random.default_rng(seed)``
    in that order.
    """
    votes = np.asarray(votes, dtype=float)
    if votes.ndim != 2:
        raise ValueError(f"votes must be a (participants, statements) array, got shape "
                         f"{votes.shape}")
    if not 0.0 < float(test_frac) < 1.0:
        raise ValueError(f"test_frac must lie strictly between 0 and 1, got {test_frac}")
    rng = np.random.default_rng(seed)
    decided = np.argwhere(np.abs(np.nan_to_num(votes)) > 0)
    hidden_votes = decided[rng.random(len(decided)) < test_frac]
    hidden_statements = np.asarray(rng.random(votes.shape[1]) < test_frac, dtype=bool)
    return hidden_votes, hidden_statements


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
    keep = kept_participants(pv.votes, min_votes)
    votes, groups = pv.votes[keep], pv.groups[keep]
    E = np.asarray(embed(list(pv.texts)), dtype=float)
    X = np.hstack([E, np.ones((E.shape[0], 1))])
    a = dict(alpha_global=fit_options.get("alpha_global", 1.0),
             alpha_group=fit_options.get("alpha_group", 3.0),
             alpha_user=fit_options.get("alpha_user", 3.0))
    out = {}
    decided = np.argwhere(np.abs(np.nan_to_num(votes)) > 0)
    test, held = vote_splits(votes, test_frac, seed)
    # --- split 1: hidden votes
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
