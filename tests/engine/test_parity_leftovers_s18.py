"""Session 18 leftovers of the OpInfo sweep, each against torch."""

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
