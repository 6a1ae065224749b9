"""Embedding's backward, the scatter-add of g's rows into a zero (V, D) gradient (the reference:
engine/ops/fused.py's Embedding and engine.backend.scatter_add): one pass over g in input order,
instead of a sort, a gather of g and a reduceat. Rows of equal ids add in input order, as the
reference's, so the bits are the same; the threads split the D columns, not the rows."""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.parallel import MIN_PARALLEL_CHEAP, parallel_for


@jit(fastmath=())
def _embedding_backward_columns(ids, g, grad, lo, hi):
    """grad[ids[i], lo:hi] += g[i, lo:hi] for every i in order; ids in [0, V)."""
    for i in range(ids.size):
        row = ids[i]
        for c in range(lo, hi):
            grad[row, c] += g[i, c]


def embedding_forward(weight, ids):
    """``weight[ids]``: rows of weight (V, D) picked by integer ids (…) -> (…, D).

    >>> embedding_forward(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([1])).tolist()
    [[2.0, 3.0]]
    """
    return weight[ids]


def embedding_backward(ids, w_shape, g):
    """dL/dweight (V, D) for ids (…) in [0, V) and g (…, D): rows of g summed by id.

    >>> embedding_backward(np.array([1, 0, 1]), (3, 1), np.array([[1.0], [2.0], [4.0]])).tolist()
    [[2.0], [5.0], [0.0]]
    """
    D = w_shape[1]
    ids1 = np.ascontiguousarray(ids).reshape(-1)
    g2 = np.ascontiguousarray(g).reshape(-1, D)  # (N, D)
    grad = np.zeros(w_shape, g.dtype)
    parallel_for(np, D, lambda lo, hi: _embedding_backward_columns(ids1, g2, grad, lo, hi), row_size=len(ids1),
                 min_parallel=MIN_PARALLEL_CHEAP)
    return grad


register("embedding", "cpu", embedding_forward, embedding_backward)
