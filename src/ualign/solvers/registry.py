"""The solver registry: every method registered once, with a name, a typed frozen options
dataclass and the function (STYLE.md rule 12).

``solve_ualign(method=...)``, the method comparison of ``ualign.report.compare``, the selection
methods of ``ualign.llm.select`` and the contract test all read this one table. To add a
solver, write ``fn(profile, k, options) -> result`` (a :class:`~ualign.solvers.result.Certified`
result) and an options dataclass, then register them once::

    @dataclasses.dataclass(frozen=True)
    class MyOptions(UalignOptions):  # tol, max_iter, progress, plus:
        eta: float = 0.1

        def __post_init__(self):
            super().__post_init__()
            check_field(self, "eta", check_positive)

    register(Method("mine", MyOptions, ualign_method(my_solver), family="ualign",
                    labels={"compare": "mine"}))

The built-in methods are registered in ``ualign.solvers.methods``. Options are checked where
they are built: an unknown option, or one of the wrong type or range, raises ``ValueError``
naming it.

References: shared/spec/THEORY.md §4-7.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["Method", "Options", "check_field", "check_flag", "get", "labelled", "methods", "names",
           "register"]


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every method's options (a frozen dataclass; subclasses add fields with defaults
    and check them in ``__post_init__``)."""

    @classmethod
    def parse(cls, method: str, options: Mapping[str, Any]) -> Options:
        """Build the options from keyword arguments; unknown names raise ``ValueError``."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"options {sorted(unknown)} are not understood by method "
                             f"{method!r} (it takes {sorted(allowed)})")
        return cls(**options)


@dataclasses.dataclass(frozen=True)
class Method:
    """One registered solver method.

    Attributes:
      name: the registry name (``"auto"``, ``"hedge"``, ``"nlhf"``, ``"kset"``, ...).
      options: the method's options dataclass (a subclass of :class:`Options`).
      fn: ``fn(profile, k, options) -> result``; the result satisfies ``Certified``.
      family: ``"ualign"`` for the methods of ``solve_ualign``; else the name of the solver
        function family (``"nlhf"``, ``"rlhf"``, ``"kset"``, ``"committee"``), or
        ``"baseline"`` for the selection baselines of ``ualign.llm.select`` (their options
        carry the users' raw ``scores`` and ``weights``).
      output: ``"policy"`` (a ``SolverResult``: a single-output policy π deployed as
        ``π^{⊗k}``) or ``"kset"`` (a ``KSetResult``: a distribution over k-multisets).
      k_free: the policy does not depend on k (RLHF, NLHF: their certificate is at k = 1).
      labels: the name the method goes by in other tables, by consumer (``"compare"``,
        ``"select"``); absent when it is not offered there.
      summary: one line for help texts.
      displays: the displays (THEORY.md §9) under which tables report the method's win rate:
        ``("multiset", "distinct")`` for policies that may repeat a response (their samples or
        multisets are merged under distinct display), ``("distinct",)`` for methods that choose
        sets of distinct responses.
    """

    name: str
    options: type[Options]
    fn: Callable[..., Any]
    family: str
    output: str = "policy"
    k_free: bool = False
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    summary: str = ""
    displays: tuple[str, ...] = ("multiset", "distinct")

    def solve(self, profile, k: int, *, seed=None, **options):
        """``fn(profile, k, options)`` with the options built (and checked) from keywords;
        ``seed`` is recorded in results that have a ``seed`` field (the methods are
        deterministic)."""
        result = self.fn(profile, k, self.options.parse(self.name, options))
        if seed is not None and any(f.name == "seed" for f in dataclasses.fields(result)):
            result = dataclasses.replace(result, seed=seed)
        return result


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add a method (once: a second registration of a name raises ``ValueError``).

    Examples:
      A name registers once; registering a new method makes ``solve_ualign(method=...)``,
      ``ualign compare`` and the contract tests find it (CONTRIBUTING.md shows a whole
      registration).

      >>> from ualign.solvers import registry
      >>> registry.register(registry.get("auto"))
      Traceback (most recent call last):
        ...
      ValueError: method 'auto' is already registered
    """
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is already registered")
    if method.output not in ("policy", "kset"):
        raise ValueError(f"output must be 'policy' or 'kset', got {method.output!r}")
    from ualign.core.checks import DISPLAYS

    if not method.displays or not set(method.displays) <= set(DISPLAYS):
        raise ValueError(f"displays must be a non-empty subset of {DISPLAYS}, got "
                         f"{method.displays!r}")
    if not (isinstance(method.options, type) and issubclass(method.options, Options)):
        raise ValueError(f"options of {method.name!r} must be an Options dataclass")
    _REGISTRY[method.name] = method
    return method


def methods(family: str | None = None) -> tuple[Method, ...]:
    """The registered methods (of one family), in registration order.

    Examples:
      >>> from ualign.solvers import registry
      >>> [(m.name, m.family, m.k_free) for m in registry.methods("nlhf")]
      [('nlhf', 'nlhf', True)]
    """
    return tuple(m for m in _REGISTRY.values() if family is None or m.family == family)


def names(family: str | None = None) -> tuple[str, ...]:
    """Names of the registered methods (of one family), in registration order.

    Examples:
      >>> from ualign.solvers import registry
      >>> registry.names("ualign")
      ('auto', 'hedge', 'optimistic', 'extragradient', 'mmd')
    """
    return tuple(m.name for m in methods(family))


def get(name: str, family: str | None = None) -> Method:
    """The method registered as ``name`` (in ``family`` if given); ``ValueError`` otherwise.

    Examples:
      >>> from ualign import Profile
      >>> from ualign.solvers import registry
      >>> m = registry.get("auto", family="ualign")
      >>> m.name, m.output, m.options.__name__
      ('auto', 'policy', 'AutoOptions')
      >>> P = Profile.from_rankings([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
      >>> round(m.solve(P, 2).robust_win_rate, 4)
      0.6667
      >>> registry.get("nope", family="nlhf")
      Traceback (most recent call last):
        ...
      ValueError: method must be one of ('nlhf',), got 'nope'
    """
    m = _REGISTRY.get(name) if isinstance(name, str) else None
    if m is None or (family is not None and m.family != family):
        raise ValueError(f"method must be one of {names(family)}, got {name!r}")
    return m


def labelled(consumer: str) -> dict[str, Method]:
    """``label -> method`` for the methods offered by ``consumer`` (``"compare"``,
    ``"select"``), in registration order.

    Examples:
      >>> from ualign.solvers import registry
      >>> compare = registry.labelled("compare")
      >>> compare["ualign"].name, "nlhf" in compare
      ('auto', True)
    """
    return {m.labels[consumer]: m for m in _REGISTRY.values() if consumer in m.labels}


def check_field(options, name: str, check: Callable[[Any, str], Any], *,
                optional: bool = True) -> None:
    """Run ``check(value, name)`` on a field and store what it returns (in ``__post_init__`` of
    a frozen options dataclass). None is left alone when ``optional``, else it raises.

    Examples:
      The options of a method check their fields once, when built:

      >>> import dataclasses
      >>> from ualign.core.checks import check_positive
      >>> from ualign.solvers.registry import Options, check_field
      >>> @dataclasses.dataclass(frozen=True)
      ... class StepOptions(Options):
      ...     eta: float | None = None
      ...     def __post_init__(self):
      ...         check_field(self, "eta", check_positive)
      >>> StepOptions(eta=1).eta, StepOptions().eta
      (1.0, None)
      >>> StepOptions(eta=-1)
      Traceback (most recent call last):
        ...
      ValueError: eta must be >= 0, got -1
    """
    value = getattr(options, name)
    if value is None:
        if not optional:
            raise ValueError(f"{name} must be given (it has no None form), got None")
        return
    object.__setattr__(options, name, check(value, name))


def check_flag(value, name: str) -> bool:
    """A boolean option (``progress``): True, False or a NumPy bool.

    Examples:
      >>> import numpy as np
      >>> from ualign.solvers.registry import check_flag
      >>> check_flag(np.bool_(True), "progress")
      True
      >>> check_flag(1, "progress")
      Traceback (most recent call last):
        ...
      ValueError: progress must be True or False, got int 1
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {type(value).__name__} "
                         f"{value!r:.40}")
    return bool(value)
