"""Elementwise ops. Binary ops broadcast; backward undoes it with ``sum_to``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from engine.backend import array_module, erf
from engine.function import Function
from engine.kernels import lookup


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
    conj_grad = False  # linear with real coefficients

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return sum_to(g, sa), sum_to(g, sb)


class Sub(Function):
    conj_grad = False  # linear with real coefficients

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        return sum_to(g, sa), sum_to(-g, sb)


class Mul(Function):
    def forward(self, a, b):
        need = self.needs_input_grad  # as torch: keep b for a's gradient and a for b's, so a change of
        if need:  # a constant factor's partner in place does not fail backward
            self.save_for_backward(a if need[1] else None, b if need[0] else None)
            self.shapes = a.shape, b.shape
        return a * b

    def backward(self, g):
        a, b = self.saved
        ga = sum_to(g * b, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = sum_to(g * a, self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        # as torch: a only for b's gradient (``h / 2`` saves no h, so changing h in place after is fine)
        self.save_for_backward(a if not self.needs_input_grad or self.needs_input_grad[1] else None, b)
        self.a_shape = a.shape
        return a / b

    def backward(self, g):
        a, b = self.saved
        gb = sum_to(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return sum_to(g / b, self.a_shape), gb


class Neg(Function):
    conj_grad = False  # linear with real coefficients

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
        if a.dtype in (np.float32, np.float64) and p in (0.5, -0.5):  # torch: (r)sqrt, nan at -inf, -inf at -0
            with np.errstate(all="ignore"):
                return self.xp.sqrt(a) if p == 0.5 else 1 / self.xp.sqrt(a)
        return a**p

    def backward(self, g):
        (a,) = self.saved
        p = self.p
        if p == 0:  # a**0 is constant; p * a**-1 would give 0 * inf = nan at a == 0 (torch gives 0)
            return self.xp.zeros_like(g)
        if p == 2:
            return g * (2 * a)
        q, xp = p - 1, self.xp
        with np.errstate(all="ignore"):  # a**±0.5 as (r)sqrt, as torch: nan at -inf, -inf at -0.0
            aq = xp.sqrt(a) if q == 0.5 else 1 / xp.sqrt(a) if q == -0.5 else a**q
        return g * (p * aq)


def _int_pow(xp, a, b):
    """Integer ``a ** b`` as torch: a negative exponent gives 1 for a == 1, ±1 for a == -1 and 0
    otherwise (NumPy refuses negative integer powers)."""
    neg = b < 0
    if not bool(neg.any()):
        return a**b
    out = a ** xp.where(neg, 0, b)
    odd = (b % 2) != 0
    at_neg = xp.where(a == 1, 1, xp.where(a == -1, xp.where(odd, -1, 1), 0)).astype(out.dtype)
    return xp.where(neg, at_neg, out)


class Pow(Function):
    """``a ** b`` for two tensors (b's gradient needs a > 0, or a == 0 with b >= 0, where it is 0)."""

    def forward(self, a, b):
        out = _int_pow(self.xp, a, b) if a.dtype.kind in "iu" and b.dtype.kind in "iu" else a**b
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        xp = self.xp
        ga = gb = None
        # Where the formulas would meet 0 * inf = nan the `where`s swap in a harmless operand,
        # giving 0 as torch does: a**0 is constant in a (even at a == 0), and 0**b is constant
        # in b for b >= 0 (out is 0 or 1 there, times log(1) = 0).
        if self.needs_input_grad[0]:  # where b == 0 the gradient is 0, even at a = 0 or ±inf (b·a**(b-1) = 0·inf)
            ga = sum_to(xp.where(b == 0, g.dtype.type(0), g * b * a ** xp.where(b == 0, 1, b - 1)), a.shape)
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


def _sigmoid(xp, a):
    """1 / (1 + exp(-a)) without overflow, and with full relative precision in the far negative tail
    (0.5 * (1 + tanh(a / 2)) rounds to 0 there: sigmoid(-25) would be 0 in float32, not 1.4e-11)."""
    with np.errstate(over="ignore"):
        e = xp.exp(-xp.abs(a))  # in (0, 1]
        return xp.where(a >= 0, 1, e) / (1 + e)


class Sigmoid(Function):
    def forward(self, a):
        if a.dtype.kind == "c":
            out = 1 / (1 + self.xp.exp(-a))
            self.save_for_backward(out)
            return out
        out = _sigmoid(self.xp, a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        y = self.saved[0]
        return g * y * (1 - y)


def sgn(xp, a):
    """z / |z| for a complex array, 0 where z is 0 (torch's sgn).

    >>> import numpy as np
    >>> sgn(np, np.array([3 + 4j, 0j])).round(6).tolist()
    [(0.6+0.8j), 0j]
    """
    r = xp.abs(a)
    with np.errstate(all="ignore"):
        return xp.where(r == 0, a.dtype.type(0), a / xp.where(r == 0, 1, r))


class Relu(Function):
    def forward(self, a):
        if a.dtype.kind == "c":
            raise NotImplementedError("clamp is not supported for complex types")
        self.kernel = lookup("relu", a) if a.size >= 1 << 16 else None  # one pass on all cores (small: NumPy)
        out = self.kernel[0](a) if self.kernel else None  # None: a layout the kernel does not take
        if out is None:
            self.kernel, out = None, self.xp.maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        gx = self.kernel[1](self.saved[0], g) if self.kernel and lookup("relu", g) else None
        if gx is not None:
            return gx
        # torch zeroes the gradient where out <= 0 (a nan input passes it on; an inf gradient becomes
        # 0, not nan, so no multiply by the mask). Branch-free as a bit mask: g AND all-ones words where
        # kept, all-zeros elsewhere; np.where on a random sign pattern mispredicts (9.4 vs 1.9 ms at 2M).
        word = self.xp.dtype(f"int{8 * g.dtype.itemsize}")
        keep = -(~(self.saved[0] <= 0)).astype(word)
        return (g.view(word) & keep).view(g.dtype)


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

    conj_grad = False  # g is real; a complex input's gradient is g * sgn(a), torch's abs_backward

    def backward(self, g):
        a = self.saved[0]
        if a.dtype.kind == "c":
            return g * sgn(self.xp, a)
        sign = self.xp.sign(a)
        if a.dtype.kind == "f":  # torch: sgn(nan) = 0, so no gradient through a nan
            sign = self.xp.where(self.xp.isnan(a), a.dtype.type(0), sign)
        return g * sign


class Clip(Function):
    """Clamp to [lo, hi] (either may be None). The gradient passes where lo <= a <= hi, as torch."""

    def forward(self, a, lo=None, hi=None):
        self.save_for_backward(a)
        if a.dtype.kind == "c":
            raise NotImplementedError("clamp is not supported for complex types")
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


def _tie_weights(loses, ties, dtype):
    """An operand's share of the gradient: 0 where it loses, 0.5 on a tie, else 1 (also where a nan
    is involved: torch passes the whole gradient to both then), in ``dtype`` (no float64 leak)."""
    return 1 - loses.astype(dtype) - ties.astype(dtype) * dtype.type(0.5)


class Maximum(Function):
    """Elementwise max; a tie splits the gradient evenly, as torch does."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, g):
        a, b = self.saved
        return sum_to(g * _tie_weights(a < b, a == b, g.dtype), a.shape), \
            sum_to(g * _tie_weights(a > b, a == b, g.dtype), b.shape)


class Minimum(Function):
    """Elementwise min; a tie splits the gradient evenly, as torch does."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, g):
        a, b = self.saved
        return sum_to(g * _tie_weights(a > b, a == b, g.dtype), a.shape), \
            sum_to(g * _tie_weights(a < b, a == b, g.dtype), b.shape)


class Where(Function):
    conj_grad = False  # linear with real coefficients

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
    """``astype``: the gradient is cast back to the input's dtype (the real part for a real input, as
    torch; a complex input's imaginary part gets no gradient from a real output)."""

    conj_grad = False

    def forward(self, a, dtype=None):
        self.in_dtype = a.dtype
        return a.real.astype(dtype) if a.dtype.kind == "c" and dtype.kind != "c" else a.astype(dtype)

    def backward(self, g):
        if g.dtype.kind == "c" and self.in_dtype.kind != "c":
            g = g.real
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


# ---- torch's elementwise math (issue 15) -------------------------------------------------------------
# Each unary op is one line of forward and one line of derivative, as in PyTorch's derivatives.yaml:
# ``f(xp, a)`` gives the output, ``df(xp, a, y)`` dy/da from the input ``a`` and the output ``y``.
# Inputs are float arrays (Tensor casts int/bool inputs to float32 first).

_LN2, _LN10 = math.log(2), math.log(10)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


class _Unary(Function):
    """y = f(a) elementwise; backward multiplies by df(a, y). ``uses_output``: df reads y only, so the op
    saves y (not a, which backward then gets as None), as torch's derivatives.yaml ("result"): changing
    ``a`` in place afterwards does not fail backward."""

    uses_output: ClassVar[bool] = False

    @staticmethod
    def f(xp, a):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def df(xp, a, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, a):
        with np.errstate(all="ignore"):  # log(0), asin(2), ...: inf/nan as in torch, silently
            out = self.f(self.xp, a)
        out = self.xp.asarray(out, dtype=a.dtype)  # 0-d NumPy results come back as scalars
        self.save_for_backward(*((None, out) if self.uses_output else (a, None)))
        return out

    def backward(self, g):
        a, y = self.saved
        with np.errstate(all="ignore"):
            return (g * self.df(self.xp, a, y)).astype(g.dtype, copy=False)


def _unary(name: str, f, df, doc: str, uses_output: bool = False) -> type[Function]:
    """A registered unary op class named ``name`` (``uses_output``: df reads y, not a; see _Unary)."""
    return type(name, (_Unary,), {"f": staticmethod(f), "df": staticmethod(df), "__doc__": doc,
                                  "__module__": __name__, "__qualname__": name, "uses_output": uses_output})


def erfinv(x):
    """Inverse error function on either backend (SciPy's/CuPy's; Newton on erf without SciPy)."""
    xp = array_module(x)
    if xp is not np:
        import cupyx.scipy.special

        return cupyx.scipy.special.erfinv(x).astype(x.dtype, copy=False)
    try:
        from scipy.special import erfinv as f
    except ImportError:
        w = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):  # Giles' single-precision start, then Newton steps in float64
            t = -np.log((1 - w) * (1 + w))
            y = w * np.where(t < 5, 0.8862269 + 0.2 * (t - 2.5), 1.4 + 0.3 * np.sqrt(t))
            for _ in range(8):
                y = y - (erf(y) - w) / (_TWO_OVER_SQRT_PI * np.exp(-y * y))
            y = np.where(np.abs(w) == 1, np.sign(w) * np.inf, np.where(np.abs(w) > 1, np.nan, y))
        return np.asarray(y, dtype=x.dtype)
    return np.asarray(f(x), dtype=x.dtype)


def _erfc(x):
    xp = array_module(x)
    if xp is not np:
        import cupyx.scipy.special

        return cupyx.scipy.special.erfc(x).astype(x.dtype, copy=False)
    try:
        from scipy.special import erfc as f
    except ImportError:
        return 1 - erf(x)
    return np.asarray(f(x), dtype=x.dtype)


Exp2 = _unary("Exp2", lambda xp, a: xp.exp2(a), lambda xp, a, y: y * _LN2, "2 ** a.", uses_output=True)
Expm1 = _unary("Expm1", lambda xp, a: xp.expm1(a), lambda xp, a, y: y + 1, "exp(a) - 1, exact near 0.",
               uses_output=True)
Log2 = _unary("Log2", lambda xp, a: xp.log2(a), lambda xp, a, y: 1 / (a * _LN2), "Base-2 logarithm.")
Log10 = _unary("Log10", lambda xp, a: xp.log10(a), lambda xp, a, y: 1 / (a * _LN10), "Base-10 logarithm.")
Log1p = _unary("Log1p", lambda xp, a: xp.log1p(a), lambda xp, a, y: 1 / (a + 1), "log(1 + a), exact near 0.")
Rsqrt = _unary("Rsqrt", lambda xp, a: 1 / xp.sqrt(a), lambda xp, a, y: -0.5 * y * y * y, "1 / sqrt(a).",
               uses_output=True)
Reciprocal = _unary("Reciprocal", lambda xp, a: 1 / a, lambda xp, a, y: -(y * y), "1 / a.", uses_output=True)
Erf = _unary("Erf", lambda xp, a: erf(a), lambda xp, a, y: _TWO_OVER_SQRT_PI * xp.exp(-a * a), "Error function.")
Erfc = _unary("Erfc", lambda xp, a: _erfc(a), lambda xp, a, y: -_TWO_OVER_SQRT_PI * xp.exp(-a * a),
              "1 - erf(a), exact in the tails.")
Erfinv = _unary("Erfinv", lambda xp, a: erfinv(a),  # df from a (torch saves the input, not the result)
                lambda xp, a, y: (math.sqrt(math.pi) / 2) * xp.exp(erfinv(a) ** 2),
                "Inverse error function on (-1, 1).")
Tan = _unary("Tan", lambda xp, a: xp.tan(a), lambda xp, a, y: 1 + y * y, "Tangent.", uses_output=True)
Asin = _unary("Asin", lambda xp, a: xp.arcsin(a), lambda xp, a, y: 1 / xp.sqrt(1 - a * a), "Arcsine.")
Acos = _unary("Acos", lambda xp, a: xp.arccos(a), lambda xp, a, y: -1 / xp.sqrt(1 - a * a), "Arccosine.")
Atan = _unary("Atan", lambda xp, a: xp.arctan(a), lambda xp, a, y: 1 / (a * a + 1), "Arctangent.")
Sinh = _unary("Sinh", lambda xp, a: xp.sinh(a), lambda xp, a, y: xp.cosh(a), "Hyperbolic sine.")
Cosh = _unary("Cosh", lambda xp, a: xp.cosh(a), lambda xp, a, y: xp.sinh(a), "Hyperbolic cosine.")
Asinh = _unary("Asinh", lambda xp, a: xp.arcsinh(a), lambda xp, a, y: 1 / xp.sqrt(a * a + 1), "Inverse sinh.")
Acosh = _unary("Acosh", lambda xp, a: xp.arccosh(a),  # complex: torch's branch, sqrt(a+1)·sqrt(a-1) ≠ sqrt(a²-1)
               lambda xp, a, y: 1 / (xp.sqrt(a * a - 1) if a.dtype.kind != "c" else xp.sqrt(a + 1) * xp.sqrt(a - 1)),
               "Inverse cosh on [1, inf).")
Atanh = _unary("Atanh", lambda xp, a: xp.arctanh(a), lambda xp, a, y: 1 / (1 - a * a), "Inverse tanh on (-1, 1).")


class Rounding(Function):
    """sign, floor, ceil, round (``decimals``, half to even) and trunc: piecewise constant, so the
    gradient is 0 everywhere (torch's convention at the jumps too). Integer inputs come back unchanged
    (sign: -1/0/1); sign(nan) is 0, as in torch."""

    def forward(self, a, mode="floor", decimals=0):
        xp = self.xp
        if mode == "sign":
            if a.dtype == np.bool_:  # sign(True) is True, as torch
                return a.copy()
            out = xp.sign(a)
            return xp.where(xp.isnan(a), a.dtype.type(0), out) if a.dtype.kind == "f" else out
        if a.dtype.kind != "f":
            return a.copy()
        if mode == "round":
            return xp.round(a, decimals)
        return {"floor": xp.floor, "ceil": xp.ceil, "trunc": xp.trunc}[mode](a)

    def backward(self, g):
        return self.xp.zeros_like(g)


def _no_int_zero_divisor(b, op: str) -> None:
    """torch raises on an integer division by zero (NumPy would give 0 with a warning)."""
    if b.dtype.kind in "iub" and bool((b == 0).any()):
        raise RuntimeError(f"ZeroDivisionError: {op} of an integer tensor by zero")


class RoundedDiv(Function):
    """``a / b`` rounded toward zero ("trunc") or down ("floor", Python's ``//``); gradient 0, as torch."""

    def forward(self, a, b, mode="floor"):
        xp = self.xp
        _no_int_zero_divisor(b, f"div(rounding_mode={mode!r})")
        self.shapes = a.shape, b.shape
        with np.errstate(all="ignore"):
            if mode == "floor":
                return xp.floor_divide(a, b)
            if a.dtype.kind == "f" or b.dtype.kind == "f":
                return xp.trunc(a / b)
            return xp.floor_divide(xp.abs(a), xp.abs(b)) * (xp.sign(a) * xp.sign(b))  # exact for int64

    def backward(self, g):
        sa, sb = self.shapes
        xp = self.xp
        return xp.zeros(sa, g.dtype), xp.zeros(sb, g.dtype)


class Fmod(Function):
    """C's fmod: the remainder of ``a / b`` truncated, with ``a``'s sign. d/db = -trunc(a / b)."""

    def forward(self, a, b):
        _no_int_zero_divisor(b, "fmod")
        self.save_for_backward(a, b)
        with np.errstate(all="ignore"):
            return self.xp.fmod(a, b)

    def backward(self, g):
        a, b = self.saved
        gb = None
        if self.needs_input_grad[1]:
            with np.errstate(all="ignore"):
                gb = sum_to(-g * self.xp.trunc(a / b), b.shape)
        return sum_to(g, a.shape), gb


class Remainder(Function):
    """Python's ``%``: the remainder with ``b``'s sign. d/db = -floor(a / b)."""

    def forward(self, a, b):
        _no_int_zero_divisor(b, "remainder")
        self.save_for_backward(a, b)
        with np.errstate(all="ignore"):
            return self.xp.remainder(a, b)

    def backward(self, g):
        a, b = self.saved
        gb = None
        if self.needs_input_grad[1]:
            with np.errstate(all="ignore"):
                gb = sum_to(-g * self.xp.floor_divide(a, b), b.shape)
        return sum_to(g, a.shape), gb


class Atan2(Function):
    """atan2(a, b): the angle of the point (b, a)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.arctan2(a, b)

    def backward(self, g):
        a, b = self.saved
        with np.errstate(all="ignore"):  # 0 at the origin, as torch
            r = self.xp.where((a == 0) & (b == 0), g.dtype.type(0), g / (a * a + b * b))
        return sum_to(r * b, a.shape), sum_to(-r * a, b.shape)


class Hypot(Function):
    """sqrt(a² + b²) without overflow."""

    def forward(self, a, b):
        out = self.xp.hypot(a, b)
        self.save_for_backward(a, b, out)
        return out

    def backward(self, g):
        a, b, out = self.saved
        with np.errstate(all="ignore"):
            r = g / out
        return sum_to(r * a, a.shape), sum_to(r * b, b.shape)


class LogAddExp(Function):
    """log(exp(a) + exp(b)) without overflow (complex: torch's helper, see scan.log_add_exp_complex)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        if a.dtype.kind == "c":
            from engine.ops.scan import log_add_exp_complex

            return log_add_exp_complex(self.xp, *self.xp.broadcast_arrays(a, b))
        return self.xp.logaddexp(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        with np.errstate(all="ignore"):  # torch's form: nan where both are -inf or both +inf
            ga = sum_to(g / (1 + xp.exp(b - a)), a.shape) if self.needs_input_grad[0] else None
            gb = sum_to(g / (1 + xp.exp(a - b)), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Copysign(Function):
    """|a| with b's sign bit. d/da = ±1 (0 where a == 0, as torch); no gradient to b (it is 0)."""

    def forward(self, a, b):
        out = self.xp.copysign(a, b)
        self.save_for_backward(a, out)
        self.b_shape = b.shape
        return out

    def backward(self, g):
        a, out = self.saved
        xp = self.xp
        with np.errstate(all="ignore"):  # torch's out / a: nan at a = ±inf
            ratio = xp.where(a == 0, g.dtype.type(0), out / a).astype(g.dtype, copy=False)
        return sum_to(g * ratio, a.shape), xp.zeros(self.b_shape, g.dtype)


class Nextafter(Function):
    """The next float after a towards b. torch's gradient: 1 to a, 0 to b (a one-ulp step is flat in b)."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return self.xp.nextafter(a, b)

    def backward(self, g):
        a_shape, b_shape = self.shapes
        return sum_to(g, a_shape), self.xp.zeros(b_shape, g.dtype)


class FrexpMantissa(Function):
    """frexp's mantissa m = a / 2**e (e, an integer, is flat in a): d/da = 1 / 2**e, as torch, which
    takes 2**e in float32 (exact there; 0 or inf past float32's range, so g / 0 = ±inf below 2**-149)."""

    def forward(self, a):
        m, self.e = self.xp.frexp(a)
        return m

    def backward(self, g):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return (g / self.xp.exp2(self.e.astype(np.float32))).astype(g.dtype, copy=False)


class _NanAware(Function):
    """fmax/fmin: a nan loses to a number. The gradient goes wholly to the winner, to ``a`` on a tie
    (torch's rule for fmax/fmin, unlike maximum/minimum which split ties)."""

    pick: Any = None  # "fmax" or "fmin"

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return getattr(self.xp, self.pick)(a, b)

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        a_wins = ((a >= b) if self.pick == "fmax" else (a <= b)) | xp.isnan(b)
        zero = g.dtype.type(0)
        return sum_to(xp.where(a_wins, g, zero), a.shape), sum_to(xp.where(a_wins, zero, g), b.shape)


class Fmax(_NanAware):
    pick = "fmax"


class Fmin(_NanAware):
    pick = "fmin"


class ClampTensor(Function):
    """clamp(a, lo, hi) with tensor bounds (either None), torch's gradients: ``a`` gets it where
    lo <= a <= hi; ``lo`` where a < lo (and lo < hi); ``hi`` where a > hi or hi < lo (hi wins then)."""

    def forward(self, a, lo=None, hi=None):
        xp = self.xp
        self.save_for_backward(a, lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return xp.broadcast_to(out, xp.broadcast_shapes(*(x.shape for x in (a, lo, hi) if x is not None))).copy()

    def backward(self, g):
        a, lo, hi = self.saved
        xp = self.xp
        zero = g.dtype.type(0)
        keep = xp.ones(g.shape, dtype=bool)
        if lo is not None:
            keep = keep & (a >= lo)
        if hi is not None:
            keep = keep & (a <= hi)
        ga = sum_to(xp.where(keep, g, zero), a.shape)
        glo = ghi = None
        if lo is not None and self.needs_input_grad[1]:
            below = a < lo if hi is None else (a < lo) & (lo < hi)
            glo = sum_to(xp.where(below, g, zero), lo.shape)
        if hi is not None and self.needs_input_grad[2]:
            above = a > hi if lo is None else (a > hi) | (hi < lo)
            ghi = sum_to(xp.where(above, g, zero), hi.shape)
        return ga, glo, ghi


class NanToNum(Function):
    """nan → ``nan``, +inf → ``posinf``, -inf → ``neginf`` (default: the dtype's largest finite values).
    The gradient passes where ``a`` is finite, as torch."""

    def forward(self, a, nan=0.0, posinf=None, neginf=None):
        self.save_for_backward(a)
        if a.dtype.kind != "f":
            return a.copy()
        info = np.finfo(a.dtype)
        hi = info.max if posinf is None else posinf
        lo = info.min if neginf is None else neginf
        xp = self.xp
        out = xp.where(xp.isnan(a), a.dtype.type(nan), a)
        out = xp.where(out == np.inf, a.dtype.type(hi), out)
        return xp.where(out == -np.inf, a.dtype.type(lo), out)

    def backward(self, g):
        return self.xp.where(self.xp.isfinite(self.saved[0]), g, g.dtype.type(0))


class Lerp(Function):
    """start + weight * (end - start), in torch's two-sided form (exact at both ends, finite where
    one end is infinite): ``end - (end - start) * (1 - weight)`` where |weight| >= 0.5."""

    def forward(self, start, end, weight):
        xp = self.xp
        self.save_for_backward(start, end, weight)
        with np.errstate(all="ignore"):
            d = end - start
            return xp.where(xp.abs(weight) < 0.5, start + weight * d, end - d * (1 - weight))

    def backward(self, g):
        start, end, weight = self.saved
        ga = sum_to(g * (1 - weight), start.shape) if self.needs_input_grad[0] else None
        gb = sum_to(g * weight, end.shape) if self.needs_input_grad[1] else None
        gw = None
        if self.needs_input_grad[2]:
            with np.errstate(all="ignore"):
                gw = sum_to(g * (end - start), weight.shape)
        return ga, gb, gw
