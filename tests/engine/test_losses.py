"""Edges of F's losses against torch: empty batches, every target ignored, unbatched input,
classes on dim 1 of N-d input with probabilities, in float32 and float64 (values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest

import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

DTYPES = [np.float32, np.float64]


def both(name, x, target, dtype, grad=True, **kw):
    """(ours, theirs) of loss ``name`` on logits ``x`` (cast to dtype) and an int or float target."""
    x = np.asarray(x, dtype=dtype)
    tkw = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    a, ta = Tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)
    t = target.astype(dtype) if target.dtype.kind == "f" else target
    y = getattr(F, name)(a, Tensor(t), **kw)
    ty = getattr(TF, name)(ta, torch.as_tensor(t), **tkw)
    return a, ta, y, ty


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_an_empty_batch_gives_torchs_value_and_a_zero_gradient(dtype, name, reduction):
    x, t = np.zeros((0, 4)), np.zeros(0, np.int64)
    a, ta, y, ty = both(name, x, t, dtype, reduction=reduction)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())  # mean: nan (0/0), sum: 0
    y.sum().backward()
    ty.sum().backward()
    assert a.grad.shape == (0, 4) and tuple(ta.grad.shape) == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, {"weight": np.ones(3)}, {"label_smoothing": 0.3}, {"ignore_index": 2}])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_every_target_ignored_gives_nan_for_mean_and_zero_for_sum(dtype, kw, name):
    if name == "nll_loss" and "label_smoothing" in kw:
        return
    ignore = kw.get("ignore_index", -100)
    kw = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    t = np.full((4, 2), ignore)
    for reduction in ("mean", "sum"):
        a, ta, y, ty = both(name, x, t, dtype, reduction=reduction, **kw)
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        assert np.isnan(y.item()) == (reduction == "mean")
        if reduction == "sum":
            y.backward()
            ty.backward()
            np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
            assert not a.grad.numpy().any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_input_and_probability_targets_on_dim_1(dtype):
    rng = np.random.default_rng(1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    # (C,) logits and a 0-d class index
    a, ta, y, ty = both("cross_entropy", rng.standard_normal(5), np.array(3), dtype)
    np.testing.assert_allclose(y.item(), ty.item(), rtol=tol)
    # (N, C, H, W) logits with (N, C, H, W) probabilities, smoothed
    p = rng.random((2, 3, 2, 2))
    p /= p.sum(axis=1, keepdims=True)
    a, ta, y, ty = both("cross_entropy", rng.standard_normal((2, 3, 2, 2)), p, dtype, label_smoothing=0.1)
    np.testing.assert_allclose(y.item(), ty.item(), rtol=tol)
    y.backward()
    ty.backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss_weighted_mean_divides_by_the_weights_of_the_counted_targets(dtype):
    rng = np.random.default_rng(2)
    x, t, w = rng.standard_normal((6, 4)), np.array([0, 1, 1, 3, -100, 2]), rng.random(4) + 0.5
    a, ta, y, ty = both("nll_loss", x, t, dtype, weight=w.astype(dtype))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.item(), ty.item(), rtol=tol)
    keep = t != -100
    want = -(w[t[keep]] * x[keep, t[keep]]).sum() / w[t[keep]].sum()  # plain NumPy
    np.testing.assert_allclose(y.item(), want, rtol=tol)
