"""Ops that move, select or combine entries without arithmetic."""

from __future__ import annotations

from engine.backend import scatter_add
from engine.function import Function
from engine.ops.elementwise import sum_to


class Reshape(Function):
    def forward(self, a, shape=()):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Transpose(Function):
    """Permute axes (``axes`` is a full permutation)."""

    def forward(self, a, axes=()):
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return g.transpose(inverse)


class BroadcastTo(Function):
    def forward(self, a, shape=()):
        self.in_shape = a.shape
        return self.xp.broadcast_to(a, shape)

    def backward(self, g):
        return sum_to(g, self.in_shape)


def is_basic_index(index) -> bool:
    """True for ints, slices, None and Ellipsis only (no arrays, lists or masks)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    """``a[index]``. Advanced indexing scatters back with duplicates summed."""

    def forward(self, a, index=None):
        self.in_shape, self.in_dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g):
        grad = self.xp.zeros(self.in_shape, dtype=g.dtype)
        if is_basic_index(self.index):
            grad[self.index] = g  # basic indexing never repeats an entry
        else:
            scatter_add(grad, self.index, g)
        return grad


class Concatenate(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return self.xp.concatenate(arrays, axis=axis)

    def backward(self, g):
        bounds, start = [], 0
        for n in self.sizes:
            bounds.append((start, start + n))
            start += n
        index = [slice(None)] * g.ndim
        grads = []
        for lo, hi in bounds:
            index[self.axis] = slice(lo, hi)
            grads.append(g[tuple(index)])
        return tuple(grads)


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return self.xp.stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(self.xp.moveaxis(g, self.axis, 0))


class Pad(Function):
    """Constant padding with NumPy's ``pad_width`` ((before, after) per axis)."""

    def forward(self, a, pad_width=(), value=0.0):
        self.pad_width = pad_width
        return self.xp.pad(a, pad_width, mode="constant", constant_values=value)

    def backward(self, g):
        index = tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(self.pad_width))
        return g[index]


class MaskedFill(Function):
    """Entries where ``mask`` is True become ``value``; they get no gradient."""

    def forward(self, a, mask=None, value=0.0):
        self.mask, self.in_shape = mask, a.shape
        return self.xp.where(mask, a.dtype.type(value), a)

    def backward(self, g):
        return sum_to(self.xp.where(self.mask, g.dtype.type(0), g), self.in_shape)


class Tri(Function):
    """``tril``/``triu`` of the last two axes: keep a triangle, zero the rest."""

    def forward(self, a, k=0, upper=False):
        xp = self.xp
        n, m = a.shape[-2:]
        self.keep = xp.triu(xp.ones((n, m), dtype=bool), k) if upper else xp.tril(xp.ones((n, m), dtype=bool), k)
        return a * self.keep

    def backward(self, g):
        return g * self.keep
