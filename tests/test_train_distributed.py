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


def _launch(out: Path, mode: str, *script_args: str, config: str | None = None) -> dict:
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
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
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
    one = _single(tmp_path / "one", "text")
    two = _launch(tmp_path / "two", "text")
    _assert_same_training(one, two)


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
