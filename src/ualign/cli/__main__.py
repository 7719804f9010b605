"""``python -m ualign.cli``: the same as the ``ualign`` command."""

from ualign.cli import main

raise SystemExit(main())
