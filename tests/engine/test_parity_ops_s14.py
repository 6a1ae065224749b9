"""Tensor ops against torch where earlier parity tests did not reach: gradients through empty
tensors, assignment of values with extra leading 1-dims, ... (session 14)."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def pair(a, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return Tensor(a.copy(), requires_grad=True), torch.tensor(a, requires_grad=True)


def same(ours, theirs, what=""):
    theirs = theirs.detach().numpy()
    ours = ours.numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} vs torch {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-12, equal_nan=True, err_msg=what)


def first(out):
    return out[0] if isinstance(out, tuple) else out


EMPTY_DIM_OPS = {
    "max": lambda t, d: t.max(d), "min": lambda t, d: t.min(d), "median": lambda t, d: t.median(d),
    "nanmedian": lambda t, d: t.nanmedian(d), "mode": lambda t, d: t.mode(d), "sort": lambda t, d: t.sort(d),
    "cummax": lambda t, d: t.cummax(d), "cummin": lambda t, d: t.cummin(d), "topk": lambda t, d: t.topk(0, d),
    "prod": lambda t, d: t.prod(d), "prod_all": lambda t, d: t.prod(), "amax": lambda t, d: t.amax(d),
}


@pytest.mark.parametrize("name", list(EMPTY_DIM_OPS))
@pytest.mark.parametrize("shape, dim", [((0, 3), 1), ((3, 0), 0), ((2, 0, 3), -1), ((3, 0), 1), ((0,), 0)])
def test_ops_along_a_dim_of_an_empty_tensor_and_their_gradients(name, shape, dim):
    fn = EMPTY_DIM_OPS[name]
    x, tx = pair(np.zeros(shape))
    try:
        tout = first(fn(tx, dim))
    except (IndexError, RuntimeError) as e:  # reducing an empty dim: torch refuses, and so do we
        with pytest.raises(type(e)):
            fn(x, dim)
        return
    out = first(fn(x, dim))
    same(out, tout, name)
    g = np.ones(out.shape)
    out.backward(Tensor(g))
    tout.backward(torch.tensor(g))
    same(x.grad, tx.grad, name)


@pytest.mark.parametrize("index, vshape", [((0,), (1, 4, 5)), ((0,), (1, 1, 4, 5)), ((slice(None), 1), (1, 3, 5)),
                                           ((Ellipsis, 0), (1, 1, 4)), ((0, 0, 0), (1, 1))])
def test_setitem_of_a_value_with_extra_leading_ones_as_torch(index, vshape):
    rng = np.random.default_rng(0)
    x, tx = pair(rng.standard_normal((3, 4, 5)))
    v, tv = pair(rng.standard_normal(vshape))
    y, ty = x * 1, tx * 1
    y[index] = v
    ty[index] = tv
    same(y, ty, "value")
    g = rng.standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    same(x.grad, tx.grad, "grad of the tensor")
    same(v.grad, tv.grad, "grad of the value")


@pytest.mark.parametrize("grad", [False, True])
def test_setitem_of_a_value_that_does_not_broadcast_is_a_runtime_error(grad):
    x = engine.zeros(3, 4, 5, requires_grad=grad) * 1
    with pytest.raises(Exception) as theirs:
        torch.zeros(3, 4, 5)[0] = torch.zeros(2, 5)
    with pytest.raises(type(theirs.value), match=r"\(2, 5\).*\(4, 5\)"):
        x[0] = engine.zeros(2, 5)
