"""Turning a PROFILE argument into a Profile (shared by the subcommands)."""

from __future__ import annotations

from pathlib import Path

from ualign.core import Profile, read_preflib

PREFLIB_SUFFIXES = {".soc", ".soi", ".toc", ".toi"}


def load_profile(spec: str) -> Profile:
    """A PrefLib file, or whatever ``ualign.data.load_profile`` understands (Polis folders,
    generator specs such as ``mallows:n=20,phi=0.7``) once that module is installed."""
    path = Path(spec)
    if path.suffix.lower() in PREFLIB_SUFFIXES:
        return read_preflib(path)
    try:
        from ualign.data import load_profile as data_load
    except ImportError:
        data_load = None
    if data_load is not None:
        return data_load(spec)
    if not path.exists():
        raise FileNotFoundError(f"no such profile file: {spec}")
    raise ValueError(f"cannot read {spec!r}: expected a PrefLib file (.soc .soi .toc .toi)")
