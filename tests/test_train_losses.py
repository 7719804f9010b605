"""The self-play losses (train/losses.py): hand-computed small cases, identities, gradients."""

import math

import pytest

pytest.importorskip("torch")

import torch

from ualign.train.losses import exact_kl, k3_kl, pg_loss, sppo_loss

torch.set_num_threads(1)
D = torch.float64


def t(x):
    return torch.tensor(x, dtype=D)


def test_sppo_hand_computed():
    # residuals: -1 + 1.5 - 1*0.5 = 0 and -2 + 2 + 0.5 = 0.5  ->  mean(0, 0.25)
    got = sppo_loss(t([-1.0, -2.0]), t([-1.5, -2.0]), t([0.5, -0.5]), eta=1.0)
    assert float(got) == pytest.approx(0.125, abs=1e-15)
    # eta scales the advantage: residuals -1 + 1.5 - 1 = -0.5 and -2 + 2 + 1 = 1
    got = sppo_loss(t([-1.0, -2.0]), t([-1.5, -2.0]), t([0.5, -0.5]), eta=2.0)
    assert float(got) == pytest.approx((0.25 + 1.0) / 2, abs=1e-15)


def test_sppo_minimiser_is_the_hedge_step():
    """The loss is 0 exactly at log π_θ = log π_t + η A (THEORY §5), and its gradient is
    2/N (log π_θ - log π_t - η A)."""
    old, A, eta = t([-0.3, -1.2, -2.5]), t([0.2, -0.1, -0.1]), 0.7
    assert float(sppo_loss(old + eta * A, old, A, eta)) == pytest.approx(0.0, abs=1e-30)
    logp = t([-0.1, -1.0, -3.0]).requires_grad_()
    sppo_loss(logp, old, A, eta).backward()
    torch.testing.assert_close(logp.grad, 2 / 3 * (logp.detach() - old - eta * A), rtol=0,
                               atol=1e-15)


def test_pg_hand_computed_and_gradient():
    # -mean(0.5 * -1, -0.5 * -2) = -mean(-0.5, 1) = -0.25
    logp = t([-1.0, -2.0]).requires_grad_()
    A = t([0.5, -0.5])
    loss = pg_loss(logp, A)
    assert float(loss.detach()) == pytest.approx(-0.25, abs=1e-15)
    loss.backward()
    torch.testing.assert_close(logp.grad, -A / 2, rtol=0, atol=1e-15)


def test_exact_kl_hand_computed():
    pi, ref = t([[0.5, 0.5]]), t([[0.25, 0.75]])
    want = 0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)      # = ½ ln(4/3)
    assert float(exact_kl(pi.log(), ref.log())) == pytest.approx(want, abs=1e-15)
    assert float(exact_kl(pi.log(), pi.log())) == 0.0
    # averaged over prompts
    two = exact_kl(torch.cat([pi, pi]).log(), torch.cat([ref, pi]).log())
    assert float(two) == pytest.approx(want / 2, abs=1e-15)


def test_k3_kl_hand_computed_and_masked():
    # one real token with π = 0.5, π_ref = 0.25: d = -ln 2, k3 = e^d - d - 1 = ½ + ln 2 - 1
    tok = t([[math.log(0.5), 0.0], [0.0, 0.0]])
    ref = t([[math.log(0.25), 5.0], [3.0, -3.0]])       # masked entries must not count
    mask = torch.tensor([[True, False], [False, False]])
    want_row = 0.5 + math.log(2) - 1
    assert float(k3_kl(tok, ref, mask)) == pytest.approx(want_row / 2, abs=1e-15)
    # two real tokens: the per-response mean over its tokens
    mask2 = torch.tensor([[True, True], [False, False]])
    tok2, ref2 = t([[math.log(0.5), math.log(0.5)], [0, 0]]), t([[math.log(0.25)] * 2, [0, 0]])
    assert float(k3_kl(tok2, ref2, mask2)) == pytest.approx(want_row / 2, abs=1e-15)


def test_k3_is_unbiased_for_the_kl():
    """E_{y~π}[k3(y)] = KL(π ‖ ref) exactly (Σ_y π(y) ref(y)/π(y) = 1): weight one-token
    responses by π and compare with the exact KL."""
    pi, ref = t([0.1, 0.6, 0.3]), t([0.3, 0.3, 0.4])
    d = ref.log() - pi.log()
    expect_k3 = float((pi * (d.exp() - d - 1)).sum())
    kl = float(exact_kl(pi.log()[None], ref.log()[None]))
    assert expect_k3 == pytest.approx(kl, abs=1e-15)
    # and k3_kl on the three one-token responses is their unweighted mean of k3
    mask = torch.ones(3, 1, dtype=torch.bool)
    got = k3_kl(pi.log()[:, None], ref.log()[:, None], mask)
    assert float(got) == pytest.approx(float((d.exp() - d - 1).mean()), abs=1e-15)


@pytest.mark.parametrize("which", ["sppo", "pg", "exact_kl", "k3_kl"])
def test_gradients_match_finite_differences(which):
    g = torch.Generator().manual_seed(0)
    N = 5
    old, A = torch.randn(N, generator=g, dtype=D), torch.randn(N, generator=g, dtype=D) * 0.1
    ref_tok = torch.randn(N, 3, generator=g, dtype=D) - 1
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    ref_pol = torch.log_softmax(torch.randn(2, 4, generator=g, dtype=D), -1)
    fns = {
        "sppo": (lambda x: sppo_loss(x, old, A, 0.8), (N,)),
        "pg": (lambda x: pg_loss(x, A), (N,)),
        "exact_kl": (lambda x: exact_kl(torch.log_softmax(x, -1), ref_pol), (2, 4)),
        "k3_kl": (lambda x: k3_kl(x * mask, ref_tok, mask), (N, 3)),
    }
    fn, shape = fns[which]
    x = (torch.randn(*shape, generator=g, dtype=D) - 1).requires_grad_()
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-8)
