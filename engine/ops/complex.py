"""Ops on complex arrays whose gradients are not a holomorphic g * f'(z): each backward is written in
torch's convention directly (``conj_grad = False``; see engine.function.complex_backward)."""

from __future__ import annotations

import math

import numpy as np

from engine.function import Function
from engine.ops.elementwise import sgn, sum_to


def _complex_of(xp, re, im, dtype):
    """re + i im as a new array of complex ``dtype`` (``im`` None: 0)."""
    out = xp.zeros(re.shape, dtype=dtype)
    out.real = re
    if im is not None:
        out.imag = im
    return out


class Real(Function):
    """The real part, a view of a complex array's memory (torch's ``z.real``)."""

    conj_grad = False

    def forward(self, a):
        self.in_dtype = a.dtype
        return a.real

    def backward(self, g):
        return _complex_of(self.xp, g, None, self.in_dtype)


class Imag(Function):
    """The imaginary part, a view; its gradient is i g."""

    conj_grad = False

    def forward(self, a):
        self.in_dtype = a.dtype
        return a.imag

    def backward(self, g):
        return _complex_of(self.xp, self.xp.zeros_like(g), g, self.in_dtype)


class Conj(Function):
    """The complex conjugate (a copy; torch's is a lazy view with the same values)."""

    conj_grad = False

    def forward(self, a):
        return self.xp.conj(a)

    def backward(self, g):
        return self.xp.conj(g)


class Angle(Function):
    """atan2(imag, real) of a complex array; of a real one π where negative, 0 elsewhere, nan kept
    (gradient 0), as torch.angle."""

    conj_grad = False

    def forward(self, a):
        xp = self.xp
        if a.dtype.kind == "c":
            self.save_for_backward(a)
            return xp.angle(a)
        self.shape, self.dtype = a.shape, a.dtype
        return xp.where(xp.isnan(a), a, xp.where(a < 0, a.dtype.type(math.pi), a.dtype.type(0))).astype(a.dtype)

    def backward(self, g):
        if not self.saved:
            return self.xp.zeros(self.shape, dtype=self.dtype)
        (a,) = self.saved  # torch's angle_backward: g i z / |z|², 0 at 0
        r2 = a.real * a.real + a.imag * a.imag
        with np.errstate(all="ignore"):
            return self.xp.where(r2 == 0, a.dtype.type(0), g * a / r2 * 1j).astype(a.dtype, copy=False)


class Sgn(Function):
    """z / |z| (0 at 0) of a complex array."""

    conj_grad = False

    def forward(self, a):
        out = sgn(self.xp, a)
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        a, s = self.saved  # (g - Re(conj(g) s) s) / |z|, 0 at 0
        r = self.xp.abs(a)
        with np.errstate(all="ignore"):
            inner = (self.xp.conj(g) * s).real
            return self.xp.where(r == 0, a.dtype.type(0), (g - inner * s) / r).astype(a.dtype, copy=False)


class Complex(Function):
    """real + i imag from two real arrays of one float dtype (broadcast), torch.complex."""

    conj_grad = False

    def forward(self, re, im):
        self.shapes = re.shape, im.shape
        shape = np.broadcast_shapes(re.shape, im.shape)
        dtype = np.complex128 if re.dtype == np.float64 else np.complex64
        return _complex_of(self.xp, self.xp.broadcast_to(re, shape), self.xp.broadcast_to(im, shape), dtype)

    def backward(self, g):
        return sum_to(g.real, self.shapes[0]), sum_to(g.imag, self.shapes[1])


class Polar(Function):
    """abs * (cos(angle) + i sin(angle)); backward as torch's polar_backward, which reads the result's
    sgn (so a negative ``abs`` gets the gradient of |abs|, as torch)."""

    conj_grad = False

    def forward(self, r, theta):
        xp = self.xp
        self.shapes = r.shape, theta.shape
        dtype = np.complex128 if r.dtype == np.float64 else np.complex64
        out = _complex_of(xp, *xp.broadcast_arrays(r * xp.cos(theta), r * xp.sin(theta)), dtype)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        (out,) = self.saved
        gc = self.xp.conj(g)
        return sum_to((gc * sgn(self.xp, out)).real, self.shapes[0]), sum_to((gc * out * 1j).real, self.shapes[1])


class ViewAsReal(Function):
    """A complex array as a real one with a last dim of 2 (real, imag), over the same memory."""

    conj_grad = False

    def forward(self, a):
        self.in_dtype = a.dtype
        re = a.real
        return self.xp.lib.stride_tricks.as_strided(re, a.shape + (2,), re.strides + (re.itemsize,))

    def backward(self, g):
        return _complex_of(self.xp, g[..., 0], g[..., 1], self.in_dtype)


class ViewAsComplex(Function):
    """A real array with a last dim of 2 (contiguous) as a complex one, over the same memory."""

    conj_grad = False

    def forward(self, a):
        dtype = np.complex128 if a.dtype == np.float64 else np.complex64
        return a.view(dtype)[..., 0]

    def backward(self, g):
        return self.xp.stack([g.real, g.imag], axis=-1)
