"""Flat parameter and gradient buffers: many parameters as views into one contiguous array.

``flatten_parameters(params)`` copies the parameters into one 1-d buffer and makes each one's
``data`` a view of its slice; it also gives each a slice of one flat gradient buffer, which
backward fills in place (the first gradient is written into the slice, later ones added to it).
An optimizer, gradient clipping or a data-parallel all-reduce can then work on two arrays
instead of hundreds: one pass, one message.

    flat.data  [ wte | wpe | ln_1.w | ... ]   p._data  = flat.data[lo:hi].reshape(p.shape)
    flat.grad  [ wte | wpe | ln_1.w | ... ]   p.grad  = Tensor(flat.grad[lo:hi].reshape(p.shape))

Whatever replaces a parameter's array (``module.to(device)``, ``astype``) breaks its view: flatten
after moving and casting. ``load_state_dict`` and the optimizers write in place and keep it.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.backend import array_module
from engine.function import no_grad


class FlatParameters:
    """The parameters ``params`` (each once, in order) as views of ``data`` and their gradients as views
    of ``grad``, two 1-d arrays of one dtype on one device. ``spans[i]`` is parameter i's ``(lo, hi)``.

    >>> import numpy as np
    >>> from engine import Tensor
    >>> a, b = Tensor(np.ones((2, 2)), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    >>> flat = flatten_parameters([a, b])
    >>> flat.data.shape, np.shares_memory(a._data, flat.data)
    ((7,), True)
    >>> ((a * 2).sum() + (b + 1).sum()).backward()
    >>> flat.grad.tolist(), np.shares_memory(a.grad._data, flat.grad)
    ([2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0], True)
    """

    def __init__(self, params: Iterable):
        from engine.tensor import Tensor

        unique, seen = [], set()
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"flatten_parameters: expected Tensors, got {type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ValueError("flatten_parameters: got an empty parameter list")
        first = unique[0]._data
        for p in unique:
            if p.dtype != first.dtype or type(p._data) is not type(first):
                raise TypeError(f"flatten_parameters: parameters differ in dtype or device ({first.dtype} on "
                                f"{type(first).__module__} and {p.dtype} on {type(p._data).__module__}); "
                                "flatten each group separately")
            if p._ctx is not None:
                raise ValueError("flatten_parameters: parameters must be leaves (not results of ops)")
        xp = array_module(first)
        self.params = unique
        self.spans: list[tuple[int, int]] = []
        lo = 0
        for p in unique:
            self.spans.append((lo, lo + p._data.size))
            lo += p._data.size
        self.data = xp.empty(lo, dtype=first.dtype)
        self.grad = xp.zeros(lo, dtype=first.dtype)
        with no_grad():
            for p, (lo, hi) in zip(unique, self.spans):
                self.data[lo:hi] = p._data.reshape(-1)
                p._data = self.data[lo:hi].reshape(p.shape)  # a view: in-place updates of p update data
                p._grad_buffer = self.grad[lo:hi].reshape(p.shape)
                if p.grad is not None:
                    p._grad_buffer[...] = p.grad._data
                    p.grad = Tensor(p._grad_buffer)

    def __len__(self) -> int:
        return len(self.params)

    def grad_views(self) -> list:
        """Each parameter's slice of ``grad``, shaped like it (whether or not ``p.grad`` is set now)."""
        return [p._grad_buffer for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the flat gradient buffer in one pass; with ``set_to_none`` (torch's default) also set
        every ``p.grad`` to None (the next backward writes into the same buffer again)."""
        from engine.tensor import Tensor

        self.grad[...] = 0
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is None:
                p.grad = Tensor(p._grad_buffer)

    def is_intact(self) -> bool:
        """Whether every parameter and set gradient is still a view of the flat buffers (``.to()`` or an
        assignment to ``p.grad`` of another array breaks that)."""
        xp = array_module(self.data)
        for p in self.params:
            if not xp.shares_memory(p._data, self.data):
                return False
            if p.grad is not None and not xp.shares_memory(p.grad._data, self.grad):
                return False
        return True


def flatten_parameters(params: Iterable) -> FlatParameters:
    """Move ``params`` (Tensors of one dtype and device, e.g. ``model.parameters()``) into one flat
    buffer, and their gradients into another; see :class:`FlatParameters`.

    >>> import numpy as np
    >>> from engine import Tensor
    >>> w = Tensor(np.arange(3.0), requires_grad=True)
    >>> flat = flatten_parameters([w])
    >>> flat.data[:] = 5; w.tolist()
    [5.0, 5.0, 5.0]
    """
    return FlatParameters(params)
