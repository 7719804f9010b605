"""Every file in ``examples/`` runs as shipped, with a tiny budget (the study scripts are in
``experiments/``, tested by ``tests/test_experiments_*.py``).

The example commands are run from the repository root, as their headers say (relative paths in
them, e.g. ``../shared/data/...``, are relative to the current directory). Which test covers
which file:

- ``train_exactness_apa.yaml``, ``train_freetext_polis.yaml``: ``ualign train --config FILE`` with
  only the budget (``max_steps=1``; ``max_new_tokens=8`` for free text), a temporary
  ``output_dir`` and no progress bar overridden (``test_train_config_runs``);
- ``accelerate_cpu_2proc.yaml``: loaded by accelerate's config parser and launched as its header
  says, 2 CPU processes (``test_accelerate_cpu_2proc_launches``);
- ``accelerate_fsdp_cpu_2proc.yaml``, ``accelerate_deepspeed_zero2_cpu_2proc.yaml``: loaded here;
  run on 2 CPU processes by ``tests/test_train_distributed.py`` (FSDP2 / ZeRO-2 tests);
- ``accelerate_fsdp.yaml``, ``accelerate_deepspeed_zero2.yaml`` (8 GPUs): loaded by accelerate's
  parser and checked to hold the same settings as their tested 2-process CPU counterparts.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = ROOT.parent / "shared" / "data"

TRAIN_CONFIGS = {"train_exactness_apa.yaml": DATA / "preflib" / "00028-apa",
                 "train_freetext_polis.yaml": DATA / "polis" / "brexit-consensus"}
ACCELERATE = {  # file -> (distributed type, processes, tested 2-process CPU counterpart)
    "accelerate_cpu_2proc.yaml": ("MULTI_GPU", 2, None),
    "accelerate_fsdp_cpu_2proc.yaml": ("FSDP", 2, None),
    "accelerate_deepspeed_zero2_cpu_2proc.yaml": ("DEEPSPEED", 2, None),
    "accelerate_fsdp.yaml": ("FSDP", 8, "accelerate_fsdp_cpu_2proc.yaml"),
    "accelerate_deepspeed_zero2.yaml": ("DEEPSPEED", 8,
                                        "accelerate_deepspeed_zero2_cpu_2proc.yaml"),
}


def _env() -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    src = str(ROOT / "src")   # this checkout's ualign, also in the subprocesses
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _run(cmd: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-2000:]}\n" \
                              f"{r.stderr[-4000:]}"
    return r


def _last_json(stdout: str) -> dict:
    """The JSON object ``ualign train`` prints last (it starts at the beginning of a line;
    ``accelerate launch`` may print before it)."""
    start = 0 if stdout.startswith("{") else stdout.rindex("\n{") + 1
    return json.loads(stdout[start:])


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"needs the shared data at {path}")


def test_every_example_is_covered():
    shipped = {p.name for p in EXAMPLES.iterdir() if p.is_file()}
    assert shipped == set(TRAIN_CONFIGS) | set(ACCELERATE)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name", sorted(TRAIN_CONFIGS))
def test_train_config_runs(name, tmp_path):
    pytest.importorskip("accelerate")
    _need(TRAIN_CONFIGS[name])
    out = tmp_path / "run"
    budget = ["--set", "max_new_tokens=8"] if "freetext" in name else []
    r = _run([sys.executable, "-m", "ualign.cli", "train", "--config", f"examples/{name}",
              "--set", "max_steps=1", "--set", f"output_dir={out}",
              "--set", "progress_bar=false", *budget])
    res = json.loads(r.stdout)  # standard output holds the result's JSON alone
    assert res["steps"] == 1 and res["output_dir"] == str(out)
    assert any(out.iterdir())


def test_apa_example_names_its_election_and_expected_result():
    """The APA example's header names the election of the file it trains on (its PrefLib
    TITLE) and the result to expect at its ``max_steps``."""
    import re

    import yaml

    text = (EXAMPLES / "train_exactness_apa.yaml").read_text()
    cfg = yaml.safe_load(text)
    year = re.search(r"names of the (\d{4}) APA election", text).group(1)
    assert f"title APA_{year}" in text
    data = ROOT / cfg["population"]
    if data.exists():
        assert f"# TITLE: APA_{year}\n" in data.read_text(errors="replace")[:2000]
    expected = re.search(r"at (\d+) steps the last evaluation reads robust win rate (0\.\d+)",
                         text.replace("\n# ", " "))
    assert expected and int(expected.group(1)) == cfg["max_steps"], text[:800]
    assert 0.5 < float(expected.group(2)) <= cfg["k"] / (cfg["k"] + 1)


@pytest.mark.parametrize("name", sorted(ACCELERATE))
def test_accelerate_config_loads(name):
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file

    kind, procs, counterpart = ACCELERATE[name]
    cfg = load_config_from_file(str(EXAMPLES / name))
    assert (cfg.distributed_type.name, cfg.num_processes) == (kind, procs)
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == 2     # FSDP1 is refused by the trainer
    if counterpart is not None:
        # the GPU file differs from the tested CPU one only in scale, precision and placement
        other = load_config_from_file(str(EXAMPLES / counterpart))
        assert other.distributed_type == cfg.distributed_type
        skip = {"fsdp_cpu_ram_efficient_loading", "gradient_clipping"}
        for field in ("fsdp_config", "deepspeed_config"):
            a, b = getattr(cfg, field) or {}, getattr(other, field) or {}
            assert {k: v for k, v in a.items() if k not in skip} == \
                   {k: v for k, v in b.items() if k not in skip}, field


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.data
def test_accelerate_cpu_2proc_launches(tmp_path):
    """The header's command: ``accelerate launch --config_file examples/accelerate_cpu_2proc.yaml
    -m ualign.cli train --config ...`` on 2 CPU processes (gloo)."""
    pytest.importorskip("accelerate")
    if shutil.which("accelerate") is None:
        pytest.skip("accelerate CLI not on PATH")
    _need(TRAIN_CONFIGS["train_exactness_apa.yaml"])
    out = tmp_path / "run"
    r = _run(["accelerate", "launch", "--config_file", "examples/accelerate_cpu_2proc.yaml",
              "--main_process_port", str(_free_port()), "-m", "ualign.cli", "train",
              "--config", "examples/train_exactness_apa.yaml", "--set", "max_steps=1",
              "--set", "prompts_per_step=2", "--set", f"output_dir={out}",
              "--set", "progress_bar=false"], timeout=600)
    res = _last_json(r.stdout)
    assert res["steps"] == 1


def test_tiny_model_spec():
    pytest.importorskip("transformers")
    from ualign.train.config import SelfPlayConfig
    from ualign.train.trainer import load_model

    m, tok = load_model(SelfPlayConfig(model="tiny", seed=3))
    m2, _ = load_model(SelfPlayConfig(model="tiny", seed=3))
    assert m.config.hidden_size == 32 and m.config.num_hidden_layers == 2
    assert all((a == b).all() for a, b in zip(m.parameters(), m2.parameters(), strict=True))
    assert len(tok) == m.config.vocab_size
    g, _ = load_model(SelfPlayConfig(model="tiny:hidden_size=16,num_layers=1,arch=gpt2"))
    assert (g.config.n_embd, g.config.n_layer) == (16, 1)
    with pytest.raises(ValueError, match=r"item 1 .*'width=3'.* key one of"):
        load_model(SelfPlayConfig(model="tiny:width=3"))
    with pytest.raises(ValueError, match=r"hidden_size must be an integer, got 'x' \(item 2\)"):
        load_model(SelfPlayConfig(model="tiny:num_layers=1,hidden_size=x"))
