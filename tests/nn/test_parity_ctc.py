"""F.ctc_loss / nn.CTCLoss (engine/ctc.py, composed of engine ops) against torch: every reduction,
zero_infinity, another blank index, padded and concatenated targets, unbatched input; loss and
the gradient with respect to the logits under log_softmax, float64 to 1e-10 and float32 to 1e-5.

torch's CTC backward returns a gradient for log_probs that is only right once it has gone through
log_softmax (it folds in the softmax term), so gradients are compared at the logits, which is
where a model's gradient is taken."""

from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

TOL = {"float64": 1e-10, "float32": 1e-5}


def _case(seed, T=7, N=3, C=5, S=3, blank=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(T, N, C))
    labels = [c for c in range(C) if c != blank]
    tg = rng.choice(labels, size=(N, S))
    tg[0, 1] = tg[0, 0]  # a repeated label needs a blank between
    il = rng.integers(S + 2, T + 1, size=N)
    tl = rng.integers(1, S + 1, size=N)
    tl[0] = S
    return logits, tg, il, tl


def _both(logits, tg, il, tl, dtype, module=False, **kw):
    tdt = getattr(torch, dtype)
    tx = torch.tensor(logits, dtype=tdt, requires_grad=True)
    ox = Tensor(logits.astype(dtype), requires_grad=True)
    targs = (torch.tensor(tg), torch.tensor(il), torch.tensor(tl))
    if module:
        tloss = torch.nn.CTCLoss(**kw)(tx.log_softmax(-1), *targs)
        oloss = nn.CTCLoss(**kw)(ox.log_softmax(-1), tg, il, tl)
    else:
        tloss = torch.nn.functional.ctc_loss(tx.log_softmax(-1), *targs, **kw)
        oloss = F.ctc_loss(ox.log_softmax(-1), tg, il, tl, **kw)
    tol = TOL[dtype]
    assert oloss.shape == tuple(tloss.shape)
    np.testing.assert_allclose(oloss.numpy(), tloss.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(1).normal(size=tuple(tloss.shape))
    (tloss * torch.tensor(g, dtype=tdt)).sum().backward()
    (oloss * Tensor(g.astype(dtype))).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", [0, 1])
def test_ctc_equals_torch(reduction, dtype, seed):
    _both(*_case(seed), dtype, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_ctc_module_blank_index(reduction):
    _both(*_case(2, blank=4), "float64", module=True, blank=4, reduction=reduction)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_zero_infinity_on_an_impossible_alignment(reduction):
    logits, tg, il, tl = _case(3)
    tg[1] = [2, 2, 2]
    tl[1], il[1] = 3, 4  # needs 5 frames (3 labels + 2 blanks between repeats)
    _both(logits, tg, il, tl, "float64", zero_infinity=True, reduction=reduction)
    loss = F.ctc_loss(Tensor(logits).log_softmax(-1), tg, il, tl, reduction="none")
    t = torch.nn.functional.ctc_loss(torch.tensor(logits).log_softmax(-1), torch.tensor(tg), torch.tensor(il),
                                     torch.tensor(tl), reduction="none")
    assert np.isinf(loss.numpy()[1]) and np.isinf(t.numpy()[1])


def test_concatenated_targets_and_empty_target():
    logits, tg, il, tl = _case(4)
    tl[2] = 0
    flat = np.concatenate([tg[n, : tl[n]] for n in range(3)])
    _both(logits, flat, il, tl, "float64", reduction="none")
    _both(logits, flat, il, tl, "float64", reduction="mean")


def test_unbatched():
    logits, tg, il, tl = _case(5, N=1)
    _both(logits[:, 0], tg[0], il[0], tl[0], "float64", reduction="none")
    _both(logits[:, 0], tg[0], il[0], tl[0], "float64", reduction="mean")


def test_bad_arguments_raise():
    lp = Tensor(np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match="ctc_loss"):
        F.ctc_loss(lp, np.array([[1], [0]]), [4, 4], [1, 1])  # a target equal to blank
    with pytest.raises(ValueError, match="ctc_loss"):
        F.ctc_loss(lp, np.array([[1], [1]]), [5, 4], [1, 1])  # input length > T
    with pytest.raises(ValueError, match="reduction"):
        F.ctc_loss(lp, np.array([[1], [1]]), [4, 4], [1, 1], reduction="avg")
