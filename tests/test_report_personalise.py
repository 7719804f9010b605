"""The held-out-people measurement behind ``ualign personalise`` and claim (xi)
(``ualign.report.personalise``, ``ualign.report.claims.personalisation``) on small generated
profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ualign
from ualign.core.sets import set_win_matrix
from ualign.data.people import People, load_people
from ualign.report.personalise import distinct_topk, measure_personalisation, pooled_rows

SPEC = "mallows:n=8,phi=0.7,groups=2"


# ----------------------------------------------------------------------------- greedy sets
def brute_greedy(P, k):
    """The greedy rule spelled out: add the response maximising the mean over every y' of
    WR(S ∪ {z}, y') (set_win_matrix, distinct display), smallest index on ties."""
    chosen = []
    for _ in range(min(k, P.n_responses)):
        best, val = None, -1.0
        for z in range(P.n_responses):
            if z in chosen:
                continue
            v = set_win_matrix(P.levels, P.weights, np.array([[*chosen, z]]), "distinct")[0]
            if v.mean() > val + 1e-12:
                best, val = z, v.mean()
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_distinct_topk_is_the_documented_greedy(seed, ties):
    rng = np.random.default_rng(seed)
    U, n = 15, 7
    levels = (rng.integers(0, 3, size=(U, n)) if ties
              else np.argsort(rng.random((U, n)), axis=1))
    P = ualign.Profile.from_levels(levels, rng.random(U) + 0.1)
    assert distinct_topk(P, 9).tolist() == brute_greedy(P, 9)
    for k in (1, 3):
        assert distinct_topk(P, k).tolist() == brute_greedy(P, 9)[:k]    # nested in k


# ------------------------------------------------------------------------------ measuring
def test_measure_m0_and_m1_equal_universal_exactly():
    people = load_people(SPEC)
    rows, summary = measure_personalisation(people, (0, 1, 2), (1, 2), max_users=10,
                                            noise=0.1, n_boot=200)
    by = {(r.method, r.display, r.m, r.k): r for r in rows}
    for m in (0, 1):                   # one revealed rating implies no comparison
        for d in ("multiset", "distinct"):
            for k in (1, 2):
                a, b = by["ualign", d, m, k], by["universal", d, m, k]
                assert a._replace(method="universal") == b
    assert summary.n_evaluated == 10 and summary.delta == 0.1
    assert summary.n_population + summary.n_held_out == summary.n_people == 1000
    # everyone rates everything here, so the two guarantee checks coincide
    assert all(r.vs_worst_all == r.vs_worst for r in rows)
    # greedy and argmax repeat nothing: both displays give the same numbers
    for (method, d, m, k), r in by.items():
        if method in ("greedy", "argmax") and d == "distinct":
            assert r._replace(display="multiset") == by[method, "multiset", m, k]
    # rows are reproducible from the seed
    again, _ = measure_personalisation(people, (0, 1, 2), (1, 2), max_users=10, noise=0.1,
                                       n_boot=200)
    assert again == rows


def test_measure_scores_hidden_ratings_by_hand():
    # 40 people rank 0 ≻ 1, 10 rank 1 ≻ 0; any 80 % population prefers 0, so argmax shows 0.
    # At m = 0 both responses are hidden. A 0-lover wins ½ against 0 (the tie: one copy per
    # side) and 1 against 1: robust ½, mean ¾; a 1-lover ½ and 0: robust 0, mean ¼.
    # With s the share of 0-lovers evaluated: robust = s/2, mean = 1/4 + s/2.
    people = People("toy", np.array([[0.0, 1.0]] * 40 + [[1.0, 0.0]] * 10), 1.0)
    rows, _ = measure_personalisation(people, (0,), (1,), max_users=50, noise=0.1, n_boot=50)
    arg = next(r for r in rows if r.method == "argmax" and r.display == "multiset")
    assert arg.n_users == 10                              # 20 % of 50
    s = 2 * arg.robust
    assert abs(s * 10 - round(s * 10)) < 1e-12 and 0.5 <= s <= 1
    assert abs(arg.mean - (0.25 + s / 2)) < 1e-12


def test_pooled_rows_macro_average():
    people = load_people(SPEC)
    a, _ = measure_personalisation(people, (0, 2), (1,), max_users=5, noise=0.1, n_boot=50)
    b = [r._replace(dataset="other", mean=r.mean / 2) for r in a]
    pooled = {(r.method, r.display, r.m, r.k): r for r in pooled_rows(a + b)}
    for r in a:
        p = pooled[r.method, r.display, r.m, r.k]
        assert abs(p.mean - 0.75 * r.mean) < 1e-12 and p.n_users == 2 * r.n_users


def test_retries_are_counted_per_call_not_kept(monkeypatch):
    """No state outlives a call: a solve that fails once is retried (m0 = n), counted in that
    call's summary only."""
    import ualign.solvers as solvers
    from ualign.solvers import SolverError

    real = solvers.solve_ualign
    failed = []

    def flaky(profile, k, **kw):
        if not failed and "m0" not in kw:
            failed.append(k)
            raise SolverError("HiGHS status 15 (simulated)", 15)
        return real(profile, k, **kw)

    people = load_people(SPEC)
    clean, s0 = measure_personalisation(people, (0,), (1,), max_users=3, noise=0.1, n_boot=10)
    monkeypatch.setattr(solvers, "solve_ualign", flaky)
    rows, s1 = measure_personalisation(people, (0,), (1,), max_users=3, noise=0.1, n_boot=10)
    assert failed and s1.solver_retries == 1 and s0.solver_retries == 0
    for a, b in zip(rows, clean, strict=True):   # the retry finds the same equilibrium
        assert a[:5] == b[:5] and np.allclose(a[5:], b[5:], rtol=0, atol=1e-9)
    _, s2 = measure_personalisation(people, (0,), (1,), max_users=3, noise=0.1, n_boot=10)
    assert s2.solver_retries == 0           # nothing carried over from the call before


# ------------------------------------------------------------------------------ report section
def test_report_section_is_claim_xi_in_json_and_markdown(monkeypatch):
    from ualign.report import claims as C
    from ualign.report import reproduce
    from ualign.report.render import report_files

    monkeypatch.setattr(C, "CLAIMS", (C.PERSONALISATION,))
    rep = reproduce.build_report(reproduce.ReproduceConfig.quick_config(), None)
    (row,) = rep.claims
    assert row.key == "xi" and row.passed, row.measured
    assert [p.title.split(":")[0] for p in row.plots] == ["multiset display", "distinct display"]
    assert {s.name for s in row.plots[0].series} >= {"ualign, k = 1", "universal, k = 8"}
    files = report_files(rep)
    data = json.loads(files["report.json"])
    (claim,) = data["claims"]
    assert claim["key"] == "xi" and "k=1 mean WR" in claim["columns"]
    assert {tuple(c[:2]) for c in claim["cases"]} == {
        (m, d) for m in ("ualign", "greedy", "argmax", "universal")
        for d in ("multiset", "distinct")}
    md = files["report.md"].decode()
    assert "Personalisation: k responses from the posterior" in md
    assert "m=0 = universal" in md


def test_report_section_rows_fold_the_measurement():
    from ualign.report.claims.personalisation import SectionConfig, measure_section

    c = SectionConfig(SPEC + ",users=40", ms=(0, 2), max_users=6, n_boot=20)
    rows = measure_section(c)
    full, _ = measure_personalisation(load_people(c.source), c.ms, (1, 2, 4, 8),
                                      max_users=6, n_boot=20)
    by = {(r.method, r.display, r.m, r.k): r.mean for r in full}
    for r in rows:
        for k in (1, 2, 4, 8):
            assert getattr(r, f"k{k}") == by.get((r.method, r.display, r.m, k))
    zero = [r for r in rows if r.method == "ualign" and r.m == 0]
    assert len(zero) == 2 and all(r.m0_equals_universal for r in zero)
    assert all(r.m0_equals_universal is None for r in rows if r not in zero)


def test_report_section_uses_polis_only_with_data_and_not_quick(tmp_path):
    from ualign.report.claims.personalisation import section_config
    from ualign.report.reproduce import ReproduceConfig

    folder = tmp_path / "polis" / "brexit-consensus"
    folder.mkdir(parents=True)
    (folder / "participants-votes.csv").write_text("")
    assert section_config(ReproduceConfig(), tmp_path).source == str(folder)
    assert section_config(ReproduceConfig.quick_config(), tmp_path).source.startswith("mallows")
    assert section_config(ReproduceConfig(), None).source.startswith("mallows")
