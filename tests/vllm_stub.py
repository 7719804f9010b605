"""A stand-in for a vLLM OpenAI-compatible server, for tests on 127.0.0.1.

It serves the routes the trainer uses, with vLLM's request and answer formats:
``GET /v1/models``, ``POST /v1/load_lora_adapter`` / ``/v1/unload_lora_adapter`` (plain-text
answers; 400 when a name is loaded twice or unknown) and ``POST /v1/completions`` (prompt as token
ids, ``n``, ``seed``, ``return_token_ids``; each choice has ``text``, ``token_ids`` with the EOS
token kept, ``finish_reason``). Sampling runs a real Hugging Face model with the loaded adapters
(peft), seeded exactly as the trainer's own ``model.generate`` path, so a run through the stub must
reproduce a run without it.
"""

from __future__ import annotations

import copy
import threading

from localserver import JSONHandler


class StubVLLM:
    """State of the stub: the base model, the loaded adapters, a request log."""

    def __init__(self, base_model, tokenizer, *, token_ids: bool = True, lora: bool = True):
        self.base = base_model.eval()
        self.tok = tokenizer
        self.token_ids = token_ids          # False: an old vLLM without return_token_ids
        self.lora = lora                    # False: a server started without --enable-lora
        self.adapters: dict[str, object] = {}
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()        # torch's global RNG: one generation at a time

    def load(self, name: str, path: str) -> tuple[int, str]:
        from peft import PeftModel

        if not self.lora:
            return 400, "LoRA is not enabled on this server"
        if name in self.adapters:
            return 400, f"The lora adapter '{name}' has already been loaded."
        self.adapters[name] = PeftModel.from_pretrained(copy.deepcopy(self.base), path).eval()
        self.log.append(("load", name))
        return 200, f"Success: LoRA adapter '{name}' added successfully."

    def unload(self, name: str) -> tuple[int, str]:
        if self.adapters.pop(name, None) is None:
            return 400, f"The lora adapter '{name}' cannot be found."
        self.log.append(("unload", name))
        return 200, f"Success: LoRA adapter '{name}' removed successfully."

    def complete(self, body: dict) -> tuple[int, dict | str]:
        import torch

        model = self.adapters.get(body["model"])
        if model is None:
            return 404, f"The model `{body['model']}` does not exist."
        prompt = body["prompt"]
        eos = self.tok.eos_token_id
        with self.lock, torch.no_grad():
            torch.manual_seed(int(body["seed"]))
            inp = torch.tensor([prompt])
            out = model.generate(input_ids=inp, attention_mask=torch.ones_like(inp),
                                 do_sample=True, temperature=body["temperature"],
                                 top_p=body["top_p"], top_k=0,
                                 max_new_tokens=body["max_tokens"],
                                 num_return_sequences=body["n"],
                                 pad_token_id=self.tok.pad_token_id)
        self.log.append(("complete", body["model"]))
        choices = []
        for i, r in enumerate(out[:, len(prompt):].tolist()):
            stop = eos in r
            r = r[:r.index(eos) + 1] if stop else r
            c = {"index": i, "text": self.tok.decode(r, skip_special_tokens=True),
                 "finish_reason": "stop" if stop else "length", "stop_reason": None}
            if self.token_ids and body.get("return_token_ids"):
                c["token_ids"] = r
            choices.append(c)
        return 200, {"object": "text_completion", "model": body["model"], "choices": choices}

    def handler(self):
        stub = self

        class Handler(JSONHandler):
            def do_GET(self):
                if self.path == "/v1/models":
                    ids = ["base", *stub.adapters]
                    self.reply(200, {"object": "list", "data": [{"id": i} for i in ids]})
                else:
                    self.reply(404, "not found")

            def do_POST(self):
                body = self.body()
                if self.path == "/v1/load_lora_adapter":
                    self.reply(*stub.load(body["lora_name"], body["lora_path"]))
                elif self.path == "/v1/unload_lora_adapter":
                    self.reply(*stub.unload(body["lora_name"]))
                elif self.path == "/v1/completions":
                    self.reply(*stub.complete(body))
                else:
                    self.reply(404, "not found")

        return Handler
