"""Download the public preference data into a local cache (standard library only).

- PrefLib files: ``https://www.preflib.org/static/data/<abbrev>/<file>``, e.g. ``agh`` /
  ``00009-00000001.soc``; the abbreviation is looked up from the file's series number
  (:data:`PREFLIB_ABBREVIATIONS`) or given as ``abbrev/file``.
- Polis conversations: ``https://raw.githubusercontent.com/compdemocracy/openData/master/
  <conversation>/<file>`` for ``comments.csv``, ``participants-votes.csv`` and ``summary.csv``
  (CC BY 4.0, see :data:`ualign.data.polis.POLIS_ATTRIBUTION`).

Files go to ``<cache>/preflib/<abbrev>/<file>`` and ``<cache>/polis/<conversation>/<file>``,
where ``cache`` is the ``cache`` argument, else ``$UALIGN_CACHE``, else ``~/.cache/ualign``.
A file already in the cache is not downloaded again (``force=True`` re-downloads). Each file is
written to a temporary name in the same folder and renamed into place once complete, so an
interrupted download never leaves a partial file under the final name, and a failed one leaves
no folder it created (nor, for a Polis conversation, the files of that conversation it had
already downloaded). The base URLs can be
overridden (``base_url=`` or ``$UALIGN_PREFLIB_URL`` / ``$UALIGN_POLIS_URL``), e.g. to point at a
mirror or a local test server. HTTP and network failures raise :class:`FetchError` (one line,
with the URL).

Every download is bounded: at most ``max_bytes`` (default 1 GiB; the largest public file is
far smaller) and ``time_limit`` seconds in all (default 900 s; a server that sends one byte at
a time cannot keep ``fetch`` running), besides ``timeout`` seconds of silence per read. Polis's
``summary.csv`` is optional: when the server does not have it (HTTP 404) the conversation is
fetched without it, with a warning.
"""

from __future__ import annotations

import http.client
import math
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from ualign.core._atomic import file_mode, sweep_stale

__all__ = [
    "POLIS_BASE_URL",
    "POLIS_FILES",
    "PREFLIB_ABBREVIATIONS",
    "PREFLIB_BASE_URL",
    "FetchError",
    "cache_dir",
    "download",
    "fetch_polis",
    "fetch_preflib",
]

PREFLIB_BASE_URL = "https://www.preflib.org/static/data"
POLIS_BASE_URL = "https://raw.githubusercontent.com/compdemocracy/openData/master"
POLIS_FILES = ("comments.csv", "participants-votes.csv", "summary.csv")
USER_AGENT = "ualign-fetch (+https://github.com/ualign)"

PREFLIB_ABBREVIATIONS = {
    "00001": "irish", "00002": "debian", "00003": "nasa", "00004": "netflix",
    "00005": "burlington", "00006": "skate", "00007": "ers", "00008": "glasgow",
    "00009": "agh", "00010": "ski", "00011": "web", "00012": "shirt", "00013": "social",
    "00014": "sushi", "00015": "cleanweb", "00016": "aspen", "00017": "berkley",
    "00018": "minneapolis", "00019": "oakland", "00020": "pierce", "00021": "sf",
    "00022": "sl", "00023": "takomapark", "00024": "dots", "00025": "puzzle",
    "00026": "frenchapproval", "00027": "frenchrate", "00028": "apa",
    "00029": "frenchratecombi", "00030": "uklabor", "00031": "vermont", "00032": "education",
    "00033": "poster", "00034": "cities", "00035": "breakfast", "00036": "kidney",
    "00037": "aamas", "00038": "project", "00039": "csconf", "00040": "trip",
    "00041": "boardgames", "00042": "boxing", "00043": "cycling", "00044": "tabletennis",
    "00045": "tennis", "00046": "university", "00047": "spotifyday", "00048": "spotifycountry",
    "00049": "mylaps", "00050": "movehub", "00051": "countries", "00052": "f1seasons",
    "00053": "f1races", "00054": "weeksport", "00055": "combinedsport",
    "00056": "seasonsport", "00057": "parliaments", "00058": "nswla", "00059": "campsongs",
    "00060": "polkadot",
}
"""PrefLib series number -> abbreviation (the folder in PrefLib's URLs), from the dataset
folders ``NNNNN - abbrev`` of the PrefLib/PrefLib-Data repository."""

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


MAX_BYTES = 1 << 30
TIME_LIMIT = 900.0
OPTIONAL_POLIS_FILES = ("summary.csv",)


class FetchError(RuntimeError):
    """A download failed (HTTP status, unreachable host, bad name, too large or too slow); the
    message names the URL. ``status`` is the HTTP status when the server answered one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _check_limits(timeout, max_bytes, time_limit):
    for name, v in (("timeout", timeout), ("time_limit", time_limit)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                0 < v < math.inf):
            raise ValueError(f"{name} must be a positive finite number of seconds, got {v!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The cache root: ``cache``, else ``$UALIGN_CACHE``, else ``~/.cache/ualign``."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("UALIGN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/ualign").expanduser()


def _safe(name: str, what: str) -> str:
    if not isinstance(name, str) or not _SAFE.fullmatch(name) or ".." in name:
        raise ValueError(f"{what} must be a plain name (letters, digits, '.', '_', '-'; no "
                         f"'/' or '..'), got {name!r}")
    return name


def download(url: str, dest: str | os.PathLike, *, force: bool = False, timeout: float = 30.0,
             progress: bool = False, max_bytes: int = MAX_BYTES,
             time_limit: float = TIME_LIMIT) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file + rename); skip when ``dest``
    exists unless ``force``. Returns ``dest``. Raises :class:`FetchError` on failure, and when
    the file is larger than ``max_bytes`` or the download takes more than ``time_limit``
    seconds (checked after each read; one read waits at most ``timeout`` seconds)."""
    _check_limits(timeout, max_bytes, time_limit)
    dest = Path(dest)
    if dest.is_file() and not force:
        return dest
    deadline = time.monotonic() + time_limit
    created = _make_folders(dest.parent)
    # partial files of killed downloads: no live download is older than its time limit
    sweep_stale(dest, ".part", time_limit + timeout + 60)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        with os.fdopen(fd, "wb") as out, _open(url, timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            if total is not None and total > max_bytes:
                raise FetchError(f"download failed: the file is {total} bytes, more than "
                                 f"max_bytes={max_bytes} ({url})")
            received = _copy(resp, out, url, total, max_bytes, deadline, time_limit,
                             dest.name if progress else None)
            if total is not None and received != total:
                raise FetchError(f"download failed: got {received} of {total} bytes from "
                                 f"{url} (connection closed early)")
        os.chmod(tmp, file_mode())
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _remove_empty(created)
        raise
    return dest


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the folders created, deepest last."""
    missing = []
    f = folder
    while not f.exists() and f.parent != f:
        missing.append(f)
        f = f.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders a failed download created (deepest first) that are still empty, so
    that a failure leaves the cache as it found it; a folder something else has written into
    meanwhile stays."""
    for f in reversed(created):
        try:
            f.rmdir()
        except OSError:     # not empty (another download), or already gone
            return


def _open(url: str, timeout: float):
    """The HTTP response for ``url``; failures as :class:`FetchError`."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        raise FetchError(f"download failed: HTTP {e.code} {e.reason} for {url}",
                         status=e.code) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(f"download failed: cannot reach {url} ({reason})") from None


def _copy(resp, out, url: str, total: int | None, max_bytes: int, deadline: float,
          time_limit: float, bar_name: str | None) -> int:
    """Copy the response body to ``out`` within ``max_bytes`` and the ``deadline``, with a
    progress bar named ``bar_name`` (none when None); returns the bytes received."""
    bar = None
    if bar_name is not None:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=bar_name, leave=False)
    received = 0
    try:
        while True:
            try:
                chunk = resp.read1(1 << 16)
            except (OSError, http.client.HTTPException) as e:
                raise FetchError(f"download failed: connection lost reading {url} "
                                 f"({e!r})") from None
            if not chunk:
                return received
            received += len(chunk)
            if received > max_bytes:
                raise FetchError(f"download failed: more than max_bytes={max_bytes} bytes "
                                 f"({url})")
            if time.monotonic() > deadline:
                raise FetchError(f"download failed: took more than time_limit="
                                 f"{float(time_limit)} s ({received} bytes so far; {url})")
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


def _split_preflib(name: str, abbrev: str | None) -> tuple[str, str]:
    if "/" in name:
        if abbrev is not None:
            raise ValueError(f"give the PrefLib abbreviation once: either abbrev/file or "
                             f"abbrev=, got {name!r} and abbrev={abbrev!r}")
        abbrev, _, name = name.partition("/")
    name = _safe(name, "PrefLib file")
    if abbrev is None:
        series = name.split("-", 1)[0]
        abbrev = PREFLIB_ABBREVIATIONS.get(series)
        if abbrev is None:
            raise ValueError(f"unknown PrefLib series {series!r} in {name!r}: give the "
                             f"dataset abbreviation as abbrev/{name} (see preflib.org)")
    return _safe(abbrev, "PrefLib abbreviation"), name


def fetch_preflib(file: str, abbrev: str | None = None, *, cache=None,
                  base_url: str | None = None, force: bool = False, timeout: float = 30.0,
                  progress: bool = False, max_bytes: int = MAX_BYTES,
                  time_limit: float = TIME_LIMIT) -> Path:
    """Download one PrefLib file (e.g. ``"00009-00000001.soc"`` or ``"agh/00009-00000001.soc"``)
    into ``<cache>/preflib/<abbrev>/<file>`` and return its path."""
    abbrev, name = _split_preflib(file, abbrev)
    base = (base_url or os.environ.get("UALIGN_PREFLIB_URL") or PREFLIB_BASE_URL).rstrip("/")
    dest = cache_dir(cache) / "preflib" / abbrev / name
    return download(f"{base}/{abbrev}/{name}", dest, force=force, timeout=timeout,
                    progress=progress, max_bytes=max_bytes, time_limit=time_limit)


def fetch_polis(conversation: str, *, cache=None, base_url: str | None = None,
                force: bool = False, timeout: float = 30.0, files=POLIS_FILES,
                progress: bool = False, max_bytes: int = MAX_BYTES,
                time_limit: float = TIME_LIMIT) -> Path:
    """Download a Polis conversation (``comments.csv``, ``participants-votes.csv``,
    ``summary.csv``) into ``<cache>/polis/<conversation>/`` and return the folder, ready for
    :func:`ualign.data.read_polis`. ``summary.csv`` is optional: an HTTP 404 for it is a
    warning, not an error. ``max_bytes`` and ``time_limit`` bound each file. The data is
    CC BY 4.0 (keep ``POLIS_ATTRIBUTION``)."""
    conversation = _safe(conversation, "Polis conversation")
    base = (base_url or os.environ.get("UALIGN_POLIS_URL") or POLIS_BASE_URL).rstrip("/")
    folder = cache_dir(cache) / "polis" / conversation
    names = [_safe(f, "Polis file") for f in files]
    new = [folder / f for f in names if not (folder / f).exists()]
    created = _make_folders(folder)
    try:
        for f in names:
            try:
                download(f"{base}/{conversation}/{f}", folder / f, force=force,
                         timeout=timeout, progress=progress, max_bytes=max_bytes,
                         time_limit=time_limit)
            except FetchError as e:
                if e.status != 404 or f not in OPTIONAL_POLIS_FILES:
                    raise
                warnings.warn(f"{f} is optional and was not found ({e}); the conversation is "
                              f"fetched without it", UserWarning, stacklevel=2)
    except BaseException:   # no half conversation: the files this call added go, then the
        for path in new:    # folders it created if they are empty
            path.unlink(missing_ok=True)
        _remove_empty(created)
        raise
    return folder
