"""Issue 12, command-line items: output destinations checked before any work (item 10), user
data printed escaped (item 12), arguments checked before any work and ``$`` in plot titles
(item 13), one ``--k`` syntax for every command and the ``--no-data`` note (item 24)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ualign.cli import main

SOC = ("# FILE NAME: t.soc\n# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 3\n# NUMBER VOTERS: 6\n"
       "# NUMBER UNIQUE ORDERS: 3\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n"
       "# ALTERNATIVE NAME 3: c\n2: 1,2,3\n2: 2,3,1\n2: 3,1,2\n")


def _one_line(capsys, code, *fragments):
    assert code == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def _soc(folder, name):
    """A tiny PrefLib file ``folder/name`` (``name`` may hold a folder part)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SOC)
    return path


# ------------------------------------------------------------------ item 10: destinations
def test_compare_out_with_a_folder_named_compare_json(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "compare.json").mkdir(parents=True)
    # the destination is checked before the profile is even read
    line = _one_line(capsys, main(["compare", "no/such/file.soc", "--out", str(out)]),
                     "--out", "compare.json")
    assert "no/such/file.soc" not in line


def test_out_below_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    _one_line(capsys, main(["compare", "mallows:n=4,phi=0.5", "--out", str(tmp_path / "f" / "d")]),
              "--out")


def test_reproduce_out_with_a_file_named_plots(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plots").write_text("not a folder")
    _one_line(capsys, main(["reproduce", "--quick", "--no-data", "--out", str(out)]),
              "--out", "plots")
    assert not (out / "report.json").exists()


def test_personalise_out_with_a_folder_named_like_its_json(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "personalise.json").mkdir(parents=True)
    _one_line(capsys, main(["personalise", "no/such/file.soc", "--out", str(out)]),
              "--out", "personalise.json")


@pytest.mark.parametrize("flag", ["--out", "--cache"])
def test_select_destination_is_a_folder(tmp_path, capsys, flag):
    folder = tmp_path / "folder"
    folder.mkdir()
    args = ["select", "--prompts", str(tmp_path / "missing.txt"), "--population",
            "personas:x", flag, str(folder)]
    _one_line(capsys, main(args), flag, "folder")


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_eval_select_destination_is_a_folder(tmp_path, capsys, flag):
    folder = tmp_path / "folder"
    folder.mkdir()
    _one_line(capsys, main(["eval-select", str(tmp_path / "missing.jsonl"), flag, str(folder)]),
              flag)


def test_fetch_cache_is_a_file(tmp_path, capsys):
    (tmp_path / "cache").write_text("x")
    _one_line(capsys, main(["fetch", "preflib", "00009-00000001.soc", "--cache",
                            str(tmp_path / "cache"), "--base-url", "http://127.0.0.1:9"]),
              "--cache")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_protected_out(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        _one_line(capsys, main(["compare", "mallows:n=4,phi=0.5",
                                "--out", str(locked / "out")]), "--out", "cannot write")
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and util-linux setpriv")
def test_protected_out_as_root_without_dac_override(tmp_path):
    """The same check for root: the CLI runs without CAP_DAC_OVERRIDE (``setpriv``), so the
    folder's mode binds it as it binds any other user."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    drop = "-dac_override,-dac_read_search"
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        proc = subprocess.run(["setpriv", "--bounding-set", drop, "--inh-caps", drop, "--",
                               sys.executable, "-c", code, "compare", "mallows:n=4,phi=0.5",
                               "--out", str(locked / "out")],
                              capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o700)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "cannot write" in lines[0], lines
    assert not (locked / "out").exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and util-linux setpriv")
def test_read_only_plots_subfolder_is_found_before_the_work(tmp_path):
    """Found by a re-check of item 10: a read-only ``OUT/plots`` failed only when the report
    was written (a raw errno message after the computation)."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots").chmod(0o555)
    drop = "-dac_override,-dac_read_search"
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        proc = subprocess.run(["setpriv", "--bounding-set", drop, "--inh-caps", drop, "--",
                               sys.executable, "-c", code, "reproduce", "--quick", "--no-data",
                               "--out", str(out)], capture_output=True, text=True, timeout=120)
    finally:
        (out / "plots").chmod(0o755)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "--out" in lines[0] and "plots" in lines[0] and "cannot write" in lines[0]
    assert not (out / "report.json").exists()


@pytest.mark.parametrize("args", [["compare", "mallows:n=4,phi=0.5", "--out", ""],
                                  ["personalise", "mallows:n=4,phi=0.5", "--out", " "]])
def test_empty_destination_is_refused(capsys, args):
    """Found by a re-check of item 10: ``--out ''`` wrote into the current folder."""
    _one_line(capsys, main(args), "empty string")


def test_destination_error_through_a_subprocess(tmp_path):
    out = tmp_path / "out"
    (out / "compare.json").mkdir(parents=True)
    code = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, "compare", "mallows:n=4,phi=0.5",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# ------------------------------------------------------------------ item 12: data escaped
def test_compare_prints_a_markup_and_ansi_path_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    # the folder "[" and the file "x]\x1b[31mred.soc": the path holds "[/x]" and an escape
    path = _soc(tmp_path, "[/x]\x1b[31mred.soc")
    out = tmp_path / "out"
    assert main(["compare", str(path), "--k", "1", "--methods", "rlhf", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text
    # the table title wraps at its own width: look for the pieces
    assert "[/x]" in text and "\\x1b[31" in text
    assert json.loads((out / "compare.json").read_text())


def test_personalise_prints_a_markup_and_ansi_path_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    path = _soc(tmp_path, "[/x]\x1b[31mred.soc")
    out = tmp_path / "o[/y]\x1b[0m"
    assert main(["personalise", str(path), "--m", "0,1", "--k", "1", "--max-users", "2",
                 "--noise", "0.1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text
    assert "x]\\x1b[31mred.soc" in text and "o[/y]\\x1b[0m" in text
    assert (out / "personalise.json").is_file()


def test_reproduce_prints_paths_escaped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    data = tmp_path / "d[/x]\x1b[31m"
    data.mkdir(parents=True)
    out = tmp_path / "o[/y]\x1b[0m"
    assert main(["reproduce", "--quick", "--data", str(data), "--out", str(out)]) in (0, 1)
    text = capsys.readouterr().out
    assert "\x1b" not in text
    assert "d[/x]\\x1b[31m" in text and "o[/y]\\x1b[0m" in text


# ------------------------------------------------------------------ item 13: arguments first
def test_select_k_zero_says_what_is_wrong(tmp_path, capsys):
    line = _one_line(capsys, main(["select", "--prompts", str(tmp_path / "p.txt"),
                                   "--population", "personas:x", "--k", "0"]), "--k", "[1, ")
    assert "invalid" not in line


@pytest.mark.parametrize("args, flag", [
    (["--split", "0"], "--split"), (["--split", "1"], "--split"), (["--n", "0"], "--n"),
    (["--temperature", "-1"], "--temperature"), (["--top-p", "0"], "--top-p"),
    (["--max-new-tokens", "0"], "--max-new-tokens"), (["--batch-size", "0"], "--batch-size"),
])
def test_select_checks_arguments_before_reading_anything(tmp_path, capsys, args, flag):
    # the prompts file does not exist: an argument error must come first
    _one_line(capsys, main(["select", "--prompts", str(tmp_path / "p.txt"),
                            "--population", "personas:x", *args]), flag)


def test_dollar_in_the_profile_path_keeps_compare_json(tmp_path, capsys):
    path = _soc(tmp_path, "a$^^$b.soc")  # invalid mathtext if parsed
    out = tmp_path / "out"
    assert main(["compare", str(path), "--k", "1", "--methods", "rlhf", "--out", str(out)]) == 0
    assert json.loads((out / "compare.json").read_text())
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ item 24: one --k syntax
@pytest.mark.parametrize("spec, ks", [
    ("1..4", (1, 2, 3, 4)), ("1-4", (1, 2, 3, 4)), ("1,2,8", (1, 2, 8)),
    ("1-2,4..5,9", (1, 2, 4, 5, 9)), (" 3 ", (3,)),
])
def test_one_k_syntax(spec, ks):
    from ualign.cli._options import parse_ks

    assert parse_ks(spec) == ks


@pytest.mark.parametrize("spec", ["0", "-1", "1-", "..3", "3-1", "1-x", "1-1000000000", ""])
def test_k_errors(spec):
    from ualign.cli._options import parse_ks

    with pytest.raises(ValueError, match="--k"):
        parse_ks(spec)


def test_compare_accepts_a_dash_range(tmp_path):
    out = tmp_path / "out"
    assert main(["compare", "mallows:n=4,phi=0.5", "--k", "1-2", "--methods", "rlhf",
                 "--out", str(out)]) == 0
    assert json.loads((out / "compare.json").read_text())["ks"] == [1, 2]


@pytest.mark.parametrize("spec", ["1..2", "1-1000000000"])
def test_select_k_syntax(tmp_path, capsys, spec):
    """``1..2`` parses (the error is about the missing prompts file); a huge range is a
    one-line ``--k`` error."""
    line = _one_line(capsys, main(["select", "--prompts", str(tmp_path / "p.txt"),
                                   "--population", "personas:x", "--k", spec]))
    assert ("--k" in line) == (spec != "1..2"), line


def test_reproduce_no_data_note(tmp_path, capsys):
    assert main(["reproduce", "--quick", "--no-data", "--out", str(tmp_path / "o")]) in (0, 1)
    text = capsys.readouterr().out
    assert "No data folder found" not in text
    assert "--no-data" in text


def test_train_output_dir_is_a_file(tmp_path, capsys):
    pytest.importorskip("yaml")
    (tmp_path / "run").write_text("a file")
    (tmp_path / "cfg.yaml").write_text(
        f"model: {tmp_path / 'no-model'}\nprompts: ['a']\ncandidates: [ab, ba]\n"
        f"output_dir: {tmp_path / 'run'}\n")
    # checked before the model (which does not exist) is loaded
    _one_line(capsys, main(["train", "--config", str(tmp_path / "cfg.yaml")]), "output_dir")


# ------------------------------------------------- item 23: progress when stderr is a log
def test_compare_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path, capsys,
                                                                       monkeypatch):
    """A Rich bar prints nothing off a terminal, so a long run in a log was silent: there the
    progress is a plain line at most every PLAIN_EVERY seconds (0 here: every step)."""
    from ualign.cli import _progress

    monkeypatch.setattr(_progress, "PLAIN_EVERY", 0.0)
    args = ["compare", "mallows:n=5,phi=0.5,users=40,seed=1", "--k", "1,2", "--methods",
            "rlhf,ualign", "--display", "multiset", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5, lines  # 4 steps (2 methods x 2 k) and "done"
    assert all(ln.startswith("compare: ") and ln.endswith(" s)") for ln in lines), lines
    assert [ln.split()[1] for ln in lines] == ["1/4", "2/4", "3/4", "4/4", "4/4"]
    assert lines[-1].split()[2] == "done"


def test_a_quick_compare_writes_nothing_to_stderr(tmp_path, capsys):
    args = ["compare", "mallows:n=5,phi=0.5,users=40,seed=1", "--k", "1,2", "--methods",
            "rlhf", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert capsys.readouterr().err == ""


def test_progress_descriptions_are_escaped(capsys, monkeypatch):
    from ualign.cli import _progress

    monkeypatch.setattr(_progress, "PLAIN_EVERY", 0.0)
    with _progress.progress("compare", 1) as bar:
        bar.step("label \x1b]8;;http://x\x07 [/bold]")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "[/bold]" in err
