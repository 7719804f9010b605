"""The package installs cleanly from its wheel: build the wheel from a copy of the source tree,
install it into a fresh virtual environment and run ``ualign --version`` and
``ualign reproduce --quick`` from a folder outside the repository.

Offline by construction: the wheel is built without build isolation (the running environment's
setuptools), the virtual environment reuses the already installed dependencies of the running
environment (a virtual environment or not: see ``_see_running_environment``) and the wheel is installed with ``--no-deps --no-index``, so nothing
is downloaded. The installed copy, not the editable checkout, must be the one that runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import ualign

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


def _run(cmd, cwd, timeout=900) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, (f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                              f"{r.stderr[-3000:]}")
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the source tree (the checkout itself stays untouched)."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "runs", "build", "dist", "*.egg-info", "__pycache__", ".venv", "ualign-report",
        ".pytest_cache", ".ruff_cache", ".hypothesis", "shared", "exactness-out"), symlinks=True)
    out = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", out, src], cwd=tmp)
    wheels = sorted(out.glob("ualign-*.whl"))
    assert len(wheels) == 1, wheels
    assert wheels[0].name.startswith(f"ualign-{ualign.__version__}-")
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """``bin`` folder of a fresh virtual environment with the wheel installed (offline)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / "python"
    _see_running_environment(py)
    # the running interpreter's pip installs into the new environment (--python needs pip >= 22.3)
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          wheel], cwd=env_dir.parent)
    return bindir


def _see_running_environment(py: Path) -> None:
    """Let the new environment see the packages of the running one (numba, scipy, ...).

    ``system_site_packages`` would show the *base* interpreter's site-packages, which lack the
    dependencies when the tests run inside a virtual environment (as the README's quick start
    does). Instead a ``.pth`` file in the new environment appends the running interpreter's
    site-packages folders (its ``sys.path`` entries of that name: the virtual environment's, and
    the base's when it shares them) to ``sys.path``, the same way whether or not the tests run in
    a virtual environment. Folders named in a ``.pth`` file come after the environment's own
    site-packages and their own ``.pth`` files are not processed, so the editable install of
    the checkout (a ``.pth`` finder there) stays invisible and the wheel's copy is imported."""
    own = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=py.parent).stdout.strip()
    folders = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")
               and Path(p).is_dir()]
    assert folders, f"no site-packages folder on the running sys.path: {sys.path}"
    (Path(own) / "_running_environment.pth").write_text("\n".join(folders) + "\n")


def test_wheel_metadata(wheel):
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
    assert "ualign/cli/__init__.py" in names and "ualign/_version.py" in names
    assert "ualign/llm/populations/stance_minilm.npz" in names   # the shipped stance model
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)
    assert f"Version: {ualign.__version__}" in meta
    assert "License-Expression: Apache-2.0" in meta
    assert "Description-Content-Type: text/markdown" in meta
    assert b"ualign = ualign.cli:main" in entry


def test_installed_wheel_runs(installed, tmp_path):
    py = installed / "python"
    where = _run([py, "-c", "import ualign; print(ualign.__file__)"], cwd=tmp_path).stdout
    assert Path(where.strip()).resolve().is_relative_to(installed.parent.resolve()), (
        f"the venv imports ualign from {where.strip()}, not from its own site-packages")
    v = _run([installed / "ualign", "--version"], cwd=tmp_path).stdout
    assert v.strip() == f"ualign {ualign.__version__}"
    r = _run([installed / "ualign", "reproduce", "--quick", "--no-data", "--out", "report"],
             cwd=tmp_path)
    assert (tmp_path / "report" / "report.json").is_file(), r.stdout[-2000:]
