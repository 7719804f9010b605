"""A TRL reward that turns ``GRPOTrainer`` into (k+1)-player self-play (NLHF at k = 1,
U-alignment for k > 1).

TRL 1.16 calls every entry of ``reward_funcs`` as ``f(prompts=..., completions=...,
completion_ids=..., **columns, trainer_state=..., log_extra=..., log_metric=...) -> list[float]``
with the completions of this process, the ``num_generations`` completions of one prompt in one
consecutive block, and names its metrics after ``f.__name__``. :class:`SelfPlayReward` cuts the
completions into those groups, has a population rank each group (levels ``(U, G)``), and returns
for each completion its (k+1)-player payoff estimate minus a baseline:

- ``display="multiset"`` (THEORY §8): the leave-one-out ``P̂_i``, unbiased for ``L(π, y_i)``,
  group mean exactly ``1/(k+1)``;
- ``display="distinct"`` (THEORY §9): the competitor's share with the k draws' texts merged
  (:func:`ualign.llm.group_payoffs.distinct_leave_one_out_payoffs`).

GRPO's advantage is the reward minus its group mean (divided by the group std unless
``scale_rewards="none"``). With ``scale_rewards="none"`` and multiset display it is exactly
``P̂_i - 1/(k+1)``, the advantage of :class:`ualign.train.SelfPlayTrainer` (tested to 1e-6);
``docs/integrations.md`` lists the GRPOConfig settings under which GRPO's loss is then the
(k+1)-player policy gradient.

References: THEORY.md §8, §9.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np

from ualign.core.checks import check_display, check_k
from ualign.llm.group_payoffs import BASELINES, score_groups
from ualign.llm.populations.protocol import as_population
from ualign.llm.populations.remote import PopulationClient

__all__ = ["SelfPlayReward"]


def _as_text(x, what: str, i: int) -> str:
    """A completion or prompt as plain text: a string, or a conversation (list of messages)
    whose message contents are joined (for a prompt: the last user message)."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and all(isinstance(m, dict) and "content" in m for m in x):
        if what == "prompts":
            users = [m for m in x if m.get("role") == "user"] or x
            x = users[-1:]
        parts = []
        for m in x:
            c = m["content"]
            if isinstance(c, list):         # content blocks: keep the text parts
                c = "".join(b.get("text", "") for b in c if isinstance(b, dict))
            parts.append(str(c))
        return "\n".join(parts)
    raise ValueError(f"{what}[{i}] must be a string or a list of chat messages "
                     f"{{'role', 'content'}}, got {type(x).__name__}")


def _key(p) -> str:
    return p if isinstance(p, str) else json.dumps(p, sort_keys=True, default=str)


class SelfPlayReward:
    """``reward_funcs`` entry for TRL's ``GRPOTrainer``: (k+1)-player self-play payoffs.

    Args:
      population: anything the trainer accepts (``rank(texts) -> Profile`` or
        ``scores(texts) -> (U, G)``), a :class:`~ualign.llm.populations.PopulationClient`,
        or a population spec such as the URL ``http://HOST:PORT`` of ``ualign serve`` (all
        groups of a call go in one request).
      k: number of the policy's samples the user is shown (k = 1: NLHF).
      display: ``"multiset"`` (the paper's; THEORY §2) or ``"distinct"`` (THEORY §9).
      baseline: subtracted from ``P̂_i``: ``"constant"`` = 1/(k+1) (default), ``"group_mean"``
        (the group's mean ``P̂``; equal to 1/(k+1) under multiset), ``"none"``. Under GRPO,
        which subtracts the group mean itself, the choice changes nothing.
      num_generations: GRPOConfig's ``num_generations`` (G): completions are cut into
        consecutive blocks of G, each of one prompt (checked). ``None``: consecutive runs of
        equal prompts form the groups (wrong when two groups in a call share a prompt).
      same: distinct display: which texts are one response (``"exact"``: equal after
        ``ualign.llm.dedupe.normalise``; ``"identical"``; or a callable ``texts -> labels``,
        local populations only).
      name: ``__name__`` (TRL's metric names); default ``ualign_k{k}_{display}``.

    After each call, ``last_payoffs`` holds the groups' ``P̂`` arrays and ``last_groups`` the
    ``(prompt, texts)`` groups.
    """

    def __init__(self, population, k: int = 1, *, display: str = "multiset",
                 baseline: str = "constant", num_generations: int | None = None,
                 same: str | Callable = "exact", name: str | None = None):
        self.k = check_k(k)
        check_display(display)
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        if num_generations is not None and (isinstance(num_generations, bool)
                                            or not isinstance(num_generations, int)
                                            or num_generations < self.k + 1):
            raise ValueError(f"num_generations must be None or an integer >= k+1 = "
                             f"{self.k + 1}, got {num_generations!r}")
        population = as_population(population)
        self.remote = isinstance(population, PopulationClient)
        if self.remote and callable(same):
            raise ValueError("same must be 'exact' or 'identical' with a remote population "
                             "(a callable cannot be sent to the service)")
        self.population = population
        self.display, self.baseline, self.same = display, baseline, same
        self.num_generations = num_generations
        self.__name__ = name or f"ualign_k{self.k}_{display}"
        self.last_payoffs: list[np.ndarray] = []
        self.last_groups: list[tuple[str, list[str]]] = []

    def __repr__(self) -> str:
        return (f"SelfPlayReward(k={self.k}, display={self.display!r}, "
                f"baseline={self.baseline!r}, population={self.population!r})")

    def groups(self, prompts: Sequence, completions: Sequence) -> list[tuple[str, list[str]]]:
        """``[(prompt text, [completion texts])]`` in order (see ``num_generations``)."""
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have the same length, got "
                             f"{len(prompts)} and {len(completions)}")
        n, G = len(completions), self.num_generations
        if G is not None:
            if n % G:
                raise ValueError(f"got {n} completions, not a multiple of num_generations={G}: "
                                 f"each process must hold whole groups (set "
                                 f"per_device_train_batch_size to a multiple of "
                                 f"num_generations)")
            bounds = [(s, s + G) for s in range(0, n, G)]
        else:
            bounds, s = [], 0
            for i in range(1, n + 1):
                if i == n or _key(prompts[i]) != _key(prompts[s]):
                    bounds.append((s, i))
                    s = i
        out = []
        for s, e in bounds:
            for i in range(s + 1, e):
                if _key(prompts[i]) != _key(prompts[s]):
                    raise ValueError(f"prompts[{i}] differs from prompts[{s}] inside one group "
                                     f"of {e - s} completions: a group's completions must share "
                                     f"their prompt")
            if e - s < self.k + 1:
                raise ValueError(f"the group of completions {s}..{e - 1} has {e - s}, fewer than "
                                 f"k+1 = {self.k + 1} (set num_generations >= k+1)")
            out.append((_as_text(prompts[s], "prompts", s),
                        [_as_text(completions[i], "completions", i) for i in range(s, e)]))
        return out

    def __call__(self, prompts: Sequence, completions: Sequence, **kwargs) -> list[float]:
        groups = self.groups(prompts, completions)
        if self.remote:
            res = self.population.payoffs(groups, self.k, self.display, self.baseline,
                                          self.same)
        else:
            res = score_groups(self.population, groups, self.k, self.display, self.baseline,
                               self.same)
        self.last_groups = groups
        self.last_payoffs = [r["payoffs"] for r in res]
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.__name__}/payoff_max",
                       float(np.mean([p.max() for p in self.last_payoffs])))
            log_metric(f"{self.__name__}/unique_frac",
                       float(np.mean([len(set(t)) / len(t) for _, t in groups])))
        return [float(a) for r in res for a in r["advantages"]]
