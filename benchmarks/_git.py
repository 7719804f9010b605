"""What the before/after benchmarks share: a module of this repository as it was at a commit.

Used as ``from _git import module_at`` by scripts run as ``python benchmarks/NAME.py`` (their
folder is then on ``sys.path``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(commit: str, relpath: str, name: str):
    """The file ``relpath`` (e.g. ``src/ualign/core/_kernels.py``) at ``commit`` imported as the
    module ``name``, or None when git or the commit is not available. The module is registered
    in ``sys.modules`` (dataclasses look their module up there)."""
    try:
        src = subprocess.run(["git", "show", f"{commit}:{relpath}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
