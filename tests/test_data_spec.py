"""load_profile / parse_spec (ualign.data.spec): every accepted form and one-line errors."""

import math
from pathlib import Path

import numpy as np
import pytest

from ualign import Profile, write_preflib
from ualign.data import (
    condorcet_cycle,
    impartial_culture,
    load_profile,
    mallows,
    mallows_mixture,
    nlhf_collapse,
    parse_spec,
    read_polis,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_parse_spec_types_and_defaults():
    name, args = parse_spec(" Mallows : n=20, phi=0.7 ,groups=3 ")
    assert name == "mallows"
    assert args == {"n": 20, "phi": 0.7, "users": 1000, "groups": 3, "seed": 0}
    assert parse_spec("ic:n=4") == ("impartial", {"n": 4, "users": None, "seed": 0})


@pytest.mark.parametrize("spec, want", [
    ("impartial:n=4", lambda: impartial_culture(4)),
    ("impartial:n=6,users=50,seed=3", lambda: impartial_culture(6, 50, seed=3)),
    ("mallows:n=8,phi=0.5,users=200,seed=1", lambda: mallows(8, 200, 0.5, seed=1)),
    ("mallows:n=8,phi=0.7,groups=3,users=500,seed=0",
     lambda: mallows_mixture(8, 500, 0.7, 3, seed=0)),
    ("collapse:eps=0.05", lambda: nlhf_collapse(0.05)),
    ("collapse", lambda: nlhf_collapse(0.05)),
    ("condorcet:n=4", lambda: condorcet_cycle(4)),
    ("condorcet", lambda: condorcet_cycle(3)),
])
def test_generator_specs_build_the_same_profile(spec, want):
    assert load_profile(spec) == want()


def test_other_generator_specs():
    P = load_profile("pl:n=10,users=1000")
    assert P.n_responses == 10 and P.n_voters == 1000
    P = load_profile("ideal:n=12,users=300,dim=2")
    assert P.n_responses == 12 and P.n_voters == 300
    P = load_profile("ideal:n=5,users=100,clusters=3")
    assert P.groups is not None
    M = load_profile("mallows:n=20,phi=0.7,groups=3")
    assert M.n_voters == 1000 and len(M.group_names) == 3


@pytest.mark.parametrize("spec, match", [
    ("foo:n=3", r"unknown generator 'foo'.*accepted: impartial, mallows, pl"),
    ("mallows", r"missing key 'n'.*accepted keys: n \(required\), phi \(required\)"),
    ("mallows:n=5", r"missing key 'phi'"),
    ("mallows:n=5,phi=0.5,bogus=1", r"unknown key 'bogus'.*accepted keys"),
    ("mallows:n=x,phi=0.5", r"key 'n' must be an integer, got 'x'"),
    ("mallows:n=5,phi=inf", r"key 'phi' must be a finite number"),
    ("mallows:n=5,phi", r"item 2 must be key=value"),
    ("mallows:n=5,n=6,phi=0.1", r"key 'n' twice"),
    ("mallows:n=5,phi=2", r"phi must be a number in \[0, 1\]"),
    ("impartial:n=10", r"n <= 9"),
    ("polis:path=x,unseen=maybe", r"unseen' must be one of pass, bottom"),
    ("", r"must not be empty"),
])
def test_bad_specs_raise_one_line_value_errors(spec, match):
    with pytest.raises(ValueError, match=match) as e:
        load_profile(spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec", ["missing.soc", "no/such/folder", "nothing_here"])
def test_missing_paths_raise_file_not_found(spec):
    with pytest.raises(FileNotFoundError):
        load_profile(spec)


def test_paths(tmp_path):
    P = impartial_culture(3)
    f = tmp_path / "x.soc"
    write_preflib(P, f, n_voters=6)
    for spec in (str(f), f):
        Q = load_profile(spec)
        assert np.array_equal(Q.levels, P.levels) and np.allclose(Q.weights, P.weights)
    assert load_profile(P) is P
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="not a Polis conversation"):
        load_profile(tmp_path / "plain")
    g = tmp_path / "x.txt"
    g.write_text("hello")
    with pytest.raises(ValueError, match="cannot read"):
        load_profile(g)


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "polis" / "brexit-consensus").is_dir(), reason="no shared data")
def test_polis_folder_and_polis_spec():
    folder = DATA / "polis" / "brexit-consensus"
    P = load_profile(str(folder))
    assert P == read_polis(folder)
    Q = load_profile(f"polis:path={folder},min_votes=20,max_statements=10,unseen=bottom")
    assert Q == read_polis(folder, min_votes=20, max_statements=10, unseen="bottom")
    assert load_profile(str(folder / "participants-votes.csv")) == P


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "preflib").is_dir(), reason="no shared data")
def test_preflib_file():
    f = DATA / "preflib" / "00009-agh" / "00009-00000001.soc"
    P = load_profile(str(f))
    assert P.n_responses == 9 and math.isclose(P.n_voters, 146)
    assert np.isclose(P.weights.sum(), 1)
    assert isinstance(P, Profile)


@pytest.mark.parametrize("spec", ["a" * 10000, "x/" + "b" * 300 + ".soc"],
                         ids=["long", "long-file"])
def test_a_name_too_long_for_a_path_is_no_file(spec):
    """Found by benchmarks/fuzz_api.py: a string too long to be a file name raised a bare
    OSError (errno 36) from ``Path.exists``; it is now no file, and not a spec either."""
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_profile(spec)


def test_error_messages_escape_newlines_from_input():
    """Issue 22: user text in the library's errors is escaped (one line), not only in the CLI."""
    with pytest.raises(FileNotFoundError) as e:
        load_profile("foo\nbar")
    assert "\n" not in str(e.value) and "foo\\x0abar" in str(e.value)
