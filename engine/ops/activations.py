"""Activation functions whose torch gradient rule (at kinks, in the tails) composition would miss.

Each matches torch.nn.functional's forward and its backward at the edges: hardtanh passes the
gradient only strictly inside (min_val, max_val), leaky_relu/elu take the negative branch at 0, and
softplus switches to the identity above ``threshold``.
"""

from __future__ import annotations

import numpy as np

from engine.function import Function
from engine.ops.elementwise import _sigmoid


class Hardtanh(Function):
    """clamp(a, min_val, max_val); gradient 1 strictly inside (min_val, max_val), else 0 (torch)."""

    def forward(self, a, min_val=-1.0, max_val=1.0):
        self.save_for_backward(a)
        self.lo, self.hi = min_val, max_val
        if a.dtype.kind == "f":  # bounds in a's dtype: a NumPy float64 would upcast float32
            min_val, max_val = a.dtype.type(min_val), a.dtype.type(max_val)
        else:  # an integer input keeps its dtype: torch truncates the bounds toward zero
            min_val, max_val = a.dtype.type(int(min_val)), a.dtype.type(int(max_val))
        return self.xp.minimum(self.xp.maximum(a, min_val), max_val)

    def backward(self, g):
        (a,) = self.saved
        # torch zeroes it where a <= min_val or a >= max_val: a nan passes the gradient on
        return self.xp.where((a <= self.lo) | (a >= self.hi), g.dtype.type(0), g)


class LeakyRelu(Function):
    """a where a > 0, else negative_slope · a (the slope at 0, as torch)."""

    def forward(self, a, negative_slope=0.01):
        self.save_for_backward(a)
        self.slope = negative_slope
        return self.xp.where(a > 0, a, a * a.dtype.type(negative_slope))

    def backward(self, g):
        (a,) = self.saved
        return self.xp.where(a > 0, g, g * g.dtype.type(self.slope))


class Elu(Function):
    """torch's ELU family: scale · a for a > 0, else scale · alpha · (exp(a · input_scale) - 1).
    elu: (alpha, 1, 1); selu: (1.6733, 1.0507, 1); celu: (alpha, 1, 1/alpha)."""

    def forward(self, a, alpha=1.0, scale=1.0, input_scale=1.0):
        xp = self.xp
        t = a.dtype.type
        self.save_for_backward(a)
        self.coefs = t(alpha * scale), t(scale), t(input_scale)
        neg, pos, inp = self.coefs
        with np.errstate(over="ignore"):
            return xp.where(a <= 0, xp.expm1(a * inp) * neg, a * pos)

    def backward(self, g):
        (a,) = self.saved
        neg, pos, inp = self.coefs
        xp = self.xp
        with np.errstate(over="ignore"):  # torch's branch test is a <= 0: nan takes the linear side
            return xp.where(a <= 0, g * (inp * neg) * xp.exp(a * inp), g * pos)


class Silu(Function):
    """a · sigmoid(a) (swish)."""

    def forward(self, a):
        self.save_for_backward(a)
        if a.dtype.kind == "c":  # torch's complex silu (forward only: torch has no complex silu gradient)
            return a / (1 + self.xp.exp(-a))
        return a * _sigmoid(self.xp, a)

    def backward(self, g):
        (a,) = self.saved
        s = _sigmoid(self.xp, a)
        return g * (s * (1 + a * (1 - s)))


def _softplus(xp, a):
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))  # log(1 + exp(a)) without overflow


class Mish(Function):
    """a · tanh(softplus(a))."""

    def forward(self, a):
        self.save_for_backward(a)
        return a * self.xp.tanh(_softplus(self.xp, a))

    def backward(self, g):
        (a,) = self.saved
        xp = self.xp
        t = xp.tanh(_softplus(xp, a))
        return g * (t + a * _sigmoid(xp, a) * (1 - t * t))


class Softplus(Function):
    """log(1 + exp(beta · a)) / beta, and a itself where beta · a > threshold (torch)."""

    def forward(self, a, beta=1.0, threshold=20.0):
        xp = self.xp
        self.save_for_backward(a)
        self.beta, self.threshold = beta, threshold
        z = a * a.dtype.type(beta)
        return xp.where(z > threshold, a, _softplus(xp, z) / a.dtype.type(beta))

    def backward(self, g):
        (a,) = self.saved
        z = a * a.dtype.type(self.beta)
        return self.xp.where(z > self.threshold, g, g * _sigmoid(self.xp, z))


class LogSigmoid(Function):
    """log(sigmoid(a)) = min(a, 0) - log(1 + exp(-|a|)), stable on both tails."""

    def forward(self, a):
        xp = self.xp
        self.save_for_backward(a)
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))

    def backward(self, g):
        (a,) = self.saved
        return g * _sigmoid(self.xp, -a)  # 1 - sigmoid(a)


class Hardswish(Function):
    """a · relu6(a + 3) / 6; torch's gradient: 0 below -3, a/3 + 1/2 on [-3, 3], 1 above."""

    def forward(self, a):
        self.save_for_backward(a)
        t = a.dtype.type
        return a * self.xp.minimum(self.xp.maximum(a + t(3), t(0)), t(6)) / t(6)

    def backward(self, g):
        (a,) = self.saved
        xp = self.xp
        t = a.dtype.type
        mid = g * (a / t(3) + t(0.5))
        return xp.where(a <= -3, t(0), xp.where(a < 3, mid, g))  # torch: 0 at -3, 1 at 3
