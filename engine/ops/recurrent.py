"""Recurrent layers as one op per layer and direction: the whole sequence in one forward.

An LSTM composed of per-step engine ops records ~15 graph nodes per time step, and each step's
input projection is a small matmul. ``LSTMLayer`` instead

- projects every time step at once: X (T·B, I) @ W_ihᵀ + b, one big matmul;
- runs the recurrence with one (B, H) @ (H, 4H) matmul and a few whole-array gate updates per step;
- in backward, walks the steps in reverse (one (B, 4H) @ (4H, H) matmul each for dh), then gets
  dW_hh, dW_ih, dX and the biases from single matmuls over all T·B rows.

Gate layout and weights are torch's: rows of W_ih/W_hh are [i | f | g | o], each H long.
Inside the op the rows are permuted to [i | f | o | g] so the three sigmoid gates are one contiguous
block, and the rows are pre-scaled by -1 (i, f, o) and -2 (g): then one exp, one add and one
reciprocal give σ(z) for every gate and σ(2z) for g, and tanh(z) = 2σ(2z) - 1 (scaling by a power
of two is exact in floating point). NumPy's exp is vectorised where its tanh is not: 4x faster.

The per-step loops are ``_forward_steps``/``_backward_steps`` (the reference); the kernel table's
("lstm_layer", "cpu") pair runs the same recurrence with one numba pass a step for the gate math
(engine/kernels/cpu/recurrent.py), the big matmuls staying in the op.
"""

from __future__ import annotations

import contextlib

from engine.backend import array_module
from engine.function import Function
from engine.kernels import lookup
from engine.parallel import parallel_for


def _quiet(xp):
    """exp of a large argument overflows to inf on purpose (1 / inf = 0 = σ(-inf)): no warning."""
    errstate = getattr(xp, "errstate", None)
    return errstate(over="ignore") if errstate else contextlib.nullcontext()


def _tanh(xp, x):
    """tanh(x) = 2σ(2x) - 1 = 2 / (1 + exp(-2x)) - 1, in a new array (see the module docstring)."""
    y = x * -2
    xp.exp(y, out=y)
    y += 1
    xp.divide(2, y, out=y)
    y -= 1
    return y


def _states_before(xp, hs, h0, reverse: bool):
    """(T, B, H): the state each step started from, h_{t-1} (h_{t+1} when ``reverse``), from the
    outputs hs (T, B, H) in time order and the initial state h0 (B, H)."""
    if reverse:
        return xp.concatenate([hs[1:], h0[None]], 0)
    return xp.concatenate([h0[None], hs[:-1]], 0)


def _internal_order(xp, h: int):
    """Row permutation torch [i, f, g, o] -> internal [i, f, o, g]; it is its own inverse."""
    return xp.concatenate([xp.arange(0, 2 * h), xp.arange(3 * h, 4 * h), xp.arange(2 * h, 3 * h)])


def _forward_steps(act, whh_t, h0, c0, out, cs, reverse):
    """The recurrence (reference), in place: act (T, B, 4H) scaled pre-activations of the input ->
    activated gates [i, f, o, g]; out[:T] (T, B, H) <- h_t; cs (T, B, H) <- c_t. Returns the last c.
    The kernel table's ("lstm_layer", backend) forward does the same."""
    xp = array_module(act)
    T, _, H4 = act.shape
    H = H4 // 4
    whh_t = xp.ascontiguousarray(whh_t)  # in rows: h @ a transposed view ran 1.2-4x slower at small B
    h, c = h0, c0
    with _quiet(xp):
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            a = act[t]  # (B, 4H): scaled pre-activations, then in place the activated gates
            a += h @ whh_t
            xp.exp(a, out=a)
            a += 1
            xp.reciprocal(a, out=a)  # σ(z) for i, f, o; σ(2z) for g
            i, f, o, g = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            g *= 2
            g -= 1  # tanh(z) = 2σ(2z) - 1
            c = f * c
            c += i * g
            cs[t] = c
            h = out[t]
            xp.multiply(o, _tanh(xp, c), out=h)
    return c


def _backward_steps(act, cs, c_prev, whh, grad, reverse):
    """Back through the steps (reference): act (T, B, 4H) activated gates, cs and c_prev (T, B, H),
    whh (4H, H) internal order unscaled, grad (T + 1, B, H) -> (dz (T, B, 4H) the gate
    pre-activation gradients, dh0 (B, H), dc0 (B, H)). The kernel table's backward does the same."""
    xp = array_module(act)
    T, B, H4 = act.shape
    H = H4 // 4
    f = act[..., H:2 * H]
    # Everything that does not depend on the recurrent gradient, for all steps at once:
    # dz = coef * dc for i, f, g; dz_o = dh * tanh(c)·o(1-o); dc += dh * o(1 - tanh²c).
    # Independent per step, so the steps are shared out to the threads (NumPy drops the GIL).
    coef = xp.empty_like(act)  # (T, B, 4H), internal order [i, f, o, g]
    dc_from_h = xp.empty_like(cs)  # (T, B, H)

    def precompute(lo, hi):
        i, f, o, g = (act[lo:hi, :, k * H:(k + 1) * H] for k in range(4))
        with _quiet(xp):
            tc = _tanh(xp, cs[lo:hi])
        xp.multiply(g * i, 1 - i, out=coef[lo:hi, :, :H])
        xp.multiply(c_prev[lo:hi] * f, 1 - f, out=coef[lo:hi, :, H:2 * H])
        xp.multiply(tc * o, 1 - o, out=coef[lo:hi, :, 2 * H:3 * H])
        xp.multiply(i, 1 - g * g, out=coef[lo:hi, :, 3 * H:])
        xp.multiply(o, 1 - tc * tc, out=dc_from_h[lo:hi])

    parallel_for(xp, T, precompute, row_size=B * 4 * H)
    dz = xp.empty_like(act)  # (T, B, 4H)
    dh = xp.zeros_like(cs[0])
    dc = grad[T].copy()  # the gradient of c_n
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        dh += grad[t]
        dc += dh * dc_from_h[t]
        d = dz[t]
        d3, c3 = d.reshape(B, 4, H), coef[t].reshape(B, 4, H)  # views
        xp.multiply(c3[:, :2], dc[:, None, :], out=d3[:, :2])  # i, f
        xp.multiply(coef[t, :, 3 * H:], dc, out=d[:, 3 * H:])
        xp.multiply(coef[t, :, 2 * H:3 * H], dh, out=d[:, 2 * H:3 * H])
        dh = d @ whh  # (B, 4H) @ (4H, H)
        dc = dc * f[t]
    return dz, dh, dc


class LSTMLayer(Function):
    """One LSTM layer in one direction over a whole sequence.

    forward(x (T, B, I), h0 (B, H), c0 (B, H), w_ih (4H, I), w_hh (4H, H), b_ih (4H,) | None,
    b_hh (4H,) | None, reverse=False) -> (T + 1, B, H): rows 0..T-1 are h_t in time order (the
    layer's output), row T is the final cell state c_n. h_n is row T-1 (row 0 when ``reverse``).
    One array out keeps the op a plain Function; F.lstm_layer slices it.
    """

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        xp = self.xp
        T, B, _ = x.shape
        H = w_hh.shape[1]
        perm = _internal_order(xp, H)
        scale = xp.full(4 * H, -1.0, dtype=x.dtype)
        scale[3 * H:] = -2.0  # exp(-z) for the sigmoid gates i, f, o; exp(-2z) for g
        wih = w_ih[perm] * scale[:, None]  # (4H, I)
        whh_t = (w_hh[perm] * scale[:, None]).T  # (H, 4H)
        # Input projection of all steps at once: (T·B, I) @ (I, 4H).
        act = (x.reshape(T * B, -1) @ wih.T).reshape(T, B, 4 * H)
        if b_ih is not None:
            act += (b_ih + b_hh)[perm] * scale
        out = xp.empty((T + 1, B, H), dtype=x.dtype)
        cs = xp.empty((T, B, H), dtype=x.dtype)  # c_t, kept for backward
        self.kernel = lookup("lstm_layer", x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        steps = self.kernel[0] if self.kernel else _forward_steps
        c = steps(act, whh_t, h0, c0, out, cs, reverse)
        out[T] = c
        self.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, out)  # the biases for the double backward
        self.act, self.cs, self.reverse = act, cs, reverse
        self.has_bias = b_ih is not None
        return out

    def backward(self, grad):
        xp = self.xp
        x, h0, c0, w_ih, w_hh, _, _, out = self.saved
        act, cs, reverse = self.act, self.cs, self.reverse
        T, B, _ = x.shape
        H = w_hh.shape[1]
        hs = out[:T]
        perm = _internal_order(xp, H)
        whh = w_hh[perm]  # (4H, H) internal order, unscaled
        # The previous step's h and c for every t (h0/c0 at the sequence start).
        h_prev, c_prev = _states_before(xp, hs, h0, reverse), _states_before(xp, cs, c0, reverse)
        steps = self.kernel[1] if self.kernel else _backward_steps
        dz, dh, dc = steps(act, cs, c_prev, whh, grad, reverse)
        dz2 = dz.reshape(T * B, 4 * H)
        need = self.needs_input_grad
        gx = (dz2 @ w_ih[perm]).reshape(x.shape) if need[0] else None
        g_wih = (dz2.T @ x.reshape(T * B, -1))[perm] if need[3] else None  # (4H, I), torch order
        g_whh = (dz2.T @ h_prev.reshape(T * B, H))[perm] if need[4] else None
        gb = None
        if self.has_bias and (need[5] or need[6]):
            gb = (xp.ones(T * B, dtype=dz2.dtype) @ dz2)[perm]
        return (gx, dh if need[1] else None, dc if need[2] else None, g_wih, g_whh,
                gb if self.has_bias and need[5] else None,
                gb.copy() if self.has_bias and need[6] else None)


class GRULayer(Function):
    """One GRU layer in one direction over a whole sequence (torch's gate order r, z, n).

        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),  h' = (1 - z)·n + z·h = n + z·(h - n)

    forward(x (T, B, I), h0 (B, H), w_ih (3H, I), w_hh (3H, H), b_ih (3H,) | None, b_hh (3H,) | None,
    reverse=False) -> (T, B, H), h_t in time order; h_n is row T-1 (row 0 when ``reverse``).
    As LSTMLayer: the input projection of all steps is one matmul, each step one (B, H) @ (H, 3H)
    matmul and whole-array gate updates; backward keeps the per-step gate gradients and gets the
    weight and input gradients from single matmuls over all T·B rows.
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        xp = self.xp
        T, B, _ = x.shape
        H = w_hh.shape[1]
        gi = (x.reshape(T * B, -1) @ w_ih.T).reshape(T, B, 3 * H)  # all steps at once
        if b_ih is not None:
            gi += b_ih
        whh_t = xp.ascontiguousarray(w_hh.T)  # (H, 3H) in rows: a transposed view ran 1.2-4x slower at small B
        out = xp.empty((T, B, H), dtype=x.dtype)
        saved = xp.empty((T, B, 4 * H), dtype=x.dtype)  # per step [r | z | n | W_hn h + b_hn], for backward
        h = h0
        with _quiet(xp):
            for t in (range(T - 1, -1, -1) if reverse else range(T)):
                gh = h @ whh_t  # (B, 3H)
                if b_hh is not None:
                    gh += b_hh
                s = saved[t]
                rz = gi[t, :, :2 * H] + gh[:, :2 * H]
                xp.negative(rz, out=rz)
                xp.exp(rz, out=rz)
                rz += 1
                xp.reciprocal(rz, out=s[:, :2 * H])  # σ: r, z
                r, z = s[:, :H], s[:, H:2 * H]
                s[:, 3 * H:] = gh[:, 2 * H:]
                n = _tanh(xp, gi[t, :, 2 * H:] + r * gh[:, 2 * H:])
                s[:, 2 * H:3 * H] = n
                h_new = out[t]
                xp.subtract(h, n, out=h_new)
                h_new *= z
                h_new += n
                h = h_new
        self.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out)  # the biases for the double backward
        self.gates, self.reverse, self.has_bias = saved, reverse, b_ih is not None
        return out

    def backward(self, grad):
        xp = self.xp
        x, h0, w_ih, w_hh, _, _, out = self.saved
        gates, reverse = self.gates, self.reverse
        T, B, _ = x.shape
        H = w_hh.shape[1]
        h_prev = _states_before(xp, out, h0, reverse)
        dgi = xp.empty((T, B, 3 * H), dtype=x.dtype)  # gradients of the pre-activations, input side
        dgh = xp.empty((T, B, 3 * H), dtype=x.dtype)  # and recurrent side (n: r times the input side's)
        dh = xp.zeros_like(h0)
        for t in (range(T) if reverse else range(T - 1, -1, -1)):
            dh = dh + grad[t]
            r, z, n, ghn = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
            da_n = dh * (1 - z) * (1 - n * n)
            dgi[t, :, :H] = da_n * ghn * r * (1 - r)
            dgi[t, :, H:2 * H] = dh * (h_prev[t] - n) * z * (1 - z)
            dgi[t, :, 2 * H:] = da_n
            dgh[t, :, :2 * H] = dgi[t, :, :2 * H]
            dgh[t, :, 2 * H:] = da_n * r
            dh = dh * z + dgh[t] @ w_hh  # (B, 3H) @ (3H, H)
        dgi2, dgh2 = dgi.reshape(T * B, 3 * H), dgh.reshape(T * B, 3 * H)
        need = self.needs_input_grad
        gx = (dgi2 @ w_ih).reshape(x.shape) if need[0] else None
        g_wih = dgi2.T @ x.reshape(T * B, -1) if need[2] else None
        g_whh = dgh2.T @ h_prev.reshape(T * B, H) if need[3] else None
        gb_ih = dgi2.sum(0) if self.has_bias and need[4] else None
        gb_hh = dgh2.sum(0) if self.has_bias and need[5] else None
        return gx, dh if need[1] else None, g_wih, g_whh, gb_ih, gb_hh


class RNNLayer(Function):
    """One Elman RNN layer in one direction over a whole sequence (torch's nn.RNN):

        h' = act(W_ih x + b_ih + W_hh h + b_hh),  act = tanh or relu (``nonlinearity``)

    forward(x (T, B, I), h0 (B, H), w_ih (H, I), w_hh (H, H), b_ih (H,) | None, b_hh (H,) | None,
    nonlinearity="tanh", reverse=False) -> (T, B, H), h_t in time order; h_n is row T-1 (row 0 when
    ``reverse``). As GRULayer: the input projection of all steps (with both biases) is one matmul, each
    step one (B, H) @ (H, H) matmul and the activation in place; backward walks the steps in reverse
    (one (B, H) @ (H, H) matmul each for dh) and gets the weight, bias and input gradients from single
    matmuls over all T·B rows. The per-step composition recorded ~5 graph nodes and two small matmuls
    a step.
    """

    def forward(self, x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", reverse=False):
        xp = self.xp
        T, B, _ = x.shape
        H = w_hh.shape[1]
        out = (x.reshape(T * B, -1) @ w_ih.T).reshape(T, B, H)  # every step's input part; steps fill in place
        if b_ih is not None:
            out += b_ih + b_hh  # (H,): both biases in one pass, as LSTMLayer
        whh_t = xp.ascontiguousarray(w_hh.T)  # (H, H) in rows: a transposed view ran 1.2-4x slower at small B
        relu = nonlinearity == "relu"
        h = h0
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            a = out[t]  # (B, H): pre-activation, then h_t
            a += h @ whh_t
            if relu:
                xp.maximum(a, 0, out=a)
            else:
                xp.tanh(a, out=a)
            h = a
        self.save_for_backward(x, h0, w_ih, w_hh, b_ih, b_hh, out)  # the biases for the double backward
        self.relu, self.reverse, self.has_bias = relu, reverse, b_ih is not None
        return out

    def backward(self, grad):
        xp = self.xp
        x, h0, w_ih, w_hh, _, _, out = self.saved
        T, B, _ = x.shape
        H = w_hh.shape[1]
        h_prev = _states_before(xp, out, h0, self.reverse)
        da = xp.empty((T, B, H), dtype=x.dtype)  # gradient of each step's pre-activation
        dh = xp.zeros_like(h0)
        for t in (range(T) if self.reverse else range(T - 1, -1, -1)):
            d = da[t]
            xp.add(dh, grad[t], out=d)
            if self.relu:
                d *= out[t] > 0  # relu'(0) = 0, as torch
            else:
                d *= 1 - out[t] * out[t]  # tanh' = 1 - h²
            dh = d @ w_hh  # (B, H) @ (H, H)
        da2 = da.reshape(T * B, H)
        need = self.needs_input_grad
        gx = (da2 @ w_ih).reshape(x.shape) if need[0] else None
        g_wih = da2.T @ x.reshape(T * B, -1) if need[2] else None
        g_whh = da2.T @ h_prev.reshape(T * B, H) if need[3] else None
        gb = da2.sum(0) if self.has_bias and (need[4] or need[5]) else None  # the same for both biases
        return gx, dh if need[1] else None, g_wih, g_whh, gb if need[4] else None, gb if need[5] else None
