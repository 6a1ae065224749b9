"""Result dtypes of elementwise ops without torch: the rules of torch's promotion written out
(float ops on integers give float32, numbers never widen a tensor, 0-d tensors don't widen tensors
with dims within a category, comparisons give bool, indices are int64)."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import Tensor


def t(values, dtype, requires_grad=False):
    return Tensor(np.array(values, dtype=dtype), requires_grad=requires_grad)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("op", ["exp", "sqrt", "sin", "log1p", "sigmoid", "erf", "tanh"])
def test_a_float_op_on_integers_gives_float32(dtype, op):
    assert getattr(t([1, 0, 1], dtype), op)().dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8])
def test_a_number_keeps_the_tensors_integer_type(dtype):
    x = t([1, 2, 3], dtype)
    for y in (x + 2, 2 * x, x - 1, x // 2, x % 2, x * True):
        assert y.dtype == dtype
    assert (x + 2.5).dtype == (x / 2).dtype == (x * 0.5).dtype == np.float32


def test_zero_dim_tensors_do_not_widen_within_a_category():
    assert (t([1, 2], np.int32) + Tensor(np.array(3, np.int64))).dtype == np.int32
    assert (t([1, 2], np.uint8) + Tensor(np.array(3, np.int8))).dtype == np.uint8
    assert (t([1.0], np.float16) + Tensor(np.array(3.0, np.float32))).dtype == np.float16
    assert (Tensor(np.array(3.0, np.float64)) * t([1.0], np.float32)).dtype == np.float32
    # but a higher category wins whatever the dims
    assert (t([1, 2], np.int32) + Tensor(np.array(3.0, np.float64))).dtype == np.float64
    assert (t([1, 2], np.int64) + t([1.0, 2.0], np.float16)).dtype == np.float16


def test_tensors_with_dims_promote_as_torch():
    assert (t([1], np.uint8) + t([1], np.int8)).dtype == np.int16
    assert (t([1], np.int32) * t([1], np.int64)).dtype == np.int64
    assert (t([True], np.bool_) + t([1], np.uint8)).dtype == np.uint8


def test_two_float_dtypes_promote_as_torch():
    x = t([1.0, 2.0], np.float32, requires_grad=True)
    y = t([3.0, 4.0], np.float64, requires_grad=True)
    z = x * y
    assert z.dtype == np.float64 and z.tolist() == [3.0, 8.0]
    z.sum().backward()  # each gradient comes back in its own input's dtype
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 4.0]
    assert y.grad.dtype == np.float64 and y.grad.tolist() == [1.0, 2.0]
    assert (t([1.0], np.float32) + t(2.0, np.float64)).dtype == np.float32  # a 0-d tensor never widens
    assert (t([1], np.int64) + t([1.0], np.float16)).dtype == np.float16


def test_bool_subtraction_raises_as_torch():
    a = t([True, False], np.bool_)
    with pytest.raises(RuntimeError, match="two bool tensors is not supported"):
        a - a
    with pytest.raises(RuntimeError, match="two bool tensors is not supported"):
        a - True


def test_bool_arithmetic():
    a, b = t([True, False, True], np.bool_), t([True, True, False], np.bool_)
    assert (a + b).dtype == np.bool_ and (a + b).tolist() == [True, True, True]
    assert (a * b).tolist() == [True, False, False]
    assert (a + 1).dtype == np.int64 and (a + 1).tolist() == [2, 1, 2]
    assert (a * 2.5).dtype == np.float32
    assert (a & b).tolist() == [True, False, False] and (a ^ b).dtype == np.bool_
    assert (~a).tolist() == [False, True, False]


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.float32, np.float64, np.bool_, np.uint8])
def test_comparisons_give_bool(dtype):
    x = t([0, 1, 1], dtype)
    for y in (x < 1, x == x, x >= 0.5, x != 2, engine.isclose(x.float(), x.float()), x.isnan(), x.isfinite()):
        assert y.dtype == np.bool_


def test_indices_are_int64():
    x = t([[3.0, 1.0], [2.0, 5.0]], np.float32)
    for idx in (x.argmax(), x.argmin(1), x.max(0).indices, x.sort().indices, x.topk(1).indices, x.argsort(),
                x.nonzero(), x.median(0).indices, x.mode(1).indices, x.kthvalue(1).indices):
        assert idx.dtype == np.int64
    assert engine.randint(0, 5, (3,)).dtype == engine.randperm(4).dtype == np.int64
    assert engine.arange(3).dtype == np.int64 and engine.arange(3.0).dtype == np.float32


def test_shifts_and_bitwise_keep_the_integer_type():
    x = t([1, -8, 5], np.int32)
    assert (x << 2).tolist() == [4, -32, 20] and (x << 2).dtype == np.int32
    assert (x >> 1).tolist() == [0, -4, 2]  # arithmetic shift, as torch
    assert (x & 3).dtype == np.int32
    with pytest.raises(NotImplementedError, match="bitwise_and.*float32"):
        t([1.0], np.float32) & 1


@pytest.mark.parametrize("a,b,want", [
    (engine.int32, engine.float16, engine.float16), (engine.uint8, engine.int8, engine.int16),
    (engine.bool, engine.int8, engine.int8), (engine.int64, engine.float32, engine.float32),
    (engine.float16, engine.float64, engine.float64), (engine.bool, engine.bool, engine.bool),
])
def test_promote_types(a, b, want):
    assert engine.promote_types(a, b) == engine.promote_types(b, a) == want


def test_result_type_and_can_cast():
    i32 = t([1], np.int32)
    assert engine.result_type(i32, 5) == np.int32
    assert engine.result_type(i32, 2.5) == np.float32
    assert engine.result_type(i32, True) == np.int32
    assert engine.result_type(t([True], np.bool_), 5) == np.int64
    assert engine.result_type(5, 2.5) == np.float32
    assert engine.result_type(i32, Tensor(np.array(1, np.int64))) == np.int32
    assert engine.can_cast(engine.int64, engine.int8) and not engine.can_cast(engine.float16, engine.int64)
    assert not engine.can_cast(engine.int8, engine.bool) and engine.can_cast(engine.bool, engine.float16)
    with pytest.raises(TypeError, match="result_type"):
        engine.result_type(i32, "a")
