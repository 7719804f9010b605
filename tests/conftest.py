"""Fixtures shared by several test modules (opt in with ``pytest.mark.usefixtures``)."""

import numba
import pytest


@pytest.fixture
def one_numba_thread():
    """Tiny instances: a parallel (OpenMP) kernel launch costs 0.1-0.3 s per call on a loaded
    2-core machine, a serial one well under 1 ms. The thread count is restored afterwards."""
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(old)
