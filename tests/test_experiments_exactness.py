"""The exactness experiment (experiments/exactness.py): the engine's equilibrium, a short
self-play run, and the script in ``--tiny`` through a subprocess."""

import json

import numpy as np
import pytest

from _experiments import load, run
from ualign import Profile, exploitability

pytest.importorskip("torch")
pytest.importorskip("transformers")

exactness = load("exactness")
candidate_strings = exactness.candidate_strings
equilibrium = exactness.equilibrium
run_exactness = exactness.run_exactness


def _collapse(eps=0.05):
    return Profile.from_rankings([[0, 1], [1, 0]], weights=[0.5 + eps, 0.5 - eps])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_equilibrium_certificate(k):
    P = _collapse()
    pi, cert, _ = equilibrium(P, k)
    assert abs(pi.sum() - 1) < 1e-9
    assert exploitability(P, pi, k) <= 1e-6
    assert cert <= 1e-6
    if k == 1:                       # NLHF collapses onto the majority response
        assert pi[0] > 1 - 1e-6
    else:                            # the (k+1)-player equilibrium is mixed
        assert 0.05 < pi[1] < 0.5


def test_candidate_strings_distinct():
    P = Profile.from_rankings([[0, 1, 2]], labels=["x!", "x?", ""])
    s = candidate_strings(P)
    assert len(set(s)) == 3 and all(s)


def test_short_selfplay_moves_towards_equilibrium():
    r = run_exactness(_collapse(), train_k=2, eval_k=2, steps=25, group_size=16, eta=0.5,
                      trace_every=25, progress_bar=False)
    assert r.trace[0]["step"] == 0 and r.trace[-1]["step"] == 25
    assert r.tv < r.trace[0]["tv"]
    assert np.isclose(sum(r.policy), 1)


def test_default_output_is_not_the_committed_docs():
    assert exactness.Args().out == "exactness-out"


def test_tiny_run_writes_json_and_plot(tmp_path):
    r = run("exactness", "--tiny", "--out", tmp_path, "--k", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads((tmp_path / "train_exactness.json").read_text())
    assert [(x["train_k"], x["eval_k"], x["steps"]) for x in rows] == [(1, 2, 4), (2, 2, 4)]
    assert all(x["instance"].startswith("nlhf-collapse") for x in rows)
    for x in rows:
        assert abs(sum(x["policy"]) - 1) < 1e-9 and 0 <= x["tv"] <= 1
        assert x["target"] == pytest.approx(2 / 3)
    assert (tmp_path / "train_exactness.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_k_is_one_line(tmp_path):
    r = run("exactness", "--tiny", "--out", tmp_path, "--k", "2,x")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: --k must be a list like 2 or 2,4, got '2,x': cannot " \
                               "read item 'x' at position 1"


def test_solver_failure_raises(monkeypatch):
    """No silent fallback: an unconverged engine solve is an error."""
    import ualign.solvers as solvers

    real = solvers.solve_ualign

    def unconverged(profile, k, tol=1e-9):
        return real(profile, k, tol=tol, method="hedge", max_iter=3)

    monkeypatch.setattr(solvers, "solve_ualign", unconverged)
    with pytest.raises(RuntimeError, match="did not reach exploitability"):
        equilibrium(_collapse(), 2)
