"""``out = x @ wᵀ + b`` in one GEMM call (the reference: engine/ops/matmul.py's Linear.forward, which
multiplies, then adds b in a second pass over out).

NumPy's matmul calls GEMM with β = 0, and OpenBLAS then zeroes out in a pass of its own before it
adds the products. Here out is filled with b instead and the GEMM adds x @ wᵀ to it (β = 1): the fill
takes the zeroing pass's place and the bias pass is gone. Measured (Zen 4, OpenBLAS SkylakeX, paired
in-process A/B of whole training steps, bench/RESULTS.md): M -1.3% (its outputs are 3-12 MB, the
bias pass ~13 ms a step), S within noise (-0.2 to -1.5%).

OpenBLAS adds each block of K's partial products to out, so with K above its block (256-384 on
these kernels) the bias joins the first block's sum instead of the total: the last bits may differ
from the reference's.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.ops.matmul import FEW_ROWS, times_weight_t
from engine.parallel import array_address, openblas_gemm

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def linear_forward(x2, w, b):
    """out (M, N) = x2 (M, K) @ w (N, K)ᵀ + b (N,), a new C-contiguous array; one GEMM with β = 1 on
    NumPy's OpenBLAS for C-contiguous inputs of one dtype above ``FEW_ROWS`` rows, else the reference's
    product and add.

    >>> linear_forward(np.ones((40, 3)), np.ones((2, 3)), np.array([1.0, 2.0]))[0].tolist()
    [4.0, 5.0]
    """
    m, k = x2.shape
    n = w.shape[0]
    gemm = openblas_gemm(x2.dtype) if x2.dtype == w.dtype == b.dtype else None
    if (gemm is None or m <= FEW_ROWS or k == 0 or n == 0 or b.shape != (n,)
            or not (x2.flags.c_contiguous and w.flags.c_contiguous and b.flags.c_contiguous)):
        out = times_weight_t(x2, w)
        out += b
        return out
    out = np.empty((m, n), x2.dtype)
    out[...] = b  # (M, N) rows of b: GEMM adds x2 @ wᵀ to them
    gemm(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, k, 1.0, array_address(x2), k, array_address(w), k, 1.0,
         array_address(out), n)
    return out


register("linear", "cpu", linear_forward)  # forward only: Linear's backward is three matmuls as it is
