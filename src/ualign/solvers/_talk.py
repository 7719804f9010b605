"""What a long solve tells its caller: progress lines on stderr, and a warning when it stops
before its tolerance.

``progress`` takes three values everywhere in the solvers: ``True`` (report from the start),
``False`` (never) and ``None``, the default (report only once the call has run
:data:`QUIET_SECONDS`, so quick calls stay silent and slow ones say what they are doing).
"""

from __future__ import annotations

import sys
import time
import warnings

__all__ = ["QUIET_SECONDS", "TIME_LIMIT", "StoppedEarlyWarning", "Talker", "check_progress",
           "stopped_early"]

QUIET_SECONDS = 5.0  # a solve with progress=None reports once it has run this long
TIME_LIMIT = 60.0  # the default time limit (seconds) of the iterative solvers


class StoppedEarlyWarning(RuntimeWarning):
    """A solver stopped (time limit or iteration cap) before meeting its tolerance; its result
    is certified but not converged, and the message names the option that buys precision."""


def check_progress(value, name: str = "progress"):
    """``progress``: True, False or None (report on stderr after ``QUIET_SECONDS``).

    Examples:
      >>> from ualign.solvers._talk import check_progress
      >>> check_progress(None), check_progress(True)
      (None, True)
      >>> check_progress("yes")
      Traceback (most recent call last):
        ...
      ValueError: progress must be True, False or None (report after 5 s), got str 'yes'
    """
    if value is None or isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_":  # a NumPy bool
        return bool(value)
    raise ValueError(f"{name} must be True, False or None (report after {QUIET_SECONDS:g} s), "
                     f"got {type(value).__name__} {value!r:.40}")


class Talker:
    """Progress lines ``ualign <name>: <text>`` on stderr, as ``progress`` asks."""

    def __init__(self, progress, name: str):
        self.progress = check_progress(progress)
        self.name = name
        self.t0 = time.perf_counter()

    @property
    def delay(self) -> float:
        """Seconds before the first report (for a progress bar's ``delay``)."""
        return 0.0 if self.progress else QUIET_SECONDS

    @property
    def disabled(self) -> bool:
        return self.progress is False

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def say(self, text: str) -> None:
        if self.progress is False:
            return
        if self.progress is None and self.elapsed() < QUIET_SECONDS:
            return
        print(f"ualign {self.name}: {text} ({self.elapsed():.1f} s)", file=sys.stderr,
              flush=True)


def stopped_early(what: str, reached: str, options: str, stacklevel: int = 3) -> None:
    """Warn that ``what`` stopped at ``reached`` before its tolerance; ``options`` names what
    buys more precision (e.g. ``"time_limit= (seconds, None for no limit) or max_iter="``).

    Examples:
      >>> import warnings
      >>> from ualign.solvers import StoppedEarlyWarning
      >>> from ualign.solvers._talk import stopped_early
      >>> with warnings.catch_warnings(record=True) as caught:
      ...     warnings.simplefilter("always")
      ...     stopped_early("solve_x", "gap 0.01 after 60 s", "time_limit=")
      >>> caught[0].category is StoppedEarlyWarning
      True
      >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
      solve_x stopped before its tolerance: gap 0.01 after 60 s; the result is certified but not
      converged (converged=False). For more precision pass time_limit=.
    """
    warnings.warn(f"{what} stopped before its tolerance: {reached}; the result is certified "
                  f"but not converged (converged=False). For more precision pass {options}.",
                  StoppedEarlyWarning, stacklevel=stacklevel)
