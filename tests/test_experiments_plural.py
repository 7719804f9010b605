"""The plural free-text experiment (experiments/plural.py): its pieces, and the whole pipeline in
``--tiny`` on a tiny model with a model-free embedding, through a subprocess (seconds)."""

import itertools
import json

import numpy as np
import pytest

from _experiments import load, run

pytest.importorskip("torch")
pytest.importorskip("transformers")

plural = load("plural")


@pytest.mark.parametrize("labels,k", [([0, 0, 1, 2], 2), ([0, 1, 1, 1, 2], 3), ([5] * 4, 4),
                                      ([0, 1, 2, 3], 1), ([0, 0, 1, 1, 2, 3], 4)])
def test_distinct_among_k_is_the_mean_over_subsets(labels, k):
    subsets = list(itertools.combinations(range(len(labels)), k))
    brute = np.mean([len({labels[i] for i in s}) for s in subsets])
    assert plural.distinct_among_k(labels, k) == pytest.approx(brute, abs=1e-12)


def test_distinct_among_k_rejects_k_out_of_range():
    with pytest.raises(ValueError, match=r"k must lie in 1\.\.3"):
        plural.distinct_among_k([0, 1, 2], 4)


def test_population_split_keeps_group_shares_and_holds_out_personas():
    tr = plural.population("train", embed="hashing")
    ev = plural.population("eval", embed="hashing")
    assert not set(tr.personas) & set(ev.personas)
    for pop in (tr, ev):
        shares = [pop.weights[pop.groups == g].sum() for g in range(len(plural.GROUPS))]
        np.testing.assert_allclose(shares, [s for _, s, _ in plural.GROUPS])
    with pytest.raises(ValueError, match="split must be"):
        plural.population("test")


def test_references_one_per_group_and_prompt():
    assert len(plural.REFERENCES) == len(plural.EVAL_PROMPTS)
    assert all(len(r) == len(plural.GROUPS) for r in plural.REFERENCES)


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    assert plural.main(["--out", str(tmp_path), "--arms", "nlhf,bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--arms: item 2" in err
    assert plural.main(["--out", str(tmp_path), "--arms", "u4", "--group-size", "4"]) == 2
    assert "--group-size" in capsys.readouterr().err


def test_tiny_pipeline_end_to_end_and_resumes(tmp_path):
    argv = ["--tiny", "--out", str(tmp_path), "--arms", "nlhf,u2", "--seeds", "0,1",
            "--steps", "1", "--eval-samples", "4", "--max-new-tokens", "6",
            "--bootstrap", "20", "--embed", "hashing", "--plot", str(tmp_path / "p.png")]
    r = run("plural", *argv)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| NLHF (k=1) |" in r.stdout
    res = json.loads((tmp_path / "result.json").read_text())
    assert set(res["arms"]) == {"base", "nlhf", "u2"} and res["seeds"] == [0, 1]
    assert (tmp_path / "p.png").stat().st_size > 0
    for key, cell in res["cells"].items():
        lo, hi = cell["robust"]["ci"]
        assert 0.0 <= cell["robust"]["mean"] <= 1.0 and lo <= hi, key
        if "distinct_texts" in cell:
            k = int(key.split("k=")[1].split("|")[0])
            assert 1.0 <= cell["distinct_classes"] <= cell["distinct_texts"] + 1e-12 <= k + 1e-12
    # k = 1: both displays agree exactly
    for a in res["arms"]:
        assert res["cells"][f"{a}|k=1|multiset"]["robust"] == res["cells"][f"{a}|k=1|distinct"][
            "robust"]
    # a finished run is never redone: change nothing, rerun, same samples file
    f = tmp_path / "runs" / "nlhf-s0" / "samples.json"
    before = f.stat().st_mtime_ns
    assert run("plural", *argv).returncode == 0
    assert f.stat().st_mtime_ns == before


def test_args_are_documented():
    import dataclasses

    fields = dataclasses.fields(plural.Args)
    assert all(f.metadata["help"] for f in fields)
    r = run("plural", "--help")
    assert r.returncode == 0
    for f in fields:
        assert "--" + f.name.replace("_", "-") in r.stdout


def test_analyse_refuses_missing_runs(tmp_path):
    (tmp_path / "runs" / "nlhf-s0").mkdir(parents=True)
    (tmp_path / "runs" / "nlhf-s0" / "samples.json").write_text(json.dumps(
        {"arm": "nlhf", "seed": 0, "samples": [["a"]] * 4, "train_seconds": 0, "steps": 1}))
    (tmp_path / "runs" / "u2-s1").mkdir(parents=True)
    (tmp_path / "runs" / "u2-s1" / "samples.json").write_text(json.dumps(
        {"arm": "u2", "seed": 1, "samples": [["a"]] * 4, "train_seconds": 0, "steps": 1}))
    with pytest.raises(ValueError, match="runs missing"):
        plural.analyse(tmp_path, embed="hashing", n_boot=5)
