"""``ualign fetch preflib FILE...`` / ``ualign fetch polis CONVERSATION...``: download public
preference data into the cache (``--cache``, ``$UALIGN_CACHE`` or ``~/.cache/ualign``) and print
where each file went."""

from __future__ import annotations

from ualign._text import plain
from ualign.cli import CLIError

HELP = ("Download PrefLib files or Polis conversations into the local cache and print their "
        "paths.")


def add_arguments(p):
    from ualign.data.fetch import TIME_LIMIT

    p.add_argument("source", choices=("preflib", "polis"),
                   help="preflib: files such as 00009-00000001.soc (or agh/00009-00000001.soc); "
                        "polis: conversations such as vtaiwan.uberx")
    p.add_argument("names", nargs="+", metavar="NAME",
                   help="PrefLib file names or Polis conversation names")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="cache folder (default $UALIGN_CACHE or ~/.cache/ualign)")
    p.add_argument("--base-url", metavar="URL", default=None,
                   help="download from this base URL instead of preflib.org / the Polis "
                        "openData repository (a mirror, or a local server)")
    p.add_argument("--force", action="store_true", help="download again even when cached")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="network timeout per request in seconds (default 30)")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT, metavar="S",
                   help=f"give up on a file after S seconds in all, however slowly it still "
                        f"arrives (default {TIME_LIMIT:g})")


def run(args) -> int:
    from ualign.cli._paths import out_dir
    from ualign.data.fetch import FetchError, cache_dir, fetch_polis, fetch_preflib
    from ualign.data.polis import POLIS_ATTRIBUTION

    out_dir(cache_dir(args.cache), "--cache")
    try:
        for name in args.names:
            if args.source == "preflib":
                path = fetch_preflib(name, cache=args.cache, base_url=args.base_url,
                                     force=args.force, timeout=args.timeout, progress=True,
                                     time_limit=args.time_limit)
                print(plain(path))
            else:
                folder = fetch_polis(name, cache=args.cache, base_url=args.base_url,
                                     force=args.force, timeout=args.timeout, progress=True,
                                     time_limit=args.time_limit)
                print(plain(folder))
    except FetchError as e:
        raise CLIError(str(e)) from None
    if args.source == "polis":
        print(f"Polis data is CC BY 4.0: {POLIS_ATTRIBUTION}")
    return 0
