"""torch names engine lacked (issue 15, second round), composed from existing ops where possible, so
the engine derives their backward: Tensor methods (addcmul, diff, cross, rot90, in-place forms, ...),
top-level functions (cdist, block_diag, searchsorted, ...), ``engine.linalg`` and F extras
(group_norm, rms_norm, grid_sample, ...). Installed by ``engine/__init__.py``; nothing else imports it.

>>> import engine
>>> engine.tensor([1.0, 4.0, 9.0]).diff().tolist()
[3.0, 5.0]
"""

from __future__ import annotations

import builtins
import itertools
import math
import types
import warnings
from collections import namedtuple
from collections.abc import Callable, Sequence

import numpy as np

from engine.backend import array_module
from engine.complex import complex as complex_
from engine.complex import conj as complex_conj
from engine.dtypes import scalar_type_name
from engine.function import _GradMode, inference_mode, is_inference_mode_enabled
from engine.ops import elementwise as elementwise_ops
from engine.ops import reduce as reduce_ops
from engine.ops import special, special_functions  # special registers Lgamma, Digamma, Polygamma, Zeta
from engine.ops.movement import wrap_dim, wrap_dims
from engine.tensor import Tensor

# ---- helpers ------------------------------------------------------------------------------------------

_RESULTS: dict = {}


def _make(name: str, fields: tuple, values: tuple):
    """A named result tuple like torch.return_types (``eigh(A).eigenvalues``)."""
    if name not in _RESULTS:
        _RESULTS[name] = namedtuple(name, fields)
    return _RESULTS[name](*values)



def _t(x, like: Tensor | None = None) -> Tensor:
    """A Tensor from a Tensor, number, list or array (numbers take ``like``'s float dtype)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and like.dtype.kind == "f":
        return Tensor(np.asarray(x, dtype=like.dtype)).to(like.device)
    return Tensor(np.asarray(x)).to(like.device if like is not None else "cpu")



def _float(x: Tensor) -> Tensor:
    """Integer/bool inputs of a float op become float32, as torch."""
    return x if x.dtype.kind in "fc" else x.astype(np.float32)


def _square(op: str, a: Tensor, floating: bool = True) -> Tensor:
    """a itself, after checking it holds (..., n, n) matrices (and, with ``floating``, floats), as torch."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2] if a.ndim >= 2 else '?'} by {a.shape[-1] if a.ndim else '?'} matrices "
                           f"(shape {a.shape})")
    if floating and a.dtype.kind not in "fc":
        raise RuntimeError(f"{op}: Expected a floating point or complex tensor as input. Got {a.dtype}")
    return a


def _same_mm_dtypes(op: str, *tensors: Tensor) -> None:
    """addmm/addmv/addbmm/baddbmm take tensors of one dtype, and no bool (as torch)."""
    dtypes = [t.dtype for t in tensors]
    if len(set(dtypes)) > 1:
        raise RuntimeError(f"{op}: input tensors must have the same dtype, but got "
                           f"{', '.join(str(d) for d in dtypes)} (shapes {', '.join(str(t.shape) for t in tensors)})")
    if dtypes[0] == np.bool_:
        raise NotImplementedError(f'"{op}" not implemented for \'Bool\'')


def _int_scalar(op: str, name: str, c, dtype: np.dtype) -> int:
    """c cast to an integer dtype as torch casts a Scalar: a float must lie in the dtype's range (then it is
    truncated: 0.6 -> 0); an int may also be a negative that wraps into an unsigned dtype (-1 -> 255)."""
    info = np.iinfo(dtype)
    fits = info.min <= c <= info.max if isinstance(c, float) else \
        int(c) <= info.max and (int(c) >= info.min or -int(c) <= info.max)
    if not fits:
        raise RuntimeError(f"{op}: value cannot be converted to type {dtype} without overflow ({name}={c})")
    return int(c)


def _beta_alpha(op: str, inp: Tensor, prod: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * prod``; beta = 0 ignores input (nan and inf in it included), as torch.
    An integer result keeps its dtype: beta and alpha are cast to it first (0.6 -> 0, as torch's C++
    cast); a bool one (addr) is ``(beta and input) or (alpha and prod)``."""
    dtype = np.result_type(inp.dtype, prod.dtype)
    if dtype.kind == "b":
        return (inp & bool(beta)) | (prod & bool(alpha))
    if dtype.kind in "iu":
        beta, alpha = _int_scalar(op, "beta", beta, dtype), _int_scalar(op, "alpha", alpha, dtype)
    prod = prod if alpha == 1 else prod * alpha
    if beta == 0:  # input's values are ignored, its gradient is zero (as torch)
        return prod + _zero_link(inp)
    return (inp if beta == 1 else inp * beta) + prod


def _zero_link(x: Tensor) -> Tensor:
    """Zeros of x's shape whose gradient to x is zero (not None), whatever x holds (nan included)."""
    import engine

    return engine.where(engine.zeros(x.shape, dtype=np.bool_, device=x.device), x, engine.zeros_like(x))


# ---- Tensor methods ----------------------------------------------------------------------------------


def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 * tensor2`` (broadcast).

    >>> import engine
    >>> engine.tensor([1.0]).addcmul(engine.tensor([2.0]), engine.tensor([3.0]), value=0.5).tolist()
    [4.0]
    """
    prod = tensor1 * tensor2
    return input + (prod if value == 1 else prod * value)


def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:  # noqa: A002
    """``input + value * tensor1 / tensor2`` (broadcast).

    >>> import engine
    >>> engine.tensor([1.0]).addcdiv(engine.tensor([3.0]), engine.tensor([2.0])).tolist()
    [2.5]
    """
    if tensor1.dtype.kind in "iub" and tensor2.dtype.kind in "iub":
        raise RuntimeError("addcdiv: integer division with addcdiv is no longer supported; use torch.addcmul "
                           "with the reciprocal, or float tensors")
    q = tensor1 / tensor2
    return input + (q if value == 1 else q * value)


def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * (mat @ vec)``; mat (n, m), vec (m,).

    >>> import engine
    >>> engine.zeros(2).addmv(engine.eye(2), engine.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"addmv: vector + matrix @ vector expected, got {input.ndim}, {mat.ndim}, {vec.ndim} "
                           f"dims (shapes {input.shape}, {mat.shape}, {vec.shape})")
    if mat.shape[1] != vec.shape[0]:
        raise RuntimeError(f"addmv: size mismatch, mat: {mat.shape}, vec: {vec.shape}")
    _same_mm_dtypes("addmv", input, mat, vec)
    return _beta_alpha("addmv", input, mat @ vec, beta, alpha)


def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``; batch1 (B, n, m), batch2 (B, m, p)."""
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError(f"addbmm: batch1 and batch2 must be 3D tensors, got shapes {batch1.shape} and "
                           f"{batch2.shape}")
    _same_mm_dtypes("addbmm", input, batch1, batch2)
    return _beta_alpha("addbmm", input, batch1.bmm(batch2).sum(0, dtype=batch1.dtype), beta, alpha)


def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:  # noqa: A002
    """``beta * input + alpha * outer(vec1, vec2)`` (dtypes promoted); on integer or bool tensors beta and
    alpha must not be floats, and bool beta/alpha need a bool result, as torch.

    >>> import engine
    >>> engine.zeros(2, 2, dtype=engine.int64).addr(engine.tensor([1, 2]), engine.tensor([3, 4]), alpha=2).tolist()
    [[6, 8], [12, 16]]
    """
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: expected 1-D vectors, got shapes {vec1.shape} and {vec2.shape}")
    kind = np.result_type(input.dtype, vec1.dtype, vec2.dtype).kind
    for name, c in (("beta", beta), ("alpha", alpha)):
        if kind in "biu" and isinstance(c, float):
            raise RuntimeError(f"addr: For integral input tensors, argument {name} must not be a floating point "
                               f"number (got {name}={c} for dtypes {input.dtype}, {vec1.dtype}, {vec2.dtype}).")
        if kind != "b" and isinstance(c, bool):
            raise RuntimeError(f"addr: Boolean {name} only supported for Boolean results (got {name}={c} for "
                               f"dtypes {input.dtype}, {vec1.dtype}, {vec2.dtype}).")
    return _beta_alpha("addr", input, vec1.outer(vec2), beta, alpha)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,  # noqa: A002
         append: Tensor | None = None) -> Tensor:
    """n-th forward difference along ``dim`` (prepend/append joined first), as torch.diff.

    >>> import engine
    >>> engine.tensor([1.0, 4.0, 9.0]).diff(n=2).tolist()
    [2.0]
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    d = wrap_dim(dim, input.ndim, "diff")
    if n == 0:  # torch: the input itself, prepend/append ignored
        return input
    parts = [p for p in (prepend, input, append) if p is not None]
    x = input
    if len(parts) > 1:
        parts = [_t(p, input) for p in parts]
        parts = [p if p.ndim else p.reshape((1,) * input.ndim).expand(*input.shape[:d], 1, *input.shape[d + 1:])
                 for p in parts]
        x = parts[0].cat(parts[1:], d) if hasattr(parts[0], "cat") else _cat(parts, d)
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        hi = x.narrow(d, 1, m - 1)
        lo = x.narrow(d, 0, m - 1)
        x = (hi ^ lo) if x.dtype == np.bool_ else hi - lo
    return x


def _cat(ts, d):
    import engine

    return engine.cat(ts, d)


def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:  # noqa: A002
    """3-vector cross product along ``dim`` (None: the first dim of size 3, as torch.cross).

    >>> import engine
    >>> engine.tensor([1.0, 0, 0]).cross(engine.tensor([0.0, 1, 0])).tolist()
    [0.0, 0.0, 1.0]
    """
    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions (got shapes {input.shape} "
                           f"and {other.shape}).")
    shape = np.broadcast_shapes(input.shape, other.shape)
    if dim is None:
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input (shape {tuple(shape)})")
    d = wrap_dim(dim, len(shape), "cross")
    if input.shape[d] != 3 or other.shape[d] != 3:  # the other dims broadcast, this one does not (as torch)
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                           f"{other.shape[d]} (shapes {input.shape} and {other.shape})")
    a, b = input.broadcast_to(shape), other.broadcast_to(shape)
    a0, a1, a2 = a.unbind(d)
    b0, b1, b2 = b.unbind(d)
    import engine

    return engine.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


def ravel(input: Tensor) -> Tensor:  # noqa: A002
    """The flattened tensor (1-D)."""
    return input.reshape(-1)


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:  # noqa: A002
    """Rotate by 90°·k in the plane of ``dims`` (from the first towards the second), as torch.rot90.

    >>> import engine
    >>> engine.tensor([[1, 2], [3, 4]]).rot90().tolist()
    [[2, 4], [1, 3]]
    """
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (wrap_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip(d0, d1)
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input * 1 if input.dtype.kind == "f" else input.clone()


def xlogy(input, other) -> Tensor:  # noqa: A002
    """``input * log(other)``, 0 where input is 0 (unless other is nan), as torch.xlogy; one of the
    two may be a number, not both (torch's TypeError)."""
    import engine

    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"xlogy() received an invalid combination of arguments - got ({type(input).__name__}, "
                        f"{type(other).__name__}), but expected one of:\n * (Tensor input, Tensor other)\n"
                        " * (Number self, Tensor other)\n * (Tensor input, Number other)")

    dt = engine.result_type(input, other)  # a Python number is weak: xlogy(int tensor, 2.5) is float32
    dt = dt if dt.kind == "f" else np.dtype(np.float32)
    like = input if isinstance(input, Tensor) else other
    x, y = (_t(v, like).astype(dt) for v in (input, other))
    # where x is 0 and log(y) is not finite the result is 0; the gradient to x is log(y) elsewhere,
    # at x = 0 too (torch's rule), and the gradient to y is x / y
    zero = (x == 0) & ~y.isnan() & ~((y > 0) & y.isfinite())
    safe_y = engine.where(zero, engine.ones_like(y), y)
    return x * safe_y.log()


def deg2rad(input: Tensor) -> Tensor:  # noqa: A002
    """Degrees to radians (float32 for integer input)."""
    return _float(input) * (math.pi / 180)


def rad2deg(input: Tensor) -> Tensor:  # noqa: A002
    """Radians to degrees (float32 for integer input)."""
    return _float(input) * (180 / math.pi)


def sinc(input: Tensor) -> Tensor:  # noqa: A002
    """sin(πx)/(πx), 1 at 0 (gradient 0 there), as torch.sinc."""
    import engine

    x = _float(input)
    zero = x == 0
    safe = engine.where(zero, engine.ones_like(x), x) * math.pi
    return engine.where(zero, engine.ones_like(x), safe.sin() / safe)


def signbit(input: Tensor) -> Tensor:  # noqa: A002
    """True where the sign bit is set (-0.0 included); no gradient."""
    return Tensor(array_module(input._data).signbit(input._data))


def positive(input: Tensor) -> Tensor:  # noqa: A002
    """``input`` itself (torch.positive); bool input raises as torch."""
    if input.dtype == np.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def heaviside(input: Tensor, values: Tensor) -> Tensor:  # noqa: A002
    """0 where input < 0, 1 where > 0, ``values`` where 0 (no gradient, as torch)."""
    import engine

    engine.functional._tensor_operands("heaviside", input=input, values=values)

    if input.dtype != values.dtype and values.ndim and input.ndim:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes ({input.dtype} "
                           f"and {values.dtype})")
    out = engine.where(input == 0, values.astype(input.dtype), (input > 0).astype(input.dtype))
    return out.detach()


def argwhere(input: Tensor) -> Tensor:  # noqa: A002
    """(n, ndim) int64 indices of the nonzero entries (torch.argwhere)."""
    return input.nonzero()


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:  # noqa: A002
    """Counts of each value of a 1-D non-negative int tensor (weighted sums with ``weights``).

    >>> import engine
    >>> engine.tensor([0, 1, 1, 3]).bincount().tolist()
    [1, 2, 0, 1]
    """
    if input.ndim != 1 or input.dtype.kind not in "iub":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got shape {input.shape} "
                           f"and dtype {input.dtype}")
    xp = array_module(input._data)
    if input.numel() and int(input._data.min()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs (got a negative value)")
    if weights is not None and weights.shape != input.shape:
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input, got shapes "
                           f"{weights.shape} and {input.shape}")
    n = builtins.max(int(minlength), int(input._data.max()) + 1 if input.numel() else 0)
    if weights is None:
        return Tensor(xp.bincount(input._data, minlength=n).astype(np.int64))
    out = xp.zeros(n, dtype=weights.dtype if weights.dtype.kind == "f" else np.float64)
    xp.add.at(out, input._data, weights._data)
    return Tensor(out)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
    """Histogram of ``bins`` equal bins over [min, max] (min = max = 0: the data's range), as torch."""
    if input.dtype.kind != "f":
        raise NotImplementedError(f"histc: \"histogram_cpu\" not implemented for '{input.dtype}'")
    x = input._data.reshape(-1)
    xp = array_module(x)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"histc: max must be larger than min, got min={min} max={max}")
    x = x[(x >= lo) & (x <= hi)]
    idx = ((x - lo) * (bins / (hi - lo))).astype(np.int64)
    idx = xp.minimum(idx, bins - 1)
    return Tensor(xp.bincount(idx, minlength=bins).astype(input.dtype))


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
                       dim: int | None = None):
    """Collapse runs of equal consecutive entries (flattened, or slices along ``dim``), as torch.

    >>> import engine
    >>> engine.tensor([1, 1, 2, 2, 3, 1]).unique_consecutive().tolist()
    [1, 2, 3, 1]
    """
    xp = array_module(input._data)
    if dim is None:
        x = input._data.reshape(-1)
        if x.size == 0:
            out, starts = x, xp.zeros(0, dtype=np.int64)
        else:
            change = xp.concatenate([xp.ones(1, dtype=bool), x[1:] != x[:-1]])
            starts = xp.flatnonzero(change)
            out = x[starts]
        inverse_shape, n = input.shape, x.size
    else:
        d = wrap_dim(dim, input.ndim, "unique_consecutive")
        x = xp.moveaxis(input._data, d, 0)
        n = x.shape[0]
        if n == 0:
            starts = xp.zeros(0, dtype=np.int64)
        else:
            flat = x.reshape(n, -1)
            change = xp.concatenate([xp.ones(1, dtype=bool), (flat[1:] != flat[:-1]).any(axis=1)])
            starts = xp.flatnonzero(change)
        out = xp.moveaxis(x[starts], 0, d)
        inverse_shape = (n,)
    result = [Tensor(xp.ascontiguousarray(out))]
    if return_inverse:
        inv = xp.zeros(n, dtype=np.int64)
        if n:
            inv[starts[1:]] = 1
            inv = xp.cumsum(inv)
        result.append(Tensor(inv.reshape(inverse_shape)))
    if return_counts:
        result.append(Tensor(xp.diff(xp.append(starts, n)).astype(np.int64)))
    return result[0] if len(result) == 1 else tuple(result)


def _sections_split(op: str, min_dims: int, dim: int):
    def split(input: Tensor, indices_or_sections) -> tuple:  # noqa: A002
        if input.ndim < min_dims:
            raise RuntimeError(f"torch.{op} requires a tensor with at least {min_dims} dimension, but got a "
                               f"tensor with {input.ndim} dimensions!")
        d = 0 if (op == "hsplit" and input.ndim == 1) else dim
        if not isinstance(indices_or_sections, (int, tuple, list)):
            raise TypeError(f"{op}(): indices_or_sections must be an int or a tuple of ints, got "
                            f"{type(indices_or_sections).__name__}")
        if isinstance(indices_or_sections, int) and indices_or_sections < 0:
            raise RuntimeError(f"torch.{op}: number of sections must be larger than 0, got {indices_or_sections}")
        if isinstance(indices_or_sections, int) and (indices_or_sections == 0
                                                     or input.shape[d] % indices_or_sections):
            raise RuntimeError(f"torch.{op} attempted to split along dimension {d}, but the size of the dimension "
                               f"{input.shape[d]} is not divisible by the split_size {indices_or_sections}!")
        return tuple(input.tensor_split(indices_or_sections, d))

    split.__name__ = op
    split.__doc__ = f"torch.{op}: tensor_split along dim {dim} (sections must divide it evenly)."
    return split


vsplit = _sections_split("vsplit", 2, 0)
hsplit = _sections_split("hsplit", 1, 1)
dsplit = _sections_split("dsplit", 3, 2)


def sum_to_size(input: Tensor, *sizes, size=None) -> Tensor:  # noqa: A002
    """Sum ``input`` down to ``size`` (which must broadcast to input's shape), as torch.

    >>> import engine
    >>> engine.ones(2, 3).sum_to_size(1, 3).tolist()
    [[2.0, 2.0, 2.0]]
    """
    if size is None:
        size = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    size = tuple(size)
    try:
        if np.broadcast_shapes(size, input.shape) != input.shape:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size {list(input.shape)}") from None
    if not size:  # torch's sum_to: an empty size always sums (a bool or integer 0-d tensor to int64)
        return input.sum()
    lead = input.ndim - len(size)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(size) if s == 1 and input.shape[lead + i] != 1)
    out = input.sum(axes, keepdim=True) if axes else input
    return out.reshape(size)


def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,  # noqa: A002
             interpolation: str = "linear") -> Tensor:
    """The q-th quantiles along ``dim`` (None: all entries) with torch's interpolation modes; the
    gradient flows to the (one or two) entries each quantile interpolates between.

    >>> import engine
    >>> engine.tensor([1.0, 2.0, 3.0, 4.0]).quantile(0.5).item()
    2.5
    """
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=False)


def _quantile_q(input: Tensor, q, interpolation: str) -> np.ndarray:  # noqa: A002
    """quantile's checks of its arguments, as torch; ``q`` as a float64 NumPy array."""
    if input.dtype.kind != "f":
        raise RuntimeError(f"quantile() input tensor must be either float or double dtype, got {input.dtype}")
    if isinstance(q, Tensor) and q.dtype != input.dtype:
        raise RuntimeError(f"quantile() q tensor must be same dtype as the input tensor (input {input.dtype}, "
                           f"q {q.dtype})")
    qs = q._data if isinstance(q, Tensor) else np.asarray(q, dtype=np.float64)
    qs = np.asarray(qs.get() if hasattr(qs, "get") else qs, dtype=np.float64)
    if qs.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if ((qs < 0) | (qs > 1)).any():
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile() interpolation must be one of linear, lower, higher, midpoint or nearest. "
                         f"Got {interpolation}")
    return qs


def _quantile(input: Tensor, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    """quantile/nanquantile along one dim. Each slice sorts (nan last); a quantile's position is
    q·(k − 1) with k the slice's size (nanquantile: its count of entries that are not nan). A
    slice with a nan gives nan (nanquantile: a slice of only nan), as torch. A tensor ``q`` that
    requires grad gets torch's gradient through 'linear''s weight q·(k − 1) − ⌊q·(k − 1)⌋: g·(b − a)·(k − 1)."""
    import engine

    qs = _quantile_q(input, q, interpolation)
    q_graph = q.reshape(-1) if isinstance(q, Tensor) and q.requires_grad and interpolation == "linear" else None

    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else wrap_dim(dim, input.ndim, "quantile")
    if x.ndim == 0:
        x = x.reshape(1)
    n = x.shape[d]
    if n == 0 or input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    srt = x.sort(d)[0]
    nan = np.asarray(array_module(x._data).isnan(x._data).get() if hasattr(x._data, "get")
                     else np.isnan(x._data)).sum(axis=d, keepdims=True)
    k = n - nan if ignore_nan else np.full_like(nan, n)
    # torch: quantile reads a slice with a nan at its last (sorted: nan) entry, nanquantile an all-nan slice at
    # its first; the nan comes from the values, and so does the gradient (to that nan entry, as torch's)
    undefined = (k == 0) if ignore_nan else (nan > 0)
    outs = []
    for i, qv in enumerate(qs.reshape(-1)):
        pos = np.where(undefined, 0 if ignore_nan else n - 1, qv * np.maximum(k - 1, 0))
        lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
        frac = pos - lo
        if interpolation == "lower":
            hi, frac = lo, np.zeros_like(frac)
        elif interpolation == "higher":
            lo, frac = hi, np.zeros_like(frac)
        elif interpolation == "nearest":
            lo = hi = np.round(pos).astype(np.int64)  # round half to even, as torch
            frac = np.zeros_like(frac)
        elif interpolation == "midpoint":
            frac = np.where(hi != lo, 0.5, 0.0)
        a = srt.gather(d, Tensor(lo).to(x.device))
        b = srt.gather(d, Tensor(hi).to(x.device))
        # torch lerps for linear and midpoint even at weight 0 (inf - inf there gives nan, as torch)
        weight = Tensor(frac.astype(x.dtype)).to(x.device)
        if q_graph is not None:  # the same weight, in the graph of q
            last, below = (Tensor(c.astype(x.dtype)).to(x.device) for c in (np.maximum(k - 1, 0), lo))
            weight = (q_graph[i] * last - below).masked_fill(Tensor(undefined).to(x.device), 0.0)  # as torch's ranks
        v = a.lerp(b, weight) if interpolation in ("linear", "midpoint") else a
        if input.ndim == 0 or not keepdim:
            v = v.squeeze(d)
        elif dim is None:
            v = v.reshape((1,) * input.ndim)
        outs.append(v)
    if qs.ndim == 0:
        return outs[0]
    return engine.stack(outs, 0)


def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,  # noqa: A002
                interpolation: str = "linear") -> Tensor:
    """quantile of the entries that are not nan (nan where a slice is all nan), as torch."""
    return _quantile(input, q, dim, keepdim, interpolation, ignore_nan=True)


def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False,  # noqa: A002
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Insertion indices of ``input`` in the last dim of ``sorted_sequence`` (1-D, or the same
    leading dims as input), as torch.searchsorted.

    >>> import engine
    >>> engine.searchsorted(engine.tensor([1, 3, 5]), engine.tensor([3, 6])).tolist()
    [1, 3]
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence._data
    xp = array_module(seq)
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    scalar = not isinstance(input, Tensor)
    vals = xp.asarray(input._data if isinstance(input, Tensor) else input)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = xp.searchsorted(seq, vals, side=how)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise RuntimeError(f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                               f"dimensions of boundaries tensor and input value tensor must match, but we got "
                               f"boundaries tensor {list(sorted_sequence.shape)} and input value tensor "
                               f"{list(vals.shape)}")
        out = xp.empty(vals.shape, dtype=np.int64)
        for idx in np.ndindex(*seq.shape[:-1]):
            out[idx] = xp.searchsorted(seq[idx], vals[idx], side=how)
    out = xp.asarray(out, dtype=np.int32 if out_int32 else np.int64)
    return Tensor(out.reshape(()) if scalar else out)


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:  # noqa: A002
    """Bucket index of each entry of ``input`` in the 1-D ``boundaries`` (torch.bucketize)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ---- in-place forms (outside the graph only, as the engine's other in-place ops) ---------------------


def _inplace_via(name: str) -> Callable:
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        return self._inplace_result(name + "_", getattr(self, name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: writes ``self.{name}(...)`` into self and returns self."
    return method


def _reshape_inplace(name: str) -> Callable:
    """In-place shape changes (t_, transpose_, squeeze_, unsqueeze_): self takes the new view."""
    def method(self: Tensor, *args, **kwargs) -> Tensor:
        out = getattr(self, name)(*args, **kwargs)
        if self._records_inplace(name + "_"):
            return self._become(out, name + "_", same_shape=False)
        self._check_inplace(name + "_")
        self._data = out._data
        return self

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"In-place ``{name}``: self becomes ``self.{name}(...)`` and is returned."
    return method


def fill_diagonal_(self: Tensor, fill_value: float, wrap: bool = False) -> Tensor:
    """Fill the main diagonal (all dims equal for ndim > 2) with ``fill_value``, in place, as torch.

    >>> import engine
    >>> engine.zeros(2, 2).fill_diagonal_(1.0).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if self.ndim < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1, got {self.ndim}")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length, got {self.shape}")
    self._check_inplace("fill_diagonal_")
    if self.ndim == 2:
        h, w = self.shape
        flat = self._data.reshape(-1) if self._data.flags.c_contiguous else None
        if flat is not None:
            end = h * w if wrap or h <= w else w * w
            flat[:end:w + 1] = fill_value
        else:
            n = builtins.min(h, w)
            self._data[np.arange(n), np.arange(n)] = fill_value
    else:
        n = self.shape[0]
        self._data[(np.arange(n),) * self.ndim] = fill_value
    return self


# ---- linalg: engine/linalg.py (engine.linalg); its torch.* spellings are top-level names too ------------

from engine.linalg import (  # noqa: E402
    cholesky,
    det,
    geqrf,
    inv,
    logdet,
    lu_unpack,
    matrix_exp,
    matrix_power,
    multi_dot,
    ormqr,
    pinv,
    qr,
    slogdet,
    solve,
    svd,
    triangular_solve,
)

# ---- top-level functions -----------------------------------------------------------------------------


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M) -> (..., P, R); the
    2-norm's gradient at distance 0 is 0, as torch.

    >>> import engine
    >>> engine.cdist(engine.tensor([[0.0, 0.0]]), engine.tensor([[3.0, 4.0]])).tolist()
    [[5.0]]
    """
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: "
                           f"{x2.shape[-1]}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    d = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    return d.norm(p, -1)


def block_diag(*tensors: Tensor) -> Tensor:
    """Block-diagonal matrix of 0-, 1- and 2-D tensors (as torch.block_diag).

    >>> import engine
    >>> engine.block_diag(engine.tensor([[1.0]]), engine.tensor([[2.0, 3.0]])).tolist()
    [[1.0, 0.0, 0.0], [0.0, 2.0, 3.0]]
    """
    import engine

    mats = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. Input {i} has "
                               f"{t.ndim} dimensions")
        mats.append(t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t)
    if not mats:
        return engine.zeros(1, 0)
    dtype = mats[0].dtype
    for m in mats[1:]:
        dtype = np.promote_types(dtype, m.dtype)
    cols = builtins.sum(m.shape[1] for m in mats)
    rows, c0 = [], 0
    for m in mats:
        m = m.astype(dtype)
        left = c0
        right = cols - c0 - m.shape[1]
        parts = [p for p in (engine.zeros(m.shape[0], left, dtype=dtype, device=m.device), m,
                             engine.zeros(m.shape[0], right, dtype=dtype, device=m.device))]
        rows.append(engine.cat(parts, 1))
        c0 += m.shape[1]
    return engine.cat(rows, 0)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:  # noqa: A002
    """All length-r combinations of the entries of a 1-D tensor, rows in lexicographic order."""
    import engine

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    n = input.shape[0]
    make = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    if r == 0:
        return engine.empty(0, dtype=input.dtype)
    idx = np.array(list(make(range(n), r)), dtype=np.int64).reshape(-1, r)
    return input[Tensor(idx).to(input.device)]  # (0, r) when there are none: still in the graph, as torch


def diagflat(input: Tensor, offset: int = 0) -> Tensor:  # noqa: A002
    """2-D matrix with the flattened input on diagonal ``offset``."""
    return input.reshape(-1).diag(offset)


def _tri_indices(op: str, row: int, col: int, offset: int, upper: bool, dtype, device) -> Tensor:
    r, c = np.triu_indices(row, offset, col) if upper else np.tril_indices(row, offset, col)
    return Tensor(np.stack([r, c]).astype(dtype or np.int64)).to(device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device="cpu", layout=None) -> Tensor:
    """(2, N) int64 coordinates of the lower triangle of a row x col matrix."""
    return _tri_indices("tril_indices", row, col, offset, False, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device="cpu", layout=None) -> Tensor:
    """(2, N) int64 coordinates of the upper triangle of a row x col matrix."""
    return _tri_indices("triu_indices", row, col, offset, True, dtype, device)


def broadcast_shapes(*shapes) -> tuple:
    """The broadcast shape of ``shapes`` (ints or tuples), as torch.broadcast_shapes."""
    try:
        return tuple(np.broadcast_shapes(*((s,) if isinstance(s, int) else tuple(s) for s in shapes)))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: {shapes}") from None


def numel(input: Tensor) -> int:  # noqa: A002
    """Number of entries."""
    return input.numel()


def is_tensor(obj) -> bool:
    """True for an engine Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:  # noqa: A002
    """True for a float dtype."""
    return input.dtype.kind == "f"


class set_grad_enabled(_GradMode):  # noqa: N801 - torch's name
    """Context manager/decorator, or a plain call, switching graph recording on or off (as torch).

    >>> import engine
    >>> with engine.set_grad_enabled(False):
    ...     engine.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool):
        from engine.function import _state

        super().__init__(bool(mode))
        self._before = _state.enabled
        _state.enabled = bool(mode)  # a plain call takes effect at once, as torch

    def __enter__(self):
        from engine.function import _state

        _state.prev.append(self._before)
        _state.enabled = self.enabled

    def __call__(self, fn):
        from engine.function import _state

        _state.enabled = self._before  # as a decorator it only applies inside the call
        return super().__call__(fn)


def get_default_dtype():
    """The factories' default float dtype (float32 unless engine.set_default_dtype changed it)."""
    from engine.factories import default_dtype

    return default_dtype()


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:  # noqa: N803
    """Vandermonde matrix of a 1-D tensor: columns x**(N-1), ..., x**0 (increasing: reversed)."""
    import engine

    if x.ndim != 1:
        raise RuntimeError(f"x must be a one-dimensional tensor, got shape {x.shape}")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    cols = [engine.ones_like(x) if k == 0 else (x if k == 1 else x ** k) for k in range(n)]
    if not increasing:
        cols = cols[::-1]
    return engine.stack(cols, 1) if cols else engine.empty(x.shape[0], 0, dtype=x.dtype)


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """Trapezoid-rule integral of y along ``dim`` (spacing dx, or sample points x)."""
    d = wrap_dim(dim, y.ndim, "trapezoid")
    n = y.shape[d]
    if n == 0:
        return y.sum(d)
    mid = (y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)) * 0.5
    if x is None:
        return mid.sum(d) * (1.0 if dx is None else dx)
    dxs = diff(x, dim=-1 if x.ndim == 1 else dim)
    if x.ndim == 1:
        dxs = dxs.reshape((-1,) + (1,) * (y.ndim - d - 1))
    return (mid * dxs).sum(d)


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """Running trapezoid-rule integral of y along ``dim`` (one entry fewer than y)."""
    d = wrap_dim(dim, y.ndim, "cumulative_trapezoid")
    n = y.shape[d]
    mid = (y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)) * 0.5 if n else y
    if x is None:
        return mid.cumsum(d) * (1.0 if dx is None else dx)
    dxs = diff(x, dim=-1 if x.ndim == 1 else dim)
    if x.ndim == 1:
        dxs = dxs.reshape((-1,) + (1,) * (y.ndim - d - 1))
    return (mid * dxs).cumsum(d)


# ---- more Tensor methods: windows, medians, norms, special functions, integer helpers ---------------


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:  # noqa: A002
    """Sliding windows of ``size`` with stride ``step`` along ``dimension``, as a new last dim:
    (..., n, ...) -> (..., (n - size) // step + 1, ..., size) (torch's Tensor.unfold).

    >>> import engine
    >>> engine.arange(5).unfold(0, 2, 2).tolist()
    [[0, 1], [2, 3]]
    """
    x = input.reshape(1) if input.ndim == 0 else input
    d = wrap_dim(dimension, x.ndim, "unfold")
    n = x.shape[d]
    if size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    nw = (n - size) // step + 1
    idx = (np.arange(nw)[:, None] * step + np.arange(size)).reshape(-1)
    out = x.index_select(d, Tensor(idx).to(x.device))
    out = out.reshape(x.shape[:d] + (nw, size) + x.shape[d + 1:]).movedim(d + 1, -1)
    return out.reshape(out.shape[1:]) if input.ndim == 0 else out


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):  # noqa: A002
    """The lower median ignoring nan (nan only where a slice is all nan); with ``dim``,
    ``(values, indices)`` as torch.nanmedian."""
    from engine import return_types
    from engine.tensor import _no_bool_kernel

    _no_bool_kernel(input, "median_cpu" if dim is None else "median_out")
    if dim is None:  # ties share the gradient, as torch.nanmedian()
        return reduce_ops.Median.apply(input, ignore_nan=True)
    x = input.reshape(1) if input.ndim == 0 else input
    ax = 0 if dim is None else wrap_dim(dim, x.ndim, "nanmedian")
    xp = array_module(x._data)
    if x.shape[ax] == 0:
        raise IndexError(f"nanmedian(): cannot reduce dim {ax} of size 0 (shape {input.shape})")
    order = xp.argsort(x._data, axis=ax, kind="stable")  # nan sorts last
    k = (~xp.isnan(x._data)).sum(axis=ax, keepdims=True) if x.dtype.kind == "f" else \
        xp.full(x.shape[:ax] + (1,) + x.shape[ax + 1:], x.shape[ax])
    pos = xp.maximum(k - 1, 0) // 2
    pick = xp.take_along_axis(order, pos, axis=ax).astype(np.int64)
    out = x._pick("nanmedian", pick, ax, keepdim, return_types.median)
    if input.ndim == 0:
        return return_types.median(out.values.reshape(()), out.indices.reshape(()))
    return out


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:  # noqa: A002
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` is scaled down to it (as torch)."""
    import engine

    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    d = wrap_dim(dim, input.ndim, "renorm")
    others = tuple(i for i in range(input.ndim) if i != d)
    norms = input.norm(p, others, keepdim=True)
    factor = engine.where(norms > maxnorm, maxnorm / (norms + 1e-7), engine.ones_like(norms))
    return input * factor


def _int_binary(op: str, fn_name: str):
    def fn(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
        import engine

        engine.functional._tensor_operands(op, input=input, other=other)
        if input.dtype.kind not in "iub" or other.dtype.kind not in "iub":
            bad = input.dtype if input.dtype.kind == "f" else other.dtype
            raise RuntimeError(f"\"{op}_cpu\" not implemented for '{bad}'")
        a, b = input._operands(other)
        return Tensor(getattr(array_module(a._data), fn_name)(a._data, b._data))

    fn.__name__ = op
    fn.__doc__ = f"Elementwise {op} of integer tensors (no gradient)."
    return fn


gcd = _int_binary("gcd", "gcd")
lcm = _int_binary("lcm", "lcm")


def ldexp(input: Tensor, other) -> Tensor:  # noqa: A002
    """``input * 2 ** other`` in the promoted float or complex dtype (float32 for integers), with gradients
    to both, as torch.ldexp.

    >>> ldexp(Tensor([3.0]), Tensor([2])).tolist()
    [12.0]
    """
    import engine

    engine.functional._tensor_operands("ldexp", input=input, other=other)
    e = other
    dt = engine.result_type(input, e)
    dt = dt if dt.kind in "fc" else np.dtype(np.float32)
    return input.astype(dt) * 2.0 ** e.astype(dt)


def nextafter(input: Tensor, other) -> Tensor:  # noqa: A002
    """The next float after input towards other (no gradient)."""
    import engine

    engine.functional._tensor_operands("nextafter", input=input, other=other)
    return elementwise_ops.Nextafter.apply(*input._operands(other))


def angle(input: Tensor) -> Tensor:  # noqa: A002
    """Argument of a real number: π where negative, 0 elsewhere, nan kept (float32 for integers)."""
    x = _float(input)
    xp = array_module(x._data)
    return Tensor(xp.where(xp.isnan(x._data), x._data, xp.where(x._data < 0, math.pi, 0.0)).astype(x.dtype))


def isreal(input: Tensor) -> Tensor:  # noqa: A002
    """Whether each entry is real: True for a real dtype, imag == 0 for a complex one (torch.isreal)."""
    if input.dtype.kind == "c":
        return Tensor(input._data.imag == 0)
    return Tensor(array_module(input._data).ones(input.shape, dtype=bool))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:  # noqa: A002
    """Out-of-place put: write (or add) ``source`` into the flattened input at ``index``."""
    n = input.numel()
    idx = index._data.reshape(-1).astype(np.int64)
    if idx.size and (int(idx.max()) >= n or int(idx.min()) < -n):
        raise IndexError(f"put: index out of range for tensor of {n} elements")
    idx = Tensor(idx % n if n else idx)
    flat = input.reshape(-1)
    src = source.reshape(-1)
    out = flat.index_add(0, idx, src) if accumulate else flat.index_copy(0, idx, src)
    return out.reshape(input.shape)


def lgamma(input: Tensor) -> Tensor:  # noqa: A002
    """log|Γ(x)| (float32 for integer input); gradient digamma.

    >>> import engine
    >>> round(engine.tensor([5.0]).lgamma().item(), 4)
    3.1781
    """

    return special.Lgamma.apply(_float(input))


def digamma(input: Tensor) -> Tensor:  # noqa: A002
    """ψ(x) = d/dx log Γ(x); gradient trigamma."""

    return special.Digamma.apply(_float(input))


def polygamma(n: int, input: Tensor) -> Tensor:  # noqa: A002
    """ψ⁽ⁿ⁾(x), the n-th derivative of digamma, for any n ≥ 0 (torch.polygamma); its gradient is
    polygamma(n + 1, x).

    >>> import engine
    >>> [f"{v:.4f}" for v in engine.polygamma(2, engine.tensor([1.0, 2.0])).tolist()]
    ['-2.4041', '-0.4041']
    """
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"polygamma(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n == 0:
        return digamma(input)
    return special.Polygamma.apply(_float(input), n=n)


def mvlgamma(input: Tensor, p: int) -> Tensor:  # noqa: A002
    """Multivariate log-gamma of dimension p: Σᵢ lgamma(x − i/2) + p(p−1)/4·log π. No domain check
    (torch 2.13 has none either: x ≤ (p−1)/2 gives what the sum gives).

    >>> import engine
    >>> f"{engine.mvlgamma(engine.tensor([-1.5]), p=1).item():.4f}"
    '0.8600'
    """
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _float(input)
    out = lgamma(x)
    for i in range(1, p):
        out = out + lgamma(x - i / 2)
    return out + p * (p - 1) / 4 * math.log(math.pi)


def i0(input: Tensor) -> Tensor:  # noqa: A002
    """I₀(x), the modified Bessel function of the first kind of order 0 (torch.i0); gradient I₁(x).

    >>> import engine
    >>> f"{engine.i0(engine.tensor([1.0])).item():.4f}"
    '1.2661'
    """
    return special_functions.I0.apply(_float(input))


def _standard_gamma(input: Tensor) -> Tensor:  # noqa: A002
    """Gamma(input, 1) draws (torch._standard_gamma), with the implicit reparameterization gradient:
    what ``distributions.Gamma.rsample`` builds on. An α ≤ 0 gives the dtype's tiny, as torch.

    >>> import engine
    >>> bool((engine._standard_gamma(engine.tensor([0.5, 3.0])) > 0).all())
    True
    """
    return special.StandardGamma.apply(_float(input))


def _standard_gamma_grad(input: Tensor, output: Tensor) -> Tensor:  # noqa: A002
    """∂x/∂α of Gamma(α = ``input``, 1) draws x = ``output`` (torch._standard_gamma_grad), no graph."""
    xp = array_module(input._data)
    return Tensor(special._standard_gamma_grad(xp, input._data, output._data).astype(input.dtype))


def poisson(input: Tensor, generator=None) -> Tensor:  # noqa: A002
    """Poisson(input) draws in input's dtype (torch.poisson); no gradient.

    >>> import engine
    >>> engine.poisson(engine.zeros(3)).tolist()
    [0.0, 0.0, 0.0]
    """
    from engine.rng import generator as default_generator

    gen = generator if generator is not None else default_generator(input.device)
    if input.dtype.kind != "f":
        raise NotImplementedError(f"poisson(): input must be floating point, got {input.dtype}")
    if bool((input._data < 0).any()):
        raise RuntimeError("poisson(): invalid Poisson rate, expected rate to be non-negative")
    xp = array_module(input._data)
    out = Tensor(xp.asarray(gen.poisson(input._data)).astype(input.dtype))
    return out + input * 0 if input.requires_grad else out  # torch: requires grad, zero gradient


def _polygamma_method(self: Tensor, n: int) -> Tensor:
    return polygamma(n, self)


def _random_fill(name: str, sample: Callable[[Tensor], Tensor]) -> Callable:
    def method(self: Tensor, *args, generator=None, **kwargs) -> Tensor:
        import engine

        if self.dtype.kind not in ("fiu" if name == "geometric_" else "f"):  # geometric_ fills integer tensors too
            raise NotImplementedError(f"{name}: expects a floating point tensor, got {self.dtype}")
        with engine.no_grad():
            vals = sample(self, *args, generator=generator, **kwargs)
        self._check_inplace(name)
        self._data[...] = vals._data.astype(self.dtype)
        return self

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Fill in place with {name[:-1]} samples (engine's generator, engine.manual_seed)."
    return method


def _geometric(x: Tensor, p: float, generator=None) -> Tensor:
    import engine

    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    u = engine.rand_like(x.astype(np.float64), generator=generator)
    return (((1 - u).log() / math.log1p(-p)).ceil()).clamp_min(1)


def _log_normal(x: Tensor, mean: float = 1, std: float = 2, generator=None) -> Tensor:
    import engine

    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return (engine.randn_like(x, generator=generator) * std + mean).exp()


def _cauchy(x: Tensor, median: float = 0, sigma: float = 1, generator=None) -> Tensor:
    import engine

    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")

    return ((engine.rand_like(x.astype(np.float64), generator=generator) - 0.5) * math.pi).tan() * sigma + median


def seed() -> int:
    """Seed the generators with a fresh random seed and return it (torch.seed)."""
    import os

    import engine

    s = int.from_bytes(os.urandom(8), "little") >> 1
    engine.manual_seed(s)
    return s


MORE_TENSOR_METHODS = {
    "unfold": unfold, "nanmedian": nanmedian, "renorm": renorm, "gcd": gcd, "lcm": lcm, "ldexp": ldexp,
    "nextafter": nextafter, "angle": angle, "isreal": isreal, "put": put, "matrix_exp": matrix_exp,
    "triangular_solve": lambda self, A, upper=True, transpose=False, unitriangular=False: triangular_solve(
        self, A, upper, transpose, unitriangular), "lgamma": lgamma, "digamma": digamma,
    "polygamma": _polygamma_method, "mvlgamma": mvlgamma, "i0": i0, "resolve_conj": lambda self: self,
    "resolve_neg": lambda self: self, "cuda": lambda self, device=None, non_blocking=False: self.to("gpu"),
    "geometric_": _random_fill("geometric_", _geometric), "log_normal_": _random_fill("log_normal_", _log_normal),
    "cauchy_": _random_fill("cauchy_", _cauchy),
}
MORE_TORCH_FUNCTIONS = {
    "nanmedian": nanmedian, "renorm": renorm, "gcd": gcd, "lcm": lcm, "ldexp": ldexp, "nextafter": nextafter,
    "angle": angle, "isreal": isreal, "lgamma": lgamma, "digamma": digamma, "polygamma": polygamma,
    "mvlgamma": mvlgamma, "i0": i0, "seed": seed, "matrix_exp": matrix_exp, "triangular_solve": triangular_solve,
    "resolve_conj": lambda input: input,  # noqa: A006
    "_standard_gamma": _standard_gamma, "_standard_gamma_grad": _standard_gamma_grad, "poisson": poisson,
}


# ---- statistics, scatters into slices, dtype info, grad-mode and tensor-introspection helpers ---------


def histogram(input: Tensor, bins=100, *, range=None, weight: Tensor | None = None,  # noqa: A002
              density: bool = False):
    """torch.histogram: (hist, bin_edges) of a float tensor; ``bins`` a count (equal bins over ``range``,
    default [min, max], widened by ±0.5 when they are equal) or a 1-D tensor of increasing edges; the last
    bin includes its right edge (no gradient).

    >>> import engine
    >>> engine.histogram(engine.tensor([0.0, 1.0, 2.0, 3.0]), bins=3).hist.tolist()
    [1.0, 1.0, 2.0]
    """
    if input.dtype.kind != "f":
        raise NotImplementedError(f'"histogramdd" not implemented for \'{input.dtype}\'')
    x = _host(input._data).reshape(-1)
    edges = _bin_edges("torch.histogram", x, bins, range, input.dtype)
    hist = _histogram_counts(x[:, None], [edges], weight, density)
    return _make("histogram", ("hist", "bin_edges"), (Tensor(hist.astype(input.dtype)).to(input.device),
                                                      Tensor(edges).to(input.device)))


def _host(a) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:  # noqa: A002
    """torch.gradient: the derivative along each of ``dim`` (None: all) by central differences inside and
    one-sided ones (first or second order) at the ends; ``spacing`` a number, one per dim, or one
    coordinate tensor per dim (uneven steps). A tuple of tensors, differentiable in ``input``.

    >>> import engine
    >>> engine.gradient(engine.tensor([1.0, 4.0, 9.0, 16.0]))[0].tolist()
    [3.0, 4.0, 6.0, 7.0]
    """
    import engine

    dims = list(range(input.ndim)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    dims = list(wrap_dims(dims, input.ndim, "gradient"))
    spacing = 1 if spacing is None else spacing  # torch's explicit None: unit spacing
    if not isinstance(spacing, (list, tuple)):
        spacing = [spacing] * len(dims)
    if len(spacing) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
                           f"arguments to have the same length, but got a spacing argument of length {len(spacing)} "
                           f"and a dim argument of length {len(dims)}.")
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    f = _float(input)
    outs = []
    for d, h in zip(dims, spacing):
        n = f.shape[d]
        if n < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least edge_order+1")

        def part(a, b, d=d):
            return f.narrow(d, a, b - a)
        if isinstance(h, Tensor):  # coordinates: uneven steps
            shape = [1] * f.ndim
            shape[d] = n - 1
            dx = (h[1:] - h[:-1]).astype(f.dtype).reshape(shape)
            hd, hs = dx.narrow(d, 0, n - 2), dx.narrow(d, 1, n - 2)
            mid = (-hs / (hd * (hd + hs)) * part(0, n - 2) + (hs - hd) / (hd * hs) * part(1, n - 1)
                   + hd / (hs * (hd + hs)) * part(2, n))
            d0, d1 = dx.narrow(d, 0, 1), dx.narrow(d, 1, 1) if n > 2 else None
            e1, e0 = dx.narrow(d, n - 2, 1), dx.narrow(d, n - 3, 1) if n > 2 else None
        else:
            d0 = d1 = e0 = e1 = float(h)
            mid = (part(2, n) - part(0, n - 2)) / (2 * float(h))
        if edge_order == 1:
            first = (part(1, 2) - part(0, 1)) / d0
            last = (part(n - 1, n) - part(n - 2, n - 1)) / e1
        else:  # second-order one-sided differences (numpy's formulas, as torch)
            first = (-(2 * d0 + d1) / (d0 * (d0 + d1)) * part(0, 1) + (d0 + d1) / (d0 * d1) * part(1, 2)
                     - d0 / (d1 * (d0 + d1)) * part(2, 3))
            last = (e1 / (e0 * (e0 + e1)) * part(n - 3, n - 2) - (e1 + e0) / (e0 * e1) * part(n - 2, n - 1)
                    + (2 * e1 + e0) / (e1 * (e0 + e1)) * part(n - 1, n))
        outs.append(engine.cat([first, mid, last], d) if n > 2 else engine.cat([first, last], d))
    return tuple(outs)


def cov(input: Tensor, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:  # noqa: A002
    """Covariance of the rows (variables) of a (vars, obs) matrix (1-D: one variable), as torch.cov:
    integer frequency weights ``fweights`` and observation weights ``aweights`` (both (obs,)) weight the
    mean and the sums, and the normalizer is Σw - correction·Σ(w·a)/Σw (Σw - correction without aweights).

    >>> import engine
    >>> round(engine.cov(engine.tensor([0.0, 1.0, 2.0]), fweights=engine.tensor([1, 1, 2])).item(), 4)
    0.9167
    """
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions")
    x = _float(input)
    x = x.reshape(1, -1) if x.ndim < 2 else x
    n = x.shape[1]
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is not None and (w.ndim > 1 or w.numel() != n):
            raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions and the same number of "
                               f"elements as the observations ({n}), but got shape {tuple(w.shape)}")
    if fweights is not None and fweights.dtype.kind not in "iu":
        raise RuntimeError(f"cov(): expected fweights to have integral dtype but got fweights with {fweights.dtype}"
                           " dtype")
    if aweights is not None and aweights.dtype.kind != "f":
        raise RuntimeError(f"cov(): expected aweights to have floating point dtype but got aweights with "
                           f"{aweights.dtype} dtype")
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is not None and bool((w._data < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative (got {w.tolist()})")
    if fweights is None and aweights is None:
        xc = x - x.mean(1, keepdim=True)
        c = (xc @ xc.mT.conj()) / builtins.max(n - correction, 0)
    else:
        # the weights keep their dtypes (real for complex input) and promote with x, as torch
        w = fweights if aweights is None else (aweights if fweights is None else fweights * aweights)
        w_sum = w.sum()
        xc = x - (x * w).sum(1, keepdim=True) / w_sum
        norm = w_sum - (correction * (w * aweights).sum() / w_sum if aweights is not None
                        else correction)
        c = ((xc * w) @ xc.mT.conj()) / norm.clamp(min=0)
    return c.reshape(()) if input.ndim < 2 or input.shape[0] == 1 else c  # one variable: 0-d, as torch


def corrcoef(input: Tensor) -> Tensor:  # noqa: A002
    """Pearson correlation coefficients of the rows, clipped to [-1, 1] (as torch.corrcoef)."""
    c = cov(input)
    if c.ndim == 0:
        return c / c
    if c.dtype.kind != "c":
        d = c.diagonal().sqrt()
        return (c / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1)
    d = c.diagonal().real.sqrt()  # complex: the diagonal is real; each part clipped on its own, as torch
    c = c / d.unsqueeze(1) / d.unsqueeze(0)
    return complex_(c.real.clamp(-1, 1), c.imag.clamp(-1, 1))


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:  # noqa: A002
    """input with its slice ``index`` along ``dim`` replaced by src (gradients to both)."""
    d = wrap_dim(dim, input.ndim, "select_scatter")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select_scatter(): index {index} out of range for tensor of size {list(input.shape)} at "
                         f"dimension {d}")
    want = input.shape[:d] + input.shape[d + 1:]
    if src.shape != want:
        raise RuntimeError(f"select_scatter: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(want)}")
    return input.index_copy(d, Tensor(np.array([index % n])).to(input.device), src.unsqueeze(d))


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None,  # noqa: A002
                  end: int | None = None, step: int = 1) -> Tensor:
    """input with ``input[..., start:end:step, ...]`` (along dim) replaced by src."""
    d = wrap_dim(dim, input.ndim, "slice_scatter")
    idx = np.arange(input.shape[d])[slice(start, end, step)]
    want = input.shape[:d] + (len(idx),) + input.shape[d + 1:]
    if src.shape != want:
        raise RuntimeError(f"slice_scatter: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(want)}")
    if len(idx) == 0:
        return input * 1
    return input.index_copy(d, Tensor(idx).to(input.device), src)


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0,  # noqa: A002
                     dim2: int = 1) -> Tensor:
    """input with its diagonal (offset, dim1, dim2) replaced by src."""
    d1, d2 = wrap_dim(dim1, input.ndim, "diagonal_scatter"), wrap_dim(dim2, input.ndim, "diagonal_scatter")
    x = input.movedim((d1, d2), (-2, -1))
    h, w = x.shape[-2:]
    rows = np.arange(builtins.max(0, -offset), h)
    cols = rows + offset
    keep = (cols >= 0) & (cols < w)
    rows, cols = rows[keep], cols[keep]
    want = x.shape[:-2] + (len(rows),)
    if src.shape != want:
        raise RuntimeError(f"diagonal_scatter: expected src to have a size equal to the diagonal of self. "
                           f"src size = {list(src.shape)}, diagonal size = {list(want)}")
    flat = x.reshape(x.shape[:-2] + (h * w,))
    if len(rows):
        flat = flat.index_copy(flat.ndim - 1, Tensor(rows * w + cols).to(input.device), src)
    return flat.reshape(x.shape).movedim((-2, -1), (d1, d2))


_FInfo = namedtuple("finfo", ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"])
_IInfo = namedtuple("iinfo", ["bits", "max", "min", "dtype"])


def finfo(dtype=None):
    """Machine limits of a float dtype as Python numbers (eps, max, min, tiny, bits, resolution), as
    torch.finfo.

    >>> import engine
    >>> engine.finfo(engine.float16).max
    65504.0
    """
    f = np.finfo(np.float32 if dtype is None else dtype)
    return _FInfo(f.bits, float(f.eps), float(f.max), float(f.min), float(f.tiny), float(f.smallest_normal),
                  float(10.0 ** -f.precision), f.dtype.name)


def iinfo(dtype):
    """Machine limits of an integer dtype as Python ints (max, min, bits), as torch.iinfo."""
    i = np.iinfo(dtype)
    return _IInfo(i.bits, int(i.max), int(i.min), i.dtype.name)


def is_nonzero(input: Tensor) -> bool:  # noqa: A002
    """The truth value of a one-element tensor."""
    if input.numel() != 1:
        what = "no values" if input.numel() == 0 else "more than one value"
        raise RuntimeError(f"Boolean value of Tensor with {what} is ambiguous")
    return bool(input._data.reshape(-1)[0] != 0)


def is_same_size(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """Whether the two shapes are equal."""
    return input.shape == other.shape


def unravel_index(indices, shape) -> tuple:
    """Coordinates of flat ``indices`` in ``shape`` (int64 tensors), as torch.unravel_index."""
    idx = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = math.prod(shape)
    if (idx < -n).any() or (idx >= n).any():
        raise RuntimeError(f"unravel_index: index out of bounds for shape {list(shape)}")
    out = np.unravel_index(np.asarray(idx) % builtins.max(n, 1), shape)
    return tuple(Tensor(np.asarray(o, dtype=np.int64)) for o in out)


def _stride(self: Tensor, dim: int | None = None):
    """Strides in elements (torch's Tensor.stride)."""
    st = tuple(s // self._data.itemsize for s in self._data.strides)
    return st if dim is None else st[wrap_dim(dim, self.ndim, "stride")]


def _detach_(self: Tensor) -> Tensor:
    """Detach in place: self leaves the graph and stops requiring grad (a view raises, as torch)."""
    if self._ctx is not None and getattr(self._data, "base", None) is not None and any(
            p is not None and p._vc is self._vc for p in self._ctx.parents or ()):
        raise RuntimeError(  # torch's words
            "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel (DDP) for "
            "training, and gradient_as_bucket_view is set as True, gradients are views of DDP buckets, and hence "
            "detach_() cannot be called on these gradients. To fix this error, please refer to the "
            "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.")
    self._ctx = None
    self._requires_grad = False
    return self


MORE_TENSOR_METHODS.update({
    "cov": cov, "corrcoef": corrcoef, "select_scatter": select_scatter, "slice_scatter": slice_scatter,
    "diagonal_scatter": diagonal_scatter, "stride": _stride, "detach_": _detach_,
    "is_signed": lambda self: self.dtype.kind in "fi",
    "get_device": lambda self: -1 if self.device == "cpu" else 0,
    "data_ptr": lambda self: int(self._data.ctypes.data) if isinstance(self._data, np.ndarray)
    else int(self._data.data.ptr),
    "is_nonzero": is_nonzero, "is_same_size": is_same_size,
})
MORE_TORCH_FUNCTIONS.update({
    "cov": cov, "corrcoef": corrcoef, "select_scatter": select_scatter, "slice_scatter": slice_scatter,
    "diagonal_scatter": diagonal_scatter, "finfo": finfo, "iinfo": iinfo, "inference_mode": inference_mode,
    "is_inference_mode_enabled": is_inference_mode_enabled,
    "is_nonzero": is_nonzero, "is_same_size": is_same_size, "unravel_index": unravel_index,
})
from engine.factories import set_default_dtype  # noqa: E402

MORE_TORCH_FUNCTIONS["set_default_dtype"] = set_default_dtype
# torch.* spellings of F functions whose leading positional parameters are the same as F's
F_ALIASES = ["cosine_similarity", "pairwise_distance", "pdist", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
             "conv_transpose2d", "conv_transpose3d", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
             "layer_norm", "group_norm", "rms_norm", "pixel_shuffle", "pixel_unshuffle", "selu", "celu", "rrelu",
             "hardshrink", "threshold", "prelu", "bilinear", "dropout", "alpha_dropout", "feature_alpha_dropout",
             "adaptive_avg_pool1d", "adaptive_max_pool1d", "cosine_embedding_loss", "hinge_embedding_loss",
             "margin_ranking_loss", "triplet_margin_loss"]


# ---- last aliases and small helpers -------------------------------------------------------------------


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """Bool tensor: whether each entry of ``elements`` is in ``test_elements`` (torch.isin)."""
    a = elements._data if isinstance(elements, Tensor) else np.asarray(elements)
    b = test_elements._data if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    xp = array_module(a)
    return Tensor(xp.isin(a, b, invert=invert))


def rsub(input: Tensor, other, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """``other - alpha * input``; ``input`` must be a Tensor (torch's TypeError), ``other`` may be a number."""
    if not isinstance(input, Tensor):
        raise TypeError(f"rsub() received an invalid combination of arguments - got ({type(input).__name__}, "
                        f"{type(other).__name__}): argument 'input' must be Tensor")
    return other - (input if alpha == 1 else input * alpha)


def frexp(input: Tensor):  # noqa: A002
    """(mantissa, exponent int32) with input = mantissa · 2**exponent; floats only, as torch. The
    mantissa's gradient is grad / 2**exponent.

    >>> import engine
    >>> engine.frexp(engine.tensor([6.0])).mantissa.tolist(), engine.frexp(engine.tensor([6.0])).exponent.tolist()
    ([0.75], [3])
    """
    if input.dtype.kind != "f":
        raise RuntimeError(f"torch.frexp() only supports floating-point dtypes, got {input.dtype}")
    e = array_module(input._data).frexp(input._data)[1]
    m = elementwise_ops.FrexpMantissa.apply(input)
    return _make("frexp", ("mantissa", "exponent"), (m, Tensor(e.astype(np.int32))))


def cholesky_inverse(L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """(L Lᴴ)⁻¹ from a Cholesky factor L (upper: (Uᴴ U)⁻¹)."""
    _square("cholesky_inverse", L)
    a = L.mH @ L if upper else L @ L.mH
    return inv(a)


def cholesky_solve(B: Tensor, L: Tensor, upper: bool = False) -> Tensor:  # noqa: N803
    """X with (L Lᴴ) X = B from a Cholesky factor L (upper: (Uᴴ U))."""
    _square("cholesky_solve", L)
    a = L.mH @ L if upper else L @ L.mH
    return solve(a, B)


def embedding(weight: Tensor, indices, padding_idx: int = -1, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """torch.embedding (weight first, unlike F.embedding)."""
    import engine.functional as F  # noqa: N812

    return F.embedding(indices, weight, padding_idx=None if padding_idx < 0 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def _window(name: str, fn: Callable[[np.ndarray, int], np.ndarray]):
    def window(window_length: int, periodic: bool = True, *, dtype=None, device=None,
               requires_grad: bool = False) -> Tensor:
        from engine.factories import default_dtype

        if window_length < 0:
            raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
        if window_length <= 1:
            w = np.ones(window_length)
        else:
            n = window_length + 1 if periodic else window_length
            w = fn(np.arange(n), n)[:window_length]
        return Tensor(w.astype(dtype or default_dtype()), requires_grad=requires_grad, device=device)

    window.__name__ = name
    window.__doc__ = f"torch.{name}: the window of ``window_length`` samples (periodic by default)."
    return window


hann_window = _window("hann_window", lambda k, n: 0.5 - 0.5 * np.cos(2 * np.pi * k / (n - 1)))
hamming_window = _window("hamming_window", lambda k, n: 0.54 - 0.46 * np.cos(2 * np.pi * k / (n - 1)))
blackman_window = _window("blackman_window", lambda k, n: 0.42 - 0.5 * np.cos(2 * np.pi * k / (n - 1))
                          + 0.08 * np.cos(4 * np.pi * k / (n - 1)))
bartlett_window = _window("bartlett_window", lambda k, n: 1 - np.abs(2 * k / (n - 1) - 1))


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None, device=None,
                  requires_grad: bool = False) -> Tensor:
    """The Kaiser window ``I0(beta * sqrt(1 - ((k - a) / a)**2)) / I0(beta)``, ``a = (N - 1) / 2``, over
    ``N = window_length`` samples (``+ 1`` then the last dropped when ``periodic``), as torch.kaiser_window:
    a leaf, computed in the dtype (a float one).

    >>> import engine
    >>> [round(v, 4) for v in engine.kaiser_window(3, False, 2.0).tolist()]
    [0.4387, 1.0, 0.4387]
    """
    from engine.factories import default_dtype

    dt = np.dtype(dtype) if dtype is not None else default_dtype()
    if dt.kind != "f":
        raise RuntimeError(f"kaiser_window expects floating point dtypes, got: {dt.name}")
    if window_length < 0:
        raise RuntimeError(f"kaiser_window requires non-negative window_length, got window_length={window_length}")
    if window_length <= 1:
        return Tensor(np.ones(window_length, dtype=dt), requires_grad=requires_grad, device=device)
    n = window_length + 1 if periodic else window_length
    alpha, b = dt.type((n - 1) / 2.0), dt.type(beta)  # torch's kernel: every step in the dtype
    with np.errstate(invalid="ignore"):
        ratio = (np.arange(n, dtype=dt) - alpha) / alpha
        x = b * np.sqrt(np.abs(dt.type(1) - ratio * ratio))
    w = (special_functions.i0(np, x).astype(dt) / special_functions.i0(np, np.asarray(b)).astype(dt))
    w = w.astype(dt)[:window_length]
    return Tensor(w, requires_grad=requires_grad, device=device)


def _torch_slogdet(input: Tensor):  # noqa: A002
    """torch.slogdet / Tensor.slogdet: linalg.slogdet's (sign, logabsdet) as torch.return_types.slogdet."""
    return _make("slogdet", ("sign", "logabsdet"), tuple(slogdet(input)))


def _torch_qr(input: Tensor, some: bool = True):  # noqa: A002
    """Deprecated torch.qr / Tensor.qr: (Q, R) as torch.return_types.qr (some=False: 'complete')."""
    return _make("qr", ("Q", "R"), tuple(qr(input, "reduced" if some else "complete")))


def _torch_lu(A: Tensor, pivot: bool = True, get_infos: bool = False):  # noqa: N803
    """Deprecated torch.lu / Tensor.lu: (LU, pivots), plus infos with get_infos=True; a singular A does not
    raise (as torch's)."""
    from engine.linalg import lu_factor_ex

    out = _make("_lu_with_info", ("LU", "pivots", "infos"), tuple(lu_factor_ex(A, pivot=pivot)))
    return out if get_infos else tuple(out[:2])


def _torch_lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:  # noqa: N803
    """Deprecated torch.lu_solve / Tensor.lu_solve: linalg.lu_solve with the right-hand side first."""
    from engine.linalg import lu_solve

    return lu_solve(LU_data, LU_pivots, b)


def _torch_svd(self: Tensor, some: bool = True, compute_uv: bool = True):
    """Deprecated torch.svd: (U, S, V) with V (not Vh)."""
    u, s, vh = svd(self, full_matrices=not some)
    return _make("svd", ("U", "S", "V"), (u, s, vh.mH))


MORE_TENSOR_METHODS.update({
    "isin": isin, "frexp": frexp, "cholesky_inverse": cholesky_inverse,
    "cholesky_solve": lambda self, input2, upper=False: cholesky_solve(self, input2, upper),
    "adjoint": lambda self: self.mT, "conj": lambda self: self, "conj_physical": lambda self: self,
    "is_conj": lambda self: False, "is_neg": lambda self: False, "is_inference": lambda self: False,
    "split_with_sizes": lambda self, split_sizes, dim=0: tuple(self.split(list(split_sizes), dim)),
    "unsafe_split": lambda self, split_size, dim=0: _unsafe(self.split(split_size, dim), "UnsafeSplit"),
    "unsafe_chunk": lambda self, chunks, dim=0: _unsafe(self.chunk(chunks, dim), "UnsafeSplit"),
    "unsafe_split_with_sizes": lambda self, split_sizes, dim=0: _unsafe(self.split(list(split_sizes), dim),
                                                                        "UnsafeSplitWithSizes"),
    "narrow_copy": lambda self, dim, start, length: self.narrow(dim, start, length).clone(),
    "prelu": lambda self, weight: __import__("engine.functional", fromlist=["prelu"]).prelu(self, weight),
    "qr": _torch_qr, "svd": _torch_svd, "slogdet": _torch_slogdet, "lu": _torch_lu, "lu_solve": _torch_lu_solve,
})
MORE_TORCH_FUNCTIONS.update({
    "isin": isin, "rsub": rsub, "frexp": frexp, "lu_unpack": lu_unpack, "cholesky_inverse": cholesky_inverse,
    "cholesky_solve": cholesky_solve, "embedding": embedding, "hann_window": hann_window,
    "hamming_window": hamming_window, "blackman_window": blackman_window, "bartlett_window": bartlett_window,
    "kaiser_window": kaiser_window,
    "adjoint": lambda input: input.mT, "conj": lambda input: input,  # noqa: A006
    "resolve_neg": lambda input: input, "is_complex": lambda input: False,  # noqa: A006
    "is_signed": lambda input: input.dtype.kind in "fi",  # noqa: A006
    "clone": lambda input, *, memory_format=None: input.clone(memory_format=memory_format),  # noqa: A006
    "detach": lambda input: input.detach(),  # noqa: A006
    "asarray": lambda obj, *, dtype=None, device=None, copy=None, requires_grad=False: _asarray(obj, dtype, device,
                                                                                              requires_grad),
    "chain_matmul": lambda *matrices: multi_dot(matrices), "qr": _torch_qr, "slogdet": _torch_slogdet,
    "lu": _torch_lu, "lu_solve": _torch_lu_solve,
    "svd": lambda input, some=True, compute_uv=True: _torch_svd(input, some, compute_uv),  # noqa: A006
    "compile": lambda model=None, **kwargs: _compile(model, **kwargs),
    "set_float32_matmul_precision": lambda precision: _float32_matmul_precision(precision),
    "get_float32_matmul_precision": lambda: _matmul_precision[0],
    "initial_seed": lambda: __import__("engine.rng", fromlist=["default_generator"]).default_generator.initial_seed(),
    "get_rng_state": lambda: __import__("engine.rng", fromlist=["get_state"]).get_state(),
    "set_rng_state": lambda state: __import__("engine.rng", fromlist=["set_state"]).set_state(state),
})


def _compile(model=None, **kwargs):
    """torch.compile's signature: the engine runs eagerly, so this returns ``model`` (or, as a decorator
    without one, the function) unchanged; the keyword options (backend, mode, fullgraph, dynamic, ...)
    are accepted and have no effect. Lets a script written for torch 2 run as it is."""
    if model is None:
        return lambda fn: fn
    return model


_matmul_precision = ["highest"]


def _float32_matmul_precision(precision: str) -> None:
    """torch.set_float32_matmul_precision: checked and remembered; the CPU matmuls are float32 always
    (TF32 on a GPU is engine.amp's business)."""
    if precision not in ("highest", "high", "medium"):  # torch warns and keeps the old setting
        import warnings

        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=3)
        return
    _matmul_precision[0] = precision


def _asarray(obj, dtype, device, requires_grad):
    import engine

    t = engine.as_tensor(obj, dtype=dtype, device=device)
    return t.requires_grad_() if requires_grad else t


# ---- in-place methods torch has that had no form here: Python callables, resize/set, index_reduce ------



def _python_callable(self: Tensor, what: str, fn, **others: Tensor) -> list:
    """Checks shared by apply_/map_/map2_ (CPU, no grad, other tensors of self's dtype broadcast to its
    shape); returns the others' values as Python lists in self's element order."""
    if self.device != "cpu":
        raise TypeError(f"{what}() is only implemented on CPU tensors (got one on {self.device})")
    if not callable(fn):
        raise TypeError(f"{what}(): callable must be a Python callable, got {type(fn).__name__}")
    for t in (self, *others.values()):
        if t.requires_grad:
            raise RuntimeError(f"Can't call {what}() on Variable that requires grad. Use var.detach().{what}() "
                               "instead.")
    values = []
    for name, t in others.items():
        if t.dtype != self.dtype:
            raise TypeError(f"{what}: expected torch.{scalar_type_name(self.dtype)}Tensor for "
                            f"{'argument ' if what == 'map2_' else ''}'{name}' (got "
                            f"torch.{scalar_type_name(t.dtype)}Tensor)")
        try:
            values.append(np.broadcast_to(t._data, self.shape).ravel().tolist())
        except ValueError:
            raise RuntimeError(f"{what}: '{name}' of shape {list(t.shape)} can't be expanded to self's shape "
                               f"{list(self.shape)}") from None
    return values


def _write_python(self: Tensor, results: list) -> Tensor:
    for r in results:
        if not isinstance(r, (int, float, np.number, bool, np.bool_)):
            raise TypeError(f"must be real number, not {type(r).__name__}")
    self._data[...] = np.array(results).astype(self.dtype).reshape(self.shape)
    self._vc[0] += 1
    return self


def apply_(self: Tensor, callable: Callable) -> Tensor:  # noqa: A002
    """Replace each element ``v`` with ``callable(v)`` (a Python number), in place; CPU only, and not
    on a tensor that requires grad (as torch: it is slow and outside the graph).

    >>> import engine
    >>> engine.tensor([1.0, 2.0]).apply_(lambda v: v * 10).tolist()
    [10.0, 20.0]
    """
    _python_callable(self, "apply_", callable)
    return _write_python(self, [callable(v) for v in self._data.ravel().tolist()])


def map_(self: Tensor, tensor: Tensor, callable: Callable) -> Tensor:  # noqa: A002
    """``self[i] = callable(self[i], tensor[i])`` in place, ``tensor`` broadcast to self's shape (CPU).

    >>> import engine
    >>> engine.tensor([1.0, 2.0]).map_(engine.tensor([10.0, 20.0]), lambda a, b: a + b).tolist()
    [11.0, 22.0]
    """
    (other,) = _python_callable(self, "map_", callable, other=tensor)
    return _write_python(self, [callable(a, b) for a, b in zip(self._data.ravel().tolist(), other)])


def map2_(self: Tensor, x: Tensor, y: Tensor, callable: Callable) -> Tensor:  # noqa: A002
    """``self[i] = callable(self[i], x[i], y[i])`` in place, ``x`` and ``y`` broadcast to self (CPU).

    >>> import engine
    >>> engine.ones(2).map2_(engine.ones(2), engine.full((2,), 3.0), lambda a, b, c: a + b * c).tolist()
    [4.0, 4.0]
    """
    xs, ys = _python_callable(self, "map2_", callable, x=x, y=y)
    return _write_python(self, [callable(a, b, c) for a, b, c in zip(self._data.ravel().tolist(), xs, ys)])


def resize_(self: Tensor, *sizes, memory_format=None) -> Tensor:
    """Give self the shape ``sizes``, in place, keeping its first elements (row-major; new ones are
    uninitialised), as torch's resize_. Not on a tensor that requires grad.

    >>> import engine
    >>> engine.arange(6.0).resize_(2, 2).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    shape = tuple(int(n) for n in (sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes))
    if any(n < 0 for n in shape):
        raise RuntimeError(f"resize_(): sizes must be non-negative, got {list(shape)}")
    n = math.prod(shape)
    flat = self._data.reshape(-1)  # a view where self is contiguous: shrinking keeps torch's shared memory
    if n > flat.size:
        grown = array_module(self._data).empty(n, dtype=self.dtype)
        grown[:flat.size] = flat
        flat = grown
    self._data = flat[:n].reshape(shape)
    self._vc[0] += 1
    return self


def resize_as_(self: Tensor, the_template: Tensor, *, memory_format=None) -> Tensor:
    """``self.resize_(the_template.shape)``.

    >>> import engine
    >>> engine.zeros(4).resize_as_(engine.ones(2, 2)).shape
    (2, 2)
    """
    return resize_(self, the_template.shape)


def set_(self: Tensor, source: Tensor | None = None, storage_offset: int = 0, size=None, stride=None) -> Tensor:
    """Make self share ``source``'s memory (same dtype), or a strided window of it
    (``storage_offset``, ``size``, ``stride`` in elements of its flat memory); ``set_()`` empties self.

    >>> import engine
    >>> src = engine.arange(3.0)
    >>> t = engine.zeros(5).set_(src); t[0] = 9.0; src.tolist()
    [9.0, 1.0, 2.0]
    """
    self._check_inplace("set_")  # torch's leaf error in grad mode
    if source is None:
        self._data = array_module(self._data).empty((0,), dtype=self.dtype)
    else:
        if not isinstance(source, Tensor):
            raise TypeError(f"set_(): argument 'source' must be Tensor, not {type(source).__name__}")
        if source.dtype != self.dtype:
            from engine.out import _CPP

            raise RuntimeError(f"Could not set tensor of type {_CPP.get(source.dtype.name)} to a tensor of type "
                               f"{_CPP.get(self.dtype.name)}")
        data = source._data
        if size is not None:
            flat = data.reshape(-1)
            if flat.base is None and flat is not data:  # reshape copied: source is not contiguous
                raise RuntimeError("set_(): a storage window needs a contiguous source")
            stride = stride if stride is not None else [math.prod(size[i + 1:]) for i in range(len(size))]
            data = array_module(data).lib.stride_tricks.as_strided(
                flat[storage_offset:], shape=tuple(size), strides=tuple(s * data.itemsize for s in stride))
        self._data = data
    return self


def index_reduce(self: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """Reduce the slices of ``source`` along ``dim`` into self's slices ``index`` ("prod", "mean", "amax"
    or "amin"; ``include_self=False`` leaves self's values out where a slice gets any), as
    torch.index_reduce; gradients reach self and source (through scatter_reduce).

    >>> import engine
    >>> engine.ones(2).index_reduce(0, engine.tensor([1, 1]), engine.tensor([2.0, 3.0]), "prod").tolist()
    [1.0, 6.0]
    """
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim > 1:
        raise IndexError(f"index_reduce_(): Index is supposed to be a vector, but got dim: {idx.ndim} with size: "
                         f"{list(idx.shape)}")
    if idx.dtype not in (np.int64, np.int32):
        raise RuntimeError(f"index_reduce_(): Expected dtype int32/int64 for index but got: "
                           f"{scalar_type_name(idx.dtype)}")
    if source.dtype != self.dtype:
        raise RuntimeError(f"index_reduce_(): self ({scalar_type_name(self.dtype)}) and source "
                           f"({scalar_type_name(source.dtype)}) must have the same scalar type")
    d = wrap_dim(dim, self.ndim, "index_reduce")
    src_shape = source.shape if source.ndim else (1,)
    if self.ndim != len(src_shape) and self.ndim or any(
            a != b for i, (a, b) in enumerate(zip(self.shape, src_shape)) if i != d):
        raise RuntimeError(f"source tensor shape must match self tensor shape, excluding the specified dimension. "
                           f"Got self.shape = {list(self.shape)} source.shape = {list(source.shape)}")
    if idx.size != src_shape[d]:
        raise RuntimeError(f"index_reduce_(): Number of indices ({idx.size}) should be equal to source.size(dim): "
                           f"({src_shape[d]}), for dim: {dim}")
    if idx.size and (idx.min() < 0 or idx.max() >= (self.shape[d] if self.ndim else 1)):
        raise IndexError("index out of range in self")
    if not self.ndim:  # a 0-d self: its one slice
        return index_reduce(self.reshape(1), 0, index, source.reshape(1), reduce,
                            include_self=include_self).reshape(())
    along = [1] * self.ndim
    along[d] = -1
    full = array_module(self._data).broadcast_to(idx.astype(np.int64).reshape(along), source.shape)
    return self.scatter_reduce(d, Tensor(full), source, reduce, include_self=include_self)


def igamma(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized lower incomplete gamma function P(input, other): torch.igamma, engine.special.gammainc.

    >>> import engine
    >>> round(engine.igamma(engine.tensor([1.0]), engine.tensor([1.0])).item(), 4)
    0.6321
    """
    from engine.special import gammainc

    return gammainc(input, other)


def igammac(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P: torch.igammac.

    >>> import engine
    >>> round(engine.igammac(engine.tensor([1.0]), engine.tensor([1.0])).item(), 4)
    0.3679
    """
    from engine.special import gammaincc

    return gammaincc(input, other)


def conj_physical_(self: Tensor) -> Tensor:
    """In-place ``conj_physical``: conjugates a complex tensor's entries (a real one is unchanged)."""
    return self._inplace_result("conj_physical_", complex_conj(self)) if self.dtype.kind == "c" else self


MORE_TENSOR_METHODS.update({
    "apply_": apply_, "map_": map_, "map2_": map2_, "resize_": resize_, "resize_as_": resize_as_, "set_": set_,
    "index_reduce": index_reduce, "igamma": igamma, "igammac": igammac,
    "conj_physical_": conj_physical_, "share_memory_": lambda self: self,  # one process's memory
})
MORE_TORCH_FUNCTIONS.update({"index_reduce": index_reduce, "igamma": igamma, "igammac": igammac})
# ---- shape/indexing: torch.* spellings of the methods above, and the *_copy family ---------------------


def fill(input: Tensor, value) -> Tensor:  # noqa: A002
    """A tensor of input's shape and dtype filled with ``value`` (a number or a 0-d tensor, which gets the
    gradient), as torch.fill.

    >>> import engine
    >>> engine.fill(engine.zeros(2, dtype=engine.int64), 1.7).tolist()
    [1, 1]
    """
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                           f"dimensions.")
    return input.masked_fill(Tensor(array_module(input._data).ones(input.shape, dtype=bool)), value)


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    """``input.narrow(dim, start, length)`` in its own memory, as torch.narrow_copy.

    >>> import engine
    >>> engine.narrow_copy(engine.arange(4), 0, 1, 2).tolist()
    [1, 2]
    """
    if input.ndim and dim >= input.ndim:  # torch's narrow_copy: RuntimeError past the end (IndexError below -ndim)
        raise RuntimeError(f"narrow_copy(): dim {dim} out of range for a {input.ndim}-d tensor")
    return input.narrow(dim, start, length).clone()


def _unsafe(pieces: list, name: str) -> tuple:
    """torch's unsafe_split/unsafe_chunk: the pieces share the input's memory but are no views to autograd
    (no base, a version counter of their own), so an in-place op on one is allowed, as torch's: it writes the
    input's memory, and neither the input's graph nor a backward that saved the input sees it."""
    for p in pieces:
        p._view, p._vc = None, [0]
        if p._ctx is not None:
            p._ctx.torch_name = name + "Backward0"  # grad_fn.name(), as torch's
    return tuple(pieces)


def _copy_of(view: Callable, name: str) -> Callable:
    """torch's ``<view>_copy``: the view op's result in its own memory (a tuple of them for unbind/split)."""
    def fn(input: Tensor, *args, **kwargs):  # noqa: A002
        out = view(input, *args, **kwargs)
        return tuple(t.clone() for t in out) if isinstance(out, (tuple, list)) else out.clone()

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}: ``torch.{name[:-5]}(input, ...)`` copied into new memory."
    return fn


def _imag(input: Tensor):  # noqa: A002
    raise RuntimeError(f"imag is not implemented for tensors with non-complex dtypes (got {input.dtype}).")


_COPY_VIEWS = {
    "view_copy": lambda input, *size: input.view(*size), "permute_copy": lambda input, dims: input.permute(*dims),
    "transpose_copy": lambda input, dim0, dim1: input.transpose(dim0, dim1), "t_copy": lambda input: input.t(),
    "squeeze_copy": lambda input, dim=None: input.squeeze() if dim is None else input.squeeze(dim),
    "unsqueeze_copy": lambda input, dim: input.unsqueeze(dim),
    "expand_copy": lambda input, size, *, implicit=False: input.expand(*size),
    "diagonal_copy": lambda input, offset=0, dim1=0, dim2=1: input.diagonal(offset, dim1, dim2),
    "unbind_copy": lambda input, dim=0: input.unbind(dim),
    "unfold_copy": lambda input, dimension, size, step: input.unfold(dimension, size, step),
    "split_with_sizes_copy": lambda input, split_sizes, dim=0: input.split_with_sizes(split_sizes, dim),
    "alias_copy": lambda input: input,
}
MORE_TORCH_FUNCTIONS.update({name: _copy_of(view, name) for name, view in _COPY_VIEWS.items()})
MORE_TORCH_FUNCTIONS.update({
    "fill": fill, "narrow_copy": narrow_copy, "put": put,
    "index_put": lambda input, indices, values, accumulate=False: input.index_put(indices, values, accumulate),
    "split_with_sizes": lambda input, split_sizes, dim=0: input.split_with_sizes(split_sizes, dim),
    "unsafe_split": lambda input, split_size, dim=0: input.unsafe_split(split_size, dim),
    "unsafe_chunk": lambda input, chunks, dim=0: input.unsafe_chunk(chunks, dim),
    "unsafe_split_with_sizes": lambda input, split_sizes, dim=0: input.unsafe_split_with_sizes(split_sizes, dim),
    "constant_pad_nd": lambda input, pad, value=0: __import__("engine.functional", fromlist=["pad"]).pad(
        input, pad, "constant", value),
    "real": lambda input: input, "imag": _imag, "conj_physical": lambda input: input,  # no complex dtypes
})
MORE_TENSOR_METHODS.update({"diagflat": diagflat, "narrow_copy": narrow_copy})


# ---- session 15 leftovers: histogramdd, nonzero_static, the randomized low-rank SVD/PCA -----------------


def _bin_edges(op: str, x: np.ndarray, bins, lo_hi, dtype) -> np.ndarray:
    """One dim's bin edges as torch.histogram(dd): a 1-D tensor of edges as given, or ``bins`` equal bins over
    ``lo_hi`` (None: the data's [min, max], [0, 1] when empty), widened by ±0.5 when the two are equal."""
    if isinstance(bins, Tensor):
        return _host(bins._data).astype(dtype)
    # no range: the data's [min, max], or torch's [0, 1] for no data
    lo, hi = (float(x.min()), float(x.max())) if lo_hi is None and x.size else (lo_hi or (0.0, 1.0))
    if lo > hi:
        raise RuntimeError(f"{op}: min should not exceed max, but got min {lo} max {hi}")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, int(bins) + 1).astype(dtype)


def _upper_bound(edges: np.ndarray, v: np.ndarray) -> np.ndarray:
    """std::upper_bound's index (the first edge > v), vectorised: torch bins by it, so edges that are not
    increasing give torch's answer too."""
    first, count = np.zeros(v.shape, np.int64), np.full(v.shape, len(edges), np.int64)
    while (count > 0).any():
        step = count // 2
        mid = first + step
        right = (count > 0) & ~(v < edges[np.minimum(mid, len(edges) - 1)])
        first, count = np.where(right, mid + 1, first), np.where(right, count - step - 1, step)
    return first


def _histogram_counts(pts: np.ndarray, edges: list, weight: Tensor | None, density: bool) -> np.ndarray:
    """torch's histogramdd kernel on (N, D) points: a point counts (or adds its weight) when each coordinate
    lies in [first edge, last edge]; its bin is the last edge <= it (the last bin includes its right edge).
    density: divided by the total and by each bin's widths."""
    dtype = edges[0].dtype
    w = np.ones(len(pts), dtype) if weight is None else _host(weight._data).reshape(-1).astype(dtype)
    keep = np.ones(len(pts), bool)
    pos = []
    for d, e in enumerate(edges):
        v = pts[:, d]
        keep &= (v >= e[0]) & (v <= e[-1])
        pos.append(np.minimum(_upper_bound(e, v) - 1, len(e) - 2))
    hist = np.zeros(tuple(len(e) - 1 for e in edges), dtype)
    np.add.at(hist, tuple(p[keep] for p in pos), w[keep])
    if density:
        with np.errstate(divide="ignore", invalid="ignore"):
            hist = hist / hist.sum()
            for d, e in enumerate(edges):
                hist = hist / np.diff(e).reshape((-1,) + (1,) * (len(edges) - 1 - d))
    return hist


def histogramdd(input: Tensor, bins=10, *, range=None, weight: Tensor | None = None,  # noqa: A002
                density: bool = False):
    """torch.histogramdd: (hist, bin_edges) of the points in ``input``'s last dim (D coordinates); ``bins``
    a count, one count per dim, or one 1-D tensor of increasing edges per dim; ``range`` 2·D numbers (min,
    max per dim). The last bin of each dim includes its right edge; no gradient.

    >>> import engine
    >>> engine.histogramdd(engine.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), bins=2).hist.tolist()
    [[0.0, 1.0], [1.0, 1.0]]
    """
    if input.dtype.kind != "f":
        raise NotImplementedError(f'"histogramdd" not implemented for \'{input.dtype}\'')
    if input.ndim < 2:
        raise RuntimeError(f"torch.histogramdd: input tensor should have at least 2 dimensions, got shape "
                           f"{tuple(input.shape)}")
    d = input.shape[-1]
    pts = _host(input._data).reshape(-1, d)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * d
    if len(per_dim) != d:
        raise RuntimeError(f"histogramdd: The size of bins must be equal to the innermost dimension of the input "
                           f"(got {len(per_dim)} bins for input shape {tuple(input.shape)}).")
    if range is not None and len(range) != 2 * d:
        raise RuntimeError(f"torch.histogramdd: for a {d}-dimensional histogram range should have {2 * d} "
                           f"elements, but got {len(range)}")
    edges = [_bin_edges("torch.histogramdd", pts[:, i], b, None if range is None else range[2 * i: 2 * i + 2],
                        input.dtype) for i, b in enumerate(per_dim)]
    hist = _histogram_counts(pts, edges, weight, density)
    return _make("histogramdd", ("hist", "bin_edges"), (Tensor(hist.astype(input.dtype)).to(input.device),
                                                        tuple(Tensor(e).to(input.device) for e in edges)))


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:  # noqa: A002
    """The (size, ndim) int64 indices of the first ``size`` nonzero entries, padded with ``fill_value``
    rows when there are fewer, as torch.nonzero_static.

    >>> import engine
    >>> engine.nonzero_static(engine.tensor([0, 3, 0]), size=2).tolist()
    [[1], [-1]]
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, got {size!r}")
    idx = input.nonzero()[:size]
    if idx.shape[0] == size:
        return idx
    pad = array_module(idx._data).full((size - idx.shape[0], idx.shape[1]), fill_value, dtype=np.int64)
    return Tensor(array_module(idx._data).concatenate([idx._data, pad]))


def _approximate_basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:  # noqa: N803
    """Q with q orthonormal columns such that Q Qᵀ (A − M) ≈ A − M (Halko et al. 2009, Algorithm 4.4, as
    torch's get_approximate_basis): a Gaussian projection, then ``niter`` subspace iterations."""
    import engine

    def times(X):  # noqa: N802, N803
        return A @ X - (M @ X if M is not None else 0)

    def times_t(X):  # noqa: N802, N803
        return A.mH @ X - (M.mH @ X if M is not None else 0)

    Q = engine.linalg.qr(times(engine.randn(A.shape[-1], q, dtype=A.dtype, device=A.device))).Q  # noqa: N806
    for _ in builtins.range(niter):
        Q = engine.linalg.qr(times(engine.linalg.qr(times_t(Q)).Q)).Q  # noqa: N806
    return Q


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None):  # noqa: N803
    """torch.svd_lowrank: (U, S, V) with A − M ≈ U diag(S) Vᴴ, U (m, q), S (q,), V (n, q), by torch's randomized
    algorithm (Halko et al. 2009, Algorithm 5.1) from engine's generator: exact, up to the singular vectors'
    signs, when rank(A − M) <= q. Differentiable, composed from matmul, qr and svd.

    >>> import engine
    >>> U, S, V = engine.svd_lowrank(engine.tensor([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), q=1)
    >>> round(S.item(), 4)
    3.0
    """
    import engine

    q, niter = 6 if q is None else q, 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(A.shape)  # noqa: N806
    if m < n:
        A, M = A.mH, (M.mH if M is not None else None)  # noqa: N806
    Q = _approximate_basis(A, q, niter, M)  # noqa: N806
    B = Q.mH @ A - (Q.mH @ M if M is not None else 0)  # noqa: N806
    U, S, Vh = engine.linalg.svd(B, full_matrices=False)  # noqa: N806
    U, V = Q @ U, Vh.mH  # noqa: N806
    return (V, S, U) if m < n else (U, S, V)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2):  # noqa: N803
    """torch.pca_lowrank: svd_lowrank of A (center: minus its column means), q = min(6, m, n) by default;
    V's columns are the principal directions.

    >>> import engine
    >>> U, S, V = engine.pca_lowrank(engine.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]), q=1)
    >>> round(S.item() ** 2, 4)
    4.0
    """
    m, n = A.shape[-2:]
    if q is None:
        q = builtins.min(6, m, n)
    elif not 0 <= q <= builtins.min(m, n):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={builtins.min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    return svd_lowrank(A - A.mean(-2, keepdim=True) if center else A, q, niter=niter)


_GRID_MODES, _GRID_PADDINGS = ("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection")


def grid_sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int,  # noqa: A002
                 align_corners: bool) -> Tensor:
    """torch.grid_sampler (the aten op under F.grid_sample): F.grid_sample with torch's integer codes,
    interpolation_mode 0 bilinear, 1 nearest, 2 bicubic; padding_mode 0 zeros, 1 border, 2 reflection.

    >>> import engine
    >>> engine.grid_sampler(engine.arange(4.0).reshape(1, 1, 2, 2), engine.zeros(1, 1, 1, 2), 0, 0, True).item()
    1.5
    """
    from engine.functional_more import grid_sample

    if interpolation_mode not in builtins.range(3) or padding_mode not in builtins.range(3):
        raise RuntimeError(f"grid_sampler: interpolation_mode must be 0, 1 or 2 (bilinear, nearest, bicubic) and "
                           f"padding_mode 0, 1 or 2 (zeros, border, reflection), got {interpolation_mode} and "
                           f"{padding_mode}")
    return grid_sample(input, grid, _GRID_MODES[interpolation_mode], _GRID_PADDINGS[padding_mode],
                       bool(align_corners))


def _grid_sampler_nd(nd: int) -> Callable:
    def sampler(input: Tensor, grid: Tensor, interpolation_mode: int, padding_mode: int,  # noqa: A002
                align_corners: bool) -> Tensor:
        if input.ndim != nd + 2 or grid.ndim != nd + 2:
            raise RuntimeError(f"grid_sampler(): expected {nd + 2}D input and grid with same number of dimensions, "
                               f"but got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
        return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)

    sampler.__name__ = f"grid_sampler_{nd}d"
    sampler.__doc__ = f"""torch.grid_sampler_{nd}d: grid_sampler on {nd + 2}-D input and grid only."""
    return sampler


def _new_empty_strided(self: Tensor, size, stride, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """empty_strided with self's dtype and device unless given.

    >>> import engine
    >>> engine.ones(1).new_empty_strided((2, 2), (1, 2)).stride()
    (1, 2)
    """
    from engine.factories import empty_strided

    return empty_strided(size, stride, dtype=dtype or self.dtype, device=device or self.device,
                         requires_grad=requires_grad)


MORE_TENSOR_METHODS.update({
    "histogram": histogram, "nonzero_static": lambda self, *, size, fill_value=-1: nonzero_static(
        self, size=size, fill_value=fill_value),
    "new_empty_strided": _new_empty_strided, "__rdiv__": Tensor.__rtruediv__, "geqrf": geqrf, "ormqr": ormqr,
})
MORE_TORCH_FUNCTIONS.update({"histogramdd": histogramdd, "nonzero_static": nonzero_static,
                             "svd_lowrank": svd_lowrank, "pca_lowrank": pca_lowrank, "geqrf": geqrf, "ormqr": ormqr,
                             "grid_sampler": grid_sampler, "grid_sampler_2d": _grid_sampler_nd(2),
                             "grid_sampler_3d": _grid_sampler_nd(3)})


# torch's in-place aliases: the same method under the other name
INPLACE_ALIASES = {"arccosh_": "acosh_", "arcsinh_": "asinh_", "arctanh_": "atanh_", "arctan2_": "atan2_",
                   "divide_": "div_", "multiply_": "mul_", "subtract_": "sub_"}


# ---- install --------------------------------------------------------------------------------------


TENSOR_METHODS = {
    "addcmul": addcmul, "addcdiv": addcdiv, "addmv": addmv, "addbmm": addbmm, "addr": addr, "diff": diff,
    "cross": cross, "ravel": ravel, "rot90": rot90, "xlogy": xlogy, "deg2rad": deg2rad, "rad2deg": rad2deg,
    "sinc": sinc, "signbit": signbit, "positive": positive, "heaviside": heaviside, "argwhere": argwhere,
    "bincount": bincount, "histc": histc, "unique_consecutive": unique_consecutive, "vsplit": vsplit,
    "hsplit": hsplit, "dsplit": dsplit, "sum_to_size": sum_to_size, "quantile": quantile,
    "nanquantile": nanquantile, "inverse": inv, "det": det, "logdet": logdet,
    "matrix_power": matrix_power, "pinverse": lambda self, rcond=1e-15: pinv(self, rtol=rcond),
    "cholesky": lambda self, upper=False: cholesky(self, upper=upper), "fill_diagonal_": fill_diagonal_,
    "searchsorted": lambda self, sorted_sequence=None, *a, **k: searchsorted(self, *a, **k),
}
TENSOR_METHODS["searchsorted"] = None  # torch has no Tensor.searchsorted with this order; keep it top-level
INPLACE = ["cumsum", "cumprod", "renorm", "lgamma", "digamma", "polygamma", "mvlgamma", "i0", "gcd", "lcm", "ldexp",
           "nextafter", "put", "scatter_reduce",
           "masked_fill", "index_fill", "scatter", "scatter_add", "index_add", "index_copy", "addcmul",
           "addcdiv", "addmm", "tril", "triu", "masked_scatter", "addmv", "addbmm", "baddbmm", "addr", "xlogy",
           "deg2rad", "rad2deg", "sinc", "diag_embed", "index_put", "put", "renorm", "lerp", "hypot",
           "logit", "digamma", "fmod", "remainder", "floor_divide", "sub", "mul", "div", "add", "pow",
           "heaviside", "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not", "index_reduce",
           "igamma", "igammac"]
RESHAPE_INPLACE = ["t", "transpose", "squeeze", "unsqueeze", "swapaxes", "swapdims"]

TORCH_FUNCTIONS = {
    "argwhere": argwhere, "rot90": rot90, "broadcast_shapes": broadcast_shapes, "combinations": combinations,
    "diagflat": diagflat, "cross": cross, "block_diag": block_diag, "cdist": cdist, "addmv": addmv,
    "addbmm": addbmm, "addr": addr, "addcmul": addcmul, "addcdiv": addcdiv, "quantile": quantile,
    "nanquantile": nanquantile, "unique_consecutive": unique_consecutive, "bincount": bincount, "histc": histc,
    "histogram": histogram, "gradient": gradient,
    "searchsorted": searchsorted, "bucketize": bucketize, "diff": diff, "numel": numel, "is_tensor": is_tensor,
    "is_floating_point": is_floating_point, "set_grad_enabled": set_grad_enabled,
    "get_default_dtype": get_default_dtype, "xlogy": xlogy, "heaviside": heaviside, "tril_indices": tril_indices,
    "triu_indices": triu_indices, "vander": vander, "trapezoid": trapezoid, "trapz": trapezoid,
    "cumulative_trapezoid": cumulative_trapezoid, "deg2rad": deg2rad, "rad2deg": rad2deg, "sinc": sinc,
    "signbit": signbit, "positive": positive, "ravel": ravel, "vsplit": vsplit, "hsplit": hsplit,
    "dsplit": dsplit, "inverse": inv, "det": det, "logdet": logdet,
    "matrix_power": matrix_power, "pinverse": lambda input, rcond=1e-15: pinv(input, rtol=rcond),  # noqa: A006
    "cholesky": lambda input, upper=False: cholesky(input, upper=upper),  # noqa: A006
}


def put_missing(target, objects: dict) -> list[str]:
    """Set each name of ``objects`` on ``target`` (a module or a class) that it lacks; the names set."""
    added = [name for name in objects if not hasattr(target, name)]
    for name in added:
        setattr(target, name, objects[name])
    return added


def install(engine_module: types.ModuleType) -> list[str]:
    """Attach the Tensor methods, and put the top-level functions and ``linalg`` on ``engine_module``
    (only names it does not have yet). Returns the top-level names added."""
    for name, fn in {**TENSOR_METHODS, **MORE_TENSOR_METHODS}.items():
        if fn is not None and not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
    for name in INPLACE:
        if hasattr(Tensor, name) and not hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _inplace_via(name))
    for alias, name in INPLACE_ALIASES.items():
        if hasattr(Tensor, name) and not hasattr(Tensor, alias):
            setattr(Tensor, alias, getattr(Tensor, name))
    for name in RESHAPE_INPLACE:
        if hasattr(Tensor, name) and not hasattr(Tensor, name + "_"):
            setattr(Tensor, name + "_", _reshape_inplace(name))
    if not hasattr(Tensor, "mH"):
        Tensor.mH = property(lambda self: self.mT, doc="Conjugate transpose of the last two dims (real: mT).")
    if not hasattr(Tensor, "H"):
        def _h(self):
            if self.ndim == 0:
                warnings.warn("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().", UserWarning,
                              stacklevel=2)
                return self
            if self.ndim != 2:
                raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got {self.ndim}-D tensor.")
            return self.transpose(0, 1)
        Tensor.H = property(_h, doc="Conjugate transpose of a matrix (real: T).")
    if not hasattr(Tensor, "real"):  # no complex dtypes: real is the tensor itself, imag raises as torch's
        Tensor.real = property(lambda self: self, doc="The real part: the tensor itself (no complex dtypes).")
        Tensor.imag = property(_imag, doc="The imaginary part: raises for a real tensor, as torch.")
    import engine.functional as F  # noqa: N812

    added = put_missing(engine_module, {**TORCH_FUNCTIONS, **MORE_TORCH_FUNCTIONS})
    added += put_missing(engine_module, {name: getattr(F, name) for name in F_ALIASES if hasattr(F, name)})
    # torch.abs_(t), torch.zero_(t), ...: the in-place methods as functions
    added += put_missing(engine_module, {name: getattr(Tensor, name) for name in dir(Tensor)
                                         if name.endswith("_") and not name.startswith("_")})
    if not hasattr(Tensor, "retains_grad"):
        Tensor.retains_grad = property(lambda self: bool(self._retains_grad), doc="Whether retain_grad() was called.")
    if not hasattr(Tensor, "is_cpu"):
        Tensor.is_cpu = property(lambda self: self.device == "cpu", doc="Whether the tensor lives on the CPU.")
    if "linalg" not in getattr(engine_module, "__all__", ()):  # engine/linalg.py, imported above
        added.append("linalg")
    return added
