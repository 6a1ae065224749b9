"""nn.utils against torch.nn.utils: clip_grad_norm_ (every norm_type, the returned 0-d Tensor,
error_if_nonfinite), clip_grad_value_, parameters_to_vector / vector_to_parameters."""

import math

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity

SHAPES = [(3, 4), (5,), (2, 1, 2)]


def _pair(dtype, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(dtype) * scale for s in SHAPES]
    ours, theirs = [], []
    for g in grads:
        p = nn.Parameter(np.zeros(g.shape, dtype=dtype))
        p.grad = Tensor(g.copy())
        t = torch.nn.Parameter(torch.zeros(g.shape, dtype=getattr(torch, dtype)))
        t.grad = torch.tensor(g.copy())
        ours.append(p)
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-6)])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_equals_torch(norm_type, max_norm, dtype, tol):
    ours, theirs = _pair(dtype)
    n_o = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    n_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(n_o, Tensor) and n_o.shape == () and n_o.dtype == np.dtype(dtype)
    np.testing.assert_allclose(n_o.item(), n_t.item(), rtol=tol)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_clip_grad_norm_error_if_nonfinite_as_torch():
    ours, theirs = _pair("float64")
    ours[0].grad.data[0, 0] = np.inf
    theirs[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_(ours, 1.0).item())


def test_clip_grad_norm_single_tensor_and_no_grads():
    p = nn.Parameter(np.array([3.0, 4.0]))
    p.grad = Tensor(np.array([3.0, 4.0]))
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    q = nn.Parameter(np.ones(2))
    assert nn.utils.clip_grad_norm_([q], 1.0).item() == 0.0


def test_clip_grad_value_equals_torch():
    ours, theirs = _pair("float64", scale=3.0)
    nn.utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_parameters_vector_round_trip_equals_torch():
    ours, theirs = _pair("float64")
    for p, t in zip(ours, theirs):
        p.data[...] = np.arange(p.numel()).reshape(p.shape)
        t.data[...] = torch.arange(t.numel(), dtype=torch.float64).reshape(t.shape)
    v_o = nn.utils.parameters_to_vector(ours)
    v_t = torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(v_o.numpy(), v_t.detach().numpy())
    new = np.random.default_rng(3).standard_normal(v_o.shape)
    nn.utils.vector_to_parameters(Tensor(new), ours)
    torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs)
    for p, t in zip(ours, theirs):
        np.testing.assert_array_equal(p.numpy(), t.detach().numpy())
