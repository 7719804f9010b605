"""``ualign train``: (k+1)-player self-play preference optimisation of a language model."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys

HELP = "train a language model by (k+1)-player self-play (U-alignment; NLHF/SPPO at k=1)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="YAML file of SelfPlayConfig fields "
                   "(`ualign train --config x --show-fields` lists them with help)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (VALUE parsed as YAML); repeatable")
    p.add_argument("--population", default=None,
                   help="population spec (overrides the config's `population`): with "
                        "candidates, a profile over them (PrefLib file or generator spec); "
                        "otherwise polis:FOLDER / personas:FILE / reward:FILE,model=M")
    p.add_argument("--show-fields", action="store_true",
                   help="print every config field with its help text and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="build everything (model, population, checks), print the resolved "
                        "config and exit without training")


def _overrides(items: list[str]) -> dict:
    from ualign.train.config import load_yaml

    out = {}
    for i, item in enumerate(items):
        key, eq, val = item.partition("=")
        if not eq or not key:
            raise ValueError(f"--set must be FIELD=VALUE, got {item!r} (occurrence {i + 1})")
        out[key.strip()] = load_yaml(val, f"--set {item}")
    return out


_TRAIN_MODULES = ("torch", "transformers", "accelerate", "peft", "yaml", "tensorboard")


@contextlib.contextmanager
def _stdout_to_stderr():
    """Inside, whatever is written to standard output goes to standard error: Python's
    ``print``, loggers that libraries bound to ``sys.stdout`` when imported here (DeepSpeed's
    "Setting accelerator to CPU" warning) and writes to file descriptor 1 from compiled code;
    so that standard output holds only the command's JSON, printed after."""
    sys.stdout.flush()
    try:
        fd, err = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):  # a captured stream: no fd
        fd = err = None
    saved = None
    if fd is not None and err is not None:
        saved = os.dup(fd)
        os.dup2(err, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, fd)
            os.close(saved)


def run(args) -> int:
    try:
        with _stdout_to_stderr():
            text = _run(args)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in _TRAIN_MODULES:
            raise
        from ualign.cli import CLIError

        raise CLIError(f"ualign train needs the training extra, which is not installed "
                       f"(missing module {e.name!r}): pip install 'ualign[train]'") from None
    if text:
        print(text, flush=True)
    return 0


def _run(args) -> str | None:
    """Everything the command does, with standard output sent to standard error; returns
    what it prints on standard output (the fields, the resolved config or the result as
    JSON; None when this process is not the main one)."""
    from ualign.train.config import SelfPlayConfig

    if args.show_fields:
        return "\n".join(f"{name}: {text}" for name, text in SelfPlayConfig.fields_help().items())
    if not args.config:
        raise ValueError("--config FILE.yaml is required (see --show-fields for the fields)")
    config = SelfPlayConfig.from_yaml(args.config, _overrides(args.set))
    if args.population:
        config = config.replace(population=args.population)
    if config.output_dir:  # checked before the model and the population are built
        from ualign.cli._paths import out_dir

        out_dir(config.output_dir, "output_dir")
    from ualign.train.populations import build_population
    from ualign.train.trainer import SelfPlayTrainer

    population = build_population(config, None)

    trainer = SelfPlayTrainer(config, population=population)
    if args.dry_run:
        return config.to_json()
    result = trainer.train()
    trainer.save_model()
    trainer.close()     # not on an error: a barrier there would wait for a peer that failed
    if not trainer.accelerator.is_main_process:
        return None
    last = result.history[-1] if result.history else {}
    return json.dumps({"steps": result.step, "start_step": result.start_step,
                       "seconds": round(result.seconds, 2), "last": last,
                       "evals": result.evals[-1:], "output_dir": result.output_dir}, indent=1)
