"""torch.as_strided and its family: windows on a tensor's storage given in elements (size, stride,
storage offset), as torch's.

A tensor's storage here is the array that owns its memory (``function._memory_owner``: a view's
``base`` chain ends there), counted in elements of the tensor's dtype; ``storage_offset()`` is where
the tensor's first entry sits in it. So ``x[2:].as_strided((2,), (1,), 0)`` reads ``x[0:2]``, as torch.

>>> import engine
>>> engine.arange(6.0).as_strided((2, 2), (1, 2), 1).tolist()
[[1.0, 3.0], [2.0, 4.0]]
"""

from __future__ import annotations

import types
from collections.abc import Sequence

import numpy as np

from engine.backend import array_module, scatter_add
from engine.function import Function, _memory_owner, is_grad_enabled
from engine.tensor import Tensor, _take_graph

# ---- storage geometry ----------------------------------------------------------------------------


def _address(a) -> int:
    """The byte address of ``a``'s first entry (NumPy or CuPy)."""
    return int(a.__array_interface__["data"][0]) if isinstance(a, np.ndarray) else int(a.data.ptr)


def _root(a):
    """The array owning ``a``'s memory (the last array on its ``base`` chain: a buffer object past it has no
    address we can read)."""
    owner = _memory_owner(a)
    if isinstance(owner, np.ndarray) or hasattr(owner, "__cuda_array_interface__"):
        return owner
    root, b = a, a
    while getattr(b, "base", None) is not None:
        b = b.base
        if isinstance(b, np.ndarray):
            root = b
    return root


def storage_geometry(a) -> tuple[int, int]:
    """(storage offset of ``a`` in elements, storage size in bytes): where ``a`` starts in the memory
    its owner holds, and how large that memory is.

    >>> base = np.arange(10.0)
    >>> storage_geometry(base[3:])
    (3, 80)
    """
    root = _root(a)
    return (_address(a) - _address(root)) // a.itemsize, int(root.nbytes)


class _Window:
    """An ``__array_interface__`` NumPy wraps as an array; ``base`` keeps the chain to the owner (so the
    engine sees the result as a view of it: shared version counter, ``_base``)."""

    def __init__(self, interface: dict, base):
        self.__array_interface__ = interface
        self.base = base


def window(a, size: tuple, stride: tuple, offset: int):
    """The array of ``size`` / ``stride`` (elements) starting ``offset`` elements into ``a``'s storage."""
    start = _address(_root(a)) + offset * a.itemsize
    steps = tuple(s * a.itemsize for s in stride)
    if isinstance(a, np.ndarray):
        iface = {"data": (start, not _root(a).flags.writeable), "shape": tuple(size), "strides": steps,
                 "typestr": a.dtype.str, "descr": a.dtype.descr, "version": 3}
        return np.asarray(_Window(iface, a))
    xp = array_module(a)  # CuPy: an ndarray on the same memory (pointer arithmetic on its MemoryPointer)
    return xp.ndarray(tuple(size), a.dtype, memptr=a.data + (start - _address(a)), strides=steps)


def positions(size: Sequence[int], stride: Sequence[int], offset: int, xp=np):
    """The storage index (elements) of every entry of the window, an int64 array of shape ``size``.

    >>> positions((2, 2), (1, 2), 1).tolist()
    [[1, 3], [2, 4]]
    """
    out = xp.full(tuple(size), offset, dtype=np.int64)
    for d, (n, st) in enumerate(zip(size, stride)):
        out += (xp.arange(n, dtype=np.int64) * st).reshape((n,) + (1,) * (len(size) - d - 1))
    return out


def _geometry(a):
    """(size, stride, offset) of array ``a`` in elements of its storage."""
    return a.shape, tuple(s // a.itemsize for s in a.strides), storage_geometry(a)[0]


def _ints(value, name: str, op: str) -> tuple:
    """``value`` as a tuple of ints (torch's TypeError for a non-sequence or a non-int element)."""
    if isinstance(value, Tensor) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{op}(): argument '{name}' (position {2 if name == 'size' else 3}) must be tuple of ints, "
                        f"not {type(value).__name__}")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, Tensor) and v.ndim == 0 and v.dtype.kind in "iu":
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{op}(): argument '{name}' (position {2 if name == 'size' else 3}) must be tuple of "
                            f"ints, but found element of type {type(v).__name__} at pos {i}")
        out.append(int(v))
    return tuple(out)


def _check(op: str, size, stride, storage_offset, default_offset: int, itemsize: int, nbytes: int) -> tuple:
    """torch's checks of a window on a storage of ``nbytes`` (setStrided, checkInBoundsForStorage), in its
    order; returns (size, stride, offset) as ints (``default_offset`` for a None offset)."""
    size, stride = _ints(size, "size", op), _ints(stride, "stride", op)
    if storage_offset is None:
        offset = default_offset
    else:
        if isinstance(storage_offset, Tensor) and storage_offset.ndim == 0 and storage_offset.dtype.kind in "iu":
            storage_offset = storage_offset.item()
        if isinstance(storage_offset, bool) or not isinstance(storage_offset, (int, np.integer)):
            raise TypeError(f"{op}(): argument 'storage_offset' (position 4) must be int, not "
                            f"{type(storage_offset).__name__}")
        offset = int(storage_offset)
    if len(size) != len(stride):
        raise RuntimeError("mismatch in length of strides and shape")
    if any(st < 0 for st in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got strides: "
                           f"{list(stride)}")
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    if any(n < 0 for n in size):
        raise RuntimeError(f"Storage size calculation overflowed with sizes={list(size)} and strides={list(stride)}")
    if 0 not in size:  # a window with no entries reads nothing, wherever it starts
        need = (1 + sum((n - 1) * st for n, st in zip(size, stride)) + offset) * itemsize
        if need > nbytes:
            raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, "
                               f"and itemsize {itemsize} requiring a storage size of {need} are out of bounds "
                               f"for storage of size {nbytes}")
    return size, stride, offset


# ---- ops -----------------------------------------------------------------------------------------


def _scatter_to_storage(xp, g, out_pos, in_geometry, length: int):
    """torch's as_strided backward: g scatter-added into a storage of ``length`` elements at ``out_pos``,
    divided where the input's own geometry reads one element several times, read back with that geometry."""
    storage = xp.zeros(length, dtype=g.dtype)
    scatter_add(storage, out_pos.reshape(-1), g.reshape(-1))
    in_pos = positions(*in_geometry, xp=xp)
    if in_pos.size != xp.unique(in_pos).size:  # the input reads some element more than once
        count = xp.zeros(length, dtype=g.dtype)
        scatter_add(count, in_pos.reshape(-1), xp.ones(in_pos.size, dtype=g.dtype))
        with np.errstate(invalid="ignore", divide="ignore"):
            storage = storage / count  # nan where the input reads nothing: never read back
    return storage[in_pos]


class AsStrided(Function):
    """A window (``size``, ``stride``, ``offset`` in elements) on the input's storage, as a view of it."""

    def forward(self, a, size=(), stride=(), offset=0, copy=False):
        self.in_geometry = _geometry(a)
        self.out_geometry = (size, stride, offset)
        self.length = storage_geometry(a)[1] // a.itemsize
        out = window(a, size, stride, offset)
        return out.copy() if copy else out  # as_strided_copy: new row-major memory

    def backward(self, g):
        out_pos = positions(*self.out_geometry, xp=self.xp)
        return _scatter_to_storage(self.xp, g, out_pos, self.in_geometry, self.length)


class AsStridedScatter(Function):
    """A copy of the input (laid out as torch's clone) with ``src`` written into the window (``size``,
    ``stride``, ``offset`` on the copy's storage). Gradients: the input's, g with the window zeroed; src's,
    g read at the window."""

    def forward(self, a, src, size=(), stride=(), offset=0):
        xp = self.xp
        order = _clone_order(a)  # torch's clone keeps a dense input's memory order, else row-major
        out = xp.empty(tuple(a.shape[d] for d in order), dtype=a.dtype).transpose(np.argsort(order))
        out[...] = a
        window(out, size, stride, offset)[...] = src.astype(a.dtype, copy=False)
        self.pos = positions(size, stride, offset, xp=xp)
        self.out_strides = tuple(s // a.itemsize for s in out.strides)
        return out

    def backward(self, g):
        xp = self.xp
        flat = xp.ascontiguousarray(g).reshape(-1)  # torch: grad.contiguous(), the window on its storage
        ga = gs = None
        if self.needs_input_grad[0]:
            ga = flat.copy()
            ga[self.pos.reshape(-1)] = 0
            ga = ga.reshape(g.shape)
        if self.needs_input_grad[1]:
            gs = flat[self.pos]
        return ga, gs


def _clone_order(a) -> list:
    """The dims of ``a`` outermost first in memory when ``a`` is non-overlapping and dense (torch's clone keeps
    that order), else the row-major order."""
    dims = sorted(range(a.ndim), key=lambda d: (-abs(a.strides[d]), d))
    expect = a.itemsize
    for d in reversed(dims):
        if a.shape[d] != 1 and a.strides[d] != expect:
            return list(range(a.ndim))
        expect *= a.shape[d]
    return dims


# ---- public functions ----------------------------------------------------------------------------


def as_strided(input: Tensor, size: Sequence[int], stride: Sequence[int],  # noqa: A002
               storage_offset: int | None = None) -> Tensor:
    """A view of ``input``'s storage with ``size``, ``stride`` and ``storage_offset`` in elements (the input's
    own offset when None), as torch.as_strided. Entries may repeat (stride 0, overlapping windows); the
    gradient of a storage element is the sum over the entries that read it.

    >>> import engine
    >>> x = engine.arange(4.0)
    >>> engine.as_strided(x, (3, 2), (1, 1)).tolist()
    [[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]
    >>> engine.as_strided(x[1:], (2,), (2,)).tolist()
    [1.0, 3.0]
    """
    _tensor(input, "as_strided")
    start, nbytes = storage_geometry(input._data)
    size, stride, offset = _check("as_strided", size, stride, storage_offset, start, input.dtype.itemsize, nbytes)
    return AsStrided.apply(input, size=size, stride=stride, offset=offset)


def as_strided_(input: Tensor, size: Sequence[int], stride: Sequence[int],  # noqa: A002
                storage_offset: int | None = None) -> Tensor:
    """``as_strided`` in place: ``input`` takes the new geometry on the same storage and is returned.

    >>> import engine
    >>> x = engine.arange(6.0)
    >>> x.as_strided_((2,), (3,), 1).tolist(), x.shape, x.storage_offset()
    ([1.0, 4.0], (2,), 1)
    """
    out = as_strided(input, size, stride, storage_offset)
    if input._records_inplace("as_strided_"):
        _take_graph(input, out)
    else:
        input._check_inplace("as_strided_")
    input._data = out._data
    return input


def as_strided_copy(input: Tensor, size: Sequence[int], stride: Sequence[int],  # noqa: A002
                    storage_offset: int | None = None) -> Tensor:
    """``as_strided`` into new contiguous memory, as torch.as_strided_copy.

    >>> import engine
    >>> engine.as_strided_copy(engine.arange(4.0), (2,), (2,)).tolist()
    [0.0, 2.0]
    """
    _tensor(input, "as_strided_copy")
    start, nbytes = storage_geometry(input._data)
    size, stride, offset = _check("as_strided_copy", size, stride, storage_offset, start, input.dtype.itemsize,
                                  nbytes)
    return AsStrided.apply(input, size=size, stride=stride, offset=offset, copy=True)


def as_strided_scatter(input: Tensor, src: Tensor, size: Sequence[int], stride: Sequence[int],  # noqa: A002
                       storage_offset: int | None = None) -> Tensor:
    """A copy of ``input`` whose window ``as_strided(size, stride, storage_offset)`` (on the copy's own
    storage: offset 0 when None) holds ``src``, as torch.as_strided_scatter.

    >>> import engine
    >>> engine.as_strided_scatter(engine.zeros(2, 2), engine.ones(2), (2,), (3,)).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    _tensor(input, "as_strided_scatter")
    if not isinstance(src, Tensor):
        raise TypeError(f"as_strided_scatter(): argument 'src' (position 2) must be Tensor, not "
                        f"{type(src).__name__}")
    if input.requires_grad and is_grad_enabled() and not input.is_contiguous():
        raise RuntimeError("as_strided_scatter is currently only supported for contiguous inputs")
    size, stride, offset = _check("as_strided_scatter", size, stride, storage_offset, 0, input.dtype.itemsize,
                                  input.numel() * input.dtype.itemsize)  # on the clone's storage: numel, offset 0
    if tuple(src.shape) != size:
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = {list(src.shape)}, "
                           f"slice size = {list(size)}")
    if src.device != input.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{input.device} and {src.device}!")
    if src.dtype != input.dtype:  # copy_ casts; src's gradient comes back in its own dtype
        src = src.to(input.dtype)
    return AsStridedScatter.apply(input, src, size=size, stride=stride, offset=offset)


def _tensor(t, op: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}")


def storage_offset(self: Tensor) -> int:
    """Where the tensor's first entry sits in its storage, in elements (torch's Tensor.storage_offset).

    >>> import engine
    >>> engine.arange(6.0)[2:][1:].storage_offset()
    3
    """
    return storage_geometry(self._data)[0]


def install(engine_module: types.ModuleType) -> list[str]:
    """Put the functions on ``engine_module`` and the methods on Tensor; returns the names added."""
    Tensor.as_strided = as_strided
    Tensor.as_strided_ = as_strided_
    Tensor.as_strided_scatter = as_strided_scatter
    Tensor.storage_offset = storage_offset
    names = ["as_strided", "as_strided_", "as_strided_copy", "as_strided_scatter"]
    for name in names:
        setattr(engine_module, name, globals()[name])
    return names
