"""Distinct display (THEORY.md §9) in the report: claims (viii)-(x), ``compare_methods`` under
both displays, the distinct-display baselines and ``ualign compare --display``.

References: shared/spec/THEORY.md §9.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ualign.cli._options import parse_display
from ualign.core import deviation_payoffs, robust_set_win_rate, robust_win_rate
from ualign.data.generators import mallows_mixture, nlhf_collapse, random_profile
from ualign.report import claims as C
from ualign.report.claims import oracles
from ualign.report.compare import compare_methods, distinct_shown
from ualign.report.render import fk_table, render_json
from ualign.report.results import CommitteePolicy

pytestmark = pytest.mark.usefixtures("one_numba_thread")



# ------------------------------------------------------------------------- the oracles
def test_literal_enumeration_matches_multiset_at_k1_and_hand_values():
    P = random_profile(1, 4, 6, n_levels=2)
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    # k = 1: the displays coincide
    np.testing.assert_allclose(oracles.literal_distinct_payoffs(P, pi, 1),
                               deviation_payoffs(P, pi, 1), atol=1e-15)
    # NLHF collapse, δ_a sampled twice: b wins for the ½-ε minority, a ties at ½ for everyone
    Q = nlhf_collapse(0.1)
    np.testing.assert_allclose(oracles.literal_distinct_payoffs(Q, [1.0, 0.0], 2), [0.5, 0.4],
                               atol=1e-15)


def test_best_distinct_lp_collapse_value():
    v, sets, probs = oracles.best_distinct_kset_lp(nlhf_collapse(0.1), 2)
    assert v == pytest.approx(0.75 - 0.05, abs=1e-12)
    assert sets.tolist() == [[0, 1]] and probs.tolist() == [1.0]
    with pytest.raises(ValueError, match="k must be in"):
        oracles.best_distinct_kset_lp(nlhf_collapse(0.1), 3)


# ---------------------------------------------------------------------------- the claims
def test_shared_favourite_passes_and_fails_without_a_shared_favourite():
    P = C.shared_favourite_instance(n=5, n_users=20, seed=0)
    assert (P.levels[:, 0] == 0).all() and ((P.levels == 0).sum(axis=1) == 1).all()
    row = C.run_claim(C.SHARED_FAVOURITE, C.FavouriteConfig(P, "shared favourite", (1, 2, 3)))
    assert row.passed, row.measured
    for r in row.rows:
        assert r.best_lp == pytest.approx(0.5, abs=1e-12)
        assert r.multiset_best >= r.k / (r.k + 1) - 1e-9  # copies: k copies of the favourite
        assert r.solver_value == pytest.approx(0.5, abs=1e-9)
        assert r.solver_upper <= 0.5 + 1e-9
    # perturbed: favourites differ, so showing two of them beats ½
    bad = C.run_claim(C.SHARED_FAVOURITE,
                      C.FavouriteConfig(random_profile(2, 5, 20), "random", (1, 2)))
    assert not bad.passed
    assert max(r.best_lp for r in bad.rows) > 0.5 + 1e-3


def test_nlhf_distinct_collapse_passes_and_fails_on_a_wrong_eps():
    cfg = C.DistinctCollapseConfig(nlhf_collapse(0.1), 0.1, (1, 2, 3, 8))
    row = C.run_claim(C.NLHF_DISTINCT_COLLAPSE, cfg)
    assert row.passed, row.measured
    by = {r.k: r for r in row.rows}
    assert all(r.f_nlhf == pytest.approx(0.5, abs=1e-12) for r in row.rows)
    assert all(r.wr_b == pytest.approx(0.6, abs=1e-12) for r in row.rows)
    assert by[2].best == pytest.approx(0.7, abs=1e-12) and by[2].target == pytest.approx(0.7)
    assert by[3].best is None  # no 3 distinct responses among 2
    assert by[2].solver_value == pytest.approx(0.7, abs=1e-9)
    # perturbed: the instance has ε = 0.1, the claim is told ε = 0.2
    bad = C.run_claim(C.NLHF_DISTINCT_COLLAPSE,
                      C.DistinctCollapseConfig(nlhf_collapse(0.1), 0.2, (1, 2)))
    assert not bad.passed


def test_closed_form_passes_and_fails_on_a_perturbed_engine():
    row = C.run_claim(C.DISTINCT_CLOSED_FORM, C.ClosedFormConfig(0, 4, (1, 2, 3)))
    assert row.passed, row.measured
    assert all(max(r.err_closed_form, r.err_strict, r.err_ties) <= 1e-12 for r in row.rows)
    assert sum(r.cases for r in row.rows) == 3 * 4 * 3

    def perturbed(P, pi, k):
        return deviation_payoffs(P, pi, k, display="distinct") + 1e-9

    bad = C.run_claim(C.DISTINCT_CLOSED_FORM, C.ClosedFormConfig(0, 4, (1, 2), payoffs=perturbed))
    assert not bad.passed
    # the multiset engine is not the distinct rule
    ms = C.run_claim(C.DISTINCT_CLOSED_FORM,
                     C.ClosedFormConfig(0, 4, (2,), payoffs=lambda P, pi, k:
                                        deviation_payoffs(P, pi, k)))
    assert not ms.passed


def test_new_claims_are_registered_in_order():
    keys = [s.key for s in C.CLAIMS]  # (xi), personalisation, came after them
    assert keys[keys.index("viii"):keys.index("viii") + 3] == ["viii", "ix", "x"]
    assert keys[-4:] == ["viii", "ix", "x", "xi"]


# ---------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def profile():
    return mallows_mixture(5, n_users=60, phi=(0.5, 0.7), groups=2, seed=4)


def test_parse_display():
    assert parse_display("both") == ("multiset", "distinct")
    assert parse_display(" Distinct ") == ("distinct",)
    with pytest.raises(ValueError, match="--display must be one of multiset, distinct, both"):
        parse_display("merged")


def test_distinct_shown():
    pi = np.array([0.5, 0.5, 0.0])
    assert distinct_shown(pi, 2) == pytest.approx(1.5)
    assert distinct_shown(np.array([1.0, 0.0]), 5) == pytest.approx(1.0)
    assert distinct_shown(sets=[[0, 0, 1], [1, 2, 3]], probs=[0.25, 0.75]) == pytest.approx(2.75)


def test_compare_both_displays_held_to_the_engine(profile):
    ks = (1, 2, 4)
    cmp = compare_methods(profile, ks, ("nlhf", "ualign", "kset"), display="both")
    assert cmp.displays == ("multiset", "distinct")
    assert {(e.method, e.k, e.display) for e in cmp.entries} == {
        (m, k, d) for m in ("nlhf", "ualign", "kset") for k in ks
        for d in ("multiset", "distinct")}
    for e in cmp.entries:
        if e.method == "kset":
            ex = cmp.ksets["kset"][e.k]
            want = robust_set_win_rate(profile, np.array(ex.sets), np.array(ex.probs),
                                       display=e.display).value
            sets = np.array(ex.sets)
            assert e.distinct_shown == pytest.approx(
                float(np.array(ex.probs) @ [len(set(s)) for s in sets.tolist()]))
        else:
            pi = np.array(cmp.policies[e.method][0 if e.method == "nlhf" else e.k])
            want = robust_win_rate(profile, pi, e.k, display=e.display).value
            assert e.distinct_shown == pytest.approx(float(np.sum(1 - (1 - pi) ** e.k)))
        assert e.robust_win_rate == pytest.approx(want, abs=1e-12)
    # the displays coincide at k = 1; merging costs the equilibrium at k >= 2
    for m in ("nlhf", "ualign", "kset"):
        assert cmp.value(m, 1, "multiset") == pytest.approx(cmp.value(m, 1, "distinct"))
    assert cmp.value("ualign", 2, "distinct") < cmp.value("ualign", 2) - 1e-3
    assert cmp.value("ualign", 4) == pytest.approx(0.8, abs=1e-6)
    # JSON: display in every entry; the table has a row per method and display
    data = json.loads(render_json(cmp))
    assert all(e["display"] in ("multiset", "distinct") for e in data["entries"])
    assert data["displays"] == ["multiset", "distinct"]
    _cols, rows = fk_table(cmp)
    assert [r[0] for r in rows][:3] == ["nlhf (multiset)", "nlhf (distinct)",
                                        "nlhf: distinct responses shown"]
    series = {s.name: s for s in cmp.fk_plot().series}
    assert series["ualign (distinct)"].style == "marked"
    assert series["ualign (distinct)"].color == series["ualign (multiset)"].color


def test_compare_default_display_is_multiset_as_before(profile):
    cmp = compare_methods(profile, (1, 2), ("nlhf", "ualign"))
    assert cmp.displays == ("multiset",)
    assert {e.display for e in cmp.entries} == {"multiset"}
    _cols, rows = fk_table(cmp)
    assert [r[0] for r in rows] == ["nlhf", "ualign", "k/(k+1)"]


def test_compare_kset_cap_is_noted(profile):
    cmp = compare_methods(profile, (1, 2, 3), ("kset",), display="distinct", kset_max_sets=15)
    assert sorted({e.k for e in cmp.entries}) == [1, 2]  # C(5+3-1, 3) = 35 > 15
    assert any("skipped at k = 3" in note for note in cmp.notes)


def test_compare_kset_distinct(profile):
    ks = (1, 2, 3, 6)
    cmp = compare_methods(profile, ks, ("kset-distinct", "ualign"), display="both")
    ent = [e for e in cmp.entries if e.method == "kset-distinct"]
    assert {e.display for e in ent} == {"distinct"}  # distinct display only
    assert sorted(e.k for e in ent) == [1, 2, 3]  # k = 6 > n = 5
    assert any("k > n = 5" in note for note in cmp.notes)
    for e in ent:
        ex = cmp.ksets["kset-distinct"][e.k]
        want = robust_set_win_rate(profile, np.array(ex.sets), np.array(ex.probs),
                                   display="distinct").value
        assert e.robust_win_rate == pytest.approx(want, abs=1e-12)
        assert e.distinct_shown == e.k
        assert e.robust_win_rate <= ex.upper_bound + 1e-9
        # the certified best distinct policy is at least the equilibrium's samples merged
        assert e.robust_win_rate >= cmp.value("ualign", e.k, "distinct") - 1e-9
        assert cmp.value("kset-distinct", e.k, "multiset") is None


def test_compare_committees(profile):
    methods = ("top-k-utility", "top-k-borda", "cc", "pav")
    cmp = compare_methods(profile, (1, 2, 3), methods, display="both", time_limit=5.0)
    for e in cmp.entries:
        assert e.display == "distinct" and e.distinct_shown == e.k
        ex = cmp.ksets[e.method][e.k]
        assert len(ex.sets) == 1 and len(set(ex.sets[0])) == e.k
        want = robust_set_win_rate(profile, np.array(ex.sets), [1.0],
                                   display="distinct").value
        assert e.robust_win_rate == pytest.approx(want, abs=1e-12)
        assert ex.upper_bound == 1.0 and isinstance(ex, CommitteePolicy)


def test_cli_compare_display_distinct(tmp_path):
    from ualign.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "mallows:n=5,phi=0.6,users=40,seed=1", "--k", "1,2",
                 "--methods", "nlhf,ualign", "--display", "distinct", "--out", str(out)]) == 0
    data = json.loads((out / "compare.json").read_text())
    assert {e["display"] for e in data["entries"]} == {"distinct"}
    assert all(not math.isnan(e["distinct_shown"]) for e in data["entries"])
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_cli_compare_both_prints_two_columns_and_cap_notes(tmp_path, capsys):
    from ualign.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "mallows:n=4,phi=0.6,users=30,seed=2", "--k", "1,3",
                 "--methods", "nlhf,kset", "--kset-max-sets", "5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "nlhf ms" in text and "nlhf dist" in text and "distinct responses" in text
    assert "note: kset: the k-multiset LP was skipped at k = 3" in text
    data = json.loads((out / "compare.json").read_text())
    assert data["displays"] == ["multiset", "distinct"]
    assert any("skipped at k = 3" in note for note in data["notes"])
    assert {(e["method"], e["k"]) for e in data["entries"]} == {("nlhf", 1), ("nlhf", 3),
                                                                 ("kset", 1)}
