"""Atomic file writes: a hidden temporary file in the target's folder, renamed into place.

A process killed between the two steps (SIGKILL, power loss) cannot clean up, so its
temporary file stays. :func:`sweep_stale` removes such leftovers of the same target once
they are older than any live write could be; each writer calls it before writing.

A *set* of files that belong together (a report's HTML, Markdown, JSON and plots) is published
with :func:`atomic_write_set`: every file is written into one hidden staging folder next to
the destination first, and only when all of them are on disk are they renamed into place, one
``os.replace`` each (same file system, no data copied). A failure or kill while the set is
being written, which is where nearly all of the time goes, leaves the previous set untouched.
The renames are not atomic as a group: a kill among them (about 0.1 ms for three files; each
replaced file is hard-linked into the staging folder first so that its rename frees nothing)
can leave new files beside old ones (``benchmarks/kill_report_writes.py`` measures it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_set", "atomic_write_text", "sweep_stale"]


def sweep_stale(path: Path, suffix: str, age: float) -> None:
    """Remove ``.<name>.*<suffix>`` siblings of ``path`` not modified for ``age`` seconds (the
    temporary files of killed writes of the same target).

    Examples:
      A temporary file left by a killed write of ``r.txt`` is removed once older than ``age``
      seconds:

      >>> import os, pathlib, tempfile
      >>> from ualign.core._atomic import sweep_stale
      >>> d = pathlib.Path(tempfile.mkdtemp())
      >>> _ = (d / ".r.txt.abc.tmp").write_text("partial")
      >>> os.utime(d / ".r.txt.abc.tmp", (0, 0))  # last modified in 1970
      >>> sweep_stale(d / "r.txt", ".tmp", age=3600)
      >>> list(d.iterdir())
      []
    """
    now = time.time()
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{glob_escape(path.name)}.*{suffix}"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > age:
                    p.unlink()


def glob_escape(name: str) -> str:
    """``name`` with glob wildcards escaped."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def file_mode() -> int:
    """The mode a plain ``open()`` gives a new file: ``0o666`` less the umask (``mkstemp``
    makes its files ``0o600``, which would leave reports and data readable by their owner
    only)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _target(path) -> Path:
    """``path`` as a Path, or a ``ValueError`` when it names an existing folder (a rename onto
    a folder fails with ``IsADirectoryError``, or ``EBUSY`` for ``.``)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a folder; give the name of a file to write")
    return path


def atomic_write_text(path: Path, text: str, *, stale_after: float = 3600.0) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; the temporary file is
    removed if anything fails, and stale ones of killed writes (older than ``stale_after``
    seconds) are swept first.

    Examples:
      >>> import pathlib, tempfile
      >>> from ualign.core._atomic import atomic_write_text
      >>> path = atomic_write_text(pathlib.Path(tempfile.mkdtemp()) / "note.txt", "hello")
      >>> path.read_text(), sorted(p.name for p in path.parent.iterdir())  # no temporary left
      ('hello', ['note.txt'])
    """
    return atomic_write_bytes(path, text.encode("utf-8"), stale_after=stale_after)


def atomic_write_bytes(path: Path, data: bytes, *, stale_after: float = 3600.0) -> Path:
    """Write ``data`` to ``path`` atomically (a hidden temporary file in the same folder, then
    ``os.replace``), as :func:`atomic_write_text` describes; e.g. an ``.npz`` or a PNG
    rendered to a buffer.

    Examples:
      >>> import pathlib, tempfile
      >>> from ualign.core._atomic import atomic_write_bytes
      >>> path = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "x.bin", bytes([1, 2, 3]))
      >>> list(path.read_bytes())
      [1, 2, 3]
    """
    path = _target(path)
    sweep_stale(path, ".tmp", stale_after)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


_STAGING = ".ualign-set."  # prefix of the hidden staging folders of atomic_write_set


def atomic_write_set(files, out_dir, *, stale_after: float = 3600.0) -> list[Path]:
    """Publish ``files`` (``{relative path: bytes}``) under ``out_dir`` together.

    All files are first written into a hidden staging folder ``out_dir/.ualign-set.*`` (so the
    renames stay on one file system); if any write fails the staging folder is removed and
    every file of the previous set stays as it was. Then each file is moved into place with
    ``os.replace``. Files get the usual permissions (``0o666`` less the umask). Staging
    folders of killed writes older than ``stale_after`` seconds are removed first. Returns
    the published paths, in the order of ``files``.

    Examples:
      >>> import pathlib, tempfile
      >>> from ualign.core._atomic import atomic_write_set
      >>> out = pathlib.Path(tempfile.mkdtemp())
      >>> paths = atomic_write_set({"a.txt": b"1", "plots/b.txt": b"2"}, out)
      >>> [p.relative_to(out).as_posix() for p in paths], sorted(p.name for p in out.iterdir())
      (['a.txt', 'plots/b.txt'], ['a.txt', 'plots'])
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _sweep_stale_sets(out, stale_after)
    mode = file_mode()
    stage = Path(tempfile.mkdtemp(prefix=_STAGING, dir=out))
    try:
        for rel, data in files.items():
            tmp = stage / rel
            tmp.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode)
        targets = [out / rel for rel in files]
        for i, path in enumerate(targets):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Keep the file being replaced alive under the staging folder, so the rename
            # below frees nothing (freeing its blocks made each rename take up to 0.4 ms,
            # the window in which a kill leaves new files beside old ones); the staging
            # folder's removal frees it after the set is published.
            with contextlib.suppress(OSError):
                os.link(path, stage / f".old-{i}")
        for rel, path in zip(files, targets, strict=True):
            os.replace(stage / rel, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return targets


def _sweep_stale_sets(out: Path, age: float) -> None:
    """Remove staging folders of killed :func:`atomic_write_set` calls older than ``age`` s."""
    now = time.time()
    with contextlib.suppress(OSError):
        for p in out.glob(f"{_STAGING}*"):
            with contextlib.suppress(OSError):
                if p.is_dir() and now - p.stat().st_mtime > age:
                    shutil.rmtree(p, ignore_errors=True)
