"""A population served over HTTP by ``ualign serve`` (:mod:`ualign.integrations.service`): the
population kind of the specs ``http://HOST:PORT`` and ``https://HOST:PORT``
(:func:`ualign.llm.populations.load_population`).

:class:`PopulationClient` is a population in the duck-typed sense of
:mod:`ualign.llm.populations.protocol` (``rank(texts, prompt=None) -> Profile``), so
``SelfPlayTrainer``, the TRL reward and ``ualign select`` accept it, or its URL wherever a
population spec is expected; :meth:`PopulationClient.payoffs` asks for the (k+1)-player payoff
estimates of many groups in one request.

Failures are bounded and loud: a refused or dropped connection, a timeout, 503 (queue full) or
504 (service timeout) is retried ``retries`` times with exponential back-off, then raises
:class:`PopulationServiceError` naming the URL and the last cause; a 4xx answer raises
``ValueError`` with the service's message at once (retrying would not help).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np

__all__ = ["PopulationClient", "PopulationServiceError", "from_spec"]

RETRY_STATUS = (502, 503, 504)


class PopulationServiceError(RuntimeError):
    """The population service could not be reached or failed (after the retries)."""


def _check_url(url) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be http://HOST:PORT of a `ualign serve` service, got {url!r}")
    return url.rstrip("/")


class PopulationClient:
    """A population served over HTTP by ``ualign serve``.

    Args:
      url: ``http://HOST:PORT`` of the service.
      timeout: seconds per HTTP attempt (connect + answer).
      retries: extra attempts after a connection error, a timeout, or a 502/503/504 answer.
      backoff: seconds before the first retry (doubled at each retry).
    """

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 3, backoff: float = 0.2):
        self.url = _check_url(url)
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
        if not (isinstance(backoff, int | float) and backoff >= 0):
            raise ValueError(f"backoff must be a number of seconds >= 0, got {backoff!r}")
        self.timeout, self.retries, self.backoff = float(timeout), retries, float(backoff)
        self._weights = None

    def __repr__(self) -> str:
        return f"PopulationClient({self.url!r})"

    # -------------------------------------------------------------- transport
    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        last = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                try:
                    msg = json.loads(e.read()).get("error", "")
                except (ValueError, AttributeError, OSError):
                    msg = ""
                msg = msg or e.reason
                if e.code in RETRY_STATUS:
                    last = f"HTTP {e.code}: {msg}"
                    continue
                if 400 <= e.code < 500:
                    raise ValueError(f"population service {self.url}{path} refused the request "
                                     f"(HTTP {e.code}): {msg}") from None
                raise PopulationServiceError(f"population service {self.url}{path} failed "
                                             f"(HTTP {e.code}): {msg}") from None
            except (OSError, http.client.HTTPException, json.JSONDecodeError) as e:
                reason = getattr(e, "reason", e)
                last = f"{type(reason).__name__}: {reason}"
        raise PopulationServiceError(f"population service {self.url}{path} unreachable after "
                                     f"{self.retries + 1} attempts; last error: {last}")

    # -------------------------------------------------------------- API
    def health(self) -> dict:
        """``GET /health`` (raises :class:`PopulationServiceError` when unreachable)."""
        return self._request("GET", "/health")

    @staticmethod
    def _groups(groups) -> list[dict]:
        out = []
        for i, g in enumerate(groups):
            if isinstance(g, dict):
                out.append({"prompt": g.get("prompt"), "texts": list(g["texts"])})
            elif isinstance(g, tuple | list) and len(g) == 2 and not isinstance(g[1], str):
                out.append({"prompt": g[0], "texts": list(g[1])})
            else:
                raise ValueError(f"groups[{i}] must be (prompt, texts) or {{'prompt', 'texts'}}, "
                                 f"got {type(g).__name__}")
        return out

    def rank_groups(self, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(levels (U, G), weights (U,))]`` of ``(prompt, texts)`` groups, one request."""
        res = self._request("POST", "/rank", {"groups": self._groups(groups)})["results"]
        return [(np.asarray(r["levels"], dtype=np.int64), np.asarray(r["weights"], float))
                for r in res]

    def rank(self, texts: Sequence[str], prompt: str | None = None):
        """The population's :class:`ualign.Profile` over ``texts`` (the trainer's interface)."""
        from ualign.core.profile import Profile

        lv, w = self.rank_groups([(prompt, list(texts))])[0]
        return Profile.from_levels(lv, w)

    def payoffs(self, groups, k: int, display: str = "multiset", baseline: str = "constant",
                same: str = "exact") -> list[dict]:
        """``[{"payoffs": (G,), "advantages": (G,)}]`` of ``(prompt, texts)`` groups, one
        request (THEORY §8, §9; see :func:`ualign.llm.group_payoffs.group_result`)."""
        body = {"groups": self._groups(groups), "k": k, "display": display,
                "baseline": baseline, "same": same}
        res = self._request("POST", "/payoffs", body)["results"]
        return [{"payoffs": np.asarray(r["payoffs"], float),
                 "advantages": np.asarray(r["advantages"], float)} for r in res]

    def score_samples(self, prompts: Sequence[str], completions: Sequence[str], k: int,
                      display: str = "multiset", baseline: str = "constant",
                      keys: Sequence | None = None, same: str = "exact") -> np.ndarray:
        """Rewards ``(N,)`` for N samples in any order (engines whose reward hook sees a flat
        batch: OpenRLHF's ``reward_func``, verl's batch reward manager): samples with equal
        ``keys`` (default: equal prompts) form one group, every group is scored in one request,
        and the advantages come back in the samples' order. Every group needs >= k+1 samples.
        """
        if len(prompts) != len(completions):
            raise ValueError(f"prompts and completions must have the same length, got "
                             f"{len(prompts)} and {len(completions)}")
        keys = list(prompts) if keys is None else list(keys)
        if len(keys) != len(prompts):
            raise ValueError(f"keys must have one entry per sample ({len(prompts)}), got "
                             f"{len(keys)}")
        members: dict = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        groups = [(prompts[idx[0]], [completions[i] for i in idx]) for idx in members.values()]
        for (key, idx) in members.items():
            if len(idx) < k + 1:
                raise ValueError(f"the group of key {key!r} has {len(idx)} samples, fewer than "
                                 f"k+1 = {k + 1} (positions {idx[:5]})")
        out = np.empty(len(keys))
        for idx, res in zip(members.values(), self.payoffs(groups, k, display, baseline, same),
                            strict=True):
            out[idx] = res["advantages"]
        return out



def from_spec(scheme: str, target: str, options: dict) -> PopulationClient:
    """The client of the population spec ``SCHEME:TARGET[,timeout=S,retries=N,backoff=S]``
    (``target`` is ``//HOST:PORT``), as :func:`ualign.llm.populations.load_population` reads
    it."""
    return PopulationClient(f"{scheme}:{target}", **options)
