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
