"""engine: a small reverse-mode autograd engine over NumPy (CPU) and CuPy (GPU).

>>> from engine import Tensor
>>> w = Tensor([2.0], requires_grad=True)
>>> (w * 3).sum().backward(); w.grad.item()
3.0
"""

from engine.amp import autocast
from engine.backend import gpu_available
from engine.draw import draw

# engine.zeros_like(x) is x.zeros_like(): shape, dtype and device of x.
from engine.factories import (
    arange,
    empty,
    full,
    full_like,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    zeros,
    zeros_like,
)
from engine.function import Function, enable_grad, is_grad_enabled, name_scope, no_grad
from engine.functional import concatenate, maximum, minimum, stack, where
from engine.functional import numpy_pad as pad
from engine.gradcheck import GradcheckError, gradcheck, gradcheck_model
from engine.ops.optim import adam_
from engine.parallel import get_num_threads, set_num_threads, tune_cpu
from engine.rng import Generator, default_generator, manual_seed
from engine.tensor import Size, Tensor

__all__ = [
    "Function", "GradcheckError", "Size", "Tensor", "arange", "autocast", "concatenate", "empty", "enable_grad", "full",
    "get_num_threads", "gpu_available", "gradcheck", "is_grad_enabled", "manual_seed", "Generator", "maximum",
    "default_generator", "minimum", "no_grad", "ones", "pad", "rand", "randn", "set_num_threads", "stack", "where",
    "zeros", "zeros_like", "ones_like", "full_like", "randn_like", "rand_like",
]
__all__ += ["draw", "gradcheck_model", "name_scope"]  # instruments for learners (issue 23)
# -- kernels and optimizer steps (issue 14) --
__all__ += ["adam_", "tune_cpu"]
from engine.flat import FlatParameters, flatten_parameters  # noqa: E402  (flat buffers, issue 20/21)

__all__ += ["FlatParameters", "flatten_parameters"]

# torch-named top-level functions (issue 15), one block per op family:
# -- factories, random and reductions --
from engine import return_types  # noqa: E402
from engine.dtypes import (  # noqa: E402
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from engine.factories import (  # noqa: E402
    as_tensor,
    bernoulli,
    empty_like,
    empty_permuted,
    empty_strided,
    eye,
    from_numpy,
    linspace,
    logspace,
    multinomial,
    normal,
    randint,
    randint_like,
    randperm,
    scalar_tensor,
    tensor,
)
from engine.reductions import (  # noqa: E402
    all,
    amax,
    amin,
    aminmax,
    any,
    argmax,
    argmin,
    argsort,
    count_nonzero,
    cummax,
    cummin,
    cumprod,
    cumsum,
    kthvalue,
    logcumsumexp,
    logsumexp,
    max,
    mean,
    median,
    min,
    msort,
    nansum,
    norm,
    prod,
    sort,
    std,
    std_mean,
    sum,
    topk,
    unique,
    var,
    var_mean,
)

__all__ += [
    "return_types", "bool", "double", "float", "float16", "float32", "float64", "half", "int", "int8", "int16",
    "int32", "int64", "long", "short", "uint8", "as_tensor", "bernoulli", "empty_like", "empty_permuted",
    "empty_strided", "scalar_tensor", "eye", "from_numpy",
    "linspace", "logspace", "multinomial", "normal", "randint", "randint_like", "randperm", "tensor", "all", "amax",
    "amin", "aminmax", "any", "argmax", "argmin", "argsort", "count_nonzero", "cummax", "cummin", "cumprod", "cumsum",
    "kthvalue", "logcumsumexp", "logsumexp", "max", "mean", "median", "min", "msort", "nansum", "norm", "prod", "sort",
    "std", "std_mean", "sum", "topk", "unique", "var", "var_mean",
]
# -- elementwise and activations --
from engine import pointwise as _pointwise  # noqa: E402  (engine.abs, engine.atan2, engine.eq, ...)

globals().update({_n: getattr(_pointwise, _n) for _n in _pointwise.__all__})
__all__ += _pointwise.__all__
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
# -- memory formats and layouts: names torch code passes (engine/formats.py; no memory reordering) --
from engine.formats import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    sparse_coo,
    strided,
)

__all__ += ["channels_last", "channels_last_3d", "contiguous_format", "layout", "memory_format", "preserve_format",
            "sparse_coo", "strided"]
# -- sparse COO gradients of sparse=True embeddings (engine/sparse.py) and torch.sparse_coo_tensor --
from engine.sparse import SparseTensor, sparse_coo_tensor  # noqa: E402

__all__ += ["SparseTensor", "sparse_coo_tensor"]
# -- type promotion as torch (issue 15) --
from engine.dtypes import can_cast, promote_types, result_type  # noqa: E402

__all__ += ["can_cast", "promote_types", "result_type"]
from engine.reductions import dist, logit, mode, nanmean, select  # noqa: E402

__all__ += ["dist", "logit", "mode", "nanmean", "select"]
# -- more torch names: Tensor methods, top-level functions and engine.linalg (issue 15, round 2) --
import sys as _sys  # noqa: E402

from engine import functional as _functional  # noqa: E402
from engine import functional_more as _functional_more  # noqa: E402
from engine import torch_more as _torch_more  # noqa: E402

_functional_more.install(_functional)
from engine import complex as _complex  # noqa: E402  (complex tensors; before torch_more's real-only stand-ins)

__all__ += _complex.install(_sys.modules[__name__])
__all__ += _torch_more.install(_sys.modules[__name__])
from engine import torch_names as _torch_names  # noqa: E402  (issue 17: more torch names, composed)

__all__ += _torch_names.install(_sys.modules[__name__])
from engine import storage as _storage  # noqa: E402  (as_strided and its family, storage_offset)

__all__ += _storage.install(_sys.modules[__name__])
_complex.refuse_complex(_sys.modules[__name__])  # torch's errors for complex input, once every name exists

# torch.autograd's grad and backward (after torch_more), torch.cuda's is_available etc., torch.device,
# torch.distributions' everyday part (composed from the ops above); torch.special, torch.testing and
# torch.backends under the same names (porting: composed functions and flags)
from engine import autograd, backends, checkpoint, cuda, distributions, signal, special, testing  # noqa: E402,F401
from engine import formats as _formats  # noqa: E402
from engine import out as _out  # noqa: E402
from engine.backend import device  # noqa: E402,F401

_formats.install(_sys.modules[__name__])  # layout= and memory_format= on the factories that take them
# torch's out= keyword on the functions that take it (one wrapper, engine/out.py), after every name is in place
_out.install(_sys.modules[__name__], _out.TORCH, _out.CASTS["TORCH"])
from engine import printing as _printing  # noqa: E402  (set_printoptions, the deterministic-algorithms flags)

globals().update({_n: getattr(_printing, _n) for _n in _printing.__all__})
__all__ += _printing.__all__
from engine import ldl as _ldl  # noqa: E402  (linalg.ldl_factor, ldl_factor_ex, ldl_solve)

_ldl.install(linalg)  # noqa: F821
_out.install(linalg, _out.LINALG, _out.CASTS["LINALG"])  # noqa: F821  (engine.linalg, from torch_more.install)
_out.install(special, _out.SPECIAL, _out.CASTS["SPECIAL"])
# torch.func (grad, vjp, jvp, jacrev, jacfwd, hessian, vmap, functional_call, stack_module_state), and
# torch.vmap under its top-level name
from engine import func  # noqa: E402,F401
from engine.func import vmap  # noqa: E402

__all__ += ["vmap"]
# torch.fft (engine/fft.py), and torch.stft / torch.istft composed from it (engine/stft.py)
from engine import fft  # noqa: E402,F401
from engine.stft import istft, stft  # noqa: E402

__all__ += ["fft", "istft", "stft"]
