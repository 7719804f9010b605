"""One progress display for the long commands (``compare``, ``personalise``, ``reproduce``).

On a terminal it is a Rich bar on standard error that disappears when the work is done. When
standard error is not a terminal (a log file, ``nohup``, CI), a Rich bar prints nothing at all,
so a run of a minute would be silent: there a plain line ``compare: 12/90 cc k=4 (15 s)`` is
written at most every :data:`PLAIN_EVERY` seconds, and a last ``done`` line if any was written.
Runs shorter than that write nothing, which keeps the standard error of quick runs (and of
errors, one line) as it was. Descriptions are user data: they are escaped (``ualign._text``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

from ualign._text import markup, plain

__all__ = ["PLAIN_EVERY", "Ticker", "progress"]

PLAIN_EVERY = 10.0  # seconds between plain progress lines when stderr is not a terminal


class Ticker:
    """What a long command calls as its work goes on: ``step(description, advance=1)``."""

    def __init__(self, title: str, total: int):
        self.title, self.total, self.completed = title, total, 0
        self.description = title
        self.start = self._last = time.perf_counter()
        self.lines = 0

    def step(self, description: str | None = None, advance: int = 1) -> None:
        self.completed += advance
        if description is not None:
            self.description = description
        now = time.perf_counter()
        if now - self._last >= PLAIN_EVERY:
            self._last = now
            self._write(f"{self.completed}/{self.total} {plain(self.description)}", now)

    def close(self) -> None:
        if self.lines:
            self._write(f"{self.completed}/{self.total} done", time.perf_counter())

    def _write(self, text: str, now: float) -> None:
        print(f"{self.title}: {text} ({now - self.start:.0f} s)", file=sys.stderr, flush=True)
        self.lines += 1


class _RichTicker(Ticker):
    def __init__(self, title: str, total: int, bar, task):
        super().__init__(title, total)
        self._bar, self._task = bar, task

    def step(self, description: str | None = None, advance: int = 1) -> None:
        self.completed += advance
        if description is not None:
            self._bar.update(self._task, advance=advance, description=markup(description))
        else:
            self._bar.advance(self._task, advance)

    def close(self) -> None:
        pass


@contextlib.contextmanager
def progress(title: str, total: int) -> Iterator[Ticker]:
    """A :class:`Ticker` for ``total`` steps: a Rich bar on a terminal, else plain lines."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        ticker = Ticker(title, total)
        yield ticker
        ticker.close()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<36}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield _RichTicker(title, total, bar, bar.add_task(markup(title), total=total))
