"""Matrix products, with NumPy's matmul broadcasting and 1-D rules."""

from __future__ import annotations

import math

import numpy as np

from engine.backend import array_module
from engine.function import Function
from engine.kernels import lookup
from engine.ops.elementwise import column_sums, sum_to
from engine.ops.movement import ShapeError


class MatMul(Function):
    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"both arguments to matmul need to be at least 1D, got shapes {a.shape} and {b.shape}")
        k_a, k_b = a.shape[-1], (b.shape[0] if b.ndim == 1 else b.shape[-2])
        if k_a != k_b:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})")
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, g):
        a, b = self.saved
        xp = self.xp
        # Promote 1-D operands to matrices so one rule covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Restore the dropped axes, the last first: 1-D @ 1-D gives a 0-d g that becomes (1, 1).
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if self.needs_input_grad[0]:
            if g.ndim == 2 and b2.ndim == 2:  # (M, N) @ (K, N)ᵀ: a few rows of x @ W run faster the other way
                ga = times_weight_t(g, b2).reshape(a.shape)
            else:
                ga = sum_to(g @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:
                # (..., K) x (..., N) summed over every batch entry in one BLAS call.
                rows = math.prod(a2.shape[:-1])  # not -1: a size-0 batch has no inferable axis
                gb = a2.reshape(rows, a2.shape[-1]).T @ g.reshape(rows, g.shape[-1])
            else:
                gb = sum_to(xp.swapaxes(a2, -1, -2) @ g, b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def rows_times_weight(x, w, out) -> None:
    """``out (B, N) = x (B, K) @ w (N, K)ᵀ`` in place on raw arrays, for the few rows of one decode
    step of GPT.generate (no graph): a GEMV at B = 1, else one matmul. The kernel table's
    ``("rows_matmul", backend)`` runs it when the backend has one (engine/kernels/cpu/rows_matmul.py).

    >>> import numpy as np; out = np.empty((2, 1))
    >>> rows_times_weight(np.ones((2, 3)), np.arange(3.0)[None], out); out.tolist()
    [[3.0], [3.0]]
    """
    kernel = lookup("rows_matmul", x, w)
    if kernel:
        return kernel[0](x, w, out)
    rows_times_weight_blas(x, w, out)


def rows_times_weight_blas(x, w, out) -> None:
    """rows_times_weight's reference, on the backend's BLAS: a GEMV at B = 1, else one matmul (the
    kernel falls back to it outside the shapes it was measured on)."""
    xp = array_module(x)
    if x.shape[0] == 1 and out[0].flags.c_contiguous:  # dot's out must be contiguous
        xp.dot(w, x[0], out=out[0])
    else:  # a few rows the other way round: gpt2's decode matmuls at batch 2-8, 45-55 -> 26-36 ms a step
        times_weight_t(x, w, out)


# Linear with 2-32 rows on NumPy: x @ wᵀ as (w @ xᵀ)ᵀ. OpenBLAS's GEMM packs and blocks for many rows;
# with a few (an RNN step, a small batch) and wᵀ a transposed view it ran 1.2-2.9x slower than the
# product the other way round plus a copy to rows (Zen 4, AVX-512, OpenBLAS SkylakeX: M 2-32, K and N
# 256-3072; bench/RESULTS.md). From 64 rows the usual orientation is as fast or faster.
FEW_ROWS = 32
FEW_ROWS_MIN_WORK = 1 << 18  # M·N·K below it (a tiny product) the usual call is faster


def times_weight_t(x2, w, out=None):
    """``x2 (M, K) @ w (N, K)ᵀ`` as a C-contiguous (M, N) array, or written into ``out`` (any strides):
    Linear's product, in the orientation OpenBLAS runs faster for a few rows (``FEW_ROWS``); every
    other case is ``x2 @ w.T``.

    >>> import numpy as np
    >>> times_weight_t(np.ones((4, 3)), np.arange(6.0).reshape(2, 3)).tolist()[0]
    [3.0, 12.0]
    """
    m = x2.shape[0]
    if (type(x2) is np.ndarray and 2 <= m <= FEW_ROWS and m * w.size >= FEW_ROWS_MIN_WORK
            and x2.dtype == w.dtype):
        product = (w @ x2.T).T  # (M, N), F-ordered
        if out is None:
            return np.ascontiguousarray(product)
        np.copyto(out, product)
        return out
    if out is None:
        return x2 @ w.T
    return array_module(x2).matmul(x2, w.T, out=out)


def _rows(a):
    """(..., n) -> (rows, n); not reshape(-1, n), which cannot infer the rows when n is 0."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class Linear(Function):
    """``x @ w.T + b`` with w of shape (out, in), as torch.nn.Linear; b may be None.

    With ``compute_dtype`` (autocast) the product runs in that dtype and the result, like
    every gradient, comes back in the inputs' dtype.
    """

    def forward(self, x, w, b=None, compute_dtype=None):
        if x.shape[-1] != w.shape[1]:
            raise ShapeError(f"linear: input shape {x.shape} does not match weight shape {w.shape} (in={w.shape[1]})")
        self.save_for_backward(x, w)
        self.compute_dtype = compute_dtype
        x2 = _rows(x)  # one 2-D BLAS call for any leading shape
        kernel = lookup("linear", x2, w, b) if compute_dtype is None and b is not None else None
        if kernel:  # the bias inside the GEMM (engine/kernels/cpu/linear.py)
            out = kernel[0](x2, w, b)
        else:
            if compute_dtype is not None:
                out = times_weight_t(x2.astype(compute_dtype), w.astype(compute_dtype)).astype(x.dtype)
            else:
                out = times_weight_t(x2, w)
            if b is not None:
                out += b
        return out.reshape(*x.shape[:-1], w.shape[0])

    def backward(self, g):
        x, w = self.saved
        g2 = _rows(g)  # (N, out)
        x2 = _rows(x)
        gb = column_sums(g2) if self.needs_input_grad[2] else None
        cd = self.compute_dtype
        if cd is not None:
            g2, w, x2 = g2.astype(cd), w.astype(cd), x2.astype(cd)
        gx = (g2 @ w).astype(x.dtype, copy=False).reshape(x.shape) if self.needs_input_grad[0] else None
        gw = (g2.T @ x2).astype(x.dtype, copy=False) if self.needs_input_grad[1] else None
        return gx, gw, gb


class Einsum(Function):
    """``einsum(equation, *operands)`` with an explicit equation of letters only ("ij,jk->ik").

    Ellipses and size-1 broadcasting are resolved before (``Tensor``-level ``einsum``), so each
    letter has one size. The gradient of an operand is another einsum: the upstream gradient
    with the other operands, onto that operand's letters. Letters only that operand has (summed
    away) are broadcast back; a repeated letter ("ii") writes the gradient onto the diagonal.
    """

    def forward(self, *arrays, equation=""):
        self.inputs, self.output = equation.split("->")[0].split(","), equation.split("->")[1]
        self.save_for_backward(*arrays)
        return self.xp.einsum(equation, *arrays)

    def backward(self, g):
        arrays, xp = self.saved, self.xp
        sizes = {c: n for subs, a in zip(self.inputs, arrays) for c, n in zip(subs, a.shape)}
        grads = []
        for i, (subs, a) in enumerate(zip(self.inputs, arrays)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, x) for j, (s, x) in enumerate(zip(self.inputs, arrays)) if j != i]
            seen = "".join([self.output, *(s for s, _ in others)])
            letters = "".join(dict.fromkeys(subs))  # unique, in order of first appearance
            known = "".join(c for c in letters if c in seen)
            gk = xp.einsum(f"{','.join([self.output, *(s for s, _ in others)])}->{known}", g, *(x for _, x in others))
            # (known letters) -> (letters): broadcast the letters this operand alone sums over.
            if known != letters:
                gk = gk.reshape([sizes[c] if c in known else 1 for c in letters])
                gk = xp.broadcast_to(gk, [sizes[c] for c in letters]).copy()
            gl = gk.astype(a.dtype, copy=False)
            if len(letters) == len(subs):
                grads.append(gl)
                continue
            # A repeated letter: only the diagonal entries were read, so only they get gradient.
            grad = xp.zeros(a.shape, dtype=a.dtype)
            where = [xp.arange(sizes[c]).reshape([-1 if d == letters.index(c) else 1 for d in range(len(letters))])
                     for c in subs]
            grad[tuple(where)] = gl
            grads.append(grad)
        return tuple(grads)
