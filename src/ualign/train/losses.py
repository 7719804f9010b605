"""The self-play losses as pure tensor functions (THEORY §8).

Notation, for one step: ``N = P·G`` samples ``y_i`` (P prompts, G samples each), the policy being
trained ``π_θ``, the policy that drew the samples ``π_t`` (frozen), a reference ``π_ref``, and the
advantage ``A_i = P̂_i − 1/(k+1)`` (leave-one-out payoff estimate minus its group mean).

- SPPO form:  ``mean_i [log π_θ(y_i) − log π_t(y_i) − η A_i]²``; its minimiser is the Hedge step
  ``log π_{t+1}(y) = log π_t(y) + η (L(π_t, y) − 1/(k+1))`` up to normalisation (THEORY §5).
  With a reference (SPPO-with-reference, strength ``τ > 0``): the target becomes the magnetic
  mirror descent step of the KL-regularised game (:func:`sppo_loss`).
- Policy-gradient form: ``−mean_i A_i log π_θ(y_i) + kl_coef · KL(π_θ ‖ π_ref)``, with the KL
  exact over n fixed candidates (:func:`exact_kl`) or a per-token k3 estimate for free text
  (:func:`k3_kl`).

The policy itself may be tempered and truncated (:func:`tempered_token_logps`): the log-likelihood
of a token is taken under the same temperature / top-k / top-p warping that sampled it, so the
trained policy is the distribution the samples come from.

Every function takes and returns torch tensors and has no other effect; gradients flow through
the ``π_θ`` arguments.

References: THEORY.md §5, §8.
"""

from __future__ import annotations

__all__ = ["exact_kl", "k3_kl", "pg_loss", "sppo_loss", "tempered_token_logps"]


def sppo_loss(logp, old_logp, advantages, eta: float, ref_logp=None, tau: float = 0.0,
              group_size: int | None = None):
    """``mean_i [log π_θ(y_i) − target_i]²``, the SPPO regression.

    - ``tau = 0`` (no reference): ``target_i = log π_t(y_i) + η A_i``, the Hedge step.
    - ``tau > 0`` (SPPO-with-reference): ``target_i = log π_t(y_i) + η (A_i − τ r̃_i) / (1 + ητ)``
      with ``r_i = log π_t(y_i) − log π_ref(y_i)`` and ``r̃_i = r_i − mean_{j in i's group} r_j``.
      This is the magnetic mirror descent step of the KL-regularised game (THEORY §5):
      ``log π_{t+1} = (log π_t + η L + ητ log π_ref) / (1 + ητ) − log Z``, the group mean of
      ``r`` (an unbiased estimate of ``KL(π_t ‖ π_ref)``) standing in for ``log Z`` to first
      order as ``1/(k+1)`` does for the payoff. Its fixed point is the regularised equilibrium
      ``π_τ(y) ∝ π_ref(y) exp(L(π_τ, y) / τ)`` (``solve_nlhf(tau=τ, reference=...)``,
      ``solve_ualign(method="mmd", tau=τ, reference=...)``).

    Args:
      logp: ``(N,)`` ``log π_θ(y_i)`` (with gradients).
      old_logp: ``(N,)`` ``log π_t(y_i)`` (frozen target).
      advantages: ``(N,)`` ``A_i = P̂_i − 1/(k+1)`` (mean 0 in each group).
      eta: the SPPO step size ``η > 0``.
      ref_logp: ``(N,)`` ``log π_ref(y_i)``; needed when ``tau > 0``.
      tau: the KL strength ``τ >= 0``.
      group_size: G, the samples of one prompt being consecutive (``N = P·G``); needed when
        ``tau > 0``.

    Returns: a scalar tensor.
    """
    if tau == 0:
        return ((logp - old_logp - eta * advantages) ** 2).mean()
    if ref_logp is None or group_size is None:
        raise ValueError("sppo_loss with tau > 0 needs ref_logp and group_size")
    r = (old_logp - ref_logp).view(-1, group_size)
    r = (r - r.mean(-1, keepdim=True)).reshape(-1)
    step = eta * (advantages - tau * r) / (1 + eta * tau)
    return ((logp - old_logp - step) ** 2).mean()


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


def tempered_token_logps(logits, targets, temperature: float = 1.0, top_k: int = 0,
                         top_p: float = 1.0, keep_targets: bool = False):
    """``log π(y_t | ·)`` of ``targets`` under the tempered, truncated next-token distribution
    that ``transformers``' sampling draws from (its warpers, in its order):

        z = logits / T;   top-k: z_v = −inf where z_v < (k-th largest z);
        top-p: sort ascending, z_v = −inf where the cumulative softmax mass up to v is
               <= 1 − p (the largest token always kept);
        log π(v) = z_v − logsumexp(z).

    At ``T = 1, top_k = 0, top_p = 1`` this is ``logit − logsumexp(logits)`` with no other
    operation (the untempered model, bit for bit).

    Args:
      logits: ``(..., V)`` raw next-token logits (float).
      targets: ``(...)`` int64 token ids.
      temperature: ``T > 0``.
      top_k: keep the k largest logits (0 = all).
      top_p: nucleus mass in ``(0, 1]`` (1 = all).
      keep_targets: keep each target in its own support even if the truncation removes it, so
        its log-probability is finite. A sampled token can only leave the support through
        rounding (the batched forward pass differs from generation's cached one in the last
        bits) or when scored by another policy (the reference); with ``False`` such a token
        gets ``−inf``.

    Returns: ``(...)`` log-probabilities.
    """
    import torch

    z = logits / temperature if temperature != 1.0 else logits
    remove = None
    if top_k and top_k > 0:
        kth = torch.topk(z, min(int(top_k), z.shape[-1]), dim=-1).values[..., -1:]
        remove = z < kth
    if top_p < 1.0:
        zk = z if remove is None else z.masked_fill(remove, float("-inf"))
        srt, idx = torch.sort(zk, dim=-1, descending=False)
        drop = srt.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        drop[..., -1:] = False
        drop = drop.scatter(-1, idx, drop)
        remove = drop if remove is None else (remove | drop)
    if remove is not None:
        if keep_targets:
            remove = remove.scatter(-1, targets[..., None], False)
        z = z.masked_fill(remove, float("-inf"))
    return z.gather(-1, targets[..., None])[..., 0] - torch.logsumexp(z, dim=-1)
