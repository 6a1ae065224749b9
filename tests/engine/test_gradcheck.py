"""engine.gradcheck: True for correct gradients; a GradcheckError naming the input, the index
and both values for a wrong one. The wrong ops are test-only Function subclasses, removed
from Function.registry afterwards (the registry drives the op property tests)."""

from __future__ import annotations

import ast
import re
import types

import numpy as np
import pytest

import engine
import engine.functional as F
from engine import Function, GradcheckError, Tensor, gradcheck

RNG = np.random.default_rng(3)
ERROR = re.compile(r"input (\d+) \(shape (.*?)\) at index (\(.*?\)): analytic (\S+) vs numeric (\S+)")


def leaf(arr) -> Tensor:
    return Tensor(np.asarray(arr, dtype=np.float64), requires_grad=True)


@pytest.fixture
def test_ops():
    """Throwaway ops: one correct, two with wrong backward. Unregistered after the test."""

    class _TestOnlySquare(Function):
        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, g):
            return 2 * g * self.saved[0]

    class _TestOnlySquareHalfGrad(_TestOnlySquare):
        def backward(self, g):
            return g * self.saved[0]  # the factor 2 is missing

    class _TestOnlySquareWrongAt12(_TestOnlySquare):
        def backward(self, g):
            grad = 2 * g * self.saved[0]
            grad[1, 2] += 1.0  # wrong at exactly one entry
            return grad

    ops = types.SimpleNamespace(square=_TestOnlySquare, half=_TestOnlySquareHalfGrad,
                                wrong_at_12=_TestOnlySquareWrongAt12)
    try:
        yield ops
    finally:
        for cls in vars(ops).values():
            Function.registry.pop(cls.__name__, None)
        assert not any(name.startswith("_TestOnly") for name in Function.registry)


def parse(err: GradcheckError):
    m = ERROR.search(str(err))
    assert m, f"message does not name input, index and both values: {err}"
    return int(m[1]), m[2], ast.literal_eval(m[3]), float(m[4]), float(m[5])


# ---- correct gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", [
    ("square_sum", lambda x: (x * x).sum(), [(3, 4)]),
    ("matmul", lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("broadcast", lambda a, b: (a + b).tanh() * b, [(2, 3), (3,)]),
    ("softmax", lambda x: F.softmax(x, -1), [(2, 5)]),
    ("scalar_input", lambda x: x * x * x, [()]),
    ("exp_log", lambda x: (x.exp() + 1.0).log(), [(4,)]),
], ids=lambda c: c[0])
def test_true_for_correct_gradients(case):
    _, fn, shapes = case
    inputs = [leaf(RNG.uniform(0.5, 1.5, s)) for s in shapes]
    assert gradcheck(fn, *inputs) is True


def test_true_for_a_correct_custom_op(test_ops):
    assert gradcheck(lambda x: test_ops.square.apply(x), leaf(RNG.standard_normal((2, 3)))) is True


def test_non_contiguous_input():
    base = RNG.standard_normal((4, 3))
    x = Tensor(base.T, requires_grad=True)  # a transposed view: reshape(-1) would be a copy
    assert not x._data.flags.c_contiguous
    assert gradcheck(lambda t: (t * t * t).sum(axis=0), x) is True
    np.testing.assert_array_equal(x.numpy(), base.T)


def test_inputs_that_do_not_require_grad_are_held_constant():
    a, c = leaf(RNG.standard_normal(3)), Tensor(RNG.standard_normal(3))
    assert gradcheck(lambda p, q: (p * q).exp(), a, c) is True


def test_inputs_are_restored():
    x = leaf(RNG.standard_normal((3, 3)))
    before = x.numpy().copy()
    gradcheck(lambda t: (t * t).sum(), x)
    np.testing.assert_array_equal(x.numpy(), before)


@pytest.mark.gpu
@pytest.mark.skipif(not engine.gpu_available(), reason="no CUDA device")
def test_on_the_gpu():
    x = Tensor(RNG.standard_normal((3, 2)), requires_grad=True, device="gpu")
    assert gradcheck(lambda t: (t * t).tanh().sum(axis=1), x) is True


# ---- wrong gradients -------------------------------------------------------------------------------


def test_wrong_backward_names_input_index_and_both_values(test_ops):
    a, b = leaf(RNG.uniform(0.5, 1.5, (2, 3))), leaf(RNG.uniform(0.5, 1.5, (2, 3)))
    before = b.numpy().copy()
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda p, q: p * test_ops.half.apply(q), a, b)
    i, shape, index, analytic, numeric = parse(info.value)
    assert (i, shape, index) == (1, "(2, 3)", (0, 0))  # input 0 (p) is fine; q fails at its first entry
    assert numeric == pytest.approx(2 * analytic, rel=1e-6)  # the missing factor of 2
    assert abs(numeric) > 1e-3
    np.testing.assert_array_equal(b.numpy(), before)
    assert isinstance(info.value, AssertionError)


def test_wrong_at_one_entry_names_that_entry(test_ops):
    x = leaf(RNG.uniform(0.5, 1.5, (3, 4)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: test_ops.wrong_at_12.apply(t), x)
    i, shape, index, analytic, numeric = parse(info.value)
    assert (i, shape, index) == (0, "(3, 4)", (1, 2))
    assert analytic - numeric == pytest.approx(1.0, rel=1e-5)


def test_sampled_entries_still_catch_a_wrong_gradient(test_ops):
    x = leaf(RNG.uniform(0.5, 1.5, (10, 10)))
    with pytest.raises(GradcheckError, match=r"input 0 .*analytic .* vs numeric"):
        gradcheck(lambda t: test_ops.half.apply(t), x, max_entries=3)


def test_random_direction_alone_catches_a_wrong_gradient(test_ops):
    x = leaf(RNG.uniform(0.5, 1.5, (10, 10)))
    with pytest.raises(GradcheckError, match="random direction"):
        gradcheck(lambda t: test_ops.wrong_at_12.apply(t), x, max_entries=0)


def test_a_lost_graph_is_a_wrong_gradient():
    """An fn whose output no longer depends on the graph (detach, a non-differentiable op)
    has a zero analytic gradient: gradcheck reports it like any wrong gradient."""
    x = leaf([1.0, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: t.detach() * t.detach(), x)
    i, _, index, analytic, numeric = parse(info.value)
    assert (i, index, analytic) == (0, (0,), 0.0) and abs(numeric) > 1e-3
    assert gradcheck(lambda t: t.detach() * 0.0 + 1.0, x) is True  # constant: zero is right


def test_float32_input_warns_and_no_differentiable_input_raises():
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        try:
            gradcheck(lambda t: (t * t).sum(), x, atol=1e-1, rtol=1e-1)
        except GradcheckError:
            pass
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, Tensor(np.ones(2)))
