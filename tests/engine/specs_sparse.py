"""Specs for the sparse COO ops of engine/sparse.py (SparseMM, SparseFromValues, ToSparse, SparseToDense,
SparseTranspose, SparseSum): each drawn as a random COO matrix (repeated indices allowed) whose values
are the differentiable input, reached through the public API (``sparse_coo_tensor``, ``sparse.mm``, ``t``,
``sparse.sum``, ``to_sparse``, ``to_dense``), against dense NumPy. Sparse gradients' layouts are checked
against torch in test_parity_sparse_ops_s18.py."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from op_specs import SEEDS, Case, Spec, fill

import engine

SPECS: dict[str, Spec] = {}
DERIVED: dict[str, Spec] = {}


@st.composite
def coo_case(draw, dense_rows="cols", sum_dims=False):
    """Values (nnz,) at random indices of an (n, m) matrix, and a dense (m, p) (or (n, p) for the
    transpose) operand."""
    n, m, p = (draw(st.integers(1, 5)) for _ in range(3))
    nnz = draw(st.integers(0, 7))
    rng = np.random.default_rng(draw(SEEDS))
    idx = np.stack([rng.integers(0, n, nnz), rng.integers(0, m, nnz)]).astype(np.int64)
    arrays = (fill(rng, (nnz,)),)
    params = {"idx": idx, "shape": (n, m)}
    if dense_rows:
        arrays += (fill(rng, (m if dense_rows == "cols" else n, p)),)
    if sum_dims:
        params["dim"] = draw(st.sampled_from([None, 0, 1, -1, (0, 1)]))
    return Case(arrays, params)


def _dense_ref(v, idx, shape):
    out = np.zeros(shape, dtype=v.dtype)
    np.add.at(out, tuple(idx), v)
    return out


def _coo(v, idx, shape):
    return engine.sparse_coo_tensor(idx, v, shape)


def _torch_coo(T, v, idx, shape):
    return T.sparse_coo_tensor(T.as_tensor(idx), v, shape, check_invariants=True)


def _sum_ref(v, idx, shape, dim):
    return _dense_ref(v, idx, shape).sum(axis=dim)


def _as_dense(s):
    return s.to_dense() if s.is_sparse else s


@st.composite
def to_sparse_case(draw, with_dense=True):
    n, m, p = (draw(st.integers(1, 5)) for _ in range(3))
    rng = np.random.default_rng(draw(SEEDS))
    x = fill(rng, (n, m), "nonzero")
    if with_dense:  # zeros too: mm's gradient of to_sparse's input is dense, the same at a zero
        x = x * (rng.random((n, m)) < 0.6)
    return Case((x, fill(rng, (m, p))) if with_dense else (x,), {})


SPECS.update({
    "SparseMM": Spec(
        coo_case(), lambda v, d, idx, shape: engine.sparse.mm(_coo(v, idx, shape), d),
        lambda v, d, idx, shape: _dense_ref(v, idx, shape) @ d,
        torch=lambda T, v, d, idx, shape: T.sparse.mm(_torch_coo(T, v, idx, shape), d), half=False),
    "SparseFromValues": Spec(
        coo_case(dense_rows=None), lambda v, idx, shape: _coo(v, idx, shape).to_dense(), _dense_ref,
        torch=lambda T, v, idx, shape: _torch_coo(T, v, idx, shape).to_dense(), half=False),
    "SparseTranspose": Spec(
        coo_case(dense_rows="rows"), lambda v, d, idx, shape: engine.sparse.mm(_coo(v, idx, shape).t(), d),
        lambda v, d, idx, shape: _dense_ref(v, idx, shape).T @ d,
        torch=lambda T, v, d, idx, shape: T.sparse.mm(_torch_coo(T, v, idx, shape).t(), d), half=False),
    "SparseSum": Spec(
        coo_case(dense_rows=None, sum_dims=True),
        lambda v, idx, shape, dim: _as_dense(engine.sparse.sum(_coo(v, idx, shape), dim)), _sum_ref,
        torch=lambda T, v, idx, shape, dim: _as_dense(
            T.sparse.sum(_torch_coo(T, v, idx, shape)) if dim is None else T.sparse.sum(_torch_coo(T, v, idx, shape),
                                                                                         dim)), half=False),
    "ToSparse": Spec(
        to_sparse_case(), lambda x, d: engine.mm(x.to_sparse(), d), lambda x, d: x @ d,
        torch=lambda T, x, d: T.mm(x.to_sparse(), d), half=False),
    "SparseToDense": Spec(
        to_sparse_case(with_dense=False), lambda x: x.to_sparse().to_dense(), lambda x: x,
        torch=lambda T, x: x.to_sparse().to_dense(), half=False),
})
