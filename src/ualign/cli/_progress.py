"""One progress display for the long commands (``compare``, ``personalise``, ``reproduce``), one
for the start-up stages of a command that loads for a while before its first step
(:func:`stages`: ``select`` loads its libraries, population and model), and a one-line notice
when numba compiles the kernels (:func:`compile_notice`: the first run after an install).

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
import threading
import time
from collections.abc import Iterator

from ualign._text import markup, plain

__all__ = ["PLAIN_EVERY", "Stages", "Ticker", "compile_notice", "progress", "stages"]

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


class Stages:
    """What a command calls as its start-up goes on: ``stage(text)`` names what it does now.

    On a terminal it is a Rich spinner line on standard error that disappears at the end. Off a
    terminal it is a plain line ``select: loading the model smollm2 (12 s)``: at a stage's start
    when :data:`PLAIN_EVERY` seconds have passed since the last line (or since start-up), and
    every :data:`PLAIN_EVERY` seconds while one stage goes on; a start-up shorter than that
    writes nothing (an error stays one line)."""

    def __init__(self, title: str, status=None):
        self.title, self.text, self._status = title, title, status
        self.start = self._last = time.perf_counter()
        self.lines = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if status is None and PLAIN_EVERY > 0:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()

    def __call__(self, text: str) -> None:
        self.text = text
        if self._status is not None:
            self._status.update(markup(f"{self.title}: {text}"))
            return
        self._maybe_write(time.perf_counter())

    def _maybe_write(self, now: float) -> None:
        with self._lock:
            if now - self._last >= PLAIN_EVERY:
                self._last = now
                print(f"{self.title}: {plain(self.text)} ({now - self.start:.0f} s)",
                      file=sys.stderr, flush=True)
                self.lines += 1

    def _watch(self) -> None:
        while not self._stop.wait(PLAIN_EVERY / 4):
            self._maybe_write(time.perf_counter())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@contextlib.contextmanager
def stages(title: str) -> Iterator[Stages]:
    """A :class:`Stages` for a command's start-up: a Rich spinner on a terminal, else plain
    lines."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        st = Stages(title)
        try:
            yield st
        finally:
            st.close()
        return
    with console.status(markup(title), spinner="dots") as status:
        yield Stages(title, status)


COMPILE_NOTICE = ("compiling the numeric kernels (numba: once after an install or an upgrade, "
                  "about 20 s on 2 cores; later runs load them from its cache)")


class _Notice:
    """The state of :func:`compile_notice`: the command named in the line, whether the
    listener is installed, whether the line was written."""

    command: str | None = None
    installed = False
    written = False


def _on_compile_start(event) -> None:
    if event.is_start and not _Notice.written:
        _Notice.written = True
        print(f"ualign {_Notice.command}: {COMPILE_NOTICE}", file=sys.stderr, flush=True)


def compile_notice(command: str) -> None:
    """Write :data:`COMPILE_NOTICE` once on standard error when numba starts compiling a
    kernel: its event ``numba:compile`` fires only on a cache miss (a kernel loaded from the
    cache is not compiled), so a run whose kernels are cached writes nothing. ``command``: the
    command named in the line."""
    _Notice.command = command
    if _Notice.installed:
        return
    import numba.core.event as ev

    class Listener(ev.Listener):
        def on_start(self, event) -> None:
            _on_compile_start(event)

        def on_end(self, event) -> None:
            pass

    ev.register("numba:compile", Listener())
    _Notice.installed = True
