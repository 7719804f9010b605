"""The results JSONL of ``ualign select``: only the writer repairs a torn tail; readers never
modify the file; resuming is keyed on the whole run configuration (issue 12, items 14, 13, 18)."""

import json

import pytest

from ualign.cli import main
from ualign.llm.store import append_record, done_prompts, read_results


def test_reader_never_truncates(tmp_path, capsys):
    path = tmp_path / "res.jsonl"
    path.write_text('{"prompt": "half')                    # one line, not JSON
    before = path.read_bytes()
    assert read_results(path) == []
    assert path.read_bytes() == before
    assert main(["eval-select", str(path), "--plot", "none"]) == 2
    assert "holds no results" in capsys.readouterr().err
    assert path.read_bytes() == before                      # eval-select is a reader
    # the writer repairs the tail
    assert read_results(path, repair=True) == []
    assert path.read_bytes() == b""
    append_record(path, {"prompt": "a"})
    path.write_bytes(path.read_bytes() + b'{"prompt": "b')
    assert read_results(path) == [{"prompt": "a"}]
    assert path.read_bytes().endswith(b'{"prompt": "b')


def test_eval_select_incomplete_record(tmp_path, capsys):
    path = tmp_path / "res.jsonl"
    path.write_text(json.dumps({"prompt": "a", "results": {}}) + "\n")
    assert main(["eval-select", str(path), "--plot", "none"]) == 2
    err = capsys.readouterr().err
    assert "line 1" in err and "'candidates'" in err and str(path) in err
    path.write_text("[1, 2]\n")
    assert main(["eval-select", str(path), "--plot", "none"]) == 2
    assert "line 1" in capsys.readouterr().err


_TIMING = {"generate_s": 1.0, "select_s": {}}
_ROW = {"method": "ualign", "k": 1, "selected_for": "multiset", "display": "multiset",
        "robust": 0.5}


@pytest.mark.parametrize("fields, where", [
    ({"results": {"ualign": [1, 2]}}, "the format before typed rows; expected a list of rows"),
    ({"results": "x"}, "'results' must be a list of rows"),
    ({"results": [5]}, "results[0] must be an object"),
    ({"results": [dict(_ROW, robust="hi")]}, "results[0]['robust'] must be a number"),
    ({"results": [dict(_ROW, k="x")]}, "results[0]['k'] must be an integer >= 1"),
    ({"results": [dict(_ROW, display="set")]}, "results[0]['display'] must be one of"),
    ({"results": [dict(_ROW, robust_distinct=0.5)]}, "unknown field(s) ['robust_distinct']"),
    ({"results": []}, "hold no win rates"),
    ({"results": [], "timing": "bad"}, "'timing' must be an object"),
    ({"results": [], "timing": {"generate_s": "x"}}, "timing['generate_s'] must be a number"),
    ({"results": [], "timing": {"generate_s": 1, "select_s": []}},
     "timing['select_s'] must be an object"),
    ({"results": [_ROW], "merge": {"n_merged": "2", "rule": "x"}},
     "merge['n_merged'] must be a number"),
])
def test_eval_select_wrongly_typed_fields_are_one_line(tmp_path, capsys, fields, where):
    """Found by a re-check of item 13: fields present but of the wrong type raised
    AttributeError / TypeError tracebacks from the summaries."""
    rec = {"prompt": "a", "candidates": ["x"], "timing": _TIMING, **fields}
    path = tmp_path / "res.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert main(["eval-select", str(path), "--plot", "none"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and where in err, err
    assert "Traceback" not in err


def test_resume_keyed_on_run(tmp_path):
    run = {"model": "m", "n": 4, "ks": [1, 2], "methods": ["ualign"]}
    recs = [{"prompt": "a", "run": run}, {"prompt": "b", "run": run}]
    assert done_prompts(recs, run, "res.jsonl") == {"a", "b"}
    other = dict(run, n=8)
    with pytest.raises(ValueError, match="n=4"):
        done_prompts(recs, other, "res.jsonl")
    with pytest.raises(ValueError, match="another --out"):
        done_prompts([{"prompt": "a"}], run, "res.jsonl")   # written before runs were keyed


def test_select_refuses_to_mix_runs(tmp_path, capsys):
    out = tmp_path / "res.jsonl"
    out.write_text(json.dumps({"prompt": "What makes a good pet?", "candidates": []}) + "\n")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What makes a good pet?\n")
    rc = main(["select", "--endpoint", "http://127.0.0.1:9", "--prompts", str(prompts),
               "--population", "personas:nofile.txt", "--n", "8", "--out", str(out)])
    assert rc == 2 and "another --out" in capsys.readouterr().err


def test_prompts_file_errors_name_file_and_line(tmp_path):
    from ualign.llm.store import read_prompts

    p = tmp_path / "p.jsonl"
    p.write_bytes(b'{"prompt": "a"}\n{"prompt": "b\xff"}\n')
    with pytest.raises(ValueError, match=r"p\.jsonl:2: not UTF-8"):
        read_prompts(p)
    p.write_text('{"prompt": "a\u2028b"}\n{"prompt": 3}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.jsonl: line 2 must be an object"):
        read_prompts(p)
    t = tmp_path / "p.txt"
    t.write_text("\ufefffirst\r\nsecond\u2028half\n", encoding="utf-8")
    assert [d["prompt"] for d in read_prompts(t)] == ["first", "second\u2028half"]


@pytest.mark.parametrize("name, data, msg", [
    ("p.jsonl", b'{"persona": "a"}\n\n{"persona": \n', r"p\.jsonl:3: not JSON"),
    ("p.json", b'[\n"a",\n', r"p\.json:3: not JSON"),
    ("p.txt", b"# w\ta\n1\tok\nx\tbad weight\n", r"p\.txt:3: the weight before the tab"),
    ("p.txt", b"ok\n\xff\n", r"p\.txt:2: not UTF-8"),
    ("p.jsonl", b'{"persona": "a"}\n{"persona": 3}\n', r"p\.jsonl:2: persona entry"),
    ("p.txt", b"1\ta\n-1\tb\n", r"p\.txt:2: the weight"),
])
def test_personas_file_errors_name_file_and_line(name, data, msg, tmp_path):
    from ualign.llm.populations.spec import read_personas

    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(ValueError, match=msg):
        read_personas(p)
