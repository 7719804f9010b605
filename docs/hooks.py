"""MkDocs hooks: the pages that are generated from the code at build time, so they cannot drift.

- ``<!-- ualign:cli -->`` becomes the ``--help`` of ``ualign`` and of every subcommand, taken
  from the argparse parsers (``ualign.cli.build_parser``).
- ``<!-- ualign:api PACKAGE -->`` becomes one mkdocstrings block (``::: PACKAGE.NAME``) per name
  in ``PACKAGE.__all__``; a name whose object another documented package already renders (the
  package that defines it, when that package exports it under the same name) becomes a link to
  that entry instead, so every public object is rendered once. A package without ``__all__``
  gets one block per public submodule.
- ``<!-- ualign:claims -->`` becomes the claims of ``ualign reproduce`` with their method notes
  (``ualign.report.claims.CLAIMS``).
- ``<!-- ualign:readme -->`` becomes README.md (the home page is the README: one text, two
  places), its links to ``docs/X`` made relative to the site.
- Links from a page to ``../benchmarks/results/*`` (right on GitHub, where ``docs/`` is a folder
  of the repository) point at copies of those files that ``on_files`` adds to the site.

``SphinxRoles`` is a griffe extension (mkdocs.yml loads it from this file): the docstrings use
Sphinx roles (``:func:`x```), which Markdown does not know; they render as code.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))      # document this tree, not an installed copy

# The documented packages, in layer order; the API page of each is api/<last component>.md.
PACKAGES = ("ualign.core", "ualign.solvers", "ualign.data", "ualign.llm", "ualign.report",
            "ualign.train", "ualign.integrations")
RESULTS = "benchmarks/results"
OUTSIDE = ("CONTRIBUTING.md",)                # files of the repository root the site shows

_MARK = re.compile(r"<!--\s*ualign:(\w+)\s*([\w.]*)\s*-->")
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`~?([^`]+)`")


# ---------------------------------------------------------------------------- griffe extension
class SphinxRoles(griffe.Extension):
    """``:func:`~a.b.c``` -> ```c```, ``:class:`a.B``` -> ```a.B``` in every docstring."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_role, obj.docstring.value)


def _role(m: re.Match) -> str:
    target = m.group(1)
    short = target.rsplit(".", 1)[-1] if m.group(0).count("~") else target
    return f"`{short}`"


# ---------------------------------------------------------------------------- CLI reference
def _cli_reference() -> str:
    os.environ["COLUMNS"] = "100"               # argparse wraps help at the terminal width
    from ualign.cli import build_parser

    parser = build_parser()
    parts = ["## `ualign`", "", "```text", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        parts += [f"## `ualign {name}`", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- API reference
def _home(obj) -> str | None:
    """The documented package that defines ``obj`` (a function or class), else None."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return None
    module = getattr(obj, "__module__", "") or ""
    return next((p for p in PACKAGES if module == p or module.startswith(p + ".")), None)


def _static_names(package: str) -> set[str]:
    """The names griffe finds in ``package`` by reading its source (a name a module-level
    ``__getattr__`` imports lazily is not among them)."""
    return set(griffe.load(package, search_paths=[str(ROOT / "src")],
                           resolve_aliases=False).members)


def _api(package: str) -> str:
    pkg = importlib.import_module(package)
    names = getattr(pkg, "__all__", None)
    if names is None:                           # no __all__: its public modules
        mods = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                      if not m.name.startswith("_"))
        return "\n\n".join(f"::: {package}.{m}" for m in mods) + "\n"
    blocks = []
    static = _static_names(package)
    for name in sorted(names, key=str.lower):
        obj = getattr(pkg, name)
        home = _home(obj)
        if home and home != package:
            owner = importlib.import_module(home)
            if name in getattr(owner, "__all__", ()) and getattr(owner, name, None) is obj:
                ref = f"{home}.{name}"
                blocks.append(f"### `{name}`\n\nThe same object as [`{ref}`][{ref}].")
                continue
        if name == "__version__":
            from ualign._version import __version__

            blocks.append(f"### `__version__`\n\nThe installed version (`{__version__}` when "
                          f"this page was built).")
            continue
        if name in static:
            blocks.append(f"::: {package}.{name}")
        else:                                   # lazy: render it where it is defined
            blocks.append(f"::: {obj.__module__}.{obj.__qualname__}")
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------- claims
def _md(text: str) -> str:
    """Plain text as Markdown: ``π*_k`` must not open emphasis."""
    return re.sub(r"([\\`*_\[\]])", r"\\\1", text)


def _claims() -> str:
    from ualign.report import ReproduceConfig
    from ualign.report.claims import CLAIMS

    parts = []
    for spec in CLAIMS:
        try:
            statement = spec.statement.format(c=spec.configure(ReproduceConfig()))
        except (AttributeError, KeyError, IndexError, ValueError):
            statement = spec.statement
        parts += [f"## ({spec.key}) {_md(spec.title)}", "",
                  f"**Claim** ({_md(spec.reference)}): {_md(statement)}", "",
                  f"**Bound checked**: {_md(spec.bound)}", ""]
        if spec.notes:
            parts += [f"**How it is measured**: {_md(spec.notes)}", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- mkdocs hooks
def _outside_docs(markdown: str) -> str:
    """A page written at the repository root, shown at the site's root: ``docs/X`` is ``X``."""
    return markdown.replace("](docs/", "](")


def on_files(files, config):
    """Add ``benchmarks/results/*`` (``docs/`` pages link to them) and CONTRIBUTING.md."""
    from mkdocs.structure.files import File

    for name in OUTSIDE:
        files.append(File(name, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    for path in sorted((ROOT / RESULTS).glob("*")):
        if path.is_file() and path.suffix in (".md", ".json"):
            files.append(File(f"{RESULTS}/{path.name}", str(ROOT), config["site_dir"],
                              config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    def expand(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2)
        if kind == "cli":
            return _cli_reference()
        if kind == "api":
            return _api(arg)
        if kind == "claims":
            return _claims()
        if kind == "readme":
            return _outside_docs((ROOT / "README.md").read_text(encoding="utf-8"))
        raise ValueError(f"{page.file.src_uri}: unknown marker ualign:{kind}")

    markdown = _MARK.sub(expand, markdown)
    if page.file.src_uri in OUTSIDE:
        markdown = _outside_docs(markdown)
    # ../benchmarks/results/X from a page in docs/ -> the copy added by on_files
    depth = page.file.src_uri.count("/")
    if not page.file.src_uri.startswith(RESULTS):
        markdown = markdown.replace(f"]({'../' * (depth + 1)}{RESULTS}/",
                                    f"]({'../' * depth}{RESULTS}/")
    return markdown
