"""A population scoring service: JSON over HTTP (stdlib ``ThreadingHTTPServer``), so that any
training engine (TRL, OpenRLHF, verl, a script) can ask a population to rank groups of texts and
get the (k+1)-player payoff estimates of each group.

Endpoints (every answer is a JSON object; every error is ``{"error": MESSAGE}`` with a status):

- ``GET /health`` -> ``{"status": "ok", "users": U, "population": NAME, "queue": n, ...}``
- ``POST /rank`` ``{"groups": [{"prompt": str | null, "texts": [str, ...]}, ...]}``
  -> ``{"results": [{"levels": [[int]] (U x G, 0 = best), "weights": [float] (U)}, ...]}``
- ``POST /payoffs`` ``{"groups": [...], "k": int, "display": "multiset" | "distinct",
  "baseline": "constant" | "group_mean" | "none", "same": "exact" | "identical"}``
  -> ``{"results": [{"payoffs": [P̂_i], "advantages": [P̂_i - b]}, ...], "k", "display",
  "baseline"}`` (:mod:`ualign.llm.group_payoffs`; THEORY §8, §9).

- ``POST /openrlhf?k=2&display=multiset`` ``{"query": [prompt + response], "prompts": [prompt],
  ...}`` (OpenRLHF's ``--remote_rm_url`` request) -> ``{"rewards": [P̂_i - b], "scores": [P̂_i],
  "extra_logs": {}}`` in the request's order, samples with equal prompts forming one group.

A request may also name one group at the top level (``{"prompt": ..., "texts": [...]}``).

Robustness: request bodies above ``max_body_bytes`` are refused (413) on their Content-Length
(the body is drained, not parsed);
malformed JSON or fields answer 400 with a message naming the field and position; the work goes
through a **bounded queue** to one worker thread (populations are rarely thread-safe), which
takes up to ``max_batch`` queued requests at once and, for ``ualign.llm`` populations and
objects with only ``scores``, scores all their texts in **one** ``scores`` call (one embedding
batch: :func:`ualign.llm.populations.protocol.rank_groups`); a full queue answers 503 (retry
later), a request not answered within ``timeout`` seconds answers 504; a slow client is cut
off by the socket timeout. Binds 127.0.0.1 unless told otherwise: there is no authentication.

References: THEORY.md §8, §9.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ualign.llm.group_payoffs import BASELINES, DISPLAYS, SAME_RULES, group_result
from ualign.llm.populations.protocol import check_population, rank_groups

__all__ = ["Limits", "PopulationService", "RequestError", "parse_openrlhf", "parse_request"]


class RequestError(ValueError):
    """A bad request: answered with ``status`` (400 unless said) and the message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Limits of one request (each refusal names the limit)."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_groups: int = 256
    max_texts: int = 512          # per group (G)
    max_text_chars: int = 32768
    max_k: int = 64


@dataclass
class _Job:
    kind: str                      # "rank" or "payoffs"
    groups: list[tuple[str | None, list[str]]]
    options: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    result: Any = None
    error: tuple[int, str] | None = None


# ---------------------------------------------------------------------- request parsing
def _group(obj, where: str, limits: Limits) -> tuple[str | None, list[str]]:
    if not isinstance(obj, dict):
        raise RequestError(f"{where} must be an object {{\"prompt\": str, \"texts\": [str]}}, "
                           f"got {type(obj).__name__}")
    unknown = sorted(set(obj) - {"prompt", "texts"})
    if unknown:
        raise RequestError(f"{where} has unknown field(s) {unknown}; allowed: prompt, texts")
    prompt = obj.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise RequestError(f"{where}.prompt must be a string or null, got "
                           f"{type(prompt).__name__}")
    texts = obj.get("texts")
    if not isinstance(texts, list):
        raise RequestError(f"{where}.texts is required: a list of strings, got "
                           f"{type(texts).__name__}")
    if len(texts) > limits.max_texts:
        raise RequestError(f"{where}.texts holds {len(texts)} texts, more than the limit "
                           f"max_texts={limits.max_texts}", 413)
    for j, t in enumerate(texts):
        if not isinstance(t, str):
            raise RequestError(f"{where}.texts[{j}] must be a string, got {type(t).__name__}")
        if len(t) > limits.max_text_chars:
            raise RequestError(f"{where}.texts[{j}] has {len(t)} characters, more than the limit "
                               f"max_text_chars={limits.max_text_chars}", 413)
    return prompt, texts


def _groups_of(body: dict, opts_allowed: set[str], limits: Limits
               ) -> list[tuple[str | None, list[str]]]:
    """The ``groups`` list, or the single top-level ``prompt``/``texts`` group, of a body."""
    if "groups" in body:
        if "texts" in body or "prompt" in body:
            raise RequestError("give either groups or prompt/texts at the top level, not both")
        raw = body["groups"]
        if not isinstance(raw, list) or not raw:
            raise RequestError("groups must be a non-empty list of {\"prompt\", \"texts\"} "
                               "objects")
        if len(raw) > limits.max_groups:
            raise RequestError(f"groups holds {len(raw)} groups, more than the limit "
                               f"max_groups={limits.max_groups}", 413)
        groups = [_group(g, f"groups[{i}]", limits) for i, g in enumerate(raw)]
        extra = set(body) - {"groups"} - opts_allowed
    else:
        groups = [_group({k: body[k] for k in ("prompt", "texts") if k in body}, "request",
                         limits)]
        extra = set(body) - {"prompt", "texts"} - opts_allowed
    if extra:
        raise RequestError(f"unknown field(s) {sorted(extra)}; allowed: "
                           f"{sorted({'groups', 'prompt', 'texts'} | opts_allowed)}")
    for i, (_, texts) in enumerate(groups):
        if not texts:
            raise RequestError(f"groups[{i}].texts must hold at least one text")
    return groups


def _choice(body: dict, name: str, default: str, allowed) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise RequestError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _payoff_options(body: dict, groups, limits: Limits) -> dict[str, Any]:
    """``k``, ``display``, ``baseline`` and ``same`` of a ``/payoffs`` body, checked."""
    k = body.get("k")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RequestError(f"k is required: an integer >= 1, got {k!r}")
    if k > limits.max_k:
        raise RequestError(f"k = {k} is above the limit max_k={limits.max_k}", 413)
    display = _choice(body, "display", "multiset", DISPLAYS)
    baseline = _choice(body, "baseline", "constant", BASELINES)
    same = _choice(body, "same", "exact", SAME_RULES)
    for i, (_, texts) in enumerate(groups):
        if len(texts) < k + 1:
            raise RequestError(f"groups[{i}].texts must hold at least k+1 = {k + 1} texts "
                               f"(k other samples for each), got {len(texts)}")
    return dict(k=k, display=display, baseline=baseline, same=same)


def parse_request(kind: str, body: dict, limits: Limits = Limits()
                  ) -> tuple[list[tuple[str | None, list[str]]], dict]:
    """``(groups, options)`` of a ``/rank`` or ``/payoffs`` body; raises :class:`RequestError`
    naming the offending field."""
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object, got {type(body).__name__}")
    opts_allowed = {"k", "display", "baseline", "same"} if kind == "payoffs" else set()
    groups = _groups_of(body, opts_allowed, limits)
    options = _payoff_options(body, groups, limits) if kind == "payoffs" else {}
    return groups, options


def parse_openrlhf(body, query: dict[str, list[str]], limits: Limits = Limits()
                   ) -> tuple[list[tuple[str | None, list[str]]], dict, list[list[int]]]:
    """The OpenRLHF remote reward-model request ``{"query": [prompt + response], "prompts":
    [prompt], ...}`` (other fields such as ``labels`` are ignored) with the game's options in the
    URL (``/openrlhf?k=2&display=distinct``): ``(groups, options, members)``, samples with equal
    prompts forming one group, ``members[g]`` their positions, the response being the query
    without its prompt prefix."""
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object, got {type(body).__name__}")
    lists: dict[str, list[str]] = {}
    for name in ("query", "prompts"):
        v = body.get(name)
        if not isinstance(v, list) or not v:
            raise RequestError(f"{name} is required: a non-empty list of strings")
        for j, t in enumerate(v):
            if not isinstance(t, str):
                raise RequestError(f"{name}[{j}] must be a string, got {type(t).__name__}")
        lists[name] = v
    queries, prompts = lists["query"], lists["prompts"]
    if len(queries) != len(prompts):
        raise RequestError(f"query and prompts must have the same length, got {len(queries)} "
                           f"and {len(prompts)}")
    members: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        members.setdefault(p, []).append(i)
    responses = [q[len(p):] if q.startswith(p) else q
                 for q, p in zip(queries, prompts, strict=True)]
    raw: dict[str, Any] = {"groups": [{"prompt": p, "texts": [responses[i] for i in idx]}
                                      for p, idx in members.items()]}
    for key in ("k", "display", "baseline", "same"):
        if key in query:
            v = query[key][-1]
            raw[key] = int(v) if key == "k" and v.isdigit() else v
    raw.setdefault("k", 1)
    groups, options = parse_request("payoffs", raw, limits)
    return groups, options, list(members.values())


# ---------------------------------------------------------------------- the server
class _Server(ThreadingHTTPServer):
    """One thread per connection; a listen backlog of 128 (socketserver's default of 5 makes
    the kernel drop connections when more clients connect at once, which they retry after 1 s:
    measured as a p99 latency of ~1 s with 16 clients)."""

    daemon_threads = True
    request_queue_size = 128


class PopulationService:
    """Serve ``population`` over HTTP (see the module docstring for the contract).

    Args:
      population: anything :func:`ualign.llm.populations.rank_texts` accepts.
      name: shown by ``/health``.
      max_queue: requests waiting for the worker before 503.
      max_batch: requests the worker takes at once (their texts scored in one call).
      timeout: seconds a request may wait for its answer before 504.
      socket_timeout: seconds a connection may stay idle while the request is read.
      limits: :class:`Limits` of one request.

    Use as a context manager or call :meth:`start` / :meth:`stop`; :meth:`serve_forever` blocks.
    """

    def __init__(self, population, *, name: str | None = None, max_queue: int = 64,
                 max_batch: int = 16, timeout: float = 60.0, socket_timeout: float = 10.0,
                 limits: Limits = Limits()):
        check_population(population)
        for arg, v in (("max_queue", max_queue), ("max_batch", max_batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{arg} must be an integer >= 1, got {v!r}")
        for arg, t in (("timeout", timeout), ("socket_timeout", socket_timeout)):
            if not (isinstance(t, int | float) and t > 0):
                raise ValueError(f"{arg} must be a number of seconds > 0, got {t!r}")
        self.population = population
        self.name = name or type(population).__name__
        self.max_batch = max_batch
        self.timeout = float(timeout)
        self.limits = limits
        self.queue: queue.Queue[_Job] = queue.Queue(maxsize=max_queue)
        self.stats = {"requests": 0, "batches": 0, "errors": 0}
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._socket_timeout = float(socket_timeout)

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    # -------------------------------------------------------------- worker
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                first = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            jobs = [j for j in jobs if not j.cancelled]
            if jobs:
                self._run(jobs)
                self._count("batches")

    def _run(self, jobs: list[_Job]) -> None:
        groups = [g for j in jobs for g in j.groups]
        try:
            ranked = rank_groups(self.population, groups)
        except Exception:
            ranked = None         # one bad job must not fail the others: score them one by one
        lo = 0
        for job in jobs:
            part = None if ranked is None else ranked[lo:lo + len(job.groups)]
            lo += len(job.groups)
            try:
                job.result = self._answer(job, part)
            except ValueError as e:
                job.error = (400, f"population could not rank the texts: {e}")
            except Exception as e:
                job.error = (500, f"population failed: {type(e).__name__}: {e}")
            if job.error:
                self._count("errors")
            job.done.set()

    def _answer(self, job: _Job, ranked) -> dict:
        if ranked is None:
            ranked = rank_groups(self.population, job.groups)
        if job.kind == "rank":
            return {"results": [{"levels": lv.tolist(), "weights": w.tolist()}
                                for lv, w in ranked]}
        o = job.options
        results = []
        for (lv, w), (_, texts) in zip(ranked, job.groups, strict=True):
            r = group_result(lv, w, texts, o["k"], o["display"], o["baseline"], o["same"])
            results.append({"payoffs": r["payoffs"].tolist(),
                            "advantages": r["advantages"].tolist()})
        return {"results": results, "k": o["k"], "display": o["display"],
                "baseline": o["baseline"]}

    # -------------------------------------------------------------- HTTP
    def submit(self, kind: str, body, query: dict | None = None) -> tuple[int, dict]:
        """Validate, queue and wait for one request: ``(status, JSON object)``; ``query`` holds
        the URL's query parameters (``/openrlhf?k=2``)."""
        members = None
        try:
            if kind == "openrlhf":
                groups, options, members = parse_openrlhf(body, query or {}, self.limits)
                kind = "payoffs"
            else:
                groups, options = parse_request(kind, body, self.limits)
        except RequestError as e:
            return e.status, {"error": str(e)}
        job = _Job(kind, groups, options)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            return 503, {"error": f"queue full ({self.queue.maxsize} requests waiting); retry "
                                  f"later"}
        self._count("requests")
        if not job.done.wait(self.timeout):
            job.cancelled = True
            return 504, {"error": f"no answer within the service timeout of {self.timeout:g} s"}
        if job.error:
            return job.error[0], {"error": job.error[1]}
        if members is not None:          # OpenRLHF: flat lists in the request's order
            n = sum(len(m) for m in members)
            rewards, scores = [0.0] * n, [0.0] * n
            for idx, r in zip(members, job.result["results"], strict=True):
                for i, a, p in zip(idx, r["advantages"], r["payoffs"], strict=True):
                    rewards[i], scores[i] = a, p
            return 200, {"rewards": rewards, "scores": scores, "extra_logs": {}}
        return 200, job.result

    def health(self) -> dict:
        users = getattr(self.population, "weights", None)
        return {"status": "ok", "population": self.name,
                "users": None if users is None else len(users),
                "queue": self.queue.qsize(), "max_queue": self.queue.maxsize,
                "max_batch": self.max_batch, "timeout": self.timeout,
                "limits": self.limits.__dict__, **self.stats}

    def _handler(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            timeout = service._socket_timeout
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: dict, close: bool = False) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if code == 503:
                    self.send_header("Retry-After", "1")
                if close:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def _drain(self, n: int, cap: int = 64 * 1024 * 1024) -> None:
                """Read and drop up to ``cap`` bytes of a refused body, so that the client
                reads the 413 instead of a reset connection (a larger body is cut off)."""
                left = min(n, cap)
                try:
                    while left > 0:
                        chunk = self.rfile.read(min(left, 1 << 16))
                        if not chunk:
                            break
                        left -= len(chunk)
                except OSError:
                    pass

            def do_GET(self):
                if self.path.rstrip("/") in ("/health", ""):
                    self._send(200, service.health())
                else:
                    self._send(404, {"error": f"unknown path {self.path!r}; GET /health, POST "
                                              f"/rank, POST /payoffs"})

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                kind = url.path.strip("/")
                if kind not in ("rank", "payoffs", "openrlhf"):
                    self._send(404, {"error": f"unknown path {self.path!r}; POST /rank, "
                                              f"/payoffs or /openrlhf"}, close=True)
                    return
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    self._send(411, {"error": "Content-Length header is required (an integer)"},
                               close=True)
                    return
                if int(length) > service.limits.max_body_bytes:
                    self._drain(int(length))
                    self._send(413, {"error": f"request body of {length} bytes is above the "
                                              f"limit max_body_bytes="
                                              f"{service.limits.max_body_bytes}"}, close=True)
                    return
                try:
                    raw = self.rfile.read(int(length))
                    body = json.loads(raw)
                except TimeoutError:
                    self._send(408, {"error": "request body not received within the socket "
                                              "timeout"}, close=True)
                    return
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    self._send(400, {"error": f"request body is not valid JSON: {e}"})
                    return
                code, payload = service.submit(kind, body, urllib.parse.parse_qs(url.query))
                self._send(code, payload)

        return Handler

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start the worker and the HTTP server (threads); returns ``http://HOST:PORT``."""
        self._stop.clear()
        self._server = _Server((host, port), self._handler())
        self._threads = [threading.Thread(target=self._work, daemon=True, name="ualign-worker"),
                         threading.Thread(target=self._server.serve_forever,
                                          kwargs={"poll_interval": 0.05}, daemon=True,
                                          name="ualign-http")]
        for t in self._threads:
            t.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise ValueError("the service is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving: new connections are refused, requests still queued are answered 503."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            job.error = (503, "the service is stopping")
            job.done.set()
        self._server = None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` is called (or ``timeout`` seconds); True once stopped."""
        return self._stop.wait(timeout)

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        """Start and block until interrupted (or stopped from another thread)."""
        self.start(host, port)
        try:
            self.wait()
        finally:
            self.stop()

    def __enter__(self) -> PopulationService:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

