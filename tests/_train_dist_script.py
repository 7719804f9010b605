"""Run a tiny self-play training (used by test_train_distributed under `accelerate launch`).

Usage: ``_train_dist_script.py OUT MODE [MAX_STEPS [RESUME]]`` with MODE ``text``,
``candidates``, ``lora`` (free text with LoRA adapters) or ``vllm`` (``lora`` sampled on the
vLLM-compatible server at ``$UALIGN_TEST_VLLM_URL``). Launched with an FSDP or DeepSpeed
accelerate config on a machine without GPUs, the script builds the
:class:`accelerate.Accelerator` itself (see :func:`cpu_accelerator`) and passes it to the trainer.
"""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _train_helpers import CharPopulation
from ualign.train import SelfPlayConfig, SelfPlayTrainer
from ualign.train.tiny import char_tokenizer, tiny_causal_lm


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() == "true"


def cpu_accelerator():
    """An Accelerator for FSDP or DeepSpeed on CPU processes (gloo), or None (the trainer's own).

    accelerate (1.15) turns FSDP and DeepSpeed on only with an accelerator device:
    - FSDP: with ``cpu=True`` the FSDP plugin is silently dropped (plain DDP on gloo); without it
      every process runs alone. The process group is created for CPU and then marked as a
      multi-device one (device ``cpu``), so that ``prepare`` applies FSDP.
    - DeepSpeed: with ``cpu=True`` DeepSpeed is silently dropped; without a backend every
      process reports rank 0 of 1 (while DeepSpeed's own process group has 2), so the gloo
      backend is given explicitly; the trainer prepares no dataloader, so DeepSpeed's
      micro-batch size is set here.
    """
    if torch.cuda.is_available():
        return None
    from accelerate import Accelerator
    from accelerate.utils import InitProcessGroupKwargs

    if _env_flag("ACCELERATE_USE_FSDP"):
        from accelerate import FullyShardedDataParallelPlugin
        from accelerate.state import PartialState
        from accelerate.utils import DistributedType

        state = PartialState(cpu=True)
        state.distributed_type = DistributedType.MULTI_GPU
        state.device = torch.device("cpu")
        return Accelerator(cpu=True, fsdp_plugin=FullyShardedDataParallelPlugin())
    if _env_flag("ACCELERATE_USE_DEEPSPEED"):
        import importlib

        # (not `import deepspeed.comm.torch as ...`: deepspeed.comm.torch is also the name of
        # torch itself inside deepspeed.comm)
        ds_comm = importlib.import_module("deepspeed.comm.torch")

        # DeepSpeed JIT-compiles a shared-memory all-reduce kernel for CPU (~100 s with a C++
        # compiler, skipped without one); gloo does the same all-reduce, so the test skips it
        if hasattr(ds_comm, "build_shm_op"):
            ds_comm.build_shm_op = lambda: None
        acc = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")])
        ds = acc.state.deepspeed_plugin.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            ds["train_micro_batch_size_per_gpu"] = 1      # no dataloader goes through prepare
        return acc
    return None


def main(out: str, mode: str, max_steps: int = 3, resume: bool = False) -> None:
    torch.set_num_threads(1)
    tok = char_tokenizer("abcxyz ")
    acc = cpu_accelerator()
    kw = dict(prompts=["a", "b", "c", "x"], k=2, group_size=4, prompts_per_step=4,
              max_steps=max_steps, max_new_tokens=6, output_dir=out, progress_bar=False,
              learning_rate=3e-3, updates_per_step=2, seed=3, resume_from_checkpoint=resume,
              device=None, lora=mode in ("lora", "vllm"),   # the trainer picks gloo on CPU
              report_to=os.environ.get("UALIGN_TEST_REPORT_TO", "none"))
    if mode == "vllm":                  # LoRA, sampled on the server at $UALIGN_TEST_VLLM_URL
        kw.update(generation_backend="vllm", vllm_url=os.environ["UALIGN_TEST_VLLM_URL"])
    if mode == "candidates":
        from ualign import Profile

        kw.update(candidates=["ab", "ba", "xx"], group_size=6)
        pop = Profile.from_rankings([[0, 1, 2], [2, 1, 0], [1, 0, 2]], weights=[0.5, 0.3, 0.2])
    else:
        pop = CharPopulation("ab", [0.6, 0.4])
    tr = SelfPlayTrainer(SelfPlayConfig(**kw), population=pop, model=tiny_causal_lm(tok, seed=1),
                         tokenizer=tok, accelerator=acc)
    res = tr.train()
    params = tr.accelerator.get_state_dict(tr.model)    # full weights (collective under FSDP)
    if tr.accelerator.is_main_process:
        torch.save({"params": {n: p.detach().cpu() for n, p in params.items()},
                    "history": res.history, "world": tr.accelerator.num_processes,
                    "distributed_type": str(tr.accelerator.distributed_type)},
                   Path(out) / "result.pt")
    if _env_flag("UALIGN_TEST_SAVE_MODEL"):
        tr.save_model()
    tr.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *[int(a) for a in sys.argv[3:4]],
         *[bool(int(a)) for a in sys.argv[4:5]])
