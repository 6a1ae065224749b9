"""nn losses and modules against torch where the sweep over torch's common_nn specs
(tests/nn/common_nn_sweep.py) found them to differ: double backward (``create_graph=True``) through
clamp (hinge, margin, cosine-embedding and triplet losses), rounding (softshrink) and
binary_cross_entropy, all in float64 against torch's second derivatives."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
import engine.functional as F  # noqa: E402
import nn  # noqa: E402


def _second_order(ours_fn, torch_fn, arrays, seed=0):
    """First and second derivatives of sum(f(*arrays) * c) on both sides: each first gradient, then the
    gradients of sum(first_i * v_i) w.r.t. every input. Float64; torch's autograd is the reference."""
    rng = np.random.default_rng(seed)
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    o_in = [engine.tensor(a, requires_grad=True) for a in arrays]
    t_out, o_out = torch_fn(*t_in), ours_fn(*o_in)
    np.testing.assert_allclose(o_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    c = rng.standard_normal(tuple(t_out.shape))
    t_g = torch.autograd.grad((t_out * torch.tensor(c)).sum(), t_in, create_graph=True)
    o_g = engine.autograd.grad((o_out * engine.tensor(c)).sum(), o_in, create_graph=True)
    for og, tg in zip(o_g, t_g):
        np.testing.assert_allclose(og.detach().numpy(), tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    t_gg = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(t_g, vs)), t_in,
                               allow_unused=True)
    o_gg = engine.autograd.grad(sum((g * engine.tensor(v)).sum() for g, v in zip(o_g, vs)), o_in,
                                allow_unused=True, materialize_grads=True)
    for og, tg in zip(o_gg, t_gg):  # rtol 1e-8 (the sweep's is 1e-6): torch's binary_cross_entropy
        # double backward puts an eps of 1e-12 in its denominator, (x + eps)² (1 - x + eps)², ours none
        want = np.zeros(og.shape) if tg is None else tg.numpy()
        np.testing.assert_allclose(og.detach().numpy(), want, rtol=1e-8, atol=1e-12)


def test_clamp_double_backward_as_torch():
    x = np.random.default_rng(1).standard_normal((4, 5))
    _second_order(lambda a: a.clamp(-0.5, 0.7) * a, lambda a: a.clamp(-0.5, 0.7) * a, [x])
    _second_order(lambda a: a.clamp(min=0.1) ** 2, lambda a: a.clamp(min=0.1) ** 2, [x])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_hinge_embedding_loss_double_backward_as_torch(reduction):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 4)), rng.choice([-1.0, 1.0], size=(6, 4))
    _second_order(lambda a: F.hinge_embedding_loss(a * a, engine.tensor(y), margin=0.8, reduction=reduction),
                  lambda a: torch.nn.functional.hinge_embedding_loss(a * a, torch.tensor(y), margin=0.8,
                                                                     reduction=reduction), [x])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_margin_ranking_and_cosine_embedding_double_backward_as_torch(reduction):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    y = rng.choice([-1.0, 1.0], size=5)
    _second_order(lambda p, q: nn.CosineEmbeddingLoss(margin=0.2, reduction=reduction)(p, q, engine.tensor(y)),
                  lambda p, q: torch.nn.CosineEmbeddingLoss(margin=0.2, reduction=reduction)(p, q, torch.tensor(y)),
                  [a, b])
    _second_order(lambda p, q: nn.MarginRankingLoss(0.3, reduction=reduction)((p * p).sum(1), q[:, 0],
                                                                              engine.tensor(y)),
                  lambda p, q: torch.nn.MarginRankingLoss(0.3, reduction=reduction)((p * p).sum(1), q[:, 0],
                                                                                    torch.tensor(y)), [a, b])


def test_triplet_margin_loss_double_backward_as_torch():
    rng = np.random.default_rng(4)
    a, p, n = (rng.standard_normal((4, 6)) for _ in range(3))
    _second_order(lambda *t: nn.TripletMarginLoss(margin=2.0)(*t),
                  lambda *t: torch.nn.TripletMarginLoss(margin=2.0)(*t), [a, p, n])


def test_softshrink_and_rounding_double_backward_as_torch():
    x = np.random.default_rng(5).standard_normal((3, 7))
    _second_order(lambda a: nn.Softshrink(0.3)(a) * a, lambda a: torch.nn.Softshrink(0.3)(a) * a, [x])
    _second_order(lambda a: a.floor() * a + a.round() * a * a, lambda a: a.floor() * a + a.round() * a * a, [x])


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_double_backward_as_torch(reduction, weighted):
    rng = np.random.default_rng(6)
    x = rng.uniform(0.05, 0.95, (5, 4))
    t = rng.uniform(0, 1, (5, 4))
    w = rng.uniform(0.5, 1.5, (4,))

    def ours(a, b):
        return F.binary_cross_entropy(a, b, weight=engine.tensor(w) if weighted else None, reduction=reduction)

    def theirs(a, b):
        return torch.nn.functional.binary_cross_entropy(a, b, weight=torch.tensor(w) if weighted else None,
                                                        reduction=reduction)

    _second_order(ours, theirs, [x, t])
    _second_order(lambda a, b: nn.BCELoss(reduction=reduction)(a, b),
                  lambda a, b: torch.nn.BCELoss(reduction=reduction)(a, b), [x, t])
