"""What the commands print beside their numbers: Rich tables at a width that does not break
words when standard output is not a terminal, and the one sentence that says who the users of
a Polis population are (``info`` and ``serve`` count participants by different rules)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable

__all__ = ["PIPE_MAX_WIDTH", "PIPE_MIN_WIDTH", "pipe_width", "polis_population_rule",
           "print_tables", "read_polis_rule"]

PIPE_MIN_WIDTH = 80  # the narrowest output to a file or a pipe
PIPE_MAX_WIDTH = 160  # the width a command splits its tables to when writing to one


def pipe_width(renderables: Iterable) -> int:
    """The width at which ``renderables`` (Rich tables) print to a file or a pipe: their
    natural width, at which no cell or header wraps (Rich's narrower layouts shrink every
    column in proportion and can cut a word in two), at least :data:`PIPE_MIN_WIDTH`.
    Commands whose tables grow with their options split them to :data:`PIPE_MAX_WIDTH`."""
    from rich.console import Console

    wide = Console(width=10_000)
    return max([PIPE_MIN_WIDTH, *(wide.measure(r).maximum for r in renderables)])


def print_tables(renderables, console=None) -> None:
    """Print Rich ``renderables`` on standard output: at the terminal's width on a terminal;
    else (a file, a pipe, ``| less``) at :func:`pipe_width`, where Rich would otherwise squeeze
    them into 80 columns and fold headers mid-word (``kset-dis`` / ``tinct ms``)."""
    from rich.console import Console

    renderables = list(renderables)
    console = console or Console()
    if not console.is_terminal:
        console = Console(width=pipe_width(renderables))
    for r in renderables:
        console.print(r)


def _default(fn, name: str):
    return inspect.signature(fn).parameters[name].default


def polis_population_rule(spec: str | None = None) -> str:
    """Who the users of a ``polis:`` population are (the population of ``select``, ``serve``
    and ``train``; ``spec``: its command-line spec, whose ``min_votes=`` is read when given):
    participants with at least ``min_votes`` agree/disagree votes, passes not counted. Not the
    rule of :func:`ualign.data.read_polis` (the profile of ``info``, ``compare`` and
    ``reproduce``), which counts passes and keeps 7 by default."""
    found = re.search(r"(?:^|,)min_votes=(\d+)", spec or "")
    if found:
        n = found.group(1)
    else:
        try:
            from ualign.llm.populations.votes import VotePopulation
        except ImportError:             # the llm extra is not installed
            n = None
        else:
            n = _default(VotePopulation.from_polis, "min_votes")
    at_least = "min_votes" if n is None else f"{n}"
    return (f"the polis: populations of ualign select / serve / train keep participants with at "
            f"least {at_least} agree or disagree votes (min_votes; passes do not count)")


def read_polis_rule() -> str:
    """Who the voters of a Polis profile are (:func:`ualign.data.read_polis`, its default)."""
    from ualign.data import read_polis

    return (f"ualign info / compare / reproduce read the conversation with read_polis, which "
            f"keeps participants with at least {_default(read_polis, 'min_votes')} votes "
            f"(min_votes; passes count)")
