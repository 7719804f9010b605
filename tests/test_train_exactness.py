"""Exactness experiment pieces: the engine's equilibrium and a short self-play run."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ualign import Profile, exploitability
from ualign.train.exactness import _parser, candidate_strings, equilibrium, run_exactness


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
    assert _parser().parse_args([]).out == "exactness-out"


def test_solver_failure_raises(monkeypatch):
    """No silent fallback: an unconverged engine solve is an error."""
    import ualign.solvers as solvers

    real = solvers.solve_ualign

    def unconverged(profile, k, tol=1e-9):
        return real(profile, k, tol=tol, method="hedge", max_iter=3)

    monkeypatch.setattr(solvers, "solve_ualign", unconverged)
    with pytest.raises(RuntimeError, match="did not reach exploitability"):
        equilibrium(_collapse(), 2)
