"""Populations for the service tests (importable as ``py:_serve_helpers:FACTORY``)."""

import threading
import time

from _train_helpers import CharPopulation


def char_population():
    """Two users who like 'a' (0.6) and 'b' (0.4)."""
    return CharPopulation("ab", [0.6, 0.4])


class SlowPopulation(CharPopulation):
    """CharPopulation whose ``scores`` sleeps ``delay`` seconds (counts calls and texts)."""

    def __init__(self, delay=0.2):
        super().__init__("ab", [0.6, 0.4])
        self.delay = delay
        self.calls = 0
        self.lock = threading.Lock()

    def scores(self, texts):
        with self.lock:
            self.calls += 1
        time.sleep(self.delay)
        return super().scores(texts)
