"""The engine's user-facing semantics: the Tensor API, factories, operators, broadcasting,
gradient accumulation, retain_graph, deep and shared graphs, no_grad, detach, astype, dtypes.

Expected values come from NumPy (or closed forms computed here), never from the engine.
"""

from __future__ import annotations

import gc
import math
import threading

import numpy as np
import pytest

import engine
import engine.functional as F
from engine import Tensor, enable_grad, is_grad_enabled, no_grad
from engine.backend import to_numpy

DEVICES = [
    "cpu",
    pytest.param("gpu", marks=[pytest.mark.gpu,
                               pytest.mark.skipif(not engine.gpu_available(), reason="no CUDA device")]),
]
RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _grad_mode_back_on():
    yield
    if not is_grad_enabled():  # a failing no_grad test must not break every test after it
        enable_grad().__enter__()


def leaf(arr, device="cpu", requires_grad=True) -> Tensor:
    return Tensor(np.asarray(arr), requires_grad=requires_grad, device=device)


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reference for 'backward reduces the gradient to the input's shape' (plain NumPy)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


# ---- Tensor API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_tensor_attributes(device):
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    x = leaf(a, device)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32
    assert x.device == device
    assert x.requires_grad and x.grad is None and x.is_leaf
    assert isinstance(x.numpy(), np.ndarray)  # even on the GPU
    np.testing.assert_array_equal(x.numpy(), a)
    np.testing.assert_array_equal(to_numpy(x._data), a)
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    assert x.T.shape == (3, 2)
    assert leaf(np.float32(2.5), device).item() == 2.5
    assert isinstance(leaf(np.array([[7]], dtype=np.int64), device, False).item(), int)
    assert x.numel() == 6 and len(x) == 2


def test_numpy_on_cpu_is_the_array():
    a = np.arange(4, dtype=np.float32)
    x = Tensor(a)
    assert x._data is a and x.numpy() is a  # no copy on the CPU


def test_to_cpu_is_a_noop_on_cpu():
    x = leaf(np.ones(3, np.float32))
    assert x.to("cpu") is x and x.cpu() is x


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="no CUDA device")
def test_to_gpu_and_back_is_differentiable():
    a = RNG.standard_normal(4).astype(np.float32)
    x = leaf(a)
    g = x.to("gpu")
    assert g.device == "gpu" and g.requires_grad
    y = (g * g).to("cpu").sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-6)


def test_constructor_dtypes():
    assert Tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert Tensor(np.zeros(2, np.float16)).dtype == np.float16
    assert Tensor(np.zeros(2, np.int32)).dtype == np.int32
    assert Tensor(np.float64(1.0)).dtype == np.float64  # a NumPy scalar keeps its dtype too
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([[1.5], [2.5]]).shape == (2, 1)
    assert Tensor(3.0).dtype == np.float32 and Tensor(3.0).shape == ()
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(Tensor([1.0, 2.5]).numpy(), np.array([1.0, 2.5], np.float32))


def test_repr_is_readable():
    r = repr(Tensor(np.array([1.5, -2.25], np.float32), requires_grad=True))
    assert r.startswith("Tensor(") and "1.5" in r and "-2.25" in r
    assert "float32" in r and "cpu" in r and "requires_grad=True" in r
    assert "requires_grad" not in repr(Tensor(np.array([1.0], np.float64)))
    assert "float64" in repr(Tensor(np.array([1.0], np.float64)))
    big = repr(Tensor(np.zeros(10_000, np.float32)))
    assert len(big) < 300  # summarized, not ten thousand numbers


# ---- factories ------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_factories(device):
    z = engine.zeros(2, 3, device=device)
    assert z.shape == (2, 3) and z.dtype == np.float32 and z.device == device and not z.requires_grad
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3)))
    assert engine.zeros((2, 3)).shape == (2, 3)
    o = engine.ones(4, dtype="float64", device=device, requires_grad=True)
    assert o.dtype == np.float64 and o.requires_grad
    np.testing.assert_array_equal(o.numpy(), np.ones(4))
    f = engine.full((2, 2), 7.5, device=device)
    np.testing.assert_array_equal(f.numpy(), np.full((2, 2), 7.5, np.float32))
    assert f.dtype == np.float32
    ai = engine.arange(5, device=device)
    np.testing.assert_array_equal(ai.numpy(), np.arange(5))
    assert ai.dtype.kind == "i"
    af = engine.arange(0.0, 1.0, 0.25, device=device)
    np.testing.assert_allclose(af.numpy(), [0, 0.25, 0.5, 0.75])
    assert af.dtype == np.float32
    r = engine.rand(1000, device=device).numpy()
    assert r.dtype == np.float32 and r.min() >= 0 and r.max() < 1
    n = engine.randn(2000, device=device).numpy()
    assert n.dtype == np.float32 and abs(n.mean()) < 0.15 and abs(n.std() - 1) < 0.1


@pytest.mark.parametrize("device", DEVICES)
def test_like_factories_take_shape_dtype_device(device):
    x = Tensor(np.zeros((3, 2), np.float64), device=device)
    for make in (engine.zeros_like, engine.ones_like, engine.randn_like, engine.rand_like,
                 lambda t: engine.full_like(t, 2.5)):
        y = make(x)
        assert (y.shape, y.dtype, y.device) == ((3, 2), np.float64, device)
    np.testing.assert_array_equal(x.ones_like().numpy(), np.ones((3, 2)))
    np.testing.assert_array_equal(x.full_like(2.5).numpy(), np.full((3, 2), 2.5))
    assert x.zeros_like(dtype="float32").dtype == np.float32
    assert x.zeros_like(requires_grad=True).requires_grad


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_random_factories_support_every_float_dtype(dtype):
    for make in (engine.randn, engine.rand):
        t = make(3, 4, dtype=dtype)
        assert t.dtype == np.dtype(dtype) and t.shape == (3, 4)
        assert np.isfinite(t.numpy()).all()
    assert engine.randn_like(Tensor(np.zeros(2, dtype))).dtype == np.dtype(dtype)


def test_manual_seed_makes_random_factories_reproducible():
    engine.manual_seed(123)
    a, b = engine.randn(5, 3).numpy(), engine.rand(7).numpy()
    engine.manual_seed(123)
    np.testing.assert_array_equal(engine.randn(5, 3).numpy(), a)
    np.testing.assert_array_equal(engine.rand(7).numpy(), b)
    engine.manual_seed(124)
    assert not np.array_equal(engine.randn(5, 3).numpy(), a)
    engine.manual_seed(123)
    x = Tensor(np.zeros((5, 3), np.float32))
    np.testing.assert_array_equal(x.randn_like().numpy(), a)


def test_rng_state_round_trip():
    from engine import rng

    engine.manual_seed(5)
    engine.randn(3)
    state = rng.get_state()
    a = engine.randn(4).numpy()
    engine.randn(10)
    rng.set_state(state)
    np.testing.assert_array_equal(engine.randn(4).numpy(), a)


# ---- operators ------------------------------------------------------------------------------------

# name: (engine op, NumPy forward, d/da, d/db) with a, b positive (so pow and log are defined)
BINARY = {
    "add": (lambda a, b: a + b, np.add, lambda a, b: np.ones_like(a * b), lambda a, b: np.ones_like(a * b)),
    "sub": (lambda a, b: a - b, np.subtract, lambda a, b: np.ones_like(a * b), lambda a, b: -np.ones_like(a * b)),
    "mul": (lambda a, b: a * b, np.multiply, lambda a, b: b + 0 * a, lambda a, b: a + 0 * b),
    "div": (lambda a, b: a / b, np.divide, lambda a, b: 1 / b + 0 * a, lambda a, b: -a / b**2),
    "pow": (lambda a, b: a**b, np.power, lambda a, b: b * a ** (b - 1), lambda a, b: a**b * np.log(a)),
    "maximum": (engine.maximum, np.maximum, lambda a, b: (a > b) * 1.0, lambda a, b: (a < b) * 1.0),
    "minimum": (engine.minimum, np.minimum, lambda a, b: (a < b) * 1.0, lambda a, b: (a > b) * 1.0),
}
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 3, 4)), ((1,), (2, 3)),
               ((), (2, 3)), ((2, 1, 4), (3, 1)), ((5, 1, 1), (1, 1))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_broadcast_and_reduce_gradients(name, shapes, device):
    op, ref, da, db = BINARY[name]
    sa, sb = shapes
    a = RNG.uniform(0.5, 2.0, sa)  # ties for max/min have probability 0
    b = RNG.uniform(0.5, 2.0, sb)
    x, y = leaf(a, device), leaf(b, device)
    out = op(x, y)
    expected = ref(a, b)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    g = RNG.standard_normal(expected.shape)
    out.backward(g)
    assert x.grad.shape == sa and y.grad.shape == sb
    np.testing.assert_allclose(x.grad.numpy(), unbroadcast(g * da(a, b), sa), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), unbroadcast(g * db(a, b), sb), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                                    ((1, 3, 4), (2, 4, 5)), ((4,), (2, 4, 5)), ((2, 3, 4), (4,)),
                                    ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,))], ids=str)
def test_matmul_broadcasts_and_reduces_gradients(shapes):
    sa, sb = shapes
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb)
    x, y = leaf(a), leaf(b)
    out = x @ y
    np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-12)
    g = RNG.standard_normal(np.shape(a @ b))
    out.backward(g)
    # d(a@b) against a: g @ b^T (1-D operands promoted like NumPy), summed over broadcast batches
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g.reshape(np.shape(a2 @ b2))
    ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(sa)
    gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(sb)
    np.testing.assert_allclose(x.grad.numpy(), ga, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, axes", [((2, 3), (0, 1)), ((2, 3), (1, 0)), ((2, 3), (-1, 0)),
                                         ((2, 3, 4), (0, 2)), ((2, 3, 4), (2, 1))], ids=str)
def test_transpose_with_two_axes_swaps_them_as_torch(shape, axes):
    a = RNG.standard_normal(shape)
    x = leaf(a)
    y = x.transpose(*axes)
    np.testing.assert_array_equal(y.numpy(), np.swapaxes(a, *axes))
    g = RNG.standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), np.swapaxes(g, *axes))
    np.testing.assert_array_equal(x.transpose().numpy(), a.T)
    np.testing.assert_array_equal(x.transpose(tuple(reversed(range(a.ndim)))).numpy(), a.T)


def test_unary_minus_and_pos():
    a = RNG.standard_normal(5)
    x = leaf(a)
    np.testing.assert_array_equal((-x).numpy(), -a)
    (-x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), -np.ones(5))
    assert +x is x


@pytest.mark.parametrize("device", DEVICES)
def test_reflected_ops_with_python_scalars(device):
    a = RNG.uniform(0.5, 2.0, 4).astype(np.float32)
    cases = [  # (expression, NumPy value, NumPy d/dx)
        (lambda x: 3.0 + x, 3 + a, np.ones_like(a)),
        (lambda x: 3.0 - x, 3 - a, -np.ones_like(a)),
        (lambda x: 3.0 * x, 3 * a, np.full_like(a, 3)),
        (lambda x: 3.0 / x, 3 / a, -3 / a**2),
        (lambda x: 3.0**x, 3.0**a, 3.0**a * np.log(3.0)),
        (lambda x: 2 * x, 2 * a, np.full_like(a, 2)),
        (lambda x: x**2, a**2, 2 * a),
        (lambda x: x**0.5, a**0.5, 0.5 * a**-0.5),
        (lambda x: x - 1, a - 1, np.ones_like(a)),
        (lambda x: x / 4, a / 4, np.full_like(a, 0.25)),
    ]
    for expr, value, grad in cases:
        x = leaf(a, device)
        out = expr(x)
        assert isinstance(out, Tensor) and out.dtype == np.float32  # the scalar takes x's dtype
        np.testing.assert_allclose(out.numpy(), value, rtol=1e-6)
        out.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-5)


def test_numpy_arrays_on_either_side_give_tensors():
    a = RNG.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    n = RNG.uniform(0.5, 2.0, (2, 3))  # float64: it takes the tensor's float32
    m = RNG.standard_normal((4, 2))
    cases = [
        (lambda x: n * x, n * a, n), (lambda x: x * n, a * n, n), (lambda x: n + x, n + a, np.ones_like(n)),
        (lambda x: n - x, n - a, -np.ones_like(n)), (lambda x: n / x, n / a, -n / a**2),
        (lambda x: x / n, a / n, 1 / n), (lambda x: n**x, n**a, n**a * np.log(n)),
        (lambda x: m @ x, m @ a, m.sum(axis=0)[:, None] * np.ones((2, 3))),
        (lambda x: np.float32(2.0) * x, 2 * a, np.full_like(a, 2)),
        (lambda x: np.float64(3.0) - x, 3 - a, -np.ones_like(a)),
        (lambda x: np.float64(3.0) / x, 3 / a, -3 / a**2),
    ]
    for expr, value, grad in cases:
        x = leaf(a)
        out = expr(x)
        assert isinstance(out, Tensor), type(out)
        assert out.dtype == np.float32 and out.requires_grad
        np.testing.assert_allclose(out.numpy(), value, rtol=1e-5)
        out.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_comparisons_give_bool_tensors_without_gradient(device):
    a, b = RNG.standard_normal(6), RNG.standard_normal(6)
    b[2] = a[2]
    x, y = leaf(a, device), leaf(b, device)
    for op, ref in [(lambda p, q: p < q, np.less), (lambda p, q: p <= q, np.less_equal),
                    (lambda p, q: p > q, np.greater), (lambda p, q: p >= q, np.greater_equal),
                    (lambda p, q: p == q, np.equal)]:
        for other, other_np in ((y, b), (0.0, 0.0)):
            out = op(x, other)
            assert isinstance(out, Tensor) and out.dtype == np.bool_
            assert not out.requires_grad and out.is_leaf
            np.testing.assert_array_equal(out.numpy(), ref(a, other_np))


def test_integer_tensors_meeting_floats_give_float32():
    i = Tensor(np.arange(1, 4))
    f = leaf(np.ones(3, np.float32))
    for out in (i * 0.5, 0.5 * i, i / 2, 2 / i, i / Tensor(np.array([2, 2, 2], np.int32)), i**0.5, i + f,
                f - i, i @ f, f @ i):
        assert out.dtype == np.float32, out
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 1.0, 1.5])
    assert (i + 1).dtype.kind == "i" and (i * 2).dtype.kind == "i"


# ---- dtypes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_each_float_dtype_runs_forward_and_backward_in_its_dtype(dtype):
    a = RNG.uniform(0.5, 1.5, (3, 4)).astype(dtype)
    w = RNG.uniform(-1, 1, (4, 2)).astype(dtype)
    x, y = leaf(a), leaf(w)
    h = ((x @ y).tanh() * 2.0 + np.ones(2)).exp() / 3 - x.sum(axis=1, keepdims=True)
    assert h.dtype == dtype
    h.sum().backward()
    assert x.grad.dtype == dtype and y.grad.dtype == dtype
    # the same computation in float64 NumPy, by hand
    t = np.tanh(a.astype(np.float64) @ w)
    e = np.exp(t * 2 + 1) / 3
    gx = (e * 2 * (1 - t**2)) @ w.T.astype(np.float64) - 2.0
    tol = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), gx, rtol=tol, atol=tol)


def test_scalars_and_numpy_arrays_take_the_tensors_dtype():
    for dtype in (np.float16, np.float32, np.float64):
        x = Tensor(np.ones(3, dtype))
        other = np.float32 if dtype == np.float64 else np.float64
        for out in (x * 2.0, 2.0 * x, x + np.ones(3, other), np.ones(3, other) - x, x ** 2, x / 3,
                    x @ np.ones(3, other), x.maximum(0.5)):
            assert out.dtype == dtype, (dtype, out.dtype)


# ---- gradient accumulation and retain_graph -------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_accumulate_until_cleared(device):
    a = RNG.standard_normal(3).astype(np.float32)
    x = leaf(a, device)
    (x * x).sum().backward()
    assert isinstance(x.grad, Tensor) and x.grad.shape == x.shape and x.grad.dtype == x.dtype
    assert not x.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-6)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a + 3, rtol=1e-6)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 3.0), rtol=1e-6)
    x.grad.zero_()
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0), rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_retain_graph_allows_a_second_backward_that_doubles(device):
    a = RNG.standard_normal(4)
    x = leaf(a, device)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.numpy().copy()
    np.testing.assert_allclose(once, np.exp(a) * (1 + a), rtol=1e-12)
    y.backward()  # the graph is still there; this call frees it
    np.testing.assert_allclose(x.grad.numpy(), 2 * once, rtol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * once, rtol=1e-12)  # the failed call added nothing


def test_backward_with_an_upstream_gradient():
    a = RNG.standard_normal((2, 3))
    g = RNG.standard_normal((2, 3))
    x = leaf(a)
    (x * x).backward(g)
    np.testing.assert_allclose(x.grad.numpy(), 2 * a * g, rtol=1e-12)
    x2 = leaf(a)
    (x2 * 1.0).backward(Tensor(g))
    np.testing.assert_allclose(x2.grad.numpy(), g, rtol=1e-12)
    x3 = leaf(a.astype(np.float32))
    (x3 * 1.0).backward(g)  # a float64 upstream gradient takes the tensor's dtype
    assert x3.grad.dtype == np.float32


def test_backward_on_a_leaf_and_on_a_one_element_nonscalar():
    x = leaf(np.array([2.0]))
    x.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0])
    y = leaf(np.array([[3.0]]))
    (y * y).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[6.0]])


# ---- deep and shared graphs -----------------------------------------------------------------------


def test_a_chain_of_100k_ops_backpropagates_without_recursion():
    x = leaf(np.float64(1.0))
    c = 1.0001
    gc.disable()  # the collector walking a 100k-deep graph only costs time; it is not under test
    try:
        y = x
        for _ in range(100_000):
            y = y * c
        y.backward(retain_graph=True)
        assert x.grad.item() == pytest.approx(c**100_000, rel=1e-8)  # about e^10
        del y  # the graph is intact (retained): freeing a 100k-deep graph must not recurse either
    finally:
        gc.enable()


def test_wide_diamond_reusing_one_subexpression():
    a = RNG.standard_normal(5)
    x = leaf(a)
    y = x * x  # shared by every branch
    total = y * 0.0
    for i in range(1, 301):
        total = total + y * float(i)
    total.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a * (300 * 301 / 2), rtol=1e-12)


def test_ladder_of_shared_subexpressions_is_linear_not_exponential():
    # a_{k+1} = a_k + a_k: 2^60 paths from the root to x; a per-path walk would never end
    x = leaf(np.array([1.5]))
    a = x
    for _ in range(60):
        a = a + a
    a.sum().backward()
    assert x.grad.item() == 2.0**60


def test_a_leaf_used_by_many_ops_and_twice_in_one_op():
    a = RNG.standard_normal(3)
    x = leaf(a)
    y = (x * x * x + x.exp() * x - x / (x * x + 1)).sum()
    y.backward()
    expected = 3 * a**2 + np.exp(a) * (1 + a) - (1 - a**2) / (a**2 + 1) ** 2
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10)


def test_inputs_that_do_not_require_grad_get_none():
    x, c = leaf(np.ones(3)), Tensor(np.full(3, 2.0))
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad
    np.testing.assert_array_equal(x.grad.numpy(), np.full(3, 2.0))


# ---- no_grad ----------------------------------------------------------------------------------------


def test_no_grad_context_manager():
    x = leaf(np.ones(2))
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2
        assert not y.requires_grad and y.is_leaf
        with enable_grad():
            assert (x * 2).requires_grad
        assert not is_grad_enabled()
    assert is_grad_enabled() and (x * 2).requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0  # noqa: B018
    assert is_grad_enabled()


def test_no_grad_decorator_with_and_without_parentheses():
    x = leaf(np.ones(2))

    @no_grad()
    def f(t):
        return t * 2

    @no_grad
    def g(t):
        return t * 3

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f" and g.__name__ == "g"
    assert is_grad_enabled()


def test_no_grad_decorator_is_reentrant():
    @no_grad()
    def depth(n):
        assert not is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert is_grad_enabled()  # the recursion must not leave grad mode off
    mode = no_grad()
    with mode:
        with mode:
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_no_grad_is_per_thread():
    """A no_grad block in another thread (an eval, a data loader) must not turn off the graph
    this thread records, and must not leave it off when the blocks end out of order."""
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        with no_grad():
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        assert entered.wait(10)
        x = leaf(np.ones(2))
        y = x * 2  # recorded while the other thread sits inside no_grad
        assert is_grad_enabled() and y.requires_grad
        with no_grad():
            release.set()
            worker.join(10)  # the other thread's block ends inside ours
            assert not is_grad_enabled()
    finally:
        release.set()
        worker.join(10)
    assert is_grad_enabled()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


# ---- retain_grad, detach, astype ---------------------------------------------------------------------


def test_retain_grad_on_a_non_leaf():
    a = RNG.standard_normal(3)
    x = leaf(a)
    y = x * 3.0
    y.retain_grad()
    h = y + 1.0  # not retained
    (h * h).sum().backward()
    assert not y.is_leaf
    np.testing.assert_allclose(y.grad.numpy(), 2 * (3 * a + 1), rtol=1e-12)
    assert h.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 6 * (3 * a + 1), rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_detach_cuts_the_graph(device):
    a = RNG.standard_normal(3)
    x = leaf(a, device)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_allclose(d.numpy(), 2 * a)
    (d * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-12)  # not 4a: d is a constant
    assert x.detach()._data is x._data  # the same memory, as in torch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_astype_round_trip_gradient_dtype(dtype, device):
    a = RNG.standard_normal(4).astype(np.float32)
    x = leaf(a, device)
    y = x.astype(dtype)
    assert y.dtype == dtype and y.requires_grad
    back = (y * y).astype(np.float32)
    assert back.dtype == np.float32
    back.sum().backward()
    assert x.grad.dtype == np.float32
    tol = 1e-6 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(x.grad.numpy(), 2 * a.astype(dtype).astype(np.float32), rtol=tol)
    assert x.astype(np.float32) is x
    i = x.astype(np.int32)
    assert i.dtype == np.int32 and not i.requires_grad


def test_training_step_with_functional_ops_matches_numpy():
    """F.linear / relu / cross_entropy gradients against a hand-written NumPy MLP."""
    n, d, h, c = 6, 5, 4, 3
    X = RNG.standard_normal((n, d))
    t = RNG.integers(0, c, n)
    W1, b1, W2 = RNG.standard_normal((h, d)), RNG.standard_normal(h), RNG.standard_normal((c, h))
    w1, bb1, w2 = leaf(W1), leaf(b1), leaf(W2)
    loss = F.cross_entropy(F.linear(F.relu(F.linear(Tensor(X), w1, bb1)), w2), t)
    loss.backward()
    z = X @ W1.T + b1
    r = np.maximum(z, 0)
    logits = r @ W2.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert loss.item() == pytest.approx(-np.log(p[np.arange(n), t]).mean(), rel=1e-12)
    dl = p.copy()
    dl[np.arange(n), t] -= 1
    dl /= n
    dz = (dl @ W2) * (z > 0)
    np.testing.assert_allclose(w2.grad.numpy(), dl.T @ r, rtol=1e-10)
    np.testing.assert_allclose(w1.grad.numpy(), dz.T @ X, rtol=1e-10)
    np.testing.assert_allclose(bb1.grad.numpy(), dz.sum(0), rtol=1e-10)
    assert math.isfinite(loss.item())


def test_std_gradient_is_zero_where_std_is_zero():
    # torch's convention: a constant slice has std 0 and gradient 0 (sqrt'(0) alone would give nan).
    x = Tensor(np.array([[1.0, 1.0], [1.0, 2.0]]), requires_grad=True)
    x.std(axis=1, correction=0).sum().backward()
    # Row 2: std = |a - b| / 2, so d/da = sign(a - b) / 2.
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [-0.5, 0.5]])
