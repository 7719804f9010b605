"""The self-play losses as pure tensor functions (THEORY §8).

Notation, for one step: ``N = P·G`` samples ``y_i`` (P prompts, G samples each), the policy being
trained ``π_θ``, the policy that drew the samples ``π_t`` (frozen), a reference ``π_ref``, and the
advantage ``A_i = P̂_i − 1/(k+1)`` (leave-one-out payoff estimate minus its group mean).

- SPPO form:  ``mean_i [log π_θ(y_i) − log π_t(y_i) − η A_i]²``; its minimiser is the Hedge step
  ``log π_{t+1}(y) = log π_t(y) + η (L(π_t, y) − 1/(k+1))`` up to normalisation (THEORY §5).
- Policy-gradient form: ``−mean_i A_i log π_θ(y_i) + kl_coef · KL(π_θ ‖ π_ref)``, with the KL
  exact over n fixed candidates (:func:`exact_kl`) or a per-token k3 estimate for free text
  (:func:`k3_kl`).

Every function takes and returns torch tensors and has no other effect; gradients flow through
the ``π_θ`` arguments.

References: THEORY.md §5, §8.
"""

from __future__ import annotations

__all__ = ["exact_kl", "k3_kl", "pg_loss", "sppo_loss"]


def sppo_loss(logp, old_logp, advantages, eta: float):
    """``mean_i [log π_θ(y_i) − log π_t(y_i) − η A_i]²``.

    Args:
      logp: ``(N,)`` ``log π_θ(y_i)`` (with gradients).
      old_logp: ``(N,)`` ``log π_t(y_i)`` (frozen target).
      advantages: ``(N,)`` ``A_i = P̂_i − 1/(k+1)``.
      eta: the SPPO step size ``η > 0``.

    Returns: a scalar tensor.
    """
    return ((logp - old_logp - eta * advantages) ** 2).mean()


def pg_loss(logp, advantages):
    """``−mean_i A_i log π_θ(y_i)`` (REINFORCE with the group-mean baseline ``1/(k+1)``).

    Args:
      logp: ``(N,)`` ``log π_θ(y_i)``; advantages: ``(N,)`` ``A_i``.

    Returns: a scalar tensor.
    """
    return -(advantages * logp).mean()


def exact_kl(logpi, ref_logpi):
    """``mean_p Σ_y π_θ(y|x_p) (log π_θ(y|x_p) − log π_ref(y|x_p))``: the exact KL over n fixed
    candidates, averaged over the prompts.

    Args:
      logpi: ``(P, n)`` normalised log-policy of ``π_θ`` over the candidates, per prompt.
      ref_logpi: ``(P, n)`` the same for ``π_ref``.

    Returns: a scalar tensor (``>= 0`` for normalised inputs, ``0`` iff equal).
    """
    return (logpi.exp() * (logpi - ref_logpi)).sum(-1).mean()


def k3_kl(token_logp, ref_token_logp, mask):
    """Per-token k3 estimate of ``KL(π_θ ‖ π_ref)`` on samples of ``π_θ``, averaged over each
    response's tokens, then over the responses:

        d_{i,t} = log π_ref(y_{i,t}) − log π_θ(y_{i,t}),   k3_{i,t} = e^{d} − d − 1 (>= 0),
        KL ≈ mean_i  Σ_t mask_{i,t} k3_{i,t} / max(1, Σ_t mask_{i,t}).

    Args:
      token_logp: ``(N, R)`` token log-likelihoods under ``π_θ``.
      ref_token_logp: ``(N, R)`` the same under ``π_ref``.
      mask: ``(N, R)`` bool (or 0/1), true on real response tokens.

    Returns: a scalar tensor.
    """
    import torch

    d = (ref_token_logp - token_logp) * mask
    k3 = (torch.exp(d) - d - 1) * mask
    return (k3.sum(-1) / mask.sum(-1).clamp(min=1)).mean()
