"""Two CPU processes (gloo, through `accelerate launch`) give the single-process result: DDP,
FSDP2 (full sharding) and, when deepspeed is installed, DeepSpeed ZeRO-2."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
sys.path.insert(0, str(HERE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _failure(stderr: str) -> str:
    """The ranks' own error lines (torchrun's summary at the end hides them), then the tail."""
    marks = ("Error", "error", "terminate", "Traceback", "Signal", "exitcode")
    lines = [ln for ln in stderr.splitlines() if ln.startswith("[rank") or any(
        m in ln for m in marks)]
    return "\n".join(lines[:60]) + "\n--- tail ---\n" + stderr[-2000:]


def _launch(out: Path, mode: str, *script_args: str, config: str | None = None,
            env: dict | None = None) -> dict:
    """Run _train_dist_script.py on two processes (CUDA hidden); its saved result."""
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate CLI not on PATH")
    cmd = ["accelerate", "launch"]
    if config is None:
        cmd += ["--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no"]
    else:
        cmd += ["--config_file", str(EXAMPLES / config)]
    cmd += ["--main_process_port", str(_free_port()), str(HERE / "_train_dist_script.py"),
            str(out), mode, *script_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
                               **(env or {})})
    assert proc.returncode == 0, _failure(proc.stderr)
    return torch.load(out / "result.pt")


def _single(out: Path, mode: str) -> dict:
    from _train_dist_script import main

    main(str(out), mode)
    return torch.load(out / "result.pt")


def _assert_same_training(one: dict, two: dict, tol: float = 1e-4) -> float:
    """Same parameters (max abs difference < tol) and losses; returns the difference."""
    assert (one["world"], two["world"]) == (1, 2)
    assert set(one["params"]) == set(two["params"])
    diff = max(float((one["params"][n] - two["params"][n]).abs().max()) for n in one["params"])
    moved = max(float(p.abs().max()) for p in one["params"].values())
    assert moved > 0
    assert diff < tol, diff
    assert [h["loss"] for h in one["history"]] == pytest.approx(
        [h["loss"] for h in two["history"]], abs=tol)
    return diff


@pytest.mark.slow
def test_two_processes_match_single(tmp_path):
    """DDP equals one process; with a tracker, save_model after train() still has its process
    group (train() used to call end_training, which destroyed it: every process then failed in
    save_model's barrier) and close() ends the run cleanly."""
    from ualign.train.trainer import COMPLETE_MARKER

    one = _single(tmp_path / "one", "text")
    two = _launch(tmp_path / "two", "text", env={"UALIGN_TEST_REPORT_TO": "tensorboard",
                                                 "UALIGN_TEST_SAVE_MODEL": "true"})
    _assert_same_training(one, two)
    assert (tmp_path / "two" / "final" / COMPLETE_MARKER).is_file()
    assert list((tmp_path / "two").rglob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["text", "candidates"])
def test_fsdp2_two_processes_match_single(tmp_path, mode):
    """FSDP2 full sharding on CPU: generate / candidate policy on the sharded module, the
    sharded AdamW update and the gathered weights equal the single-process run."""
    one = _single(tmp_path / "one", mode)
    two = _launch(tmp_path / "two", mode, config="accelerate_fsdp_cpu_2proc.yaml")
    assert two["distributed_type"] == "DistributedType.FSDP"
    _assert_same_training(one, two)


@pytest.mark.slow
def test_deepspeed_zero2_two_processes_match_single(tmp_path):
    pytest.importorskip("deepspeed")
    one = _single(tmp_path / "one", "text")
    two = _launch(tmp_path / "two", "text", config="accelerate_deepspeed_zero2_cpu_2proc.yaml")
    assert two["distributed_type"] == "DistributedType.DEEPSPEED"
    _assert_same_training(one, two)


@pytest.mark.slow
def test_fsdp2_checkpoint_resumes(tmp_path):
    """A checkpoint written under FSDP2 holds full weights and optimiser state (not one
    process's shards): resumed under FSDP2 and in a single process, it continues the
    uninterrupted run."""
    cfg = "accelerate_fsdp_cpu_2proc.yaml"
    one = _single(tmp_path / "one", "text")
    _launch(tmp_path / "two", "text", "2", config=cfg)                  # steps 1-2, saved
    state = torch.load(tmp_path / "two" / "checkpoint-2" / "trainer_state.pt",
                       weights_only=False)
    assert {type(t) for t in state["trainable"].values()} == {torch.Tensor}
    assert all(state["trainable"][n].shape == one["params"][n].shape for n in one["params"])
    shutil.copytree(tmp_path / "two", tmp_path / "solo")
    two = _launch(tmp_path / "two", "text", "3", "1", config=cfg)       # resume: step 3
    _assert_same_training(one, two)
    from _train_dist_script import main

    main(str(tmp_path / "solo"), "text", 3, True)                       # resume in 1 process
    solo = torch.load(tmp_path / "solo" / "result.pt")
    assert solo["world"] == 1
    _assert_same_training(one, {**solo, "world": 2})


@pytest.mark.slow
def test_fsdp1_is_refused(tmp_path):
    """FSDP1 shards the flattened parameters of the module that generate runs on: a clear
    error before training instead of "'weight' must be 2-D"."""
    text = (EXAMPLES / "accelerate_fsdp_cpu_2proc.yaml").read_text()
    cfg = tmp_path / "fsdp1.yaml"
    cfg.write_text(text.replace("fsdp_version: 2", "fsdp_version: 1\n  fsdp_sync_module_states: "
                                                     "false"))
    with pytest.raises(AssertionError, match="FSDP1 is not supported"):
        _launch(tmp_path / "out", "text", config=str(cfg))


@pytest.mark.slow
def test_fsdp2_lora_matches_single_and_resumes(tmp_path):
    """LoRA under FSDP2: PeftModel.generate bypasses the root module's forward, whose own
    parameters (embeddings, norm, head) the trainer gathers; a resumed run (2 + 1 steps) equals
    the uninterrupted single-process run."""
    cfg = "accelerate_fsdp_cpu_2proc.yaml"
    one = _single(tmp_path / "one", "lora")
    _launch(tmp_path / "two", "lora", "2", config=cfg)
    two = _launch(tmp_path / "two", "lora", "3", "1", config=cfg)
    assert two["distributed_type"] == "DistributedType.FSDP"
    _assert_same_training(one, two)


@pytest.mark.slow
def test_vllm_backend_two_processes_match_single(tmp_path):
    """Both processes sample on one vLLM-compatible server (tests/vllm_stub.py); the main process
    syncs the adapters each step: the same weights as one process with model.generate."""
    pytest.importorskip("peft")
    from localserver import serve
    from ualign.train.tiny import char_tokenizer, tiny_causal_lm
    from vllm_stub import StubVLLM

    one = _single(tmp_path / "one", "lora")
    tok = char_tokenizer("abcxyz ")
    stub = StubVLLM(tiny_causal_lm(tok, seed=1), tok)
    with serve(stub.handler()) as url:
        two = _launch(tmp_path / "two", "vllm", env={"UALIGN_TEST_VLLM_URL": url})
    _assert_same_training(one, two)
    assert [kind for kind, _ in stub.log].count("load") == 3            # one sync per step
    assert [kind for kind, _ in stub.log].count("complete") == 3 * 4    # 4 prompts per step


@pytest.mark.slow
def test_deepspeed_zero2_checkpoint_resumes(tmp_path):
    """ZeRO-2 partitions the optimiser state: each process writes its part in DeepSpeed's
    checkpoint format; 2 steps, then a resumed run for step 3, equal the uninterrupted run."""
    pytest.importorskip("deepspeed")
    cfg = "accelerate_deepspeed_zero2_cpu_2proc.yaml"
    one = _single(tmp_path / "one", "text")
    _launch(tmp_path / "two", "text", "2", config=cfg)
    assert list((tmp_path / "two" / "checkpoint-2" / "deepspeed" / "state").glob("*optim*"))
    two = _launch(tmp_path / "two", "text", "3", "1", config=cfg)
    assert two["distributed_type"] == "DistributedType.DEEPSPEED"
    _assert_same_training(one, two)
