"""`ualign train` end to end through a subprocess, on a tiny model saved to disk."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("yaml")

from ualign.train.tiny import char_tokenizer, tiny_causal_lm

MAIN = "import sys; from ualign.cli import main; sys.exit(main(sys.argv[1:]))"


def _ualign(*args, cwd):
    return subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_cli_train_fixed_candidates(tmp_path):
    tok = char_tokenizer("abxy ")
    tiny_causal_lm(tok, seed=0).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    (tmp_path / "p.soc").write_text(
        "# FILE NAME: p.soc\n# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 3\n# NUMBER VOTERS: 10\n"
        "# NUMBER UNIQUE ORDERS: 2\n# ALTERNATIVE NAME 1: a\n# ALTERNATIVE NAME 2: b\n"
        "# ALTERNATIVE NAME 3: c\n6: 1,2,3\n4: 3,2,1\n")
    (tmp_path / "cfg.yaml").write_text(
        f"model: {tmp_path / 'model'}\nprompts: ['a']\ncandidates: [ab, ba, xy]\n"
        f"k: 2\ngroup_size: 4\nmax_steps: 2\noutput_dir: {tmp_path / 'run'}\n"
        "progress_bar: false\ndevice: cpu\neval_steps: 2\ntorch_threads: 1\n")
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), "--population",
                str(tmp_path / "p.soc"), "--set", "learning_rate=0.01", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["steps"] == 2
    assert 0 <= out["evals"][0]["robust_win_rate"] <= 1
    assert (tmp_path / "run" / "checkpoint-2" / "trainer_state.pt").is_file()
    assert (tmp_path / "run" / "final" / "config.json").is_file()


def test_cli_bad_config_is_one_line_error(tmp_path):
    (tmp_path / "cfg.yaml").write_text("k: 3\ngroup_size: 3\nprompts: [a]\n")
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "group_size must be an integer >= k+1 = 4" in r.stderr
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), "--set", "group_size=4",
                "--set", f"model={tmp_path / 'missing'}", "--population", "x.soc", cwd=tmp_path)
    assert r.returncode == 2
    assert "error" in r.stderr
