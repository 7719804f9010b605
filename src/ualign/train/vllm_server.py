"""Generation through a running vLLM server: the trainer's ``generation_backend='vllm'``.

Server mode only (as TRL's ``vllm_mode="server"``): vLLM runs as its own process, started by the
user, typically on other GPUs::

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve BASE_MODEL --enable-lora \\
        --max-lora-rank 16 --generation-config vllm

and the trainer talks to its OpenAI-compatible HTTP API:

- weight sync (LoRA only): the main process writes the current adapters with
  ``save_pretrained`` into ``vllm_adapter_dir/step-<s>`` and registers them with
  ``POST /v1/load_lora_adapter`` under a new name, then unloads the previous adapters
  (``POST /v1/unload_lora_adapter``) and deletes their folder. The folder must be readable by the
  server (same machine or shared file system).
- sampling: ``POST /v1/completions`` with the prompt as token ids, ``n = G``, the trainer's
  temperature / top-p / max new tokens, neutral penalties, a per-prompt ``seed`` and
  ``return_token_ids`` (vLLM >= 0.10.2), so the trainer scores exactly the tokens vLLM sampled.
  Servers that do not return token ids get the text re-tokenised (warned once: re-tokenisation
  can differ from the sampled tokens).

Full-weight sync is not supported: vLLM's OpenAI API can only swap LoRA adapters at run time.

References: THEORY.md §8 (G >= k+1 samples per prompt from the current policy).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ualign.llm.generate import EndpointError, api_base, http_json, http_request
from ualign.train.policies import seed_for

__all__ = ["VLLMServerClient", "adapter_name", "generate_on_server"]

_LORA_HINT = ("start the server with --enable-lora (and --max-lora-rank >= lora_r) and the "
              "environment variable VLLM_ALLOW_RUNTIME_LORA_UPDATING=True")


def adapter_name(adapter_dir: str | os.PathLike, step: int) -> str:
    """The served name of the adapters synced at ``step``: the same in every process."""
    tag = hashlib.sha1(str(Path(adapter_dir).resolve()).encode()).hexdigest()[:8]
    return f"ualign-{tag}-step{int(step)}"


class VLLMServerClient:
    """Client of one vLLM OpenAI-compatible server for self-play sampling.

    Args:
      base_url: e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended unless present).
      timeout: seconds per HTTP request.
      api_key: bearer token (default: ``$VLLM_API_KEY`` if set).
      max_workers: concurrent completion requests (the server batches them).
    """

    def __init__(self, base_url: str, timeout: float = 300.0, api_key: str | None = None,
                 max_workers: int = 8):
        self.base_url = api_base(base_url, "vllm_url")
        self.timeout = float(timeout)
        self.api_key = api_key if api_key is not None else os.environ.get("VLLM_API_KEY")
        self.max_workers = int(max_workers)
        self.loaded: str | None = None          # served name of the current adapters
        self._loaded_dir: Path | None = None
        self._warned_retokenise = False

    # ---------------------------------------------------------------- server state
    def check(self) -> list[str]:
        """The served model names (``GET /v1/models``); raises :class:`EndpointError` when the
        server cannot be reached."""
        data = http_json(self.base_url + "/models", None, api_key=self.api_key,
                         timeout=min(self.timeout, 30.0))
        try:
            return [m["id"] for m in data["data"]]
        except (KeyError, TypeError) as e:
            raise EndpointError(f"{self.base_url}/models did not list models: "
                                f"{str(data)[:200]}") from e

    def sync_adapter(self, model, adapter_dir: str | os.PathLike, step: int,
                     state_dict=None) -> str:
        """Save the adapters of the peft ``model`` and make the server serve them.

        Returns the served name. Call on the main process only."""
        folder = Path(adapter_dir).resolve() / f"step-{int(step)}"
        if folder.exists():
            shutil.rmtree(folder)
        model.save_pretrained(folder, state_dict=state_dict)
        name = adapter_name(adapter_dir, step)
        body = {"lora_name": name, "lora_path": str(folder)}
        try:
            try:
                http_request(self.base_url + "/load_lora_adapter", body,
                             api_key=self.api_key, timeout=self.timeout)
            except EndpointError as e:
                if "already" not in str(e):
                    raise
                # a run resumed at this step registered the name before it stopped: replace it
                http_request(self.base_url + "/unload_lora_adapter", {"lora_name": name},
                             api_key=self.api_key, timeout=self.timeout)
                http_request(self.base_url + "/load_lora_adapter", body,
                             api_key=self.api_key, timeout=self.timeout)
        except EndpointError as e:
            raise EndpointError(f"{e} -- the vLLM server could not load the LoRA adapters from "
                                f"{folder} ({_LORA_HINT}; the folder must be readable by the "
                                f"server)") from e
        old, old_dir = self.loaded, self._loaded_dir
        self.loaded, self._loaded_dir = name, folder
        if old is not None and old != name:
            try:
                http_request(self.base_url + "/unload_lora_adapter", {"lora_name": old},
                             api_key=self.api_key, timeout=self.timeout)
            except EndpointError as e:   # a stale adapter costs server memory, not correctness
                warnings.warn(f"could not unload adapter {old!r}: {e}", stacklevel=2)
            if old_dir is not None and old_dir != folder:
                shutil.rmtree(old_dir, ignore_errors=True)
        return name

    # ---------------------------------------------------------------- sampling
    def sample(self, name: str, prompt_ids: list[int], n: int, *, seed: int,
               temperature: float, top_p: float, max_new_tokens: int,
               eos_token_id: int | None, tokenizer=None) -> list[list[int]]:
        """``n`` sampled responses (token ids, cut after the first EOS, EOS kept) of adapter
        ``name`` for one tokenised prompt."""
        body = {"model": name, "prompt": list(map(int, prompt_ids)), "n": int(n),
                "temperature": float(temperature), "top_p": float(top_p), "top_k": -1,
                "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
                "frequency_penalty": 0.0, "max_tokens": int(max_new_tokens),
                "seed": int(seed), "return_token_ids": True, "skip_special_tokens": False}
        data = http_json(self.base_url + "/completions", body, api_key=self.api_key,
                         timeout=self.timeout)
        try:
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        except (KeyError, TypeError) as e:
            raise EndpointError(f"{self.base_url}/completions answered without choices: "
                                f"{str(data)[:200]}") from e
        if len(choices) != n:
            raise EndpointError(f"{self.base_url}/completions returned {len(choices)} "
                                f"choices for n={n}")
        return [self._response_ids(c, eos_token_id, tokenizer) for c in choices]

    def sample_many(self, name: str, requests: list[tuple[list[int], int]], n: int,
                    **kw) -> list[list[list[int]]]:
        """:meth:`sample` for several ``(prompt_ids, seed)`` at once (concurrent requests)."""
        if len(requests) <= 1 or self.max_workers <= 1:
            return [self.sample(name, p, n, seed=s, **kw) for p, s in requests]
        with ThreadPoolExecutor(min(self.max_workers, len(requests))) as pool:
            futs = [pool.submit(self.sample, name, p, n, seed=s, **kw) for p, s in requests]
            return [f.result() for f in futs]

    def _response_ids(self, choice: dict, eos: int | None, tokenizer) -> list[int]:
        ids = choice.get("token_ids")
        if ids is None:
            if tokenizer is None:
                raise EndpointError("the vLLM server returned no token_ids (vLLM >= 0.10.2 "
                                    "supports return_token_ids) and no tokenizer was given")
            if not self._warned_retokenise:
                warnings.warn("the vLLM server returned no token_ids (needs vLLM >= 0.10.2): "
                              "re-tokenising the text, which may differ from the sampled "
                              "tokens", stacklevel=3)
                self._warned_retokenise = True
            ids = tokenizer(choice.get("text") or "", add_special_tokens=False)["input_ids"]
        ids = [int(t) for t in ids]
        if eos is not None:
            if eos in ids:
                ids = ids[:ids.index(eos) + 1]
            elif choice.get("finish_reason") == "stop" and choice.get("stop_reason") is None:
                ids.append(eos)        # stopped on EOS but the server dropped it
        return ids


def generate_on_server(trainer, batch) -> None:
    """The trainer's free-text ``generate`` stage on its vLLM server (``trainer.vllm``): syncs
    the adapters every ``vllm_sync_steps`` steps, then samples G responses per prompt with the
    same ``(seed, step, prompt position)`` seeds as ``model.generate``; fills ``batch.texts`` and
    ``batch.rows``."""
    c, acc, tok = trainer.config, trainer.accelerator, trainer.tokenizer
    if trainer._vllm_step is None or batch.step % c.vllm_sync_steps == 0:
        state = acc.get_state_dict(trainer.model)       # collective under FSDP / ZeRO-3
        if acc.is_main_process:
            trainer.vllm.sync_adapter(trainer.unwrapped, trainer._vllm_dir, batch.step, state)
        acc.wait_for_everyone()
        trainer._vllm_step = batch.step
    name = adapter_name(trainer._vllm_dir, trainer._vllm_step)
    prompts = [trainer.policy.encode_prompt(pr) for pr in batch.prompts]
    reqs = [(p, seed_for(c.seed, 2, batch.step, pos))
            for p, pos in zip(prompts, batch.prompt_positions, strict=True)]
    responses = trainer.vllm.sample_many(
        name, reqs, c.group_size, temperature=c.temperature, top_p=c.top_p,
        max_new_tokens=c.max_new_tokens, eos_token_id=tok.eos_token_id, tokenizer=tok)
    seqs: list[tuple] = []
    for p, group in zip(prompts, responses, strict=True):
        seqs.extend((p, r) for r in group)
        batch.texts.append([tok.decode(r, skip_special_tokens=True) for r in group])
    batch.rows = trainer.policy.rows(seqs)
