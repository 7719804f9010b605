"""The architecture, checked by a machine (STYLE.md rules 15-16; CONTRIBUTING.md).

- the import-linter contract of ``pyproject.toml`` holds: core < solvers < data < llm <
  {report, train, integrations} < cli, the three consumers independent;
- no import cycle between modules, nor between the packages of ``ualign`` (grimp's graph, imports
  under ``if TYPE_CHECKING:`` included);
- a display is never compared to a string literal outside ``core/`` (``core.displays`` says what
  differs between displays);
- no function is more complex than cyclomatic complexity 20 (radon), the PrefLib and Polis
  parsers excepted.

Where studies and command lines live is ``tests/test_layout.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ualign"

# Functions allowed above the complexity ceiling: the file-format parsers, whose branches follow
# the formats' cases.
COMPLEXITY_CEILING = 20
COMPLEX_PARSERS = {("core/preflib.py", "read_preflib"), ("data/polis.py", "read_polis")}


def _graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph("ualign", exclude_type_checking_imports=False)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_import_linter_layers_contract_holds():
    pytest.importorskip("importlinter")
    proc = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                           " lint_imports_command()"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout, proc.stdout[-4000:]


def test_no_module_cycles():
    g = _graph()
    edges = {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules
             if m.startswith("ualign")}
    # A package's __init__ importing its own submodules is how re-exports work, not a cycle of
    # dependencies: drop the edges from a package to its descendants.
    for m, targets in edges.items():
        edges[m] = {t for t in targets if not t.startswith(m + ".")}
    assert _cycles(edges) == []


def test_no_package_cycles():
    g = _graph()
    edges: dict[str, set[str]] = {}
    for m in g.modules:
        parts = m.split(".")
        if len(parts) < 3:  # ualign itself and its top-level modules
            continue
        src = ".".join(parts[:2])
        for t in g.find_modules_directly_imported_by(m):
            tp = t.split(".")
            if len(tp) >= 2 and tp[0] == "ualign" and ".".join(tp[:2]) != src:
                edges.setdefault(src, set()).add(".".join(tp[:2]))
    assert _cycles(edges) == []


_DISPLAY_LITERAL = re.compile(r"""[!=]=\s*["'](distinct|multiset)["']|["'](distinct|multiset)["']\s*[!=]=""")


def test_displays_are_not_compared_to_literals_outside_core():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("core/"):
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _DISPLAY_LITERAL.search(line.split("#", 1)[0]):
                hits.append(f"{rel}:{i}: {line.strip()}")
    assert hits == [], "\n".join(hits)


def test_no_function_above_the_complexity_ceiling():
    cc = pytest.importorskip("radon.complexity")
    over = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for block in cc.cc_visit(path.read_text(encoding="utf-8")):
            items = [block, *getattr(block, "closures", ())]
            if hasattr(block, "methods"):
                items += list(block.methods)
            for b in items:
                if b.complexity > COMPLEXITY_CEILING and (rel, b.name) not in COMPLEX_PARSERS:
                    over.add(f"{rel}:{b.lineno} {b.name} ({b.complexity})")
    assert not over, "\n".join(sorted(over))
