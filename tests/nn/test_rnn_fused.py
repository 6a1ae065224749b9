"""nn.RNN on the fused per-layer op (F.rnn_layer): equal to torch.nn.RNN (weights copied through
the state_dict) and to the per-step composition it replaces (nn.rnn.FUSED_RNN = False), values
and gradients, tanh and relu; plus F.rnn_layer's argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from parity_helpers import compare, copy_state

import engine
import engine.functional as F
import nn
import nn.rnn
from engine import Tensor

CONFIGS = [  # (constructor kwargs, input shape, with an initial state)
    (dict(num_layers=1), (5, 3, 4), False),
    (dict(num_layers=2), (6, 2, 4), True),
    (dict(num_layers=2, batch_first=True), (2, 7, 4), True),
    (dict(num_layers=2, bidirectional=True), (5, 3, 4), True),
    (dict(num_layers=1, bias=False, bidirectional=True, batch_first=True), (3, 4, 4), False),
    (dict(num_layers=2), (5, 4), True),  # unbatched
]


def _state(kw, shape, rng, dtype):
    dirs = 2 if kw.get("bidirectional") else 1
    lead = (kw["num_layers"] * dirs,) + ((shape[1] if not kw.get("batch_first") else shape[0],)
                                         if len(shape) == 3 else ())
    return rng.standard_normal((*lead, 5)).astype(dtype)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_rnn_matches_torch(cfg, dtype, nonlinearity):
    torch = pytest.importorskip("torch")
    kw, shape, with_state = CONFIGS[cfg]
    torch.manual_seed(cfg)
    tmod = torch.nn.RNN(4, 5, nonlinearity=nonlinearity, **kw).to(getattr(torch, dtype))
    ours = nn.RNN(4, 5, nonlinearity=nonlinearity, **kw).to(dtype=dtype)
    copy_state(tmod, ours)
    rng = np.random.default_rng(cfg)
    x = rng.standard_normal(shape).astype(dtype)
    if with_state:
        compare(torch, tmod, ours, [x, _state(kw, shape, rng, dtype)], dtype)
    else:
        compare(torch, tmod, ours, [x], dtype)


def _run(mod, x, h, seed=0):
    engine.manual_seed(seed)
    xs = Tensor(x, requires_grad=True)
    h0 = Tensor(h, requires_grad=True) if h is not None else None
    out, hn = mod(xs, h0)
    rng = np.random.default_rng(1)
    loss = (out * Tensor(rng.standard_normal(out.shape))).sum() + (hn * Tensor(rng.standard_normal(hn.shape))).sum()
    mod.zero_grad()
    loss.backward()
    grads = [p.grad.numpy().copy() for p in mod.parameters()] + [xs.grad.numpy()]
    grads += [h0.grad.numpy()] if h0 is not None else []
    return [out.numpy(), hn.numpy()], grads


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_rnn_equals_the_composed_path(cfg, nonlinearity, monkeypatch):
    kw, shape, with_state = CONFIGS[cfg]
    engine.manual_seed(cfg)
    mod = nn.RNN(4, 5, nonlinearity=nonlinearity, **kw).to(dtype="float64")
    rng = np.random.default_rng(cfg)
    x = rng.standard_normal(shape)
    h = _state(kw, shape, rng, "float64") if with_state else None
    outs, grads = _run(mod, x, h)
    monkeypatch.setattr(nn.rnn, "FUSED_RNN", False)
    outs_c, grads_c = _run(mod, x, h)
    for a, b in zip(outs + grads, outs_c + grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_dropout_between_layers_draws_as_the_composed_path(monkeypatch):
    engine.manual_seed(0)
    mod = nn.RNN(4, 5, num_layers=3, dropout=0.5).to(dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 2, 4))
    outs, grads = _run(mod, x, None, seed=3)
    monkeypatch.setattr(nn.rnn, "FUSED_RNN", False)
    outs_c, grads_c = _run(mod, x, None, seed=3)
    for a, b in zip(outs + grads, outs_c + grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fused_op_is_used():
    out, _ = nn.RNN(3, 5, num_layers=2)(Tensor.randn(4, 2, 3))
    seen, stack = set(), [out]
    while stack:
        t = stack.pop()
        if t._ctx is not None:
            seen.add(type(t._ctx).__name__)
            stack.extend(p for p in t._ctx.parents if p is not None)
    assert "RNNLayer" in seen and "Stack" not in seen


def test_relu_gradient_is_zero_where_the_step_is_zero():
    """relu'(0) = 0 as torch: a step whose pre-activation is exactly 0 passes no gradient back."""
    x = Tensor(np.zeros((2, 1, 1)), requires_grad=True)
    w_ih, w_hh = Tensor(np.ones((1, 1)), requires_grad=True), Tensor(np.ones((1, 1)), requires_grad=True)
    out, _ = F.rnn_layer(x, Tensor(np.zeros((1, 1))), w_ih, w_hh, nonlinearity="relu")
    out.sum().backward()
    assert out.numpy().tolist() == [[[0.0]], [[0.0]]]
    assert x.grad.numpy().tolist() == [[[0.0]], [[0.0]]] and w_hh.grad.numpy().tolist() == [[0.0]]


def test_rnn_layer_errors_name_the_op_and_shapes():
    x, h = Tensor.zeros(3, 2, 4), Tensor.zeros(2, 5)
    w_ih, w_hh = Tensor.zeros(5, 4), Tensor.zeros(5, 5)
    with pytest.raises(ValueError, match=r"rnn_layer: h0 \(2, 4\)"):
        F.rnn_layer(x, Tensor.zeros(2, 4), w_ih, w_hh)
    with pytest.raises(ValueError, match=r"rnn_layer: weight_ih \(6, 4\)"):
        F.rnn_layer(x, h, Tensor.zeros(6, 4), w_hh)
    with pytest.raises(ValueError, match="rnn_layer: give both"):
        F.rnn_layer(x, h, w_ih, w_hh, Tensor.zeros(5))
    with pytest.raises(ValueError, match=r"rnn_layer: bias_ih \(4,\)"):
        F.rnn_layer(x, h, w_ih, w_hh, Tensor.zeros(4), Tensor.zeros(5))
    with pytest.raises(ValueError, match=r"no time steps"):
        F.rnn_layer(Tensor.zeros(0, 2, 4), h, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"rnn_layer: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        F.rnn_layer(x, h, w_ih, w_hh, nonlinearity="gelu")
