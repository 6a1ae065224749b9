"""Reductions over ``axis`` (None, int or tuple) with ``keepdims``."""

from __future__ import annotations

import contextlib
import math

import numpy as np

from engine.function import Function


class EmptyReduction(IndexError, RuntimeError):
    """argmax/argmin of an empty tensor without a dim: torch raises IndexError; RuntimeError too,
    so code that catches either (as older torch raised) still does."""


# torch reduces every dim for dim=() (or []) in these; any/all and squeeze take it as no dim at all
_EMPTY_DIMS_REDUCE_ALL = ("sum", "mean", "nansum", "amax", "amin", "logsumexp", "var", "var_mean", "std",
                          "std_mean", "count_nonzero", "norm")


def dim_arg(op: str, dim=None, axis=None):
    """The one axis argument of ``op``: torch's ``dim`` or NumPy's ``axis``, not both.

    >>> dim_arg("sum", dim=1)
    1
    """
    if dim is not None and axis is not None:
        raise TypeError(f"{op}: got both dim={dim!r} and axis={axis!r}; pass one of them")
    if isinstance(dim, (tuple, list)) and len(dim) == 0 and op in _EMPTY_DIMS_REDUCE_ALL:
        return None  # torch: an empty dim list reduces over every dim (sum(x, dim=()) is x.sum());
    return axis if dim is None else dim  # NumPy's axis=() reduces none


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
    seen = set()
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {a!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise IndexError(f"{op}: dim {a} is out of range for a tensor with {ndim} dims "
                             f"(expected one in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
        if a % max(ndim, 1) in seen:  # torch: sum(x, (0, -ndim)) is an error, not one reduction
            raise RuntimeError(f"{op}: dim {a % max(ndim, 1)} appears multiple times in the list of dims {axes}")
        seen.add(a % max(ndim, 1))
        if ndim:
            out.append(a % ndim)
    return tuple(sorted(out))


def expand_reduced(g, in_shape: tuple, axes: tuple, keepdims: bool):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if not keepdims:
        shape = list(in_shape)
        for a in axes:
            shape[a] = 1
        g = g.reshape(shape)
    return g


class Sum(Function):
    """Sum over ``axis``; the gradient broadcasts back. An empty axis sums to 0."""

    conj_grad = False  # linear with real coefficients

    def forward(self, a, axis=None, keepdims=False):
        self.axes = normalize_axis(axis, a.ndim, "sum")
        self.in_shape, self.keepdims = a.shape, keepdims
        return a.sum(axis=self.axes, keepdims=keepdims, dtype=a.dtype)  # NumPy would widen int32 to int64

    def backward(self, g):
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return self.xp.broadcast_to(g, self.in_shape)


class Mean(Function):
    """Mean over ``axis``; the mean of an empty axis is nan, as in torch."""

    conj_grad = False  # linear with real coefficients

    def forward(self, a, axis=None, keepdims=False):
        xp = self.xp
        self.axes = normalize_axis(axis, a.ndim, "mean")
        self.in_shape, self.keepdims = a.shape, keepdims
        self.count = math.prod(a.shape[i] for i in self.axes)
        if self.count == 0:  # NumPy warns; torch quietly gives nan
            shape = [1 if i in self.axes else s for i, s in enumerate(a.shape)] if keepdims else \
                [s for i, s in enumerate(a.shape) if i not in self.axes]
            return xp.full(shape, xp.nan, dtype=a.dtype)
        return a.mean(axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return self.xp.broadcast_to(g / max(self.count, 1), self.in_shape)


class Var(Function):
    """Variance over ``axis``: sum((x - mean)²) / (N - correction), inf or nan where N <= correction, as
    torch. The backward is torch's 2 (x - mean) / (N - correction) · g, the mean taken again from the
    saved x, so that run on Tensors (engine.higher_order) its own derivative has the mean's part too.
    Complex x: sum(|x - mean|²), real; g is real, so the same formula is torch's complex gradient."""

    conj_grad = False

    def forward(self, a, axis=None, correction=1, keepdims=False):
        self.save_for_backward(a)
        self.axes, self.keepdims = normalize_axis(axis, a.ndim, "var"), keepdims
        n = math.prod(a.shape[i] for i in self.axes)
        self.scale = 1.0 / (n - correction) if n > correction else math.inf
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty slice: nan, as torch, quietly
            dev = a - a.mean(axis=self.axes, keepdims=True)
            # complex: |x - mean|², real (torch's var of complex is var(re) + var(im))
            sq = dev * dev if dev.dtype.kind != "c" else dev.real * dev.real + dev.imag * dev.imag
            return sq.sum(axis=self.axes, keepdims=keepdims) * self.scale  # 0 · inf = nan, as torch

    def backward(self, g):
        (a,) = self.saved
        g = expand_reduced(g, a.shape, self.axes, self.keepdims)
        with np.errstate(invalid="ignore"):
            return g * (2 * self.scale) * (a - a.mean(axis=self.axes, keepdims=True))


def _reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> list:
    if keepdims:
        return [1 if i in axes else s for i, s in enumerate(shape)]
    return [s for i, s in enumerate(shape) if i not in axes]


class _Extremum(Function):
    """amax/amin (and max/min without a dim): the gradient goes to the extreme entries,
    split evenly among ties, as torch does."""

    reduce_name = ""

    def forward(self, a, axis=None, keepdims=False, nan_hits=False):
        # nan_hits: max()/min() without a dim send the gradient to the nan entries when the result
        # is nan (torch's evenly_distribute_backward); amax/amin compare with ==, so there it is nan.
        self.nan_hits = nan_hits
        if a.dtype.kind == "c":
            raise NotImplementedError(f"{self.reduce_name}: not implemented for complex dtype {a.dtype}")
        self.axes = normalize_axis(axis, a.ndim, self.reduce_name)
        if a.size == 0 and axis is None:
            raise RuntimeError(f"{self.reduce_name}(): cannot reduce an empty tensor of shape {a.shape} "
                               "without a dim (specify the dim)")
        if any(a.shape[i] == 0 for i in self.axes):
            raise IndexError(f"{self.reduce_name}(): cannot reduce an empty axis of a tensor of shape "
                             f"{a.shape} (the reduction has no identity)")
        self.in_shape, self.keepdims = a.shape, keepdims
        out = getattr(a, self.reduce_name)(axis=self.axes, keepdims=True)
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape(_reduced_shape(a.shape, self.axes, False))

    def backward(self, g):
        a, out = self.saved
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        hit = (a == out)
        if self.nan_hits and a.dtype.kind == "f":
            hit = hit | (self.xp.isnan(a) & self.xp.isnan(out))
        hit = hit.astype(g.dtype)
        return hit * (g / hit.sum(axis=self.axes, keepdims=True))


class Max(_Extremum):
    reduce_name = "max"


class Min(_Extremum):
    reduce_name = "min"


class LogSumExp(Function):
    """``log(sum(exp(a)))`` computed stably by shifting by the max (of the real parts for complex, as
    torch; the backward is holomorphic)."""

    def forward(self, a, axis=None, keepdims=False):
        xp = self.xp
        self.axes = normalize_axis(axis, a.ndim, "logsumexp")
        self.in_shape, self.keepdims = a.shape, keepdims
        if a.size == 0:  # log(0) = -inf, as torch
            out = xp.full(_reduced_shape(a.shape, self.axes, True), -xp.inf, dtype=a.dtype)
        else:
            m = (a if a.dtype.kind != "c" else a.real).max(axis=self.axes, keepdims=True)  # complex: real parts
            m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows give -inf, not nan
            with _quiet(xp):
                out = xp.log(xp.exp(a - m).sum(axis=self.axes, keepdims=True)) + m
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape(_reduced_shape(a.shape, self.axes, False))

    def backward(self, g):
        a, out = self.saved
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        return g * self.xp.exp(a - out)


class Prod(Function):
    """Product over ``axis``. Its gradient is the product of the *other* entries: ``out / a`` when
    no entry is 0 (as torch: so an inf or nan entry gets nan), else (exclusive prefix product) *
    (exclusive suffix product), so zeros are exact: one zero gets the product of the rest, and
    with several zeros every gradient is 0 (all zeros over the whole tensor, as torch)."""

    def forward(self, a, axis=None, keepdims=False):
        self.axes = normalize_axis(axis, a.ndim, "prod")
        self.in_shape, self.keepdims = a.shape, keepdims
        out = a.prod(axis=self.axes, keepdims=True, dtype=a.dtype)
        self.save_for_backward(a, out)
        return out if keepdims else out.reshape(_reduced_shape(a.shape, self.axes, False))

    def backward(self, g):
        xp, (a, out) = self.xp, self.saved
        if a.ndim == 0:
            return g
        zeros = int(xp.count_nonzero(a == 0))
        if a.size == 0 or (zeros > 1 and len(self.axes) == a.ndim):  # nothing to differentiate / all 0
            return xp.zeros(a.shape, dtype=a.dtype)
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdims)
        if zeros == 0:
            with _quiet(xp):
                return (g * (out / a)).astype(a.dtype, copy=False)
        rest = [i for i in range(a.ndim) if i not in self.axes]
        order = rest + list(self.axes)
        flat = a.transpose(order).reshape(*[a.shape[i] for i in rest], -1)  # (..., N)
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, -1)[..., :-1]], axis=-1), axis=-1), -1)
        others = (left * right).reshape([a.shape[i] for i in order]).transpose(xp.argsort(xp.asarray(order)).tolist())
        return (g * others).astype(a.dtype, copy=False)


def _quiet(xp):
    """NumPy's errstate (inf/nan arithmetic is expected, as in torch); CuPy never warns."""
    return np.errstate(all="ignore") if xp is np else contextlib.nullcontext()


class Median(Function):
    """The lower median of all entries (nan if any is nan), as ``torch.median()`` without a
    dim; the gradient is split evenly among the entries equal to it, as torch does."""

    def forward(self, a, ignore_nan=False):
        xp = self.xp
        flat = a.reshape(-1)
        nan = xp.isnan(flat) if a.dtype.kind == "f" else None
        if ignore_nan and nan is not None:  # nanmedian: the median of the entries that are not nan
            flat, nan = flat[~nan], None
        if flat.size == 0 and a.dtype.kind != "f":
            raise IndexError("median(): cannot compute the median of an empty tensor without a dim")
        if flat.size == 0 or (nan is not None and bool(nan.any())):  # empty: nan, as torch
            out = xp.asarray(xp.nan, dtype=a.dtype)
        else:
            out = xp.sort(flat)[(flat.size - 1) // 2]
        self.save_for_backward(a, out)
        return xp.asarray(out, dtype=a.dtype).reshape(())

    def backward(self, g):
        xp, (a, out) = self.xp, self.saved
        hit = ((a == out) | (xp.isnan(a) & xp.isnan(out))).astype(g.dtype)
        return hit * (g / max(hit.sum(), 1))
