"""Special functions with reference backwards: lgamma (gradient digamma) and digamma (gradient
trigamma), for real input. Lanczos (g = 7, 9 terms) for lgamma; digamma and trigamma shift x up
to >= 10 by their recurrences and sum the asymptotic series there; x < 0.5 uses the reflection
formulas. Accurate to about 1e-13 relative in float64.
"""

from __future__ import annotations

import math

import numpy as np

from engine.function import Function

_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def _lgamma(xp, x):
    """log|Γ(x)| of a float array (inf at the poles 0, -1, -2, ...)."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    z = xp.where(refl, 1 - x, x) - 1  # Lanczos on z + 1 >= 0.5
    a = xp.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        a = a + c / (z + i)
    t = z + 7.5
    with np.errstate(invalid="ignore", divide="ignore"):  # inf/nan inputs give nan here, fixed below
            big = 0.5 * math.log(2 * math.pi) + (z + 0.5) * xp.log(t) - t + xp.log(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.abs(xp.sin(math.pi * x))
        small = math.log(math.pi) - xp.log(s) - big
    out = xp.where(refl, small, big)
    out = xp.where((x == 1) | (x == 2), 0.0, out)  # Γ(1) = Γ(2) = 1 exactly (the series is 1e-15 off)
    pole = (x <= 0) & (x == xp.floor(x))
    return xp.where(pole, xp.inf, xp.where(xp.isinf(x), xp.inf, out))


def _shifted(xp, x, term):
    """Sum of term(x + k) for k = 0.. while x + k < 10, and the shifted x (>= 10)."""
    acc = xp.zeros_like(x)
    y = x.copy()
    for _ in range(12):
        low = y < 10
        if not low.any():
            break
        acc = acc + xp.where(low, term(xp.where(low, y, 1.0)), 0.0)
        y = xp.where(low, y + 1, y)
    return acc, y


def _digamma(xp, x):
    """ψ(x) = d/dx log Γ(x) of a float array (nan at the poles, as torch gives -inf at 0 only)."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = xp.where(refl, math.pi / xp.tan(math.pi * x), 0.0)
    z = xp.where(refl, 1 - x, x)
    acc, y = _shifted(xp, z, lambda v: -1 / v)
    y2 = 1 / (y * y)
    series = xp.log(y) - 0.5 / y - y2 * (1 / 12 - y2 * (1 / 120 - y2 * (1 / 252 - y2 * (1 / 240 - y2 / 132))))
    out = acc + series
    out = xp.where(refl, out - cot, out)
    pole = (x <= 0) & (x == xp.floor(x))
    out = xp.where(pole, xp.where(x == 0, -xp.copysign(xp.inf, x), xp.nan), out)  # torch: ∓inf at ±0, nan at -1, ...
    return xp.where(xp.isposinf(x), xp.inf, out)


def _trigamma(xp, x):
    """ψ'(x) of a float array."""
    x = xp.asarray(x, dtype=np.float64)
    refl = x < 0.5
    z = xp.where(refl, 1 - x, x)
    acc, y = _shifted(xp, z, lambda v: 1 / (v * v))
    y2 = 1 / (y * y)
    series = 1 / y + 0.5 * y2 + (1 / y) * y2 * (1 / 6 - y2 * (1 / 30 - y2 * (1 / 42 - y2 * (1 / 30 - y2 * 5 / 66))))
    out = acc + series
    with np.errstate(divide="ignore", invalid="ignore"):
        s = xp.sin(math.pi * x)
        out = xp.where(refl, math.pi**2 / (s * s) - out, out)
    pole = (x <= 0) & (x == xp.floor(x))
    return xp.where(pole, xp.inf, out)


class Lgamma(Function):
    """log|Γ(a)|; backward g·ψ(a)."""

    def forward(self, a):
        self.save_for_backward(a)
        return _lgamma(self.xp, a).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g * _digamma(self.xp, a).astype(a.dtype, copy=False)


class Digamma(Function):
    """ψ(a) = d/da log Γ(a); backward g·ψ'(a)."""

    def forward(self, a):
        self.save_for_backward(a)
        return _digamma(self.xp, a).astype(a.dtype, copy=False)

    def backward(self, g):
        (a,) = self.saved
        return g * _trigamma(self.xp, a).astype(a.dtype, copy=False)


class Trigamma(Function):
    """ψ'(a) (polygamma(1, a)); no gradient here (polygamma of order 2 is not implemented)."""

    differentiable = False

    def forward(self, a):
        return _trigamma(self.xp, a).astype(a.dtype, copy=False)
