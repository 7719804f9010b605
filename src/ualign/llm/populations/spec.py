"""Populations from command-line specs (``polis:FOLDER``, ``personas:FILE``,
``reward:FILE,model=M``) and persona files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ualign.llm.populations.base import Population
from ualign.llm.populations.embedding import EmbeddingPopulation
from ualign.llm.populations.reward import RewardModelPopulation
from ualign.llm.populations.votes import VotePopulation

__all__ = ["load_population", "read_personas"]


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


def load_population(spec: str, embed=None) -> Population:
    """A population from a command-line spec:

    - ``polis:FOLDER[,mode=participant|group|lowrank,min_votes=5,rank=8]`` or just a Polis
      export folder: :meth:`VotePopulation.from_polis`;
    - ``personas:FILE[,noise=gumbel,noise_scale=0.1,seed=0]``: :class:`EmbeddingPopulation`
      (file format: :func:`read_personas`);
    - ``reward:FILE,model=MODEL_ID_OR_PATH``: :class:`RewardModelPopulation`.
    """
    kind, colon, rest = spec.partition(":")
    if not colon or kind not in ("polis", "personas", "reward"):
        if (Path(spec) / "comments.csv").is_file():
            kind, rest = "polis", spec
        else:
            raise ValueError(f"population must be polis:FOLDER, personas:FILE or "
                             f"reward:FILE,model=M (or a Polis folder), got {spec!r}")
    target, _, opts = rest.partition(",")
    opts = _parse_options(opts)
    if kind == "polis":
        allowed = {"mode", "min_votes", "rank", "alpha_global", "alpha_group", "alpha_user"}
        bad = set(opts) - allowed
        if bad:
            raise ValueError(f"unknown polis population option(s) {sorted(bad)}; allowed: "
                             f"{sorted(allowed)}")
        kw = {k: (v if k == "mode" else (int(v) if k in ("min_votes", "rank") else float(v)))
              for k, v in opts.items()}
        return VotePopulation.from_polis(target, embed=embed, **kw)
    texts, weights = read_personas(target)
    if kind == "personas":
        allowed = {"noise", "noise_scale", "seed"}
        bad = set(opts) - allowed
        if bad:
            raise ValueError(f"unknown personas population option(s) {sorted(bad)}; allowed: "
                             f"{sorted(allowed)}")
        return EmbeddingPopulation(texts, weights, embed=embed, noise=opts.get("noise"),
                                   noise_scale=float(opts.get("noise_scale", 0.0)),
                                   seed=int(opts.get("seed", 0)))
    if "model" not in opts:
        raise ValueError("reward populations need model=MODEL_ID_OR_PATH, e.g. "
                         "reward:personas.txt,model=OpenAssistant/reward-model-deberta-v3-base")
    return RewardModelPopulation(opts["model"], texts, weights)
