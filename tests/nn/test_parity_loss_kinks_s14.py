"""Losses at the points where a composed form has a kink that torch's formula does not: logits of
exactly 0 (BCE-with-logits, soft margin, multilabel soft margin: the gradient is sigmoid's, not the
0 that relu + abs subgradients give) and margins met exactly (torch's clamp_min passes the gradient
at 0). Values and float64 gradients against torch's autograd. Also the loss modules' legacy
size_average/reduce flags: the reduction they map to and the warning that names it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine.functional as F
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

RNG = np.random.default_rng(0)
ZEROS = np.zeros((2, 3))
PROBS = RNG.uniform(0, 1, (2, 3))
SIGNS = np.array([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])
PW = np.array([0.5, 2.0, 1.5])

# name -> (args, kwargs, indices of the args that get a gradient)
CASES = {
    "bce_logits_zero": ("binary_cross_entropy_with_logits", [ZEROS, PROBS], {}, (0, 1)),
    "bce_logits_zero_pos_weight": ("binary_cross_entropy_with_logits", [ZEROS, PROBS],
                                   {"pos_weight": PW, "weight": PW[::-1].copy()}, (0, 1)),
    "bce_logits_mixed": ("binary_cross_entropy_with_logits", [np.array([[0.0, 40.0, -40.0]]), PROBS[:1]], {}, (0,)),
    "soft_margin_zero": ("soft_margin_loss", [ZEROS, SIGNS], {}, (0,)),
    "multilabel_soft_margin_zero": ("multilabel_soft_margin_loss", [ZEROS, PROBS], {"weight": PW}, (0,)),
    "margin_ranking_tie": ("margin_ranking_loss", [np.array([1.0, 2.0, 3.0]), np.array([1.5, 1.5, 3.0]),
                                                   np.array([1.0, -1.0, 1.0])], {"margin": 0.0}, (0, 1)),
    "margin_ranking_tie_margin": ("margin_ranking_loss", [np.array([1.0, 2.0]), np.array([1.5, 2.5]),
                                                          np.array([-1.0, 1.0])], {"margin": 0.5}, (0, 1)),
    "hinge_embedding_tie": ("hinge_embedding_loss", [np.array([1.0, 0.5, 2.0]), np.array([-1.0, -1.0, 1.0])],
                            {"margin": 1.0}, (0,)),
    "cosine_embedding_tie": ("cosine_embedding_loss", [np.array([[1.0, 0.0], [1.0, 2.0]]),
                                                       np.array([[0.0, 1.0], [2.0, 1.0]]), np.array([-1.0, -1.0])],
                             {"margin": 0.0}, (0, 1)),
    "triplet_margin_tie": ("triplet_margin_loss", [np.array([[0.0, 0.0], [0.0, 1.0]]),
                                                   np.array([[1.0, 0.0], [0.0, 0.0]]),
                                                   np.array([[2.0, 0.0], [3.0, 1.0]])],
                           {"margin": 1.0, "eps": 0.0}, (0, 1, 2)),
}


def _run(lib, name, args, kw, grad_idx, reduction, dtype):
    make = (lambda a, g: torch.tensor(a.astype(dtype), requires_grad=g)) if lib is torch else (
        lambda a, g: Tensor(a.astype(dtype), requires_grad=g))
    inputs = [make(a, i in grad_idx) for i, a in enumerate(args)]
    kwargs = {k: make(v, False) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    out = getattr(TF if lib is torch else F, name)(*inputs, reduction=reduction, **kwargs)
    seed = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(dtype)
    out.backward(torch.tensor(seed) if lib is torch else Tensor(seed))
    value = out.detach().numpy() if lib is torch else out.numpy()
    return value, [inputs[i].grad.numpy() for i in grad_idx]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_at_the_kink_equals_torch(case, reduction, dtype, tol):
    name, args, kw, grad_idx = CASES[case]
    ours, ours_grads = _run(None, name, args, kw, grad_idx, reduction, dtype)
    theirs, their_grads = _run(torch, name, args, kw, grad_idx, reduction, dtype)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    for o, t in zip(ours_grads, their_grads):
        assert o.dtype == dtype
        np.testing.assert_allclose(o, t, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "NLLLoss", "CrossEntropyLoss", "BCELoss", "KLDivLoss"])
@pytest.mark.parametrize("kw", [{"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True},
                                {"size_average": False, "reduce": False}])
def test_legacy_reduction_flags_warn_and_map_as_torch(name, kw):
    def build(lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = getattr(lib, name)(**kw)
        return module.reduction, [str(w.message) for w in caught]

    assert build(nn) == build(torch.nn)
