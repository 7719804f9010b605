"""``ualign info PROFILE``: what a preference profile holds."""

from __future__ import annotations

from ualign._text import markup

HELP = "Describe a preference profile: users, responses, ties, the Condorcet winner."


def add_arguments(p):
    p.add_argument("profile", help="a PrefLib file (.soc .soi .toc .toi), or any profile spec "
                                   "`ualign compare` accepts")


def _response(prof, y: int) -> str:
    """Response ``y`` by its name, with its index in one stated base (0, as in the library and
    the JSON files), never an index beside a name numbered from 1."""
    where = f"index {y}, counting from 0"
    return f"{markup(prof.label(y))} ({where})" if prof.labels is not None else where


def _voters_rule(prof) -> str:
    """Who counts as a voter, for a Polis conversation (read_polis keeps participants with at
    least ``min_votes`` votes, passes included)."""
    rule = prof.meta.get("min votes")
    return "" if rule is None else f" (participants with at least {rule} votes, passes included)"


def _voters_note(prof) -> str | None:
    """Why ``ualign select`` / ``serve`` / ``train`` count other users on the same Polis
    conversation: their ``polis:`` populations keep participants by another rule."""
    if prof.meta.get("min votes") is None:
        return None
    from ualign.cli._console import polis_population_rule

    return (f"voters: the participants ualign.read_polis keeps (min_votes = "
            f"{prof.meta['min votes']}, passes count); {polis_population_rule()}, so they can "
            f"count other users")


def run(args) -> int:
    from rich.table import Table

    from ualign.cli._console import print_tables
    from ualign.cli._progress import compile_notice
    from ualign.data import load_profile

    compile_notice("info")
    prof = load_profile(args.profile)
    U, n = prof.shape
    tied_rows = prof.levels.max(axis=1) < n - 1
    cw = prof.condorcet_winner()
    table = Table(title=f"ualign info: {markup(args.profile)}", show_header=False,
                  caption=_voters_note(prof))
    table.add_row("responses", str(n))
    table.add_row("distinct orders (user types)", str(U))
    if prof.n_voters is not None:
        table.add_row("voters", f"{prof.n_voters:g}" + _voters_rule(prof))
    share = prof.weights[tied_rows].sum()
    table.add_row("orders with ties", f"{int(tied_rows.sum())} ({share:.1%} of the weight)")
    if prof.groups is not None:
        table.add_row("user groups", str(len(set(prof.groups.tolist()))))
    table.add_row("Condorcet winner", "none" if cw is None else _response(prof, cw))
    print_tables([table])
    return 0
