"""``ReproduceConfig.overrides`` applied to one section's config (a claim's or the real data's):
the one place that checks the field names."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["with_overrides"]


def with_overrides(config, changes: Mapping[str, Any], key: str):
    """``dataclasses.replace(config, **changes)``; a name that is not a field of ``config`` is
    a ``ValueError`` naming ``overrides[key]``, the name and the fields there are."""
    fields = {f.name for f in dataclasses.fields(config)}
    for name in changes:
        if name not in fields:
            raise ValueError(f"overrides[{key!r}] must name fields of {type(config).__name__} "
                             f"({', '.join(sorted(fields))}), got {name!r}")
    return dataclasses.replace(config, **changes) if changes else config
