"""Specs for the fused recurrent ops (engine/ops/recurrent.py, F.lstm_layer, F.gru_layer, F.rnn_layer).

The ``ref`` is the LSTM cell written step by step in float64 NumPy from torch's documented
equations (gate order i, f, g, o; σ = 1 / (1 + e^-z)), independent of the op's whole-sequence
projection, permuted gate layout and tanh-based sigmoid. Shapes stay tiny (T <= 4, B, I, H <= 3)
so the float64 gradchecks are fast.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill

import engine.functional as F


@st.composite
def lstm_case(draw):
    T, B, n_in, H = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    shapes = [(T, B, n_in), (B, H), (B, H), (4 * H, n_in), (4 * H, H)]
    if draw(st.booleans()):
        shapes += [(4 * H,), (4 * H,)]
    return Case(tuple(fill(rng, s) * (0.5 if i >= 3 else 1.0) for i, s in enumerate(shapes)),
                {"reverse": draw(st.booleans())})


def _lstm_fn(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    return F.lstm_layer(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)


def _lstm_ref(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    T, H = x.shape[0], w_hh.shape[1]
    b = 0.0 if b_ih is None else b_ih + b_hh
    h, c, out = h0, c0, np.zeros((T, *h0.shape))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        z = x[t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[t] = h
    return out, h, c


def _torch_lstm(T, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    # torch.nn.LSTM's own kernel (what nn.LSTM.forward calls), on the time-reversed input for reverse.
    weights = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else [])
    out, h, c = T._VF.lstm(x.flip(0) if reverse else x, (h0[None], c0[None]), weights, b_ih is not None, 1, 0.0,
                           False, False, False)
    return (out.flip(0) if reverse else out), h[0], c[0]


@st.composite
def gru_case(draw):
    T, B, n_in, H = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    shapes = [(T, B, n_in), (B, H), (3 * H, n_in), (3 * H, H)]
    if draw(st.booleans()):
        shapes += [(3 * H,), (3 * H,)]
    return Case(tuple(fill(rng, s) * (0.5 if i >= 2 else 1.0) for i, s in enumerate(shapes)),
                {"reverse": draw(st.booleans())})


def _gru_fn(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    return F.gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh, reverse=reverse)


def _gru_ref(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    # torch's documented GRU equations, step by step (gate order r, z, n).
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    T, H = x.shape[0], w_hh.shape[1]
    bi = 0.0 if b_ih is None else b_ih
    bh = 0.0 if b_hh is None else b_hh
    h, out = h0, np.zeros((T, *h0.shape))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gi, gh = x[t] @ w_ih.T + bi, h @ w_hh.T + bh
        r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - z) * n + z * h
        out[t] = h
    return out, h


def _torch_gru(T, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    weights = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else [])
    out, h = T._VF.gru(x.flip(0) if reverse else x, h0[None], weights, b_ih is not None, 1, 0.0, False, False, False)
    return (out.flip(0) if reverse else out), h[0]


@st.composite
def rnn_case(draw):
    T, B, n_in, H = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(SEEDS))
    shapes = [(T, B, n_in), (B, H), (H, n_in), (H, H)]
    if draw(st.booleans()):
        shapes += [(H,), (H,)]
    return Case(tuple(fill(rng, s) * (0.5 if i >= 2 else 1.0) for i, s in enumerate(shapes)),
                {"nonlinearity": draw(st.sampled_from(["tanh", "relu"])), "reverse": draw(st.booleans())})


def _rnn_fn(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    return F.rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, reverse=reverse)


def _rnn_ref(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    # torch's documented Elman RNN, step by step: h' = act(W_ih x + b_ih + W_hh h + b_hh).
    act = np.tanh if nonlinearity == "tanh" else (lambda z: np.maximum(z, 0.0))
    bi = 0.0 if b_ih is None else b_ih
    bh = 0.0 if b_hh is None else b_hh
    h, out = h0, np.zeros((x.shape[0], *h0.shape))
    for t in (range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])):
        h = act(x[t] @ w_ih.T + bi + h @ w_hh.T + bh)
        out[t] = h
    return out, h


def _torch_rnn(T, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
    weights = [w_ih, w_hh] + ([b_ih, b_hh] if b_ih is not None else [])
    run = T._VF.rnn_tanh if nonlinearity == "tanh" else T._VF.rnn_relu
    out, h = run(x.flip(0) if reverse else x, h0[None], weights, b_ih is not None, 1, 0.0, False, False, False)
    return (out.flip(0) if reverse else out), h[0]


SPECS: dict[str, Spec] = {
    "LSTMLayer": Spec(lstm_case(), _lstm_fn, _lstm_ref, torch=_torch_lstm, half=False),
    "GRULayer": Spec(gru_case(), _gru_fn, _gru_ref, torch=_torch_gru, half=False),
    "RNNLayer": Spec(rnn_case(), _rnn_fn, _rnn_ref, torch=_torch_rnn, half=False),
}

DERIVED: dict[str, Spec] = {}
