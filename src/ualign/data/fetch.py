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
interrupted download never leaves a partial file under the final name. The base URLs can be
overridden (``base_url=`` or ``$UALIGN_PREFLIB_URL`` / ``$UALIGN_POLIS_URL``), e.g. to point at a
mirror or a local test server. HTTP and network failures raise :class:`FetchError` (one line,
with the URL).
"""

from __future__ import annotations

import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

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


class FetchError(RuntimeError):
    """A download failed (HTTP status, unreachable host, bad name); the message names the URL."""


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
             progress: bool = False) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file + rename); skip when ``dest``
    exists unless ``force``. Returns ``dest``. Raises :class:`FetchError` on failure."""
    dest = Path(dest)
    if dest.is_file() and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(req, timeout=timeout)
            except urllib.error.HTTPError as e:
                raise FetchError(f"download failed: HTTP {e.code} {e.reason} for {url}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise FetchError(f"download failed: cannot reach {url} ({reason})") from None
            with resp:
                total = resp.headers.get("Content-Length")
                bar = None
                if progress:
                    from tqdm import tqdm
                    bar = tqdm(total=int(total) if total and total.isdigit() else None,
                               unit="B", unit_scale=True, desc=dest.name, leave=False)
                received = 0
                try:
                    while True:
                        try:
                            chunk = resp.read(1 << 16)
                        except (OSError, http.client.HTTPException) as e:
                            raise FetchError(f"download failed: connection lost reading "
                                             f"{url} ({e!r})") from None
                        if not chunk:
                            break
                        out.write(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if bar is not None:
                        bar.close()
                if total and total.isdigit() and received != int(total):
                    raise FetchError(f"download failed: got {received} of {total} bytes from "
                                     f"{url} (connection closed early)")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


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
                  progress: bool = False) -> Path:
    """Download one PrefLib file (e.g. ``"00009-00000001.soc"`` or ``"agh/00009-00000001.soc"``)
    into ``<cache>/preflib/<abbrev>/<file>`` and return its path."""
    abbrev, name = _split_preflib(file, abbrev)
    base = (base_url or os.environ.get("UALIGN_PREFLIB_URL") or PREFLIB_BASE_URL).rstrip("/")
    dest = cache_dir(cache) / "preflib" / abbrev / name
    return download(f"{base}/{abbrev}/{name}", dest, force=force, timeout=timeout,
                    progress=progress)


def fetch_polis(conversation: str, *, cache=None, base_url: str | None = None,
                force: bool = False, timeout: float = 30.0, files=POLIS_FILES,
                progress: bool = False) -> Path:
    """Download a Polis conversation (``comments.csv``, ``participants-votes.csv``,
    ``summary.csv``) into ``<cache>/polis/<conversation>/`` and return the folder, ready for
    :func:`ualign.data.read_polis`. The data is CC BY 4.0 (keep ``POLIS_ATTRIBUTION``)."""
    conversation = _safe(conversation, "Polis conversation")
    base = (base_url or os.environ.get("UALIGN_POLIS_URL") or POLIS_BASE_URL).rstrip("/")
    folder = cache_dir(cache) / "polis" / conversation
    for f in files:
        f = _safe(f, "Polis file")
        download(f"{base}/{conversation}/{f}", folder / f, force=force, timeout=timeout,
                 progress=progress)
    return folder
