"""ReLU for engine/ops/elementwise.py's Relu (numba): ``("relu", "cpu")``.

NumPy's forward is one pass on one core; its backward (g where out > 0, as a bit mask) is four
(compare, invert, widen, AND). Here each is one branch-free pass over the raw memory, on every
core (``engine.parallel``), for any dense layout: a convolution's channels-first view of
channels-last memory stays so. The same values as the reference: NaN passes forward and keeps
its gradient, -0.0 gives 0.0 (as ``np.maximum(a, 0)``), an inf gradient is kept or 0, never nan.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.parallel import MIN_PARALLEL_CHEAP, parallel_for


@jit(fastmath=())
def _relu(a, abits, outbits):
    """outbits = abits AND all-ones where a > 0 or nan (np.maximum(a, 0)), else 0: branch-free (a
    select on a random sign pattern compiles to a mispredicted branch, 8x slower)."""
    zero, one = a.dtype.type(0), abits.dtype.type(1)
    for i in range(a.size):  # the caller's slice: range(size) vectorizes, range(lo, hi) does not
        v = a[i]
        outbits[i] = abits[i] & -(one * ((v > zero) | (v != v)))


@jit(fastmath=())
def _relu_backward(out, gbits, gxbits):
    """gxbits = gbits AND all-ones where not out <= 0 (nan too), else 0."""
    zero, one = out.dtype.type(0), gbits.dtype.type(1)
    for i in range(out.size):
        gxbits[i] = gbits[i] & -(one * (not out[i] <= zero))


def _flat(a):
    """The 1-D memory of a dense array of any axis order (a view), or None."""
    f = a.ravel(order="K")
    return f if np.may_share_memory(f, a) or a.size == 0 else None  # a copy never overlaps a


def relu(a):
    """max(a, 0) in a's memory layout, or None for a non-dense ``a`` (the reference runs).

    >>> relu(np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    fa = _flat(a)
    if fa is None:
        return None
    out = np.empty_like(a)  # the same strides as a dense a
    fo = _flat(out)
    if fo is None or out.strides != a.strides:
        return None
    word = f"i{a.itemsize}"
    ai, oi = fa.view(word), fo.view(word)
    parallel_for(np, fa.size, lambda lo, hi: _relu(fa[lo:hi], ai[lo:hi], oi[lo:hi]), min_parallel=MIN_PARALLEL_CHEAP)
    return out


def relu_backward(out, g):
    """g where out > 0 (or nan), else 0, in out's layout; None when g's layout differs."""
    if g.strides != out.strides:
        return None
    fo, fg = _flat(out), _flat(g)
    if fo is None or fg is None:
        return None
    gx = np.empty_like(out)
    fx = _flat(gx)
    if fx is None or gx.strides != out.strides:
        return None
    word = f"i{g.itemsize}"
    gi, xi = fg.view(word), fx.view(word)
    parallel_for(np, fo.size, lambda lo, hi: _relu_backward(fo[lo:hi], gi[lo:hi], xi[lo:hi]),
                 min_parallel=MIN_PARALLEL_CHEAP)
    return gx


register("relu", "cpu", relu, relu_backward)
