"""The study scripts of ``experiments/`` for the tests: import one as a module, or run it as
the documented command (a subprocess from the repository root, this checkout's ``ualign``)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


def load(name: str):
    """``experiments/<name>.py`` as a module (its folder on ``sys.path``, as when it runs)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    return importlib.import_module(name)


def run(name: str, *args, timeout: int = 900) -> subprocess.CompletedProcess:
    """``python experiments/<name>.py ARGS`` from the repository root, one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"),
                                         *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, str(EXPERIMENTS / f"{name}.py"), *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
