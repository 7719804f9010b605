"""Two CPU processes (gloo, through `accelerate launch`) give the single-process result."""

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_single(tmp_path):
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate CLI not on PATH")
    from _train_dist_script import main

    main(str(tmp_path / "one"), "text")
    cmd = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()),
           str(HERE / "_train_dist_script.py"), str(tmp_path / "two"), "text"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = torch.load(tmp_path / "one" / "result.pt")
    two = torch.load(tmp_path / "two" / "result.pt")
    assert (one["world"], two["world"]) == (1, 2)
    diff = max(float((one["params"][n] - two["params"][n]).abs().max()) for n in one["params"])
    moved = max(float(p.abs().max()) for p in one["params"].values())
    assert moved > 0
    assert diff < 1e-4, diff
    assert [h["loss"] for h in one["history"]] == pytest.approx(
        [h["loss"] for h in two["history"]], abs=1e-4)
