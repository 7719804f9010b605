"""Self-play preference optimisation for language models: the (k+1)-player alignment game
(U-alignment) played by a language model against itself, NLHF/SPPO at k = 1.

References: THEORY.md §5, §8.
"""

from ualign.train.config import SelfPlayConfig
from ualign.train.estimators import (
    leave_one_out_payoffs,
    levels_from_scores,
    loo_coefficients,
    payoff_against_group,
)


def __getattr__(name):
    # the trainer needs torch; import it lazily
    if name in ("SelfPlayTrainer", "TrainResult"):
        from ualign.train import trainer

        return getattr(trainer, name)
    if name in ("sft_warm_start", "SFTResult"):    # needs trl (the `trl` extra)
        from ualign.train import sft

        return getattr(sft, name)
    raise AttributeError(name)


__all__ = ["SFTResult", "SelfPlayConfig", "SelfPlayTrainer", "TrainResult",
           "leave_one_out_payoffs", "levels_from_scores", "loo_coefficients",
           "payoff_against_group", "sft_warm_start"]
