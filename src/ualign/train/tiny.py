"""Tiny randomly initialised causal LMs with a character-level tokenizer, built offline.

Used by the tests, the exactness experiment and the benchmark: nothing is downloaded.
"""

from __future__ import annotations

import string
from typing import Any

__all__ = ["char_tokenizer", "is_tiny_spec", "tiny_causal_lm", "tiny_from_spec"]

DEFAULT_ALPHABET = string.ascii_letters + string.digits + " .,!?'-:;\n"


def char_tokenizer(alphabet: str = DEFAULT_ALPHABET):
    """A ``PreTrainedTokenizerFast`` with one token per character plus <pad>, <s>, </s>, <unk>."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    chars = list(dict.fromkeys(alphabet))
    vocab = {t: i for i, t in enumerate(specials + chars)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>", padding_side="left")


def tiny_causal_lm(tokenizer, *, hidden_size: int = 32, num_layers: int = 2, num_heads: int = 2,
                   seed: int = 0, arch: str = "llama"):
    """A randomly initialised (seeded) tiny causal LM matching ``tokenizer``'s vocabulary."""
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedModel,
    )

    torch.manual_seed(seed)
    V = len(tokenizer)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=V, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                          num_hidden_layers=num_layers, num_attention_heads=num_heads,
                          num_key_value_heads=num_heads, max_position_embeddings=256,
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
        model: PreTrainedModel = LlamaForCausalLM(cfg)
    elif arch == "gpt2":
        gcfg = GPT2Config(vocab_size=V, n_embd=hidden_size, n_layer=num_layers, n_head=num_heads,
                         n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
        model = GPT2LMHeadModel(gcfg)
    else:
        raise ValueError(f"arch must be 'llama' or 'gpt2', got {arch!r}")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


_SPEC_KEYS = {"hidden_size": int, "num_layers": int, "num_heads": int, "seed": int, "arch": str}


def is_tiny_spec(model) -> bool:
    """Whether a model argument is a tiny-model spec (``"tiny"`` or ``"tiny:key=value,..."``)."""
    return isinstance(model, str) and (model == "tiny" or model.startswith("tiny:"))


def tiny_from_spec(spec: str, seed: int = 0):
    """``(model, tokenizer)`` for ``spec``: ``"tiny"`` (a 2-layer Llama, hidden size 32, over the
    character tokenizer, seeded by ``seed``) or ``"tiny:hidden_size=64,num_layers=2,num_heads=2,
    seed=1,arch=gpt2"`` (any of those keys). Built in memory; nothing is read or downloaded."""
    if not is_tiny_spec(spec):
        raise ValueError(f"model must be 'tiny' or 'tiny:key=value,...', got {spec!r}")
    kw: dict[str, Any] = {"seed": seed}
    rest = spec[len("tiny:"):] if spec.startswith("tiny:") else ""
    for i, item in enumerate(x for x in rest.split(",") if x.strip()):
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or key not in _SPEC_KEYS:
            raise ValueError(f"model spec {spec!r}: item {i + 1} ({item!r}) must be key=value "
                             f"with key one of {sorted(_SPEC_KEYS)}")
        try:
            kw[key] = _SPEC_KEYS[key](val.strip())
        except ValueError as e:
            raise ValueError(f"model spec {spec!r}: {key} must be an integer, got "
                             f"{val.strip()!r} (item {i + 1})") from e
    tok = char_tokenizer()
    return tiny_causal_lm(tok, **kw), tok
