"""AdamW in place on flat arrays, one pass (the reference: engine/ops/optim.py's ``adamw``),
with the reference's roundings: bit for bit the same update."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit


@jit(fastmath=())
def _adamw_flat(p, m, v, g, decay, b1, one_minus_b1, b2, one_minus_b2, bias_sqrt, eps, step_size):
    """The reference update, one element at a time in its order of roundings."""
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
    """A kernel ``(lo, hi)`` that updates flat p, m, v in place from flat g (engine.adam_ shares
    it out). Every constant is rounded to the arrays' dtype once, as NumPy does.

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


register("adamw", "cpu", adamw)
