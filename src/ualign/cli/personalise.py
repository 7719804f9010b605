"""``ualign personalise PROFILE --m 0,1,2,4,8,16 --k 1,2,4,8 --holdout 0.2 --seed 0 --out DIR``:
the universal ↔ personalised trade-off on held-out people (THEORY.md §10): win rate on their
hidden ratings against the number m of ratings revealed, one line per k; rich tables, PNG plots
and a JSON file with every number."""

from __future__ import annotations

import json

HELP = ("Universal vs personalised: hold out people, reveal m of their ratings, show k "
        "responses aligned to the posterior, score them on the hidden ratings.")

METRICS = ("mean", "robust", "vs_worst", "vs_worst_all")


def add_arguments(p):
    p.add_argument("profile", metavar="PROFILE",
                   help="a Polis conversation folder (real votes), a PrefLib file or a generator "
                        "spec such as mallows:n=8,phi=0.7,groups=2 (one person per voter)")
    p.add_argument("--m", default="0,1,2,4,8,16", metavar="MS",
                   help="numbers of revealed ratings, a list like 0,1,2,4,8,16 (fewer for "
                        "people who rated fewer; default 0,1,2,4,8,16)")
    p.add_argument("--k", default="1,2,4,8", metavar="KS",
                   help="numbers of responses shown: 1,2,4,8, a range 1..8 (or 1-8) or a mix; "
                        "each k in [1, 1024] (default 1,2,4,8)")
    p.add_argument("--holdout", type=float, default=0.2, metavar="SHARE",
                   help="share of people held out, in (0, 1) (default 0.2)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, the sampled people, the revealed ratings and the "
                        "bootstrap (default 0)")
    p.add_argument("--max-users", type=int, default=200, metavar="N",
                   help="evaluate at most N held-out people (default 200)")
    p.add_argument("--noise", default="fit", metavar="DELTA",
                   help="δ of the noise model in (0, 0.5), or 'fit' (default: fitted by held-out "
                        "likelihood inside the population)")
    p.add_argument("--out", default="ualign-personalise", metavar="DIR",
                   help="folder for personalise.json and personalise-METRIC.png (mean, robust, "
                        "vs_worst, vs_worst_all) "
                        "(default ./ualign-personalise)")


def _noise(text: str):
    if text == "fit":
        return "fit"
    try:
        d = float(text)
    except ValueError:
        raise ValueError(f"--noise must be 'fit' or a number in (0, 0.5), got {text!r}") from None
    if not 0.0 < d < 0.5:
        raise ValueError(f"--noise must be 'fit' or a number in (0, 0.5), got {text!r}")
    return d


def _table(rows, metric: str, summary):
    """One rich table: rows (method, m), columns k; multiset display (distinct in JSON)."""
    from rich.table import Table

    from ualign._text import markup
    from ualign.core.displays import PAPER_DISPLAY
    from ualign.report.personalise import PERSONALISE_METHODS

    names = {"mean": "mean win rate over the hidden-rated responses",
             "robust": "robust win rate (the person's worst hidden-rated response)",
             "vs_worst": "win rate against the posterior's worst hidden-rated response "
                         "(guarantee check: k/(k+1) if the model were true)",
             "vs_worst_all": "win rate against the posterior's worst unrevealed response, "
                             "unrated at the fill level (guarantee check, model-consistent)"}
    sel = [r for r in rows if r.display == PAPER_DISPLAY]
    ks = sorted({r.k for r in sel})
    t = Table(title=f"{markup(summary.dataset)}: {names[metric]}, {PAPER_DISPLAY} display",
              caption=f"{summary.n_evaluated} held-out people, δ = {summary.delta:g}; "
                      "ualign = posterior equilibrium (k samples), greedy = distinct k-set, "
                      "argmax = personalised top-1, universal = m = 0 choice")
    t.add_column("method")
    t.add_column("m", justify="right")
    t.add_column("revealed", justify="right", style="dim")
    for k in ks:
        t.add_column(f"k = {k}", justify="right")
    by = {(r.method, r.m, r.k): r for r in sel}
    for method in PERSONALISE_METHODS:
        for m in sorted({r.m for r in sel if r.method == method}):
            cells = []
            rev = ""
            for k in ks:
                r = by.get((method, m, k))
                if r is None:
                    cells.append("–")
                    continue
                rev = f"{r.revealed:.1f}"
                v = getattr(r, metric)
                cell = f"{v:.3f}"
                if metric.startswith("vs_worst") and method in ("ualign", "universal") \
                        and getattr(r, metric + "_hi") < k / (k + 1):
                    cell = f"[red]{cell}[/]"
                cells.append(cell)
            t.add_row(method, str(m), rev, *cells)
    return t


def run(args) -> int:
    from ualign._text import plain
    from ualign.cli._console import print_tables
    from ualign.cli._options import parse_ks, parse_ms
    from ualign.cli._paths import out_dir
    from ualign.cli._progress import compile_notice, progress
    from ualign.data.people import load_people
    from ualign.report.personalise import measure_personalisation
    from ualign.report.personalise_plots import curve_png
    from ualign.report.render import write_files
    from ualign.report.results import jsonable

    compile_notice("personalise")
    ms = parse_ms(args.m)
    ks = parse_ks(args.k)
    noise = _noise(args.noise)
    if not 0.0 < args.holdout < 1.0:
        raise ValueError(f"--holdout must be a share in (0, 1), got {args.holdout}")
    if args.max_users < 1:
        raise ValueError(f"--max-users must be an integer >= 1, got {args.max_users}")
    out = out_dir(args.out, files=("personalise.json",
                                   *(f"personalise-{metric}.png" for metric in METRICS)))
    people = load_people(args.profile)
    n_eval = min(args.max_users, max(1, round(args.holdout * people.levels.shape[0])))
    with progress("personalise", n_eval) as bar:
        rows, summary = measure_personalisation(
            people, ms, ks, holdout=args.holdout, seed=args.seed, max_users=args.max_users,
            noise=noise,
            tick=bar.step)
    data = {"profile": str(args.profile), "ms": ms, "ks": ks, "holdout": args.holdout,
            "seed": args.seed, "noise": args.noise, "summary": summary._asdict(),
            "rows": [r._asdict() for r in rows]}
    files = {"personalise.json": (json.dumps(jsonable(data), indent=1, allow_nan=False)
                                  + "\n").encode()}
    for metric in METRICS:
        files[f"personalise-{metric}.png"] = curve_png(rows, metric)
    write_files(files, out)
    print_tables([_table(rows, metric, summary) for metric in METRICS])
    print(f"wrote {', '.join(plain(out / f) for f in files)}")
    return 0
