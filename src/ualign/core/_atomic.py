"""Atomic file writes: a hidden temporary file in the target's folder, renamed into place.

A process killed between the two steps (SIGKILL, power loss) cannot clean up, so its
temporary file stays. :func:`sweep_stale` removes such leftovers of the same target once
they are older than any live write could be; each writer calls it before writing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write_text", "sweep_stale"]


def sweep_stale(path: Path, suffix: str, age: float) -> None:
    """Remove ``.<name>.*<suffix>`` siblings of ``path`` not modified for ``age`` seconds (the
    temporary files of killed writes of the same target)."""
    now = time.time()
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{glob_escape(path.name)}.*{suffix}"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > age:
                    p.unlink()


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards escaped."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def atomic_write_text(path: Path, text: str, *, stale_after: float = 3600.0) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; the temporary file is
    removed if anything fails, and stale ones of killed writes (older than ``stale_after``
    seconds) are swept first."""
    path = Path(path)
    sweep_stale(path, ".tmp", stale_after)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
