"""CPU kernels, compiled by numba when it is installed (the ``cpu`` extra).

NumPy makes one pass over memory per ufunc, and a broadcast along rows (``x - mean[:, None]``)
costs 2-3 passes: LayerNorm is seven such passes forward and nine backward, GELU's backward nine,
an AdamW update thirteen. Each kernel here is the same arithmetic as the op's reference in one pass
over its rows, written as plain loops that numba compiles (and caches on disk). Kernels take a row
range or a slice and release the GIL, so ``engine.parallel`` shares them out to its threads, and
results do not depend on the thread count.

Sums over a row run in the array's dtype, reassociated so that they vectorize: they differ from
NumPy's ``einsum`` in the last bits only. The tests hold float64 results to 1e-12 of the
reference, and float32 results to no more than twice the reference's own error against float64.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

import numpy as np

_numba: Any = None  # the module once imported; False when it is not installed


def available() -> bool:
    """True when numba imports (it is imported on the first call, which takes ~0.3 s).

    >>> isinstance(available(), bool)
    True
    """
    global _numba
    if _numba is None:
        try:
            import numba
        except Exception:  # not installed, or a numba that does not support this NumPy: references
            numba = False
        _numba = numba
    return _numba is not False


def numba_version() -> str:
    """numba's version, or "" without it."""
    return _numba.__version__ if available() else ""



# Flat kernels get their slice from the caller and loop over range(size): an index from
# range(lo, hi) might be negative as far as numba knows, and its wrap-around check stops the loop
# from vectorizing (8x).
# error_model="numpy": x / 0 gives inf or nan as in NumPy, with no check that, again, stops SIMD.
def jit(fastmath: tuple[str, ...] = ("reassoc", "contract")) -> Callable[[Callable], Callable]:
    """Decorator: ``fn`` compiled by numba on its first call, without the GIL, cached on disk.

    The default fast-math lets float sums reassociate (so they vectorize) and fuses a·b + c; no
    more than that, so NaN and inf propagate. ``fastmath=()``: every operation rounds as NumPy's
    ufunc would (AdamW's bits); ``("contract",)``: a fixed order of evaluation (exp's reduction).
    """

    def wrap(fn: Callable) -> Callable:
        compiled = None

        def dispatcher():
            nonlocal compiled
            if compiled is None:
                with _compile_lock:  # the first call may come from several of engine.parallel's threads
                    if compiled is None:
                        compiled = _compile(fn, fastmath)
            return compiled

        def call(*args):
            return (compiled if compiled is not None else dispatcher())(*args)

        call.__name__ = call.__qualname__ = fn.__name__
        call.__doc__ = fn.__doc__
        call.dispatcher = dispatcher  # what another kernel calls (see _compile)
        return call

    return wrap


_compile_lock = threading.RLock()  # reentrant: compiling a kernel compiles its callees


def _compile(fn: Callable, fastmath: tuple[str, ...]) -> Callable:
    if not available():
        raise RuntimeError("engine.kernels.cpu needs numba: pip install -e \".[cpu]\"")
    options = dict(nogil=True, fastmath=set(fastmath), error_model="numpy")
    # A kernel may call another @jit kernel: numba needs that one's dispatcher, not its lazy wrapper.
    callees = {name: g.dispatcher() for name in fn.__code__.co_names
               if hasattr(g := fn.__globals__.get(name), "dispatcher")}
    if callees:
        fn = types.FunctionType(fn.__code__, {**fn.__globals__, **callees}, fn.__name__, fn.__defaults__,
                                fn.__closure__)
    try:
        dispatcher = _numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # no writable cache directory: compile in every process instead
        dispatcher = _numba.njit(**options)(fn)
    return dispatcher


# ------------------------------------------------------------------------------------------------
# exp for float32, vectorized: NumPy's float32 exp takes 1.3-2.3 ns an element on this AVX2 machine
# and numba's calls libm once per element; this one is ~0.7 ns (one thread) and within 2 ulp.
# ------------------------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 0.693145751953125, 1.428606765330187045e-06  # ln 2 = HI + LO, HI exact in 12 bits
_EXP_HI = 88.37626266479492  # 127.5·ln 2: above it exp is inf (true overflow starts at 88.72)
_EXP_LO = -87.0  # below it 0: exp would be under 1.7e-38, a subnormal NumPy keeps and we flush


@jit(fastmath=("contract",))
def _exp_float32(x, out):
    """out = exp(x) for flat float32 arrays (x may be out): exp(x) = 2^k · exp(f), x = k·ln 2 + f,
    |f| ≤ ln 2 / 2, exp(f) by cephes' expf polynomial, 2^k added to the result's exponent bits."""
    n = x.size
    exp_float32_into(x, out, np.empty(n, np.float32), np.empty(n, np.int32))


@jit(fastmath=("contract",))
def exp_float32_into(x, out, mantissa, k_int):
    """As _exp_float32 with caller-owned scratch (at least x.size long each): mantissa float32, k_int
    int32. For kernels that take an exp inside a loop (the LSTM step) without allocating."""
    n = x.size
    for i in range(n):  # no writes to x before the last pass: it may be out
        v = x[i]
        vc = min(max(v, np.float32(_EXP_LO)), np.float32(_EXP_HI))
        k = np.floor(vc * np.float32(_LOG2E) + np.float32(0.5))
        f = (vc - k * np.float32(_LN2_HI)) - k * np.float32(_LN2_LO)
        p = np.float32(1.9875691500e-4)
        p = p * f + np.float32(1.3981999507e-3)
        p = p * f + np.float32(8.3334519073e-3)
        p = p * f + np.float32(4.1665795894e-2)
        p = p * f + np.float32(1.6666665459e-1)
        p = p * f + np.float32(5.0000001201e-1)
        p = p * f * f + f + np.float32(1)  # in [0.70, 1.42]: exponent field 126 or 127
        ki = np.int32(k)
        if not ((v >= np.float32(_EXP_LO)) & (v <= np.float32(_EXP_HI))):  # 0, inf, or NaN (v·1e38 keeps it)
            p = np.float32(0) if v < np.float32(_EXP_LO) else v * np.float32(1e38)
            ki = np.int32(0)
        mantissa[i] = p
        k_int[i] = ki
    bits, p_bits = out.view(np.int32), mantissa.view(np.int32)
    for i in range(n):
        bits[i] = p_bits[i] + (k_int[i] << 23)  # k in [-125, 127]: the exponent field stays in [1, 254]


@jit()
def _float32_bits(x):
    """The int32 with x's bits (float32 x); np.float32(x) first: numba views only a fresh scalar."""
    return np.float32(x).view(np.int32)


@jit()
def _bits_float32(i):
    """The float32 with int32 i's bits."""
    return np.int32(i).view(np.float32)


@jit(fastmath=("contract",))
def exp_float32_scalar(v):
    """exp_float32_into's arithmetic on one float32 (the same bits), for a kernel's own loop: a
    kernel that takes exp of what it computed, then uses it, stays one pass over its arrays."""
    vc = min(max(v, np.float32(_EXP_LO)), np.float32(_EXP_HI))
    k = np.floor(vc * np.float32(_LOG2E) + np.float32(0.5))
    f = (vc - k * np.float32(_LN2_HI)) - k * np.float32(_LN2_LO)
    p = np.float32(1.9875691500e-4)
    p = p * f + np.float32(1.3981999507e-3)
    p = p * f + np.float32(8.3334519073e-3)
    p = p * f + np.float32(4.1665795894e-2)
    p = p * f + np.float32(1.6666665459e-1)
    p = p * f + np.float32(5.0000001201e-1)
    p = p * f * f + f + np.float32(1)
    inside = (v >= np.float32(_EXP_LO)) & (v <= np.float32(_EXP_HI))  # else 0, inf, or NaN (v·1e38 keeps it)
    q = p if inside else (np.float32(0) if v < np.float32(_EXP_LO) else v * np.float32(1e38))
    k_int = np.int32(k) if inside else np.int32(0)
    return _bits_float32(np.int32(_float32_bits(q) + (k_int << np.int32(23))))  # one value each: numba's view


def exp_(x) -> None:
    """x ← exp(x) in place for a C-contiguous float array: the kernel above for float32, NumPy's exp else.

    >>> x = np.array([0.0, 1.0, -np.inf, np.inf], np.float32); exp_(x); x.tolist()[:2], x.tolist()[2:]
    ([1.0, 2.7182817459106445], [0.0, inf])
    """
    if x.dtype == np.float32:
        flat = x.reshape(-1)
        _exp_float32(flat, flat)
    else:
        with np.errstate(over="ignore"):
            np.exp(x, out=x)



from engine.kernels.cpu import (  # noqa: E402,F401  (they register)
    adamw,
    attention,
    batch_norm,
    embedding,
    gelu,
    layer_norm,
    linear,
    recurrent,
    relu,
    rows_matmul,
    spatial,
    sum_squares,
)
