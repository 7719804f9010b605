"""User data printed by the CLI (issue 12, item 12): Rich markup in labels and paths prints as
written, and terminal escapes in labels never reach the terminal."""

from __future__ import annotations

import json
import sys

import pytest

import ualign
from ualign import Profile
from ualign._text import markup, plain
from ualign.cli import main

NASTY = ["[/bold]", "see [url removed] here", "\x1b]8;;http://evil.example\x07click\x1b]8;;\x07",
         "\x1b[31mred\x1b[0m", "back\\", "bell\x07", "rtl\u202eevil"]


def test_helpers():
    assert plain("a\x1b[31mb\n") == "a\\x1b[31mb\\x0a" and plain("rtl\u202e") == "rtl\\u202e"
    assert plain("tab\tand [x] é 中") == "tab\\x09and [x] é 中"
    from rich.text import Text
    for s in NASTY:
        assert Text.from_markup(markup(s)).plain == plain(s)


@pytest.mark.parametrize("label", NASTY, ids=repr)
def test_info_prints_labels_and_paths_as_written(label, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    folder = tmp_path / "["
    folder.mkdir()
    # response 0 is the Condorcet winner, so `info` prints its label
    P = Profile.from_rankings([[0, 1, 2], [0, 2, 1], [1, 0, 2]], weights=[1, 1, 1],
                              labels=[label, "b", "c"], n_voters=3)
    path = ualign.write_preflib(P, folder / "x] [red]a.soc")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    flat = out.replace("\n", "").replace(" ", "").replace("│", "")
    assert plain(label).replace(" ", "") in flat
    assert "[/x][red]a.soc" in flat


def test_eval_select_prints_method_names_as_written(tmp_path, capsys):
    (tmp_path / "[").mkdir()
    path = tmp_path / "[" / "x].jsonl"
    rec = {"prompt": "p", "candidates": ["a"], "timing": {"generate_s": 1.0, "select_s": {}},
           "results": [{"method": "[/bold]\x1b[31m", "k": 1, "selected_for": "multiset",
                        "display": "multiset", "robust": 0.5}]}
    path.write_text(json.dumps(rec) + "\n")
    assert main(["eval-select", str(path), "--plot", "none"]) == 0
    out = capsys.readouterr().out
    flat = out.replace("\n", "").replace(" ", "").replace("│", "").replace("┃", "")
    assert "[/bold]\\x1b[31m" in flat and "x].jsonl" in out and "\x1b" not in out
    assert main(["eval-select", str(path), "--plot", "none", "--markdown"]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_error_messages_are_printed_plain(tmp_path, capsys):
    path = tmp_path / "bad\x1b[31m.soc"
    path.write_text("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 2\n1: 1,2,3\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "bad\\x1b[31m.soc" in err


def test_plots_escape_dollars_and_control_characters(tmp_path, capfd):
    """Found by a re-check of items 12 and 13: eval-select's plot passed method names to
    matplotlib raw (``$\\foo{$`` raised ParseFatalException and no plot was written), and an
    escape byte in a profile path or a method name reached stderr through matplotlib's
    missing-glyph warning."""
    path = tmp_path / "res.jsonl"
    rec = {"prompt": "p", "candidates": ["a"], "timing": {"generate_s": 1.0, "select_s": {}},
           "results": [{"method": "$\\foo{$\x1b[31m\x07", "k": 1, "selected_for": "multiset",
                        "display": "multiset", "robust": 0.5}]}
    path.write_text(json.dumps(rec) + "\n")
    png = tmp_path / "p.png"
    assert main(["eval-select", str(path), "--plot", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    soc = tmp_path / "a\x1b[31mb\x07.soc"
    soc.write_text("# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 2\n# ALTERNATIVE NAME 1: x\n"
                   "# ALTERNATIVE NAME 2: y\n# NUMBER VOTERS: 2\n# NUMBER UNIQUE ORDERS: 2\n"
                   "1: 1,2\n1: 2,1\n")
    assert main(["compare", str(soc), "--k", "1,2", "--methods", "rlhf",
                 "--out", str(tmp_path / "o")]) == 0
    captured = capfd.readouterr()
    assert "\x1b" not in captured.err and "\x07" not in captured.err


def test_warnings_print_as_one_escaped_line(capfd, monkeypatch):
    """Found by a re-check: a warning during a command (e.g. fetch's missing summary.csv)
    printed Python's file, line and source line after the message."""
    import warnings

    from ualign.cli import info

    def run(args):
        warnings.warn("summary.csv: HTTP 404 \x1b[31m", UserWarning, stacklevel=1)
        return 0

    def show(message, category, filename, lineno, file=None, line=None):  # Python's default
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(info, "run", run)
    with warnings.catch_warnings():      # undo pytest's recording: print as a user sees it
        warnings.simplefilter("always")
        warnings.showwarning = show
        assert main(["info", "x"]) == 0
    err = capfd.readouterr().err
    assert err == "ualign info: warning: summary.csv: HTTP 404 \\x1b[31m\n"
    assert warnings.formatwarning.__name__ == "formatwarning"   # restored after the command
