"""``ualign compare PROFILE --k 1..16 --methods rlhf,nlhf,ualign,kset --out DIR``: the test-time
scaling curve f(k) of each method beside k/(k+1), with each policy's diversity; a rich table,
a PNG plot and a JSON file with every number."""

from __future__ import annotations

from pathlib import Path

from ualign.data import load_profile
from ualign.report.compare import compare_methods, parse_ks, parse_methods
from ualign.report.plots import render_png
from ualign.report.render import render_json, write_files

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
                   help="folder for compare.json, compare.png (f(k)) and compare-diversity.png "
                        "(default ./ualign-compare)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised solvers")
    p.add_argument("--kset-max-sets", type=int, default=None, metavar="M",
                   help="run kset only at k with at most M candidate k-multisets "
                        "(C(n+k-1, k)); default: every k (slow beyond ~20000)")


def _tables(cmp):
    """Two rich tables: f(k) per method (red when below k/(k+1)), then diversity."""
    from rich.table import Table

    by = {(e.method, e.k): e for e in cmp.entries}
    f = Table(title=f"f(k) on {cmp.profile} ({cmp.n_users} orders, {cmp.n_responses} "
                    "responses)",
              caption="worst-case win rate of the k responses shown; red: below k/(k+1); "
                      "*: greedy pricing, the k-set LP optimum may be higher (see JSON "
                      "upper_bound)")
    f.add_column("k", justify="right")
    f.add_column("k/(k+1)", justify="right", style="dim")
    for m in cmp.methods:
        f.add_column(m, justify="right")
    d = Table(title="diversity of a shown response: entropy (bits) / support size")
    d.add_column("k", justify="right")
    for m in cmp.methods:
        d.add_column(m, justify="right")
    for k in cmp.ks:
        cells, div = [], []
        for m in cmp.methods:
            e = by.get((m, k))
            if e is None:
                cells.append("–")
                div.append("–")
                continue
            v = f"{e.robust_win_rate:.4f}"
            if m == "kset" and e.converged is False:
                v += "*"
            cells.append(v if e.robust_win_rate >= k / (k + 1) - 1e-6 else f"[red]{v}[/]")
            div.append(f"{e.entropy_bits:.2f} / {e.support}")
        f.add_row(str(k), f"{k / (k + 1):.4f}", *cells)
        d.add_row(str(k), *div)
    return f, d


def run(args) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


    ks = parse_ks(args.k)
    methods = parse_methods(args.methods)
    if args.kset_max_sets is not None and args.kset_max_sets < 1:
        raise ValueError(f"--kset-max-sets must be an integer >= 1, got {args.kset_max_sets}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out must be a folder, got the file {out}")
    profile = load_profile(args.profile)
    console = Console(stderr=True)
    total = len(methods) * len(ks)
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("compare", total=total)
        cmp = compare_methods(profile, ks, methods, name=str(args.profile), seed=args.seed,
                              kset_max_sets=args.kset_max_sets,
                              tick=lambda msg: bar.update(task, advance=1, description=msg))
    files = {"compare.json": render_json(cmp).encode(),
             "compare.png": render_png(cmp.fk_plot()),
             "compare-diversity.png": render_png(cmp.diversity_plot())}
    write_files(files, out)
    console = Console()
    for table in _tables(cmp):
        console.print(table)
    print(f"wrote {out / 'compare.json'}, {out / 'compare.png'} and "
          f"{out / 'compare-diversity.png'}")
    return 0
