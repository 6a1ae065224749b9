"""Attention's softmax over the last axis, in place (the reference: engine/ops/fused.py's
``softmax_rows_`` and ``softmax_rows_backward_``): three passes instead of eight."""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import exp_, jit


@jit()
def _softmax_shift_rows(s, bias, scale):
    """s (R, S) ← s·scale + bias[r % Tb] − its row max; bias (Tb, S), or (0, S) for none."""
    R, S = s.shape
    tb = bias.shape[0]
    for r in range(R):
        m = -np.inf
        if tb:
            for c in range(S):
                v = s[r, c] * scale + bias[r % tb, c]
                s[r, c] = v
                m = max(m, v)
        else:
            for c in range(S):
                v = s[r, c] * scale
                s[r, c] = v
                m = max(m, v)
        for c in range(S):
            s[r, c] -= m


@jit()
def _normalize_rows(s):
    """s (R, S) ← s / its row sum."""
    R, S = s.shape
    zero, one = s.dtype.type(0), s.dtype.type(1)
    for r in range(R):
        t = zero
        for c in range(S):
            t += s[r, c]
        t = one / t
        for c in range(S):
            s[r, c] *= t


@jit()
def _softmax_backward_rows(gs, p, scale):
    """gs (R, S) ← p·(gs − Σ gs·p)·scale, row by row."""
    R, S = gs.shape
    zero = gs.dtype.type(0)
    for r in range(R):
        d = zero
        for c in range(S):
            d += gs[r, c] * p[r, c]
        for c in range(S):
            gs[r, c] = (gs[r, c] - d) * p[r, c] * scale


def softmax_rows_(s, bias, scale: float) -> None:
    """s (…, T, S) C-contiguous ← softmax(s·scale + bias) over the last axis, in place; bias (T, S)
    (0 or −inf, as attention's mask) or None. The exp is NumPy's, between two compiled passes.

    >>> s = np.zeros((1, 2, 2)); softmax_rows_(s, np.array([[0.0, -np.inf], [0.0, 0.0]]), 1.0); s.tolist()
    [[[1.0, 0.0], [0.5, 0.5]]]
    """
    s2 = s.reshape(-1, s.shape[-1])
    bias = np.zeros((0, s.shape[-1]), s.dtype) if bias is None else bias
    _softmax_shift_rows(s2, bias, s.dtype.type(scale))
    exp_(s2)
    _normalize_rows(s2)


def softmax_rows_backward_(gs, p, scale: float) -> None:
    """gs (…, T, S) ← p·(gs − Σ gs·p)·scale in place (dL/dp to dL/d(scores)); both C-contiguous.

    >>> gs = np.array([[1.0, 0.0]]); softmax_rows_backward_(gs, np.array([[0.5, 0.5]]), 1.0); gs.tolist()
    [[0.25, -0.25]]
    """
    _softmax_backward_rows(gs.reshape(-1, gs.shape[-1]), p.reshape(-1, p.shape[-1]), gs.dtype.type(scale))



register("attention_softmax", "cpu", softmax_rows_, softmax_rows_backward_)


@jit()
def attend_one_query(q, k, v, start, stop, scale, y):
    """y[b, h] = softmax(scale·k[b, h, start:stop] @ q[b, h]) @ v[b, h, start:stop], in place.

    q, y (B, nh, hs); k, v (B, nh, S_max, hs): one query per (b, h) against cached positions (a
    decode step: no (T, S) scores, no mask). Reference: engine.ops.fused.attend_one_query.
    """
    B, nh, hs = q.shape
    s = np.empty(stop - start, q.dtype)
    for b in range(B):
        for h in range(nh):
            m = q.dtype.type(-np.inf)
            for j in range(start, stop):
                acc = q.dtype.type(0)
                for d in range(hs):
                    acc += k[b, h, j, d] * q[b, h, d]
                acc *= scale
                s[j - start] = acc
                m = max(m, acc)
            tot = q.dtype.type(0)
            for j in range(stop - start):
                e = np.exp(s[j] - m)
                s[j] = e
                tot += e
            inv = q.dtype.type(1) / tot
            for d in range(hs):
                y[b, h, d] = 0
            for j in range(start, stop):
                p = s[j - start] * inv
                for d in range(hs):
                    y[b, h, d] += p * v[b, h, j, d]


register("attention_decode", "cpu", attend_one_query)  # inference only: no gradient
