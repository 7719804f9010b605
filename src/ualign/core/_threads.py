"""One thread policy for the compiled kernels.

Small instances run serially: starting numba's threads costs more than the work (0.1-0.3 s per
parallel launch was measured on a loaded 2-core machine, against < 1 ms serially). The measure of
size is the number of (user, response, policy) entries a kernel sweeps; below
:data:`SERIAL_BELOW` the caller picks a kernel's serial compilation (``is_small``), or, for code
that launches several parallel kernels, runs them all on one thread (``serial_if_small``).
"""

from __future__ import annotations

import contextlib

import numba

__all__ = ["SERIAL_BELOW", "is_small", "serial_if_small"]

SERIAL_BELOW = 1 << 18  # (users x responses x policies) entries


def is_small(entries: int) -> bool:
    """Whether a sweep over ``entries`` (user, response, policy) entries should run serially.

    Examples:
      >>> from ualign.core._threads import SERIAL_BELOW, is_small
      >>> is_small(100 * 1_000), is_small(SERIAL_BELOW)
      (True, False)
    """
    return entries < SERIAL_BELOW


@contextlib.contextmanager
def serial_if_small(entries: int):
    """Run the parallel kernels launched inside on one numba thread when ``entries`` is small;
    the caller's thread count is restored afterwards.

    Examples:
      >>> import numba
      >>> from ualign.core._threads import serial_if_small
      >>> with serial_if_small(10):
      ...     inside = numba.get_num_threads()
      ...
      >>> inside
      1
    """
    if not is_small(entries):
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)
