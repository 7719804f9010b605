"""Bridges to the training engines people already use.

- :mod:`ualign.integrations.trl`: :class:`~ualign.integrations.trl.SelfPlayReward`, a
  ``reward_funcs`` entry that makes TRL's ``GRPOTrainer`` play the (k+1)-player game;
- :mod:`ualign.integrations.service`: ``ualign serve``, a population scoring service (JSON over
  HTTP) for any engine (OpenRLHF, verl, scripts); :mod:`ualign.integrations.client` its client;
- :mod:`ualign.integrations.group_payoffs`: the payoff estimates of one group, both displays.

Nothing here imports TRL: it is an optional extra (``pip install ualign[trl]``).

References: THEORY.md §8, §9. Usage: docs/integrations.md.
"""
