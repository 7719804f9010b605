"""The layout of the library: studies are scripts in ``experiments/``, not modules of ``ualign``
(STYLE.md rule 15); only ``ualign.cli`` parses command lines."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ualign"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_only_the_cli_parses_command_lines():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.relative_to(SRC).parts[0] == "cli":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import argparse|from argparse import)", text, re.M) or \
                re.search(r"^if __name__ == .__main__.:", text, re.M):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


@pytest.mark.parametrize("module", ["ualign.train.plural", "ualign.train.exactness",
                                    "ualign.experimental"])
def test_the_studies_left_the_library(module):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(module)


def test_every_study_script_has_documented_args_and_a_smoke_test():
    tests = Path(__file__).resolve().parent
    scripts = sorted(p.stem for p in EXPERIMENTS.glob("*.py") if not p.stem.startswith("_"))
    assert scripts == ["collapse", "exactness", "freetext_polis", "plural"]
    for name in scripts:
        text = (EXPERIMENTS / f"{name}.py").read_text(encoding="utf-8")
        assert "class Args:" in text and "--tiny" in text, name
        smoke = (tests / f"test_experiments_{name}.py").read_text(encoding="utf-8")
        assert f'run("{name}", ' in smoke and '"--tiny"' in smoke, name
