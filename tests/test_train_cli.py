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
    out = json.loads(r.stdout)  # standard output is the JSON alone (library warnings: stderr)
    assert out["steps"] == 2
    assert 0 <= out["evals"][0]["robust_win_rate"] <= 1
    assert (tmp_path / "run" / "checkpoint-2" / "trainer_state.pt").is_file()
    assert (tmp_path / "run" / "final" / "config.json").is_file()


def test_cli_train_dry_run_and_fields_print_only_their_output(tmp_path):
    """--dry-run prints the resolved config as JSON and nothing else on standard output (the
    model, the population and library warnings such as DeepSpeed's go to standard error)."""
    (tmp_path / "cfg.yaml").write_text(
        "model: tiny\nprompts: ['Q:']\ncandidates: [a, b, c]\nk: 2\ngroup_size: 4\n"
        "device: cpu\ntorch_threads: 1\nprogress_bar: false\n")
    (tmp_path / "p.soc").write_text(
        "# FILE NAME: p.soc\n# DATA TYPE: soc\n# NUMBER ALTERNATIVES: 3\n# NUMBER VOTERS: 2\n"
        "# NUMBER UNIQUE ORDERS: 2\n1: 1,2,3\n1: 3,2,1\n")
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), "--population",
                str(tmp_path / "p.soc"), "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["k"] == 2
    r = _ualign("train", "--show-fields", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("model: ")


def test_cli_bad_config_is_one_line_error(tmp_path):
    (tmp_path / "cfg.yaml").write_text("k: 3\ngroup_size: 3\nprompts: [a]\n")
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), cwd=tmp_path)
    assert r.returncode == 2
    assert "group_size must be an integer >= k+1 = 4" in r.stderr
    r = _ualign("train", "--config", str(tmp_path / "cfg.yaml"), "--set", "group_size=4",
                "--set", f"model={tmp_path / 'missing'}", "--population", "x.soc", cwd=tmp_path)
    assert r.returncode == 2
    assert "error" in r.stderr


@pytest.mark.slow
def test_cli_run_killed_mid_way_resumes_to_the_uninterrupted_result(tmp_path, capsys):
    """SIGKILL a real `ualign train` process after a checkpoint, resume it, compare weights."""
    import os
    import signal
    import time

    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    tok = char_tokenizer("abxy ")
    tiny_causal_lm(tok, seed=0).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")

    def cfg(name):
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            f"model: {tmp_path / 'model'}\nprompts: [a, b, x]\nk: 2\ngroup_size: 4\n"
            f"prompts_per_step: 3\nmax_new_tokens: 8\nmax_steps: 12\nsave_steps: 2\n"
            f"learning_rate: 0.005\nupdates_per_step: 2\nseed: 11\nprogress_bar: false\n"
            f"device: cpu\ntorch_threads: 1\noutput_dir: {tmp_path / name}\n")
        return str(path)

    (tmp_path / "personas.txt").write_text("0.6\tlikes the letter a\n0.4\tlikes xyz\n")
    pop = ["--population", f"personas:{tmp_path / 'personas.txt'}"]      # MiniLM embeddings
    from ualign.cli import main

    # the uninterrupted run and the resume run in this process, the killed run in a subprocess
    assert main(["train", "--config", cfg("full"), *pop]) == 0
    proc = subprocess.Popen([sys.executable, "-c", MAIN, "train", "--config", cfg("part"), *pop],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "part" / "checkpoint-4" / "trainer_state.pt"
    deadline = time.monotonic() + 240
    while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL          # it really was killed mid-way
    assert not (tmp_path / "part" / "final").exists()
    capsys.readouterr()
    assert main(["train", "--config", cfg("part"), *pop,
                 "--set", "resume_from_checkpoint=true"]) == 0
    out = capsys.readouterr().out
    started = json.loads(out[out.index("{"):])["start_step"]
    assert 4 <= started < 12                           # resumed, not restarted
    full = load_file(tmp_path / "full" / "final" / "model.safetensors")
    part = load_file(tmp_path / "part" / "final" / "model.safetensors")
    start = tiny_causal_lm(tok, seed=0).state_dict()
    assert max(float((full[n] - start[n]).abs().max()) for n in full) > 1e-4
    for n in full:
        torch.testing.assert_close(part[n], full[n], rtol=0, atol=1e-6)
