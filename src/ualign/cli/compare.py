"""``ualign compare PROFILE --k 1..16 --methods rlhf,nlhf,ualign,kset --display both --out DIR``:
the test-time scaling curve f(k) of each method beside k/(k+1), under multiset display (copies
count, the paper's rule) and distinct display (what a person sees: outputs merged; THEORY.md
§9), with each policy's diversity and distinct responses shown; rich tables, PNG plots and a
JSON file with every number."""

from __future__ import annotations

from ualign._text import markup, plain

HELP = ("Compare RLHF, NLHF, U-alignment, the best k-set policies and committee baselines: f(k) "
        "beside k/(k+1) under multiset and distinct display, with diversity.")
KSET_MAX_SETS = 20000  # the default caps of the k-multiset LP (exact pricing by enumeration):
KSET_MAX_WORK = 1e8  # multisets, and entries U·C(n+k-1, k)·n of its win matrix (~10 s)
TIME_LIMIT = 2.0  # default seconds per k for kset-distinct and the cc / pav programs
FILES = ("compare.json", "compare.png", "compare-diversity.png")  # written under --out


def add_arguments(p):
    from ualign.report.compare import COMPARE_METHODS

    p.add_argument("profile", metavar="PROFILE",
                   help="a PrefLib file (.soc .soi .toc .toi), a Polis conversation folder, or a "
                        "generator spec such as mallows:n=20,phi=0.7,groups=3")
    p.add_argument("--k", default="1..8", metavar="KS",
                   help="numbers of responses shown: a range 1..16 (or 1-16), a list 1,2,4,8, or a "
                        "mix; each k in [1, 1024] (default 1..8)")
    p.add_argument("--methods", default=",".join(COMPARE_METHODS), metavar="LIST",
                   help=f"comma-separated subset of {','.join(COMPARE_METHODS)} (default: all)")
    p.add_argument("--display", default="both", metavar="D",
                   help="multiset (copies count, the paper's rule), distinct (outputs merged, "
                        "what a person sees) or both (default: two columns per method)")
    p.add_argument("--out", default="ualign-compare", metavar="DIR",
                   help="folder for compare.json, compare.png (f(k)) and compare-diversity.png "
                        "(default ./ualign-compare)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomised solvers")
    p.add_argument("--kset-max-sets", type=int, default=KSET_MAX_SETS, metavar="M",
                   help="run kset only at k with at most M candidate k-multisets "
                        f"(C(n+k-1, k)); default {KSET_MAX_SETS} (its LP is exact there; "
                        "beyond, the greedy pricer takes minutes per k on a Polis conversation)")
    p.add_argument("--kset-max-work", type=float, default=KSET_MAX_WORK, metavar="W",
                   help="run kset only at k where its win matrix U·C(n+k-1, k)·n has at most W "
                        f"entries (default {KSET_MAX_WORK:g}, about 10 s; vTaiwan uberx at k = 2 "
                        "has 1.0e9 and takes 40-100 s)")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="S",
                   help="seconds per k for kset-distinct and the cc / pav programs (default "
                        f"{TIME_LIMIT:g}; a run it stops keeps its certified bound and is noted)")


def _chunks(methods, per: int):
    return [methods[i:i + per] for i in range(0, len(methods), per)] or [()]


def _packed(methods, widths, room: int):
    """``methods`` split into runs whose ``widths`` (columns, borders included) sum to at most
    ``room`` (one method per run at least), so that no header is cut in two."""
    runs: list[tuple] = []
    run: list = []
    used = 0
    for m in methods:
        if run and used + widths[m] > room:
            runs.append(tuple(run))
            run, used = [], 0
        run.append(m)
        used += widths[m]
    return [*runs, tuple(run)] if run else (runs or [()])


def _fk_caption(displays) -> str:
    """The caption of the f(k) tables: which display each column uses and what marks mean."""
    two = len(displays) > 1
    return ("worst-case win rate of the k responses shown; "
            + ("ms: multiset display (copies count), dist: distinct display (merged); "
               if two else f"{displays[0]} display; ")
            + "red: below k/(k+1); –: not defined there or capped (see notes); "
              "*: k-set LP not certified optimal (see JSON upper_bound)")


def _fk_cell(cmp, e, m, k) -> str:
    """One f(k) cell: ``–`` when undefined, ``*`` when a k-set LP is not certified optimal,
    red when below k/(k+1)."""
    if e is None:
        return "–"
    from ualign.report.results import CommitteePolicy

    v = f"{e.robust_win_rate:.4f}"
    policy = cmp.ksets.get(m, {}).get(k)
    if policy is not None and not isinstance(policy, CommitteePolicy) and e.converged is False:
        v += "*"
    return v if e.robust_win_rate >= k / (k + 1) - 1e-6 else f"[red]{v}[/]"


def _fk_tables(cmp, by, width: int):
    """f(k) per method and display, methods split so that each table fits ``width``."""
    from rich.table import Table

    two = len(cmp.displays) > 1
    short = {"multiset": "ms", "distinct": "dist"}  # column labels; another display: its name
    caption = _fk_caption(cmp.displays)
    tables = []
    # each column: its header ("kset-distinct dist") or a cell ("0.6667*"), plus 3 of border
    # and padding; k and k/(k+1) take 16
    widths = {m: sum(max(9, len(f"{m} {short.get(d, d)}" if two else m)) + 3
                     for d in cmp.displays) for m in cmp.methods}
    for part in _packed(cmp.methods, widths, width - 17):
        f = Table(title=f"f(k) on {markup(cmp.profile)} ({cmp.n_users} orders, {cmp.n_responses} "
                        "responses)", caption=caption)
        f.add_column("k", justify="right")
        f.add_column("k/(k+1)", justify="right", style="dim")
        for m in part:
            for d in cmp.displays:
                f.add_column(f"{m} {short.get(d, d)}" if two else m, justify="right", min_width=7,
                             overflow="fold")
        for k in cmp.ks:
            cells = [_fk_cell(cmp, by.get((m, k, d)), m, k) for m in part for d in cmp.displays]
            f.add_row(str(k), f"{k / (k + 1):.4f}", *cells)
        tables.append(f)
    return tables


def _diversity_tables(cmp, by, width: int):
    """Entropy / support / expected distinct responses shown, per method, split to fit
    ``width``."""
    from rich.table import Table

    tables = []
    per = max(1, (width - 6) // 19)
    for part in _chunks(cmp.methods, per):
        d_tab = Table(title="what is shown: entropy of a shown response (bits) / support size / "
                            "expected distinct responses among the k")
        d_tab.add_column("k", justify="right")
        for m in part:
            d_tab.add_column(m, justify="right", min_width=15, overflow="fold")
        for k in cmp.ks:
            div = []
            for m in part:
                e = next((by[(m, k, d)] for d in cmp.displays if (m, k, d) in by), None)
                div.append("–" if e is None else
                           f"{e.entropy_bits:.2f} / {e.support} / {e.distinct_shown:.2f}")
            d_tab.add_row(str(k), *div)
        tables.append(d_tab)
    return tables


def _tables(cmp, width: int = 100):
    """Rich tables: f(k) per method and display (red when below k/(k+1)), then diversity
    (entropy / support / expected distinct responses shown); methods are split over several
    tables so that each fits ``width`` columns."""
    by = {(e.method, e.k, e.display): e for e in cmp.entries}
    return _fk_tables(cmp, by, width) + _diversity_tables(cmp, by, width)


def profile_name(spec) -> str:
    """The name a plot title gives the profile: a file's name without its folders and suffix
    (``brexit-consensus`` for ``data/brexit-consensus.soc``), a generator spec as written."""
    from pathlib import Path

    path = Path(str(spec))
    return path.stem if path.exists() else str(spec)


def run(args) -> int:
    from rich.console import Console

    from ualign.cli._console import PIPE_MAX_WIDTH, print_tables
    from ualign.cli._options import parse_display, parse_ks, parse_methods
    from ualign.cli._paths import out_dir
    from ualign.cli._progress import compile_notice, progress
    from ualign.data import load_profile
    from ualign.report.compare import compare_methods
    from ualign.report.plots import render_png
    from ualign.report.render import render_json, write_files

    compile_notice("compare")
    ks = parse_ks(args.k)
    methods = parse_methods(args.methods)
    displays = parse_display(args.display)
    if args.kset_max_sets is not None and args.kset_max_sets < 1:
        raise ValueError(f"--kset-max-sets must be an integer >= 1, got {args.kset_max_sets}")
    if not args.kset_max_work > 0:
        raise ValueError(f"--kset-max-work must be a number > 0, got {args.kset_max_work}")
    if not args.time_limit > 0:
        raise ValueError(f"--time-limit must be a number of seconds > 0, got {args.time_limit}")
    out = out_dir(args.out, files=FILES)
    profile = load_profile(args.profile)
    with progress("compare", len(methods) * len(ks)) as bar:
        cmp = compare_methods(profile, ks, methods, name=str(args.profile), seed=args.seed,
                              kset_max_sets=args.kset_max_sets,
                              kset_max_work=args.kset_max_work,
                              display="both" if len(displays) > 1 else displays[0],
                              time_limit=args.time_limit,
                              tick=bar.step)
    name = profile_name(args.profile)
    files = {"compare.json": render_json(cmp).encode(),
             "compare.png": render_png(cmp.fk_plot(f"f(k) on {name}")),
             "compare-diversity.png": render_png(cmp.diversity_plot(f"diversity on {name}"))}
    write_files(files, out)
    console = Console()
    print_tables(_tables(cmp, console.width if console.is_terminal else PIPE_MAX_WIDTH),
                 console)
    for note in cmp.notes:
        print(f"note: {plain(note)}")
    print(f"wrote {plain(out / 'compare.json')}, {plain(out / 'compare.png')} and "
          f"{plain(out / 'compare-diversity.png')}")
    return 0
