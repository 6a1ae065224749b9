"""Fused CPU kernels, compiled by numba when it is installed (the ``cpu`` extra).

NumPy makes one pass over memory per ufunc, and a broadcast along rows (``x - mean[:, None]``)
costs 2-3 passes: LayerNorm is seven such passes forward and nine backward, GELU's backward nine,
an AdamW update thirteen. Each kernel here is the same arithmetic as the composed NumPy op in
one pass over its rows, written as plain loops that numba compiles (and caches on disk).

The ops call them for float32/float64 NumPy arrays (:func:`kernels_for`); without numba, or
with ``TINYGRAD_GPT_CPU_KERNELS=0`` / :func:`set_enabled`, they take the composed NumPy path,
which the tests hold every kernel to (tests/engine/test_cpu_kernels.py). Kernels take a row range
``lo:hi`` (or a slice of a flat array) and release the GIL, so ``engine.parallel`` shares them out to
its threads exactly as it does NumPy kernels, and results do not depend on the thread count.

===========================  ================================================================
``layer_norm``               ``(y, xhat, rstd)`` over the last axis, two-pass mean/variance
``layer_norm_backward``      ``dx``; ``dw``/``db`` by one BLAS/einsum reduction each
``softmax_rows_``            attention's softmax in place: scale, mask and row max in one pass,
                             the exp, then the row sums and the division in one
``softmax_rows_backward_``   ``p·(g − Σ g·p)·scale`` in place, one pass per row
``exp_``                     exp in place; for float32 a vectorized polynomial (2x NumPy's here)
``gelu``                     GPT-2's tanh GELU as ``x / (1 + exp(-2u))``, three passes in cache
``gelu_backward``            recomputes ``exp(-2u)`` from the input (nothing else is saved)
``adamw``                    AdamW in place, bit-for-bit ``nn.optim.AdamW``'s NumPy update
===========================  ================================================================

Sums over a row run in the array's dtype, reassociated so that they vectorize: they differ from
NumPy's ``einsum`` in the last bits only. The tests hold float64 results to 1e-12 of the composed
path, and float32 results to no more than twice the composed path's own error against float64.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.parallel import MIN_PARALLEL_CHEAP, parallel_for

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)  # as engine/ops/elementwise.py's Gelu
# One-pass kernels are memory-bound: a second thread gains little (LayerNorm backward at (2048, 384):
# 206 vs 221 µs), so they split only from 256K elements (M's activations, not S's).
MIN_PARALLEL_ONE_PASS = MIN_PARALLEL_CHEAP // 4
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_enabled = os.environ.get("TINYGRAD_GPT_CPU_KERNELS", "1") != "0"
_numba: Any = None  # the module once imported; False when it is not installed


def set_enabled(enabled: bool) -> bool:
    """Use the compiled kernels in the engine's CPU ops (True, the default) or not; returns the old setting.

    >>> old = set_enabled(False); set_enabled(old)
    False
    """
    global _enabled
    old, _enabled = _enabled, bool(enabled)
    return old


def available() -> bool:
    """True when numba imports (it is imported on the first call, which takes ~0.3 s).

    >>> isinstance(available(), bool)
    True
    """
    global _numba
    if _numba is None:
        try:
            import numba
        except Exception:  # not installed, or a numba that does not support this NumPy: composed ops
            numba = False
        _numba = numba
    return _numba is not False


def describe() -> str:
    """What the CPU ops run on, for logs: compiled kernels and numba's version, or why not.

    >>> describe().startswith(("compiled kernels", "composed NumPy ops"))
    True
    """
    if not available():
        return "composed NumPy ops (numba not installed: pip install -e \".[cpu]\" for compiled kernels)"
    if not _enabled:
        return "composed NumPy ops (compiled kernels off: TINYGRAD_GPT_CPU_KERNELS=0 or set_enabled(False))"
    return f"compiled kernels (numba {_numba.__version__})"


def kernels_for(*arrays) -> Any:
    """This module when the kernels are on, numba is installed, and every array (None skipped) is a
    float32 or float64 NumPy array of one dtype; else None (the op takes its composed path).

    >>> kernels_for(np.ones(3, np.int64)) is None
    True
    """
    dtype = None
    for a in arrays:
        if a is None:
            continue
        if type(a) is not np.ndarray or a.dtype not in _DTYPES or (dtype is not None and a.dtype != dtype):
            return None
        dtype = a.dtype
    return sys.modules[__name__] if _enabled and dtype is not None and available() else None


# Flat kernels get their slice from the caller and loop over range(size): an index from
# range(lo, hi) might be negative as far as numba knows, and its wrap-around check stops the loop
# from vectorizing (8x).
# error_model="numpy": x / 0 gives inf or nan as in NumPy, with no check that, again, stops SIMD.
def _jit(fastmath: tuple[str, ...] = ("reassoc", "contract")) -> Callable[[Callable], Callable]:
    """Decorator: ``fn`` compiled by numba on its first call, without the GIL, cached on disk.

    The default fast-math lets float sums reassociate (so they vectorize) and fuses a·b + c; no
    more than that, so NaN and inf propagate. ``fastmath=()``: every operation rounds as NumPy's
    ufunc would (AdamW's bits); ``("contract",)``: a fixed order of evaluation (exp's reduction).
    """

    def wrap(fn: Callable) -> Callable:
        compiled = None

        def call(*args):
            nonlocal compiled
            if compiled is None:
                with _compile_lock:  # the first call may come from several of engine.parallel's threads
                    if compiled is None:
                        compiled = _compile(fn, fastmath)
            return compiled(*args)

        call.__name__ = call.__qualname__ = fn.__name__
        call.__doc__ = fn.__doc__
        return call

    return wrap


_compile_lock = threading.Lock()


def _compile(fn: Callable, fastmath: tuple[str, ...]) -> Callable:
    if not available():
        raise RuntimeError("engine.cpu's kernels need numba: pip install -e \".[cpu]\"")
    options = dict(nogil=True, fastmath=set(fastmath), error_model="numpy")
    try:
        dispatcher = _numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # no writable cache directory: compile in every process instead
        dispatcher = _numba.njit(**options)(fn)
    return dispatcher


# ------------------------------------------------------------------------------------------------
# LayerNorm over the last axis of x (N, C)
# ------------------------------------------------------------------------------------------------
@_jit()
def _layer_norm_rows(x, w, b, eps, y, xhat, rstd, lo, hi):
    """Rows lo:hi: xhat = (x − mean)·rstd, y = xhat·w + b, rstd = 1/sqrt(var + eps)."""
    C = x.shape[1]
    zero, one, n_c = x.dtype.type(0), x.dtype.type(1), x.dtype.type(C)
    for n in range(lo, hi):
        s = zero
        for c in range(C):
            s += x[n, c]
        mean = s / n_c
        v = zero
        for c in range(C):  # two passes over the row (in L1), as the NumPy path: no cancellation
            d = x[n, c] - mean
            v += d * d
        r = one / np.sqrt(v / n_c + eps)
        for c in range(C):
            h = (x[n, c] - mean) * r
            xhat[n, c] = h
            y[n, c] = h * w[c] + b[c]
        rstd[n] = r


@_jit()
def _layer_norm_backward_rows(g, xhat, rstd, w, gx, lo, hi):
    """Rows lo:hi: gx = rstd·(gxhat − mean(gxhat) − xhat·mean(gxhat·xhat)), gxhat = g·w."""
    C = g.shape[1]
    zero, n_c = g.dtype.type(0), g.dtype.type(C)
    for n in range(lo, hi):
        s1 = zero
        s2 = zero
        for c in range(C):
            gh = g[n, c] * w[c]
            s1 += gh
            s2 += gh * xhat[n, c]
        s1 /= n_c
        s2 /= n_c
        r = rstd[n]
        for c in range(C):
            gx[n, c] = r * (g[n, c] * w[c] - s1 - xhat[n, c] * s2)


def layer_norm(x, weight, bias, eps: float):
    """``(y, xhat, rstd)`` for x (N, C) C-contiguous; weight/bias (C,) or None.

    >>> y, xhat, rstd = layer_norm(np.array([[1.0, 3.0]]), None, None, 0.0)
    >>> y.tolist(), rstd.tolist()
    ([[-1.0, 1.0]], [1.0])
    """
    N, C = x.shape
    w = np.ones(C, x.dtype) if weight is None else weight
    b = np.zeros(C, x.dtype) if bias is None else bias
    y, xhat, rstd = np.empty_like(x), np.empty_like(x), np.empty(N, x.dtype)
    eps = x.dtype.type(eps)
    parallel_for(np, N, lambda lo, hi: _layer_norm_rows(x, w, b, eps, y, xhat, rstd, lo, hi), row_size=C,
                 min_parallel=MIN_PARALLEL_ONE_PASS)
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, weight, need_x: bool, need_w: bool, need_b: bool):
    """``(gx, gw, gb)`` (None where not needed) for ``layer_norm``'s output gradient g (N, C).

    >>> gx, gw, gb = layer_norm_backward(np.ones((1, 2)), np.array([[-1.0, 1.0]]), np.ones(1), None, True, True, True)
    >>> gx.tolist(), gw.tolist(), gb.tolist()  # a constant shift of the output has no gradient in x
    ([[0.0, 0.0]], [-1.0, 1.0], [1.0, 1.0])
    """
    N, C = g.shape
    gx = gw = gb = None
    if need_x:
        w = np.ones(C, g.dtype) if weight is None else weight
        gx = np.empty_like(g)
        parallel_for(np, N, lambda lo, hi: _layer_norm_backward_rows(g, xhat, rstd, w, gx, lo, hi), row_size=C,
                     min_parallel=MIN_PARALLEL_ONE_PASS)
    if need_w:
        gw = np.einsum("nc,nc->c", g, xhat)
    if need_b:
        gb = np.ones(N, g.dtype) @ g  # one GEMV
    return gx, gw, gb


# ------------------------------------------------------------------------------------------------
# exp for float32, vectorized: NumPy's float32 exp takes 1.3-2.3 ns an element on this AVX2 machine
# and numba's calls libm once per element; this one is ~0.7 ns (one thread) and within 2 ulp.
# ------------------------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 0.693145751953125, 1.428606765330187045e-06  # ln 2 = HI + LO, HI exact in 12 bits
_EXP_HI = 88.37626266479492  # 127.5·ln 2: above it exp is inf (true overflow starts at 88.72)
_EXP_LO = -87.0  # below it 0: exp would be under 1.7e-38, a subnormal NumPy keeps and we flush


@_jit(fastmath=("contract",))
def _exp_float32(x, out):
    """out = exp(x) for flat float32 arrays (x may be out): exp(x) = 2^k · exp(f), x = k·ln 2 + f,
    |f| ≤ ln 2 / 2, exp(f) by cephes' expf polynomial, 2^k added to the result's exponent bits."""
    n = x.size
    mantissa, k_int = np.empty(n, np.float32), np.empty(n, np.int32)  # no writes to x: it may be out
    for i in range(n):
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


# ------------------------------------------------------------------------------------------------
# Softmax over the last axis, in place, for attention's scores
# ------------------------------------------------------------------------------------------------
@_jit()
def _softmax_shift_rows(s, bias, scale):
    """s (R, S) ← s·scale + bias[r % Tb] − its row max; bias (Tb, S), or (0, S) for none."""
    R, S = s.shape
    tb = bias.shape[0]
    for r in range(R):
        m = -np.inf
        if tb:
            for c in range(S):
                v = s[r, c] * scale + bias[r % tb, c]
                s[r, c] = v
                m = max(m, v)
        else:
            for c in range(S):
                v = s[r, c] * scale
                s[r, c] = v
                m = max(m, v)
        for c in range(S):
            s[r, c] -= m


@_jit()
def _normalize_rows(s):
    """s (R, S) ← s / its row sum."""
    R, S = s.shape
    zero, one = s.dtype.type(0), s.dtype.type(1)
    for r in range(R):
        t = zero
        for c in range(S):
            t += s[r, c]
        t = one / t
        for c in range(S):
            s[r, c] *= t


@_jit()
def _softmax_backward_rows(gs, p, scale):
    """gs (R, S) ← p·(gs − Σ gs·p)·scale, row by row."""
    R, S = gs.shape
    zero = gs.dtype.type(0)
    for r in range(R):
        d = zero
        for c in range(S):
            d += gs[r, c] * p[r, c]
        for c in range(S):
            gs[r, c] = (gs[r, c] - d) * p[r, c] * scale


def softmax_rows_(s, bias, scale: float) -> None:
    """s (…, T, S) C-contiguous ← softmax(s·scale + bias) over the last axis, in place; bias (T, S)
    (0 or −inf, as attention's mask) or None. The exp is NumPy's, between two compiled passes.

    >>> s = np.zeros((1, 2, 2)); softmax_rows_(s, np.array([[0.0, -np.inf], [0.0, 0.0]]), 1.0); s.tolist()
    [[[1.0, 0.0], [0.5, 0.5]]]
    """
    s2 = s.reshape(-1, s.shape[-1])
    bias = np.zeros((0, s.shape[-1]), s.dtype) if bias is None else bias
    _softmax_shift_rows(s2, bias, s.dtype.type(scale))
    exp_(s2)
    _normalize_rows(s2)


def softmax_rows_backward_(gs, p, scale: float) -> None:
    """gs (…, T, S) ← p·(gs − Σ gs·p)·scale in place (dL/dp to dL/d(scores)); both C-contiguous.

    >>> gs = np.array([[1.0, 0.0]]); softmax_rows_backward_(gs, np.array([[0.5, 0.5]]), 1.0); gs.tolist()
    [[0.25, -0.25]]
    """
    _softmax_backward_rows(gs.reshape(-1, gs.shape[-1]), p.reshape(-1, p.shape[-1]), gs.dtype.type(scale))


# ------------------------------------------------------------------------------------------------
# GELU, tanh approximation: out = a·h, h = (1 + tanh u)/2 = 1/(1 + exp(−2u)), u = k·(a + c·a³)
# ------------------------------------------------------------------------------------------------
@_jit()
def _gelu_exponent(a, h):
    """h = −2u = −2k·(a + c·a³)."""
    k2, k2c = a.dtype.type(-2 * SQRT_2_OVER_PI), a.dtype.type(-2 * SQRT_2_OVER_PI * 0.044715)
    for i in range(a.size):
        x = a[i]
        h[i] = x * (k2 + k2c * x * x)


@_jit()
def _gelu_finish(a, e, out):
    """out = a / (1 + e), e = exp(−2u) (inf gives 0)."""
    one = a.dtype.type(1)
    for i in range(a.size):
        out[i] = a[i] * (one / (one + e[i]))


@_jit()
def _gelu_backward_from_exp(a, e, g, d):
    """d = g·h·(1 + 2k·a·(1 + 3c·a²)·(1 − h)), h = 1/(1 + e), e = exp(−2u): Gelu.backward's formula."""
    one = a.dtype.type(1)
    k6c, k2 = a.dtype.type(6 * 0.044715 * SQRT_2_OVER_PI), a.dtype.type(2 * SQRT_2_OVER_PI)
    for i in range(a.size):
        x = a[i]
        t = one / (one + e[i])
        d[i] = g[i] * (t * (one + x * (k6c * x * x + k2) * (one - t)))


def gelu(a):
    """GELU (tanh) of a C-contiguous array. Its backward recomputes what it needs from ``a``, as
    torch's does, so nothing else is kept (at M, 12.6 MB a layer less, at the same speed).

    >>> [round(v, 4) for v in gelu(np.array([0.0, 1.0])).tolist()]
    [0.0, 0.8412]
    """
    a1 = a.reshape(-1)
    out = np.empty_like(a)
    out1 = out.reshape(-1)

    def kernel(lo, hi):  # three passes over a chunk in cache
        e = np.empty(hi - lo, a.dtype)
        _gelu_exponent(a1[lo:hi], e)
        exp_(e)  # exp(−2u) = inf where u ≪ 0: the output is 0, as it should be
        _gelu_finish(a1[lo:hi], e, out1[lo:hi])

    parallel_for(np, a.size, kernel)
    return out


def gelu_backward(a, g):
    """dL/da for C-contiguous a and g.

    >>> gelu_backward(np.array([0.0]), np.ones(1)).tolist()  # GELU'(0) = 1/2
    [0.5]
    """
    d = np.empty_like(a)
    a1, g1, d1 = a.reshape(-1), g.reshape(-1), d.reshape(-1)

    def kernel(lo, hi):
        e = np.empty(hi - lo, a.dtype)
        _gelu_exponent(a1[lo:hi], e)
        exp_(e)
        _gelu_backward_from_exp(a1[lo:hi], e, g1[lo:hi], d1[lo:hi])

    parallel_for(np, a.size, kernel)
    return d


# ------------------------------------------------------------------------------------------------
# AdamW, in place on flat arrays
# ------------------------------------------------------------------------------------------------
@_jit(fastmath=())
def _adamw_flat(p, m, v, g, decay, b1, one_minus_b1, b2, one_minus_b2, bias_sqrt, eps, step_size):
    """The update of nn.optim.Adam's NumPy kernel, one element at a time in its order of roundings."""
    for i in range(p.size):
        gi = g[i]
        pi = p[i] * decay
        mi = m[i] * b1 + gi * one_minus_b1
        vi = v[i] * b2 + (gi * gi) * one_minus_b2
        m[i] = mi
        v[i] = vi
        p[i] = pi - (mi / (np.sqrt(vi) / bias_sqrt + eps)) * step_size


def adamw(p, m, v, g, lr: float, betas: tuple[float, float], eps: float, weight_decay: float, step: int,
          decoupled: bool = True) -> Callable[[int, int], None]:
    """A kernel ``(lo, hi)`` that updates flat p, m, v in place from flat g (nn.optim's parallel_jobs
    shares it out). Every constant is rounded to the arrays' dtype once, as NumPy does.

    >>> p, m, v, g = np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)
    >>> adamw(p, m, v, g, lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0, step=1)(0, 2); p.tolist()
    [0.9, 0.9]
    """
    t = p.dtype.type
    b1, b2 = betas
    decay = 1 - lr * weight_decay if weight_decay and decoupled else 1.0
    consts = (t(decay), t(b1), t(1 - b1), t(b2), t(1 - b2), t(math.sqrt(1 - b2**step)), t(eps),
              t(lr / (1 - b1**step)))
    return lambda lo, hi: _adamw_flat(p[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi], *consts)
