"""A population that cares only about the *kind* of a text: texts are mapped to K kinds (a keyword
table, or the nearest labelled example in a sentence embedding), and U user types rank the kinds
(ties allowed).

Because every user's utility depends on the kind alone, a policy over texts acts on the users only
through its kind distribution ``q`` (K,), and the population over kinds is an ordinary
:class:`ualign.Profile` (``kind_profile``). Every game value is then exact through the core engine:
``deviation_payoffs(kind_profile, q, k, display)``, ``robust_win_rate``, ``solve_ualign`` /
``solve_nlhf`` for the equilibria. Under distinct display (THEORY §9) two texts of one kind are
one response (a functional partition, as in NoveltyBench): ``response_classes`` gives the trainer
that partition, and the kind profile is exactly the merged game.

    kind(x)      = the kind whose keywords x hits most (ties: the earliest hit), or the nearest
                   labelled example's kind when its cosine is >= threshold; else ``other``
    s_u(x)       = −level_u(kind(x))                       (U, N) utilities, equal kinds tie
    q_K          = share of the samples in kind K          (K,) a policy over kinds

:func:`kind_report` gives the shares of a set of texts with simultaneous multinomial intervals
(Goodman 1965, :func:`goodman_intervals`).

References: shared/spec/THEORY.md §1 (profiles), §2-4 (payoffs, game), §9 (distinct display);
Goodman, "On simultaneous confidence intervals for multinomial proportions", Technometrics 1965;
Zhang et al., "NoveltyBench" 2025 (functional equivalence classes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ualign.core import Profile
from ualign.core.checks import check_user_weights
from ualign.llm.embed import _check_texts, as_embedder
from ualign.llm.populations.base import Population

__all__ = ["CATEGORY_OPTIONS", "CATEGORY_USAGE", "CategoryPopulation", "KindShare",
           "build_category", "goodman_intervals", "kind_report", "parse_order"]

CLASSIFIERS = ("keywords", "embedding")


def parse_order(order, kinds: Sequence[str], where: str = "order") -> np.ndarray:
    """``(K,)`` levels (0 = best) of one user type from ``"a > b = c > d"`` (``=`` ties) or from a
    list of kind names / lists of tied names, best first. Every kind must appear exactly once.
    ``ValueError`` naming ``where`` and the offending kind otherwise."""
    if isinstance(order, str):
        tiers = [[k.strip() for k in tier.split("=")] for tier in order.split(">")]
    elif isinstance(order, Sequence):
        tiers = [[t] if isinstance(t, str) else list(t) for t in order]
    else:
        raise ValueError(f"{where} must be a string like 'a > b = c' or a list of kinds, got "
                         f"{order!r}")
    index = {k: i for i, k in enumerate(kinds)}
    levels = np.full(len(kinds), -1, dtype=np.int64)
    for lvl, tier in enumerate(tiers):
        for name in tier:
            if name not in index:
                raise ValueError(f"{where}: unknown kind {name!r}; the kinds are {list(kinds)}")
            if levels[index[name]] >= 0:
                raise ValueError(f"{where}: kind {name!r} appears twice")
            levels[index[name]] = lvl
    missing = [k for k, lv in zip(kinds, levels, strict=True) if lv < 0]
    if missing:
        raise ValueError(f"{where}: every kind must be ranked, missing {missing}")
    return levels


def _keyword_patterns(keywords: Mapping[str, Sequence[str]], kinds: Sequence[str]):
    pats = []
    for kind, words in keywords.items():
        if kind not in kinds:
            raise ValueError(f"keywords: unknown kind {kind!r}; the kinds are {list(kinds)}")
        if isinstance(words, str) or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f"keywords[{kind!r}] must be a list of non-empty strings")
        for w in words:
            pats.append((kinds.index(kind), re.compile(r"\b" + re.escape(w.strip().lower()))))
    return pats


def _check_kinds(kinds, other: str) -> list[str]:
    kinds = _check_texts(kinds, "kinds")
    if len(set(kinds)) != len(kinds) or len(kinds) < 2:
        raise ValueError(f"kinds must be at least 2 distinct names, got {list(kinds)}")
    if other not in kinds:
        raise ValueError(f"other ({other!r}) must be one of the kinds {list(kinds)}: the kind "
                         f"of a text no rule assigns")
    return kinds


def _check_kind_levels(levels, K: int) -> np.ndarray:
    lv = np.asarray(levels)
    if lv.ndim != 2 or lv.shape[1] != K or lv.dtype.kind not in "iu":
        raise ValueError(f"levels must be an integer array of shape (U, {K}), got "
                         f"shape {lv.shape} and dtype {lv.dtype}")
    return lv


def _check_classifier(classifier, keywords, examples) -> str:
    classifier = classifier or ("keywords" if keywords is not None else "embedding")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    if classifier == "keywords" and not keywords:
        raise ValueError("classifier='keywords' needs keywords: {kind: [words]}")
    if classifier == "embedding" and not examples:
        raise ValueError("classifier='embedding' needs examples: {kind: [labelled texts]}")
    return classifier


def _type_names(type_names, U: int) -> tuple[str, ...]:
    names = tuple(type_names) if type_names is not None else tuple(f"type{u}" for u in range(U))
    if len(names) != U:
        raise ValueError(f"type_names must name the {U} types, got {len(names)}")
    return names


class CategoryPopulation(Population):
    """U user types ranking K kinds of text; a text counts through its kind only.

    Args:
      kinds: the K kind names; ``other`` (default ``"other"``) must be one of them: the kind of a
        text that no rule assigns.
      levels: ``(U, K)`` integer levels of each type over the kinds (0 = best, equal = tie).
      weights: ``(U,)`` shares of the types (default uniform).
      keywords: ``{kind: [word or phrase, ...]}``: a text hits a keyword when a word of it (case
        folded) starts with it (so ``"hik"`` hits "hiking"); the kind with most hits wins, a tie
        goes to the kind hit earliest in the text.
      examples: ``{kind: [labelled text, ...]}`` for ``classifier="embedding"``: the kind of the
        nearest example by cosine in ``embed``'s space, if that cosine is >= ``threshold``.
      classifier: ``"keywords"`` or ``"embedding"`` (default: keywords when given).
      embed: an embedder or model name (:func:`ualign.llm.embed.as_embedder`; embedding only).
      threshold: the smallest cosine that assigns a kind (embedding only).
      type_names: names of the U types (default ``type0``, ...).
    """

    def __init__(self, kinds: Sequence[str], levels, weights=None, *,
                 keywords: Mapping[str, Sequence[str]] | None = None,
                 examples: Mapping[str, Sequence[str]] | None = None,
                 classifier: str | None = None, embed=None, threshold: float = 0.0,
                 other: str = "other", type_names: Sequence[str] | None = None):
        kinds = _check_kinds(kinds, other)
        lv = _check_kind_levels(levels, len(kinds))
        classifier = _check_classifier(classifier, keywords, examples)
        self.kinds = tuple(kinds)
        self.other = other
        self.kind_levels = lv.astype(np.int64)
        self.weights = check_user_weights(weights, lv.shape[0])
        names = _type_names(type_names, lv.shape[0])
        self.user_labels = names
        self.groups = np.arange(lv.shape[0])
        self.group_names = names
        self.classifier = classifier
        self.threshold = float(threshold)
        self._patterns = _keyword_patterns(keywords, self.kinds) if keywords else []
        self.keywords = {k: list(v) for k, v in (keywords or {}).items()}
        self.examples = {k: list(v) for k, v in (examples or {}).items()}
        unknown = [k for k in self.examples if k not in self.kinds]
        if unknown:
            raise ValueError(f"examples: unknown kind {unknown[0]!r}; the kinds are {list(kinds)}")
        self._embed = embed
        self._E = None                       # (M, d) normalised example embeddings
        self._E_kind = None                  # (M,) their kinds

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, d: Mapping, embed=None, where: str = "population") -> CategoryPopulation:
        """From ``{"kinds": [...], "other": "other", "types": [{"name", "weight", "order"}],
        "keywords": {...} | "examples": {...}, "classifier", "threshold"}``; ``order`` as in
        :func:`parse_order`."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where} must be a mapping, got {type(d).__name__}")
        unknown = set(d) - {"kinds", "other", "types", "keywords", "examples", "classifier",
                            "threshold"}
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}")
        kinds = list(d.get("kinds") or [])
        types = d.get("types")
        if not isinstance(types, Sequence) or not types:
            raise ValueError(f"{where}: types must be a non-empty list of {{name, weight, "
                             f"order}}")
        rows, weights, names = [], [], []
        for i, t in enumerate(types):
            if not isinstance(t, Mapping) or "order" not in t:
                raise ValueError(f"{where}: types[{i}] must be a mapping with an 'order'")
            rows.append(parse_order(t["order"], kinds, f"{where}: types[{i}].order"))
            weights.append(t.get("weight", 1.0))
            names.append(str(t.get("name", f"type{i}")))
        return cls(kinds, np.stack(rows), weights, keywords=d.get("keywords"),
                   examples=d.get("examples"), classifier=d.get("classifier"), embed=embed,
                   threshold=float(d.get("threshold", 0.0)), other=d.get("other", "other"),
                   type_names=names)

    def to_dict(self) -> dict:
        """The JSON form read by :meth:`from_dict` (orders written with ``>`` and ``=``)."""
        types = []
        for name, w, lv in zip(self.user_labels, self.weights, self.kind_levels, strict=True):
            tiers = [" = ".join(k for k, x in zip(self.kinds, lv, strict=True) if x == t)
                     for t in range(int(lv.max()) + 1)]
            types.append({"name": name, "weight": float(w),
                          "order": " > ".join(t for t in tiers if t)})
        d: dict[str, Any] = {"kinds": list(self.kinds), "other": self.other, "types": types,
                             "classifier": self.classifier}
        if self.keywords:
            d["keywords"] = self.keywords
        if self.examples:
            d["examples"] = self.examples
            d["threshold"] = self.threshold
        return d

    # ------------------------------------------------------------------ texts -> kinds
    def _kind_by_keywords(self, text: str) -> int:
        t = text.lower()
        hits = np.zeros(len(self.kinds), dtype=np.int64)
        first = np.full(len(self.kinds), np.iinfo(np.int64).max)
        for kind, pat in self._patterns:
            for m in pat.finditer(t):
                hits[kind] += 1
                first[kind] = min(first[kind], m.start())
        if hits.max() == 0:
            return self.kinds.index(self.other)
        best = np.flatnonzero(hits == hits.max())
        return int(best[np.argmin(first[best])])

    def _example_embeddings(self):
        if self._E is None:
            texts, kinds = [], []
            for k, ex in self.examples.items():
                texts.extend(ex)
                kinds.extend([self.kinds.index(k)] * len(ex))
            self._embed = as_embedder(self._embed)
            E = np.asarray(self._embed(texts), dtype=float)
            self._E = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
            self._E_kind = np.asarray(kinds, dtype=np.int64)
        return self._E, self._E_kind

    def kind_index(self, texts: Sequence[str]) -> np.ndarray:
        """``(N,)`` index into ``kinds`` of each text's kind."""
        texts = _check_texts(texts)
        if self.classifier == "keywords":
            return np.asarray([self._kind_by_keywords(t) for t in texts], dtype=np.int64)
        if not texts:
            return np.zeros(0, dtype=np.int64)
        E, kinds = self._example_embeddings()
        X = np.asarray(self._embed(list(texts)), dtype=float)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        cos = X @ E.T
        j = cos.argmax(axis=1)
        out = kinds[j]
        out[cos[np.arange(len(texts)), j] < self.threshold] = self.kinds.index(self.other)
        return out

    def kinds_of(self, texts: Sequence[str]) -> list[str]:
        """The kind name of each text."""
        return [self.kinds[i] for i in self.kind_index(texts)]

    def response_classes(self, texts: Sequence[str]) -> np.ndarray:
        """``(N,)`` labels of the texts that are one response under distinct display: one class
        per kind (the self-play trainer merges by it, docs/train.md)."""
        return self.kind_index(texts)

    def shares(self, texts: Sequence[str]) -> np.ndarray:
        """``(K,)`` share of ``texts`` in each kind (a policy over kinds)."""
        idx = self.kind_index(texts)
        if idx.size == 0:
            raise ValueError("texts must hold at least one text to take shares of")
        return np.bincount(idx, minlength=len(self.kinds)) / idx.size

    # ------------------------------------------------------------------ the game over kinds
    @property
    def kind_profile(self) -> Profile:
        """The population over the K kinds: ``levels (U, K)``, the type weights, one group per
        type. Exact game values of a kind distribution ``q`` come from the core engine with it."""
        return Profile(levels=self.kind_levels, weights=self.weights, labels=self.kinds,
                       groups=self.groups, group_names=self.group_names)

    def type_profile(self, u: int | str) -> Profile:
        """The population over kinds of one type alone (weight 1): its win rates are that
        group's."""
        if isinstance(u, str):
            if u not in self.user_labels:
                raise ValueError(f"unknown type {u!r}; the types are {list(self.user_labels)}")
            u = self.user_labels.index(u)
        return Profile(levels=self.kind_levels[[u]], weights=np.ones(1), labels=self.kinds)

    # ------------------------------------------------------------------ Population interface
    def _scores(self, texts):
        idx = self.kind_index(texts)
        return -self.kind_levels[:, idx].astype(float)

    def _take(self, idx):
        new = object.__new__(CategoryPopulation)
        new.__dict__.update(self.__dict__)
        new.kind_levels = self.kind_levels[idx]
        out = self._base_take(new, idx)
        out.groups = np.arange(len(idx))
        out.group_names = out.user_labels
        return out


# ---------------------------------------------------------------------------- the report
class KindShare(NamedTuple):
    """One kind's share of a set of texts, with its simultaneous interval."""

    kind: str
    n: int           # texts of this kind
    share: float
    low: float
    high: float


def goodman_intervals(counts, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Goodman's (1965) simultaneous intervals for the K proportions of a multinomial sample of
    ``N = Σ counts``: with ``A`` the upper ``(1 − confidence)/K`` quantile of χ² with 1 degree of
    freedom (Bonferroni over the K kinds),

        p_i ∈ [A + 2 n_i ∓ sqrt(A (A + 4 n_i (N − n_i) / N))] / (2 (N + A)),

    which hold together with probability about ``confidence`` for large N (each is a Wilson
    score interval at level ``1 − (1 − confidence)/K``). Unit: the N texts, assumed i.i.d. draws
    of one policy.

    Args:
      counts: ``(K,)`` non-negative integers, positive sum.
      confidence: in (0, 1).

    Returns: ``(low (K,), high (K,))``.
    """
    from scipy.stats import chi2

    n = np.asarray(counts)
    if n.ndim != 1 or n.size < 2 or n.dtype.kind not in "iu" or np.any(n < 0) or n.sum() == 0:
        raise ValueError(f"counts must be a 1-d array of >= 2 non-negative integers with a "
                         f"positive sum, got {counts!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    K, N = n.size, float(n.sum())
    A = float(chi2.ppf(1 - (1 - confidence) / K, 1))
    root = np.sqrt(A * (A + 4 * n * (N - n) / N))
    low = (A + 2 * n - root) / (2 * (N + A))
    high = (A + 2 * n + root) / (2 * (N + A))
    return np.clip(low, 0, 1), np.clip(high, 0, 1)


def kind_report(population: CategoryPopulation, texts: Sequence[str],
                confidence: float = 0.95) -> list[KindShare]:
    """The texts-to-kinds report: each kind's count and share of ``texts`` with Goodman
    simultaneous intervals (:func:`goodman_intervals`; unit: the texts, i.i.d. draws of one
    policy; they say nothing about variation between training runs)."""
    idx = population.kind_index(texts)
    if idx.size == 0:
        raise ValueError("texts must hold at least one text to report on")
    counts = np.bincount(idx, minlength=len(population.kinds))
    low, high = goodman_intervals(counts, confidence)
    return [KindShare(k, int(c), float(c / idx.size), float(lo), float(hi))
            for k, c, lo, hi in zip(population.kinds, counts, low, high, strict=True)]


# ---------------------------------------------------------------------------- the spec kind
CATEGORY_OPTIONS = {"classifier": str, "threshold": float}
CATEGORY_USAGE = "category:FILE.json[,classifier=keywords|embedding,threshold=0.3]"


def build_category(target: str, opts: dict, embed) -> CategoryPopulation:
    """The ``category:FILE.json`` population kind (:func:`ualign.llm.load_population`): the JSON
    of :meth:`CategoryPopulation.from_dict`; the options override its ``classifier`` and
    ``threshold``."""
    path = Path(target)
    if not path.is_file():
        raise FileNotFoundError(f"no such category population file: {path}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: must hold a JSON object (kinds, types, keywords/examples)")
    d.update(opts)
    return CategoryPopulation.from_dict(d, embed=embed, where=str(path))
