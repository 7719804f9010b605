"""The built-in solver methods, each registered once (name, options dataclass, function) in
``ualign.solvers.registry``. The order here is the order tables list them in.

References: shared/spec/THEORY.md §4-7.
"""

from __future__ import annotations

from ualign.solvers import dynamics as dyn
from ualign.solvers import equilibrium as eq
from ualign.solvers.kset import KSetOptions, kset_method
from ualign.solvers.nlhf import NLHFOptions, nlhf_method
from ualign.solvers.registry import Method, register
from ualign.solvers.rlhf import RLHFOptions, rlhf_method

__all__: list[str] = []

register(Method("rlhf", RLHFOptions, rlhf_method, family="rlhf", k_free=True,
                labels={"compare": "rlhf"},
                summary="Bradley-Terry rewards, then the greedy or KL-regularised policy"))
register(Method("nlhf", NLHFOptions, nlhf_method, family="nlhf", k_free=True,
                labels={"compare": "nlhf", "select": "nlhf"},
                summary="maximal lottery (k = 1 equilibrium), or its KL-regularised version"))
register(Method("auto", eq.AutoOptions, eq.ualign_method(eq.auto), family="ualign",
                labels={"compare": "ualign", "select": "ualign"},
                summary="(k+1)-player equilibrium: column generation + Josephy-Newton, certified"))
register(Method("hedge", eq.HedgeOptions, eq.ualign_method(eq.hedge), family="ualign",
                summary="Hedge self-play, averaged iterate"))
register(Method("optimistic", eq.LastIterateOptions,
                eq.ualign_method(eq.last_iterate("optimistic", dyn.optimistic)),
                family="ualign", summary="optimistic multiplicative weights, last iterate"))
register(Method("extragradient", eq.LastIterateOptions,
                eq.ualign_method(eq.last_iterate("extragradient", dyn.extragradient)),
                family="ualign", summary="entropic mirror prox, last iterate"))
register(Method("mmd", eq.MMDOptions, eq.ualign_method(eq.mmd), family="ualign",
                summary="magnetic mirror descent to the KL-regularised equilibrium"))
register(Method("kset", KSetOptions, kset_method, family="kset", output="kset",
                labels={"compare": "kset", "select": "ualign-kset"},
                summary="best k-output policy (distribution over k-multisets), LP"))
