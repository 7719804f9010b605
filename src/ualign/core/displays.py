"""What a person is shown: the one lookup from a display name to everything that differs.

A *display* says how the k responses of the model and the ℓ responses of the competitor are
shown to a user before the user picks one copy at the best level (THEORY.md §2, §9):

- ``"multiset"`` (§2, the paper's rule): every sample is shown, copies count. The (k+1)-player
  game is constant-sum, ``Σ_y π(y) L(π, y) = 1/(k+1)``, so exploitability is defined and the
  leave-one-out payoffs of a group average exactly ``1/(k+1)``.
- ``"distinct"`` (§9): each side's outputs are merged before they are shown (a response shown
  twice is one response); a response shown by both sides is one copy per side. The payoffs are
  not constant-sum against π.

Everything above ``core`` passes a display *name* through and asks this module (never compares
the name to a string literal) what differs: :func:`display_spec` returns a :class:`Display`.
Adding a third display is a name in :data:`ualign.core.checks.DISPLAYS`, its kernels and a
:class:`Display` entry here; nothing above core changes.

References: THEORY.md §2-4, §8, §9.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ualign.core import _kernels
from ualign.core.checks import DISPLAYS, check_display
from ualign.core.estimators import distinct_leave_one_out_payoffs, leave_one_out_payoffs

__all__ = ["DISPLAYS", "PAPER_DISPLAY", "Display", "display_spec"]

# The paper's display (THEORY.md §2): the default of every function that takes ``display=``.
PAPER_DISPLAY = "multiset"


@dataclasses.dataclass(frozen=True)
class Display:
    """What differs between displays.

    Attributes:
      name: the display's name (``"multiset"`` or ``"distinct"``).
      merges: the merge rule: ``True`` when each side's outputs are shown once each (equal
        responses merged, THEORY.md §9), ``False`` when every copy counts (§2).
      has_game_value: ``Σ_y π(y) L(π, y) = 1/(k+1)`` for every π, so the game's value is
        ``1/(k+1)`` and ``exploitability`` is defined.
      payoffs_kernel: the compiled ``L(π, ·)`` kernel for product policies, parallel over users
        (``_kernels``: ``(order, weights, policies, k, nchunks) -> (B, n)``).
      payoffs_kernel_serial: the same kernel without threads (small problems).
      loo: the unbiased leave-one-out estimator of THEORY §8 for one group,
        ``(levels (U, G), k, weights, classes) -> (G,)``; ``classes`` labels samples that are
        the same displayed response (ignored when ``merges`` is ``False``).
    """

    name: str
    merges: bool
    has_game_value: bool
    payoffs_kernel: Callable
    payoffs_kernel_serial: Callable
    loo: Callable[..., np.ndarray]

    def centre(self, payoffs: np.ndarray, k: int) -> float:
        """The exact mean of a group's leave-one-out payoffs, which advantages are centred on:
        ``1/(k+1)`` when the game has that value (multiset), else the group's own mean."""
        return 1.0 / (k + 1) if self.has_game_value else float(np.mean(payoffs))


def _multiset_loo(levels, k, weights=None, classes=None):
    return leave_one_out_payoffs(np.asarray(levels), k, weights)


_SPECS = {
    "multiset": Display("multiset", merges=False, has_game_value=True,
                        payoffs_kernel=_kernels.payoffs_kernel,
                        payoffs_kernel_serial=_kernels.payoffs_kernel_serial,
                        loo=_multiset_loo),
    "distinct": Display("distinct", merges=True, has_game_value=False,
                        payoffs_kernel=_kernels.distinct_payoffs_kernel,
                        payoffs_kernel_serial=_kernels.distinct_payoffs_kernel_serial,
                        loo=distinct_leave_one_out_payoffs),
}
if tuple(_SPECS) != DISPLAYS:  # pragma: no cover - a display was named without its spec
    raise ImportError(f"core.displays defines {tuple(_SPECS)} but core.checks.DISPLAYS is "
                      f"{DISPLAYS}")


def display_spec(display, name: str = "display") -> Display:
    """The :class:`Display` of a display name (checked: ``ValueError`` naming ``name``).

    Examples:
      >>> from ualign.core.displays import display_spec
      >>> display_spec("distinct").merges
      True
      >>> display_spec("multiset").centre(None, k=3)
      0.25
    """
    return _SPECS[check_display(display, name)]
