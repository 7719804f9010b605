"""Shared helpers for the trainer tests: tiny offline models and toy populations."""

import numpy as np


class CharPopulation:
    """User u's utility for a text = how often it contains the user's favourite character."""

    def __init__(self, chars, weights):
        self.chars = list(chars)
        self.weights = np.asarray(weights, float)

    def scores(self, texts):
        return np.array([[t.count(ch) for t in texts] for ch in self.chars], float)
