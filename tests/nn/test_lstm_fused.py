"""nn.LSTM on the fused per-layer op (F.lstm_layer): equal to torch.nn.LSTM (weights copied through
the state_dict) and to the per-step composition it replaces (nn.rnn.FUSED_LSTM = False), values
and gradients; plus F.lstm_layer's argument errors."""

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


def _states(kw, shape, rng, dtype):
    return [rng.standard_normal(rnn_state_shape(kw, shape, 5)).astype(dtype) for _ in range(2)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_lstm_matches_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    kw, shape, with_states = CONFIGS[cfg]
    torch.manual_seed(cfg)
    tmod = torch.nn.LSTM(4, 5, **kw).to(getattr(torch, dtype))
    ours = nn.LSTM(4, 5, **kw).to(dtype=dtype)
    copy_state(tmod, ours)
    rng = np.random.default_rng(cfg)
    x = rng.standard_normal(shape).astype(dtype)
    if with_states:
        h0, c0 = _states(kw, shape, rng, dtype)
        compare(torch, tmod, ours, [x, h0, c0], dtype, call=lambda m, x, h, c: m(x, (h, c)))
    else:
        compare(torch, tmod, ours, [x], dtype)


def _run(mod, x, hc, seed=0):
    engine.manual_seed(seed)
    xs = Tensor(x, requires_grad=True)
    states = tuple(Tensor(a, requires_grad=True) for a in hc) if hc else None
    out, (hn, cn) = mod(xs, states)
    rng = np.random.default_rng(1)
    loss = (out * Tensor(rng.standard_normal(out.shape))).sum() + (hn * Tensor(rng.standard_normal(hn.shape))).sum() \
        + (cn * Tensor(rng.standard_normal(cn.shape))).sum()
    mod.zero_grad()
    loss.backward()
    grads = [p.grad.numpy().copy() for p in mod.parameters()] + [xs.grad.numpy()]
    grads += [s.grad.numpy() for s in states] if states else []
    return [out.numpy(), hn.numpy(), cn.numpy()], grads


@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
def test_fused_lstm_equals_the_composed_path(cfg, monkeypatch):
    kw, shape, with_states = CONFIGS[cfg]
    engine.manual_seed(cfg)
    mod = nn.LSTM(4, 5, **kw).to(dtype="float64")
    rng = np.random.default_rng(cfg)
    x = rng.standard_normal(shape)
    hc = _states(kw, shape, rng, "float64") if with_states else None
    outs, grads = _run(mod, x, hc)
    monkeypatch.setattr(nn.rnn, "FUSED_LSTM", False)
    outs_c, grads_c = _run(mod, x, hc)
    for a, b in zip(outs + grads, outs_c + grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_dropout_between_layers_draws_as_the_composed_path(monkeypatch):
    engine.manual_seed(0)
    mod = nn.LSTM(4, 5, num_layers=3, dropout=0.5).to(dtype="float64")
    x = np.random.default_rng(0).standard_normal((6, 2, 4))
    outs, grads = _run(mod, x, None, seed=3)
    monkeypatch.setattr(nn.rnn, "FUSED_LSTM", False)
    outs_c, grads_c = _run(mod, x, None, seed=3)
    for a, b in zip(outs + grads, outs_c + grads_c):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    mod.eval()  # no dropout: two calls agree
    np.testing.assert_array_equal(mod(Tensor(x))[0].numpy(), mod(Tensor(x))[0].numpy())


def test_fused_op_is_used_and_proj_size_keeps_the_composition():
    x = Tensor.randn(4, 2, 3)
    out, _ = nn.LSTM(3, 5, num_layers=2)(x)
    assert type(out._ctx).__name__ != "Stack"  # a slice of the fused op's packed output
    seen = ops_in_graph(out)
    assert "LSTMLayer" in seen
    out, (hn, cn) = nn.LSTM(3, 5, proj_size=2)(x.requires_grad_())
    assert out.shape == (4, 2, 2) and hn.shape == (1, 2, 2) and cn.shape == (1, 2, 5)


def test_lstm_layer_errors_name_the_op_and_shapes():
    x, h = Tensor.zeros(3, 2, 4), Tensor.zeros(2, 5)
    w_ih, w_hh = Tensor.zeros(20, 4), Tensor.zeros(20, 5)
    with pytest.raises(ValueError, match=r"lstm_layer: h0 \(2, 4\)"):
        F.lstm_layer(x, Tensor.zeros(2, 4), h, w_ih, w_hh)
    with pytest.raises(ValueError, match=r"lstm_layer: weight_ih \(20, 3\)"):
        F.lstm_layer(x, h, h, Tensor.zeros(20, 3), w_hh)
    with pytest.raises(ValueError, match="lstm_layer: give both"):
        F.lstm_layer(x, h, h, w_ih, w_hh, Tensor.zeros(20))
    with pytest.raises(ValueError, match=r"lstm_layer: bias_ih \(19,\)"):
        F.lstm_layer(x, h, h, w_ih, w_hh, Tensor.zeros(19), Tensor.zeros(20))
    with pytest.raises(ValueError, match="T = 0"):
        F.lstm_layer(Tensor.zeros(0, 2, 4), h, h, w_ih, w_hh)
    with pytest.raises(TypeError, match="lstm_layer: argument 0"):
        F.lstm_layer(np.zeros((3, 2, 4)), h, h, w_ih, w_hh)
