"""Scans along one ``axis`` (cumsum, cumprod, logcumsumexp) and the one op that gives
gradients to sort, topk, max/min with a dim, median, kthvalue, cummax and cummin:
`TakeAlong`, which picks entries by index and scatters the gradient back to them."""

from __future__ import annotations

import math

import numpy as np

from engine.backend import scatter_add
from engine.function import Function
from engine.ops.reduce import _quiet


def _reverse_cumsum(xp, g, axis: int):
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


class Cumsum(Function):
    """Running sum along ``axis``; its gradient is the reversed running sum of ``g``."""

    def forward(self, a, axis=0):
        self.axis = axis
        return self.xp.cumsum(a, axis=axis, dtype=a.dtype)

    def backward(self, g):
        return _reverse_cumsum(self.xp, g, self.axis)


class Cumprod(Function):
    """Running product along ``axis``.

    d out_j / d a_i (i <= j) is the product of a_0..a_j without a_i. Without zeros that is
    ``out_j / a_i``; a slice with a zero takes the exact (N, N) route: every row i of the
    matrix is the slice with a_i replaced by 1, cumprod'ed."""

    def forward(self, a, axis=0):
        self.axis = axis
        out = self.xp.cumprod(a, axis=axis, dtype=a.dtype)
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        xp, (a, out) = self.xp, self.saved
        ax = self.axis
        if a.size == 0:
            return xp.zeros_like(a)
        if not (a == 0).any():
            return _reverse_cumsum(xp, g * out, ax) / a
        am, gm = xp.moveaxis(a, ax, -1), xp.moveaxis(g, ax, -1)  # (..., N)
        n = am.shape[-1]
        eye = xp.eye(n, dtype=bool)
        rows = xp.where(eye, xp.asarray(1, dtype=a.dtype), am[..., None, :])  # (..., N_i, N_j)
        prods = xp.cumprod(rows, axis=-1)  # prods[..., i, j]: prod_{k<=j, k != i} a_k
        later = xp.triu(xp.ones((n, n), dtype=a.dtype))  # j >= i
        grad = (prods * later * gm[..., None, :]).sum(-1)
        return xp.moveaxis(grad, -1, ax).astype(a.dtype, copy=False)


def log_add_exp_complex(xp, x, y):
    """log(exp(x) + exp(y)) for complex arrays, as torch's _log_add_exp_helper: the term with the larger real
    part factored out; nan anywhere gives nan; two infinite real parts of one sign give -inf (the first
    term, its angle arbitrary) or log(exp(x) + exp(y))."""
    with _quiet(xp):
        swap = y.real > x.real
        lo, hi = xp.where(swap, x, y), xp.where(swap, y, x)
        nan = xp.isnan(x) | xp.isnan(y)
        both_inf = ~xp.isfinite(lo.real) & (lo.real == hi.real)
        out = xp.log1p(xp.exp(lo - hi)) + hi
        out = xp.where(both_inf, xp.where(lo.real < 0, lo, xp.log(xp.exp(lo) + xp.exp(hi))), out)
        return xp.where(nan, xp.asarray(complex(math.nan, math.nan), dtype=out.dtype), out)


class LogCumSumExp(Function):
    """``log(cumsum(exp(a)))`` along ``axis``, stable: out_j = logaddexp(out_{j-1}, a_j).
    Gradient: d out_j / d a_i = exp(a_i - out_j) for i <= j, summed against ``g`` (N, N)."""

    def forward(self, a, axis=0):
        xp = self.xp
        self.axis = axis
        if a.dtype.kind == "c":  # torch's scan: acc = helper(a_j, acc) from acc = -inf, one step at a time
            out = xp.moveaxis(a.copy(), axis, 0)
            acc = xp.full(out.shape[1:], -xp.inf, dtype=a.dtype)
            for j in range(out.shape[0]):
                out[j] = acc = log_add_exp_complex(xp, out[j], acc)
            out = xp.moveaxis(out, 0, axis)
        elif xp is np:
            out = np.logaddexp.accumulate(a, axis=axis, dtype=a.dtype) if a.size else a.copy()
        else:  # CuPy has no ufunc.accumulate: shift by the running max instead
            m = xp.maximum.accumulate(a, axis=axis) if hasattr(xp.maximum, "accumulate") else a.max(axis, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            out = xp.log(xp.cumsum(xp.exp(a - m), axis=axis)) + m
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        xp, (a, out) = self.xp, self.saved
        am, om, gm = (xp.moveaxis(t, self.axis, -1) for t in (a, out, g))  # (..., N)
        n = am.shape[-1]
        with _quiet(xp):
            w = xp.exp(am[..., :, None] - om[..., None, :])  # (..., N_i, N_j)
        w = xp.where(xp.triu(xp.ones((n, n), dtype=bool)), w, 0)
        w = xp.where(xp.isnan(w), 0, w)  # -inf - -inf: an all -inf prefix passes nothing
        return xp.moveaxis((w * gm[..., None, :]).sum(-1), -1, self.axis).astype(a.dtype, copy=False)


class TakeAlong(Function):
    """``take_along_axis(a, index, axis)``: the values at ``index`` (int64, the shape of ``a``
    but for ``axis``). Backward adds each upstream entry to the position it came from
    (positions may repeat, as in cummax)."""

    def forward(self, a, index=None, axis=0):
        self.index, self.axis, self.in_shape = index, axis, a.shape
        return self.xp.take_along_axis(a, index, axis=axis)

    def backward(self, g):
        xp, ax = self.xp, self.axis
        idx = xp.moveaxis(self.index, ax, -1)  # (..., K)
        gm = xp.moveaxis(g, ax, -1)
        moved = [s for i, s in enumerate(self.in_shape) if i != ax] + [self.in_shape[ax]]  # (..., N)
        n, rows = moved[-1], math.prod(moved[:-1])
        flat = (xp.arange(rows, dtype=np.int64) * n)[:, None] + idx.reshape(rows, idx.shape[-1])  # rows may be 0
        out = xp.zeros(rows * n, dtype=g.dtype)
        scatter_add(out, flat.reshape(-1), xp.ascontiguousarray(gm).reshape(-1))
        return xp.moveaxis(out.reshape(moved), -1, ax)
