"""Unstable pieces of ualign, re-exported by name (STYLE.md rule 8; like ``trl.experimental``).

What is here may change without notice between versions; it lives in its own modules and is
only re-exported here:

- the vLLM server backend of the trainer (:mod:`ualign.train.vllm_server`):
  ``VLLMServerClient``, ``adapter_name``, ``generate_on_server``;
- experiment drivers: the exactness experiment (:mod:`ualign.train.exactness`:
  ``run_exactness``, ``ExactnessRun``, ``equilibrium``, ``candidate_strings``) and one-prompt
  selection runs (:mod:`ualign.llm.experiment`: ``SelectConfig``, ``run_prompt``,
  ``summarise``, ``personas_for``).

Names are resolved on first access, so importing this package imports neither torch nor the
language-model stack.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "VLLMServerClient": "ualign.train.vllm_server",
    "adapter_name": "ualign.train.vllm_server",
    "generate_on_server": "ualign.train.vllm_server",
    "ExactnessRun": "ualign.train.exactness",
    "candidate_strings": "ualign.train.exactness",
    "equilibrium": "ualign.train.exactness",
    "run_exactness": "ualign.train.exactness",
    "SelectConfig": "ualign.llm.experiment",
    "personas_for": "ualign.llm.experiment",
    "run_prompt": "ualign.llm.experiment",
    "summarise": "ualign.llm.experiment",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ualign.experimental' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


def __dir__() -> list[str]:
    return __all__
