"""Reductions over ``axis`` (None, int or tuple) with ``keepdims``."""

from __future__ import annotations

import math

from engine.function import Function


def dim_arg(op: str, dim=None, axis=None):
    """The one axis argument of ``op``: torch's ``dim`` or NumPy's ``axis``, not both.

    >>> dim_arg("sum", dim=1)
    1
    """
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; pass one of them")
    return axis if dim is None else dim


def keepdim_arg(op: str, keepdim=None, keepdims=None) -> bool:
    """torch's ``keepdim`` or NumPy's ``keepdims`` (False when neither is given), not both."""
    if keepdim is not None and keepdims is not None:
        raise TypeError(f"{op}: got both keepdim and keepdims; pass one of them")
    return bool(keepdim if keepdims is None else keepdims)


def normalize_axis(axis, ndim: int, op: str = "reduction") -> tuple:
    """``axis`` as a sorted tuple of non-negative ints; None means all axes.

    A 0-d tensor accepts dim 0 and -1 as torch does (there is nothing to reduce: ``()``).

    >>> normalize_axis(-1, 3), normalize_axis(None, 2), normalize_axis(-1, 0)
    ((2,), (0, 1), ())
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {a!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(f"{op}: dim {a} is out of range for a tensor with {ndim} dims "
                             f"(expected one in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
        if ndim:
            out.append(a % ndim)
    return tuple(sorted(set(out)))


def expand_reduced(g, in_shape: tuple, axes: tuple, keepdims: bool):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if not keepdims:
        shape = list(in_shape)
        for a in axes:
            shape[a] = 1
        g = g.reshape(shape)
    return g


class Sum(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.axes = normalize_axis(axis, a.ndim)
        self.in_shape, self.keepdims = a.shape, keepdims
        return a.sum(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return self.xp.broadcast_to(g, self.in_shape)


class Mean(Function):
    def forward(self, a, axis=None, keepdims=False):
        self.axes = normalize_axis(axis, a.ndim)
        self.in_shape, self.keepdims = a.shape, keepdims
        self.count = math.prod(a.shape[i] for i in self.axes)
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return self.xp.broadcast_to(g / self.count, self.in_shape)


class _Extremum(Function):
    """max/min: the gradient goes to the extreme entries, split evenly among ties."""

    reduce_name = ""

    def forward(self, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ValueError(f"{self.reduce_name}() of an empty tensor of shape {a.shape}")
        self.axes = normalize_axis(axis, a.ndim)
        self.in_shape, self.keepdims = a.shape, keepdims
        out = getattr(a, self.reduce_name)(axis=self.axes, keepdims=True)
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape([s for i, s in enumerate(a.shape) if i not in self.axes])

    def backward(self, g):
        a, out = self.saved
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        hit = (a == out).astype(g.dtype)
        return hit * (g / hit.sum(axis=self.axes, keepdims=True))


class Max(_Extremum):
    reduce_name = "max"


class Min(_Extremum):
    reduce_name = "min"


class LogSumExp(Function):
    """``log(sum(exp(a)))`` computed stably by shifting by the max."""

    def forward(self, a, axis=None, keepdims=False):
        xp = self.xp
        self.axes = normalize_axis(axis, a.ndim)
        self.in_shape, self.keepdims = a.shape, keepdims
        m = a.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows give -inf, not nan
        out = xp.log(xp.exp(a - m).sum(axis=self.axes, keepdims=True)) + m
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape([s for i, s in enumerate(a.shape) if i not in self.axes])

    def backward(self, g):
        a, out = self.saved
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return g * self.xp.exp(a - out)
