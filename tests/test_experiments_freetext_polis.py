"""The free-text Polis study (experiments/freetext_polis.py) through a subprocess: ``--tiny`` (a
tiny random model, seconds) and SmolLM2 + LoRA with a tiny budget (slow). Both need the shared
Polis data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _experiments import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONVERSATION = DATA / "polis" / "brexit-consensus"

pytestmark = pytest.mark.data


def _need_data():
    if not CONVERSATION.is_dir():
        pytest.skip(f"needs the shared data at {CONVERSATION}")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")


def test_tiny_run_writes_the_result(tmp_path):
    _need_data()
    out = tmp_path / "freetext"
    r = run("freetext_polis", "--tiny", "--out", out, "--plot", tmp_path / "p.png")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "freetext_result.json").read_text())
    assert res["steps"] == 1 and res["k"] == 2 and res["torch_threads"] == 1
    assert res["eval_samples"] == 3 and len(res["eval_prompts"]) == 1
    for row in res["rows"].values():
        for key in ("vs_u", "vs_nlhf", "vs_base"):
            c, eps = row[key], 1e-12          # win rates summed in floating point
            assert -eps <= c["lo"] <= c["mean"] + eps <= c["hi"] + 2 * eps <= 1.0 + 3 * eps
    assert "U minus NLHF (vs base)" in r.stdout
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_option_is_one_line(tmp_path):
    r = run("freetext_polis", "--tiny", "--out", tmp_path, "--eval-samples", "2")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: --eval-samples must be >= k+1 = 3, got 2"


@pytest.mark.slow
def test_smollm2_script_runs(tmp_path):
    _need_data()
    pytest.importorskip("peft")
    out = tmp_path / "freetext"
    r = run("freetext_polis", "--steps", "1", "--k", "2", "--group-size", "3",
            "--max-new-tokens", "4", "--train-prompts", "1", "--eval-prompts", "1",
            "--eval-samples", "3", "--bootstrap", "20", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "freetext_result.json").read_text())
    assert res["steps"] == 1 and res["k"] == 2 and res["torch_threads"] == 1
