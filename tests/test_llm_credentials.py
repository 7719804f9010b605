"""Credentials of OpenAI-compatible endpoints (issue 12, item 16): the bearer token never
follows a redirect to another origin, and ``$OPENAI_API_KEY`` goes only to the server the user
named for it (``$OPENAI_BASE_URL``, default https://api.openai.com). Servers run on 127.0.0.1."""

import pytest

from localserver import JSONHandler, serve
from ualign.llm.generate import OpenAIGenerator, http_json

SEEN: list[tuple[str, str | None]] = []


class _Sink(JSONHandler):
    """Records the Authorization header of every request and answers a chat completion."""

    def _answer(self):
        SEEN.append(("sink", self.headers.get("Authorization")))
        self.reply(200, {"choices": [{"message": {"content": "ok"}}], "data": []})

    do_GET = _answer

    def do_POST(self):
        self.body()
        self._answer()


def _redirector(target: str):
    class _Redirect(JSONHandler):
        def _go(self):
            SEEN.append(("redirect", self.headers.get("Authorization")))
            if self.command == "POST":
                self.body()
            if self.path.startswith("/same"):
                location = self.path.replace("/same", "/final", 1)
            elif self.path.startswith("/final"):
                SEEN.append(("final", self.headers.get("Authorization")))
                self.reply(200, {"choices": [{"message": {"content": "ok"}}], "data": []})
                return
            else:
                location = target + self.path
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _go
    return _Redirect


@pytest.fixture
def servers():
    SEEN.clear()
    with serve(_Sink) as sink, serve(_redirector(sink)) as front:
        yield front, sink


def test_key_not_forwarded_across_origins(servers):
    front, _ = servers
    http_json(front + "/v1/models", None, api_key="sekret", timeout=10)
    assert SEEN == [("redirect", "Bearer sekret"), ("sink", None)]
    SEEN.clear()
    http_json(front + "/v1/chat/completions", {"x": 1}, api_key="sekret", timeout=10)
    assert SEEN == [("redirect", "Bearer sekret"), ("sink", None)]


def test_key_kept_on_same_origin_redirect(servers):
    front, _ = servers
    http_json(front + "/same/models", None, api_key="sekret", timeout=10)
    assert SEEN == [("redirect", "Bearer sekret"), ("redirect", "Bearer sekret"),
                    ("final", "Bearer sekret")]


def test_environment_key_only_where_asked(servers, monkeypatch):
    _, sink = servers
    monkeypatch.setenv("OPENAI_API_KEY", "envkey")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    g = OpenAIGenerator(sink, "m", timeout=10)
    assert g.generate("hi", 1) == ["ok"]
    assert SEEN == [("sink", None)]                       # not the server the key is for
    assert g.api_key is None
    SEEN.clear()
    monkeypatch.setenv("OPENAI_BASE_URL", sink + "/v1")   # the user named this server
    assert OpenAIGenerator(sink, "m", timeout=10).generate("hi", 1) == ["ok"]
    assert SEEN == [("sink", "Bearer envkey")]
    SEEN.clear()
    assert OpenAIGenerator(sink, "m", api_key="given", timeout=10).generate("hi", 1) == ["ok"]
    assert SEEN == [("sink", "Bearer given")]             # an explicit key goes where it is sent
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    assert OpenAIGenerator(sink, "m", timeout=10).api_key is None
