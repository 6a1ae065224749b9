"""engine: a small reverse-mode autograd engine over NumPy (CPU) and CuPy (GPU).

>>> from engine import Tensor
>>> w = Tensor([2.0], requires_grad=True)
>>> (w * 3).sum().backward(); w.grad.item()
3.0
"""

import os

# OpenBLAS's idle threads spin for 2^28 cycles (~0.1 s) after every matmul, holding a core that
# our elementwise threads (engine/parallel.py) need; 2^16 cycles keeps matmuls as fast. Read by
# OpenBLAS when NumPy is first imported, so it only helps where engine is imported before NumPy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from engine.amp import autocast
from engine.backend import gpu_available
from engine.function import Function, enable_grad, is_grad_enabled, no_grad
from engine.functional import concatenate, maximum, minimum, stack, where
from engine.functional import numpy_pad as pad
from engine.gradcheck import GradcheckError, gradcheck
from engine.parallel import get_num_threads, set_num_threads
from engine.rng import manual_seed
from engine.tensor import Tensor

zeros, ones, full, empty = Tensor.zeros, Tensor.ones, Tensor.full, Tensor.empty
randn, rand, arange = Tensor.randn, Tensor.rand, Tensor.arange
# engine.zeros_like(x) is x.zeros_like(): shape, dtype and device of x.
zeros_like, ones_like, full_like = Tensor.zeros_like, Tensor.ones_like, Tensor.full_like
randn_like, rand_like = Tensor.randn_like, Tensor.rand_like

__all__ = [
    "Function", "GradcheckError", "Tensor", "arange", "autocast", "concatenate", "empty", "enable_grad", "full",
    "get_num_threads", "gpu_available", "gradcheck", "is_grad_enabled", "manual_seed", "maximum", "minimum", "no_grad",
    "ones", "pad", "rand", "randn", "set_num_threads", "stack", "where", "zeros", "zeros_like", "ones_like",
    "full_like", "randn_like", "rand_like",
]

# torch-named top-level functions (issue 15), one block per op family:
# -- factories, random and reductions --
# -- elementwise and activations --
# -- shape, indexing and linear algebra --
from engine.functional import (  # noqa: E402, I001
    cat, concat, addmm, atleast_1d, atleast_2d, atleast_3d, baddbmm, bmm, broadcast_tensors, broadcast_to,
    cartesian_prod, chunk, column_stack, diag, diag_embed, diagonal, dot, dstack, einsum, flatten, flip, fliplr,
    flipud, gather, ger, hstack, index_add, index_copy, index_fill, index_select, inner, kron, masked_fill,
    masked_scatter, masked_select, matmul, meshgrid, mm, movedim, moveaxis, mv, narrow, nonzero, outer, permute,
    repeat_interleave, reshape, roll, row_stack, scatter, scatter_add, scatter_reduce, split, squeeze, swapaxes,
    swapdims, t, take, take_along_dim, tensor_split, tensordot, tile, trace, transpose, tril, triu, unbind,
    unflatten, unsqueeze, vdot, vstack,
)
__all__ += [
    "cat", "concat", "addmm", "atleast_1d", "atleast_2d", "atleast_3d", "baddbmm", "bmm", "broadcast_tensors",
    "broadcast_to", "cartesian_prod", "chunk", "column_stack", "diag", "diag_embed", "diagonal", "dot",
    "dstack", "einsum", "flatten", "flip", "fliplr", "flipud", "gather", "ger", "hstack", "index_add",
    "index_copy", "index_fill", "index_select", "inner", "kron", "masked_fill", "masked_scatter",
    "masked_select", "matmul", "meshgrid", "mm", "movedim", "moveaxis", "mv", "narrow", "nonzero", "outer",
    "permute", "repeat_interleave", "reshape", "roll", "row_stack", "scatter", "scatter_add", "scatter_reduce",
    "split", "squeeze", "swapaxes", "swapdims", "t", "take", "take_along_dim", "tensor_split", "tensordot",
    "tile", "trace", "transpose", "tril", "triu", "unbind", "unflatten", "unsqueeze", "vdot", "vstack",
]
