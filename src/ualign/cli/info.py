"""``ualign info PROFILE``: what a preference profile holds."""

from __future__ import annotations

import numpy as np

from ualign._text import markup
from ualign.data import load_profile

HELP = "Describe a preference profile: users, responses, ties, the Condorcet winner."


def add_arguments(p):
    p.add_argument("profile", help="a PrefLib file (.soc .soi .toc .toi), or any profile spec "
                                   "`ualign compare` accepts")


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    prof = load_profile(args.profile)
    U, n = prof.shape
    tied_rows = prof.levels.max(axis=1) < n - 1
    cw = prof.condorcet_winner()
    table = Table(title=f"ualign info: {markup(args.profile)}", show_header=False)
    table.add_row("responses", str(n))
    table.add_row("distinct orders (user types)", str(U))
    if prof.n_voters is not None:
        table.add_row("voters", f"{prof.n_voters:g}")
    share = prof.weights[tied_rows].sum()
    table.add_row("orders with ties", f"{int(tied_rows.sum())} ({share:.1%} of the weight)")
    if prof.groups is not None:
        table.add_row("user groups", str(len(np.unique(prof.groups))))
    table.add_row("Condorcet winner",
                  "none" if cw is None else f"{cw} ({markup(prof.label(cw))})")
    Console().print(table)
    return 0
