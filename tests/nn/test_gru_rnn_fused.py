"""nn.GRU and nn.RNN (tanh, relu) on their fused per-layer ops (F.gru_layer, F.rnn_layer): equal to
torch.nn.GRU / torch.nn.RNN (weights copied through the state_dict) and to the per-step composition
they replace (nn.rnn.FUSED_GRU / FUSED_RNN = False), values and gradients; plus the ops' argument
errors."""

from __future__ import annotations

import numpy as np
import pytest
from parity_helpers import RNN_CONFIGS as CONFIGS
from parity_helpers import compare, copy_state, ops_in_graph, rnn_state_shape

import engine
import engine.functional as F
import nn
import nn.rnn
from engine import Tensor

# cell -> (our module, torch's name, extra constructor kwargs, nn.rnn's switch, the fused op)
CELLS = {
    "gru": (nn.GRU, "GRU", {}, "FUSED_GRU", "GRULayer"),
    "rnn_tanh": (nn.RNN, "RNN", {"nonlinearity": "tanh"}, "FUSED_RNN", "RNNLayer"),
    "rnn_relu": (nn.RNN, "RNN", {"nonlinearity": "relu"}, "FUSED_RNN", "RNNLayer"),
}


def _state(kw, shape, rng, dtype):
    return rng.standard_normal(rnn_state_shape(kw, shape, 5)).astype(dtype)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_layer_matches_torch(cfg, dtype, cell):
    torch = pytest.importorskip("torch")
    ours_cls, torch_name, extra, _, _ = CELLS[cell]
    kw, shape, with_state = CONFIGS[cfg]
    torch.manual_seed(cfg)
    tmod = getattr(torch.nn, torch_name)(4, 5, **extra, **kw).to(getattr(torch, dtype))
    ours = ours_cls(4, 5, **extra, **kw).to(dtype=dtype)
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


def _assert_composed_path_agrees(mod, x, h, switch, monkeypatch, seed=0):
    outs, grads = _run(mod, x, h, seed)
    monkeypatch.setattr(nn.rnn, switch, False)
    outs_c, grads_c = _run(mod, x, h, seed)
    for a, b in zip(outs + grads, outs_c + grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_layer_equals_the_composed_path(cfg, cell, monkeypatch):
    ours_cls, _, extra, switch, _ = CELLS[cell]
    kw, shape, with_state = CONFIGS[cfg]
    engine.manual_seed(cfg)
    mod = ours_cls(4, 5, **extra, **kw).to(dtype="float64")
    rng = np.random.default_rng(cfg)
    h = _state(kw, shape, rng, "float64") if with_state else None
    _assert_composed_path_agrees(mod, rng.standard_normal(shape), h, switch, monkeypatch)


@pytest.mark.parametrize("cell", ["gru", "rnn_tanh"])
def test_dropout_between_layers_draws_as_the_composed_path(cell, monkeypatch):
    ours_cls, _, extra, switch, _ = CELLS[cell]
    engine.manual_seed(0)
    mod = ours_cls(4, 5, num_layers=3, dropout=0.5, **extra).to(dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 2, 4))
    _assert_composed_path_agrees(mod, x, None, switch, monkeypatch, seed=3)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_fused_op_is_used(cell):
    ours_cls, _, extra, _, op = CELLS[cell]
    out, _ = ours_cls(3, 5, num_layers=2, **extra)(Tensor.randn(4, 2, 3))
    seen = ops_in_graph(out)
    assert op in seen and "Stack" not in seen


def test_relu_rnn_gradient_is_zero_where_the_step_is_zero():
    """relu'(0) = 0 as torch: a step whose pre-activation is exactly 0 passes no gradient back."""
    x = Tensor(np.zeros((2, 1, 1)), requires_grad=True)
    w_ih, w_hh = Tensor(np.ones((1, 1)), requires_grad=True), Tensor(np.ones((1, 1)), requires_grad=True)
    out, _ = F.rnn_layer(x, Tensor(np.zeros((1, 1))), w_ih, w_hh, nonlinearity="relu")
    out.sum().backward()
    assert out.numpy().tolist() == [[[0.0]], [[0.0]]]
    assert x.grad.numpy().tolist() == [[[0.0]], [[0.0]]] and w_hh.grad.numpy().tolist() == [[0.0]]


@pytest.mark.parametrize("op, gates", [("gru_layer", 3), ("rnn_layer", 1)])
def test_layer_errors_name_the_op_and_shapes(op, gates):
    fn = getattr(F, op)
    x, h = Tensor.zeros(3, 2, 4), Tensor.zeros(2, 5)
    g = 5 * gates
    w_ih, w_hh = Tensor.zeros(g, 4), Tensor.zeros(g, 5)
    with pytest.raises(ValueError, match=rf"{op}: h0 \(2, 4\)"):
        fn(x, Tensor.zeros(2, 4), w_ih, w_hh)
    with pytest.raises(ValueError, match=rf"{op}: weight_ih \({g + 1}, 4\)"):
        fn(x, h, Tensor.zeros(g + 1, 4), w_hh)
    with pytest.raises(ValueError, match=f"{op}: give both"):
        fn(x, h, w_ih, w_hh, Tensor.zeros(g))
    with pytest.raises(ValueError, match=rf"{op}: bias_ih \({g - 1},\)"):
        fn(x, h, w_ih, w_hh, Tensor.zeros(g - 1), Tensor.zeros(g))
    with pytest.raises(ValueError, match=r"no time steps"):
        fn(Tensor.zeros(0, 2, 4), h, w_ih, w_hh)


def test_rnn_layer_refuses_an_unknown_nonlinearity():
    x, h, w = Tensor.zeros(3, 2, 4), Tensor.zeros(2, 5), Tensor.zeros(5, 5)
    with pytest.raises(ValueError, match=r"rnn_layer: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        F.rnn_layer(x, h, Tensor.zeros(5, 4), w, nonlinearity="gelu")
