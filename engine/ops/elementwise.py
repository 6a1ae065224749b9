"""Elementwise ops. Binary ops broadcast; backward undoes it with ``sum_to``."""

from __future__ import annotations

from engine.backend import array_module
from engine.function import Function


def sum_to(grad, shape: tuple):
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting.

    >>> import numpy as np
    >>> sum_to(np.ones((2, 3)), (1, 3)).tolist()
    [[2.0, 2.0, 2.0]]
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def column_sums(x2):
    """Sums over the rows of a 2-D float array as one GEMV: 2x ``.sum(axis=0)`` on (N, C) activations.

    >>> import numpy as np
    >>> column_sums(np.ones((3, 2))).tolist()
    [3.0, 3.0]
    """
    return array_module(x2).ones(len(x2), dtype=x2.dtype) @ x2


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return sum_to(g, sa), sum_to(g, sb)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        return sum_to(g, sa), sum_to(-g, sb)


class Mul(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, g):
        a, b = self.saved
        ga = sum_to(g * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(g * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, g):
        a, b = self.saved
        gb = sum_to(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return sum_to(g / b, a.shape), gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class PowScalar(Function):
    """``a ** p`` for a Python number ``p``."""

    def forward(self, a, p: float):
        self.save_for_backward(a)
        # A NumPy float64 exponent is not "weak" like a Python float: it would upcast float32.
        self.p = p = p.item() if hasattr(p, "item") else p
        return a**p

    def backward(self, g):
        (a,) = self.saved
        p = self.p
        if p == 0:  # a**0 is constant; p * a**-1 would give 0 * inf = nan at a == 0 (torch gives 0)
            return self.xp.zeros_like(g)
        return g * (p * a ** (p - 1)) if p != 2 else g * (2 * a)


class Pow(Function):
    """``a ** b`` for two tensors (b's gradient needs a > 0, or a == 0 with b >= 0, where it is 0)."""

    def forward(self, a, b):
        out = a**b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        xp = self.xp
        ga = gb = None
        # Where the formulas would meet 0 * inf = nan the `where`s swap in a harmless operand,
        # giving 0 as torch does: a**0 is constant in a (even at a == 0), and 0**b is constant
        # in b for b >= 0 (out is 0 or 1 there, times log(1) = 0).
        if self.needs_input_grad[0]:
            ga = sum_to(g * b * a ** xp.where(b == 0, 1, b - 1), a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(g * out * xp.log(xp.where((a == 0) & (b >= 0), 1, a)), b.shape)
        return ga, gb


class Exp(Function):
    def forward(self, a):
        out = self.xp.exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g * self.saved[0]


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.log(a)

    def backward(self, g):
        return g / self.saved[0]


class Sqrt(Function):
    def forward(self, a):
        out = self.xp.sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g / (2 * self.saved[0])


class Tanh(Function):
    def forward(self, a):
        out = self.xp.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        y = self.saved[0]
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, a):
        out = 0.5 * (1 + self.xp.tanh(0.5 * a))  # stable for large |a|, unlike 1/(1+exp(-a))
        self.save_for_backward(out)
        return out

    def backward(self, g):
        y = self.saved[0]
        return g * y * (1 - y)


class Relu(Function):
    def forward(self, a):
        out = self.xp.maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g * (self.saved[0] > 0)


class Sin(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.sin(a)

    def backward(self, g):
        return g * self.xp.cos(self.saved[0])


class Cos(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.cos(a)

    def backward(self, g):
        return -g * self.xp.sin(self.saved[0])


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return self.xp.abs(a)

    def backward(self, g):
        return g * self.xp.sign(self.saved[0])


class Clip(Function):
    """Clamp to [lo, hi] (either may be None). The gradient passes where lo <= a <= hi, as torch."""

    def forward(self, a, lo=None, hi=None):
        self.save_for_backward(a)
        if a.dtype.kind == "f":  # bounds in a's dtype: NumPy float64 scalars would upcast float32
            lo = None if lo is None else a.dtype.type(lo)
            hi = None if hi is None else a.dtype.type(hi)
        self.lo, self.hi = lo, hi
        return self.xp.clip(a, lo, hi)

    def backward(self, g):
        (a,) = self.saved
        mask = self.xp.ones(a.shape, dtype=bool)
        if self.lo is not None:
            mask &= a >= self.lo
        if self.hi is not None:
            mask &= a <= self.hi
        return g * mask


def _tie_weights(wins, ties, dtype):
    """1 where a wins, 0.5 on a tie, 0 otherwise, in ``dtype`` (no float64 leak)."""
    return wins.astype(dtype) + ties.astype(dtype) * dtype.type(0.5)


class Maximum(Function):
    """Elementwise max; a tie splits the gradient evenly, as torch does."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        wa = _tie_weights(a > b, a == b, g.dtype)
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Minimum(Function):
    """Elementwise min; a tie splits the gradient evenly, as torch does."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        wa = _tie_weights(a < b, a == b, g.dtype)
        return sum_to(g * wa, a.shape), sum_to(g * (1 - wa), b.shape)


class Where(Function):
    """``where(cond, a, b)``; ``cond`` is a bool array passed as a parameter."""

    def forward(self, a, b, cond=None):
        self.cond = cond
        self.shapes = a.shape, b.shape
        return self.xp.where(cond, a, b)

    def backward(self, g):
        sa, sb = self.shapes
        zero = g.dtype.type(0)
        ga = sum_to(self.xp.where(self.cond, g, zero), sa) if self.needs_input_grad[0] else None
        gb = sum_to(self.xp.where(self.cond, zero, g), sb) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    """``astype``: the gradient is cast back to the input's dtype."""

    def forward(self, a, dtype=None):
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype)


class ToDevice(Function):
    """Move between CPU and GPU; the gradient moves back."""

    def forward(self, a, device=None):
        from engine.backend import device_of, to_device

        self.src = device_of(a)
        return to_device(a, device)

    def backward(self, g):
        from engine.backend import to_device

        return to_device(g, self.src)


from engine.ops.fused import Gelu  # noqa: E402,F401  (moved to fused.py; E.Gelu callers until the merge)
