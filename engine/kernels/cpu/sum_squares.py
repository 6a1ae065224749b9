"""Σ a² accumulated in float64, one vectorized pass (the reference: engine/ops/optim.py's
``sum_squares``, an einsum in float64). Reassociated: it differs from the reference in the last
bits of the float64 sum only."""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit


@jit()
def _sum_squares_flat(a):
    total = 0.0
    for i in range(a.size):
        v = np.float64(a[i])
        total += v * v
    return total


def sum_squares(a) -> float:
    """Σ a² of a float32/float64 array, in float64.

    >>> sum_squares(np.array([[3.0], [4.0]], np.float32))
    25.0
    """
    return float(_sum_squares_flat(a.reshape(-1)))


register("sum_squares", "cpu", sum_squares)
