"""Parsers of the command-line options that several commands share (the one ``--k`` syntax,
``--methods``, ``--display``, ``--m``): text in, checked values out, a ``ValueError`` naming the
option, the expected form and the position otherwise. Option parsing only; the values are
checked again by the library functions they are passed to."""

from __future__ import annotations

from ualign.core.checks import DISPLAYS
from ualign.report.compare import COMPARE_METHODS

__all__ = ["MAX_K", "parse_display", "parse_ks", "parse_methods", "parse_ms"]

MAX_K = 1024  # the largest k any --k accepts (parse_ks): a huge range is a one-line error


def parse_display(spec: str, name: str = "--display", both: bool = True) -> tuple[str, ...]:
    """``"multiset"``, ``"distinct"`` or (``both``) ``"both"`` (any case, spaces around) -> the
    displays, in :data:`ualign.core.checks.DISPLAYS` order; the one ``--display`` parser and
    error of every command (``both=False``: a command that selects for one display, such as
    ``select``, which says why ``both`` is refused)."""
    d = spec.strip().lower() if isinstance(spec, str) else spec
    names = ", ".join(DISPLAYS) + (", both" if both else "")
    if d == "both" and not both:
        raise ValueError(f"{name} must be one of {names}, got {spec!r}: this command selects "
                         f"the k responses for one display (its results report win rates "
                         f"under both); run it once per display, each with its own --out")
    if d == "both":
        return DISPLAYS
    if d in DISPLAYS:
        return (d,)
    raise ValueError(f"{name} must be one of {names}, got {spec!r}")


def _range(item: str) -> tuple[int, int]:
    """``"4"`` -> (4, 4); ``"1..8"`` or ``"1-8"`` -> (1, 8); ``ValueError`` otherwise."""
    if ".." in item:
        lo, _, hi = item.partition("..")
    elif "-" in item[1:]:  # a leading "-" is a sign: "-1" is the (out of bounds) k = -1
        cut = item.index("-", 1)
        lo, hi = item[:cut], item[cut + 1:]
    else:
        lo = hi = item
    a, b = int(lo), int(hi)
    if a > b:
        raise ValueError
    return a, b


def parse_ks(spec: str, name: str = "--k") -> tuple[int, ...]:
    """The one ``--k`` syntax of every command: ``"1..16"`` or ``"1-16"`` (ranges), ``"1,2,4,8"``
    or a mix (``"1..4,8,16-20"``) -> sorted distinct ks in [1, :data:`MAX_K`]."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{name} must be a list like 1..16 or 1,2,4,8, got {spec!r}")
    ks: set[int] = set()
    for pos, item in enumerate(spec.split(",")):
        item = item.strip()
        try:
            lo, hi = _range(item)
        except ValueError:
            raise ValueError(f"{name} must be a list like 1..16, 1-16 or 1,2,4,8 (ranges lo..hi "
                             f"or lo-hi with lo <= hi), got {spec!r}: cannot read item {item!r} "
                             f"at position {pos}") from None
        for k in (lo, hi):
            if not 1 <= k <= MAX_K:
                raise ValueError(f"{name} values must be integers in [1, {MAX_K}], got {k} in "
                                 f"item {item!r} at position {pos}")
        ks.update(range(lo, hi + 1))
    return tuple(sorted(ks))


def parse_methods(spec: str, name: str = "--methods",
                  allowed: tuple[str, ...] = COMPARE_METHODS) -> tuple[str, ...]:
    """``"rlhf,nlhf,ualign,kset"`` (any subset of ``allowed``, any order, no repeats) -> method
    names (``allowed``: the methods of ``ualign compare`` unless given)."""
    out: list[str] = []
    for pos, item in enumerate(str(spec).split(",")):
        m = item.strip().lower()
        if m not in allowed:
            raise ValueError(f"{name} must be a comma-separated subset of {','.join(allowed)}, "
                             f"got unknown method {item.strip()!r} at position {pos}")
        if m in out:
            raise ValueError(f"{name} lists {m!r} twice (position {pos})")
        out.append(m)
    return tuple(out)


def parse_ms(spec: str, name: str = "--m") -> tuple[int, ...]:
    """``"0,1,2,4"`` (or ranges ``"0..4"``) -> sorted distinct integers >= 0 (numbers of revealed
    ratings)."""
    out: set[int] = set()
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{name} must be a list like 0,1,2,4,8,16, got {spec!r}")
    for pos, item in enumerate(spec.split(",")):
        item = item.strip()
        try:
            if ".." in item:
                lo, hi = (int(v) for v in item.split(".."))
                if lo > hi:
                    raise ValueError
                vals = range(lo, hi + 1)
            else:
                vals = range(int(item), int(item) + 1)
        except ValueError:
            raise ValueError(f"{name} must be a list like 0,1,2,4,8,16 (ranges lo..hi with "
                             f"lo <= hi), got {spec!r}: cannot read item {item!r} at position "
                             f"{pos}") from None
        for v in vals:
            if v < 0:
                raise ValueError(f"{name} values must be integers >= 0, got {v} at position "
                                 f"{pos}")
            out.add(v)
    return tuple(sorted(out))
