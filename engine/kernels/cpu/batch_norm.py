"""Compiled batch norm for engine/ops/norm.py (numba): ``("batch_norm", "cpu")``.

NumPy spends about eight passes over the (M, C) rows forward (sum, subtract, square, sum, scale,
shift) and nine backward. Here: two passes for the statistics (sum, then centered squares: the
same two-pass arithmetic as the reference, not E[x²] − E[x]²) and one for y; backward one pass for
Σg and Σg·(x − mean) and one for gx. Sums accumulate in float64 per thread share of the rows and
are added in Python, so results do not depend on the thread count beyond float64 rounding.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.parallel import get_num_threads, parallel_for


# The sums go into local arrays first: the threads' s1/s2 are rows of one (threads, C) array, and
# writing them for every row made the cache line two rows share bounce between the cores (10x).
@jit()
def _col_sums(x, mean, lo, hi, s1, s2):
    """s1 += Σ_r x[r] - mean; s2 += Σ_r (x[r] - mean)² over rows lo:hi (mean 0 for the first pass)."""
    C = x.shape[1]
    a1, a2 = np.zeros(C), np.zeros(C)
    for r in range(lo, hi):
        for c in range(C):
            d = np.float64(x[r, c]) - mean[c]
            a1[c] += d
            a2[c] += d * d
    s1 += a1
    s2 += a2


@jit()
def _grad_sums(x, g, mean, lo, hi, sg, sgx):
    """sg += Σ_r g[r]; sgx += Σ_r g[r]·(x[r] - mean) over rows lo:hi."""
    C = x.shape[1]
    a1, a2 = np.zeros(C), np.zeros(C)
    for r in range(lo, hi):
        for c in range(C):
            gv = np.float64(g[r, c])
            a1[c] += gv
            a2[c] += gv * (np.float64(x[r, c]) - mean[c])
    sg += a1
    sgx += a2


@jit()
def _affine(x, p, r0, out, lo, hi):
    """out = p·x + r0 per channel: forward's y = x·scale + shift."""
    C = x.shape[1]
    for r in range(lo, hi):
        for c in range(C):
            out[r, c] = p[c] * x[r, c] + r0[c]


@jit()
def _grad_x(x, g, mean, p, q, r0, out, lo, hi):
    """out = p·g + q·(x − mean) + r0 per channel: backward's gx."""
    C = x.shape[1]
    for r in range(lo, hi):
        for c in range(C):
            out[r, c] = p[c] * g[r, c] + q[c] * (x[r, c] - mean[c]) + r0[c]


def _shares(m: int, c: int):
    """Row ranges, one per thread, and a parallel_for over them."""
    t = max(1, min(get_num_threads(), m))
    bounds = [(m * i // t, m * (i + 1) // t) for i in range(t)]

    def run(fn):
        parallel_for(np, t, lambda lo, hi: [fn(i, *bounds[i]) for i in range(lo, hi)], row_size=(m * c) // t,
                     min_parallel=1 << 16)

    return t, run


def _sums(kernel, a, b, center, m, c):
    t, run = _shares(m, c)
    s1, s2 = np.zeros((t, c)), np.zeros((t, c))
    run(lambda i, lo, hi: kernel(a, b, center, lo, hi, s1[i], s2[i]) if b is not None
        else kernel(a, center, lo, hi, s1[i], s2[i]))
    return s1.sum(0), s2.sum(0)


def batch_norm_forward(x2, weight, bias, mean, var, eps):
    """(y2, mean, var, rstd) for rows x2 (M, C), as BatchNorm's reference: batch statistics when
    mean/var are None (training), else the given ones."""
    m, c = x2.shape
    x2 = np.ascontiguousarray(x2)
    dt = x2.dtype.type
    if mean is None:
        s1, _ = _sums(_col_sums, x2, None, np.zeros(c), m, c)
        mean64 = s1 / m
        _, s2 = _sums(_col_sums, x2, None, mean64, m, c)
        mean, var = mean64.astype(x2.dtype), (s2 / m).astype(x2.dtype)
    rstd = 1 / np.sqrt(var + dt(eps))
    scale = rstd if weight is None else rstd * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y2 = np.empty_like(x2)
    _, run = _shares(m, c)
    run(lambda i, lo, hi: _affine(x2, scale, shift, y2, lo, hi))
    return y2, mean, var, rstd


def batch_norm_backward(x2, g2, weight, mean, rstd, training):
    """(gx2, gw, gb) as BatchNorm's reference backward, on rows (M, C)."""
    m, c = x2.shape
    x2, g2 = np.ascontiguousarray(x2), np.ascontiguousarray(g2)
    gb64, gxc = _sums(_grad_sums, x2, g2, mean.astype(np.float64), m, c)  # Σg, Σg·(x − mean)
    rstd64 = rstd.astype(np.float64)
    gw64 = gxc * rstd64  # Σ g·x̂
    scale = rstd64 if weight is None else rstd64 * weight
    if training:  # gx = scale·(g − Σg/M − x̂·Σg·x̂/M) = p·g + q·(x − mean) + r0
        q = -scale * rstd64 * gw64 / m
        r0 = -scale * gb64 / m
    else:
        q, r0 = np.zeros(c), np.zeros(c)
    dt = x2.dtype
    gx2 = np.empty_like(x2)
    _, run = _shares(m, c)
    p, q, r0 = scale.astype(dt), q.astype(dt), r0.astype(dt)
    run(lambda i, lo, hi: _grad_x(x2, g2, mean, p, q, r0, gx2, lo, hi))
    return gx2, gw64.astype(dt), gb64.astype(dt)


register("batch_norm", "cpu", batch_norm_forward, batch_norm_backward)
