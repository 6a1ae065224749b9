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

Sparse tensors are graph inputs too, for a graph network's adjacency matrix (the second half of the
file): ``x.to_sparse()``, ``sparse_coo_tensor(..., requires_grad=True)`` or from values that require
grad, ``t``/``transpose``, ``to_dense``, and the products ``sparse.mm`` / ``sparse.addmm`` (the sparse
operand's gradient sparse, on its coalesced entries) and ``mm`` / ``matmul`` / ``@`` (its gradient dense,
``g @ denseᵀ``), dense @ sparse as (sparseᵀ @ denseᵀ)ᵀ, and ``sparse.sum``, all as torch 2.13's. A sparse
tensor in the graph is one node standing for the whole tensor (zeros of its shape, a broadcast view);
the gradient reaching it is a dense array or a SparseTensor, as torch's op gives it. Not covered:
sparse @ sparse, hybrid (dense-dim) operands of the products, ``_values()`` in the graph, create_graph.

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
from engine.dtypes import scalar_type_name, to_dtype
from engine.formats import sparse_coo
from engine.function import Function, is_grad_enabled
from engine.ops.fused import check_ids
from engine.ops.movement import wrap_dim
from engine.tensor import Tensor

seen = False  # set once a sparse gradient was made: the optimizers' sparse checks run only then


class SparseTensor:
    """A sparse COO tensor: ``indices`` (sparse_dim, nnz) int64 and ``values`` (nnz, *dense_shape)
    arrays for a tensor of ``shape``; duplicate indices add up. It takes part in autograd through its
    graph node (``requires_grad``, ``grad``; see ``_graph``); its own arithmetic (+, *) does not.

    >>> s = SparseTensor(np.array([[0, 2, 0]]), np.array([1.0, 2.0, 3.0]), (3,))
    >>> s.to_dense().tolist(), s.is_coalesced(), s.coalesce().values().tolist()
    ([4.0, 0.0, 2.0], False, [4.0, 2.0])
    """

    __array_ufunc__ = None  # array + SparseTensor: NumPy defers to __radd__
    is_sparse = True
    layout = sparse_coo

    def __init__(self, indices, values, shape: tuple[int, ...], coalesced: bool = False, node: Tensor | None = None):
        global seen
        seen = True
        self._idx, self._vals = indices, values
        self.shape = tuple(int(n) for n in shape)
        self._coalesced = coalesced or indices.shape[1] < 2  # nothing to coalesce: torch says coalesced too
        self._node = node  # its place in the autograd graph (see _graph), None when it wants no gradient

    # ---- autograd: a graph node stands for the whole tensor ----
    # The node is a Tensor whose array is zeros of the sparse tensor's shape (a broadcast view, no memory);
    # the gradient reaching it is a dense array of that shape or a SparseTensor (torch gives either, by op).
    @property
    def requires_grad(self) -> bool:
        return self._node is not None and self._node.requires_grad

    @property
    def grad_fn(self):
        return None if self._node is None else self._node.grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._node is None or self._node._ctx is None

    @property
    def grad(self):
        """A leaf's accumulated gradient: sparse (torch.sparse.mm, sparse.sum) or dense (mm, @, matmul)."""
        return None if self._node is None else self._node._grad

    @grad.setter
    def grad(self, value) -> None:
        if self._node is None:
            if value is None:
                return
            self.requires_grad_()
        self._node._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> SparseTensor:
        """Make this leaf want a gradient (torch's requires_grad_)."""
        if not self.is_leaf:
            if not requires_grad:
                raise RuntimeError("you can only change requires_grad flags of leaf variables.")
            return self
        self._node = _placeholder_node(self, requires_grad) if requires_grad else None
        return self

    def _graph(self) -> Tensor:
        """The Tensor an op records as this operand: the node, or zeros that want no gradient."""
        return self._node if self._node is not None else _placeholder_node(self, False)

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
        """Sorted unique indices, the values of repeats summed (in insertion order). The same tensor,
        so it shares this one's graph node."""
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
        return SparseTensor(idx, summed, self.shape, coalesced=True, node=self._node)

    def to_dense(self) -> Tensor:
        """The dense tensor (repeated indices summed); its gradient reaches this one masked to its
        entries, as torch's ToDenseBackward."""
        if self.requires_grad and is_grad_enabled():
            c = self.coalesce()
            return SparseToDense.apply(self._node, idx=c._idx, vals=c._vals)
        return Tensor(self._dense())

    def _dense(self):
        xp = array_module(self._vals)
        out = xp.zeros(self.shape, dtype=self.dtype)
        if self._idx.shape[1]:
            _add_at(xp, out, tuple(self._idx), self._vals)
        return out

    # ---- torch's 2-D sparse ops (see also mm, addmm and sum below) ----
    def t(self) -> SparseTensor:
        """The transpose of a matrix (sparse_dim <= 2, no dense dims), as torch's ``t()``: the index
        rows swapped, uncoalesced.

        >>> sparse_coo_tensor([[0, 1], [2, 0]], [1.0, 2.0], (2, 3)).t().to_dense().tolist()
        [[0.0, 2.0], [0.0, 0.0], [1.0, 0.0]]
        """
        if self.sparse_dim() > 2 or self.dense_dim():
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, but got "
                               f"{self.sparse_dim()} sparse and {self.dense_dim()} dense dimensions")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def transpose(self, dim0: int, dim1: int) -> SparseTensor:
        """Swap two sparse dimensions (their index rows), as torch's; uncoalesced.

        >>> sparse_coo_tensor([[0], [2]], [1.0], (2, 3)).transpose(0, 1).shape
        (3, 2)
        """
        d0, d1 = (wrap_dim(d, self.ndim, "transpose") for d in (dim0, dim1))
        if max(d0, d1) >= self.sparse_dim():
            raise NotImplementedError(f"transpose: only sparse dimensions can be swapped here, got dims {dim0}, "
                                      f"{dim1} of a tensor with {self.sparse_dim()} sparse dimensions")
        rows = list(range(self.sparse_dim()))
        rows[d0], rows[d1] = d1, d0
        shape = list(self.shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        node = None
        if self.requires_grad and is_grad_enabled():
            node = SparseTranspose.apply(self._node, dims=(d0, d1))
        return SparseTensor(self._idx[rows], self._vals, tuple(shape), coalesced=d0 == d1 and self._coalesced,
                            node=node)

    def mm(self, mat2: Tensor) -> Tensor:
        """``torch.mm(self, mat2)``: dense result; the gradient of ``self`` is dense, as torch's."""
        return _spmm(self, mat2, sparse_grad=False, op="mm")

    def matmul(self, other: Tensor) -> Tensor:
        """``self @ other`` (a matrix or a vector): dense result, as torch's."""
        return _spmm(self, other, sparse_grad=False, op="matmul")

    __matmul__ = matmul

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return _dense_sparse(other, self, sparse_grad=False)

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
        return self if self._node is None else SparseTensor(self._idx, self._vals, self.shape, self._coalesced)

    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False) -> SparseTensor:
        """As Tensor.to: ``to(device)``, ``to(dtype)``, ``to(other)`` or by keyword; the values are cast, the
        indices stay int64 and move with them.

        >>> sparse_coo_tensor([[0]], [1.0], (2,)).to("float64").dtype
        dtype('float64')
        """
        probe = Tensor(self._vals[:0]).to(*args, dtype=dtype, device=device)  # torch's argument forms, on no data
        vals = to_device(self._vals, probe.device).astype(probe.dtype, copy=copy)
        if vals is self._vals:
            return self
        return SparseTensor(to_device(self._idx, probe.device), vals, self.shape, self._coalesced)

    def double(self) -> SparseTensor:
        return self.to(np.float64)

    def float(self) -> SparseTensor:
        return self.to(np.float32)

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
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    vals = values._data if isinstance(values, Tensor) else np.asarray(values)
    if vals.dtype.kind == "f" and not isinstance(values, (Tensor, np.ndarray)) and dtype is None:  # a list
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
    out = SparseTensor(idx, vals, size, coalesced=bool(is_coalesced))
    if isinstance(values, Tensor) and values.requires_grad and is_grad_enabled():
        if values.dtype != out.dtype:
            values = values.to(out.dtype)  # through the graph
        out._node = SparseFromValues.apply(values, idx=idx, shape=out.shape)
    elif requires_grad:
        out.requires_grad_()
    return out


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


# ---- sparse tensors in the graph (torch.sparse.mm, mm/matmul/@, sparse.sum, to_sparse, t) ----

def _placeholder_node(s: SparseTensor, requires_grad: bool) -> Tensor:
    """A graph node for ``s``: zeros of its shape and dtype, a broadcast view (no memory)."""
    return Tensor(_placeholder(array_module(s._vals), s.shape, s.dtype), requires_grad=requires_grad)


def _placeholder(xp, shape, dtype):
    return xp.broadcast_to(xp.zeros((), dtype=dtype), tuple(shape))


def _lookup(g, idx, shape):
    """The gradient ``g`` of a tensor of ``shape`` (a dense array or a SparseTensor) at each entry of
    ``idx`` (sparse_dim, nnz): (nnz, *dense_shape); an entry ``g`` lacks gets zero."""
    if type(g) is not SparseTensor:
        return g[tuple(idx)]
    xp = array_module(g._vals)
    c = g.coalesce()
    out = xp.zeros((idx.shape[1],) + tuple(c._vals.shape[1:]), dtype=c.dtype)
    if not c._nnz() or not idx.shape[1]:
        return out
    have = c._flat_index()
    want = idx[0] if idx.shape[0] == 1 else xp.ravel_multi_index(tuple(idx), tuple(shape[:idx.shape[0]]))
    pos = xp.minimum(xp.searchsorted(have, want), have.size - 1)
    hit = have[pos] == want
    out[hit] = c._vals[pos[hit]]
    return out


def _dense_grad(g):
    return g._dense() if type(g) is SparseTensor else g


class SparseFromValues(Function):
    """``sparse_coo_tensor(indices, values)`` with ``values`` in the graph: each value's gradient is
    the tensor's gradient at its index (repeats each get it), as torch's sparse_constructor_values_backward."""

    def forward(self, values, idx=None, shape=None):
        self.idx, self.shape = idx, shape
        return _placeholder(self.xp, shape, values.dtype)

    def backward(self, g):
        return _lookup(g, self.idx, self.shape)


class ToSparse(Function):
    """``x.to_sparse()``: the gradient reaching the sparse tensor, made dense (torch's ToSparseBackward:
    a sparse one is zero off its entries, a dense one, from mm, is not)."""

    def forward(self, x):
        return _placeholder(self.xp, x.shape, x.dtype)

    def backward(self, g):
        return _dense_grad(g)


class SparseToDense(Function):
    """``s.to_dense()`` of a sparse tensor in the graph: the gradient masked to its (coalesced) entries."""

    def forward(self, node, idx=None, vals=None):
        self.idx, self.shape = idx, node.shape
        out = self.xp.zeros(node.shape, dtype=vals.dtype)
        if idx.shape[1]:
            _add_at(self.xp, out, tuple(idx), vals)
        return out

    def backward(self, g):
        return SparseTensor(self.idx, g[tuple(self.idx)], self.shape, coalesced=True)


class SparseTranspose(Function):
    """``s.t()`` / ``s.transpose(d0, d1)`` over sparse dims: the gradient transposed back."""

    def forward(self, node, dims=(0, 1)):
        self.dims = dims
        return self.xp.swapaxes(node, *dims)

    def backward(self, g):
        d0, d1 = self.dims
        if type(g) is not SparseTensor:
            return self.xp.swapaxes(g, d0, d1)
        rows = list(range(g.sparse_dim()))
        rows[d0], rows[d1] = d1, d0
        shape = list(g.shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        return SparseTensor(g._idx[rows], g._vals, tuple(shape))


class SparseMM(Function):
    """sparse (n, m) @ dense (m, p) -> dense (n, p), from the coalesced ``idx`` (2, nnz) and ``vals``:
    ``out[r] += v * dense[c]`` per entry. The dense operand's gradient is ``sparseᵀ @ g``; the sparse
    one's is ``g @ denseᵀ``: at its entries only, sparse (``torch.sparse.mm``, ``sparse_grad``), or all
    of it, dense (``torch.mm``, ``@``, ``matmul``), as torch's."""

    def forward(self, node, dense, idx=None, vals=None, sparse_grad=True):
        xp = self.xp
        self.idx, self.vals, self.dense, self.sparse_grad = idx, vals, dense, sparse_grad
        self.saved = (dense,)
        out = xp.zeros((node.shape[0], dense.shape[1]), dtype=dense.dtype)
        if idx.shape[1]:
            _add_at(xp, out, idx[0], vals[:, None] * dense[idx[1]])
        return out

    def backward(self, g):
        xp, (rows, cols), need = self.xp, self.idx, self.needs_input_grad
        g_sparse = g_dense = None
        if need[0]:
            shape = (g.shape[0], self.dense.shape[0])
            if self.sparse_grad:
                g_sparse = SparseTensor(self.idx, (g[rows] * self.dense[cols]).sum(axis=1), shape, coalesced=True)
            else:
                g_sparse = g @ self.dense.T
        if need[1]:
            g_dense = xp.zeros(self.dense.shape, dtype=g.dtype)
            if rows.size:
                _add_at(xp, g_dense, cols, self.vals[:, None] * g[rows])
        return g_sparse, g_dense


class SparseSum(Function):
    """``torch.sparse.sum`` over sparse dims: dense when every sparse dim is summed, else sparse over
    the rest. The gradient: each (coalesced) entry gets the output's gradient at its kept index."""

    def forward(self, node, idx=None, vals=None, inverse=None, out_idx=None, out_shape=None, expand=False):
        self.idx, self.shape, self.inverse, self.expand = idx, node.shape, inverse, expand
        self.out_idx, self.out_shape = out_idx, out_shape
        if out_idx is None:  # dense
            return vals.sum(axis=0)
        return _placeholder(self.xp, out_shape, vals.dtype)

    def backward(self, g):
        if self.out_idx is None:  # dim=None: g expanded, as torch's SumBackward (a leaf's .grad keeps the flag)
            vals = self.xp.broadcast_to(g, (self.idx.shape[1],) + g.shape)
            vals = vals if self.expand else vals.copy()
        else:
            vals = _lookup(g, self.out_idx, self.out_shape)[self.inverse]
        return SparseTensor(self.idx, vals, self.shape, coalesced=True)


def _check_mm(s: SparseTensor, dense, op: str):
    if not isinstance(dense, Tensor):
        raise TypeError(f"{op}(): argument 'mat2' must be a Tensor, not {type(dense).__name__}")
    if s.ndim != 2:
        raise RuntimeError(f"addmm: matrices expected, got {s.ndim}D tensor")
    if s.dense_dim():
        raise NotImplementedError(f"{op}: a sparse operand with dense dimensions (hybrid, shape {list(s.shape)}, "
                                  f"sparse_dim {s.sparse_dim()}) is not supported")
    if dense.ndim != 2:
        if dense.ndim < 2:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-max(dense.ndim, 1)}, "
                             f"{max(dense.ndim, 1) - 1}], but got 1)")
        raise RuntimeError(f"addmm: matrices expected, got {dense.ndim}D tensor")
    if dense.shape[0] != s.shape[1]:
        raise RuntimeError(f"addmm: Argument #3 (dense): Expected dim 0 size {s.shape[1]}, got {dense.shape[0]}"
                           f" ({op} of sparse {list(s.shape)} and dense {list(dense.shape)})")
    if dense.dtype != s.dtype:
        raise RuntimeError(f"expected scalar type {scalar_type_name(s.dtype)} but found "
                           f"{scalar_type_name(dense.dtype)} ({op} of sparse {s.dtype} and dense {dense.dtype})")


def _spmm(s: SparseTensor, dense, sparse_grad: bool, op: str) -> Tensor:
    """sparse @ dense (a matrix; for matmul also a vector), dense result."""
    if isinstance(dense, SparseTensor):
        raise NotImplementedError(f"{op}: sparse @ sparse (shapes {list(s.shape)} and {list(dense.shape)}) is not "
                                  "supported; make one operand dense with to_dense()")
    if op == "matmul" and isinstance(dense, Tensor) and s.ndim == 2 and dense.ndim == 1:
        if dense.shape[0] != s.shape[1]:
            raise RuntimeError(f"mv: expected self.size(-1) == vec.size(-1) (matmul of sparse {list(s.shape)} "
                               f"and dense {list(dense.shape)})")
        return _spmm(s, dense.reshape(-1, 1), sparse_grad, "mm").reshape(-1)
    if op == "matmul" and isinstance(dense, Tensor) and dense.ndim > 2:
        raise RuntimeError(f"expand is unsupported for Sparse tensors (matmul of sparse {list(s.shape)} and "
                           f"dense {list(dense.shape)})")
    _check_mm(s, dense, op)
    c = s.coalesce()
    return SparseMM.apply(s._graph(), dense, idx=c._idx, vals=c._vals, sparse_grad=sparse_grad)


def _dense_sparse(dense, s: SparseTensor, sparse_grad: bool) -> Tensor:
    """dense @ sparse = (sparseᵀ @ denseᵀ)ᵀ (torch's sparse.mm gives the sparse gradient sorted by column
    as this does)."""
    if not isinstance(dense, Tensor) or dense.ndim not in (1, 2) or s.ndim != 2:
        raise RuntimeError(f"mm: matrices expected, got {getattr(dense, 'ndim', '?')}D and {s.ndim}D tensors")
    if dense.ndim == 1:  # vector @ matrix
        return _spmm(s.t(), dense, sparse_grad, "matmul")
    return _spmm(s.t(), dense.T, sparse_grad, "mm").T


def mm(mat1, mat2) -> Tensor:
    """torch.sparse.mm: sparse (n, m) @ dense (m, p) -> dense (n, p) (or dense @ sparse). A sparse
    operand that requires grad gets a sparse gradient with its (coalesced) entries, as torch's.

    >>> a = sparse_coo_tensor([[0, 1], [1, 0]], [2.0, 3.0], (2, 2))
    >>> mm(a, Tensor([[1.0], [10.0]])).tolist()
    [[20.0], [3.0]]
    """
    if isinstance(mat1, SparseTensor):
        if isinstance(mat2, Tensor) and mat2.ndim < 2:
            raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got 1)"
                             f" (sparse.mm of sparse {list(mat1.shape)} and dense {list(mat2.shape)})")
        return _spmm(mat1, mat2, sparse_grad=True, op="sparse.mm")
    if isinstance(mat2, SparseTensor):
        return _dense_sparse(mat1, mat2, sparse_grad=True)
    return mat1.mm(mat2)


def addmm(mat: Tensor, mat1: SparseTensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
    """torch.sparse.addmm: ``beta * mat + alpha * (mat1 @ mat2)``, ``mat1`` sparse (its gradient sparse).

    >>> a = sparse_coo_tensor([[0], [1]], [2.0], (2, 2))
    >>> addmm(Tensor([[1.0], [1.0]]), a, Tensor([[1.0], [10.0]]), alpha=0.5).tolist()
    [[11.0], [1.0]]
    """
    prod = mm(mat1, mat2)
    shape = tuple(prod.shape)
    if tuple(mat.shape) != shape:
        try:
            mat = mat.expand(*shape)
        except Exception:
            raise RuntimeError(f"The expanded size of the tensor ({shape[-1]}) must match the existing size "
                               f"({mat.shape[-1]}) at non-singleton dimension {len(mat.shape) - 1}.  Target sizes: "
                               f"{list(shape)}.  Tensor sizes: {list(mat.shape)} (sparse.addmm)") from None
    prod = prod if alpha == 1 else prod * alpha
    return prod + (mat if beta == 1 else mat * beta)


def sum(input: SparseTensor, dim=None, dtype=None):  # noqa: A001, A002 - torch's names
    """torch.sparse.sum: the sum of all entries (a dense 0-d tensor), or over ``dim`` (sparse dims):
    sparse over the remaining sparse dims, dense when none remains. Its gradient is sparse.

    >>> s = sparse_coo_tensor([[0, 1, 1], [2, 0, 2]], [1.0, 2.0, 3.0], (2, 3))
    >>> float(sum(s)), sum(s, 1).to_dense().tolist()
    (6.0, [1.0, 5.0])
    """
    if not isinstance(input, SparseTensor):
        return input.sum(dim) if dtype is None else input.sum(dim, dtype=dtype)
    s = input
    if dtype is not None:
        vals = s._vals.astype(to_dtype(dtype))
        s = SparseTensor(s._idx, vals, s.shape, s._coalesced, node=s._node)
    dims = range(s.ndim) if dim is None else (dim,) if isinstance(dim, int) else dim
    dims = sorted({wrap_dim(d, s.ndim, "sparse.sum") for d in dims})
    if any(d >= s.sparse_dim() for d in dims):
        raise NotImplementedError(f"sparse.sum: summing dense dimensions (dim={dim}) of a hybrid tensor of shape "
                                  f"{list(s.shape)} is not supported")
    c = s.coalesce()
    xp = array_module(c._vals)
    keep = [d for d in range(s.sparse_dim()) if d not in dims]
    params = {"idx": c._idx, "vals": c._vals, "expand": dim is None}
    if keep:
        kept = c._idx[keep]
        out_shape = tuple(s.shape[d] for d in keep) + s.shape[s.sparse_dim():]
        flat = kept[0] if len(keep) == 1 else xp.ravel_multi_index(tuple(kept), out_shape[:len(keep)])
        uniq, first, inverse = np.unique(flat, return_index=True, return_inverse=True) if xp is np else \
            xp.unique(flat, return_index=True, return_inverse=True)
        vals = xp.zeros((uniq.size,) + c._vals.shape[1:], dtype=c.dtype)
        _add_at(xp, vals, inverse.reshape(-1), c._vals)
        params.update(inverse=inverse.reshape(-1), out_idx=kept[:, first], out_shape=out_shape)
        out = SparseTensor(kept[:, first], vals, out_shape, coalesced=True)
        if s.requires_grad and is_grad_enabled():
            out._node = SparseSum.apply(s._node, **params)
        return out
    if s.requires_grad and is_grad_enabled():
        return SparseSum.apply(s._node, **params)
    return Tensor(c._vals.sum(axis=0))


def to_sparse(self: Tensor, sparse_dim: int | None = None, *, layout=None, blocksize=None,
              dense_dim: int | None = None) -> SparseTensor:
    """``Tensor.to_sparse()`` / ``to_sparse_coo()``: a coalesced COO tensor of the nonzero entries (with
    ``sparse_dim``: of the nonzero rows over the first ``sparse_dim`` dims). Its gradient reaches ``self``
    dense, as torch's.

    >>> Tensor([[0.0, 2.0], [3.0, 0.0]]).to_sparse()._indices().tolist()
    [[0, 1], [1, 0]]
    """
    if layout is not None and str(layout).rsplit(".", 1)[-1] != "sparse_coo":
        raise NotImplementedError(f"to_sparse: layout {layout} is not supported (only sparse_coo)")
    nd = self.ndim if sparse_dim is None else sparse_dim
    if not 0 <= nd <= self.ndim:
        raise RuntimeError(f"dense_to_sparse: sparse_dim argument must be in [0,{self.ndim}] range, but {nd} is given")
    xp = array_module(self._data)
    data = self._data
    lead = data.reshape(data.shape[:nd] + (-1,)) if nd < data.ndim else data[..., None]
    mask = (lead != 0).any(axis=-1)
    idx = xp.stack(xp.nonzero(mask)).astype(np.int64) if nd else xp.zeros((0, 1), dtype=np.int64)
    vals = data[tuple(idx)].copy() if nd else data[None].copy()
    out = SparseTensor(idx.reshape(nd, -1), vals, self.shape, coalesced=True)
    if self.requires_grad and is_grad_enabled():
        out._node = ToSparse.apply(self)
    return out


Tensor.to_sparse = to_sparse
Tensor.to_sparse_coo = lambda self: to_sparse(self)
Tensor.to_sparse_coo.__doc__ = to_sparse.__doc__
