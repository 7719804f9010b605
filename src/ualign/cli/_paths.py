"""Output destinations, checked before any work: every command that writes (``compare``,
``reproduce``, ``personalise``, ``select``, ``eval-select``, ``fetch``, ``train``) calls
:func:`out_dir` or :func:`out_file` on its ``--out`` / ``--cache`` / ``--json`` / ``--plot``
first, so a destination it cannot write is a one-line :class:`~ualign.cli.CLIError` before the
computation, never a traceback after it.

Nothing is created: writability is probed with a temporary file in the nearest existing folder,
which is removed at once."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ualign._text import plain
from ualign.cli import CLIError

__all__ = ["out_dir", "out_file"]


def _existing_parent(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists (``/`` at worst)."""
    base = path
    while not os.path.lexists(base) and base.parent != base:
        base = base.parent
    return base


def _probe(folder: Path, name: str, target: Path) -> None:
    """``folder`` (the nearest existing parent of ``target``) is a folder we can write into."""
    base = _existing_parent(folder)
    if not base.is_dir():
        raise CLIError(f"{name}: cannot create {plain(target)}: {plain(base)} is a file, not a "
                       "folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ualign-probe.", dir=base)
    except OSError as e:
        raise CLIError(f"{name}: cannot write to {plain(base)} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(tmp)


def out_dir(path: str | os.PathLike, name: str = "--out", files: Iterable[str] = (),
            folders: Iterable[str] = ()) -> Path:
    """``path`` as a folder the command can write ``files`` and ``folders`` into (each relative
    to it); :class:`CLIError` naming ``name`` otherwise: ``path`` is a file or lies below one,
    one of ``files`` is a folder, one of ``folders`` is a file, or nothing can be written."""
    if not str(path).strip():
        raise CLIError(f"{name} must name a folder, got an empty string (use . for this one)")
    out = Path(path)
    if os.path.lexists(out) and not out.is_dir():
        raise CLIError(f"{name} must be a folder, got the file {plain(out)}")
    for f in files:
        if (out / f).is_dir():
            raise CLIError(f"{name}: {plain(out / f)} is a folder, but the command writes a "
                           "file there (remove or rename it, or choose another folder)")
    for d in folders:
        if os.path.lexists(out / d) and not (out / d).is_dir():
            raise CLIError(f"{name}: {plain(out / d)} is a file, but the command writes a "
                           "folder there (remove or rename it, or choose another folder)")
    _probe(out, name, out)
    for d in folders:                   # an existing subfolder must take files too
        if (out / d).is_dir():
            _probe(out / d, name, out / d)
    return out


def out_file(path: str | os.PathLike, name: str) -> Path:
    """``path`` as a file the command can create, replace or append to; :class:`CLIError`
    naming ``name`` otherwise (it is a folder, lies below a file, or cannot be written)."""
    if not str(path).strip():
        raise CLIError(f"{name} must name a file, got an empty string")
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{name} must be a file, got the folder {plain(p)}")
    if os.path.lexists(p) and not os.access(p, os.W_OK):
        raise CLIError(f"{name}: cannot write to {plain(p)} (permission denied)")
    _probe(p.parent, name, p)
    return p
