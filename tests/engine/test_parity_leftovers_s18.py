"""Session 18 leftovers of the OpInfo sweep, each against torch."""

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


@pytest.mark.parametrize("a, b", [(-6, 2j), (1.5, 2j), (True, 2), (True, False), (2, 3.0), (2.5, -1), (False, 1.5)])
@pytest.mark.parametrize("default", ["float32", "float64"])
def test_where_two_numbers_promote_as_torch(a, b, default):
    # two Python numbers: bool < int64 < the default float < its complex (complex64 under float32)
    before_ours, before_torch = engine.get_default_dtype(), torch.get_default_dtype()
    engine.set_default_dtype(getattr(engine, default))
    torch.set_default_dtype(getattr(torch, default))
    try:
        ours = engine.where(engine.tensor([True, False, True]), a, b)
        ref = torch.where(torch.tensor([True, False, True]), a, b)
    finally:
        engine.set_default_dtype(before_ours)
        torch.set_default_dtype(before_torch)
    assert str(ours.dtype) == str(ref.dtype).removeprefix("torch.")
    assert ours.tolist() == ref.tolist()


@pytest.mark.parametrize("fn", ["add", "sub", "mul", "div", "true_divide", "pow", "float_power"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_a_complex_number_first_promotes_as_torch(fn, dtype):
    # torch.add(2j, t): the number as a 0-d tensor of the result's complex dtype (before: a TypeError)
    x = engine.tensor([1, 2, 3], dtype=getattr(engine, dtype))
    ours = getattr(engine, fn)(0.5 + 2j, x)
    ref = getattr(torch, fn)(0.5 + 2j, torch.tensor([1, 2, 3], dtype=getattr(torch, dtype)))
    assert str(ours.dtype) == str(ref.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-6 if ref.dtype == torch.complex64 else 1e-14)


@pytest.mark.parametrize("fn, a, b", [("add", -8, 6), ("sub", -8, 6), ("mul", True, True), ("div", True, True),
                                      ("true_divide", 3, 2), ("floor_divide", 5.5, 2), ("add", 2j, 1),
                                      ("multiply", 2, 2.5), ("pow", 2, 3), ("remainder", 5.5, 2)])
def test_two_numbers_as_torch(fn, a, b):
    # torch.add(-8, 6) is tensor(-2): the first number as a 0-d tensor; pow/remainder refuse two numbers
    try:
        ref = getattr(torch, fn)(a, b)
    except TypeError:
        with pytest.raises(TypeError):
            getattr(engine, fn)(a, b)
        return
    ours = getattr(engine, fn)(a, b)
    assert str(ours.dtype) == str(ref.dtype).removeprefix("torch.") and ours.shape == tuple(ref.shape)
    assert ours.item() == ref.item()


def test_floor_divide_takes_a_number_first():
    x = np.array([2.0, -3.0, 0.5])
    assert engine.floor_divide(5.5, engine.tensor(x)).tolist() == torch.floor_divide(5.5, torch.tensor(x)).tolist()


@pytest.mark.parametrize("shape, dims", [((5, 4, 0, 1, 3, 7), (4, 5)), ((0, 3, 2), (1,)), ((2, 0, 3), (0, 1)),
                                         ((3, 0), ())])
def test_flatten_with_a_size_zero_dim(shape, dims):
    # a size-0 dim outside the merged ones left reshape's -1 undetermined
    assert engine.zeros(*shape).flatten(*dims).shape == tuple(torch.zeros(*shape).flatten(*dims).shape)


def test_group_norm_of_an_empty_batch():
    w = np.array([-4.8, -7.5])
    x = engine.zeros(0, 2, dtype=engine.float64, requires_grad=True)
    y = engine.functional.group_norm(x, 1, weight=engine.tensor(w), bias=engine.tensor(w))
    ref = torch.nn.functional.group_norm(torch.zeros(0, 2, dtype=torch.float64), 1, torch.tensor(w), torch.tensor(w))
    assert y.shape == tuple(ref.shape)
    y.sum().backward()
    assert x.grad.shape == (0, 2)


def test_histogram_of_no_data_spans_zero_to_one():
    ours = engine.histogramdd(engine.zeros(0, 2, dtype=engine.float64), (2, 3), density=True)
    ref = torch.histogramdd(torch.zeros(0, 2, dtype=torch.float64), (2, 3), density=True)
    for o, r in zip(ours.bin_edges, ref.bin_edges):
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=1e-15)
    np.testing.assert_allclose(engine.histogram(engine.zeros(0, dtype=engine.float64), 4).bin_edges.numpy(),
                               torch.histogram(torch.zeros(0, dtype=torch.float64), 4).bin_edges.numpy(), rtol=1e-15)


def test_igamma_edges_in_torchs_order():
    # torch's calc_igamma: the first edge that holds decides (igamma(nan, 0) is 0, igamma(inf, nan) is 0)
    vals = [0.0, 1.0, 2.5, np.inf, -np.inf, np.nan, -1.0]
    a, x = (np.array(v, dtype=np.float64) for v in zip(*[(p, q) for p in vals for q in vals]))
    for fn in ("igamma", "igammac"):
        ours = getattr(engine, fn)(engine.tensor(a), engine.tensor(x)).numpy()
        ref = getattr(torch, fn)(torch.tensor(a), torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=0, equal_nan=True)


def test_xlog1py_gradient_to_x_at_zero_is_log1p_y():
    # torch: d/dx xlog1py(x, y) = log1p(y) at x = 0 too, 0 only where y <= -1 (before: 0 at every x = 0)
    a = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    b = np.array([3.0, -0.5, -1.0, -2.0, 1.5, np.nan])
    x, y = engine.tensor(a, requires_grad=True), engine.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    engine.special.xlog1py(x, y).sum().backward()
    torch.special.xlog1py(tx, ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15, equal_nan=True)
    np.testing.assert_allclose(engine.special.xlog1py(x, y).detach().numpy(),
                               torch.special.xlog1py(tx, ty).detach().numpy(), rtol=1e-15, equal_nan=True)
