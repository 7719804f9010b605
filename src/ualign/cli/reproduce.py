"""``ualign reproduce [--out DIR] [--data DIR] [--quick]``: every claim of the universal-alignment
framework as a measured row with PASS/FAIL, plus real preference data when it is present; one
self-contained HTML report (plots embedded), Markdown and JSON. Exit status 1 if a claim fails."""

from __future__ import annotations

from pathlib import Path

HELP = ("Measure every claim of the paper (PASS/FAIL against its bound) and compare the methods "
        "on real data; writes an HTML / Markdown / JSON report.")


def add_arguments(p):
    p.add_argument("--out", default="ualign-report", metavar="DIR",
                   help="folder for report.html, report.md, report.json and plots/ "
                        "(default ./ualign-report)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="the real-data folder (polis/, preflib/); default ../shared/data when it "
                        "exists, else the real-data section is left out")
    p.add_argument("--no-data", action="store_true", help="leave the real-data section out")
    p.add_argument("--quick", action="store_true",
                   help="fewer cases and smaller instances (about 5 s once numba has "
                        "compiled its kernels, about 15 s on a first run; for tests)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random instance and solver")


def _summary(report):
    from rich.table import Table

    from ualign._text import markup

    t = Table(title=f"ualign reproduce ({'quick' if report.quick else 'full'}, "
                    f"{report.seconds:.0f} s)")
    for col, just in (("claim", "left"), ("what", "left"), ("measured", "left"),
                      ("verdict", "center")):
        t.add_column(col, justify=just, overflow="fold")
    for c in report.claims:
        style = "bold green" if c.passed else "bold red"
        t.add_row(f"({markup(c.key)})", markup(c.title), markup(c.measured),
                  f"[{style}]{markup(c.verdict)}[/]")
    return t


def run(args) -> int:
    from ualign._text import plain
    from ualign.cli._console import print_tables
    from ualign.cli._paths import out_dir
    from ualign.cli._progress import compile_notice, progress
    from ualign.report.render import report_files, write_files
    from ualign.report.reproduce import (
        ReproduceConfig,
        build_report,
        default_data_dir,
        n_steps,
    )

    compile_notice("reproduce")
    out = out_dir(args.out, files=("report.html", "report.md", "report.json"),
                  folders=("plots",))
    data_dir: Path | None
    if args.data is not None:
        data_dir = Path(args.data)
        if not data_dir.is_dir():
            raise FileNotFoundError(f"--data must be an existing folder, got {args.data}")
    else:
        data_dir = None if args.no_data else default_data_dir()
    config = (ReproduceConfig.quick_config(args.seed) if args.quick
              else ReproduceConfig(seed=args.seed))
    with progress("reproduce", n_steps(config, data_dir)) as bar:
        report = build_report(config, data_dir,
                              tick=lambda msg: bar.step(msg, advance=0),
                              advance=lambda: bar.step(advance=1),
                              data_left_out=args.no_data and args.data is None)
    files = report_files(report)
    write_files(files, out)
    print_tables([_summary(report)])
    for note in report.notes:
        print(plain(note))
    verdict = "all claims PASS" if report.passed else (
        f"{sum(not c.passed for c in report.claims)} claim(s) FAIL")
    print(f"{verdict}; report: {plain((out / 'report.html').resolve())} (also report.md, "
          "report.json)")
    return 0 if report.passed else 1
