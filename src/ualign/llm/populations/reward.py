"""Per-persona scores from any Hugging Face sequence-classification reward model scoring
``template.format(persona=..., text=...)`` for each persona and candidate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ualign.core.checks import check_user_weights
from ualign.llm.embed import _check_texts
from ualign.llm.populations.base import Population

__all__ = ["RewardModelPopulation"]


class RewardModelPopulation(Population):
    """Per-persona scores from a sequence-classification reward model:
    ``s_u(x) = RM(template.format(persona=persona_u, text=x))[label_index]``.

    Args:
      model: a Hugging Face model id or local path (loaded with
        ``AutoModelForSequenceClassification``), or a loaded model.
      personas: ``U`` persona texts; weights: optional ``(U,)``.
      tokenizer: required when ``model`` is an object; loaded from ``model`` otherwise.
      template: how persona and candidate are joined.
      batch_size: texts scored together.
      max_length: tokens per scored text (longer ones are truncated).
      device: where the model runs.
    """

    def __init__(self, model, personas: Sequence[str], weights=None, tokenizer=None,
                 template: str = "{persona}\n\n{text}", batch_size: int = 16,
                 max_length: int = 512, device: str = "cpu", label_index: int = 0):
        personas = _check_texts(personas, "personas")
        if not personas:
            raise ValueError("personas must hold at least one persona text, got none")
        if "{text}" not in template:
            raise ValueError(f"template must contain '{{text}}', got {template!r}")
        if isinstance(model, str):
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
            model = AutoModelForSequenceClassification.from_pretrained(model)
        if tokenizer is None:
            raise ValueError("tokenizer must be given when model is a loaded model object")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        if getattr(tokenizer, "pad_token", None) is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.personas = tuple(personas)
        self.user_labels = self.personas
        self.weights = check_user_weights(weights, len(personas))
        self.template = template
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.device = device
        self.label_index = int(label_index)

    def _scores(self, texts):
        import torch
        pairs = [(u, i) for u in range(len(self.personas)) for i in range(len(texts))]
        S = np.empty((len(self.personas), len(texts)))
        for s in range(0, len(pairs), self.batch_size):
            chunk = pairs[s:s + self.batch_size]
            inputs = [self.template.format(persona=self.personas[u], text=texts[i])
                      for u, i in chunk]
            enc = self.tokenizer(inputs, return_tensors="pt", padding=True, truncation=True,
                                 max_length=self.max_length).to(self.device)
            with torch.no_grad():
                logits = self.model(**enc).logits
            vals = logits[:, self.label_index].float().cpu().numpy()
            for (u, i), v in zip(chunk, vals, strict=True):
                S[u, i] = v
        return S

    def _take(self, idx):
        new = object.__new__(RewardModelPopulation)
        new.__dict__.update(self.__dict__)
        new.personas = tuple(self.personas[i] for i in idx)
        return self._base_take(new, idx)
