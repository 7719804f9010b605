"""PrefLib's text formats: ``.soc`` (strict complete), ``.soi`` (strict incomplete), ``.toc``
(complete with ties), ``.toi`` (incomplete with ties).

A file is a header of ``# KEY: value`` lines followed by data lines ``count: order``, where the
order lists alternatives (numbered from 1) best first, separated by commas, and ``{a,b}`` is a
class of tied alternatives. Alternatives a voter left out are *unranked*; ualign places them in
one tied class below every ranked alternative (PrefLib's own ``soi -> toc`` rule) and remembers
how many were ranked (``Profile.n_ranked``), so that writing a profile that was read reproduces
the file byte for byte.

References: https://www.preflib.org/format
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ualign.core.profile import Profile

__all__ = ["read_preflib", "write_preflib"]

DATA_TYPES = ("soc", "soi", "toc", "toi")
_HEADER = re.compile(r"^#\s*([^:]+?)\s*:\s?(.*)$")
_ALT = re.compile(r"^ALTERNATIVE NAME (\d+)$")
_COMPUTED = ("NUMBER ALTERNATIVES", "NUMBER VOTERS", "NUMBER UNIQUE ORDERS")


def _parse_order(text: str, n: int, path, lineno: int) -> list[list[int]]:
    """``'3,{1,2},5'`` -> ``[[2], [0, 1], [4]]`` (0-based classes, best first)."""
    classes: list[list[int]] = []
    seen: set[int] = set()
    i, s = 0, text.strip()
    if not s:
        return classes

    def alt(tok: str) -> int:
        tok = tok.strip()
        if not tok.isdigit():
            raise ValueError(f"{path}:{lineno}: expected an alternative number, got {tok!r}")
        a = int(tok)
        if not 1 <= a <= n:
            raise ValueError(f"{path}:{lineno}: alternative {a} is outside 1..{n}")
        if a in seen:
            raise ValueError(f"{path}:{lineno}: alternative {a} appears twice")
        seen.add(a)
        return a - 1

    while i < len(s):
        if s[i] == "{":
            j = s.find("}", i)
            if j < 0:
                raise ValueError(f"{path}:{lineno}: unclosed '{{' in {text!r}")
            inner = s[i + 1:j]
            if not inner.strip():
                raise ValueError(f"{path}:{lineno}: empty tie class '{{}}'")
            classes.append([alt(t) for t in inner.split(",")])
            i = j + 1
        else:
            j = s.find(",", i)
            j = len(s) if j < 0 else j
            if "{" in s[i:j] or "}" in s[i:j]:
                raise ValueError(f"{path}:{lineno}: malformed order {text!r}")
            classes.append([alt(s[i:j])])
            i = j
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s):
            if s[i] != ",":
                raise ValueError(f"{path}:{lineno}: expected ',' at character {i + 1} of "
                                 f"{text!r}")
            i += 1
            if i >= len(s):
                raise ValueError(f"{path}:{lineno}: trailing ',' in {text!r}")
    return classes


def read_preflib(path: str | os.PathLike) -> Profile:
    """Read a PrefLib ``.soc/.soi/.toc/.toi`` file into a :class:`Profile`.

    Weights are the line counts normalised to sum 1 (``n_voters`` keeps the total); labels are the
    ``ALTERNATIVE NAME`` entries; the other header fields are kept in ``meta``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PrefLib file not found: {path}")
    meta: dict[str, str] = {}
    names: dict[int, str] = {}
    rows: list[tuple[int, int, list[list[int]]]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    n = None
    data_type = path.suffix.lstrip(".").lower()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = _HEADER.match(line)
            if not m:
                raise ValueError(f"{path}:{lineno}: malformed header line {line!r}")
            key, value = m.group(1).strip(), m.group(2)
            am = _ALT.match(key)
            if am:
                names[int(am.group(1))] = value
            else:
                meta[key] = value
            continue
        if n is None:
            n = _number_of_alternatives(meta, names, path, lineno)
            data_type = meta.get("DATA TYPE", data_type).strip().lower()
            if data_type not in DATA_TYPES:
                raise ValueError(f"{path}: unknown PrefLib data type {data_type!r}; expected one "
                                 f"of {', '.join(DATA_TYPES)}")
        count_text, sep, order_text = line.partition(":")
        if not sep:
            raise ValueError(f"{path}:{lineno}: expected 'count: order', got {line!r}")
        count_text = count_text.strip()
        if not count_text.isdigit() or int(count_text) <= 0:
            raise ValueError(f"{path}:{lineno}: count must be a positive integer, got "
                             f"{count_text!r}")
        classes = _parse_order(order_text, n, path, lineno)
        n_ranked = sum(len(c) for c in classes)
        if data_type in ("soc", "soi") and any(len(c) > 1 for c in classes):
            raise ValueError(f"{path}:{lineno}: ties are not allowed in a .{data_type} file")
        if data_type in ("soc", "toc") and n_ranked != n:
            raise ValueError(f"{path}:{lineno}: a .{data_type} order must rank all {n} "
                             f"alternatives, got {n_ranked}")
        rows.append((int(count_text), n_ranked, classes))
    if n is None:
        raise ValueError(f"{path}: no data lines (the profile is empty)")
    U = len(rows)
    levels = np.empty((U, n), dtype=np.int64)
    for u, (_, _, classes) in enumerate(rows):
        levels[u, :] = len(classes)  # unranked: one class below every ranked one
        for c, members in enumerate(classes):
            levels[u, members] = c
    counts = np.array([r[0] for r in rows], dtype=float)
    labels = tuple(names.get(i, str(i)) for i in range(1, n + 1)) if names else None
    meta["DATA TYPE"] = meta.get("DATA TYPE", data_type)
    meta["source"] = str(path)
    return Profile(levels=levels, weights=counts, labels=labels,
                   n_ranked=np.array([r[1] for r in rows]), n_voters=counts.sum(), meta=meta)


def _number_of_alternatives(meta, names, path, lineno) -> int:
    if "NUMBER ALTERNATIVES" in meta:
        v = meta["NUMBER ALTERNATIVES"].strip()
        if not v.isdigit() or int(v) < 1:
            raise ValueError(f"{path}: NUMBER ALTERNATIVES must be a positive integer, got {v!r}")
        return int(v)
    if names:
        return max(names)
    raise ValueError(f"{path}:{lineno}: data before the header says how many alternatives "
                     f"there are (NUMBER ALTERNATIVES or ALTERNATIVE NAME lines)")


def _format_class(members) -> str:
    items = ",".join(str(int(a) + 1) for a in sorted(members))
    return items if len(members) == 1 else "{" + items + "}"


def _voter_counts(profile: Profile, n_voters: float | None) -> np.ndarray:
    """``weights * n_voters`` as positive integers (``(U,)`` float), or raise."""
    total = n_voters if n_voters is not None else profile.n_voters
    if total is None:
        raise ValueError("write_preflib needs voter counts: pass n_voters= (the number of voters "
                         "the profile's weights are shares of)")
    counts = profile.weights * float(total)
    rounded = np.rint(counts)
    bad = np.flatnonzero((np.abs(counts - rounded) > 1e-6 * np.maximum(1, counts))
                         | (rounded < 1))
    if bad.size:
        raise ValueError(f"n_voters={total} does not make row {bad[0]}'s count a positive "
                         f"integer (got {counts[bad[0]]})")
    return rounded


def _order_line(profile: Profile, u: int, data_type: str) -> str:
    """Row ``u``'s ranked classes in PrefLib syntax (``1,{2,3},4``), checked against
    ``data_type``."""
    n = profile.n_responses
    lv = profile.levels[u]
    classes = [np.flatnonzero(lv == c) for c in range(int(lv.max()) + 1)]
    if profile.n_ranked is not None:
        keep = int(profile.n_ranked[u])
    elif data_type in ("soi", "toi") and len(classes[-1]) > 1:
        keep = n - len(classes[-1])
    else:
        keep = n
    shown, m = [], 0
    for c in classes:
        if m >= keep:
            break
        shown.append(c)
        m += len(c)
    if m != keep:
        raise ValueError(f"row {u}: n_ranked={keep} does not end at a level boundary")
    if data_type in ("soc", "soi") and any(len(c) > 1 for c in shown):
        raise ValueError(f"row {u} has ties; they cannot be written as .{data_type}")
    if data_type in ("soc", "toc") and keep != n:
        raise ValueError(f"row {u} ranks {keep} of {n} alternatives; .{data_type} needs all")
    return ",".join(_format_class(c) for c in shown)


def _header(profile: Profile, data_type: str, n_total: int) -> list[str]:
    """The ``# KEY: value`` lines: the profile's metadata (counts recomputed) and names."""
    n = profile.n_responses
    meta = {k: v for k, v in profile.meta.items() if k != "source"}
    meta["DATA TYPE"] = data_type
    computed = {"NUMBER ALTERNATIVES": str(n), "NUMBER VOTERS": str(n_total),
                "NUMBER UNIQUE ORDERS": str(profile.n_users)}
    if not any(k in meta for k in _COMPUTED):
        meta.update(computed)
    header = [f"# {k}: {computed.get(k, v)}" for k, v in meta.items()]
    labels = profile.labels or tuple(str(i + 1) for i in range(n))
    return header + [f"# ALTERNATIVE NAME {i + 1}: {name}" for i, name in enumerate(labels)]


def write_preflib(profile: Profile, path: str | os.PathLike, *, data_type: str | None = None,
                  n_voters: float | None = None) -> Path:
    """Write a profile in PrefLib's format; returns the path written.

    Counts are ``weights * n_voters`` (``n_voters`` defaults to the profile's own, e.g. from
    :func:`read_preflib`) and must come out as positive integers. ``data_type`` defaults to
    the file's suffix, then to the narrowest type that holds the profile. The file is written
    atomically.
    """
    path = Path(path)
    rounded = _voter_counts(profile, n_voters)
    if data_type is None:
        suffix = path.suffix.lstrip(".").lower()
        data_type = suffix if suffix in DATA_TYPES else _narrowest_type(profile)
    if data_type not in DATA_TYPES:
        raise ValueError(f"data_type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    body = [f"{int(rounded[u])}: {_order_line(profile, u, data_type)}"
            for u in range(profile.n_users)]
    text = "\n".join(_header(profile, data_type, int(rounded.sum())) + body) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _narrowest_type(profile: Profile) -> str:
    lv = profile.levels
    top = lv.max(axis=1)
    strict = bool(np.all(top == profile.n_responses - 1))
    return "soc" if strict else "toc"
