"""The population scoring service and its client, on 127.0.0.1 only, with bounded loops:
answers equal the local computation, concurrency, malformed and oversized requests, a full
queue, a timeout, and a server that dies mid-run."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ualign.integrations.service import Limits, PopulationService
from ualign.llm.group_payoffs import score_groups
from ualign.llm.populations import PopulationClient, PopulationServiceError
from ualign.llm.populations.protocol import as_population, rank_texts
from ualign.train.populations import build_population

sys.path.insert(0, str(Path(__file__).parent))
from _serve_helpers import SlowPopulation, char_population

HERE = Path(__file__).parent

GROUPS = [("p1", ["aab", "b", "ab", "bb", "a"]), ("p2", ["x", "aaa", "bab", "", "b"])]


@pytest.fixture
def service():
    with PopulationService(char_population(), max_queue=64, max_batch=8, timeout=10) as s:
        yield s


def _raw(url, method, path, body=None, headers=None):
    """One HTTP request with full control of the body and headers: (status, JSON)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_rank_and_payoffs_equal_local(service):
    client = PopulationClient(service.url)
    pop = char_population()
    h = client.health()
    assert h["status"] == "ok" and h["users"] == 2
    for (lv, w), (prompt, texts) in zip(client.rank_groups(GROUPS), GROUPS, strict=True):
        lv0, w0 = rank_texts(pop, texts, prompt=prompt)
        np.testing.assert_array_equal(lv, lv0)
        np.testing.assert_allclose(w, w0)
    P = client.rank(GROUPS[0][1], prompt="p1")
    assert P.n_responses == 5
    for display in ("multiset", "distinct"):
        for baseline in ("constant", "group_mean", "none"):
            got = client.payoffs(GROUPS, 2, display, baseline)
            want = score_groups(pop, GROUPS, 2, display, baseline)
            for g, w_ in zip(got, want, strict=True):
                np.testing.assert_allclose(g["payoffs"], w_["payoffs"], rtol=0, atol=1e-12)
                np.testing.assert_allclose(g["advantages"], w_["advantages"], atol=1e-12)
    # a single group at the top level
    code, out = _raw(service.url, "POST", "/payoffs",
                     json.dumps({"prompt": "p", "texts": ["a", "b", "ab"], "k": 1}))
    assert code == 200 and len(out["results"]) == 1 and out["display"] == "multiset"


def test_concurrent_requests(service):
    """8 threads x 10 requests each, every answer checked against the local computation."""
    pop = char_population()
    rng = np.random.default_rng(0)
    work = [[("p", ["".join(rng.choice(list("ab x"), 4)) for _ in range(8)])
             for _ in range(10)] for _ in range(8)]
    errors = []

    def worker(groups):
        client = PopulationClient(service.url, timeout=20)
        try:
            for g in groups:
                got = client.payoffs([g], 3)[0]["payoffs"]
                want = score_groups(pop, [g], 3)[0]["payoffs"]
                if np.abs(got - want).max() > 1e-12:
                    errors.append((g, got, want))
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    h = PopulationClient(service.url).health()
    assert h["requests"] >= 80 and h["errors"] == 0


@pytest.mark.parametrize("path,body,field", [
    ("/payoffs", b"{not json", "not valid JSON"),
    ("/payoffs", b"[1, 2]", "request body must be a JSON object"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}]}, "k is required"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}], "k": 2},
     "groups\\[0\\].texts must hold at least k\\+1 = 3 texts"),
    ("/payoffs", {"groups": [{"texts": ["a", 3, "b"]}], "k": 1},
     "groups\\[0\\].texts\\[1\\] must be a string"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}, "x"], "k": 1}, "groups\\[1\\] must be an"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"], "prompt": 5}], "k": 1},
     "groups\\[0\\].prompt must be a string"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}], "k": 1, "display": "set"},
     "display must be one of"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}], "k": 1, "baseline": "x"},
     "baseline must be one of"),
    ("/payoffs", {"groups": [{"texts": ["a", "b"]}], "k": 1, "temperature": 1},
     "unknown field\\(s\\) \\['temperature'\\]"),
    ("/rank", {"groups": []}, "groups must be a non-empty list"),
    ("/rank", {"groups": [{"text": ["a"]}]}, "groups\\[0\\] has unknown field"),
    ("/rank", {"prompt": "p"}, "request.texts is required"),
    ("/rank", {"groups": [{"texts": []}]}, "groups\\[0\\].texts must hold at least one"),
])
def test_malformed_requests(service, path, body, field):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    code, out = _raw(service.url, "POST", path, data)
    assert code == 400
    assert re.search(field, out["error"]), out["error"]
    with pytest.raises(ValueError, match="refused the request \\(HTTP 400\\)"):
        PopulationClient(service.url).payoffs([("p", ["a", "b"])], 2)


def test_unknown_path_and_missing_length(service):
    assert _raw(service.url, "GET", "/nope")[0] == 404
    assert _raw(service.url, "POST", "/score", b"{}")[0] == 404
    host, port = service.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("POST", "/rank")          # no Content-Length header
        conn.endheaders()
        r = conn.getresponse()
        code, out = r.status, json.loads(r.read())
    finally:
        conn.close()
    assert code == 411 and "Content-Length" in out["error"]


def test_oversized_requests():
    limits = Limits(max_body_bytes=2000, max_groups=2, max_texts=6, max_text_chars=50)
    with PopulationService(char_population(), limits=limits) as s:
        code, out = _raw(s.url, "POST", "/rank", json.dumps(
            {"groups": [{"texts": ["a" * 40] * 6}] * 2}).encode() + b" " * 2000)
        assert code == 413 and "max_body_bytes=2000" in out["error"]
        code, out = _raw(s.url, "POST", "/rank", json.dumps({"groups": [{"texts": ["a"]}] * 3}))
        assert code == 413 and "max_groups=2" in out["error"]
        code, out = _raw(s.url, "POST", "/rank", json.dumps({"texts": ["a"] * 7}))
        assert code == 413 and "request.texts holds 7 texts" in out["error"]
        code, out = _raw(s.url, "POST", "/rank", json.dumps({"texts": ["a", "b" * 51]}))
        assert code == 413 and "request.texts[1] has 51 characters" in out["error"]
        with pytest.raises(ValueError, match="HTTP 413"):
            PopulationClient(s.url).rank_groups([("p", ["a"] * 7)])
        # a large body sent by the client: it reads the 413 (the body is drained), no retries
        big = Limits(max_body_bytes=100_000)
        with PopulationService(char_population(), limits=big) as s2:
            with pytest.raises(ValueError, match=r"HTTP 413.*max_body_bytes=100000"):
                PopulationClient(s2.url, retries=0).rank_groups([("p", ["ab" * 15000] * 20)])
        # the service still answers after the refusals
        assert PopulationClient(s.url).rank_groups([("p", ["a", "b"])])[0][0].shape == (2, 2)


def test_batching_scores_queued_requests_together():
    pop = SlowPopulation(delay=0.3)
    with PopulationService(pop, max_batch=16, timeout=20) as s:
        client = PopulationClient(s.url, timeout=20)
        results = [None] * 6

        def ask(i):
            results[i] = client.payoffs([("p", ["a", "ab", "b", "bb"])], 2)[0]["payoffs"]

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        want = score_groups(char_population(), [("p", ["a", "ab", "b", "bb"])], 2)[0]
        for r in results:
            np.testing.assert_allclose(r, want["payoffs"], atol=1e-12)
        assert pop.calls < 6                       # several requests shared a scores call
        assert client.health()["batches"] < 6


def test_full_queue_and_timeout():
    pop = SlowPopulation(delay=2.0)
    with PopulationService(pop, max_queue=1, max_batch=1, timeout=0.8) as s:
        codes = []

        def ask():
            codes.append(_raw(s.url, "POST", "/rank", json.dumps({"texts": ["a", "b"]}))[0])

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(timeout=10)
        # one is being scored (504 after 0.8 s), one waits in the queue (504), the rest: 503
        assert sorted(codes) == [503, 503, 504, 504]
        c = PopulationClient(s.url, timeout=5, retries=1, backoff=0.01)
        with pytest.raises(PopulationServiceError, match=r"HTTP 50[34]"):
            c.rank_groups([("p", ["a", "b"])])


def test_server_dies_mid_run(service):
    client = PopulationClient(service.url, timeout=2, retries=2, backoff=0.05)
    assert len(client.payoffs(GROUPS, 1)) == 2
    service.stop()
    t0 = time.perf_counter()
    with pytest.raises(PopulationServiceError, match="unreachable after 3 attempts"):
        client.payoffs(GROUPS, 1)
    assert time.perf_counter() - t0 < 5


def test_cli_serve_killed_mid_run(tmp_path):
    """``ualign serve`` in a subprocess answers, then is killed: the client raises a clear
    error after its bounded retries."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent / "src"), str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "ualign.cli", "serve", "--population",
                             "py:_serve_helpers:char_population", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()           # {"url": ..., "users": 2}
        info = json.loads(line)
        assert info["users"] == 2 and info["url"].startswith("http://127.0.0.1:")
        client = PopulationClient(info["url"], timeout=5, retries=2, backoff=0.05)
        want = score_groups(char_population(), GROUPS, 2)
        for _ in range(3):
            got = client.payoffs(GROUPS, 2)
            np.testing.assert_allclose(got[1]["payoffs"], want[1]["payoffs"], atol=1e-12)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with pytest.raises(PopulationServiceError, match="unreachable after 3 attempts"):
            client.payoffs(GROUPS, 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_serve_bad_population():
    r = subprocess.run([sys.executable, "-m", "ualign.cli", "serve", "--population",
                        "py:nowhere_module:f"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(HERE.parent / "src")))
    assert r.returncode == 2 and "cannot import f from nowhere_module" in r.stderr


def test_trainer_population_url(service):
    from ualign.train import SelfPlayConfig

    cfg = SelfPlayConfig(prompts=["a"], k=1, group_size=2, population=service.url)
    pop = build_population(cfg)
    assert isinstance(pop, PopulationClient) and pop.url == service.url
    assert isinstance(as_population(service.url), PopulationClient)
    lv, w = rank_texts(pop, ["aa", "b", "ab"], prompt="x")
    lv0, w0 = rank_texts(char_population(), ["aa", "b", "ab"])
    # the Profile merges identical rows: compare payoffs, not rows
    from ualign.train.estimators import leave_one_out_payoffs

    np.testing.assert_allclose(leave_one_out_payoffs(lv, 1, w), leave_one_out_payoffs(lv0, 1, w0))


def test_remote_population_is_a_registered_kind(service, monkeypatch):
    """``http://`` and ``https://`` specs are built by the population registry (options
    converted and checked like every kind's); so is ``py:MODULE:FACTORY``; a candidate-mode
    config takes a served population too."""
    from ualign.llm.populations import load_population
    from ualign.llm.populations.spec import POPULATION_KINDS, population_kind
    from ualign.train import SelfPlayConfig

    assert {"http", "https", "py"} <= set(POPULATION_KINDS)
    pop = load_population(service.url + ",timeout=5,retries=1")
    assert isinstance(pop, PopulationClient) and pop.url == service.url
    assert (pop.timeout, pop.retries) == (5.0, 1)
    assert isinstance(load_population("https://127.0.0.1:1"), PopulationClient)
    assert population_kind("mallows:n=3") is None
    with pytest.raises(ValueError, match="unknown http population option"):
        load_population(service.url + ",verbose=1")
    with pytest.raises(ValueError, match="http population option retries must be int"):
        load_population(service.url + ",retries=x")
    monkeypatch.syspath_prepend(str(HERE))
    assert load_population("py:_serve_helpers:char_population").weights.tolist() == [0.6, 0.4]
    with pytest.raises(ValueError, match="py:MODULE:FACTORY expected"):
        load_population("py:_serve_helpers")
    cfg = SelfPlayConfig(prompts=["a"], k=1, group_size=2, population=service.url,
                         candidates=["aa", "b", "ab"])
    pop = build_population(cfg)
    assert isinstance(pop, PopulationClient)
    lv, w = rank_texts(pop, ["aa", "b", "ab"])
    lv0, w0 = rank_texts(char_population(), ["aa", "b", "ab"])
    from ualign.train.estimators import leave_one_out_payoffs

    np.testing.assert_allclose(leave_one_out_payoffs(lv, 1, w), leave_one_out_payoffs(lv0, 1, w0))


@pytest.mark.parametrize("kw,match", [
    (dict(url="ftp://x"), "url must be http://HOST:PORT"),
    (dict(url="http://127.0.0.1:1", timeout=0), "timeout must be"),
    (dict(url="http://127.0.0.1:1", retries=-1), "retries must be"),
])
def test_client_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        PopulationClient(**kw)


def test_service_arguments():
    with pytest.raises(ValueError, match="max_queue must be an integer >= 1"):
        PopulationService(char_population(), max_queue=0)
    with pytest.raises(ValueError, match="population must have rank"):
        PopulationService(object())


def test_score_samples_any_order(service):
    """A flat batch in any order (OpenRLHF / verl hooks): grouped by key, answered in order."""
    client = PopulationClient(service.url)
    prompts = [p for p, g in GROUPS for _ in g]
    texts = [t for _, g in GROUPS for t in g]
    want = np.concatenate([r["advantages"] for r in client.payoffs(GROUPS, 2, "distinct")])
    perm = np.random.default_rng(0).permutation(len(texts))
    got = client.score_samples([prompts[i] for i in perm], [texts[i] for i in perm], 2,
                               "distinct")
    np.testing.assert_allclose(got, want[perm], atol=1e-12)
    # explicit keys: one prompt text, two groups
    got = client.score_samples(["same"] * 10, texts, 2, keys=[0] * 5 + [1] * 5)
    want = np.concatenate([r["advantages"] for r in client.payoffs(
        [("same", GROUPS[0][1]), ("same", GROUPS[1][1])], 2)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(ValueError, match="the group of key 'q' has 2 samples"):
        client.score_samples(["p"] * 3 + ["q"] * 2, ["a"] * 5, 2)


def test_openrlhf_endpoint(service):
    """``POST /openrlhf?k=..`` takes OpenRLHF's remote reward-model request (query = prompt +
    response, prompts, labels) and answers rewards / scores in the request's order."""
    client = PopulationClient(service.url)
    prompts = [p for p, g in GROUPS for _ in g]
    texts = [t for _, g in GROUPS for t in g]
    perm = np.random.default_rng(1).permutation(len(texts))
    body = {"query": [prompts[i] + texts[i] for i in perm], "prompts": [prompts[i] for i in perm],
            "labels": [""] * len(perm)}
    code, out = _raw(service.url, "POST", "/openrlhf?k=2&display=distinct", json.dumps(body))
    assert code == 200 and set(out) == {"rewards", "scores", "extra_logs"}
    res = client.payoffs(GROUPS, 2, "distinct")
    np.testing.assert_allclose(out["rewards"],
                               np.concatenate([r["advantages"] for r in res])[perm], atol=1e-12)
    np.testing.assert_allclose(out["scores"],
                               np.concatenate([r["payoffs"] for r in res])[perm], atol=1e-12)
    for path, b, msg in [
        ("/openrlhf?k=2", {"query": ["a"], "prompts": ["a", "b"]}, "same length"),
        ("/openrlhf?k=2", {"prompts": ["a"]}, "query is required"),
        ("/openrlhf?k=x", body, "k is required: an integer >= 1, got 'x'"),
        ("/openrlhf?k=9", body, "at least k\\+1 = 10 texts"),
    ]:
        code, out = _raw(service.url, "POST", path, json.dumps(b))
        assert code == 400 and re.search(msg, out["error"]), out
