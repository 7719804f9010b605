"""Populations from command-line specs (``polis:FOLDER``, ``personas:FILE``,
``reward:FILE,model=M``, ``judge:FILE,model=M``, ``http://HOST:PORT``, ``py:MODULE:FACTORY``)
and persona files: one registry of :class:`PopulationKind` entries, one per spec prefix."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ualign.llm.populations import remote
from ualign.llm.populations.category import CATEGORY_OPTIONS, CATEGORY_USAGE, build_category
from ualign.llm.populations.embedding import EmbeddingPopulation
from ualign.llm.populations.judge import JudgePopulation
from ualign.llm.populations.reward import RewardModelPopulation
from ualign.llm.populations.stance import StancePopulation
from ualign.llm.populations.votes import VotePopulation

__all__ = ["POPULATION_KINDS", "PopulationKind", "load_population", "population_kind",
           "read_personas", "register_population_kind"]


def _parse_options(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, eq, val = part.partition("=")
        if not eq:
            raise ValueError(f"population options must be key=value, got {part!r}")
        out[key.strip()] = val.strip()
    return out


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x})") from None


def _json_at(path: Path, text: str, line0: int):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{line0 + e.lineno - 1}: not JSON ({e.msg})") from None


def _text_items(lines: list[str]) -> list[tuple[int, object]]:
    """``(line, entry)`` of a plain-text personas file: ``text`` or ``weight<TAB>text``."""
    items: list[tuple[int, object]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        w, tab, text = line.partition("\t")
        if not tab:
            items.append((i, line.strip()))
            continue
        try:
            weight = float(w)
        except ValueError:
            weight = -1.0
        items.append((i, {"persona": text.strip(), "weight": weight, "_w": w}))
    return items


def _persona_items(path: Path, raw: str) -> list[tuple[int, object]]:
    """``(line, entry)`` pairs of a personas file by its suffix (.json, .jsonl, plain text)."""
    lines = [ln.removesuffix("\r") for ln in raw.split("\n")]
    if path.suffix == ".json":
        loaded = _json_at(path, raw, 1)
        return [(1, it) for it in loaded] if isinstance(loaded, list) else [(1, loaded)]
    if path.suffix == ".jsonl":
        return [(i, _json_at(path, ln, i)) for i, ln in enumerate(lines, start=1) if ln.strip()]
    return _text_items(lines)


def _persona_entry(it, where: str, i: int) -> tuple[str, float]:
    """``(text, weight)`` of one entry; ``ValueError`` naming ``where`` otherwise."""
    if isinstance(it, str):
        return it, 1.0
    if isinstance(it, dict) and isinstance(it.get("persona"), str):
        w = it.get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < float("inf"):
            raise ValueError(f"{where}: the weight before the tab (or 'weight') must be a "
                             f"positive number, got {it.get('_w', w)!r}")
        return it["persona"], float(w)
    raise ValueError(f"{where}: persona entry {i + 1} must be a string or an object "
                     f"with a 'persona' string, got {it!r}")


def read_personas(path) -> tuple[list[str], np.ndarray | None]:
    """Persona texts (and optional weights) from a file: JSON (a list of strings or of
    ``{"persona": ..., "weight": ...}``), JSONL of such objects, or plain text with one persona
    per line, optionally ``weight<TAB>text``. Blank lines and ``#`` comments are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such personas file: {path}")
    texts, weights = [], []
    for i, (line, it) in enumerate(_persona_items(path, _decode(path))):
        where = f"{path}:{line}" if path.suffix != ".json" else f"{path}"
        text, weight = _persona_entry(it, where, i)
        texts.append(text)
        weights.append(weight)
    if not texts:
        raise ValueError(f"{path}: the personas file holds no personas; a population needs at "
                         f"least one user")
    return texts, np.array(weights)


@dataclasses.dataclass(frozen=True)
class PopulationKind:
    """One kind of population spec, ``NAME:TARGET[,key=value,...]``.

    Attributes:
      name: the spec prefix (``polis``, ``personas``, ``reward``, ``http``, ...).
      build: ``build(target, options, embed) -> population`` (a :class:`Population`, or any
        object :mod:`ualign.llm.populations.protocol` accepts); ``options`` are already
        converted by ``options`` and checked against its keys.
      options: ``key -> converter`` (``int``, ``float``, ``str``) of the options it accepts.
      usage: the spec's form, for error messages.
    """

    name: str
    build: Callable[[str, dict, Any], Any]
    options: Mapping[str, Callable[[str], Any]]
    usage: str


POPULATION_KINDS: dict[str, PopulationKind] = {}


def register_population_kind(kind: PopulationKind) -> PopulationKind:
    """Add a population kind to :func:`load_population` (once per name)."""
    if kind.name in POPULATION_KINDS:
        raise ValueError(f"population kind {kind.name!r} is already registered")
    POPULATION_KINDS[kind.name] = kind
    return kind


def _build_polis(target, opts, embed):
    return VotePopulation.from_polis(target, embed=embed, **opts)


def _build_stance(target, opts, embed):
    return StancePopulation.from_polis(target, embed=embed, **opts)


def _build_personas(target, opts, embed):
    texts, weights = read_personas(target)
    return EmbeddingPopulation(texts, weights, embed=embed, noise=opts.get("noise"),
                               noise_scale=opts.get("noise_scale", 0.0),
                               seed=opts.get("seed", 0))


def _build_reward(target, opts, embed):
    if "model" not in opts:
        raise ValueError("reward populations need model=MODEL_ID_OR_PATH, e.g. "
                         "reward:personas.txt,model=OpenAssistant/reward-model-deberta-v3-base")
    texts, weights = read_personas(target)
    return RewardModelPopulation(opts["model"], texts, weights)


def _build_judge(target, opts, embed):
    from ualign.llm.generate import load_generator

    texts, weights = read_personas(target)
    judge = load_generator(opts.pop("model", None), opts.pop("endpoint", None))
    return JudgePopulation(judge, texts, weights, **opts)


def _build_remote(scheme, target, opts, embed):
    return remote.from_spec(scheme, target, opts)


def _build_factory(target, opts, embed):
    mod, colon, attr = target.partition(":")
    if not colon or not mod or not attr:
        raise ValueError(f"population py:MODULE:FACTORY expected, got py:{target!r}")
    try:
        factory = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"population py:{target}: cannot import {attr} from {mod}: "
                         f"{e}") from e
    return factory()


register_population_kind(PopulationKind(
    "polis", _build_polis,
    {"mode": str, "min_votes": int, "rank": int, "alpha_global": float, "alpha_group": float,
     "alpha_user": float},
    "polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]"))
register_population_kind(PopulationKind(
    "stance", _build_stance, {"model": str, "min_votes": int, "reg": float},
    "stance:FOLDER[,model=MODEL.npz,min_votes=5,reg=1.0]"))
register_population_kind(PopulationKind(
    "personas", _build_personas, {"noise": str, "noise_scale": float, "seed": int},
    "personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]"))
register_population_kind(PopulationKind(
    "reward", _build_reward, {"model": str}, "reward:FILE,model=MODEL_ID_OR_PATH"))
register_population_kind(PopulationKind(
    "judge", _build_judge,
    {"model": str, "endpoint": str, "permutations": int, "max_retries": int, "cache": str,
     "on_failure": str, "max_new_tokens": int},
    "judge:FILE[,model=smollm2|ID|PATH,endpoint=URL,permutations=G,max_retries=2,"
    "cache=FILE.jsonl,on_failure=raise|skip]"))
for _scheme in ("http", "https"):
    register_population_kind(PopulationKind(
        _scheme, functools.partial(_build_remote, _scheme),
        {"timeout": float, "retries": int, "backoff": float},
        f"{_scheme}://HOST:PORT[,timeout=60,retries=3,backoff=0.2]"))
register_population_kind(PopulationKind(
    "py", _build_factory, {}, "py:MODULE:FACTORY (a callable returning a population)"))
register_population_kind(PopulationKind(
    "category", build_category, CATEGORY_OPTIONS, CATEGORY_USAGE))


def population_kind(spec: str) -> tuple[PopulationKind, str, str] | None:
    """``(kind, target, options text)`` of a spec ``KIND:TARGET[,key=value,...]`` whose
    ``KIND`` is registered, else ``None``."""
    kind_name, colon, rest = spec.partition(":")
    if not colon or kind_name not in POPULATION_KINDS:
        return None
    target, _, text = rest.partition(",")
    return POPULATION_KINDS[kind_name], target, text


def load_population(spec: str, embed=None):
    """A population from a command-line spec ``KIND:TARGET[,key=value,...]``, one registered
    :class:`PopulationKind` per ``KIND``:

    - ``polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]`` or just a Polis
      export folder: :meth:`VotePopulation.from_polis`;
    - ``stance:FOLDER[,model=MODEL.npz,min_votes=5,reg=1.0]``:
      :meth:`StancePopulation.from_polis` (the shipped stance model unless ``model``);
    - ``personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]``: :class:`EmbeddingPopulation`
      (file format: :func:`read_personas`);
    - ``reward:FILE,model=MODEL_ID_OR_PATH``: :class:`RewardModelPopulation`;
    - ``judge:FILE[,model=smollm2,endpoint=URL,permutations=G,max_retries=2,cache=FILE,
      on_failure=raise|skip,max_new_tokens=N]``: :class:`JudgePopulation`, a causal LM (local,
      or served at ``endpoint`` under the name ``model``) ranking the candidates per persona;
    - ``http://HOST:PORT[,timeout=60,retries=3,backoff=0.2]`` (or ``https://``): a ``ualign
      serve`` service, :class:`ualign.llm.populations.remote.PopulationClient`;
    - ``py:MODULE:FACTORY``: ``FACTORY()`` of an importable module (any population object).
    - ``category:FILE.json[,classifier=keywords|embedding,threshold=0.3]``:
      :class:`~ualign.llm.populations.category.CategoryPopulation`, user types ranking kinds of
      text (:meth:`CategoryPopulation.from_dict` describes the file).
    """
    found = population_kind(spec)
    if found is None:
        if not (Path(spec) / "comments.csv").is_file():
            forms = ", ".join(k.usage for k in POPULATION_KINDS.values())
            raise ValueError(f"population must be one of {forms} (or a Polis folder), got "
                             f"{spec!r}")
        found = POPULATION_KINDS["polis"], spec, ""
    kind, target, text = found
    opts = _parse_options(text)
    bad = set(opts) - set(kind.options)
    if bad:
        raise ValueError(f"unknown {kind.name} population option(s) {sorted(bad)}; allowed: "
                         f"{sorted(kind.options)}")
    converted = {}
    for key, value in opts.items():
        try:
            converted[key] = kind.options[key](value)
        except ValueError:
            raise ValueError(f"{kind.name} population option {key} must be "
                             f"{kind.options[key].__name__}, got {value!r}") from None
    return kind.build(target, converted, embed)
