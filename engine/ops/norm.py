"""Batch normalization as one op: a readable forward and an analytic backward over channels-last rows.

Composed from engine ops, training-mode BatchNorm is a mean, a subtraction, a square, a second mean,
a sqrt, a division and the affine: about ten ops forward and twenty arrays of the input's size kept
for backward. Fused, it keeps the input and two (C,) statistics, as torch does.

The statistics are per channel over every other axis. Convolutions return channels-first *views*
of channels-last arrays, so ``moveaxis(x, 1, -1).reshape(-1, C)`` is a free (M, C) view there and
each statistic is a column sum (one GEMV). The output keeps that layout.
"""

from __future__ import annotations

from engine.function import Function
from engine.kernels import lookup
from engine.ops.elementwise import column_sums


def rows_of(xp, a):
    """a (N, C, *S) -> (M, C) rows, M = N·prod(S): a view when a is channels-last in memory."""
    return xp.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def channels_first(xp, rows, shape):
    """Inverse of rows_of: (M, C) -> (N, C, *S), a channels-first view of the channels-last rows."""
    return xp.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


class BatchNorm(Function):
    """y = (x − mean)·rstd·weight + bias per channel of x (N, C, *S); weight/bias (C,) or None.

    ``training=True``: mean and biased variance of this batch, and the running statistics (when
    given) move towards the batch's (unbiased variance) by ``momentum``, in place, as torch's kernel
    does. ``training=False``: the running statistics are the constants mean and var.
    Saves x and the (C,) ``mean``, ``rstd``; backward
    gx = w·rstd·(g − mean(g) − x̂·mean(g·x̂)) in training, w·rstd·g otherwise.
    The kernel pair (engine/kernels/cpu/batch_norm.py) works on the (M, C) rows:
    ``forward(x2, weight, bias, mean, var, eps) -> (y2, mean, var, rstd)`` (mean/var None: the
    batch's) and ``backward(x2, g2, weight, mean, rstd, training) -> (gx2, gw, gb)``.
    """

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None, training=True,
                momentum=0.1, eps=1e-5):
        xp = self.xp
        x2 = rows_of(xp, x)  # (M, C)
        m = x2.shape[0]
        self.kernel = lookup("batch_norm", x2, weight, bias) if x2.size else None
        given = (None, None) if training else (running_mean.astype(x.dtype), running_var.astype(x.dtype))
        if self.kernel:
            y2, mean, var, rstd = self.kernel[0](x2, weight, bias, *given, eps)
        else:
            y2, mean, var, rstd = self._reference_forward(x2, weight, bias, *given, eps)
        if training and running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean.astype(running_mean.dtype)
        if training and running_var is not None:  # torch stores the unbiased variance
            running_var *= 1 - momentum
            running_var += momentum * (var * (m / max(m - 1, 1))).astype(running_var.dtype)
        self.training = training
        self.save_for_backward(x, weight, mean, rstd)
        return channels_first(xp, y2, x.shape)

    def backward(self, g):
        xp = self.xp
        x, weight, mean, rstd = self.saved
        x2, g2 = rows_of(xp, x), rows_of(xp, g)
        if self.kernel:
            gx2, gw, gb = self.kernel[1](x2, g2, weight, mean, rstd, self.training)
        else:
            gx2, gw, gb = self._reference_backward(x2, g2, weight, mean, rstd)
        gx = channels_first(xp, gx2, x.shape) if self.needs_input_grad[0] else None
        _, need_w, need_b = self.needs_input_grad
        return gx, gw if need_w else None, gb if need_b else None

    def _reference_forward(self, x2, weight, bias, mean, var, eps):
        xp, m, dt = self.xp, x2.shape[0], x2.dtype.type
        if mean is None:  # training: this batch's statistics
            mean = column_sums(x2) * dt(1 / m)  # (C,)
            xc = x2 - mean
            var = column_sums(xc * xc) * dt(1 / m)  # biased, as used to normalize
        rstd = 1 / xp.sqrt(var + dt(eps))  # (C,)
        scale = rstd if weight is None else rstd * weight  # y = x·scale + shift
        shift = -mean * scale if bias is None else bias - mean * scale
        y2 = x2 * scale
        y2 += shift
        return y2, mean, var, rstd

    def _reference_backward(self, x2, g2, weight, mean, rstd):
        m = x2.shape[0]
        xhat = (x2 - mean) * rstd  # (M, C)
        gb = column_sums(g2)  # (C,)
        gw = column_sums(g2 * xhat)
        scale = rstd if weight is None else rstd * weight
        if self.training:  # the batch statistics depend on x too
            gx2 = g2 - gb * x2.dtype.type(1 / m)
            gx2 -= xhat * (gw * x2.dtype.type(1 / m))
            gx2 *= scale
        else:
            gx2 = g2 * scale
        return gx2, gw, gb
