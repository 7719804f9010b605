"""Merging equivalent text candidates, so that each distinct response is shown once.

Under distinct display (THEORY §9) a response shown twice counts once, and a competitor's
identical answer is the same answer. For text, "the same response" is a parameter; this module
implements two rules and the population's preferences over the merged responses:

- :func:`normalise`: the canonical form two texts must share to be *identical*;
- :func:`merge_equivalent`: groups of candidates judged equivalent, ``rule="exact"`` (equal after
  :func:`normalise`) or ``rule="embedding"`` (additionally, embedding cosine ``>= threshold``,
  grouped by complete linkage), returned as a :class:`Merge`;
- :func:`merge_profile`: the Profile over the merged responses (one column per group, the
  representative's column).

Typical use, before a distinct-display selection::

    m = merge_equivalent(texts, rule="embedding", embed=Embedder())
    P_merged = merge_profile(population.rank(texts), m)     # (U, len(m.groups))
    shown_texts = [texts[m.representative[g]] for g in chosen_groups]

References: shared/spec/THEORY.md §9 (distinct display; for text, "the same response" is a
parameter and reports name the rule used).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ualign.core import Profile

__all__ = ["DEFAULT_THRESHOLD", "RULES", "Merge", "merge_equivalent", "merge_profile", "normalise"]

RULES = ("exact", "embedding")

# Chosen from measured all-MiniLM-L6-v2 cosines (benchmarks/dedupe_thresholds.py, docs/llm.md
# "Distinct display: merging equivalent candidates"): see merge_equivalent's docstring.
DEFAULT_THRESHOLD = 0.98

# Typographic quotes mapped to ASCII before anything else (NFKC leaves them alone), so that
# "don’t" and "don't" are identical.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"'})


def _is_edge(ch: str) -> bool:
    """Whitespace or Unicode punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf, Po)."""
    return ch.isspace() or unicodedata.category(ch).startswith("P")


def normalise(text: str) -> str:
    """The canonical form of a text for ``rule="exact"``; exactly these steps, in order:

    1. typographic quotes ``‘ ’ ‚ ‛`` become ``'`` and ``“ ” „ ‟`` become ``"``;
    2. Unicode NFKC (compatibility forms fold: full-width letters, ligatures such as ``ﬁ``,
       no-break and other special spaces, superscript digits);
    3. ``str.casefold()`` (lower case, and e.g. ``ß`` -> ``ss``), then NFKC once more, since case
       folding can leave a string that NFKC would change;
    4. every run of whitespace (``str.split()``: spaces, tabs, newlines, Unicode spaces) becomes
       one space;
    5. leading and trailing characters that are whitespace or Unicode punctuation (general
       category ``P*``: quotes, brackets, ``. , ; : ! ? - … *``, ...) are removed, repeatedly,
       until the text starts and ends with something else.

    Inner punctuation stays (``"tax, not spend"`` differs from ``"tax not spend"``), symbols stay
    (``$``, ``%``, ``+``, emoji), and so do zero-width characters (category ``Cf``). Step 5 makes
    ``"Is it fair?"`` and ``"Is it fair."`` identical, and a text made only of punctuation and
    whitespace normalises to ``""``. The result is idempotent: ``normalise(normalise(t)) ==
    normalise(t)`` (tested with hypothesis).

    Raises ``ValueError`` when ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    s = unicodedata.normalize("NFKC", text.translate(_QUOTES))
    s = unicodedata.normalize("NFKC", s.casefold())
    s = " ".join(s.split())
    i, j = 0, len(s)
    while i < j and _is_edge(s[i]):
        i += 1
    while j > i and _is_edge(s[j - 1]):
        j -= 1
    return s[i:j]


class Merge(NamedTuple):
    """A partition of N candidate texts into groups of equivalent ones.

    Attributes:
      groups: ``len = G`` lists of original indices (ascending), ordered by their first index.
      representative: ``(G,)`` int, the first occurrence (smallest index) of each group: the
        text shown for the group and the column kept by :func:`merge_profile`.
      labels: ``(N,)`` int, the group of each text (``groups[labels[i]]`` contains ``i``).
      n_merged: ``N - G``, how many candidates were merged away.
      rule: ``"exact"`` or ``"embedding"``.
      threshold: the cosine threshold (``None`` for ``rule="exact"``).
    """

    groups: list[list[int]]
    representative: np.ndarray
    labels: np.ndarray
    n_merged: int
    rule: str
    threshold: float | None

    @property
    def n_groups(self) -> int:
        """G, the number of distinct responses after merging."""
        return len(self.groups)

    def to_json(self) -> dict:
        """Plain JSON-serialisable form (for result records)."""
        return dict(rule=self.rule, threshold=self.threshold, n_merged=int(self.n_merged),
                    groups=[list(map(int, g)) for g in self.groups])


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    t = float(threshold)
    if not 0.0 < t <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must lie in (0, 1] (a cosine similarity), got {threshold!r}")
    return t


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, got a single string")
    try:
        out = list(texts)
    except TypeError:
        raise ValueError(f"texts must be a sequence of strings, got "
                         f"{type(texts).__name__}") from None
    if not out:
        raise ValueError("texts must hold at least one text, got an empty sequence")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ValueError(f"texts must hold strings, got {type(t).__name__} at position {i}")
    return out


def _embed_cosines(embed: Callable, texts: list[str]) -> np.ndarray:
    """``(m, m)`` float64 cosine similarities of ``embed(texts)``; zero vectors have cosine 0."""
    E = np.asarray(embed(texts))
    m = len(texts)
    if E.ndim != 2 or E.shape[0] != m or E.shape[1] < 1:
        raise ValueError(f"embed must return an array of shape ({m}, d) with d >= 1 for {m} "
                         f"texts, got shape {E.shape}")
    if E.dtype.kind not in "iuf":
        raise ValueError(f"embed must return a real array, got dtype {E.dtype}")
    E = E.astype(np.float64)
    bad = np.argwhere(~np.isfinite(E))
    if bad.size:
        r, c = bad[0]
        raise ValueError(f"embed must return finite values, got {E[r, c]} at row {r}, "
                         f"column {c}")
    norm = np.linalg.norm(E, axis=1)
    E = E / np.where(norm > 0, norm, 1.0)[:, None]
    return np.clip(E @ E.T, -1.0, 1.0)


def _complete_linkage(S: np.ndarray, threshold: float) -> np.ndarray:
    """Complete-linkage agglomeration of m units with similarities ``S (m, m)``, stopped when
    no two clusters have every cross pair ``>= threshold``. Returns ``(m,)`` cluster ids
    (the smallest member of each cluster).

    Each step merges the two clusters whose *smallest* cross similarity is largest (ties: the
    pair ``(a, b)``, ``a < b``, of smallest cluster ids in row-major order); cluster-to-cluster
    similarity is updated by ``min`` (Lance–Williams for complete linkage). O(m²) memory,
    O(m³) time at worst.
    """
    m = S.shape[0]
    D = S.astype(np.float64, copy=True)
    np.fill_diagonal(D, -np.inf)
    root = np.arange(m)
    while True:
        flat = int(np.argmax(D))
        a, b = divmod(flat, m)
        if not D[a, b] >= threshold:
            break
        a, b = min(a, b), max(a, b)
        # merge cluster b into a: its similarity to every other cluster is the worse of the two
        D[a, :] = np.minimum(D[a, :], D[b, :])
        D[:, a] = D[a, :]
        D[a, a] = -np.inf
        D[b, :] = -np.inf
        D[:, b] = -np.inf
        root[root == b] = a
    return root


def merge_equivalent(texts: Sequence[str], *, rule: str = "exact", embed=None,
                     threshold: float = DEFAULT_THRESHOLD) -> Merge:
    """Group candidate texts that count as the same response.

    ``rule="exact"``: texts are equivalent iff ``normalise`` maps them to the same string; the
    groups are these classes (``embed`` and ``threshold`` are not used; ``threshold`` is still
    validated, and recorded as ``None``).

    ``rule="embedding"``: the units are the exact classes above; each is embedded once, by
    ``embed`` applied to its normalised text (so that case, spacing and surrounding punctuation
    never change a cosine), and the units are grouped by **complete linkage** at ``threshold``:
    repeatedly merge the two groups whose least similar cross pair is the most similar, while
    that cosine is ``>= threshold``. Consequences, each tested:

    - inside every group, every two texts are equal after normalisation or have cosine
      ``>= threshold``: a group is a set of mutually equivalent texts. Connected components of
      the "cosine >= threshold or equal after normalisation" graph would not guarantee this:
      they chain (A ~ B and B ~ C put A with C however far apart A and C are), so a gradual
      series of rewordings could merge a statement with its opposite;
    - a higher threshold never merges more: the merges are the same sequence for every
      threshold (it only decides when to stop), and complete linkage never merges at a higher
      cosine after a lower one, so the groups at a higher threshold refine those at a lower one;
    - with ties between cosines the result can depend on the order of the texts (ties are
      broken by the smallest indices); it is a greedy partition into mutually similar groups,
      not necessarily the one with the fewest groups (that is minimum clique cover, NP-hard).

    Default ``threshold = 0.98``, chosen from all-MiniLM-L6-v2 cosines of normalised texts
    (``benchmarks/dedupe_thresholds.py``; tests/test_llm_dedupe.py holds a subset to 0.005).
    Hand-written pairs: 11 paraphrases 0.84-0.985, 9 near-verbatim variants (a word added or
    swapped) 0.95-0.996, a two-typo variant 0.66, **18 opposite stances 0.48-0.979** (17 of
    them >= 0.87: ``"... should be free"`` / ``"... should not be free"`` 0.979, more / less
    0.974, long statements with one negation 0.94-0.98), same topic 0.34-0.37, unrelated
    0.04-0.21. No threshold separates paraphrases from opposites: the encoder barely sees
    negation. Merging two opposite statements would remove a viewpoint from the pool, which is
    worse for a k-output policy than showing two wordings of one, so the default is the smallest
    round cosine above every opposite pair measured. It merges only near-verbatim variants (3 of
    9) and paraphrases that keep the words (1 of 11); at 0.9, 15 of the 18 opposite pairs would
    merge. On real Polis statements (7 conversations, 619 statements written to be distinct;
    the exact rule merges 5 literal repeats) 0.98 merges 2 more candidates (a genuine
    near-duplicate at 0.981 and a test string), 0.9 merges 25 more, among them
    ``"i identify as male"`` / ``"... female"`` and two age brackets.

    Args:
      texts: the N candidate texts (N >= 1).
      rule: ``"exact"`` or ``"embedding"``.
      embed: for ``rule="embedding"``: a callable ``texts -> (m, d)`` array (e.g.
        :class:`ualign.llm.Embedder`, :class:`ualign.llm.HashingEmbedder`), a model name or
        path, or ``None`` for the default sentence encoder (see
        :func:`ualign.llm.embed.as_embedder`). Rows need not be unit-norm; a zero row has
        cosine 0 with everything.
      threshold: cosine in ``(0, 1]`` at or above which two texts are equivalent.

    Returns a :class:`Merge`; representatives are first occurrences.

    Raises ``ValueError`` naming the argument: an empty or non-string ``texts``, an unknown
    ``rule``, a ``threshold`` outside ``(0, 1]``, an ``embed`` that returns the wrong shape or
    non-finite values.
    """
    texts = _check_texts(texts)
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    t = _check_threshold(threshold)
    N = len(texts)
    keys = [normalise(x) for x in texts]
    unit_of_key: dict[str, int] = {}
    unit = np.array([unit_of_key.setdefault(key, len(unit_of_key)) for key in keys],
                    dtype=np.int64)
    if rule == "embedding" and len(unit_of_key) > 1:
        from ualign.llm.embed import as_embedder
        S = _embed_cosines(as_embedder(embed), list(unit_of_key))
        cluster = _complete_linkage(S, t)[unit]
    else:
        cluster = unit
    # groups in order of first occurrence; the first index of each group represents it
    label_of: dict[int, int] = {}
    labels = np.array([label_of.setdefault(int(c), len(label_of)) for c in cluster],
                      dtype=np.int64)
    groups: list[list[int]] = [[] for _ in label_of]
    for i, g in enumerate(labels):
        groups[g].append(i)
    representative = np.array([g[0] for g in groups], dtype=np.int64)
    return Merge(groups=groups, representative=representative, labels=labels,
                 n_merged=N - len(groups), rule=rule,
                 threshold=t if rule == "embedding" else None)


def merge_profile(profile: Profile, merge: Merge) -> Profile:
    """The population's preferences over the merged responses: ``(U, G)``, one column per group.

    A user's level for a group is their level for the group's **representative** (its first
    occurrence), and the labels are the representatives' labels: the merged profile is the
    original restricted to the representatives' columns. Why the representative and not the
    best member: the representative is the text actually shown for the group, so the merged
    profile states the user's preference over what they see and invents nothing; the best level
    among the members would credit every group with its luckiest variant, a max over scoring
    noise that grows with the group's size (an optimistic bias of the best-of-n kind), and would
    rank a group by a text nobody is shown. When the merge rule is right the members are
    equivalent and the two choices differ only by that noise.

    When nothing was merged (every text its own group) the profile itself is returned.
    Otherwise weights, groups, group names, ``n_voters`` and ``meta`` are kept (rows that become
    identical merge, as in every Profile) and ``n_ranked`` (PrefLib's count of explicitly ranked
    responses) is dropped, since it has no meaning for a subset of the columns.

    Raises ``ValueError`` when ``profile`` is not a Profile or ``merge`` does not partition its
    ``n`` responses.
    """
    if not isinstance(profile, Profile):
        raise ValueError(f"profile must be a ualign.Profile, got {type(profile).__name__}")
    if not isinstance(merge, Merge):
        raise ValueError(f"merge must be a Merge (from merge_equivalent), got "
                         f"{type(merge).__name__}")
    n = profile.n_responses
    labels = np.asarray(merge.labels)
    if labels.shape != (n,):
        raise ValueError(f"merge must partition the profile's {n} responses, got labels of "
                         f"shape {labels.shape}")
    rep = np.asarray(merge.representative, dtype=np.int64)
    if rep.ndim != 1 or rep.size < 1 or np.any((rep < 0) | (rep >= n)) \
            or not np.array_equal(labels[rep], np.arange(rep.size)):
        raise ValueError(f"merge.representative must hold one index in [0, {n}) per group, "
                         f"each in its own group, got {rep.tolist()}")
    if np.array_equal(rep, np.arange(n)):
        return profile  # nothing merged: the same (immutable) profile
    labels_out = None if profile.labels is None else tuple(profile.labels[i] for i in rep)
    return Profile.from_levels(
        profile.levels[:, rep], profile.weights, labels=labels_out, groups=profile.groups,
        group_names=profile.group_names, n_voters=profile.n_voters, meta=profile.meta)
