"""Sparse COO gradients, as torch's ``sparse=True`` embeddings produce them.

``F.embedding(ids, w, sparse=True)`` (and ``nn.Embedding(..., sparse=True)``, ``embedding_bag``)
leaves in ``w.grad`` a :class:`SparseTensor` instead of a dense (V, D) array: the looked-up rows
only, uncoalesced (one entry per lookup, in input order, as torch's). It is a small value type,
not a general sparse library: ``coalesce``, ``to_dense``, ``_indices``/``_values``, ``indices``/
``values`` (coalesced only), ``_nnz``, adding (backward accumulation concatenates), negation and
scaling (what SGD, Adagrad and SparseAdam need). ``sparse_coo_tensor`` builds one.

The backward sweep (engine/tensor.py) hands a SparseTensor through to the leaf unchanged; a dense
gradient meeting it makes the sum dense, as torch's. Only a leaf weight gets a sparse gradient here
(torch keeps it sparse through a few ops before a non-leaf weight; ours densifies there).

>>> import engine, engine.functional as F
>>> w = engine.ones(4, 2, requires_grad=True)
>>> F.embedding(engine.tensor([3, 1, 3]), w, sparse=True).sum().backward()
>>> w.grad._indices().tolist(), w.grad.coalesce().values().tolist()
([[3, 1, 3]], [[1.0, 1.0], [2.0, 2.0]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import array_module, device_of, to_device
from engine.formats import sparse_coo
from engine.function import Function
from engine.ops.fused import check_ids
from engine.tensor import Tensor

seen = False  # set once a sparse gradient was made: the optimizers' sparse checks run only then


class SparseTensor:
    """A sparse COO tensor: ``indices`` (sparse_dim, nnz) int64 and ``values`` (nnz, *dense_shape)
    arrays for a tensor of ``shape``; duplicate indices add up. Not differentiable.

    >>> s = SparseTensor(np.array([[0, 2, 0]]), np.array([1.0, 2.0, 3.0]), (3,))
    >>> s.to_dense().tolist(), s.is_coalesced(), s.coalesce().values().tolist()
    ([4.0, 0.0, 2.0], False, [4.0, 2.0])
    """

    __array_ufunc__ = None  # array + SparseTensor: NumPy defers to __radd__
    is_sparse = True
    layout = sparse_coo
    requires_grad = False
    grad_fn = None
    is_leaf = True

    def __init__(self, indices, values, shape: tuple[int, ...], coalesced: bool = False):
        global seen
        seen = True
        self._idx, self._vals = indices, values
        self.shape = tuple(int(n) for n in shape)
        self._coalesced = coalesced or indices.shape[1] < 2  # nothing to coalesce: torch says coalesced too

    # ---- what torch's sparse tensors answer ----
    @property
    def dtype(self):
        return self._vals.dtype

    @property
    def device(self) -> str:
        return device_of(self._vals)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def sparse_dim(self) -> int:
        return self._idx.shape[0]

    def dense_dim(self) -> int:
        return len(self.shape) - self._idx.shape[0]

    def _nnz(self) -> int:
        return self._idx.shape[1]

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        """The (sparse_dim, nnz) indices as stored (uncoalesced: repeats, in insertion order)."""
        return Tensor(self._idx)

    def _values(self) -> Tensor:
        """The (nnz, *dense_shape) values as stored."""
        return Tensor(self._vals)

    def indices(self) -> Tensor:
        """The indices of a coalesced tensor (torch raises on an uncoalesced one)."""
        if not self._coalesced:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
        return Tensor(self._idx)

    def values(self) -> Tensor:
        """The values of a coalesced tensor (torch raises on an uncoalesced one)."""
        if not self._coalesced:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call .coalesce() first")
        return Tensor(self._vals)

    def coalesce(self) -> SparseTensor:
        """Sorted unique indices, the values of repeats summed (in insertion order)."""
        if self._coalesced:
            return self
        xp = array_module(self._vals)
        flat = self._flat_index()
        order = xp.argsort(flat, kind="stable")
        flat, vals = flat[order], self._vals[order]
        first = xp.ones(flat.shape, dtype=bool)  # the first entry of each index: torch copies it, adds the rest
        first[1:] = flat[1:] != flat[:-1]
        summed = vals[first].copy()
        rest = ~first
        if rest.any():
            _add_at(xp, summed, (xp.cumsum(first) - 1)[rest], vals[rest])
        idx = self._idx[:, order][:, first]
        return SparseTensor(idx, summed, self.shape, coalesced=True)

    def to_dense(self) -> Tensor:
        """The dense tensor (repeated indices summed)."""
        xp = array_module(self._vals)
        out = xp.zeros(self.shape, dtype=self.dtype)
        if self._idx.shape[1]:
            _add_at(xp, out, tuple(self._idx), self._vals)
        return Tensor(out)

    def numpy(self):
        """torch's refusal: a sparse tensor has no NumPy form; ``to_dense().numpy()`` has."""
        raise TypeError("can't convert Sparse layout tensor to numpy. Use Tensor.to_dense() first.")

    def _flat_index(self):
        """Each entry's row-major position in the sparse dims (one int per entry)."""
        if self._idx.shape[0] == 1:
            return self._idx[0]
        xp = array_module(self._idx)
        return xp.ravel_multi_index(tuple(self._idx), self.shape[:self._idx.shape[0]])

    # ---- the arithmetic the optimizers and the backward sweep use ----
    def __add__(self, other: Any):
        """sparse + sparse: the entries side by side (uncoalesced; coalesced once nnz exceeds numel,
        as torch's CPU add bounds its growth). sparse + dense array: the dense array."""
        if isinstance(other, SparseTensor):
            if other.shape != self.shape:
                raise RuntimeError(f"add: expected sizes to match, got {list(self.shape)} and {list(other.shape)}")
            xp = array_module(self._vals)
            out = SparseTensor(xp.concatenate([self._idx, other._idx], axis=1),
                               xp.concatenate([self._vals, other._vals.astype(self.dtype, copy=False)]), self.shape)
            return out.coalesce() if out._nnz() > out.numel() else out
        if isinstance(other, Tensor):
            return Tensor(self._add_into(other._data.copy()))
        return self._add_into(array_module(other).array(other, copy=True))

    __radd__ = __add__

    def _add_into(self, dense, alpha: float = 1.0):
        """``dense`` += alpha * self in place, entry by entry in order, each as torch's CPU kernel adds
        it: ``fma(alpha, value, dense[index])`` (one rounding; alpha 1: a plain add). Returns ``dense``."""
        if not self._idx.shape[1]:
            return dense
        xp = array_module(dense)
        if alpha == 1.0:
            _add_at(xp, dense, tuple(self._idx), self._vals)
            return dense
        flat = self._flat_index()  # round r updates each index's r-th entry: unique rows, then in order
        order = xp.argsort(flat, kind="stable")
        first = xp.ones(flat.shape, dtype=bool)
        first[1:] = flat[order][1:] != flat[order][:-1]
        starts = xp.flatnonzero(first)
        rank = xp.empty_like(flat)
        rank[order] = xp.arange(flat.size) - starts[xp.cumsum(first) - 1]
        for r in range(int(rank.max()) + 1):
            at = tuple(self._idx[:, rank == r])
            dense[at] = fma(dense.dtype.type(alpha), self._vals[rank == r], dense[at])
        return dense

    def __neg__(self) -> SparseTensor:
        return SparseTensor(self._idx, -self._vals, self.shape, self._coalesced)

    def __mul__(self, scalar: float) -> SparseTensor:
        if not isinstance(scalar, (int, float, np.number)):
            raise TypeError(f"SparseTensor * {type(scalar).__name__}: only a scalar factor is supported")
        return SparseTensor(self._idx, self._vals * self.dtype.type(scalar), self.shape, self._coalesced)

    __rmul__ = __mul__

    def mul_(self, scalar: float) -> SparseTensor:
        """Scale the values in place."""
        self._vals = self._vals * self.dtype.type(scalar)
        return self

    def zero_(self) -> SparseTensor:
        """No entries left (torch's zero_ on a sparse tensor: nnz 0), as zero_grad(set_to_none=False)."""
        self._idx, self._vals = self._idx[:, :0], self._vals[:0]
        self._coalesced = True
        return self

    def clone(self) -> SparseTensor:
        return SparseTensor(self._idx.copy(), self._vals.copy(), self.shape, self._coalesced)

    def detach(self) -> SparseTensor:
        return self

    def to(self, device: str) -> SparseTensor:
        return SparseTensor(to_device(self._idx, device), to_device(self._vals, device), self.shape, self._coalesced)

    def __repr__(self) -> str:
        return (f"tensor(indices={self._idx.tolist()},\n       values={self._vals.tolist()},\n"
                f"       size={self.shape}, nnz={self._nnz()}, dtype={self.dtype}, layout=torch.sparse_coo)")


def fma(a, b, c):
    """a * b + c with one rounding, elementwise (torch's CPU kernels add ``alpha * other`` as a fused
    multiply-add): Dekker's exact product and Knuth's exact sum, then Boldo and Melquiond's
    round-to-odd step, which makes the last rounding the only one. Where anything is not finite:
    a * b + c.

    >>> float(fma(np.float64(0.1), np.float64(10.0), np.float64(-1.0)))  # 0.1 * 10 is 1 + 2**-54 exactly
    5.551115123125783e-17
    """
    xp = array_module(c)
    dt = c.dtype
    a, b = xp.asarray(a, dtype=dt), xp.asarray(b, dtype=dt)
    split = dt.type(2 ** ((np.finfo(dt).nmant + 2) // 2) + 1)  # float64: 2**27 + 1

    def halves(x):  # x = hi + lo, each with half the mantissa
        t = split * x
        hi = t - (t - x)
        return hi, x - hi

    ph = a * b
    ah, al = halves(a)
    bh, bl = halves(b)
    pl = ((ah * bh - ph) + ah * bl + al * bh) + al * bl  # a * b = ph + pl exactly
    th = c + ph
    z = th - c
    tl = (c - (th - z)) + (ph - z)  # c + ph = th + tl exactly
    v = tl + pl
    z = v - tl
    err = (tl - (v - z)) + (pl - z)  # tl + pl = v + err exactly
    bits = v.view(np.int64 if dt.itemsize == 8 else np.int32)
    to_odd = (err != 0) & ((bits & 1) == 0)  # round to odd: the neighbour toward the exact sum
    v = xp.where(to_odd, xp.nextafter(v, xp.where(err > 0, dt.type(np.inf), dt.type(-np.inf))), v)
    return xp.where(xp.isfinite(th) & xp.isfinite(ph), th + v, ph + c)


def _add_at(xp, out, index, vals) -> None:
    """out[index] += vals with repeats adding up, in order (NumPy's add.at; CuPy's scatter_add)."""
    if xp is np:
        np.add.at(out, index, vals)
    else:  # pragma: no cover - GPU
        import cupyx

        cupyx.scatter_add(out, index, vals)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device: str | None = None,
                      requires_grad: bool = False, check_invariants: bool | None = None,
                      is_coalesced: bool | None = None) -> SparseTensor:
    """torch.sparse_coo_tensor: a sparse tensor with ``values`` (nnz, *dense) at ``indices``
    (sparse_dim, nnz); ``size`` defaults to the largest index + 1 in each sparse dim.

    >>> sparse_coo_tensor([[0, 2, 0]], [1.0, 2.0, 3.0], (3,)).to_dense().tolist()
    [4.0, 0.0, 2.0]
    """
    if requires_grad:
        raise NotImplementedError("sparse_coo_tensor: requires_grad=True is not supported (sparse tensors here "
                                  "are gradients, not graph inputs)")
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    vals = values._data if isinstance(values, Tensor) else np.asarray(values)
    if vals.dtype.kind == "f" and not isinstance(values, Tensor) and dtype is None:
        from engine.factories import default_dtype

        vals = vals.astype(default_dtype())
    if dtype is not None:
        vals = vals.astype(np.dtype(str(dtype).replace("engine.", "").replace("torch.", "")))
    if device is not None:
        idx, vals = to_device(idx, device), to_device(vals, device)
    xp = array_module(vals)
    idx = xp.asarray(idx).astype(np.int64)
    if idx.ndim != 2:
        raise RuntimeError(f"indices must be sparse_dim x nnz, but got: {list(idx.shape)}")
    if vals.ndim == 0:
        raise RuntimeError("values must be at least 1-dimensional (nnz, *dense_shape)")
    if idx.shape[1] != vals.shape[0]:
        raise RuntimeError(f"indices and values must have same nnz, but got nnz from indices: {idx.shape[1]}, "
                           f"nnz from values: {vals.shape[0]}")
    if size is None:
        size = tuple(int(m) + 1 for m in (idx.max(axis=1) if idx.shape[1] else [-1] * idx.shape[0]))
        size = size + tuple(vals.shape[1:])
    size = tuple(size)
    if len(size) != idx.shape[0] + vals.ndim - 1:
        raise RuntimeError(f"number of dimensions must be sparse_dim ({idx.shape[0]}) + dense_dim "
                           f"({vals.ndim - 1}), but got {len(size)}")
    if check_invariants and idx.shape[1]:
        bad = (idx < 0) | (idx >= xp.asarray(size[:idx.shape[0]])[:, None])
        if bad.any():
            raise RuntimeError(f"sparse_coo_tensor: an index is out of bounds for size {list(size)}")
    return SparseTensor(idx, vals, size, coalesced=bool(is_coalesced))


class SparseEmbedding(Function):
    """Rows of ``weight`` (V, D) picked by ``ids``; backward gives a SparseTensor (one entry per
    lookup, in input order; the ``padding_idx`` lookups left out), as torch's embedding_sparse_backward.
    A non-leaf weight gets the same gradient made dense (see the module docstring)."""

    def forward(self, weight, ids=None, padding_idx=None, scale_grad_by_freq=False):
        check_ids(ids, weight.shape[0], "token id")
        self.ids, self.w_shape = ids, weight.shape
        self.padding_idx, self.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return weight[ids]

    def backward(self, g):
        if self.scale_grad_by_freq:  # torch's words: its sparse backward has no frequency scaling
            raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with sparse gradients")
        ids = self.ids.reshape(-1).astype(np.int64)
        vals = g.reshape(-1, self.w_shape[1])
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, vals = ids[keep], vals[keep]
        grad = SparseTensor(ids[None, :], vals.copy(), self.w_shape)
        if self.parents[0]._ctx is not None:  # a computed weight: the dense gradient
            return grad._add_into(self.xp.zeros(self.w_shape, dtype=g.dtype))
        return grad
