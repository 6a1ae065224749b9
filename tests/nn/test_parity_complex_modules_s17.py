"""Complex modules against torch: ``Module.to(complex dtype)`` casts floating and complex entries (with
torch's warning), ``double()`` leaves complex entries alone, a complex Linear's forward and gradients,
and torch's argument checks that complex values reach (HuberLoss's delta)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import engine
import nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.parity


def _linear_pair(dtype: str):
    t = torch.nn.Linear(3, 2).double()
    o = nn.Linear(3, 2).double()
    o.weight.data = engine.tensor(t.weight.detach().numpy().copy())
    o.bias.data = engine.tensor(t.bias.detach().numpy().copy())
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        t.to(getattr(torch, dtype))
    with warnings.catch_warnings(record=True) as ow:
        warnings.simplefilter("always")
        o.to(getattr(engine, dtype))
    return t, o, tw, ow


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_to_complex_casts_floating_entries_and_warns(dtype):
    t, o, tw, ow = _linear_pair(dtype)
    assert str(o.weight.dtype) == str(t.weight.dtype).removeprefix("torch.") == dtype
    assert str(o.bias.dtype) == dtype
    t_words = [str(w.message) for w in tw if "Complex modules" in str(w.message)]
    o_words = [str(w.message) for w in ow if "Complex modules" in str(w.message)]
    assert len(o_words) == len(t_words) == 1
    assert t_words[0].startswith(o_words[0])  # ours leaves out torch's issue-tracker sentence


def test_to_integer_dtype_raises_torch_type_error():
    with pytest.raises(TypeError, match="only accepts floating point or complex") as te:
        torch.nn.Linear(2, 2).to(torch.int64)
    with pytest.raises(TypeError, match="only accepts floating point or complex") as oe:
        nn.Linear(2, 2).to(engine.int64)
    assert "int64" in str(te.value) and "int64" in str(oe.value)


def test_double_leaves_complex_entries_alone():
    t, o, _, _ = _linear_pair("complex128")
    t.double()
    o.double()
    assert str(t.weight.dtype) == "torch.complex128" and str(o.weight.dtype) == "complex128"


def test_complex_linear_forward_and_gradients_match_torch():
    t, o, _, _ = _linear_pair("complex128")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
    tx = torch.tensor(x, requires_grad=True)
    ox = engine.tensor(x.copy(), requires_grad=True)
    ty, oy = t(tx), o(ox)
    np.testing.assert_allclose(oy.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    ty.abs().pow(2).sum().backward()  # a real loss: gradients in torch's convention
    oy.abs().pow(2).sum().backward()
    for og, tg in [(ox.grad, tx.grad), (o.weight.grad, t.weight.grad), (o.bias.grad, t.bias.grad)]:
        assert str(og.dtype) == "complex128"
        np.testing.assert_allclose(og.numpy(), tg.numpy(), rtol=1e-12, atol=1e-14)


def test_to_real_dtype_drops_the_imaginary_part_like_torch():
    t, o, _, _ = _linear_pair("complex128")
    with torch.no_grad():
        t.weight.add_(1j)
    o.weight.data = engine.tensor(t.weight.detach().numpy().copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.to(torch.float64)
        o.to(engine.float64)
    assert str(o.weight.dtype) == "float64"
    np.testing.assert_array_equal(o.weight.detach().numpy(), t.weight.detach().numpy())


@pytest.mark.parametrize("delta", [1j, "1.0", None])
def test_huber_loss_delta_must_be_a_number(delta):
    with pytest.raises(TypeError) as te:
        torch.nn.HuberLoss(delta=delta)
    with pytest.raises(TypeError) as oe:
        nn.HuberLoss(delta=delta)
    assert str(oe.value) == str(te.value)
