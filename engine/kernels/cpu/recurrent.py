"""The LSTM recurrence of engine/ops/recurrent.py's LSTMLayer (numba): ``("lstm_layer", "cpu")``.

The reference spends a dozen NumPy passes (and as many small allocations) on the gates of each
step, ~120 µs at batch 32, hidden 256, next to the ~160 µs recurrent matmul. Here each step is
the matmul into a preallocated buffer (OpenBLAS) and, in float32, one pass for the gates, c and
h with the float32 exp inline (exp_float32_scalar), in float64 a few passes around NumPy's exp;
backward is the matmul for dh and one pass from (dh, dc) to the four gate gradients and dc_prev.
The pair does what ``_forward_steps``/``_backward_steps`` of the op do, on the same arrays.
Batch rows never mix, so each of engine.parallel's threads runs the steps of its share of the
rows (OpenBLAS on one thread): one hand-off per layer instead of an OpenBLAS wake-up per step.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import exp_, exp_float32_scalar, jit
from engine.parallel import parallel_batched


# The kernels take flat arrays and slice one row's gate blocks: a[b, 1, j] or a[b, H + j] index
# with a check numba cannot drop (the index might be negative), and that stops the SIMD (5x).
# _gates and _hidden are the float64 step's passes around NumPy's exp; _step_forward_f32 inlines
# the same arithmetic (one kernel for both, the exp picked by a flag, ran 1.5x slower in float32).
@jit()
def _gates(a, c_prev, c, e2, n_b, H):
    """a (B·4H) = exp(-z) for i, f, o and exp(-2z) for g (internal order [i, f, o, g]) ->
    a = the activated gates σ(z), tanh(z); c (B·H) = f·c_prev + i·g; e2 = -2c (for tanh c)."""
    one, two = a.dtype.type(1), a.dtype.type(2)
    for b in range(n_b):
        r = 4 * H * b
        ai, af, ao, ag = a[r:r + H], a[r + H:r + 2 * H], a[r + 2 * H:r + 3 * H], a[r + 3 * H:r + 4 * H]
        cp, cb, eb = c_prev[b * H:(b + 1) * H], c[b * H:(b + 1) * H], e2[b * H:(b + 1) * H]
        for j in range(H):
            i = one / (one + ai[j])
            f = one / (one + af[j])
            o = one / (one + ao[j])
            g = (one / (one + ag[j])) * two - one
            ai[j] = i
            af[j] = f
            ao[j] = o
            ag[j] = g
            cc = f * cp[j] + i * g
            cb[j] = cc
            eb[j] = cc * -two


@jit()
def _hidden(a, e2, h, n_b, H):
    """h (B·H) = o·tanh(c), tanh(c) = 2 / (1 + e2) - 1 with e2 = exp(-2c); a (B·4H)."""
    one, two = a.dtype.type(1), a.dtype.type(2)
    for b in range(n_b):
        ao, eb, hb = a[4 * H * b + 2 * H:4 * H * b + 3 * H], e2[b * H:(b + 1) * H], h[b * H:(b + 1) * H]
        for j in range(H):
            hb[j] = ao[j] * (two / (one + eb[j]) - one)


@jit(fastmath=("contract",))
def _step_forward_f32(a, rec, c_prev, c, h, n_b, H):
    """One float32 step in one pass (exp_float32_scalar inline, the arithmetic of the passes it
    replaced): a (B·4H) ← the activated gates of a + rec, as _gates; c ← f·c_prev + i·g; h ←
    o·tanh(c), tanh(c) = 2 / (1 + exp(-2c)) - 1, as _hidden. No scratch arrays; a layer's forward
    recurrence at T 64, B 32, H 256 10.2 -> 9.5 ms against the five passes it replaced."""
    one, two = np.float32(1), np.float32(2)
    for b in range(n_b):
        r = 4 * H * b
        ai, af, ao, ag = a[r:r + H], a[r + H:r + 2 * H], a[r + 2 * H:r + 3 * H], a[r + 3 * H:r + 4 * H]
        ri, rf, ro, rg = rec[r:r + H], rec[r + H:r + 2 * H], rec[r + 2 * H:r + 3 * H], rec[r + 3 * H:r + 4 * H]
        cp, cb, hb = c_prev[b * H:(b + 1) * H], c[b * H:(b + 1) * H], h[b * H:(b + 1) * H]
        for j in range(H):
            i = one / (one + exp_float32_scalar(ai[j] + ri[j]))
            f = one / (one + exp_float32_scalar(af[j] + rf[j]))
            o = one / (one + exp_float32_scalar(ao[j] + ro[j]))
            g = (one / (one + exp_float32_scalar(ag[j] + rg[j]))) * two - one
            ai[j] = i
            af[j] = f
            ao[j] = o
            ag[j] = g
            cc = f * cp[j] + i * g
            cb[j] = cc
            hb[j] = o * (two / (one + exp_float32_scalar(cc * -two)) - one)


@jit()
def _tanh_from_exp(e):
    """e = exp(-2c) (flat) -> tanh(c) = 2 / (1 + e) - 1, in place."""
    one, two = e.dtype.type(1), e.dtype.type(2)
    for k in range(e.size):
        e[k] = two / (one + e[k]) - one


@jit()
def _step_backward(a, tc, cp, gh, dhm, dc, dz, n_b, H):
    """One step back: dh = dhm + gh (the next step's dh_prev plus this step's output gradient),
    dc += dh·o·(1 - tanh²c); dz (B·4H) = the gate pre-activation gradients; dc ← dc·f."""
    one = a.dtype.type(1)
    for b in range(n_b):
        r, q = 4 * H * b, H * b
        ai, af, ao, ag = a[r:r + H], a[r + H:r + 2 * H], a[r + 2 * H:r + 3 * H], a[r + 3 * H:r + 4 * H]
        di, df, do, dg = dz[r:r + H], dz[r + H:r + 2 * H], dz[r + 2 * H:r + 3 * H], dz[r + 3 * H:r + 4 * H]
        tb, cpb, ghb, dhb, dcb = tc[q:q + H], cp[q:q + H], gh[q:q + H], dhm[q:q + H], dc[q:q + H]
        for j in range(H):
            i, f, o, g = ai[j], af[j], ao[j], ag[j]
            t = tb[j]
            dh = dhb[j] + ghb[j]
            d = dcb[j] + dh * (o * (one - t * t))
            di[j] = d * (g * i * (one - i))
            df[j] = d * (cpb[j] * f * (one - f))
            do[j] = dh * (t * o * (one - o))
            dg[j] = d * (i * (one - g * g))
            dcb[j] = d * f


def lstm_forward_steps(act, whh_t, h0, c0, out, cs, reverse):
    """The recurrence in place: act (T, B, 4H) scaled pre-activations of the input -> activated
    gates; out[:T] (T, B, H) ← h_t, cs (T, B, H) ← c_t. Returns c of the last step run.

    Batch rows never mix, so the rows are shared out once to the threads (``parallel_batched``:
    BLAS on one thread, each thread its rows' steps): a step's matmul is too small for OpenBLAS's
    two threads to beat the wake-up of its second one, which every step paid.

    >>> act = np.zeros((1, 1, 4), np.float32); out = np.empty((2, 1, 1), np.float32)
    >>> cs = np.empty((1, 1, 1), np.float32); z = np.zeros((1, 1), np.float32)
    >>> _ = lstm_forward_steps(act, np.zeros((1, 4), np.float32), z, z, out, cs, False); act.tolist()
    [[[0.5, 0.5, 0.5, 0.0]]]
    """
    T, B, H4 = act.shape
    c_last = np.empty((B, H4 // 4), act.dtype)

    def rows(lo, hi):  # act[t, lo:hi], out[t, lo:hi], cs[t, lo:hi] stay contiguous
        c_last[lo:hi] = _forward_rows(act[:, lo:hi], whh_t, h0[lo:hi], c0[lo:hi], out[:, lo:hi], cs[:, lo:hi],
                                      reverse)

    parallel_batched(np, B, rows, row_size=T * H4)
    return c_last


def _forward_rows(act, whh_t, h0, c0, out, cs, reverse):
    """lstm_forward_steps on a slice of batch rows (views whose act[t] etc. are contiguous)."""
    T, B, H4 = act.shape
    H = H4 // 4
    dt = act.dtype
    h, c = np.ascontiguousarray(h0, dt), np.ascontiguousarray(c0, dt)
    w = np.ascontiguousarray(whh_t.T)  # (4H, H); the op passes whh_t as a view of it, so no copy
    rec_t = np.empty((H4, B), dt)  # W_hh h_{t-1}ᵀ, then transposed into rec
    rec = np.empty((B, H4), dt)  # h_{t-1} @ W_hhᵀ
    e2 = np.empty((B, H), dt)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        a = act[t]
        # (4H, H) @ (H, B) and a transposing copy, not (B, H) @ (H, 4H): OpenBLAS packs the
        # weights differently for the two, and the first is 1.7x faster at B 16, H 256 on one
        # AVX-512 thread (106 + 10 vs 181 us, Zen 4; 8% on an Intel Xeon).
        np.matmul(w, h.T, out=rec_t)
        rec[...] = rec_t.T
        if dt == np.float32:
            c_new, h = cs[t], out[t]
            _step_forward_f32(a.reshape(-1), rec.reshape(-1), c.reshape(-1), c_new.reshape(-1), h.reshape(-1), B, H)
            c = c_new
            continue
        a += rec
        exp_(a)
        c_new = cs[t]
        _gates(a.reshape(-1), c.reshape(-1), c_new.reshape(-1), e2.reshape(-1), B, H)
        exp_(e2)
        h = out[t]
        _hidden(a.reshape(-1), e2.reshape(-1), h.reshape(-1), B, H)
        c = c_new
    return c


def lstm_backward_steps(act, cs, c_prev, whh, grad, reverse):
    """Back through the steps: act (T, B, 4H) activated gates, cs and c_prev (T, B, H), whh
    (4H, H) internal order, grad (T + 1, B, H) -> (dz (T, B, 4H), dh0 (B, H), dc0 (B, H)).
    Batch rows are shared out to the threads as in ``lstm_forward_steps``.

    >>> a = np.full((1, 1, 4), 0.5); z = np.zeros((1, 1, 1))
    >>> dz, dh, dc = lstm_backward_steps(a, z, z, np.zeros((4, 1)), np.ones((2, 1, 1)), False); dc.tolist()
    [[0.75]]
    """
    T, B, H4 = act.shape
    H = H4 // 4
    dt = act.dtype
    grad, c_prev = np.ascontiguousarray(grad, dt), np.ascontiguousarray(c_prev, dt)  # [t, lo:hi] contiguous
    dz = np.empty_like(act)
    dh0, dc0 = np.empty((B, H), dt), np.empty((B, H), dt)

    def rows(lo, hi):
        _backward_rows(act[:, lo:hi], cs[:, lo:hi], c_prev[:, lo:hi], whh, grad[:, lo:hi], reverse, dz[:, lo:hi],
                       dh0[lo:hi], dc0[lo:hi])

    parallel_batched(np, B, rows, row_size=T * H4)
    return dz, dh0, dc0


def _backward_rows(act, cs, c_prev, whh, grad, reverse, dz, dh0, dc0):
    """lstm_backward_steps on a slice of batch rows, into dz, dh0 and dc0 (views of the results)."""
    T, B, H4 = act.shape
    H = H4 // 4
    dt = act.dtype
    tc = cs * dt.type(-2)  # (T, B, H) tanh(c_t), for every step at once
    exp_(tc)
    _tanh_from_exp(tc.reshape(-1))
    dhm = np.zeros((B, H), dt)
    dc = grad[T].copy()
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        _step_backward(act[t].reshape(-1), tc[t].reshape(-1), c_prev[t].reshape(-1), grad[t].reshape(-1),
                       dhm.reshape(-1), dc.reshape(-1), dz[t].reshape(-1), B, H)
        np.matmul(dz[t], whh, out=dhm)
    dh0[...] = dhm
    dc0[...] = dc


register("lstm_layer", "cpu", lstm_forward_steps, lstm_backward_steps)
