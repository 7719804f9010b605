"""The claims of the universal-alignment framework, each checked by measurement.

One module per section of claims, each registering its own claims (a :class:`ClaimSpec` per
claim: its text, a pure ``measure(config, tick) -> rows`` returning typed NamedTuple rows, the
presentation built from those rows by field name, and its full and ``--quick`` configuration in
``ualign reproduce``); :data:`CLAIMS` is the registry in report order (by key, i to xi):

- :mod:`~ualign.report.claims.game`: (i) the (k+1)-game equilibrium reaches k/(k+1); (ii) no
  product policy exceeds it (THEORY.md §3-4);
- :mod:`~ualign.report.claims.limits`: (iii) NLHF collapse; (iv) the best k-output policy on
  impartial culture; (v) ℓ-output opponents (§6-7);
- :mod:`~ualign.report.claims.dynamics`: (vi) Hedge's sampled iterate; (vii) last-iterate
  convergence (§5);
- :mod:`~ualign.report.claims.distinct`: (viii)-(x) distinct display (§9);
- :mod:`~ualign.report.claims.personalisation`: (xi) held-out people (§10).

Shared pieces: :mod:`~ualign.report.claims.registry` (what a claim is, :func:`run_claim`),
:mod:`~ualign.report.claims.instances` (the built-in instances) and
:mod:`~ualign.report.claims.oracles` (the brute-force enumerations, which the tests import too).
A new claim is one :class:`ClaimSpec` passed to :func:`register` in its section's module; the
report, its progress count and the JSON follow. The ``claim_*`` functions are claims called with
explicit arguments.

Bounds are the ones THEORY.md states; tolerances are numerical only (solver accuracy, floating
point) and are printed with every row.

References: shared/spec/THEORY.md §3-7, §9, §10.
"""

from __future__ import annotations

# Importing the section modules registers their claims (report order: by key).
from ualign.report.claims import distinct, dynamics, game, limits, personalisation
from ualign.report.claims.distinct import (
    DISTINCT_CLOSED_FORM,
    NLHF_DISTINCT_COLLAPSE,
    SHARED_FAVOURITE,
    ClosedFormConfig,
    DistinctCollapseConfig,
    FavouriteConfig,
)
from ualign.report.claims.dynamics import (
    HEDGE_SAMPLED_ITERATE,
    LAST_ITERATE,
    LastIterateConfig,
    LastIterateRow,
    claim_hedge_sampled_iterate,
    claim_last_iterate,
)
from ualign.report.claims.game import (
    COPYING_OPPONENT,
    UALIGN_EQUILIBRIUM,
    claim_copying_opponent,
    claim_ualign_equilibrium,
)
from ualign.report.claims.instances import heterogeneous_instance, shared_favourite_instance
from ualign.report.claims.limits import (
    BEST_KSET_IMPARTIAL_CULTURE,
    ELL_OUTPUT_OPPONENTS,
    NLHF_COLLAPSE,
    claim_best_kset_impartial_culture,
    claim_ell_output_opponents,
    claim_nlhf_collapse,
)
from ualign.report.claims.oracles import (
    best_distinct_kset_lp,
    literal_distinct_payoffs,
    worst_ell_output,
)
from ualign.report.claims.personalisation import PERSONALISATION
from ualign.report.claims.registry import ClaimSpec, register, registered, run_claim

__all__ = [
    "BEST_KSET_IMPARTIAL_CULTURE",
    "CLAIMS",
    "COPYING_OPPONENT",
    "DISTINCT_CLOSED_FORM",
    "ELL_OUTPUT_OPPONENTS",
    "HEDGE_SAMPLED_ITERATE",
    "LAST_ITERATE",
    "NLHF_COLLAPSE",
    "NLHF_DISTINCT_COLLAPSE",
    "PERSONALISATION",
    "SHARED_FAVOURITE",
    "UALIGN_EQUILIBRIUM",
    "ClaimSpec",
    "ClosedFormConfig",
    "DistinctCollapseConfig",
    "FavouriteConfig",
    "LastIterateConfig",
    "LastIterateRow",
    "best_distinct_kset_lp",
    "claim_best_kset_impartial_culture",
    "claim_copying_opponent",
    "claim_ell_output_opponents",
    "claim_hedge_sampled_iterate",
    "claim_last_iterate",
    "claim_nlhf_collapse",
    "claim_ualign_equilibrium",
    "distinct",
    "dynamics",
    "game",
    "heterogeneous_instance",
    "limits",
    "literal_distinct_payoffs",
    "personalisation",
    "register",
    "registered",
    "run_claim",
    "shared_favourite_instance",
    "worst_ell_output",
]

CLAIMS: tuple[ClaimSpec, ...] = registered()
"""Every claim of the report, in report order: ``build_report`` measures each one and the
progress count is ``len(CLAIMS)``."""
