"""``out (B, N) = x (B, K) @ w (N, K)ᵀ`` for 2-16 rows (the reference: engine/ops/matmul.py's
``rows_times_weight``): GPT.generate's decode step at batch > 1.

There OpenBLAS runs a GEMM with M = B, which packs and blocks for large M: 50-70 GFLOP/s and
about half the weight-read bandwidth of its own GEMV. Here each thread takes a share of w's rows
and, four rows of w against two rows of x at a time, keeps eight sums in registers while it
streams the rows once: a gpt2-124M decode step's matmuls 57 -> 33 ms at batch 8 (2 threads,
bench/RESULTS.md). B = 1 stays OpenBLAS's GEMV (faster), and so does B > 16. Sums reassociate
(fast-math), so results differ from the reference in the last bits.
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.ops.matmul import rows_times_weight_blas
from engine.parallel import numpy_on_openblas, parallel_batched

MAX_ROWS = 16  # above this OpenBLAS's GEMM caught up (b16: 48 vs 67 ms, b32 not measured)


@jit()
def _rows_wt(x, w, out, lo, hi):
    """out[:, lo:hi] = x @ w[lo:hi]ᵀ: w's rows four at a time, x's rows two at a time."""
    B, K = x.shape
    zero = x.dtype.type(0)
    n = lo
    while n + 4 <= hi:
        b = 0
        while b + 2 <= B:
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = zero
            for k in range(K):
                x0, x1 = x[b, k], x[b + 1, k]
                w0, w1, w2, w3 = w[n, k], w[n + 1, k], w[n + 2, k], w[n + 3, k]
                a00 += x0 * w0
                a01 += x0 * w1
                a02 += x0 * w2
                a03 += x0 * w3
                a10 += x1 * w0
                a11 += x1 * w1
                a12 += x1 * w2
                a13 += x1 * w3
            out[b, n], out[b, n + 1], out[b, n + 2], out[b, n + 3] = a00, a01, a02, a03
            out[b + 1, n], out[b + 1, n + 1], out[b + 1, n + 2], out[b + 1, n + 3] = a10, a11, a12, a13
            b += 2
        if b < B:  # an odd last row of x
            a0 = a1 = a2 = a3 = zero
            for k in range(K):
                xv = x[b, k]
                a0 += xv * w[n, k]
                a1 += xv * w[n + 1, k]
                a2 += xv * w[n + 2, k]
                a3 += xv * w[n + 3, k]
            out[b, n], out[b, n + 1], out[b, n + 2], out[b, n + 3] = a0, a1, a2, a3
        n += 4
    for m in range(n, hi):  # the last rows of w, fewer than four
        for b in range(B):
            acc = zero
            for k in range(K):
                acc += x[b, k] * w[m, k]
            out[b, m] = acc


def rows_matmul(x, w, out) -> None:
    """out (B, N) = x (B, K) @ w (N, K)ᵀ in place; 2 ≤ B ≤ MAX_ROWS here, else the reference's BLAS calls.

    >>> out = np.empty((2, 5), np.float32); rows_matmul(np.ones((2, 3), np.float32), np.ones((5, 3), np.float32), out)
    >>> out.tolist()[0]
    [3.0, 3.0, 3.0, 3.0, 3.0]
    """
    B = x.shape[0]
    fits = (2 <= B <= MAX_ROWS and x.dtype == w.dtype == out.dtype and x.dtype in (np.float32, np.float64)
            and x.flags.c_contiguous and w.flags.c_contiguous and out.flags.c_contiguous
            and numpy_on_openblas())  # measured against OpenBLAS's GEMM; another BLAS keeps its own
    if not fits:
        rows_times_weight_blas(x, w, out)
        return
    parallel_batched(np, w.shape[0], lambda lo, hi: _rows_wt(x, w, out, lo, hi), row_size=B * x.shape[1])


register("rows_matmul", "cpu", rows_matmul)  # inference only: no gradient
