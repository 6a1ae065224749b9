"""nn.FractionalMaxPool2d/3d against torch.nn's: constructor errors, repr, the ``_random_samples``
buffer, and outputs, indices and input gradients for fixed samples (float64, inputs without ties)."""

import numpy as np
import pytest

import nn
from engine import Tensor

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("kwargs", [
    {}, {"output_size": 2, "output_ratio": 0.5}, {"output_ratio": 1.0}, {"output_ratio": 0.0},
    {"output_ratio": (0.5, -0.1, 0.5)}, {"output_ratio": 1.5},
])
def test_fractional_max_pool_constructor_errors_match_torch(nd, kwargs):
    if nd == 2 and isinstance(kwargs.get("output_ratio"), tuple):
        kwargs = {"output_ratio": kwargs["output_ratio"][:2]}
    name = f"FractionalMaxPool{nd}d"
    with pytest.raises(ValueError) as theirs:
        getattr(torch.nn, name)(2, **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(nn, name)(2, **kwargs)
    assert str(ours.value) == str(theirs.value)


def test_fractional_max_pool3d_kernel_size_error_matches_torch():
    with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
        torch.nn.FractionalMaxPool3d(0, output_size=2)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
        nn.FractionalMaxPool3d((2, 0, 2), output_size=2)


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_attributes_repr_and_buffer_match_torch(nd):
    name = f"FractionalMaxPool{nd}d"
    for kw in ({"output_size": 3}, {"output_ratio": 0.5}):
        t, o = getattr(torch.nn, name)(2, **kw), getattr(nn, name)(2, **kw)
        assert repr(o) == repr(t)
        assert (o.kernel_size, o.output_size, o.output_ratio, o.return_indices) == (
            t.kernel_size, t.output_size, t.output_ratio, t.return_indices)
        assert o._random_samples is None and t._random_samples is None
        assert list(o.state_dict()) == list(t.state_dict()) == []
    u = np.random.default_rng(0).random((1, 2, nd))
    t = getattr(torch.nn, name)(2, output_size=2, _random_samples=torch.tensor(u))
    o = getattr(nn, name)(2, output_size=2, _random_samples=Tensor(u))
    assert list(o.state_dict()) == list(t.state_dict()) == ["_random_samples"]
    theirs = t.state_dict()["_random_samples"].numpy()
    np.testing.assert_array_equal(np.asarray(o.state_dict()["_random_samples"]), theirs)
    assert [n for n, _ in o.named_buffers()] == [n for n, _ in t.named_buffers()]


@pytest.mark.parametrize("nd,shape,kernel,kw", [
    (2, (2, 3, 9, 7), 2, {"output_size": (4, 3)}),
    (2, (3, 8, 10), (3, 2), {"output_ratio": (0.5, 0.7)}),
    (3, (2, 2, 6, 5, 7), (2, 1, 3), {"output_size": (3, 4, 2)}),
    (3, (2, 7, 6, 8), 2, {"output_ratio": 0.5}),
])
def test_fractional_max_pool_forward_indices_and_grad_match_torch(nd, shape, kernel, kw):
    rng = np.random.default_rng(nd)
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) / 7  # no ties
    n, c = (1, shape[0]) if len(shape) == nd + 1 else shape[:2]
    u = rng.random((n, c, nd))
    name = f"FractionalMaxPool{nd}d"
    t = getattr(torch.nn, name)(kernel, return_indices=True, _random_samples=torch.tensor(u), **kw)
    o = getattr(nn, name)(kernel, return_indices=True, _random_samples=Tensor(u), **kw)
    tx, ox = torch.tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    (ty, ti), (oy, oi) = t(tx), o(ox)
    np.testing.assert_array_equal(oy.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(oi.numpy(), ti.numpy())
    g = rng.standard_normal(ty.shape)
    ty.backward(torch.tensor(g))
    oy.backward(Tensor(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=0, atol=1e-12)


def test_fractional_max_pool2d_draws_new_samples_each_call_like_torch():
    x = Tensor(np.random.default_rng(1).permutation(484).reshape(1, 4, 11, 11).astype(np.float32))
    m = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    outs = [m(x).numpy() for _ in range(4)]
    assert outs[0].shape == tuple(torch.nn.FractionalMaxPool2d(2, output_ratio=0.5)(torch.tensor(x.numpy())).shape)
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])
    assert m._random_samples is None
