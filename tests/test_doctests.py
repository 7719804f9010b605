"""The ``Examples:`` blocks of the public docstrings run as tests, and so does the README's
five-line example.

Every module of ``ualign.core`` and ``ualign.solvers`` and ``ualign.llm.select`` is searched with
``doctest``; each docstring that holds ``>>>`` lines is one test, run in a fresh namespace with
no globals of its module (an example imports what it uses, as a reader would). A second test
holds the coverage: every public function (a function named in a module's or package's
``__all__``) of those packages has an example, except the ones listed in ``PENDING``, which can
only shrink (a name there that has gained an example fails the test until it is removed).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ("ualign.core", "ualign.solvers")
MODULES = ("ualign.llm.select",)   # one module of a package that needs the llm extra

# Public functions without an example yet (none since the floor plan, issue 21). Only remove
# names from this set.
PENDING: set[str] = set()


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names.append(pkg)
        names += [f"{pkg}.{m.name}" for m in pkgutil.walk_packages(mod.__path__)]
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:          # the llm extra is not installed
            continue
        names.append(name)
    return sorted(set(names))


def _examples() -> list[tuple[str, doctest.DocTest]]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    out = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name, globs={}):
            if test.examples:
                out.append((test.name, test))
    return sorted(out, key=lambda t: t[0])


EXAMPLES = _examples()


@pytest.mark.usefixtures("one_numba_thread")
@pytest.mark.parametrize("test", [t for _, t in EXAMPLES], ids=[n for n, _ in EXAMPLES])
def test_docstring_examples_run(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    test.globs = {}
    results = runner.run(test, out=lambda s: print(s, end=""))
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in " \
                                f"{test.name} (the output above says which)"


def _public_functions() -> dict[str, object]:
    found = {}
    for name in _modules():
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            obj = getattr(module, public, None)
            if inspect.isfunction(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_public_function_has_an_example():
    functions = _public_functions()
    assert len(functions) > 40          # the search found the packages' functions
    missing = sorted(n for n, f in functions.items()
                     if ">>>" not in (inspect.getdoc(f) or "") and n not in PENDING)
    assert not missing, f"public functions without an Examples block: {missing}"
    done = sorted(n for n in PENDING
                  if n in functions and ">>>" in (inspect.getdoc(functions[n]) or ""))
    assert not done, f"these have an example now; remove them from PENDING: {done}"


# ---------------------------------------------------------------------------- the README's example
ROOT = Path(__file__).resolve().parent.parent
APA = ROOT.parent / "shared" / "data" / "preflib" / "00028-apa" / "00028-00000001.toc"


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"## The library in five lines\n\n```python\n(.*?)```", text, re.S)
    assert m, "README.md has no python block under '## The library in five lines'"
    return m.group(1)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.skipif(not APA.is_file(), reason="needs ../shared/data")
def test_readme_example_prints_what_its_comments_say():
    """The README's five-line example runs from the repository root, and each ``print`` line
    prints the value its comment states (the first four-decimal number of the comment, to four
    decimals; an exploitability stated as ``1.6e-13`` only needs to be below 1e-9)."""
    code = _readme_example()
    expected = []
    for line in code.splitlines():
        if line.startswith("print("):
            comment = line.split("#", 1)[1]
            expected.append((re.search(r"\d\.\d{4}", comment).group(0),
                             re.search(r"\de-\d+", comment) is not None))
    assert len(expected) == 4, f"expected 4 print lines, found {len(expected)}"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    printed = r.stdout.split("\n")
    for (value, has_gap), out in zip(expected, printed, strict=False):
        numbers = [float(x) for x in out.split()]
        assert f"{numbers[0]:.4f}" == value, f"printed {out!r}, the README says {value}"
        if has_gap:
            assert 0 <= numbers[1] < 1e-9, f"exploitability {numbers[1]} (README: ~1e-13)"
