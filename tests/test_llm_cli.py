"""``ualign select`` / ``ualign eval-select`` against an OpenAI-compatible stub server on
127.0.0.1 with a model-free embedding population (no network, no model download)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import json
import socket
import subprocess
import sys

import pytest

from localserver import JSONHandler, serve
from ualign.cli import main


class _Stub(JSONHandler):
    count = 0

    def do_POST(self):
        body = self.body()
        type(self).count += 1
        topic = body["messages"][-1]["content"]
        pool = ["cats are lovely pets", "dogs are loyal friends", "lower taxes help budgets",
                "football is a great sport", "the economy is growing", "kittens and puppies"]
        choices = [{"message": {"content": f"{pool[(body['seed'] + i) % len(pool)]} ({topic})"}}
                   for i in range(body["n"])]
        self.reply(200, {"choices": choices})


@pytest.fixture
def server():
    _Stub.count = 0
    with serve(_Stub) as url:
        yield url


@pytest.fixture
def files(tmp_path):
    personas = tmp_path / "personas.txt"
    personas.write_text("# weight<TAB>persona\n2\tI love cats and kittens\n1\tdogs and puppies\n"
                        "1\ttaxes and budgets\n1\tfootball every weekend\n"
                        "1\tthe economy and jobs\n")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What makes a good pet?\nWhat should the city spend on?\n")
    return tmp_path, personas, prompts


def _select(url, personas, prompts, out, *extra):
    return main(["select", "--endpoint", url, "--model", "stub", "--prompts", str(prompts),
                 "--population", f"personas:{personas},noise=gumbel,noise_scale=0.05",
                 "--embed", "hashing", "--n", "5", "--k", "1-3", "--out", str(out),
                 "--methods", "ualign,best-of-n,nlhf,sampling", *extra])


def test_select_resume_and_eval(server, files, capsys):
    tmp, personas, prompts = files
    out = tmp / "res.jsonl"
    assert _select(server, personas, prompts, out, "--personalised") == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["prompt"] for r in recs] == ["What makes a good pet?",
                                           "What should the city spend on?"]
    r = recs[0]
    assert len(r["candidates"]) == 5 and {row["method"] for row in r["results"]} == {
        "ualign", "best-of-n", "nlhf", "sampling", "personalised"}
    assert len(r["selections"]["ualign"]["3"]["shown"]) == 3
    calls = _Stub.count
    # rerun: nothing to do, no request
    assert _select(server, personas, prompts, out, "--personalised") == 0
    assert _Stub.count == calls and "0 to run" in capsys.readouterr().out
    # an interrupted write leaves half a line; a new prompt is added
    with open(out, "a") as fh:
        fh.write('{"prompt": "half')
    prompts.write_text(prompts.read_text() + "Which sport is best?\n")
    assert _select(server, personas, prompts, out, "--personalised") == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(recs) == 3 and recs[2]["prompt"] == "Which sport is best?"
    capsys.readouterr()
    assert main(["eval-select", str(out), "--plot", str(tmp / "plot.png")]) == 0
    text = capsys.readouterr().out
    assert "ualign" in text and "personalised" in text and "candidates/s" in text
    assert (tmp / "plot.png").stat().st_size > 1000
    assert main(["eval-select", str(out), "--markdown", "--plot", "none"]) == 0
    assert "| nlhf | 2 | multiset |" in capsys.readouterr().out


def test_select_says_what_it_loads_from_start_up(server, files, capsys, monkeypatch):
    """Before its first prompt ``select`` loads libraries, a population and a model, which can
    take a minute: each stage is named on standard error (here every stage, as if each took
    longer than the plain-line interval; a start-up shorter than it writes nothing)."""
    from ualign.cli import _progress

    tmp, personas, prompts = files
    monkeypatch.setattr(_progress, "PLAIN_EVERY", 0.0)
    assert _select(server, personas, prompts, tmp / "s.jsonl") == 0
    stages = [line.rsplit(" (", 1)[0] for line in capsys.readouterr().err.splitlines()
              if line.startswith("select: ")]
    assert stages == ["select: loading the libraries (NumPy, the solvers, the text models)",
                      f"select: loading the population personas:{personas},noise=gumbel,"
                      "noise_scale=0.05 and the embedding hashing",
                      f"select: loading the model stub at {server}"]


def test_eval_select_reads_and_does_not_speak_of_appending(tmp_path, capsys):
    (tmp_path / "notes.jsonl").write_text("just some notes\nnot JSON at all\n")
    assert main(["eval-select", str(tmp_path / "notes.jsonl"), "--plot", "none"]) == 2
    err = capsys.readouterr().err
    assert "line 1 is not JSON" in err and "not a results file written by ualign select" in err
    assert "append" not in err


def test_select_errors(server, files, capsys):
    tmp, personas, prompts = files
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert _select(dead, personas, prompts, tmp / "a.jsonl") == 2
    assert "cannot reach endpoint" in capsys.readouterr().err
    assert not (tmp / "a.jsonl").exists() or (tmp / "a.jsonl").read_text() == ""
    empty = tmp / "empty.txt"
    empty.write_text("# nobody\n")
    assert _select(server, empty, prompts, tmp / "b.jsonl") == 2
    assert "no personas" in capsys.readouterr().err
    rc = main(["select", "--endpoint", server, "--prompts", str(prompts), "--population",
               f"personas:{personas}", "--embed", "hashing", "--n", "3", "--k", "4",
               "--out", str(tmp / "c.jsonl")])
    assert rc == 2 and "larger than n=3" in capsys.readouterr().err
    # a served population ranks texts but has no users to split (issue 21: a registered kind)
    rc = main(["select", "--endpoint", server, "--prompts", str(prompts), "--population",
               "http://127.0.0.1:9", "--embed", "hashing", "--n", "3", "--k", "2",
               "--out", str(tmp / "d.jsonl")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot be split into selection and evaluation users" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["eval-select", str(tmp / "missing.jsonl")]) == 2


def test_cli_subprocess_help():
    r = subprocess.run([sys.executable, "-c", "import sys; from ualign.cli import main; "
                        "sys.exit(main(['select', '--help']))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--population" in r.stdout and "--endpoint" in r.stdout


def test_select_distinct_display_and_eval_json(server, files, capsys):
    tmp, personas, prompts = files
    out = tmp / "dist.jsonl"
    # 8 candidates from a pool of 6 texts: 2 exact repeats merge, 6 distinct responses
    rc = main(["select", "--endpoint", server, "--model", "stub", "--prompts", str(prompts),
               "--population", f"personas:{personas},noise=gumbel,noise_scale=0.05",
               "--embed", "hashing", "--n", "8", "--k", "2,7", "--out", str(out),
               "--methods", "ualign,best-of-n,nlhf,sampling", "--display", "distinct"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "2 of 8 candidates merged (exact), 6 distinct; display distinct" in text
    assert "k = 7 > 6 distinct: all 6 shown" in text
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    for r in recs:
        assert r["merge"]["n_merged"] == 2 and r["config"]["display"] == "distinct"
        for method in ("ualign", "best-of-n", "sampling"):
            shown = r["selections"][method]["7"]["shown"]
            texts = [r["candidates"][i] for i in shown]
            assert len(shown) == 6 and len(set(texts)) == 6
            assert len(r["selections"][method]["2"]["shown"]) == 2
    js = tmp / "rows.json"
    assert main(["eval-select", str(out), "--json", str(js), "--plot", str(tmp / "d.png")]) == 0
    text = capsys.readouterr().out
    assert "merged: 4 of 16 candidates over 2 prompt(s) (exact); 12 distinct" in text
    doc = json.loads(js.read_text())
    assert doc["merge"]["merged"] == 4 and doc["displays"] == ["distinct"]
    for row in doc["rows"]:
        for key in ("robust", "robust_shown", "distinct"):
            assert row[key] is not None
    assert {(row["method"], row["k"], row["display"]) for row in doc["rows"]} == {
        (m, k, d) for m in ("ualign", "best-of-n", "nlhf", "sampling") for k in (2, 7)
        for d in ("multiset", "distinct")}
    for display in ("multiset", "distinct"):
        ual = {row["k"]: row for row in doc["rows"]
               if row["method"] == "ualign" and row["display"] == display}
        assert ual[7]["distinct"] == 6 and ual[2]["distinct"] == 2
        assert all(row["selected_for"] == "distinct" for row in doc["rows"])
    assert (tmp / "d.png").stat().st_size > 1000


def test_select_distinct_errors_are_one_line(server, files, capsys):
    tmp, personas, prompts = files
    base = ["select", "--endpoint", server, "--model", "stub", "--prompts", str(prompts),
            "--population", f"personas:{personas}", "--embed", "hashing", "--n", "8",
            "--out", str(tmp / "e.jsonl")]
    for extra, msg in ((["--display", "foo"], "display must be one of"),
                       (["--merge", "fuzzy"], "merge must be one of"),
                       (["--merge-threshold", "1.5"], "merge_threshold must be a number in"),
                       (["--display", "distinct", "--k", "7", "--strict"],
                        "k=7 is larger than the 6 distinct candidates")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err  # (a progress bar may precede the error)
        lines = [x for x in err.splitlines() if "error:" in x]
        assert len(lines) == 1 and msg in lines[0] and lines[0].startswith(
            "ualign select: error:"), err
