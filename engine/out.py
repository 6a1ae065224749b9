"""torch's ``out=`` keyword on the top-level functions: ``engine.add(a, b, out=c)`` writes into ``c``.

One wrapper, put by :func:`install` on every name below (``engine.*``, ``engine.linalg.*`` and
``engine.special.*``): the function runs as usual, then its result is written into ``out`` (a
tuple of tensors for ``max(dim)``, ``sort``, ``topk``, ...) and ``out`` is returned, with torch's
checks: the result's dtype must cast to ``out``'s (some functions need it equal), ``out`` must be
on the result's device, and no argument may require grad in grad mode. An ``out`` of another shape
takes the new shape (with torch's warning when it had elements). Factories (``zeros``, ``arange``,
``randn``, ...) make their result with ``out``'s dtype and device. A call without ``out`` goes
straight to the function.

>>> import engine
>>> c = engine.empty(2)
>>> engine.add(engine.tensor([1.0, 2.0]), 1, out=c) is c, c.tolist()
(True, [2.0, 3.0])
"""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable

import numpy as np

from engine.backend import array_module
from engine.dtypes import can_cast, scalar_type_name
from engine.function import is_grad_enabled
from engine.tensor import Tensor

# the names torch accepts out= for (checked against torch by tests/engine/test_parity_out_s14.py)
FACTORIES = {"zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye", "rand", "randn",
             "randint", "randperm"}
_DTYPE_FROM_OUT = {"sum", "prod", "cumsum", "cumprod"}  # torch passes out's dtype as dtype=
# these cast their result to out's dtype where torch's can_cast allows it (TensorIterator ops);
# every other name needs out's dtype to equal the result's, as torch's structured kernels
_CASTS = {
    "acos", "acosh", "add", "addcdiv", "addcmul", "angle", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctan2", "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_left_shift",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "cat", "column_stack", "concat", "concatenate", "copysign",
    "cos", "cosh", "deg2rad", "diff", "digamma", "div", "divide", "dstack", "eq", "erf", "erfc", "erfinv", "exp",
    "exp2", "expm1", "floor_divide", "fmax", "fmin", "fmod", "gcd", "ge", "ger", "greater",
    "greater_equal", "gt", "heaviside", "hstack", "hypot", "igamma", "igammac", "kron", "lcm", "ldexp", "le",
    "lerp", "less", "less_equal", "lgamma", "log", "log10", "log1p", "log2", "logaddexp", "logaddexp2",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logit", "logsumexp", "lt", "max", "maximum", "mean",
    "min", "minimum", "mul", "multiply", "mvlgamma", "nanmean", "nansum", "ne", "nextafter", "not_equal", "outer",
    "polygamma", "i0", "pow", "rad2deg", "reciprocal", "remainder", "row_stack", "rsqrt", "sigmoid", "sin", "sinc",
    "sinh", "sqrt", "square", "stack", "std", "sub", "subtract", "tan", "tanh", "true_divide", "var", "vstack",
    "xlogy", "addr", "threshold", "cholesky", "cholesky_solve", "cholesky_inverse",
} | _DTYPE_FROM_OUT
TORCH = FACTORIES | _CASTS | {
    "abs", "absolute", "addbmm", "addmm", "addmv", "addr", "all", "amax", "amin", "aminmax", "any", "argmax",
    "argmin", "baddbmm", "bernoulli", "bmm", "bucketize", "chain_matmul", "cholesky", "cholesky_inverse",
    "cholesky_solve", "cross", "cummax", "cummin", "diag", "dot", "frexp", "gather", "hardshrink", "histc",
    "histogram", "index_add", "index_copy", "index_reduce", "index_select", "inner", "inverse", "isin", "isneginf",
    "isposinf", "kthvalue", "log_softmax", "lu", "lu_solve", "lu_unpack", "masked_select", "matmul", "matrix_power",
    "max", "median", "min", "mm", "mode", "msort", "multinomial", "mv", "nanmedian", "nanquantile", "nonzero",
    "norm", "qr", "quantile", "renorm", "scatter", "scatter_add", "scatter_reduce", "searchsorted", "signbit",
    "slice_scatter", "slogdet", "softmax", "sort", "svd", "take", "take_along_dim", "tensordot", "threshold",
    "topk", "triangular_solve", "tril", "triu", "vdot", "where", "bitwise_not", "ceil", "fix", "floor", "frac",
    "logcumsumexp", "nan_to_num", "neg", "negative", "round", "sgn", "sign", "trunc", "clamp", "clip", "clamp_min",
    "clamp_max", "float_power",
}
LINALG = {
    "cholesky", "cholesky_ex", "cond", "cross", "det", "eigh", "eigvalsh", "inv", "inv_ex", "lstsq", "lu",
    "lu_factor", "lu_factor_ex", "lu_solve", "matmul", "matrix_norm", "matrix_power", "matrix_rank", "multi_dot",
    "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular", "svd", "svdvals", "tensorinv",
    "tensorsolve", "vecdot", "vector_norm",
}
SPECIAL = {
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc", "gammaln",
    "log1p", "logit", "logsumexp", "multigammaln", "ndtr", "polygamma", "psi", "round", "sinc", "xlog1py", "xlogy",
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t", "chebyshev_polynomial_u",
    "chebyshev_polynomial_v", "chebyshev_polynomial_w", "erfcx", "hermite_polynomial_h", "hermite_polynomial_he",
    "i0", "i0e", "i1", "i1e", "laguerre_polynomial_l", "legendre_polynomial_p", "log_ndtr", "modified_bessel_i0",
    "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1", "ndtri", "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "spherical_bessel_j0", "zeta",
}
# which names cast, per module (torch.cholesky casts, linalg.cholesky does not)
CASTS = {"TORCH": _CASTS, "LINALG": {"pinv", "cond", "matrix_rank", "tensorinv", "lstsq"},
         "SPECIAL": SPECIAL - {"round"}}

_JOINS = {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack"}
# torch's names for dtypes in its messages: ScalarType ("Float") and the C++ type ("float")
_CPP = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int", "int32": "int",
        "int16": "short int", "int8": "signed char", "uint8": "unsigned char", "bool": "bool"}
_RESIZED = ("An output with one or more elements was resized since it had shape {}, which does not match the "
            "required output shape {}. This behavior is deprecated, and in a future PyTorch release outputs will "
            "not be resized unless they have zero elements. You can explicitly reuse an out tensor t by resizing "
            "it, inplace, to zero elements with t.resize_(0).")
_RESIZED_ARANGE = ("The number of elements in the out tensor of shape {} is {} which does not match the computed "
                   "number of elements {}. Note that this may occur as a result of rounding error. The out tensor "
                   "will be resized to a tensor of shape ({},).")


def _write(name: str, result: Tensor, out, casts: bool) -> Tensor:
    """Copy ``result`` into ``out`` (resized to its shape when needed) after torch's checks."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if out.device != result.device:
        raise RuntimeError(f"{name}(): Expected out tensor to have device {result.device}, but got {out.device} "
                           "instead")
    if out.dtype != result.dtype:
        if not casts:
            raise RuntimeError(f"{name}(): Expected out tensor to have dtype {_CPP.get(result.dtype.name)}, but got "
                               f"{_CPP.get(out.dtype.name)} instead")
        if not can_cast(result.dtype, out.dtype) and name in _JOINS:  # torch.cat's own words and type
            raise TypeError(f"torch.cat(): input types can't be cast to the desired output type "
                            f"{scalar_type_name(out.dtype)}")
        if not can_cast(result.dtype, out.dtype):
            raise RuntimeError(f"{name}(): result type {scalar_type_name(result.dtype)} can't be cast to the desired "
                               f"output type {scalar_type_name(out.dtype)}")
    if out.shape != result.shape:
        if name == "arange" and out.numel() and out.numel() != result.numel():
            warnings.warn(_RESIZED_ARANGE.format(list(out.shape), out.numel(), result.numel(), result.numel()),
                          UserWarning, stacklevel=4)
        elif out.numel() and name not in FACTORIES and name != "addbmm":  # these resize without a word in torch
            warnings.warn(_RESIZED.format(list(out.shape), list(result.shape)), UserWarning, stacklevel=4)
        out._data = array_module(out._data).empty(result.shape, out.dtype)  # new memory, as torch's resize
    out._data[...] = result._data
    out._vc[0] += 1
    return out


def _write_all(name: str, result, out, casts: bool):
    """``_write`` for one tensor or each of a tuple's (``max(dim)``, ``sort``, ``slogdet``, ...)."""
    if isinstance(result, Tensor):
        if is_grad_enabled() and (result.requires_grad or (out.requires_grad if isinstance(out, Tensor) else False)
                                  and result.dtype.kind == "f"):
            raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                               "differentiation, but one of the arguments requires grad.")
        return _write(name, result, out, casts)
    if not isinstance(out, (tuple, list)) or len(out) != len(result):
        raise TypeError(f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors, got "
                        f"{type(out).__name__}" + (f" of {len(out)}" if isinstance(out, (tuple, list)) else ""))
    if is_grad_enabled() and any(r.requires_grad or (isinstance(o, Tensor) and o.requires_grad and r.dtype.kind == "f")
                                 for r, o in zip(result, out)):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    casts = casts and name == "lstsq"  # torch casts no other tuple's parts (max(dim), sort, ...)
    written = [_write(name, r, o, casts) for r, o in zip(result, out)]
    return type(result)(*written) if hasattr(result, "_fields") else type(result)(written)


# ops whose out= torch checks for memory it shares (assert_no_internal_overlap / assert_no_overlap): an out
# with a stride-0 dim, or out in the memory of an input (exactly or in part), raises before anything is written
_OVERLAP_CHECKED = {"gather", "take", "take_along_dim", "masked_select", "index_select", "index_add", "kthvalue",
                    "topk", "bernoulli", "cat", "concat", "concatenate"}
_OVERLAP = "unsupported operation: {} Please clone() the tensor before performing the operation."


def _check_overlap(name: str, args: tuple, kwargs: dict, out) -> None:
    """torch's overlap errors for ``name``'s out= (only the ops in _OVERLAP_CHECKED), after its checks:
    out with several elements at one address (a stride-0 dim of size > 1: torch's sure case), or out sharing
    memory with an input tensor (also one inside a list, as cat's)."""
    if name not in _OVERLAP_CHECKED:
        return
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, Tensor)]
    for o in outs:
        if any(st == 0 and n > 1 for st, n in zip(o._data.strides, o.shape)):
            raise RuntimeError(_OVERLAP.format("more than one element of the written-to tensor refers to a single "
                                               "memory location."))
    if name == "bernoulli":  # torch checks only out itself (bernoulli(p, out=p) draws in place)
        return
    inputs = [a for v in (*args, *kwargs.values()) for a in (v if isinstance(v, (tuple, list)) else (v,))
              if isinstance(a, Tensor)]
    xp = array_module(outs[0]._data) if outs else np
    for o in outs:
        if any(o._data.size and a._data.size and xp.may_share_memory(o._data, a._data) for a in inputs):
            raise RuntimeError(_OVERLAP.format("some elements of the input tensor and the written-to tensor refer "
                                               "to a single memory location."))


def with_out(fn: Callable, name: str, casts: bool = False) -> Callable:
    """``fn`` taking torch's keyword ``out=`` as well: without it, ``fn`` itself is called.

    >>> import engine
    >>> o = engine.zeros(2, dtype=engine.float64)
    >>> maximum = with_out(engine.functional.maximum, "maximum", casts=True)
    >>> _ = maximum(engine.tensor([1.0, 5.0]), engine.tensor([3.0, 2.0]), out=o)
    >>> o.tolist()
    [3.0, 5.0]
    """
    if name in FACTORIES or name in _DTYPE_FROM_OUT:
        def from_out(*args, out=None, **kwargs):
            if out is None:
                return fn(*args, **kwargs)
            if not isinstance(out, Tensor):
                raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
            if name in ("sum", "prod") and len(args) < 2 and "dim" not in kwargs:  # torch: out= needs a dim
                raise TypeError(f"{name}() received an invalid combination of arguments: out= is only taken with dim")
            dtype = kwargs.get("dtype")
            if dtype is not None and np.dtype(dtype) != out.dtype and name in FACTORIES:
                raise RuntimeError(f"dtype {scalar_type_name(np.dtype(dtype))} does not match dtype of out parameter "
                                   f"({scalar_type_name(out.dtype)})")
            _check_overlap(name, args, kwargs, out)
            kwargs.setdefault("dtype", out.dtype)
            if name in FACTORIES:
                kwargs.setdefault("device", out.device)
            return _write_all(name, fn(*args, **kwargs), out, casts)
        wrapper = from_out
    else:
        def wrapper(*args, out=None, **kwargs):
            if out is None:
                return fn(*args, **kwargs)
            _check_overlap(name, args, kwargs, out)
            return _write_all(name, fn(*args, **kwargs), out, casts)
    functools.update_wrapper(wrapper, fn)
    wrapper.__wrapped_for_out__ = True
    return wrapper


def _takes_out(fn: Callable) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and "out" in code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]


def install(module: types.ModuleType, names, casts=frozenset()) -> None:
    """Give ``module``'s functions in ``names`` the ``out=`` keyword (those it has, once); those in
    ``casts`` cast their result to out's dtype where torch's can_cast allows it."""
    for name in names:
        fn = getattr(module, name, None)
        if fn is None or getattr(fn, "__wrapped_for_out__", False) or _takes_out(fn):
            continue
        setattr(module, name, with_out(fn, name, name in casts))
