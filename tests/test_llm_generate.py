"""Candidate generation: tiny Hugging Face models built from configs, an OpenAI-compatible stub
server on 127.0.0.1, and the JSONL generation cache."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import socket
import typing

import pytest

from localserver import JSONHandler, serve
from ualign.llm.generate import (
    CachedGenerator,
    EndpointError,
    GenerationCache,
    HFGenerator,
    OpenAIGenerator,
    resolve_model,
)

WORDS = "hello world the cat sat on a mat minimum wage is good bad jobs pay".split()
CHAT_TEMPLATE = ("{% for m in messages %}[BOS] {{ m['role'] }} {{ m['content'] }} [EOS] "
                 "{% endfor %}{% if add_generation_prompt %}[BOS] assistant {% endif %}")


def tiny_causal_lm(seed=0):
    """A 2-layer Llama with a word-level tokenizer and a chat template (no download)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, "[BOS]": 3, "user": 4, "assistant": 5,
             "system": 6}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    from tokenizers import decoders
    tk.decoder = decoders.WordPiece()
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]",
        bos_token="[BOS]")
    tok.chat_template = CHAT_TEMPLATE
    cfg = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                                   num_hidden_layers=2, num_attention_heads=2,
                                   num_key_value_heads=2, max_position_embeddings=128,
                                   bos_token_id=3, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(cfg), tok


def test_hf_generator_batched_seeded_and_chat():
    model, tok = tiny_causal_lm()
    g = HFGenerator(model, tok, batch_size=3, name="tiny")
    assert g.chat
    assert g.format_prompt("hello", system="pay").startswith("[BOS] system pay [EOS]")
    a = g.generate("the cat", 5, temperature=1.0, top_p=0.9, max_new_tokens=4, seed=1)
    assert len(a) == 5 and all(isinstance(t, str) for t in a)
    assert a == g.generate("the cat", 5, temperature=1.0, top_p=0.9, max_new_tokens=4, seed=1)
    assert a != g.generate("the cat", 5, temperature=1.0, top_p=0.9, max_new_tokens=4, seed=2)
    assert g.n_tokens > 0
    # greedy decoding gives n identical responses, and batching does not change them
    greedy = g.generate("the cat", 2, temperature=0, max_new_tokens=4)
    assert len(set(greedy)) == 1
    g1 = HFGenerator(model, tok, batch_size=1, name="tiny")
    assert g1.generate("the cat", 1, temperature=0, max_new_tokens=4) == greedy[:1]


def test_hf_generator_bad_input():
    model, tok = tiny_causal_lm()
    g = HFGenerator(model, tok, chat=False)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        g.generate("x", 0)
    with pytest.raises(ValueError, match="top_p"):
        g.generate("x", 1, top_p=0)
    with pytest.raises(ValueError, match="tokenizer"):
        HFGenerator(model)
    with pytest.raises(FileNotFoundError, match="GGUF"):
        resolve_model("/nonexistent/model.gguf")


class _Handler(JSONHandler):
    honour_n = True
    requests: typing.ClassVar[list] = []

    def do_POST(self):
        body = self.body()
        type(self).requests.append((self.path, body))
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            self.reply(404, b"no such route")
            return
        k = body["n"] if self.honour_n else 1
        chat = self.path.endswith("chat/completions")
        text = body["messages"][-1]["content"] if chat else body["prompt"]
        choices = []
        for i in range(k):
            t = f"reply {body['seed']}-{i} to {text} t={body['temperature']}"
            choices.append({"message": {"role": "assistant", "content": t}} if chat
                           else {"text": t})
        self.reply(200, {"choices": choices, "usage": {"completion_tokens": 3 * k}})


@pytest.fixture
def stub_server():
    _Handler.requests = []
    _Handler.honour_n = True
    with serve(_Handler) as url:
        yield url, _Handler


def test_openai_generator_chat_and_completions(stub_server):
    url, handler = stub_server
    g = OpenAIGenerator(url, "stub-model", timeout=5)
    out = g.generate("hi there", 3, temperature=0.7, max_new_tokens=8, seed=5,
                     system="be brief")
    assert out == [f"reply 5-{i} to hi there t=0.7" for i in range(3)]
    path, body = handler.requests[-1]
    assert path == "/v1/chat/completions" and body["model"] == "stub-model"
    assert body["max_tokens"] == 8 and body["messages"][0] == {"role": "system",
                                                               "content": "be brief"}
    assert g.n_tokens == 9
    c = OpenAIGenerator(url + "/v1", "stub-model", chat=False, timeout=5)
    assert c.generate("abc", 2, seed=0)[1] == "reply 0-1 to abc t=1.0"
    assert handler.requests[-1][0] == "/v1/completions"


def test_openai_generator_server_ignoring_n(stub_server):
    url, handler = stub_server
    handler.honour_n = False
    out = OpenAIGenerator(url, "m", timeout=5, max_requests=10).generate("q", 4, seed=0)
    assert out == [f"reply {r}-0 to q t=1.0" for r in range(4)]
    with pytest.raises(EndpointError, match="2 of 5"):
        OpenAIGenerator(url, "m", timeout=5, max_requests=2).generate("q", 5)


def test_openai_generator_errors(stub_server):
    url, _ = stub_server
    with pytest.raises(EndpointError, match="HTTP 404"):
        OpenAIGenerator(url + "/wrong", "m", timeout=5).generate("q", 1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EndpointError, match="cannot reach endpoint"):
        OpenAIGenerator(f"http://127.0.0.1:{port}", "m", timeout=2).generate("q", 1)
    with pytest.raises(ValueError, match="base_url"):
        OpenAIGenerator("127.0.0.1:8000", "m")


class _Counting:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def generate(self, prompt, n, **params):
        self.calls += 1
        return [f"{prompt} {i} {params['seed']}" for i in range(n)]


def test_generation_cache_survives_reload_and_truncation(tmp_path):
    path = tmp_path / "gen.jsonl"
    inner = _Counting()
    g = CachedGenerator(inner, path)
    a = g.generate("p", 3, seed=1)
    assert g.generate("p", 3, seed=1) == a and inner.calls == 1 and g.hits == 1
    g.generate("p", 3, seed=2)
    assert inner.calls == 2
    with open(path, "a") as fh:  # an interrupted write leaves half a line
        fh.write('{"key": "abc", "texts": ["x"')
    inner2 = _Counting()
    g2 = CachedGenerator(inner2, GenerationCache(path))
    assert g2.generate("p", 3, seed=1) == a and g2.generate("p", 3, seed=2)
    assert inner2.calls == 0 and len(g2.cache) == 2


def test_hf_generator_loads_a_saved_folder(tmp_path):
    model, tok = tiny_causal_lm(seed=1)
    model.save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    assert resolve_model(str(tmp_path / "tiny")) == (str(tmp_path / "tiny"), None)
    g = HFGenerator(str(tmp_path / "tiny"), batch_size=2)
    direct = HFGenerator(model, tok, batch_size=2, name="x")
    assert g.name == str(tmp_path / "tiny") and g.chat
    assert g.generate("the cat", 3, max_new_tokens=3, seed=4) == direct.generate(
        "the cat", 3, max_new_tokens=3, seed=4)
