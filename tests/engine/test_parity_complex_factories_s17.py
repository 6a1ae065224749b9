"""Complex numbers in factories and casts against torch: linspace/logspace with complex bounds (complex
result; a real dtype= is torch's error), full/fill_ with a complex value into a real tensor (torch's
overflow error unless the imaginary part is 0), arange's missing complex kernel, and complex -> bool
(nonzero in either part)."""

from __future__ import annotations

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _same_error(fn):
    with pytest.raises(Exception) as te:
        fn(torch)
    with pytest.raises(type(te.value)) as oe:
        fn(engine)
    assert str(oe.value) == str(te.value)


@pytest.mark.parametrize("op", ["linspace", "logspace"])
@pytest.mark.parametrize("start,end", [(0, 1j), (1j, 2), (-1 - 1j, 2 + 0.5j)])
@pytest.mark.parametrize("steps", [0, 1, 5])
def test_complex_bounds_give_complex_ranges(op, start, end, steps):
    t = getattr(torch, op)(start, end, steps)
    o = getattr(engine, op)(start, end, steps)
    assert str(o.dtype) == str(t.dtype).removeprefix("torch.") == "complex64"
    np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["linspace", "logspace"])
def test_complex_dtype_with_real_bounds(op):
    t = getattr(torch, op)(0, 1, 4, dtype=torch.complex128)
    o = getattr(engine, op)(0, 1, 4, dtype=engine.complex128)
    assert str(o.dtype) == "complex128"
    np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-15)


@pytest.mark.parametrize("op", ["linspace", "logspace"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_complex_bounds_with_a_real_dtype_raise(op, dtype):
    _same_error(lambda m: getattr(m, op)(0, 1j, 3, dtype=getattr(m, dtype)))


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_arange_has_no_complex_kernel(dtype):
    _same_error(lambda m: m.arange(3, dtype=getattr(m, dtype)))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8"])
def test_complex_fill_value_into_a_real_tensor_raises(dtype):
    _same_error(lambda m: m.full((2,), 1 + 2j, dtype=getattr(m, dtype)))
    _same_error(lambda m: m.zeros(2, dtype=getattr(m, dtype)).fill_(2j))


def test_full_like_of_a_float_tensor_with_a_complex_value_raises():
    _same_error(lambda m: m.full_like(m.ones(2), 1j))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_complex_fill_value_with_zero_imaginary_part_or_into_bool(dtype):
    value = 1j if dtype == "bool" else 3 + 0j
    t = torch.full((3,), value, dtype=getattr(torch, dtype))
    o = engine.full((3,), value, dtype=getattr(engine, dtype))
    assert str(o.dtype) == dtype
    np.testing.assert_array_equal(o.numpy(), t.numpy())


def test_complex_to_bool_is_nonzero_in_either_part():
    x = np.array([0j, 1j, 1 + 0j, complex(0, -0.0), complex(float("nan"), 0)])
    t, o = torch.tensor(x), engine.tensor(x)
    for conv in (lambda v: v.bool(), lambda v: v.to(torch.bool if isinstance(v, torch.Tensor) else engine.bool)):
        np.testing.assert_array_equal(conv(o).numpy(), conv(t).numpy())


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("like", [False, True])
def test_rand_complex_draws_both_parts_uniform(dtype, like):
    n = 200_000
    if like:
        t = torch.rand_like(torch.zeros(n, dtype=getattr(torch, dtype)))
        o = engine.rand_like(engine.zeros(n, dtype=getattr(engine, dtype)))
    else:
        t, o = torch.rand(n, dtype=getattr(torch, dtype)), engine.rand(n, dtype=getattr(engine, dtype))
    assert str(o.dtype) == str(t.dtype).removeprefix("torch.") == dtype and o.shape == tuple(t.shape)
    a, b = o.numpy(), t.numpy()
    for part in ("real", "imag"):
        x, y = getattr(a, part), getattr(b, part)
        assert 0 <= x.min() and x.max() < 1
        se = (1 / 12) ** 0.5 / n ** 0.5  # the standard error of a uniform mean
        assert abs(x.mean() - y.mean()) < 8 * se and abs(x.std() - y.std()) < 8 * se
