"""torch comparisons (values and gradients) for the ops and fixes of issue 15's second round:
float32/float64 promotion, bool subtraction, roll of a 0-d tensor, index errors in torch's words,
and the ops added by engine/torch_more.py (linalg, F extras, Tensor extras)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import engine  # noqa: E402
from engine import Tensor  # noqa: E402


def _same_error(fn_ours, fn_torch):
    """Both raise the same exception type with the same message (ours may prefix the op name)."""
    with pytest.raises(Exception) as theirs:
        fn_torch()
    with pytest.raises(type(theirs.value)) as ours:
        fn_ours()
    assert str(theirs.value) in str(ours.value), (str(ours.value), str(theirs.value))


def test_float32_with_float64_promotes_and_backprops_as_torch():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    for op in (lambda x, y: x * y + x, lambda x, y: x / y - y, lambda x, y: engine.where(x > 0, x, y)
               if isinstance(x, Tensor) else torch.where(x > 0, x, y)):
        x, y = Tensor(a.astype(np.float32), requires_grad=True), Tensor(b, requires_grad=True)
        tx, ty = torch.tensor(a.astype(np.float32), requires_grad=True), torch.tensor(b, requires_grad=True)
        z, tz = op(x, y), op(tx, ty)
        assert str(z.dtype) == str(tz.dtype).replace("torch.", "")
        np.testing.assert_allclose(z.numpy(), tz.detach().numpy(), rtol=1e-12)
        z.sum().backward()
        tz.sum().backward()
        assert x.grad.dtype == np.float32 and y.grad.dtype == np.float64
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-6)


def test_bool_subtraction_raises_as_torch():
    for a, b in (([True], [False]), ([True], True), ([True], 1), ([1], [True]), (True, [False])):
        def sub(f, a=a, b=b):
            return (f(a) if isinstance(a, list) else a) - (f(b) if isinstance(b, list) else b)
        _same_error(lambda: sub(engine.tensor), lambda: sub(torch.tensor))


def test_roll_of_a_0d_tensor_as_torch():
    assert engine.tensor(3.0).roll(1).item() == torch.tensor(3.0).roll(1).item()
    for dims in (0, -1, (0,)):
        _same_error(lambda d=dims: engine.tensor(3.0).roll(1, d), lambda d=dims: torch.tensor(3.0).roll(1, d))


def test_index_out_of_range_says_dimension_as_torch():
    a, ta = engine.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 2.0]])
    _same_error(lambda: a[0, 5], lambda: ta[0, 5])
    _same_error(lambda: a[3], lambda: ta[3])


@pytest.mark.parametrize("fn", ["std_mean", "var_mean"])
def test_std_mean_var_mean_with_inf_as_torch(fn):
    for v in ([1.0, float("inf")], [float("-inf"), float("inf")], [1.0, 2.0, float("nan")], [float("inf")]):
        ours = getattr(engine, fn)(engine.tensor(v))
        theirs = getattr(torch, fn)(torch.tensor(v))
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), t.numpy())
