"""Printing user data (labels, statement texts, paths, method names read from files) safely:
the CLI, and the text matplotlib draws (``report.plots.literal``).

Data can hold Rich markup (``[/bold]`` raises ``MarkupError``; the Polis text
``see [url removed] here`` loses its brackets) and terminal escapes (ANSI colours, OSC 8
hyperlinks, a bell, bidirectional overrides). Every place the CLI prints such text goes through
one of these two functions:

- :func:`plain` for ``print``: control characters (C0 but none, DEL, C1, U+2028/U+2029 and the
  bidirectional controls) are shown as Python escapes (``\\x1b``), so nothing reaches the
  terminal as a command;
- :func:`markup` for Rich (tables, titles, progress descriptions): :func:`plain`, then
  Rich's own ``escape`` so brackets print as written.
"""

from __future__ import annotations

import re

__all__ = ["markup", "plain"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _show(m: re.Match) -> str:
    o = ord(m.group())
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def plain(text) -> str:
    """``str(text)`` with every control character written as a visible escape."""
    return _CONTROL.sub(_show, str(text))


def markup(text) -> str:
    """:func:`plain`, escaped for Rich markup (brackets print as they are). The result is a
    whole Rich string: do not put a markup tag right after it (a trailing backslash is kept
    as it is, which Rich prints literally at the end of a string)."""
    from rich.markup import escape

    s = plain(text)
    body = s.rstrip("\\")
    return escape(body) + s[len(body):]
