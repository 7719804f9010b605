"""Populations from command-line specs (``polis:FOLDER``, ``personas:FILE``,
``reward:FILE,model=M``) and persona files."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ualign.llm.populations.base import Population
from ualign.llm.populations.embedding import EmbeddingPopulation
from ualign.llm.populations.reward import RewardModelPopulation
from ualign.llm.populations.votes import VotePopulation

__all__ = ["POPULATION_KINDS", "PopulationKind", "load_population", "read_personas",
           "register_population_kind"]


def _parse_options(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        key, eq, val = part.partition("=")
        if not eq:
            raise ValueError(f"population options must be key=value, got {part!r}")
        out[key.strip()] = val.strip()
    return out


def read_personas(path) -> tuple[list[str], np.ndarray | None]:
    """Persona texts (and optional weights) from a file: JSON (a list of strings or of
    ``{"persona": ..., "weight": ...}``), JSONL of such objects, or plain text with one persona
    per line, optionally ``weight<TAB>text``. Blank lines and ``#`` comments are skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such personas file: {path}")
    raw = path.read_text(encoding="utf-8")
    items: list = []
    if path.suffix in (".json", ".jsonl"):
        if path.suffix == ".json":
            items = json.loads(raw)
        else:
            items = [json.loads(line) for line in raw.splitlines() if line.strip()]
    else:
        for line in raw.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            w, tab, text = line.partition("\t")
            items.append({"persona": text.strip(), "weight": float(w)} if tab
                         else line.strip())
    texts, weights = [], []
    for i, it in enumerate(items):
        if isinstance(it, str):
            texts.append(it)
            weights.append(1.0)
        elif isinstance(it, dict) and isinstance(it.get("persona"), str):
            texts.append(it["persona"])
            weights.append(float(it.get("weight", 1.0)))
        else:
            raise ValueError(f"{path}: persona entry {i} must be a string or an object with a "
                             f"'persona' string, got {it!r}")
    if not texts:
        raise ValueError(f"{path}: the personas file holds no personas; a population needs at "
                         f"least one user")
    return texts, np.array(weights)


@dataclasses.dataclass(frozen=True)
class PopulationKind:
    """One kind of population spec, ``NAME:TARGET[,key=value,...]``.

    Attributes:
      name: the spec prefix (``polis``, ``personas``, ``reward``).
      build: ``build(target, options, embed) -> Population``; ``options`` are already converted
        by ``options`` and checked against its keys.
      options: ``key -> converter`` (``int``, ``float``, ``str``) of the options it accepts.
      usage: the spec's form, for error messages.
    """

    name: str
    build: Callable[[str, dict, Any], Population]
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


register_population_kind(PopulationKind(
    "polis", _build_polis,
    {"mode": str, "min_votes": int, "rank": int, "alpha_global": float, "alpha_group": float,
     "alpha_user": float},
    "polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]"))
register_population_kind(PopulationKind(
    "personas", _build_personas, {"noise": str, "noise_scale": float, "seed": int},
    "personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]"))
register_population_kind(PopulationKind(
    "reward", _build_reward, {"model": str}, "reward:FILE,model=MODEL_ID_OR_PATH"))


def load_population(spec: str, embed=None) -> Population:
    """A population from a command-line spec ``KIND:TARGET[,key=value,...]``, one registered
    :class:`PopulationKind` per ``KIND``:

    - ``polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]`` or just a Polis
      export folder: :meth:`VotePopulation.from_polis`;
    - ``personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]``: :class:`EmbeddingPopulation`
      (file format: :func:`read_personas`);
    - ``reward:FILE,model=MODEL_ID_OR_PATH``: :class:`RewardModelPopulation`.
    """
    kind_name, colon, rest = spec.partition(":")
    if not colon or kind_name not in POPULATION_KINDS:
        if (Path(spec) / "comments.csv").is_file():
            kind_name, rest = "polis", spec
        else:
            forms = ", ".join(k.usage for k in POPULATION_KINDS.values())
            raise ValueError(f"population must be one of {forms} (or a Polis folder), got "
                             f"{spec!r}")
    kind = POPULATION_KINDS[kind_name]
    target, _, text = rest.partition(",")
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
