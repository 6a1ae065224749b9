"""torch's signatures and semantics for F.layer_norm, F.embedding and Tensor.mode, compared with torch
in values and gradients; and the parameter names of F's functions against torch.nn.functional's."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import engine.functional as F
from engine import Tensor

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity


def _grads(y, ty, ours, theirs, seed=0):
    g = np.random.default_rng(seed).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape,normalized", [((4, 3), (3,)), ((2, 3, 4), (3, 4)), ((5,), 5), ((2, 2, 3), [2, 2, 3])])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_takes_torchs_signature(shape, normalized, affine):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    ns = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    ours = [Tensor(a, requires_grad=True) for a in ((x, w, b) if affine else (x,))]
    theirs = [torch.tensor(a, requires_grad=True) for a in ((x, w, b) if affine else (x,))]
    y = F.layer_norm(ours[0], normalized, *ours[1:], eps=1e-3)  # an int normalized_shape too, as nn.LayerNorm
    ty = TF.layer_norm(theirs[0], ns, *theirs[1:], eps=1e-3)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    _grads(y, ty, ours, theirs)


def test_layer_norm_float32_stays_float32_and_bad_shapes_raise():
    x = Tensor(np.ones((2, 3), np.float32))
    assert F.layer_norm(x, (3,)).dtype == np.float32
    with pytest.raises(RuntimeError, match=r"layer_norm.*\[\*, 4\].*\(2, 3\)"):
        F.layer_norm(x, (4,))
    with pytest.raises(RuntimeError, match=r"layer_norm: weight shape \(2,\)"):
        F.layer_norm(x, (3,), Tensor(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match="normalized_shape"):
        F.layer_norm(x, Tensor(np.ones(3, np.float32)))  # the old (x, weight, bias) call


@pytest.mark.parametrize("padding_idx", [None, 1, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
def test_embedding_padding_idx_and_scale_grad_by_freq_as_torch(padding_idx, scale_grad_by_freq):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((5, 3))
    ids = np.array([[0, 1, 1, 4], [4, 4, 2, 1]])
    w, tw = Tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    y = F.embedding(Tensor(ids), w, padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    ty = TF.embedding(torch.tensor(ids), tw, padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    _grads(y, ty, [w], [tw])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
def test_embedding_max_norm_renormalizes_the_looked_up_rows_in_place_as_torch(norm_type):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((6, 4)) * 2
    ids = np.array([0, 2, 2, 5])
    w, tw = Tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)
    y = F.embedding(ids, w, max_norm=1.5, norm_type=norm_type)
    ty = TF.embedding(torch.tensor(ids), tw, max_norm=1.5, norm_type=norm_type)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12)  # rows 1, 3, 4 untouched
    _grads(y, ty, [w], [tw])


def test_embedding_errors():
    w = Tensor(np.ones((3, 2)))
    with pytest.raises(TypeError, match="embedding.*integer"):
        F.embedding(np.array([0.0]), w)
    with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse"):  # at backward, as torch
        F.embedding(np.array([0]), Tensor(np.ones((3, 2)), requires_grad=True), scale_grad_by_freq=True,
                    sparse=True).sum().backward()
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(np.array([0]), w, padding_idx=3)


@pytest.mark.parametrize("shape", [(7,), (3, 9), (2, 5, 4), ()])
@pytest.mark.parametrize("keepdim", [False, True])
def test_mode_values_indices_and_gradient_as_torch(shape, keepdim):
    rng = np.random.default_rng(3)
    for dim in range(-max(len(shape), 1), max(len(shape), 1)):
        x = rng.integers(0, 3, shape).astype(np.float64)  # many ties of counts
        a, b = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours, theirs = a.mode(dim, keepdim), b.mode(dim, keepdim)
        assert ours.values.shape == tuple(theirs.values.shape)
        assert ours.indices.dtype == np.int64
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.detach().numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        _grads(ours.values, theirs.values, [a], [b])


def test_mode_defaults_and_empty_dim():
    x = np.array([[1.0, 2.0, 2.0, 1.0, 3.0], [5.0, 5.0, 4.0, 4.0, 4.0]])
    ours, theirs = Tensor(x).mode(), torch.tensor(x).mode()
    assert ours.values.tolist() == theirs.values.tolist() == [1.0, 4.0]
    assert ours.indices.tolist() == theirs.indices.tolist() == [3, 4]
    with pytest.raises(IndexError, match="mode"):
        Tensor(np.zeros((2, 0))).mode()


# Names whose parameter lists must read as torch.nn.functional's (up to the first keyword-only marker
# torch's Python wrapper has); our extra keyword-only aliases (axis=, keepdims=) come after.
SIGNATURE_NAMES = ["layer_norm", "embedding", "cross_entropy", "nll_loss", "binary_cross_entropy",
                   "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                   "kl_div", "softmax", "log_softmax", "softmin", "normalize", "pad", "dropout", "leaky_relu", "elu",
                   "hardtanh", "glu", "relu6", "selu", "celu", "silu", "mish", "hardswish", "hardsigmoid",
                   "softsign", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss"]


def _positional(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@pytest.mark.parametrize("name", SIGNATURE_NAMES)
def test_functional_positional_parameters_are_torchs(name):
    theirs = _positional(getattr(TF, name))
    if theirs is None:
        pytest.skip(f"torch.nn.functional.{name} has no Python signature")
    ours = _positional(getattr(F, name))
    assert ours[: len(theirs)] == theirs, (ours, theirs)


# ---- names the audit against torch found missing or different --------------------------------

AUDIT = [
    ("nanmean", lambda m, x: m.nanmean(x), np.array([[1.0, np.nan, 3.0], [2.0, 5.0, np.nan]])),
    ("nanmean dim", lambda m, x: m.nanmean(x, 1, keepdim=True), np.array([[1.0, np.nan, 3.0], [2.0, 5.0, 7.0]])),
    ("logit", lambda m, x: m.logit(x), np.array([0.1, 0.35, 0.9])),
    ("logit eps", lambda m, x: m.logit(x, 0.2), np.array([0.1, 0.35, 0.9])),
    ("dist", lambda m, x: m.dist(x, x[:1] * 2, 3), np.array([[1.0, -2.0], [0.5, 4.0]])),
    ("dist p=1", lambda m, x: m.dist(x, x.flip(0), 1), np.array([[1.0, -2.0], [0.5, 4.0]])),
    ("select", lambda m, x: m.select(x, 1, -2), np.arange(12.0).reshape(2, 3, 2)),
    ("mode", lambda m, x: m.mode(x, 0).values, np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0]])),
]


@pytest.mark.parametrize("name,fn,x", AUDIT, ids=[a[0] for a in AUDIT])
def test_added_names_match_torch_in_value_and_gradient(name, fn, x):
    import engine

    a, b = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = fn(engine, a), fn(torch, b)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, equal_nan=True)
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(Tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("op", [lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a.fmod(b),
                                lambda a, b: a.div(b, rounding_mode="trunc"),
                                lambda a, b: a.div(b, rounding_mode="floor")])
def test_integer_division_by_zero_raises_as_torch(op):
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        op(torch.tensor([3, 4]), torch.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        op(Tensor(np.array([3, 4])), Tensor(np.array([1, 0])))
    # floats divide by zero into inf/nan, as torch
    np.testing.assert_array_equal(op(Tensor(np.array([3.0, -4.0])), 0.0).numpy(),
                                  op(torch.tensor([3.0, -4.0], dtype=torch.float64), 0.0).numpy())


def test_small_casts_and_select_errors():
    x = Tensor(np.array([1.7, -2.2]))
    assert x.short().dtype == np.int16 and x.byte().dtype == np.uint8 and x.char().dtype == np.int8
    assert x.short().tolist() == torch.tensor([1.7, -2.2]).short().tolist()
    assert not x.is_complex()
    with pytest.raises(IndexError, match="select"):
        x.select(0, 2)
    with pytest.raises(RuntimeError, match="nanmean"):
        Tensor(np.array([1, 2])).nanmean()
