"""The best k-output policy: a certified distribution over k-sets (THEORY §7, §9).

``solve_kset(profile, k, display=...)`` is a façade over the registry: it runs the registered
method of the display, ``"kset"`` (k-multisets, every copy counts: ``display="multiset"``,
the paper's) or ``"kset-distinct"`` (k-subsets of distinct responses, for a display that
merges equal responses: ``display="distinct"``).

Layout: ``master`` (the LP over explicit columns, :func:`kset_lp`), ``colgen`` (the one
column-generation driver, ``init``/``step``/``run``), ``pricers`` (the pricer interface and
registry), ``coverage`` and ``mip`` (pricing k-subsets), ``multiset`` and ``distinct`` (the two
displays' options and solvers), ``single`` (the best single k-set), ``result``
(:class:`KSetResult`).

References: shared/spec/THEORY.md §6-7, §9.
"""

from __future__ import annotations

import dataclasses

from ualign.core.checks import DISPLAYS
from ualign.core.displays import PAPER_DISPLAY, display_spec
from ualign.solvers import registry
from ualign.solvers.kset.distinct import KSetDistinctOptions, kset_distinct
from ualign.solvers.kset.master import KSetLP, kset_lp
from ualign.solvers.kset.multiset import KSetOptions, kset_multiset, multiset_win_matrix
from ualign.solvers.kset.pricers import (
    Master,
    Pricer,
    PricerKind,
    Pricing,
    pricer_names,
    register_pricer,
)
from ualign.solvers.kset.result import KSetResult

__all__ = ["KSetDistinctOptions", "KSetLP", "KSetOptions", "KSetResult", "Master", "Pricer",
           "PricerKind", "Pricing", "kset_distinct", "kset_lp", "kset_multiset", "method_for",
           "multiset_win_matrix", "pricer_names", "register_pricer", "solve_kset"]


def method_for(display) -> registry.Method:
    """The registered k-set method that solves under ``display``: ``"kset-distinct"``
    (k-subsets) when the display merges equal responses (THEORY §9), else ``"kset"``
    (k-multisets, §7).

    Examples:
      >>> from ualign.solvers.kset import method_for
      >>> method_for("distinct").name, method_for("multiset").name
      ('kset-distinct', 'kset')
    """
    return registry.get("kset-distinct" if display_spec(display).merges else "kset")


def _check_names(display, options) -> None:
    """Unknown options, and options of another display, raise ``ValueError`` naming them."""
    fields = {f.name for f in dataclasses.fields(method_for(display).options)}
    for key in options:
        if key in fields:
            continue
        for other in DISPLAYS:
            if key in {f.name for f in dataclasses.fields(method_for(other).options)}:
                raise ValueError(f"option {key!r} is for display={other!r} only")
        raise ValueError(f"unknown option {key!r} for display={display!r}; expected one of "
                         f"{sorted(fields)}")


def solve_kset(profile, k: int, *, display: str = PAPER_DISPLAY, randomised=True,
               **options) -> KSetResult:
    """The best k-output policy: a distribution over k-sets, by LP column generation, with a
    certified upper bound.

    Args:
      profile: the population.
      k: outputs per query (>= 1; at most n under ``display="distinct"``).
      display: ``"multiset"`` (default, the paper's: k-multisets, copies count; options of
        :class:`KSetOptions`: max_enumerate, tol, max_rounds, pricer) or ``"distinct"``
        (k-subsets of distinct responses; options of :class:`KSetDistinctOptions`: gap_tol,
        tol, time_limit, n_seeds, max_mip_nonzeros, max_rounds, pricer).
      randomised: ``display="distinct"`` only: a distribution over k-sets (default) or the best
        single k-set.

    Returns:
      ``KSetResult``. The LP optimum is >= k/(k+1) under multiset display (the NE product
      policy is feasible), and when exact pricing converges the optimum is <= value + tol.

    Raises:
      ValueError: a bad display, k or option (an option of the other display says so).

    Examples:
      >>> import ualign
      >>> r = ualign.solve_kset(ualign.load_profile("impartial:n=4"), 2)
      >>> round(r.value, 6), r.exact   # k/(k+1) + (k-1)/(2(k+1)N) = 17/24
      (0.708333, True)

    References: shared/spec/THEORY.md §7, §9.
    """
    method = method_for(display)
    if randomised is not True:
        options["randomised"] = randomised
    _check_names(display, options)
    return method.solve(profile, k, **options)
