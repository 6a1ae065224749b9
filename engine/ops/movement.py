"""Ops that move, select or combine entries without arithmetic."""

from __future__ import annotations

import numpy as np

from engine.backend import array_module, scatter_add
from engine.function import Function
from engine.ops.elementwise import sum_to


class Reshape(Function):
    conj_grad = False  # linear with real coefficients

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
    conj_grad = False  # linear with real coefficients

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


class _AsStrided(GetItem):
    """A view re-derived from its base after an in-place write through it (torch's AsStridedBackward0):
    the base's entries at ``index``, a tuple of int arrays of the view's shape (``view_index``)."""


def view_index(xp, base, view) -> tuple:
    """Where each entry of ``view`` (an array over ``base``'s memory) sits in ``base``, as an index of
    base: ``base[view_index(xp, base, view)]`` equals ``view``, whatever the view's strides.

    >>> a = np.arange(6.0).reshape(2, 3)
    >>> [i.tolist() for i in view_index(np, a, a.T[1:])]
    [[[0, 1], [0, 1]], [[1, 1], [2, 2]]]
    """
    if base.ndim == 0:
        return (None,) * view.ndim  # a view of one entry: base with view's (all 1) dims added

    def addresses(a):  # the byte address of every entry, an array of a's shape
        out = xp.full(a.shape, a.ctypes.data if xp is np else a.data.ptr, dtype=np.int64)
        for d, (n, step) in enumerate(zip(a.shape, a.strides)):
            out += (xp.arange(n, dtype=np.int64) * step).reshape((n,) + (1,) * (a.ndim - d - 1))
        return out

    flat = addresses(base).reshape(-1)
    order = xp.argsort(flat)
    return xp.unravel_index(order[xp.searchsorted(flat[order], addresses(view))], base.shape)


class Diagonal(Function):
    """The diagonal (``offset``) of the last two dims, (…, n, m) → (…, length), as a view of the
    input's memory, as torch's: an in-place op on it (``x.diagonal().fill_(1)``) writes into x."""

    def forward(self, a, offset=0):
        self.in_shape, self.offset = a.shape, offset
        return diagonal_view(self.xp, a, offset)

    def backward(self, g):
        grad = self.xp.zeros(self.in_shape, dtype=g.dtype)
        diagonal_view(self.xp, grad, self.offset)[...] = g
        return grad


def diagonal_view(xp, a, offset: int):
    """The strided view of ``a``'s diagonal ``offset`` over its last two dims: one step down and one
    right at a time, from (max(-offset, 0), max(offset, 0)).

    >>> diagonal_view(np, np.arange(6).reshape(2, 3), 1).tolist()
    [1, 5]
    """
    n, m = a.shape[-2:]
    length = max(min(n, m - offset) if offset >= 0 else min(n + offset, m), 0)
    first = a[..., max(-offset, 0):, max(offset, 0):] if length else a[..., :0, :0]
    return xp.lib.stride_tricks.as_strided(first, shape=a.shape[:-2] + (length,),
                                           strides=a.strides[:-2] + (a.strides[-2] + a.strides[-1],))


class Concatenate(Function):
    conj_grad = False  # linear with real coefficients

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
    conj_grad = False  # linear with real coefficients

    def forward(self, *arrays, axis=0):
        self.axis = axis
        return self.xp.stack(arrays, axis=axis)

    def backward(self, g):
        return tuple(self.xp.moveaxis(g, self.axis, 0))


class Pad(Function):
    conj_grad = False  # linear with real coefficients

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


class ShapeError(ValueError, RuntimeError):
    """Shapes that do not fit an op. torch raises RuntimeError where NumPy raises ValueError;
    this is both, so ``except RuntimeError`` (torch code) and ``except ValueError`` both catch it."""


def broadcast_error(op: str, *shapes: tuple) -> ShapeError | None:
    """The ShapeError for shapes that do not broadcast, in torch's words ("The size of tensor a (2)
    must match the size of tensor b (3) at non-singleton dimension 0") after the op's name; None
    when they do broadcast (the failure was something else).

    >>> str(broadcast_error("add", (2,), (3,)))
    'add: The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0 (shapes (2,), (3,))'
    """
    try:
        np.broadcast_shapes(*shapes)
        return None
    except ValueError:
        pass
    names = "abcdefgh"
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            a, b = shapes[i], shapes[j]
            for back in range(1, min(len(a), len(b)) + 1):
                if a[-back] != b[-back] and 1 not in (a[-back], b[-back]):
                    dim = max(len(a), len(b)) - back
                    return ShapeError(f"{op}: The size of tensor {names[i]} ({a[-back]}) must match the size of "
                                      f"tensor {names[j]} ({b[-back]}) at non-singleton dimension {dim} "
                                      f"(shapes {', '.join(map(str, shapes))})")
    return ShapeError(f"{op}: shapes {', '.join(map(str, shapes))} cannot be broadcast together")


class IndexOutOfRange(IndexError, RuntimeError):
    """An index (or dim) past the end. torch raises IndexError or RuntimeError for it depending on
    the kernel (index_select of a 3-d double tensor: IndexError; of a 2-d one: RuntimeError)."""


class IndexPut(Function):
    """``zeros(shape)`` with ``out[index] = src``: the inverse of gathering ``src`` from ``index``.

    Positions are unique in the differentiable uses (scatter, diag_embed); where ``index`` repeats
    one, the last write wins in the forward (NumPy's order) and backward reads ``g[index]`` for
    every copy, as torch's scatter does.
    """

    def forward(self, src, index=None, shape=()):
        self.index = index
        out = self.xp.zeros(shape, dtype=src.dtype)
        out[index] = src
        return out

    def backward(self, g):
        return g[self.index]


class SetItem(Function):
    """``a[index] = v`` out of place (what an assignment into a tensor in the graph records): the
    entries written get v's gradient, the rest a's; v was broadcast to what the index selects.
    Where an advanced index repeats a position the last write wins and each copy of v reads it."""

    def forward(self, a, v, index=None):
        self.index, self.v_shape = index, v.shape
        out = a.copy()
        set_item(out, index, v)
        return out

    def backward(self, g):
        ga = gv = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            set_item(ga, self.index, 0)
        if self.needs_input_grad[1]:
            steps = torch_index_steps(torch_ellipses(self.index, g.ndim), self.xp)
            sel = g
            for step in steps:
                sel = sel[step]
            lead = max(len(self.v_shape) - sel.ndim, 0)  # v may have more leading 1s than the target
            gv = sum_to(sel, self.v_shape[lead:]).reshape(self.v_shape)
        return ga, gv


class IndexAccumulate(Function):
    """``zeros(shape)`` with ``out[index] += src``, duplicates summed: the adjoint of ``a[index]``
    (scatter_add, index_add, put with accumulate)."""

    def forward(self, src, index=None, shape=()):
        self.index = index
        out = self.xp.zeros(shape, dtype=src.dtype)
        scatter_add(out, index, src)
        return out

    def backward(self, g):
        return g[self.index]


class ScatterReduce(Function):
    """``out = a`` then ``out[index] = reduce(out[index], src)`` for reduce "amax", "amin" or "prod".

    ``include_self=False`` starts the reduction at each hit position from ``src`` alone.
    amax/amin send the gradient to every entry equal to the result, split evenly among ties
    (as torch does); prod's gradient is the product of the others (out / entry, entries nonzero).
    """

    def forward(self, a, src, index=None, reduce="amax", include_self=True):
        xp = self.xp
        ufunc = {"amax": xp.maximum, "amin": xp.minimum, "prod": xp.multiply}[reduce]
        self.index, self.reduce, self.include_self = index, reduce, include_self
        out = a.copy()
        hit = xp.zeros(a.shape, dtype=bool)
        hit[index] = True
        if not include_self:
            big = xp.inf if a.dtype.kind == "f" else (xp.iinfo(a.dtype).max if a.dtype.kind in "iu" else True)
            small = -xp.inf if a.dtype.kind == "f" else (xp.iinfo(a.dtype).min if a.dtype.kind in "iu" else False)
            out[hit] = {"amax": small, "amin": big, "prod": 1}[reduce]
        ufunc.at(out, index, src)
        self.hit = hit
        self.save_for_backward(a, src, out)
        return out

    def backward(self, g):
        a, src, out = self.saved
        xp, index = self.xp, self.index
        self_counts = xp.ones(a.shape, dtype=bool) if self.include_self else ~self.hit
        if self.reduce == "prod":  # torch's rule: a zero factor gets the product of the others
            base = a.copy() if self.include_self else xp.where(self.hit, a.dtype.type(1), a)
            if self.include_self:
                masked_a = xp.where(a == 0, 1, a)
                others = masked_a.copy()
                xp.multiply.at(others, index, src)
                ga = g * others / masked_a
            else:
                ga = xp.where(self.hit, 0, g)
            src_zero = src == 0
            zeros_at = xp.zeros(a.shape, dtype=np.int64)
            xp.add.at(zeros_at, index, src_zero.astype(np.int64))
            single = src_zero & (zeros_at[index] == 1)  # the only zero reaching its position
            without = base.copy()
            xp.multiply.at(without, index, xp.where(single, 1, src))
            gsrc = xp.where(single, (g * without)[index], (g * out)[index] / xp.where(src_zero, 1, src))
            return ga.astype(g.dtype, copy=False), gsrc.astype(g.dtype, copy=False)
        a_ties = a == out  # (…) entries of a equal to the result: torch counts them even when include_self
        src_wins = src == out[index]  # is False (and then gives them no gradient)
        count = a_ties.astype(g.dtype)
        scatter_add(count, index, src_wins.astype(g.dtype))
        share = g / xp.where(count == 0, 1, count)
        return xp.where(a_ties & self_counts, share, 0).astype(g.dtype, copy=False), \
            xp.where(src_wins, share[index], 0).astype(g.dtype, copy=False)


# ---- helpers for the Tensor methods: dims and torch's indexing rules ---------------------------


def wrap_dim(dim, ndim: int, op: str) -> int:
    """``dim`` as a non-negative int; IndexError as torch's when out of range (0-d accepts 0, -1).

    >>> wrap_dim(-1, 3, "flip")
    2
    """
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def wrap_dims(dims, ndim: int, op: str) -> tuple:
    """A dim or a sequence of dims, each wrapped; duplicates raise as in torch."""
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    out = tuple(wrap_dim(d, ndim, op) for d in dims)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dim {dims} appears multiple times in the list of dims")
    return out


def _index_item(i, xp):
    """One entry of an index, as NumPy indexing takes it: 0-d integer arrays become ints (torch
    selects with them, as with an int), lists and arrays become arrays of ``xp``."""
    if isinstance(i, (slice, int, np.integer)) or i is None or i is Ellipsis:
        return i
    a = i if hasattr(i, "dtype") else np.asarray(i)
    if a.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be long, int or bool tensors, got {a.dtype}")
    if a.ndim == 0 and a.dtype.kind in "iu":
        return int(a)
    return a if xp is np or not isinstance(a, np.ndarray) else xp.asarray(a)


def torch_index_steps(index, xp=np) -> list:
    """``index`` as one or two NumPy indices applied in turn, so that the result has torch's shape.

    torch selects with every int first, then indexes the rest with NumPy's rules; NumPy counts an
    int as an advanced index, so ``x[1, :, [0, 1]]`` of a (2, 3, 4) tensor is (2, 3) there, but
    (3, 2) in torch. Where ints meet arrays, the ints go first (a view) and the arrays second.

    >>> torch_index_steps((1, slice(None), [0, 1]))
    [(1, slice(None, None, None), slice(None, None, None)), (slice(None, None, None), array([0, 1]))]
    """
    items = [_index_item(i, xp) for i in (index if isinstance(index, tuple) else (index,))]
    is_int = [isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items]
    is_adv = [hasattr(i, "ndim") or isinstance(i, bool) for i in items]
    if not (any(is_int) and any(is_adv)):
        return [tuple(items) if isinstance(index, tuple) else items[0]]
    first, second = [], []
    for i, it, adv in zip(items, is_int, is_adv):
        if it:
            first.append(i)
        elif adv:
            if not isinstance(i, bool):  # a bool array spans its ndim dims; True/False spans none
                first.extend([slice(None)] * (i.ndim if i.dtype.kind == "b" else 1))
            second.append(i)
        else:
            first.append(i)
            second.append(i if i is Ellipsis else slice(None))  # a new (None) dim is kept whole
    return [tuple(first), tuple(second)]


def torch_ellipses(index, ndim: int):
    """``index`` with the Ellipses after the first dropped where torch ignores them.

    torch (unlike NumPy) accepts several ``...``: the first spans the dims no other item names and
    each later one moves past the last dim, so it is a no-op when nothing but ``:`` and ``...``
    follows it, or when the first spans no dim. Anything else would index past the last dim.

    >>> torch_ellipses((Ellipsis, 0, Ellipsis), 3)
    (Ellipsis, 0)
    """
    if not isinstance(index, tuple) or sum(i is Ellipsis for i in index) < 2:
        return index
    named = sum(0 if i is None or i is Ellipsis or isinstance(i, bool) else
                (i.ndim if getattr(i, "dtype", None) is not None and i.dtype.kind == "b" else 1) for i in index)
    first, second = [k for k, i in enumerate(index) if i is Ellipsis][:2]  # `is`: arrays have no ==
    if ndim - named == 0:  # every ... spans nothing
        return index[: first + 1] + tuple(i for i in index[first + 1 :] if i is not Ellipsis)
    tail = index[second:]
    if all(i is Ellipsis or (isinstance(i, slice) and i == slice(None)) for i in tail):
        return index[:second]
    raise IndexError(f"index {index!r}: a second '...' would index past the last dim of a {ndim}-d tensor")


def set_item(data, index, value) -> None:
    """``data[index] = value`` in place, with torch's placement of advanced-index dims."""
    xp = array_module(data)
    if xp is not np and isinstance(value, np.ndarray):
        value = xp.asarray(value)
    steps = torch_index_steps(torch_ellipses(index, data.ndim), xp)
    target = data[steps[0]] if len(steps) == 2 else data  # ints and slices: a view of data
    try:
        target[steps[-1]] = value
    except ValueError:
        shape, want = tuple(getattr(value, "shape", np.shape(value))), target[steps[-1]].shape
        lead = len(shape) - len(want)
        if lead <= 0 or any(n != 1 for n in shape[:lead]):
            raise ShapeError(f"setitem: a value of shape {shape} does not broadcast to the indexed shape {want}") \
                from None
        target[steps[-1]] = xp.asarray(value).reshape(shape[lead:])  # torch drops leading 1-dims (NumPy: into 0-d)


def _mask_array(t, mask, op: str):
    m = getattr(mask, "_data", mask)
    m = array_module(t._data).asarray(m) if not hasattr(m, "dtype") else m
    if m.dtype != bool:
        raise RuntimeError(f"{op}: expected a bool mask, got dtype {m.dtype}")
    try:
        if np.broadcast_shapes(m.shape, t.shape) != t.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: the mask of shape {m.shape} must broadcast to the tensor's shape {t.shape}") from None
    return m


_CPP_TYPES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
              "int64": "int64_t", "int32": "int", "int16": "int16_t", "int8": "int8_t", "uint8": "uint8_t"}


def _real_fill_value(value: complex, dtype):
    """A complex fill value for a real tensor, as torch: its real part (bool: whether it is nonzero); a
    nonzero imaginary part is torch's overflow RuntimeError."""
    if dtype == np.bool_:
        return bool(value)
    if value.imag != 0:
        raise RuntimeError(f"value cannot be converted to type {_CPP_TYPES.get(str(dtype), str(dtype))} without "
                           "overflow")
    return value.real


def masked_fill(t, mask, value):
    """``t`` with ``value`` (a number, or a 0-d tensor that then gets its gradient) where ``mask``; ``t``
    broadcast up to the mask's shape first where that is larger (torch's out-of-place rule)."""
    try:
        shape = np.broadcast_shapes(np.shape(getattr(mask, "_data", mask)), t.shape)
    except ValueError:
        shape = t.shape  # _mask_array names the shapes
    if shape != t.shape:
        t = t.broadcast_to(*shape)
    m = _mask_array(t, mask, "masked_fill")
    cplx = isinstance(value, complex) or getattr(getattr(value, "dtype", None), "kind", "") == "c"
    if cplx and t.dtype.kind != "c":
        value = _real_fill_value(value.item() if hasattr(value, "_ctx") else complex(value), t.dtype)
    if hasattr(value, "_ctx"):  # a Tensor
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        if not value.requires_grad:
            return MaskedFill.apply(t, mask=m, value=value.item())
        from engine.ops.elementwise import Where

        return Where.apply(value.astype(t.dtype), t, cond=m)
    return MaskedFill.apply(t, mask=m, value=value)


def tri(t, diagonal: int, upper: bool):
    if t.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions, "
                           f"got shape {t.shape}")
    return Tri.apply(t, k=int(diagonal), upper=upper)
