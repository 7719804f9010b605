"""The claim registry: what a claim is (:class:`ClaimSpec`), how one is measured and presented
(:func:`run_claim`), and the ordered list of registered claims (:func:`register`,
:func:`registered`).

A claim is one :class:`ClaimSpec`: its text, a pure ``measure(config, tick) -> rows`` returning
typed NamedTuple rows, the presentation built from those rows by field name only, and the
configuration ``ualign reproduce`` gives it, full (``default(run)``) and ``--quick``
(``quick(run)``), ``run`` being the :class:`~ualign.report.reproduce.ReproduceConfig`. A section
module builds its specs and calls :func:`register` once per claim; the report orders the claims
by their keys, roman numerals (i, ii, ..., xi), whatever the order the modules are imported in.

References: STYLE.md rules 12 (one registration) and 13 (measurement apart from presentation).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ualign.report._overrides import with_overrides
from ualign.report.plots import Plot
from ualign.report.results import ClaimRow

__all__ = ["ClaimSpec", "Tick", "as_rng", "every_case_passes", "register", "registered",
           "roman_value", "run_claim", "tick_message"]

Tick = Callable[[str], None] | None


def tick_message(tick: Tick, msg: str) -> None:
    """Call ``tick(msg)`` when a progress callback is given."""
    if tick is not None:
        tick(msg)


def as_rng(seed) -> np.random.Generator:
    """``seed`` itself when it is a Generator, else a fresh one seeded by it."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclasses.dataclass(frozen=True)
class ClaimSpec:
    """One claim: its text, how it is measured, how its rows are presented, and its inputs in
    ``ualign reproduce``.

    Attributes:
      key: the claim's number, ``"i"`` .. ``"xi"``.
      title: a short name.
      statement: the claim with its bound as THEORY.md states it; ``{c.<field>}`` is filled
        from the claim's config (``str.format(c=config)``).
      reference: where it is stated (``THEORY.md §4``).
      bound: the bound checked, in one line.
      columns: the per-case table, ``(row field, heading)`` pairs; a field may be a property of
        the row type.
      measure: ``measure(config, tick) -> rows``: the measurement, NamedTuple rows.
      verdict: ``verdict(rows) -> bool``.
      summary: ``summary(rows) -> str``, the one-line measured value.
      plots: ``plots(rows, config) -> tuple[Plot, ...]``.
      instance: ``instance(config, rows) -> str``, the instance(s) measured, in words.
      default: ``default(run) -> config``: the claim's inputs in a full ``ualign reproduce``
        (``run``: the :class:`~ualign.report.reproduce.ReproduceConfig`: seed, data folder).
      quick: ``quick(run) -> config``: the same under ``--quick`` (the tests' size).
      notes: how it was measured, caveats.
    """

    key: str
    title: str
    statement: str
    reference: str
    bound: str
    columns: tuple[tuple[str, str], ...]
    measure: Callable[[Any, Tick], Sequence[Any]]
    verdict: Callable[[Sequence[Any]], bool]
    summary: Callable[[Sequence[Any]], str]
    plots: Callable[[Sequence[Any], Any], tuple[Plot, ...]]
    instance: Callable[[Any, Sequence[Any]], str]
    default: Callable[[Any], Any]
    quick: Callable[[Any], Any]
    notes: str = ""

    def configure(self, run) -> Any:
        """The claim's config for the run ``run``: :attr:`quick` or :attr:`default`, then
        ``run.overrides[key]`` (field -> value) applied with ``dataclasses.replace``; a field
        the config does not have is a ``ValueError`` naming it."""
        config = (self.quick if run.quick else self.default)(run)
        return with_overrides(config, run.overrides.get(self.key, {}), self.key)


_REGISTRY: list[ClaimSpec] = []
_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50}


def roman_value(key: str) -> int:
    """The number a claim key writes in lower-case roman numerals (``"iv"`` -> 4); a key that
    is not one (``"IV"``, ``"iiii"``, ``"4"``) is a ``ValueError``."""
    if not isinstance(key, str) or not key or any(ch not in _ROMAN for ch in key):
        raise ValueError(f"a claim key must be a lower-case roman numeral (i, ii, ..., xi), "
                         f"got {key!r}")
    total = 0
    for i, ch in enumerate(key):
        v = _ROMAN[ch]
        total += -v if i + 1 < len(key) and _ROMAN[key[i + 1]] > v else v
    if _roman_text(total) != key:
        raise ValueError(f"a claim key must be a lower-case roman numeral in canonical form "
                         f"(i, ii, ..., xi), got {key!r}")
    return total


def _roman_text(v: int) -> str:
    out = ""
    for value, text in ((50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"),
                        (1, "i")):
        while v >= value:
            out, v = out + text, v - value
    return out


def register(spec: ClaimSpec) -> ClaimSpec:
    """Add ``spec`` to the report (its key, a roman numeral, places it); returns it. A key
    registered twice, or one that is not a roman numeral, is a ``ValueError``."""
    roman_value(spec.key)
    if any(s.key == spec.key for s in _REGISTRY):
        raise ValueError(f"claim key {spec.key!r} is already registered")
    _REGISTRY.append(spec)
    return spec


def registered() -> tuple[ClaimSpec, ...]:
    """Every registered claim, in report order (by key: i, ii, ..., xi)."""
    return tuple(sorted(_REGISTRY, key=lambda s: roman_value(s.key)))


def run_claim(spec: ClaimSpec, config, tick: Tick = None) -> ClaimRow:
    """Measure ``spec`` with ``config`` and present its rows as a :class:`ClaimRow` (the table,
    verdict, summary and plots are built from the rows by field name)."""
    t0 = time.perf_counter()
    rows = tuple(spec.measure(config, tick))
    fields = [f for f, _ in spec.columns]
    return ClaimRow(
        key=spec.key, title=spec.title, statement=spec.statement.format(c=config),
        reference=spec.reference, instance=spec.instance(config, rows),
        columns=tuple(h for _, h in spec.columns),
        cases=tuple(tuple(getattr(r, f) for f in fields) for r in rows),
        measured=spec.summary(rows), bound=spec.bound, tolerance=config.tol,
        passed=spec.verdict(rows), plots=spec.plots(rows, config), notes=spec.notes,
        seconds=time.perf_counter() - t0, rows=rows)


def every_case_passes(rows) -> bool:
    """PASS when every judged case passes (``passed is None``: shown, not judged)."""
    return all(r.passed for r in rows if r.passed is not None)
