"""LayerNorm over the last axis, one pass per row each way (the reference: engine/ops/fused.py)."""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.parallel import MIN_PARALLEL_CHEAP, parallel_for

# One-pass kernels are memory-bound: a second thread gains little (LayerNorm backward at (2048, 384):
# 206 vs 221 µs), so they split only from 256K elements (M's activations, not S's).
MIN_PARALLEL_ONE_PASS = MIN_PARALLEL_CHEAP // 4


@jit()
def _layer_norm_rows(x, w, b, eps, y, mean, rstd, lo, hi):
    """Rows lo:hi: y = (x − mean)·rstd·w + b, rstd = 1/sqrt(var + eps)."""
    C = x.shape[1]
    zero, one, n_c = x.dtype.type(0), x.dtype.type(1), x.dtype.type(C)
    for n in range(lo, hi):
        s = zero
        for c in range(C):
            s += x[n, c]
        m = s / n_c
        v = zero
        for c in range(C):  # two passes over the row (in L1), as the reference: no cancellation
            d = x[n, c] - m
            v += d * d
        r = one / np.sqrt(v / n_c + eps)
        for c in range(C):
            y[n, c] = (x[n, c] - m) * r * w[c] + b[c]
        mean[n] = m
        rstd[n] = r


@jit()
def _layer_norm_backward_blocks(g, x, mean, rstd, w, gx, part, block, lo, hi):
    """Row blocks lo:hi (``block`` rows each): gx = rstd·(gxhat − mean(gxhat) − xhat·mean(gxhat·xhat)),
    gxhat = g·w; and each block's column sums part[b, 0] = Σ g·xhat (for dw), part[b, 1] = Σ g (db)."""
    N, C = g.shape
    zero, n_c = g.dtype.type(0), g.dtype.type(C)
    xhat = np.empty(C, g.dtype)  # one row, in L1
    for blk in range(lo, hi):
        gw, gb = part[blk, 0], part[blk, 1]
        gw[:] = zero
        gb[:] = zero
        for n in range(blk * block, min(N, (blk + 1) * block)):
            m, r = mean[n], rstd[n]
            for c in range(C):  # its own pass: the row sums below then round as they did on a saved xhat
                xhat[c] = (x[n, c] - m) * r
            s1 = zero
            s2 = zero
            for c in range(C):
                gh = g[n, c] * w[c]
                s1 += gh
                s2 += gh * xhat[c]
            s1 /= n_c
            s2 /= n_c
            for c in range(C):
                gx[n, c] = r * (g[n, c] * w[c] - s1 - xhat[c] * s2)
                gw[c] += g[n, c] * xhat[c]
                gb[c] += g[n, c]


# Rows per block of partial column sums (dw, db): blocks, not threads, fix the order of the sums,
# so the bits do not depend on the thread count; 32 blocks at M's 2048 rows.
_BLOCK = 64


def layer_norm_forward(x, weight, bias, eps: float):
    """``(y, mean, rstd)`` as LayerNorm's reference: x (…, C), weight/bias (C,) or None.

    >>> y, mean, rstd = layer_norm_forward(np.array([[1.0, 3.0]]), None, None, 0.0)
    >>> y.tolist(), mean.tolist(), rstd.tolist()
    ([[-1.0, 1.0]], [2.0], [1.0])
    """
    C = x.shape[-1]
    x2 = np.ascontiguousarray(x).reshape(-1, C)  # (N, C)
    N = x2.shape[0]
    w = np.ones(C, x.dtype) if weight is None else weight
    b = np.zeros(C, x.dtype) if bias is None else bias
    y, mean, rstd = np.empty_like(x2), np.empty(N, x.dtype), np.empty(N, x.dtype)
    eps = x.dtype.type(eps)
    parallel_for(np, N, lambda lo, hi: _layer_norm_rows(x2, w, b, eps, y, mean, rstd, lo, hi), row_size=C,
                 min_parallel=MIN_PARALLEL_ONE_PASS)
    return y.reshape(x.shape), mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1])


def layer_norm_backward(x, weight, mean, rstd, g, need_x: bool, need_w: bool, need_b: bool):
    """``(gx, gw, gb)`` (None where not needed) as LayerNorm's reference.

    >>> x = np.array([[1.0, 3.0]]); gx, gw, gb = layer_norm_backward(x, None, np.array([2.0]), np.ones(1),
    ...                                                               np.ones((1, 2)), True, False, True)
    >>> gx.tolist(), gw, gb.tolist()  # a constant shift of the output has no gradient in x
    ([[0.0, 0.0]], None, [1.0, 1.0])
    """
    C = x.shape[-1]
    x2 = np.ascontiguousarray(x).reshape(-1, C)
    g2 = np.ascontiguousarray(g.astype(x.dtype, copy=False)).reshape(-1, C)
    N = x2.shape[0]
    gx = gw = gb = None
    need_w = need_w and weight is not None
    if need_x or need_w:  # one pass over x and g: gx, and dw/db from per-block partial sums
        w = np.ones(C, x.dtype) if weight is None else weight
        gx = np.empty_like(x2)
        blocks = -(-N // _BLOCK)
        part = np.empty((blocks, 2, C), x.dtype)  # (blocks, [dw, db], C)
        m, r = mean.reshape(-1), rstd.reshape(-1)
        parallel_for(np, blocks, lambda lo, hi: _layer_norm_backward_blocks(g2, x2, m, r, w, gx, part, _BLOCK, lo, hi),
                     row_size=_BLOCK * C, min_parallel=MIN_PARALLEL_ONE_PASS)
        sums = part.sum(axis=0)  # (2, C)
        gw = sums[0] if need_w else None
        gb = sums[1] if need_b else None
        gx = gx.reshape(x.shape) if need_x else None
    elif need_b:
        gb = np.ones(N, g2.dtype) @ g2  # one GEMV
    return gx, gw, gb


register("layer_norm", "cpu", layer_norm_forward, layer_norm_backward)
