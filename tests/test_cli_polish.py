"""What a first hour with the command line trips over: start-up cost of ``--version`` / ``--help``,
the defaults in ``--help``, one ``--display`` error, one index base in ``info``, the two Polis
user counts explained, tables that keep their words when piped, the compile notice, start-up
progress of ``select``, and the README's count of the report's datasets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ualign.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SOC = ("# FILE NAME: t.soc\n# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 3\n# NUMBER VOTERS: 6\n"
       "# NUMBER UNIQUE ORDERS: 2\n# ALTERNATIVE NAME 1: apple\n# ALTERNATIVE NAME 2: pear\n"
       "# ALTERNATIVE NAME 3: plum\n4: 2,1,3\n2: 3,2,1\n")   # pear (index 1) beats both
ENGINE = ("numpy", "numba", "scipy", "rich", "ualign.core", "ualign.solvers", "ualign.data")


def _python(code: str, env: dict | None = None, timeout: int = 300):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_do_not_import_the_engine(argv):
    """``ualign --version`` / ``--help`` (and bare ``ualign``) import neither NumPy, numba,
    SciPy nor Rich: what they load is checked, not how long it takes."""
    code = ("import sys\nfrom ualign.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', [m for m in {ENGINE!r} if m in sys.modules])")
    r = _python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "LOADED []", r.stdout[-500:]
    if argv == ["--version"]:
        assert r.stdout.startswith("ualign ")
    if argv:
        assert "reproduce" in r.stdout or argv == ["--version"]


def test_the_package_imports_its_api_on_first_use():
    """``import ualign`` is light; ``ualign.Profile`` and ``from ualign import *`` still give
    the whole public API."""
    r = _python("import sys, ualign\nlight = 'numba' not in sys.modules\n"
                "from ualign import *\n"
                "print(light, all(hasattr(ualign, n) for n in ualign.__all__), "
                "Profile.__module__, sorted(set(ualign.__all__) - set(dir(ualign))))")
    assert r.stdout.split() == ["True", "True", "ualign.core.profile", "[]"], r.stderr


def test_every_command_parses_its_help(capsys):
    from ualign.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: ualign {name}")


def test_select_help_shows_its_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["select", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(N; default 32)", "(default 64)", "default results.jsonl", "(default 8)",
                    "(default 1.0)", "(default 0.95)", "(default 0)", "(default 4)"):
        assert default in text, default


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_display_errors_are_one_style(tmp_path, capsys):
    """Every ``--display`` error names the option and the accepted values the same way (no
    Python tuple); ``select`` says why it refuses ``both``."""
    (tmp_path / "p.txt").write_text("hi\n")
    common = "--display must be one of multiset, distinct"
    e1 = _error(capsys, ["compare", "mallows:n=4", "--display", "sideways",
                         "--out", str(tmp_path / "o")])
    e2 = _error(capsys, ["select", "--prompts", str(tmp_path / "p.txt"), "--population", "x",
                         "--display", "sideways", "--out", str(tmp_path / "r.jsonl")])
    e3 = _error(capsys, ["select", "--prompts", str(tmp_path / "p.txt"), "--population", "x",
                         "--display", "both", "--out", str(tmp_path / "r.jsonl")])
    for e in (e1, e2, e3):
        assert common in e and "('" not in e, e
    assert e1.endswith("both, got 'sideways'") and e2.endswith("distinct, got 'sideways'")
    assert "run it once per display" in e3


def test_info_names_the_condorcet_winner_in_one_index_base(tmp_path, capsys):
    (tmp_path / "t.soc").write_text(SOC)
    assert main(["info", str(tmp_path / "t.soc")]) == 0
    out = capsys.readouterr().out
    assert "pear (index 1, counting from 0)" in out
    assert not re.search(r"Condorcet winner\s*│\s*\d+ \(", out), out


def test_the_two_polis_user_counts_are_explained(tmp_path, capsys):
    """``info`` counts the participants read_polis keeps (passes count), ``serve`` those of a
    polis: population (agree/disagree only): each says its rule beside its number."""
    from ualign.cli._console import polis_population_rule, read_polis_rule

    conv = tmp_path / "conv"
    conv.mkdir()
    (conv / "comments.csv").write_text("comment-id,moderated,comment-body\n"
                                       + "".join(f"{i},1,statement {i}\n" for i in range(8)))
    # participant 0: 8 votes, 5 of them passes; participant 1: 8 agree/disagree votes
    (conv / "participants-votes.csv").write_text(
        "participant," + ",".join(map(str, range(8))) + "\n"
        "0,1,-1,1,0,0,0,0,0\n1,1,-1,1,-1,1,-1,1,-1\n")
    assert main(["info", str(conv)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "2 (participants with at least 7 votes, passes included)" in out
    assert "agree or disagree votes" in out and "passes do not count" in out
    assert "at least 5 agree or disagree" in polis_population_rule()
    assert "at least 20 agree" in polis_population_rule("polis:x,mode=group,min_votes=20")
    assert "at least 7 votes (min_votes; passes count)" in read_polis_rule()


def test_piped_tables_keep_their_words(tmp_path, capsys):
    """Standard output is not a terminal here: every method and every column header of the
    f(k) tables prints whole (Rich would fold ``kset-distinct ms`` into ``kset-dis`` /
    ``tinct ms`` at its default 80 columns)."""
    from ualign.report.compare import COMPARE_METHODS

    assert main(["compare", "mallows:n=5,phi=0.7,groups=2", "--k", "1..2",
                 "--out", str(tmp_path / "o"), "--time-limit", "1"]) == 0
    out = capsys.readouterr().out
    for m in COMPARE_METHODS:
        assert f"{m} ms" in out and f"{m} dist" in out, m
    assert "kset-dis\n" not in out


def test_wide_tables_keep_their_words_at_any_width():
    """Split to the width they are printed at, the f(k) tables never cut a header."""
    from types import SimpleNamespace

    from rich.console import Console

    from ualign.cli.compare import _fk_tables
    from ualign.report.compare import COMPARE_METHODS

    cmp = SimpleNamespace(displays=("multiset", "distinct"), methods=COMPARE_METHODS,
                          ks=(1,), profile="p", n_users=2, n_responses=3, ksets={})
    for width in (60, 80, 120, 160):
        console = Console(width=width, record=True)
        for t in _fk_tables(cmp, {}, width):
            console.print(t)
        text = console.export_text()
        for m in COMPARE_METHODS:
            assert re.search(rf"\b{re.escape(m)}\b", text), (width, m)


def test_compile_notice_once_when_numba_compiles(capsys, monkeypatch):
    import numba

    from ualign.cli import _progress

    monkeypatch.setattr(_progress._Notice, "written", False)
    _progress.compile_notice("demo")
    numba.njit(lambda x: x + 1)(1)           # a new function: compiled, not cached
    numba.njit(lambda x: x + 2)(1)
    err = capsys.readouterr().err
    assert err.count("ualign demo: compiling the numeric kernels") == 1, err


def test_compile_notice_only_while_the_cache_is_empty(tmp_path):
    """A first run (an empty numba cache) says that it compiles; the next one says nothing."""
    (tmp_path / "t.soc").write_text(SOC)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    first, second = (subprocess.run([sys.executable, "-c", code, "info", str(tmp_path / "t.soc")],
                                    capture_output=True, text=True, timeout=300, env=env)
                     for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr
    assert "info: compiling the numeric kernels" in first.stderr
    assert "compiling" not in second.stderr, second.stderr


def test_stages_write_plain_lines_off_a_terminal(capsys, monkeypatch):
    from ualign.cli import _progress

    monkeypatch.setattr(_progress, "PLAIN_EVERY", 0.0)
    with _progress.stages("select") as stage:
        stage("loading the population [x]")
        stage("loading the model m")
    err = capsys.readouterr().err.splitlines()
    assert [line.rsplit(" (", 1)[0] for line in err] == [
        "select: loading the population [x]", "select: loading the model m"]


def test_readme_counts_the_datasets_of_the_report():
    """The README's sentence on ``ualign reproduce``'s real datasets counts what the report
    measures (``report.realdata.DATASETS``)."""
    from ualign.report.realdata import DATASETS

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    m = re.search(r"On the (\d+) real datasets of `ualign reproduce` \((\d+) Polis "
                  r"conversations, (\d+) PrefLib files", text)
    assert m, "the README no longer counts the report's datasets in this form"
    kinds = [d.kind for d in DATASETS]
    assert tuple(map(int, m.groups())) == (len(DATASETS), kinds.count("polis"),
                                           kinds.count("preflib"))


def test_no_benchmark_script_writes_a_version_it_did_not_run():
    """Benchmark headers take library versions from the running interpreter, never from a
    literal (a header claiming numba 0.62 after an upgrade to 0.68)."""
    literal = re.compile(r"""["'][^"'\n]*\b(numba|numpy|scipy|torch) \d+\.\d+""")
    bad = [f"{p.name}: {m.group(0)}" for p in sorted((ROOT / "benchmarks").glob("*.py"))
           for m in literal.finditer(p.read_text(encoding="utf-8"))]
    assert not bad, bad
