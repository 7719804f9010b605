"""Bridges to the training engines people already use.

- :mod:`ualign.integrations.trl`: :class:`~ualign.integrations.trl.SelfPlayReward`, a
  ``reward_funcs`` entry that makes TRL's ``GRPOTrainer`` play the (k+1)-player game;
- :mod:`ualign.integrations.service`: ``ualign serve``, a population scoring service (JSON over
  HTTP) for any engine (OpenRLHF, verl, scripts). Its client, :class:`PopulationClient`, is the
  population kind ``http://HOST:PORT`` of :mod:`ualign.llm.populations.remote` (re-exported
  here).

The payoff estimates of one group, under any display, are :mod:`ualign.llm.group_payoffs`; how a
population ranks groups of texts is :mod:`ualign.llm.populations.protocol`. Nothing here imports
TRL: it is an optional extra (``pip install ualign[trl]``).

References: THEORY.md §8, §9. Usage: docs/integrations.md.
"""

from ualign.llm.populations.remote import PopulationClient, PopulationServiceError

__all__ = ["PopulationClient", "PopulationServiceError"]
