"""Checkpoints of the self-play trainer: one backend per way the model is run, chosen once.

A checkpoint is a folder ``output_dir/checkpoint-<step>`` holding

- ``trainer_state.pt``: ``{"step", "trainable", <optimiser entry>, "history", "evals"
  [, "initial_state"]}`` -- tensors, numbers, strings and plain dicts/lists only, read back with
  ``torch.load(..., weights_only=True)`` so that a checkpoint folder from elsewhere cannot run
  code. It is written last (atomically), so its presence marks a complete checkpoint;
- ``config.json``: the run's config;
- ``deepspeed/`` (DeepSpeed only): DeepSpeed's own format, each process's optimiser partition.

Backends (:func:`make_backend` picks one from the accelerator):

    PlainBackend      one process or DDP: trainable weights + ``optimizer.state_dict()``
    FSDPBackend       FSDP2: full (gathered) weights + FQN-keyed optimiser state
                      (``torch.distributed.checkpoint.state_dict``), so a checkpoint resumes
                      under FSDP2 or in one process
    DeepSpeedBackend  ZeRO: DeepSpeed's own checkpoint; resumes under DeepSpeed only

A new backend is a subclass of :class:`Backend` with ``gather``, ``write`` and ``restore``,
chosen in :func:`make_backend`.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
from pathlib import Path

__all__ = [
    "Backend",
    "DeepSpeedBackend",
    "FSDPBackend",
    "PlainBackend",
    "UnsafeCheckpointError",
    "checkpoint_dirs",
    "load_checkpoint",
    "make_backend",
    "save_checkpoint",
]

STATE_FILE = "trainer_state.pt"


def _trainable(model) -> dict:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


class Backend:
    """How weights and optimiser state are gathered, written and restored."""

    def gather(self, trainer, path: Path):
        """Collective part, run on every process before the main process writes."""
        return None

    def write(self, trainer, gathered) -> dict:
        """``{"trainable": ..., key: ...}`` for trainer_state.pt (main process)."""
        raise NotImplementedError

    def restore(self, trainer, state: dict, path: Path) -> None:
        """Load weights and optimiser state from ``state`` (every process)."""
        raise NotImplementedError

    def check(self, state: dict, path: Path) -> None:
        """Refuse a checkpoint written by an incompatible backend."""
        if "optimizer_deepspeed" in state:
            raise ValueError(f"checkpoint {str(path)!r} was written with DeepSpeed; resume it "
                             f"the same way (its optimiser state is in that format)")


class PlainBackend(Backend):
    """One process or DDP: the unwrapped parameters are the full weights."""

    def write(self, trainer, gathered) -> dict:
        return {"trainable": _trainable(trainer.unwrapped),
                "optimizer": trainer.optimizer.state_dict()}

    def restore(self, trainer, state: dict, path: Path) -> None:
        import torch

        if "optimizer_full" in state:          # written under FSDP: full state dicts
            FSDPBackend().restore(trainer, state, path)
            return
        named = dict(trainer.unwrapped.named_parameters())
        with torch.no_grad():
            for n, t in state["trainable"].items():
                named[n].copy_(t.to(named[n].device))
        trainer.optimizer.load_state_dict(state["optimizer"])


class FSDPBackend(Backend):
    """FSDP2: every process gathers the full state dicts, the main process writes them."""

    def gather(self, trainer, path: Path):
        from torch.distributed.checkpoint import state_dict as dsd

        opts = dsd.StateDictOptions(full_state_dict=True, cpu_offload=True)
        return (dsd.get_model_state_dict(trainer.model, options=opts),
                dsd.get_optimizer_state_dict(trainer.model, trainer.optimizer.optimizer,
                                             options=opts))

    def write(self, trainer, gathered) -> dict:
        model_sd, optim_sd = gathered
        return {"trainable": {n: model_sd[n] for n, p in trainer.unwrapped.named_parameters()
                              if p.requires_grad},
                "optimizer_full": optim_sd}           # FQN-keyed, independent of sharding

    def check(self, state: dict, path: Path) -> None:
        super().check(state, path)
        if "optimizer_full" not in state:
            raise ValueError(f"checkpoint {str(path)!r} was written without FSDP and cannot be "
                             f"resumed under FSDP")

    def restore(self, trainer, state: dict, path: Path) -> None:
        from torch.distributed.checkpoint import state_dict as dsd

        opts = dsd.StateDictOptions(full_state_dict=True, strict=False)
        dsd.set_model_state_dict(trainer.model, state["trainable"], options=opts)
        dsd.set_optimizer_state_dict(trainer.model, trainer.optimizer.optimizer,
                                     state["optimizer_full"], options=opts)


class DeepSpeedBackend(Backend):
    """ZeRO partitions the optimiser state: every process writes its part in DeepSpeed's own
    format under ``checkpoint-N/deepspeed``, before trainer_state.pt marks it complete."""

    def gather(self, trainer, path: Path):
        trainer.model.save_checkpoint(str(path / "deepspeed"), tag="state")
        trainer.accelerator.wait_for_everyone()

    def write(self, trainer, gathered) -> dict:
        return {"trainable": _trainable(trainer.unwrapped),
                "optimizer_deepspeed": "deepspeed/state"}

    def check(self, state: dict, path: Path) -> None:
        if "optimizer_deepspeed" not in state:
            raise ValueError(f"checkpoint {str(path)!r} was written without DeepSpeed; resume "
                             f"it the same way (its optimiser state is in that format)")

    def restore(self, trainer, state: dict, path: Path) -> None:
        trainer.model.load_checkpoint(str(path / "deepspeed"), tag="state",
                                      load_optimizer_states=True, load_lr_scheduler_states=False)


def make_backend(accelerator) -> Backend:
    """The checkpoint backend for how ``accelerator`` runs the model."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    if kind == DistributedType.DEEPSPEED:
        return DeepSpeedBackend()
    if kind == DistributedType.FSDP:
        return FSDPBackend()
    return PlainBackend()


def checkpoint_dirs(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints ``checkpoint-<step>`` in ``output_dir``, oldest first."""
    d = Path(output_dir)
    found = [p for p in d.glob("checkpoint-*") if re.fullmatch(r"checkpoint-\d+", p.name)
             and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(trainer) -> Path:
    """Trainable weights, optimiser state, step and metric history into
    ``output_dir/checkpoint-<step>``; keeps at most ``save_total_limit`` checkpoints."""
    import torch

    acc, c = trainer.accelerator, trainer.config
    acc.wait_for_everyone()
    path = Path(c.output_dir) / f"checkpoint-{trainer.step_count}"
    gathered = trainer.checkpoint_backend.gather(trainer, path)
    if acc.is_main_process:
        path.mkdir(parents=True, exist_ok=True)
        state = {"step": trainer.step_count,
                 **trainer.checkpoint_backend.write(trainer, gathered),
                 "history": trainer.history, "evals": trainer.evals}
        if trainer._initial_state is not None:
            state["initial_state"] = trainer._initial_state
        torch.save(state, path / (STATE_FILE + ".tmp"))
        os.replace(path / (STATE_FILE + ".tmp"), path / STATE_FILE)
        (path / "config.json").write_text(c.to_json())
        if c.save_total_limit is not None:
            for old in checkpoint_dirs(c.output_dir)[:-c.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()
    return path


class UnsafeCheckpointError(ValueError, pickle.UnpicklingError):
    """A checkpoint whose state would need more than plain data to load (it could run code).
    A ``ValueError``, so the CLI prints one line; still the ``pickle.UnpicklingError`` torch
    raised."""


def read_state(path: str | Path) -> dict:
    """``trainer_state.pt`` of a checkpoint folder, loaded without running code
    (``weights_only=True``: tensors, numbers, strings and plain containers only)."""
    import torch

    path = Path(path)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r} (missing {STATE_FILE})")
    try:
        return torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:   # what torch raises for anything but plain data
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsafeCheckpointError(
            f"{path / STATE_FILE}: refused to load, it holds more than tensors, numbers and "
            f"plain containers (an untrusted or foreign checkpoint; torch: {first[:160]})"
        ) from None


def load_checkpoint(trainer, path: str | Path | None = None) -> int:
    """Restore ``trainer`` from ``path`` (or the latest checkpoint in output_dir); returns the
    step (0 when there is none)."""
    if path is None:
        found = checkpoint_dirs(trainer.config.output_dir)
        if not found:
            return 0
        path = found[-1]
    path = Path(path)
    state = read_state(path)
    named = dict(trainer.unwrapped.named_parameters())
    for n in state["trainable"]:
        if n not in named:
            raise ValueError(f"checkpoint parameter {n!r} is not in the model")
    trainer.checkpoint_backend.check(state, path)
    trainer.checkpoint_backend.restore(trainer, state, path)
    trainer.step_count = int(state["step"])
    trainer.history = list(state["history"])
    trainer.evals = list(state["evals"])
    if "initial_state" in state:
        trainer._initial_state = state["initial_state"]
    return trainer.step_count
