"""Profile specs: one string that names a preference profile, for the command line.

A spec is one of
- a PrefLib file (``.soc .soi .toc .toi``), read with :func:`ualign.read_preflib`;
- a Polis conversation folder (with ``participants-votes.csv``), read with
  :func:`ualign.data.read_polis` and its defaults; or ``polis:path=DIR,min_votes=20,...``;
- a generator spec ``name:key=value,key=value`` (keys in any order; missing keys take their
  defaults; random generators default to ``seed=0`` so a spec names one profile)::

      impartial:n=5                  exact impartial culture (all 5! orders)
      impartial:n=12,users=1000      sampled
      mallows:n=20,phi=0.7           1000 users around the centre 0, 1, ..., n-1
      mallows:n=20,phi=0.7,groups=3,users=500,seed=0   mixture of 3 Mallows groups
      pl:n=10,users=1000             Plackett-Luce with Dirichlet(1) strengths
      pl:n=10000,users=100000,groups=5   a mixture of 5 Plackett-Luce groups (2 GB as int16)
      condorcet:n=3                  the Condorcet cycle
      collapse:eps=0.05              the NLHF-collapse instance
      ideal:n=12,users=300,dim=2     ideal-point users (clusters=3 makes groups)

Every failure is one line: ``ValueError`` for an unknown generator or key or a malformed value
(listing what is accepted), ``FileNotFoundError`` for a path that does not exist.

References: shared/spec/THEORY.md §6 (the instances).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from ualign._text import plain
from ualign.core.preflib import read_preflib
from ualign.core.profile import Profile
from ualign.data import generators as gen
from ualign.data.polis import UNSEEN_RULES, read_polis

__all__ = ["GENERATORS", "PREFLIB_SUFFIXES", "load_profile", "parse_spec"]

PREFLIB_SUFFIXES = (".soc", ".soi", ".toc", ".toi")
_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class _Key:
    kind: type                     # int, float or str
    default: object = _REQUIRED    # _REQUIRED, None (optional) or a value
    choices: tuple[str, ...] | None = None

    def describe(self, name: str) -> str:
        if self.default is _REQUIRED:
            return f"{name} (required)"
        if self.default is None:
            return f"{name} (optional)"
        return f"{name}={self.default}"


@dataclasses.dataclass(frozen=True)
class _Generator:
    keys: dict[str, _Key]
    build: Callable[[dict], Profile]
    help: str


def _mallows(a: dict) -> Profile:
    if a["groups"] == 1:
        return gen.mallows(a["n"], a["users"], a["phi"], seed=a["seed"])
    return gen.mallows_mixture(a["n"], a["users"], a["phi"], a["groups"], seed=a["seed"])


def _pl(a: dict) -> Profile:
    if a["groups"] == 1:
        return gen.plackett_luce(a["n"], a["users"], seed=a["seed"])
    return gen.plackett_luce_mixture(a["n"], a["users"], a["groups"], seed=a["seed"])


def _polis(a: dict) -> Profile:
    return read_polis(a["path"], min_votes=a["min_votes"], unseen=a["unseen"],
                      min_statement_votes=a["min_statement_votes"],
                      max_statements=a["max_statements"])


GENERATORS: dict[str, _Generator] = {
    "impartial": _Generator(
        {"n": _Key(int), "users": _Key(int, None), "seed": _Key(int, 0)},
        lambda a: gen.impartial_culture(a["n"], a["users"], seed=a["seed"]),
        "impartial culture; without users: exact, all n! orders (n <= 9)"),
    "mallows": _Generator(
        {"n": _Key(int), "phi": _Key(float), "users": _Key(int, 1000), "groups": _Key(int, 1),
         "seed": _Key(int, 0)},
        _mallows, "Mallows around 0..n-1; groups > 1: a mixture with random centres"),
    "pl": _Generator(
        {"n": _Key(int), "users": _Key(int, 1000), "groups": _Key(int, 1),
         "seed": _Key(int, 0)},
        _pl, "Plackett-Luce with flat-Dirichlet strengths; groups > 1: a mixture, one set of "
             "strengths per group"),
    "condorcet": _Generator(
        {"n": _Key(int, 3)}, lambda a: gen.condorcet_cycle(a["n"]), "the Condorcet cycle"),
    "collapse": _Generator(
        {"eps": _Key(float, 0.05)}, lambda a: gen.nlhf_collapse(a["eps"]),
        "NLHF collapse: 1/2+eps rank 0 over 1"),
    "ideal": _Generator(
        {"n": _Key(int), "users": _Key(int, 1000), "dim": _Key(int, 2),
         "noise": _Key(float, 0.0), "clusters": _Key(int, None), "seed": _Key(int, 0)},
        lambda a: gen.ideal_points(a["n"], a["users"], dim=a["dim"], noise=a["noise"],
                                   clusters=a["clusters"], seed=a["seed"]),
        "ideal-point users in [-1, 1]^dim"),
    "polis": _Generator(
        {"path": _Key(str), "min_votes": _Key(int, 7), "unseen": _Key(str, "pass", UNSEEN_RULES),
         "min_statement_votes": _Key(int, 0), "max_statements": _Key(int, None)},
        _polis, "a Polis folder with reader options"),
}
_ALIASES = {"ic": "impartial", "impartial_culture": "impartial", "plackett_luce": "pl",
            "plackett-luce": "pl", "condorcet_cycle": "condorcet", "nlhf_collapse": "collapse",
            "ideal_points": "ideal"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _accepted_names() -> str:
    return ", ".join(GENERATORS)


def _accepted_keys(name: str) -> str:
    return ", ".join(k.describe(key) for key, k in GENERATORS[name].keys.items())


def parse_spec(spec: str) -> tuple[str, dict]:
    """``"mallows:n=20,phi=0.7"`` -> ``("mallows", {"n": 20, "phi": 0.7, "users": 1000, ...})``
    with every key typed and defaulted. Raises ``ValueError`` naming what is accepted."""
    text = str(spec).strip()
    name, _, body = text.partition(":")
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in GENERATORS:
        raise ValueError(f"unknown generator {name.strip()!r} in spec {text!r}; accepted: "
                         f"{_accepted_names()} (e.g. mallows:n=20,phi=0.7,groups=3)")
    g = GENERATORS[key]
    args: dict = {}
    for pos, item in enumerate(p for p in body.split(",") if p.strip()) if body.strip() else ():
        k, eq, v = item.partition("=")
        k, v = k.strip().lower(), v.strip()
        if not eq or not k or not v:
            raise ValueError(f"{key} spec item {pos + 1} must be key=value, got {item.strip()!r}"
                             f"; accepted keys: {_accepted_keys(key)}")
        if k not in g.keys:
            raise ValueError(f"{key} spec has unknown key {k!r}; accepted keys: "
                             f"{_accepted_keys(key)}")
        if k in args:
            raise ValueError(f"{key} spec gives key {k!r} twice")
        args[k] = _convert(key, k, v, g.keys[k])
    for k, spec_key in g.keys.items():
        if k not in args:
            if spec_key.default is _REQUIRED:
                raise ValueError(f"{key} spec is missing key {k!r}; accepted keys: "
                                 f"{_accepted_keys(key)}")
            args[k] = spec_key.default
    return key, args


def _convert(name: str, key: str, value: str, k: _Key):
    if k.kind is int:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError(f"{name} spec key {key!r} must be an integer, got {value!r}")
        return int(value)
    if k.kind is float:
        try:
            x = float(value)
        except ValueError:
            x = math.nan
        if not math.isfinite(x):
            raise ValueError(f"{name} spec key {key!r} must be a finite number, got {value!r}")
        return x
    if k.choices is not None and value not in k.choices:
        raise ValueError(f"{name} spec key {key!r} must be one of {', '.join(k.choices)}, got "
                         f"{value!r}")
    return value


def load_profile(spec) -> Profile:
    """A Profile from a PrefLib file, a Polis folder or a generator spec (module docstring).

    A ``Profile`` is returned unchanged; an existing path is read as data; otherwise the string
    must be a generator spec ``name:key=value,...`` (or a bare generator name whose keys all
    have defaults, e.g. ``condorcet``).
    """
    if isinstance(spec, Profile):
        return spec
    if not isinstance(spec, str | os.PathLike):
        raise ValueError(f"spec must be a path or a string such as mallows:n=20,phi=0.7, got "
                         f"{type(spec).__name__}")
    text = os.fspath(spec).strip() if isinstance(spec, str) else os.fspath(spec)
    if not text:
        raise ValueError("spec must not be empty: give a PrefLib file, a Polis folder or a "
                         f"generator spec ({_accepted_names()})")
    path = Path(text)
    if _exists(path):
        return _read_path(path)
    head = text.partition(":")[0].strip()
    looks_like_spec = _NAME.fullmatch(head) is not None and (
        ":" in text or head.lower() in GENERATORS or head.lower() in _ALIASES)
    if looks_like_spec and path.suffix.lower() not in PREFLIB_SUFFIXES:
        name, args = parse_spec(text)
        return GENERATORS[name].build(args)
    raise FileNotFoundError(f"no such file or folder: {plain(text)} (a profile is a PrefLib file "
                            f"{'/'.join(PREFLIB_SUFFIXES)}, a Polis folder, or a generator spec "
                            f"such as mallows:n=20,phi=0.7 with a name in: {_accepted_names()})")


def _exists(path: Path) -> bool:
    """``path.exists()``, False where the name cannot be a path here (too long, NUL byte)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _read_path(path: Path) -> Profile:
    if path.is_dir():
        if (path / "participants-votes.csv").is_file():
            return read_polis(path)
        raise ValueError(f"folder {plain(path)} is not a Polis conversation (it has no "
                         "participants-votes.csv)")
    if path.suffix.lower() in PREFLIB_SUFFIXES:
        return read_preflib(path)
    if path.name in ("participants-votes.csv", "comments.csv"):
        return read_polis(path.parent)
    raise ValueError(f"cannot read {plain(path)}: expected a PrefLib file "
                     f"({' '.join(PREFLIB_SUFFIXES)}) or a Polis folder")
