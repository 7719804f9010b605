"""Tiny randomly initialised causal LMs with a character-level tokenizer, built offline.

Used by the tests, the exactness experiment and the benchmark: nothing is downloaded.
"""

from __future__ import annotations

import string

__all__ = ["char_tokenizer", "tiny_causal_lm"]

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
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    V = len(tokenizer)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=V, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                          num_hidden_layers=num_layers, num_attention_heads=num_heads,
                          num_key_value_heads=num_heads, max_position_embeddings=256,
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg)
    elif arch == "gpt2":
        cfg = GPT2Config(vocab_size=V, n_embd=hidden_size, n_layer=num_layers, n_head=num_heads,
                         n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
        model = GPT2LMHeadModel(cfg)
    else:
        raise ValueError(f"arch must be 'llama' or 'gpt2', got {arch!r}")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
