"""Self-play preference optimisation for language models: the (k+1)-player alignment game
(U-alignment) played by a language model against itself, NLHF/SPPO at k = 1.

References: THEORY.md §5, §8.
"""

from ualign.train.estimators import leave_one_out_payoffs, levels_from_scores, loo_coefficients

__all__ = ["leave_one_out_payoffs", "levels_from_scores", "loo_coefficients"]
