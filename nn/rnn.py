"""Recurrent layers as torch: RNN, LSTM, GRU (stacked, bidirectional, batch_first, dropout between
layers, initial states, LSTM ``proj_size``) and the RNNCell/LSTMCell/GRUCell. Weight names and
gate layouts are torch's (``weight_ih_l0`` = [W_ii|W_if|W_ig|W_io] for LSTM, [W_ir|W_iz|W_in] for
GRU; ``_reverse`` for the backward direction), all initialized U(-1/sqrt(hidden), 1/sqrt(hidden)).

>>> from engine import Tensor
>>> out, (h, c) = LSTM(3, 4, num_layers=2)(Tensor.randn(5, 2, 3))
>>> out.shape, h.shape, c.shape
((5, 2, 4), (2, 2, 4), (2, 2, 4))
"""

from __future__ import annotations

import math
import warnings

import engine.functional as F
from engine import Tensor
from nn import init
from nn.module import Module, Parameter
from nn.utils.rnn import PackedSequence, packed_to_padded, padded_to_packed

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
# nn.LSTM runs each layer/direction as one fused op (F.lstm_layer) when it can (no proj_size, T > 0);
# False forces the per-step composition (the reference the fused op is tested against).
FUSED_LSTM = True
# nn.GRU likewise runs F.gru_layer per layer and direction (T > 0); False: the per-step composition.
FUSED_GRU = True
# nn.RNN likewise runs F.rnn_layer per layer and direction (T > 0); False: the per-step composition.
FUSED_RNN = True


def _zeros(shape, dtype, device) -> Tensor:
    return Tensor.zeros(*shape, dtype=dtype or "float32", device=device or "cpu")


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, relu: bool):
    y = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return F.relu(y) if relu else F.tanh(y)


def _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr=None):
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (N, 4H)
    i, f, g, o = gates.chunk(4, -1)
    c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h = F.sigmoid(o) * F.tanh(c)
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    gi = F.linear(x, w_ih, b_ih).chunk(3, -1)  # r, z, n parts
    gh = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = F.sigmoid(gi[0] + gh[0])
    z = F.sigmoid(gi[1] + gh[1])
    n = F.tanh(gi[2] + r * gh[2])
    return (1 - z) * n + z * h


def _stepwise(step):
    """A layer for ``RNNBase._run`` from a cell ``step(x_t, state, weights) -> state`` (h first),
    composed of engine ops step by step."""

    def layer(x: Tensor, state: tuple, weights: tuple, reverse: bool):
        T = x.shape[0]
        seq = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            state = step(x[t], state, weights)
            seq[t] = state[0]
        out = F.stack(seq, 0) if T else Tensor.zeros(0, x.shape[1], state[0].shape[-1], dtype=x.dtype,
                                                     device=x.device)
        return out, state

    return layer


def _packed_stepwise(step, batch_sizes: list[int]):
    """As ``_stepwise`` for a packed batch (x (T, B, C) padded, longest first): at step t only the
    first ``batch_sizes[t]`` sequences step; the others keep their state (forward: each ends at its
    last real step; reverse: each starts there from its initial state). Padded outputs are 0."""

    def layer(x: Tensor, state: tuple, weights: tuple, reverse: bool):
        T, B = x.shape[0], x.shape[1]
        seq = [None] * T
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            n = batch_sizes[t]
            new = step(x[t, :n], tuple(s[:n] for s in state), weights)
            state = tuple(a if n == B else F.concatenate([a, s[n:]], 0) for a, s in zip(new, state))
            h = new[0]
            seq[t] = h if n == B else F.concatenate([h, Tensor.zeros(B - n, h.shape[-1], dtype=h.dtype,
                                                                     device=h.device)], 0)
        return F.stack(seq, 0), state

    return layer


def _lstm_layer(x: Tensor, state: tuple, weights: tuple, reverse: bool):
    """A layer for ``RNNBase._run``: one fused F.lstm_layer -> (output, (h_n, c_n))."""
    w_ih, w_hh, b_ih, b_hh, _ = weights
    out, hn, cn = F.lstm_layer(x, *state, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
    return out, (hn, cn)


def _gru_layer(x: Tensor, state: tuple, weights: tuple, reverse: bool):
    """A layer for ``RNNBase._run``: one fused F.gru_layer -> (output, (h_n,))."""
    w_ih, w_hh, b_ih, b_hh, _ = weights
    out, hn = F.gru_layer(x, *state, w_ih, w_hh, b_ih, b_hh, reverse=reverse)
    return out, (hn,)


def _rnn_layer(nonlinearity: str):
    """A layer for ``RNNBase._run``: one fused F.rnn_layer -> (output, (h_n,))."""

    def layer(x: Tensor, state: tuple, weights: tuple, reverse: bool):
        w_ih, w_hh, b_ih, b_hh, _ = weights
        out, hn = F.rnn_layer(x, *state, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity, reverse=reverse)
        return out, (hn,)

    return layer


class RNNBase(Module):
    """Shared constructor and parameters of RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=3)
        for arg, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                 ("input_size", input_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{arg} should be of type {kind.__name__}, got: {type(value).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        gate = _GATES[mode] * hidden_size
        dirs = 2 if bidirectional else 1
        real_h = proj_size if proj_size > 0 else hidden_size
        for layer in range(num_layers):
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else real_h * dirs
                setattr(self, "weight_ih" + sfx, Parameter(_zeros((gate, in_size), dtype, device)))
                setattr(self, "weight_hh" + sfx, Parameter(_zeros((gate, real_h), dtype, device)))
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(_zeros((gate,), dtype, device)))
                    setattr(self, "bias_hh" + sfx, Parameter(_zeros((gate,), dtype, device)))
                if proj_size > 0:
                    setattr(self, "weight_hr" + sfx, Parameter(_zeros((proj_size, hidden_size), dtype, device)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _weights(self, layer: int, d: int):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        g = lambda n: getattr(self, n + sfx, None)  # noqa: E731
        return g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"), g("weight_hr")

    def flatten_parameters(self) -> None:
        """torch packs the weights into one cuDNN buffer here; the weights are used as they are, so
        this does nothing (code written for torch calls it)."""

    @property
    def _flat_weights_names(self) -> list[str]:
        """torch's: every weight name, layer by layer and direction by direction."""
        dirs = 2 if self.bidirectional else 1
        kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else []) + (
            ["weight_hr"] if self.proj_size > 0 else [])
        return [f"{k}_l{layer}" + ("_reverse" if d else "")
                for layer in range(self.num_layers) for d in range(dirs) for k in kinds]

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        dirs = 2 if self.bidirectional else 1
        return [[w for w in self._weights(layer, d) if w is not None]
                for layer in range(self.num_layers) for d in range(dirs)]

    def _prepare(self, input: Tensor, hx_shape_h: int):
        """(input as (T, N, C), batched flag)."""
        if input.ndim not in (2, 3):
            name = "RNN" if self.mode.startswith("RNN") else self.mode  # torch's words, "tensor" for RNN only
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.ndim}D "
                             f"{'tensor ' if name == 'RNN' else ''}instead")
        batched = input.ndim == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        w = self.weight_ih_l0
        if input.dtype != w.dtype:  # torch's check and words (ValueError), before the first matmul's
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({w.dtype}). Convert "
                             f"input: input.to({w.dtype}), or convert model: model.to({input.dtype})")
        return input, batched

    def _state(self, h, n: int, size: int, batched: bool, what: str, ref: Tensor) -> Tensor:
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, n, size)
        if h is None:
            return Tensor.zeros(*want, dtype=ref.dtype, device=ref.device)
        if not batched:
            if h.ndim != 2:
                raise RuntimeError(f"For unbatched 2-D input, {what} should also be 2-D but got {h.ndim}-D tensor")
            h = h.unsqueeze(1)
        elif h.ndim != 3:
            raise RuntimeError(f"For batched 3-D input, {what} should also be 3-D but got {h.ndim}-D tensor")
        if h.shape != want:  # torch's words: hidden, hidden[0] (h_0) and hidden[1] (c_0 of an LSTM)
            raise RuntimeError(f"Expected {what.replace('hx', 'hidden')} size {want}, got {list(h.shape)}")
        return h

    def _run(self, x: Tensor, states: list, layer):
        """Run every layer and direction: x (T, N, C) -> (T, N, D·H), with dropout between layers.
        ``states[k]`` is the initial state tuple of layer/direction k and ``layer(x, state, weights,
        reverse) -> (output (T, N, H), final state)`` runs one of them (a fused op, or ``_stepwise``)."""
        dirs = 2 if self.bidirectional else 1
        finals = []
        for i in range(self.num_layers):
            outs = []
            for d in range(dirs):
                out, final = layer(x, states[i * dirs + d], self._weights(i, d), bool(d))
                outs.append(out)
                finals.append(final)
            x = outs[0] if dirs == 1 else F.concatenate(outs, -1)
            if self.dropout and self.training and i < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, finals

    def _forward_packed(self, packed: PackedSequence, hx):
        """forward for a PackedSequence: each sequence over its own steps, engine ops step by step.
        Returns (output packed as the input, h_n or (h_n, c_n) in the batch's original order)."""
        x = packed_to_padded(packed)  # (T, B, C), the packing's order
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]}")
        order, inverse, n = packed.sorted_indices, packed.unsorted_indices, x.shape[1]

        def permute(h, idx):
            return h if h is None or idx is None else h[:, idx]

        if self.mode == "LSTM":
            h0 = self._state(permute(None if hx is None else hx[0], order), n, self.proj_size or self.hidden_size,
                             True, "hx[0]", x)
            c0 = self._state(permute(None if hx is None else hx[1], order), n, self.hidden_size, True, "hx[1]", x)
            states = [(h0[k], c0[k]) for k in range(h0.shape[0])]

            def step(xt, s, w):
                return _lstm_step(xt, s[0], s[1], *w)
        else:
            h0 = self._state(permute(hx, order), n, self.hidden_size, True, "hx", x)
            states = [(h0[k],) for k in range(h0.shape[0])]
            if self.mode == "GRU":
                def step(xt, s, w):
                    return (_gru_step(xt, s[0], *w[:4]),)
            else:
                relu = self.mode == "RNN_RELU"

                def step(xt, s, w):
                    return (_rnn_step(xt, s[0], w[0], w[1], w[2], w[3], relu),)
        out, finals = self._run(x, states, _packed_stepwise(step, packed.batch_sizes.numpy().tolist()))
        finals = [permute(F.stack([s[j] for s in finals], 0), inverse) for j in range(len(finals[0]))]
        return padded_to_packed(out, packed), (tuple(finals) if self.mode == "LSTM" else finals[0])

    def _output(self, out: Tensor, batched: bool) -> Tensor:
        if not batched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu).
    forward(input, hx=None) -> (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, batched = self._prepare(input, self.hidden_size)
        h0 = self._state(hx, x.shape[1], self.hidden_size, batched, "hx", x)
        states = [(h0[k],) for k in range(h0.shape[0])]
        if FUSED_RNN and x.shape[0] > 0:
            out, finals = self._run(x, states, _rnn_layer(self.nonlinearity))
        else:
            relu = self.nonlinearity == "relu"
            out, finals = self._run(x, states, _stepwise(lambda xt, s, w: (_rnn_step(xt, s[0], *w[:4], relu),)))
        hn = F.stack([s[0] for s in finals], 0)
        return self._output(out, batched), (hn if batched else hn.squeeze(1))



class LSTM(RNNBase):
    """LSTM with torch's gate order (i, f, g, o). forward(input, (h_0, c_0)=None) ->
    (output, (h_n, c_n)); ``proj_size`` > 0 projects h with ``weight_hr``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, batched = self._prepare(input, self.hidden_size)
        real_h = self.proj_size or self.hidden_size
        h0 = self._state(None if hx is None else hx[0], x.shape[1], real_h, batched, "hx[0]", x)
        c0 = self._state(None if hx is None else hx[1], x.shape[1], self.hidden_size, batched, "hx[1]", x)
        states = [(h0[k], c0[k]) for k in range(h0.shape[0])]
        if FUSED_LSTM and self.proj_size == 0 and x.shape[0] > 0:
            out, finals = self._run(x, states, _lstm_layer)
        else:
            out, finals = self._run(x, states, _stepwise(lambda xt, s, w: _lstm_step(xt, s[0], s[1], *w)))
        hn = F.stack([s[0] for s in finals], 0)
        cn = F.stack([s[1] for s in finals], 0)
        if not batched:
            hn, cn = hn.squeeze(1), cn.squeeze(1)
        return self._output(out, batched), (hn, cn)


class GRU(RNNBase):
    """GRU with torch's gate order (r, z, n): n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
    forward(input, hx=None) -> (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x, batched = self._prepare(input, self.hidden_size)
        h0 = self._state(hx, x.shape[1], self.hidden_size, batched, "hx", x)
        states = [(h0[k],) for k in range(h0.shape[0])]
        if FUSED_GRU and x.shape[0] > 0:
            out, finals = self._run(x, states, _gru_layer)
        else:
            out, finals = self._run(x, states, _stepwise(lambda xt, s, w: (_gru_step(xt, s[0], *w[:4]),)))
        hn = F.stack([s[0] for s in finals], 0)
        return self._output(out, batched), (hn if batched else hn.squeeze(1))


class RNNCellBase(Module):
    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(_zeros((num_chunks * hidden_size, input_size), dtype, device))
        self.weight_hh = Parameter(_zeros((num_chunks * hidden_size, hidden_size), dtype, device))
        if bias:
            self.bias_ih = Parameter(_zeros((num_chunks * hidden_size,), dtype, device))
            self.bias_hh = Parameter(_zeros((num_chunks * hidden_size,), dtype, device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def _batched(self, input: Tensor, what: str = "RNNCell"):
        if input.ndim not in (1, 2):
            raise ValueError(f"{what}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        return (input if input.ndim == 2 else input.unsqueeze(0)), input.ndim == 2

    def _h(self, h, x: Tensor, batched: bool, label: int = 0) -> Tensor:
        """The state ``h`` (hidden0; an LSTMCell's cell state is hidden1) as (N, hidden_size), checked as torch."""
        if h is None:
            return Tensor.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        if h.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected hidden to be 1D or 2D, got {h.ndim}D instead")
        if not batched and h.ndim != 1:
            raise RuntimeError(f"{type(self).__name__}: for unbatched input of shape {tuple(x.shape[1:])}, hidden"
                               f"{label} should be 1D, got shape {h.shape}")
        h = h if batched else h.unsqueeze(0)
        if h.ndim != 2 or h.shape[0] != x.shape[0]:
            raise RuntimeError(f"Input batch size {x.shape[0]} doesn't match hidden{label} batch size {h.shape[0]}")
        if h.shape[1] != self.hidden_size:
            raise RuntimeError(f"hidden{label} has inconsistent hidden_size: got {h.shape[1]}, expected "
                               f"{self.hidden_size}")
        return h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._batched(input)
        h = _rnn_step(x, self._h(hx, x, batched), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                      self.nonlinearity == "relu")
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, batched = self._batched(input, "LSTMCell")
        h = self._h(None if hx is None else hx[0], x, batched)
        c = self._h(None if hx is None else hx[1], x, batched, 1)
        h, c = _lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._batched(input, "GRUCell")
        h = _gru_step(x, self._h(hx, x, batched), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
