"""``ualign compare PROFILE --k 1..16 --methods rlhf,nlhf,ualign,kset --out DIR``: the test-time
scaling curve f(k) of each method beside k/(k+1), with each policy's diversity; a rich table,
a PNG plot and a JSON file with every number."""

from __future__ import annotations

from pathlib import Path

HELP = ("Compare RLHF, NLHF, U-alignment and the best k-set policy: f(k) beside k/(k+1), "
        "with diversity (entropy, support).")


def add_arguments(p):
    p.add_argument("profile", metavar="PROFILE",
                   help="a PrefLib file (.soc .soi .toc .toi), a Polis conversation folder, or a "
                        "generator spec such as mallows:n=20,phi=0.7,groups=3")
    p.add_argument("--k", default="1..8", metavar="KS",
                   help="numbers of responses shown: a range 1..16, a list 1,2,4,8, or a mix "
                        "(default 1..8)")
    p.add_argument("--methods", default="rlhf,nlhf,ualign,kset", metavar="LIST",
                   help="comma-separated subset of rlhf,nlhf,ualign,kset (default: all)")
    p.add_argument("--out", default="ualign-compare", metavar="DIR",
                   help="folder for compare.json and compare.png (default ./ualign-compare)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised solvers")


def _table(cmp):
    from rich.table import Table

    from ualign.report.render import fmt

    t = Table(title=f"f(k) on {cmp.profile} ({cmp.n_users} orders, {cmp.n_responses} responses)")
    t.add_column("k", justify="right")
    t.add_column("k/(k+1)", justify="right", style="dim")
    for m in cmp.methods:
        t.add_column(f"{m} f(k)", justify="right")
        t.add_column(f"{m} H/supp", justify="right", style="dim")
    by = {(e.method, e.k): e for e in cmp.entries}
    for k in cmp.ks:
        row = [str(k), fmt(k / (k + 1))]
        for m in cmp.methods:
            e = by[(m, k)]
            mark = "" if e.robust_win_rate >= k / (k + 1) - 1e-6 else " <"
            row += [fmt(e.robust_win_rate) + mark, f"{e.entropy_bits:.2f}/{e.support}"]
        t.add_row(*row)
    t.caption = ("f(k): worst-case win rate of the k responses shown; H/supp: entropy (bits) / "
                 "support size of a shown response; '<' marks f(k) below k/(k+1)")
    return t


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ualign.cli._load import load_profile
    from ualign.report.compare import compare_methods, parse_ks, parse_methods
    from ualign.report.plots import render_png
    from ualign.report.render import render_json, write_files
    from ualign.report.reproduce import numba_threads

    ks = parse_ks(args.k)
    methods = parse_methods(args.methods)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out must be a folder, got the file {out}")
    profile = load_profile(args.profile)
    console = Console(stderr=True)
    total = len(methods) * len(ks)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=console, transient=True) as bar, numba_threads(1):
        task = bar.add_task("compare", total=total)
        cmp = compare_methods(profile, ks, methods, name=str(args.profile), seed=args.seed,
                              tick=lambda msg: bar.update(task, advance=1, description=msg))
    files = {"compare.json": render_json(cmp).encode(),
             "compare.png": render_png(cmp.fk_plot())}
    write_files(files, out)
    Console().print(_table(cmp))
    print(f"wrote {out / 'compare.json'} and {out / 'compare.png'}")
    return 0
