"""PrefLib's text formats: ``.soc`` (strict complete), ``.soi`` (strict incomplete), ``.toc``
(complete with ties), ``.toi`` (incomplete with ties).

A file is a header of ``# KEY: value`` lines followed by data lines ``count: order``, where the
order lists alternatives (numbered from 1) best first, separated by commas, and ``{a,b}`` is a
class of tied alternatives. Alternatives a voter left out are *unranked*; ualign places them in
one tied class below every ranked alternative (PrefLib's own ``soi -> toc`` rule) and remembers
how many were ranked (``Profile.n_ranked``), so that writing a profile that was read reproduces
the file byte for byte.

**Escaping.** Header keys and values (labels, metadata) are written with backslash escapes so
that no text can add a line to the file or change its meaning: a line feed is written ``\\n``, a
carriage return ``\\r``, any other control character (C0, DEL, C1 such as U+0085) ``\\xHH``,
the line and paragraph separators U+2028/U+2029 ``\\uHHHH``, a ``:`` in a key ``\\x3a``, and a
backslash that would otherwise be read as the start of one of these escapes ``\\\\``.
:func:`read_preflib` reverses exactly these escapes (``\\\\``, ``\\n``, ``\\r``, ``\\xHH``,
``\\uHHHH``); any other backslash is literal, so files without such sequences (all of PrefLib's)
read as before and round-trip byte for byte. A file that needed an escape says so in a header
line ``# ESCAPES: ualign``; only such files are unescaped, so a backslash in a file from
elsewhere (a label ``C:\\new``) stays literal. Only ``\\n`` separates lines (a trailing
``\\r`` is dropped); a UTF-8 byte-order mark is skipped.

**Checks.** Counts are positive integers at most 2**53 (exact as floats); when the header gives
``NUMBER VOTERS`` or ``NUMBER UNIQUE ORDERS``, the data lines must agree (a file cut at a line
boundary is caught); ``ALTERNATIVE NAME`` numbers lie in ``1..n``, each given once. Names may
repeat (labels are display names: ``Profile.restrict`` repeats a column's, and PrefLib's own
tools read such files), so what :func:`write_preflib` writes reads back. Every error is a
``ValueError`` naming the file (``file:line:`` where a line is at fault).

References: https://www.preflib.org/format
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ualign.core._atomic import atomic_write_text
from ualign.core.checks import check_nonneg, check_path, check_profile, check_size
from ualign.core.profile import Profile

__all__ = ["read_preflib", "write_preflib"]

DATA_TYPES = ("soc", "soi", "toc", "toi")
_HEADER = re.compile(r"^#\s*([^:]+?)\s*:\s?(.*)$")
_ALT = re.compile(r"^ALTERNATIVE NAME (\d+)$")
_COMPUTED = ("NUMBER ALTERNATIVES", "NUMBER VOTERS", "NUMBER UNIQUE ORDERS")
MAX_COUNT = 2 ** 53
"""The largest count a data line may hold (integers up to 2**53 are exact in float64)."""
_MARK = "# ESCAPES: ualign"
"""The header line of a file whose labels and values use ualign's backslash escapes."""
_UNESCAPE = re.compile(r"\\(\\|n|r|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")
_ESCAPE_AHEAD = re.compile(r"\\|n|r|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}")


def _special(c: str) -> bool:
    """Characters written as escapes: control characters but tab, and U+2028/U+2029."""
    o = ord(c)
    return (o < 0x20 and c != "\t") or 0x7F <= o <= 0x9F or c in "\u2028\u2029"


def _escape(text: str, extra: str = "") -> str:
    """``text`` with every line-breaking or control character (and ``extra``) escaped; a
    backslash is doubled only where it would otherwise start an escape."""
    out = []
    for i, c in enumerate(text):
        if c == "\\":
            nxt = text[i + 1:i + 2]
            ahead = nxt and (_special(nxt) or nxt in extra or _ESCAPE_AHEAD.match(text, i + 1))
            out.append("\\\\" if ahead else "\\")
        elif _special(c) or c in extra:
            out.append({"\n": "\\n", "\r": "\\r"}.get(c) or
                       (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"))
        else:
            out.append(c)
    return "".join(out)


def _unescape(text: str) -> str:
    """Reverse :func:`_escape` (``\\\\``, ``\\n``, ``\\r``, ``\\xHH``, ``\\uHHHH``)."""
    if "\\" not in text:
        return text

    def one(m: re.Match) -> str:
        e = m.group(1)
        return {"\\": "\\", "n": "\n", "r": "\r"}.get(e) or chr(int(e[1:], 16))

    return _UNESCAPE.sub(one, text)


def _decode(data: bytes, path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x} at column "
                         f"{col}); PrefLib files are UTF-8 text") from None


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
        while s[i] == " ":
            i += 1
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

    Examples:
      A round trip through a temporary file (``write_preflib``):

      >>> import tempfile, pathlib
      >>> from ualign import Profile, read_preflib, write_preflib
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1], n_voters=4,
      ...                           labels=["a", "b", "c"])
      >>> path = write_preflib(P, pathlib.Path(tempfile.mkdtemp()) / "tiny.soc")
      >>> Q = read_preflib(path)
      >>> Q.levels.tolist(), Q.weights.tolist(), Q.n_voters, Q.labels
      ([[0, 1, 2], [2, 1, 0]], [0.75, 0.25], 4.0, ('a', 'b', 'c'))
    """
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"PrefLib file not found: {path}")
    meta: dict[str, str] = {}
    meta_line: dict[str, int] = {}
    names: dict[int, str] = {}
    name_line: dict[int, int] = {}
    rows: list[tuple[int, int, list[list[int]]]] = []
    lines = _decode(path.read_bytes(), path).split("\n")
    # Escapes are read only in files that say they use them (what write_preflib writes when a
    # label or value needed one); in any other file every backslash is literal (C:\new).
    escaped = any(line.rstrip("\r") == _MARK for line in lines if line.startswith("#"))
    unescape = _unescape if escaped else str
    n = None
    data_type = path.suffix.lstrip(".").lower()
    for lineno, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            m = _HEADER.match(line)
            if not m:
                raise ValueError(f"{path}:{lineno}: malformed header line {line!r}")
            if line == _MARK:                # ("\r" already removed above)
                continue
            key, value = unescape(m.group(1).strip()), unescape(m.group(2))
            am = _ALT.match(key)
            if am:
                a = int(am.group(1))
                if a in names:
                    raise ValueError(f"{path}:{lineno}: ALTERNATIVE NAME {a} is given twice "
                                     f"(first at line {name_line[a]})")
                names[a], name_line[a] = value, lineno
            else:
                meta[key], meta_line[key] = value, lineno
            continue
        if n is None:
            n = _number_of_alternatives(meta, meta_line, names, name_line, path, lineno)
            data_type = meta.get("DATA TYPE", data_type).strip().lower()
            if data_type not in DATA_TYPES:
                raise ValueError(f"{path}:{meta_line.get('DATA TYPE', lineno)}: unknown PrefLib "
                                 f"data type {data_type!r}; expected one of "
                                 f"{', '.join(DATA_TYPES)}")
        count_text, sep, order_text = line.partition(":")
        if not sep:
            raise ValueError(f"{path}:{lineno}: expected 'count: order', got {line!r}")
        count_text = count_text.strip()
        if not count_text.isdigit() or len(count_text) > 16 or not \
                0 < int(count_text) <= MAX_COUNT:
            raise ValueError(f"{path}:{lineno}: count must be a positive integer at most 2**53 "
                             f"({MAX_COUNT}), got {count_text[:40]!r}")
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
    total = sum(r[0] for r in rows)
    if total > MAX_COUNT:
        raise ValueError(f"{path}: the counts sum to {total}, more than 2**53 ({MAX_COUNT})")
    _check_header_counts(meta, meta_line, total, len(rows), path)
    U = len(rows)
    # levels (int64) and the Profile's copies of them, plus one label string per alternative
    check_size(8 * U * n * 4 + (80 * n if names else 0),
               f"{path}: a profile of {U} orders x {n} alternatives")
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


def _check_header_counts(meta, meta_line, total: int, n_lines: int, path) -> None:
    """``NUMBER VOTERS`` / ``NUMBER UNIQUE ORDERS``, when given, must match the data lines."""
    for key, actual, what in (("NUMBER VOTERS", total, "the data lines count"),
                              ("NUMBER UNIQUE ORDERS", n_lines, "the file has")):
        v = meta.get(key, "").strip()
        if key in meta and not v.isdigit():
            raise ValueError(f"{path}:{meta_line[key]}: {key} must be a non-negative integer, "
                             f"got {v[:40]!r}")
        if v and int(v) != actual:
            unit = "voters" if key == "NUMBER VOTERS" else "data lines"
            why = ("is the file truncated?" if int(v) > actual
                   else "the data holds more than the header says")
            raise ValueError(f"{path}: {key} says {int(v)}, {what} {actual} {unit} ({why})")


def _number_of_alternatives(meta, meta_line, names, name_line, path, lineno) -> int:
    if "NUMBER ALTERNATIVES" in meta:
        v = meta["NUMBER ALTERNATIVES"].strip()
        if not v.isdigit() or int(v) < 1:
            raise ValueError(f"{path}:{meta_line['NUMBER ALTERNATIVES']}: NUMBER ALTERNATIVES "
                             f"must be a positive integer, got {v[:40]!r}")
        n = int(v)
    elif names:
        n = max(names)
        if len(names) != n:
            raise ValueError(f"{path}:{lineno}: without NUMBER ALTERNATIVES, the ALTERNATIVE "
                             f"NAME lines must number 1..n; they name {len(names)} alternatives "
                             f"up to {n}")
    else:
        raise ValueError(f"{path}:{lineno}: data before the header says how many alternatives "
                         f"there are (NUMBER ALTERNATIVES or ALTERNATIVE NAME lines)")
    for a in sorted(names):
        if not 1 <= a <= n:
            raise ValueError(f"{path}:{name_line[a]}: ALTERNATIVE NAME {a} is outside 1..{n}")
    return n


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
    labels = profile.labels or tuple(str(i + 1) for i in range(n))
    raw = [(str(k), str(computed.get(k, v))) for k, v in meta.items()]
    raw += [(f"ALTERNATIVE NAME {i + 1}", str(name)) for i, name in enumerate(labels)]
    escaped = [(_escape(k, ":"), _escape(v)) for k, v in raw]
    return [_MARK] * (escaped != raw) + [f"# {k}: {v}" for k, v in escaped]


def write_preflib(profile: Profile, path: str | os.PathLike, *, data_type: str | None = None,
                  n_voters: float | None = None) -> Path:
    """Write a profile in PrefLib's format; returns the path written.

    Counts are ``weights * n_voters`` (``n_voters`` defaults to the profile's own, e.g. from
    :func:`read_preflib`) and must come out as positive integers. ``data_type`` defaults to
    the file's suffix, then to the narrowest type that holds the profile. Labels and metadata
    are escaped (see the module docstring) and :func:`read_preflib` reverses it. The file is
    written atomically: to a hidden temporary file in the same folder, renamed into place,
    and removed if anything fails (one left by a killed write is swept after an hour).

    Examples:
      >>> import tempfile, pathlib
      >>> from ualign import Profile, write_preflib
      >>> P = Profile.from_rankings([[0, 1, 2], [2, 1, 0]], weights=[3, 1], n_voters=4,
      ...                           labels=["a", "b", "c"])
      >>> path = write_preflib(P, pathlib.Path(tempfile.mkdtemp()) / "tiny.soc")
      >>> print(path.read_text(), end="")
      # DATA TYPE: soc
      # NUMBER ALTERNATIVES: 3
      # NUMBER VOTERS: 4
      # NUMBER UNIQUE ORDERS: 2
      # ALTERNATIVE NAME 1: a
      # ALTERNATIVE NAME 2: b
      # ALTERNATIVE NAME 3: c
      3: 1,2,3
      1: 3,2,1
    """
    profile = check_profile(profile)
    path = Path(check_path(path))
    if n_voters is not None:
        n_voters = check_nonneg(n_voters, "n_voters")
    rounded = _voter_counts(profile, n_voters)
    if data_type is None:
        suffix = path.suffix.lstrip(".").lower()
        data_type = suffix if suffix in DATA_TYPES else _narrowest_type(profile)
    if data_type not in DATA_TYPES:
        raise ValueError(f"data_type must be one of {', '.join(DATA_TYPES)}, got {data_type!r}")
    body = [f"{int(rounded[u])}: {_order_line(profile, u, data_type)}"
            for u in range(profile.n_users)]
    text = "\n".join(_header(profile, data_type, int(rounded.sum())) + body) + "\n"
    return atomic_write_text(path, text)


def _narrowest_type(profile: Profile) -> str:
    lv = profile.levels
    top = lv.max(axis=1)
    strict = bool(np.all(top == profile.n_responses - 1))
    return "soc" if strict else "toc"
