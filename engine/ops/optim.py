"""Optimizer updates as engine calls: AdamW's math, written once, and the public in-place step.

``adam_`` updates parameters in place under no_grad and bumps their version counters, as torch's
in-place ops do, so a backward that saved a parameter before the step raises instead of using the
new values. The flat CPU and CUDA versions of ``adamw`` are table kernels (engine/kernels/).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from engine.backend import array_module
from engine.function import no_grad
from engine.kernels import lookup
from engine.parallel import parallel_jobs


def adamw(p, m, v, g, lr: float, betas: tuple[float, float], eps: float, weight_decay: float, step: int,
          decoupled: bool = True) -> Callable[[int, int], None]:
    """The reference update as a kernel ``(lo, hi)`` over 1-d p, m, v (in place) and g: torch's
    AdamW (``decoupled``: p ← p·(1 − lr·wd) first) or Adam (L2 decay already added to g).

    >>> import numpy as np
    >>> p, m, v, g = np.ones(2), np.zeros(2), np.zeros(2), np.ones(2)
    >>> adamw(p, m, v, g, lr=0.1, betas=(0.9, 0.999), eps=0.0, weight_decay=0.0, step=1)(0, 2); p.tolist()
    [0.9, 0.9]
    """
    xp = array_module(p)
    b1, b2 = betas
    step_size, bias_sqrt = lr / (1 - b1**step), math.sqrt(1 - b2**step)
    decay = 1 - lr * weight_decay if weight_decay and decoupled else None

    def kernel(lo: int, hi: int) -> None:  # in place, with one temporary: 13 passes over a chunk in cache
        p_, m_, v_, g_ = p[lo:hi], m[lo:hi], v[lo:hi], g[lo:hi]
        if decay is not None:
            p_ *= decay
        m_ *= b1  # m = b1·m + (1 − b1)·g
        tmp = xp.multiply(g_, 1 - b1)
        m_ += tmp
        v_ *= b2  # v = b2·v + (1 − b2)·g²
        xp.multiply(g_, g_, out=tmp)
        tmp *= 1 - b2
        v_ += tmp
        xp.sqrt(v_, out=tmp)  # denom = sqrt(v / (1 - b2^t)) + eps, as torch
        tmp /= bias_sqrt
        tmp += eps
        xp.divide(m_, tmp, out=tmp)
        tmp *= step_size  # p −= lr / (1 − b1^t) · m / denom
        p_ -= tmp

    return kernel


def adam_(params: Sequence, grads: Sequence, exp_avgs: Sequence, exp_avg_sqs: Sequence, steps: Sequence[int], *,
          lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
          decoupled: bool = True) -> None:
    """One Adam (``decoupled=False``) or AdamW step for each parameter Tensor, in place: its grad and
    moment buffers are arrays of its shape, ``steps`` the 1-based step counts. All updates run as
    one pool of flat jobs over the threads.

    >>> import numpy as np
    >>> from engine import Tensor
    >>> w = Tensor([1.0, 1.0], requires_grad=True)
    >>> adam_([w], [np.ones(2, np.float32)], [np.zeros(2, np.float32)], [np.zeros(2, np.float32)], [1], lr=0.1)
    >>> [round(v, 4) for v in w.tolist()], w._version  # one in-place update
    ([0.9, 0.9], 1)
    """
    jobs, xp, runs = [], None, []
    with no_grad():
        for p, g, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
            p._check_inplace("adam_")  # bumps p's version, as an in-place op does
            if weight_decay and not decoupled:
                g = g + weight_decay * p._data
            arrays = (p._data, m, v, g)
            if all(a.flags.c_contiguous for a in arrays):
                flat = [a.reshape(-1) for a in arrays]
                last = runs[-1] if runs else None
                # views of flat buffers (engine.flatten_parameters): neighbours become one update. The
                # addresses (~1 us each) only once the buffers match, so unflattened parameters skip them.
                if (last and last.step == step and all(map(_same_buffer, last.first, flat))
                        and last.ends() == [_address(a) for a in flat]):
                    last.size += flat[0].size
                else:
                    runs.append(_Run(flat, step))
            else:  # the whole array as one row: only the reference takes it
                flat = [a[None] for a in arrays]
                jobs.append((adamw(*flat, lr, betas, eps, weight_decay, step, decoupled), 1))
            xp = array_module(p._data)
        for run in runs:
            flat = run.views()
            kernel = lookup("adamw", *flat)
            update = kernel[0] if kernel else adamw
            jobs.append((update(*flat, lr, betas, eps, weight_decay, run.step, decoupled), run.size))
        if jobs:
            parallel_jobs(xp, jobs)


def _address(a) -> int:
    face = getattr(a, "__array_interface__", None)  # NumPy (a new dict each time); CuPy has data.ptr
    return face["data"][0] if face is not None else a.data.ptr


def _owner(a):
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _same_buffer(a, b) -> bool:
    """Whether 1-d ``a`` and ``b`` are views of one C-contiguous array, of one dtype (so that a view
    from ``a``'s start to ``b``'s end is valid memory when ``b`` starts where ``a`` ends)."""
    owner = _owner(a)
    return (a.dtype == b.dtype and _owner(b) is owner and getattr(owner, "flags", None) is not None
            and owner.flags.c_contiguous)


class _Run:
    """Neighbouring parameters of one step in flat buffers: ``first`` holds p, m, v, g of the first one
    (1-d), and the run ``size`` elements of each."""

    __slots__ = ("first", "size", "step", "_starts")

    def __init__(self, first: list, step: int):
        self.first, self.size, self.step, self._starts = first, first[0].size, step, None

    def starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [_address(a) for a in self.first]
        return self._starts

    def ends(self) -> list[int]:
        return [start + self.size * a.itemsize for start, a in zip(self.starts(), self.first)]

    def views(self) -> list:
        """The run's 1-d views of p, m, v and g (the first parameter's own arrays when it is alone)."""
        if self.size == self.first[0].size:
            return self.first
        out = []
        for a, start in zip(self.first, self.starts()):
            owner = _owner(a)
            lo = (start - _address(owner)) // a.itemsize
            out.append(owner.reshape(-1)[lo:lo + self.size])
        return out


def sum_squares(a) -> float:
    """Σ a² of a NumPy array, accumulated in float64 (gradient clipping's 2-norm, squared): the
    reference. einsum casts chunk by chunk, so no float64 copy of ``a`` is made. A CPU kernel
    (engine/kernels/cpu/sum_squares.py) does it in one vectorized pass.

    >>> import numpy as np
    >>> sum_squares(np.array([3.0, 4.0], np.float32))
    25.0
    """
    kernel = lookup("sum_squares", a)
    if kernel:
        return float(kernel[0](a))
    flat = a.reshape(-1)
    return float(array_module(a).einsum("i,i->", flat, flat, dtype="float64"))
