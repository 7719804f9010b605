"""The claim registry of ``ualign reproduce``: report order by key, each claim's own full and
quick configuration, overrides, and the oracles' home."""

from __future__ import annotations

import dataclasses

import pytest

from ualign.report import claims as C
from ualign.report.claims.registry import register, roman_value
from ualign.report.realdata import DATASETS, QUICK_DATASETS, RealDataConfig
from ualign.report.reproduce import ReproduceConfig


def test_report_order_is_the_keys_in_roman_order():
    keys = [spec.key for spec in C.CLAIMS]
    assert keys == ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi"]
    assert [roman_value(k) for k in keys] == list(range(1, 12))


@pytest.mark.parametrize("key", ["IV", "iiii", "vx", "", "4", "i "])
def test_roman_value_refuses_what_is_not_a_key(key):
    with pytest.raises(ValueError, match="roman numeral"):
        roman_value(key)


def test_register_refuses_a_key_twice():
    with pytest.raises(ValueError, match="'iii' is already registered"):
        register(dataclasses.replace(C.NLHF_COLLAPSE))


def test_every_claim_has_a_quick_config_no_larger_than_its_full_one():
    full, quick = ReproduceConfig(seed=4), ReproduceConfig(seed=4, quick=True)
    for spec in C.CLAIMS:
        a, b = spec.configure(full), spec.configure(quick)
        assert type(a) is type(b), spec.key
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(va, tuple) and va and all(isinstance(v, int) for v in va):
                assert set(vb) <= set(va), (spec.key, f.name)        # ks, Ns, Ts: a subset
            if f.name == "seed":
                assert va == vb == 4, spec.key                       # the run's seed


def test_the_full_and_quick_sizes_of_the_report():
    run, quick = ReproduceConfig(), ReproduceConfig.quick_config()
    assert C.UALIGN_EQUILIBRIUM.configure(run).ks == tuple(range(1, 33))
    assert C.UALIGN_EQUILIBRIUM.configure(quick).ks == (1, 2, 3, 4, 8, 16, 32)
    assert (C.COPYING_OPPONENT.configure(run).n_instances,
            C.COPYING_OPPONENT.configure(quick).n_instances) == (24, 6)
    assert C.HEDGE_SAMPLED_ITERATE.configure(run).Ts == (10, 100, 1000, 10000)
    assert C.LAST_ITERATE.configure(quick).ks == (2,)
    assert RealDataConfig.for_run(run) == RealDataConfig(DATASETS, tuple(range(1, 9)),
                                                         (1, 2, 4, 8), 5.0)
    assert RealDataConfig.for_run(quick) == RealDataConfig(QUICK_DATASETS, (1, 2, 3), (1, 2),
                                                           2.0)


def test_overrides_change_one_claim_only():
    run = ReproduceConfig(quick=True, overrides={"i": {"ks": (1, 2)}, "data": {"ks": (1,)}})
    assert C.UALIGN_EQUILIBRIUM.configure(run).ks == (1, 2)
    assert C.NLHF_COLLAPSE.configure(run).ks == (1, 2, 3, 4, 8, 16, 32)
    assert RealDataConfig.for_run(run).ks == (1,)
    assert RealDataConfig.for_run(run).display_ks == (1, 2)


def test_overrides_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"overrides must be keyed by a claim key or 'data'.*"
                                         r"got 'xii'"):
        ReproduceConfig(overrides={"xii": {}})
    run = ReproduceConfig(overrides={"ii": {"n_policy": 3}, "data": {"k": (1,)}})
    with pytest.raises(ValueError, match=r"overrides\['ii'\] must name fields of CopyingConfig "
                                         r"\(.*n_policies.*\), got 'n_policy'"):
        C.COPYING_OPPONENT.configure(run)
    with pytest.raises(ValueError, match=r"overrides\['data'\] must name fields of "
                                         r"RealDataConfig .* got 'k'"):
        RealDataConfig.for_run(run)


def test_a_bad_override_is_a_failing_row_not_a_crash(monkeypatch):
    from ualign.report import reproduce

    monkeypatch.setattr(C, "CLAIMS", (C.COPYING_OPPONENT, C.DISTINCT_CLOSED_FORM))
    rep = reproduce.build_report(ReproduceConfig(quick=True,
                                                 overrides={"x": {"nope": 1}}), None)
    ok, row = rep.claims
    assert ok.passed and not row.passed and "overrides['x']" in row.measured


def test_the_oracles_have_one_home():
    from ualign.report.claims import distinct, limits, oracles

    assert limits.worst_ell_output is oracles.worst_ell_output
    assert distinct.best_distinct_kset_lp is oracles.best_distinct_kset_lp
    assert distinct.literal_distinct_payoffs is oracles.literal_distinct_payoffs
