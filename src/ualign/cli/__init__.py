"""The ``ualign`` command line. Each subcommand lives in its own module ``ualign.cli.<name>``
exposing ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.

Start-up stays light: a command module imports at its top only the standard library and
``ualign._text`` (the engine, NumPy and Rich inside ``add_arguments`` / ``run``), and
:func:`main` builds the arguments of the one command it runs, so ``ualign --version`` and
``ualign --help`` load neither NumPy nor numba (``tests/test_cli_polish.py`` holds it)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from ualign._version import __version__

# command name -> module (kept in the order ``ualign --help`` shows them)
COMMANDS = {
    "reproduce": "ualign.cli.reproduce",
    "compare": "ualign.cli.compare",
    "personalise": "ualign.cli.personalise",
    "info": "ualign.cli.info",
    "fetch": "ualign.cli.fetch",
    "select": "ualign.cli.select",
    "eval-select": "ualign.cli.eval_select",
    "train": "ualign.cli.train",
    "serve": "ualign.cli.serve",
}


class CLIError(Exception):
    """An error the CLI reports as one line (``ualign: error: ...``) with exit status 2."""


def _available():
    for name, module in COMMANDS.items():
        if importlib.util.find_spec(module) is not None:
            yield name, module


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``ualign`` parser: every command with its arguments, or (``only``) every command
    with its one-line help and the arguments of ``only`` alone (what :func:`main` builds, so
    that one command's start-up does not import what the others need)."""
    parser = argparse.ArgumentParser(
        prog="ualign",
        description="Universal alignment by test-time scaling (Cai & Zheng, arXiv 2601.08777).")
    parser.add_argument("--version", action="version", version=f"ualign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available():
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        if only is None or name == only:
            mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _command(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(only=_command(argv) or "")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    import warnings

    from ualign._text import plain

    def one_line(message, category, filename, lineno, line=None) -> str:
        # a warning is one line, escaped, without Python's file, line and source line
        return f"ualign {args.command}: warning: {plain(message)}\n"

    saved, warnings.formatwarning = warnings.formatwarning, one_line
    try:
        return int(args._run(args) or 0)
    except (CLIError, ValueError, OSError) as e:  # OSError: a write failing after the checks
        print(f"ualign {args.command}: error: {plain(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ualign: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = saved


if __name__ == "__main__":
    sys.exit(main())
