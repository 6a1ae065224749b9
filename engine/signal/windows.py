"""torch.signal.windows: window functions of ``M`` samples, composed from engine ops as torch composes them
(so ``requires_grad=True`` gives a graph, as torch's), on torch's sample grid: its linspace, whose every
entry is one fused multiply-add from the nearer end (``start + step * i`` in the first half,
``end - step * (M - 1 - i)`` in the second), so the values are torch's.

``sym=True`` (default) gives the symmetric window (filter design), ``sym=False`` the periodic one
(spectral analysis: the symmetric window of ``M + 1`` without its last sample).

>>> import engine.signal.windows as windows
>>> windows.hann(5).tolist()
[0.0, 0.5, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from engine.backend import get_xp
from engine.dtypes import to_dtype
from engine.factories import default_dtype
from engine.formats import strided
from engine.tensor import Tensor

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine", "general_hamming",
           "hamming", "hann", "kaiser", "nuttall"]


def _checks(name: str, M: int, dtype, layout) -> np.dtype:
    """torch's checks shared by every window (its words, ValueError); returns the dtype (the default when None)."""
    dtype = to_dtype(dtype) or default_dtype()
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not strided:
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: torch.{dtype.name}")
    return dtype


def _fma(a, b, c, dtype: np.dtype):
    """``a * b + c`` rounded once to ``dtype`` (torch's compiled kernels fuse it). float32: exact in float64
    before the rounding; float64: Dekker's exact product and an exact sum (error-free transformations)."""
    if dtype == np.float32:
        return (np.float64(a) * np.asarray(b, dtype=np.float64) + np.float64(c)).astype(np.float32)
    a, b, c = np.float64(a), np.asarray(b, dtype=np.float64), np.float64(c)
    p = a * b
    split = 134217729.0  # 2**27 + 1: Veltkamp's split of a float64 into two 26-bit halves
    ah = a * split - (a * split - a)
    bh = b * split - (b * split - b)
    err = ((ah * bh - p) + ah * (b - bh) + (a - ah) * bh) + (a - ah) * (b - bh)  # p + err == a * b exactly
    s = p + c
    bv = s - p
    rest = (p - (s - bv)) + (c - bv)  # s + rest == p + c exactly
    return s + (rest + err)


def _grid(name: str, start: float, end: float, M: int, dtype: np.dtype, device, requires_grad: bool) -> Tensor:
    """torch.linspace(start, end, M) as torch computes it on the CPU (see the module's docstring)."""
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)):
        raise TypeError(f"linspace() received an invalid combination of arguments - got steps of type "
                        f"{type(M).__name__} ({name}'s M must be an int)")
    start, end = dtype.type(start), dtype.type(end)
    step = (end - start) / dtype.type(max(M - 1, 1))
    i = np.arange(M)
    low = _fma(step, i, start, dtype)
    high = _fma(-step, M - 1 - i, end, dtype)
    grid = np.where(i < M // 2, low, high).astype(dtype)
    return Tensor(get_xp(device or "cpu").asarray(grid), requires_grad=requires_grad)


def _empty_or_one(M: int, dtype, device, requires_grad: bool) -> Tensor:
    return Tensor(get_xp(device or "cpu").ones((M,), dtype=dtype), requires_grad=requires_grad)


def exponential(M: int, *, center: float | None = None, tau: float = 1.0, sym: bool = True, dtype=None,
                layout=strided, device=None, requires_grad: bool = False) -> Tensor:
    """The exponential (Poisson) window ``exp(-|n - center| / tau)``; ``center`` only for ``sym=False``
    (default: the middle).

    >>> [round(v, 4) for v in exponential(3).tolist()]
    [0.3679, 1.0, 0.3679]
    """
    dtype = _checks("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    if M == 0:
        return Tensor(get_xp(device or "cpu").empty((0,), dtype=dtype), requires_grad=requires_grad)
    if center is None:
        center = (M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / tau
    k = _grid("exponential", -center * constant, (-center + (M - 1)) * constant, M, dtype, device, requires_grad)
    return (-k.abs()).exp()


def cosine(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
           requires_grad: bool = False) -> Tensor:
    """The cosine (sine) window ``sin(pi * (n + 0.5) / M)``.

    >>> [round(v, 4) for v in cosine(3).tolist()]
    [0.5, 1.0, 0.5]
    """
    dtype = _checks("cosine", M, dtype, layout)
    if M == 0:
        return Tensor(get_xp(device or "cpu").empty((0,), dtype=dtype), requires_grad=requires_grad)
    constant = math.pi / (M + 1 if not sym and M > 1 else M)
    return _grid("cosine", 0.5 * constant, (0.5 + (M - 1)) * constant, M, dtype, device, requires_grad).sin()


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype=None, layout=strided, device=None,
             requires_grad: bool = False) -> Tensor:
    """The Gaussian window ``exp(-((n - (M - 1) / 2) / std)**2 / 2)``.

    >>> [round(v, 4) for v in gaussian(3).tolist()]
    [0.6065, 1.0, 0.6065]
    """
    dtype = _checks("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return Tensor(get_xp(device or "cpu").empty((0,), dtype=dtype), requires_grad=requires_grad)
    start = -(M if not sym and M > 1 else M - 1) / 2.0
    constant = 1 / (std * math.sqrt(2))
    k = _grid("gaussian", start * constant, (start + (M - 1)) * constant, M, dtype, device, requires_grad)
    return (-(k ** 2)).exp()


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype=None, layout=strided, device=None,
           requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta * sqrt(1 - (2n / (M - 1) - 1)**2)) / I0(beta)``.

    >>> [round(v, 4) for v in kaiser(3, beta=2.0).tolist()]
    [0.4387, 1.0, 0.4387]
    """
    import engine

    dtype = _checks("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    if M <= 1:
        return _empty_or_one(M, dtype, device, requires_grad)
    b = dtype.type(beta)  # torch: beta as a tensor of the dtype (no NaN from a float64 beta in float32)
    start = -b
    constant = dtype.type(2.0) * b / dtype.type(M if not sym else M - 1)
    end = min(b, start + dtype.type(M - 1) * constant)
    k = _grid("kaiser", start, end, M, dtype, device, requires_grad)
    bt = Tensor(get_xp(device or "cpu").asarray(b))
    return engine.i0((bt * bt - k ** 2).sqrt()) / engine.i0(bt)


def general_cosine(M: int, *, a: Iterable, sym: bool = True, dtype=None, layout=strided, device=None,
                   requires_grad: bool = False) -> Tensor:
    """The generic weighted sum of cosines ``sum_i (-1)**i a[i] cos(2 pi i n / (M - 1))``.

    >>> [round(v, 4) for v in general_cosine(3, a=[0.5, 0.5]).tolist()]
    [0.0, 1.0, 0.0]
    """
    dtype = _checks("general_cosine", M, dtype, layout)
    if M <= 1:
        return _empty_or_one(M, dtype, device, requires_grad)
    if not isinstance(a, Iterable):
        raise TypeError("Coefficients must be a list/tuple")
    if not a:
        raise ValueError("Coefficients cannot be empty")
    constant = 2 * math.pi / (M if not sym else M - 1)
    k = _grid("general_cosine", 0, (M - 1) * constant, M, dtype, device, requires_grad)
    xp = get_xp(device or "cpu")
    a_i = Tensor(xp.asarray([(-1) ** i * w for i, w in enumerate(a)], dtype=dtype), requires_grad=requires_grad)
    i = Tensor(xp.arange(a_i.shape[0], dtype=dtype), requires_grad=requires_grad)
    return (a_i.unsqueeze(-1) * (i.unsqueeze(-1) * k).cos()).sum(0)


def general_hamming(M: int, *, alpha: float = 0.54, sym: bool = True, dtype=None, layout=strided, device=None,
                    requires_grad: bool = False) -> Tensor:
    """The generalized Hamming window ``alpha - (1 - alpha) cos(2 pi n / (M - 1))``.

    >>> [round(v, 4) for v in general_hamming(3, alpha=0.5).tolist()]
    [0.0, 1.0, 0.0]
    """
    return general_cosine(M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def hamming(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
            requires_grad: bool = False) -> Tensor:
    """The Hamming window (general_hamming with alpha 0.54).

    >>> [round(v, 2) for v in hamming(3).tolist()]
    [0.08, 1.0, 0.08]
    """
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)


def hann(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
         requires_grad: bool = False) -> Tensor:
    """The Hann window (general_hamming with alpha 0.5).

    >>> hann(4, sym=False).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    return general_hamming(M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def blackman(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
             requires_grad: bool = False) -> Tensor:
    """The Blackman window (general_cosine with a = [0.42, 0.5, 0.08]).

    >>> [round(v, 4) for v in blackman(3).tolist()]  # torch's -0.0: 0.42 - 0.5 + 0.08 rounds below zero
    [-0.0, 1.0, -0.0]
    """
    _checks("blackman", M, dtype, layout)
    return general_cosine(M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout, device=device,
                          requires_grad=requires_grad)


def bartlett(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
             requires_grad: bool = False) -> Tensor:
    """The Bartlett (triangular, zero at the ends) window ``1 - |2n / (M - 1) - 1|``.

    >>> bartlett(5).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    dtype = _checks("bartlett", M, dtype, layout)
    if M <= 1:
        return _empty_or_one(M, dtype, device, requires_grad)
    constant = 2 / (M if not sym else M - 1)
    return 1 - _grid("bartlett", -1, -1 + (M - 1) * constant, M, dtype, device, requires_grad).abs()


def nuttall(M: int, *, sym: bool = True, dtype=None, layout=strided, device=None,
            requires_grad: bool = False) -> Tensor:
    """The minimum 4-term Blackman-Harris window of Nuttall (general_cosine with its four coefficients).

    >>> [round(v, 4) for v in nuttall(3).tolist()]
    [0.0004, 1.0, 0.0004]
    """
    return general_cosine(M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)
