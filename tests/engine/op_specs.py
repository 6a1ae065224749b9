"""One spec per differentiable op: how to draw its inputs, how to call it, what it should give.

`SPECS` has exactly one entry per op in ``Function.registry`` (test_ops_property checks
this, so a new op without a spec fails the suite). `DERIVED` covers the Tensor-level ops
built from primitives (var, split, reflected operators, advanced indexing, ...).

A spec's ``case`` strategy draws a `Case`: the float64 arrays that become differentiable
inputs, and the other parameters (axes, masks, indices, ...). Values come from a NumPy
generator seeded by hypothesis, so shapes and seeds shrink while every value stays in the
op's smooth domain *by construction*: relu/abs/clip inputs are resampled away from their
kinks, log/sqrt/pow bases are positive, max/min inputs are distinct, maximum/minimum
operands sit on interleaved grids so they never tie. No tolerance is widened to dodge a kink.

``ref`` is a plain-NumPy forward, written without the engine. ``torch`` maps the same call
onto PyTorch for the parity tests (``torch_skip`` says why an op has no torch twin).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine
import engine.functional as F
from engine import Tensor

MAX_SIDE = 5
GAP = 0.05  # how far values stay from a kink: 5e4 times gradcheck's eps


class Case(NamedTuple):
    arrays: tuple  # float64 arrays, the differentiable inputs
    params: dict  # everything else, passed as keywords


@dataclass(frozen=True)
class Spec:
    case: st.SearchStrategy  # draws a Case
    fn: Callable[..., Any]  # (*tensors, **params) -> Tensor or tuple of Tensors, public API only
    ref: Callable[..., Any]  # (*arrays, **params) -> ndarray or tuple, plain NumPy in float64
    torch: Callable[..., Any] | None = None  # (torch, *tensors, **params) -> torch tensor(s)
    torch_skip: str | None = None  # why there is no torch twin
    half: bool = True  # float16 forward is supported (output float16)
    out_dtype: Callable[[np.dtype], np.dtype] | None = None  # output dtype for an input dtype (default: same)
    skip: Callable[[str, np.dtype], str | None] = field(default=lambda device, dtype: None)
    ref_devices: tuple = ("cpu", "gpu")  # devices whose forward the NumPy ref can predict


DEVICES = [  # parametrize tests over these: CuPy runs only where a CUDA device is present
    "cpu",
    pytest.param("gpu", marks=[pytest.mark.gpu,
                               pytest.mark.skipif(not engine.gpu_available(), reason="needs CuPy and a CUDA device")]),
]


def on_device(value, device):
    """Move the arrays inside a parameter (masks, indices, targets; nested in tuples and
    dicts) to ``device``."""
    if device == "cpu":
        return value
    if isinstance(value, np.ndarray):
        import cupy

        return cupy.asarray(value)
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(on_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: on_device(v, device) for k, v in value.items()}
    return value


# ---- value and shape strategies -------------------------------------------------------------

SEEDS = st.integers(0, 2**32 - 1)


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=MAX_SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcast_shapes(n=2, min_dims=0, max_dims=4):
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=min_dims, max_dims=max_dims,
                                             min_side=1, max_side=MAX_SIDE)


def fill(rng, shape, domain="real", avoid=()):
    """Float64 values in ``domain``, resampled until none is within GAP of a point in ``avoid``.

    real: U(-2, 2); positive: U(0.2, 3); nonzero: ±U(0.25, 2); distinct: all entries differ
    by at least 0.06 (for max/min without ties).
    """
    shape = tuple(shape)
    if domain == "distinct":
        n = math.prod(shape)
        return ((rng.permutation(n) - n / 2) * 0.1 + rng.uniform(-0.02, 0.02, n)).reshape(shape)
    if domain == "nonzero":
        return np.asarray(rng.uniform(0.25, 2, shape) * rng.choice([-1.0, 1.0], shape), dtype=np.float64)
    lo, hi = {"real": (-2.0, 2.0), "positive": (0.2, 3.0)}[domain]
    x = np.asarray(rng.uniform(lo, hi, shape), dtype=np.float64)
    for _ in range(1000):
        bad = np.zeros(shape, dtype=bool)
        for c in avoid:
            bad |= np.abs(x - c) < GAP
        if not bad.any():
            return x
        x[bad] = rng.uniform(lo, hi, int(bad.sum()))
    raise AssertionError(f"could not sample {shape} away from {avoid}")


def grid(rng, shape, parity):
    """Multiples of 0.1 with even (parity 0) or odd (parity 1) numerators: two such arrays never tie."""
    return (2 * rng.integers(-10, 10, size=shape) + parity) * 0.1


@st.composite
def axes_for(draw, ndim):
    """An ``axis`` argument: None, an int (maybe negative) or a tuple (maybe empty)."""
    if ndim == 0:
        return draw(st.sampled_from([None, ()]))
    return draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim)))


def an_axis(ndim):
    """An existing axis, maybe negative."""
    return st.integers(-ndim, ndim - 1)


def a_new_axis(ndim):
    """Where a new axis can go, maybe negative."""
    return st.integers(-ndim - 1, ndim)


def reduced_size(shape, axis):
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


@st.composite
def unary(draw, domain="real", avoid=(), min_dims=0, max_dims=4, **params):
    """One array. ``params`` values that are strategies are drawn; callables get the ndim
    and return the strategy (an axis, say)."""
    shape = draw(shapes(min_dims, max_dims))
    rng = np.random.default_rng(draw(SEEDS))
    drawn = {k: draw(v if isinstance(v, st.SearchStrategy) else v(len(shape))) for k, v in params.items()}
    return Case((fill(rng, shape, domain, avoid),), drawn)


@st.composite
def binary(draw, a_domain="real", b_domain="real"):
    """Two arrays whose shapes broadcast against each other (size-1 dims, fewer dims)."""
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, sa, a_domain), fill(rng, sb, b_domain)), {})


@st.composite
def no_tie_pair(draw):
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    a, b = grid(rng, sa, 0), grid(rng, sb, 1)
    return Case((a, b) if draw(st.booleans()) else (b, a), {})


@st.composite
def reduction(draw, domain="real"):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape, domain),), {"axis": draw(axes_for(len(shape))), "keepdims": draw(st.booleans())})


def _torch_axes(axis, ndim):
    """NumPy's axis (None = all, () = none) as a torch dim tuple; None means 'reduce nothing'."""
    if axis is None:
        axis = tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return axis or None


def _torch_reduce(name):
    def f(torch, a, axis, keepdims, **kw):
        dims = _torch_axes(axis, a.ndim)
        if dims is None:
            return a * 1
        return getattr(torch, name)(a, dim=dims, keepdim=keepdims, **kw)

    return f


# ---- elementwise ------------------------------------------------------------------------------

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu_ref(x, approximate="tanh"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


_WIDER = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(np.float32): np.dtype(np.float64),
          np.dtype(np.float64): np.dtype(np.longdouble)}


def _cast_skip(device, dtype):
    if np.dtype(dtype) == np.float64:
        if device == "gpu":
            return "CuPy has no float type wider than float64 to cast to"
        if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
            return "longdouble is no wider than float64 on this platform"
    return None


def _needs_gpu(device, dtype):
    return None if engine.gpu_available() else "ToDevice needs a CUDA device"


def _other_device(t):
    return "cpu" if t.device == "gpu" else "gpu"


SPECS: dict[str, Spec] = {
    "Add": Spec(binary(), lambda a, b: a + b, lambda a, b: a + b, torch=lambda T, a, b: a + b),
    "Sub": Spec(binary(), lambda a, b: a - b, lambda a, b: a - b, torch=lambda T, a, b: a - b),
    "Mul": Spec(binary(), lambda a, b: a * b, lambda a, b: a * b, torch=lambda T, a, b: a * b),
    "Div": Spec(binary(b_domain="nonzero"), lambda a, b: a / b, lambda a, b: a / b, torch=lambda T, a, b: a / b),
    "Neg": Spec(unary(), lambda a: -a, lambda a: -a, torch=lambda T, a: -a),
    "PowScalar": Spec(
        unary("positive", p=st.sampled_from([2, 3, 0.5, -1, -1.5, 0, 1, 2.5])),
        lambda a, p: a**p, lambda a, p: a**p, torch=lambda T, a, p: a**p,
    ),
    "Pow": Spec(binary("positive", "real"), lambda a, b: a**b, lambda a, b: a**b, torch=lambda T, a, b: a**b),
    "Exp": Spec(unary(), lambda a: a.exp(), np.exp, torch=lambda T, a: a.exp()),
    "Log": Spec(unary("positive"), lambda a: a.log(), np.log, torch=lambda T, a: a.log()),
    "Sqrt": Spec(unary("positive"), lambda a: a.sqrt(), np.sqrt, torch=lambda T, a: a.sqrt()),
    "Tanh": Spec(unary(), lambda a: a.tanh(), np.tanh, torch=lambda T, a: a.tanh()),
    "Sigmoid": Spec(unary(), lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), torch=lambda T, a: a.sigmoid()),
    "Relu": Spec(unary(avoid=(0.0,)), lambda a: a.relu(), lambda a: np.where(a > 0, a, 0.0),
                 torch=lambda T, a: a.relu()),
    "Gelu": Spec(
        unary(approximate=st.sampled_from(["tanh", "none"])),
        lambda a, approximate: a.gelu(approximate), _gelu_ref,
        torch=lambda T, a, approximate: T.nn.functional.gelu(a, approximate=approximate),
    ),
    "Sin": Spec(unary(), lambda a: a.sin(), np.sin, torch=lambda T, a: a.sin()),
    "Cos": Spec(unary(), lambda a: a.cos(), np.cos, torch=lambda T, a: a.cos()),
    "Abs": Spec(unary(avoid=(0.0,)), lambda a: a.abs(), np.abs, torch=lambda T, a: a.abs()),
    "Clip": Spec(
        unary(avoid=(-0.5, 0.7), lo=st.just(-0.5), hi=st.just(0.7)),
        lambda a, lo, hi: a.clip(lo, hi), lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi),
        torch=lambda T, a, lo, hi: a.clamp(lo, hi),
    ),
    "Maximum": Spec(no_tie_pair(), engine.maximum, np.maximum, torch=lambda T, a, b: T.maximum(a, b)),
    "Minimum": Spec(no_tie_pair(), engine.minimum, np.minimum, torch=lambda T, a, b: T.minimum(a, b)),
    "Cast": Spec(
        unary(), lambda a: a.astype(_WIDER[a.dtype]), lambda a: a, skip=_cast_skip,
        out_dtype=lambda d: _WIDER[np.dtype(d)], torch_skip="torch has no float type wider than float64",
    ),
    "ToDevice": Spec(unary(), lambda a: a.to(_other_device(a)), lambda a: a, skip=_needs_gpu,
                     torch_skip="moves between devices; values are unchanged"),
}


@st.composite
def where_case(draw):
    sc, sa, sb = draw(broadcast_shapes(3)).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, sa), fill(rng, sb)), {"cond": rng.random(sc) < 0.5})


SPECS["Where"] = Spec(
    where_case(), lambda a, b, cond: engine.where(cond, a, b), lambda a, b, cond: np.where(cond, a, b),
    torch=lambda T, a, b, cond: T.where(T.as_tensor(cond), a, b),
)

# ---- reductions ---------------------------------------------------------------------------------

SPECS.update({
    "Sum": Spec(reduction(), lambda a, axis, keepdims: a.sum(axis=axis, keepdims=keepdims),
                lambda a, axis, keepdims: np.sum(a, axis=axis, keepdims=keepdims), torch=_torch_reduce("sum")),
    "Mean": Spec(reduction(), lambda a, axis, keepdims: a.mean(axis=axis, keepdims=keepdims),
                 lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims), torch=_torch_reduce("mean")),
    "Var": Spec(reduction(), lambda a, axis, keepdims: a.var(axis=axis, keepdims=keepdims, correction=0),
                lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims),
                torch=lambda T, a, axis, keepdims: a * 0 if _torch_axes(axis, a.ndim) is None else
                T.var(a, dim=_torch_axes(axis, a.ndim), keepdim=keepdims, correction=0)),
    "Max": Spec(reduction("distinct"), lambda a, axis, keepdims: a.amax(axis=axis, keepdims=keepdims),
                lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims), torch=_torch_reduce("amax")),
    "Min": Spec(reduction("distinct"), lambda a, axis, keepdims: a.amin(axis=axis, keepdims=keepdims),
                lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims), torch=_torch_reduce("amin")),
    "LogSumExp": Spec(reduction(), lambda a, axis, keepdims: a.logsumexp(axis=axis, keepdims=keepdims),
                      lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)),
                      torch=_torch_reduce("logsumexp")),
})

# ---- matmul -------------------------------------------------------------------------------------


MATMUL_KINDS = ["vec@vec", "vec@mat", "mat@vec", "mat@mat", "batch@mat", "mat@batch", "batch@batch"]


@st.composite
def matmul_case(draw):
    """Every NumPy matmul form: 1-D operands, 2-D, batched on either side, batch dims that broadcast."""
    kind = draw(st.sampled_from(MATMUL_KINDS))
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    ba, bb = draw(broadcast_shapes(2, 1, 2)).input_shapes
    if kind != "batch@batch":
        ba, bb = (ba if kind.startswith("batch") else ()), (bb if kind.endswith("batch") else ())
    a_shape = (k,) if kind.startswith("vec") else (*ba, n, k)
    b_shape = (k,) if kind.endswith("vec") else (*bb, k, m)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, a_shape), fill(rng, b_shape)), {})


@st.composite
def linear_case(draw, bias=None):
    lead = draw(shapes(0, 2))
    n_in, n_out = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = [fill(rng, (*lead, n_in)), fill(rng, (n_out, n_in))]
    if bias if bias is not None else draw(st.booleans()):
        arrays.append(fill(rng, (n_out,)))
    return Case(tuple(arrays), {})


def _linear_ref(x, w, b=None):
    out = np.einsum("...i,oi->...o", x, w)
    return out if b is None else out + b


SPECS["MatMul"] = Spec(matmul_case(), lambda a, b: a @ b, np.matmul, torch=lambda T, a, b: a @ b)
SPECS["Linear"] = Spec(linear_case(), F.linear, _linear_ref, torch=lambda T, *a: T.nn.functional.linear(*a))

# ---- movement -----------------------------------------------------------------------------------


@st.composite
def reshape_case(draw):
    shape = draw(shapes())
    target = list(shape) + [1] * draw(st.integers(0, 2))
    target = draw(st.permutations(target)) if target else []
    if draw(st.booleans()):
        target = [math.prod(shape)]
    assume(tuple(target) != shape)  # an identity reshape records no op
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"shape": tuple(target)})


@st.composite
def permute_case(draw):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"axes": tuple(draw(st.permutations(range(len(shape)))))})


@st.composite
def broadcast_to_case(draw):
    target = draw(shapes())
    drop = draw(st.integers(0, len(target)))
    shape = tuple(1 if draw(st.booleans()) else s for s in target[drop:])
    assume(shape != target)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"shape": target})


@st.composite
def basic_index_case(draw):
    shape = draw(shapes())
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"index": index})


def _torch_basic_index(T, x, index):
    """A NumPy basic index applied one axis at a time (torch has no negative slice steps)."""
    items = list(index) if isinstance(index, tuple) else [index]
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    at = next((j for j, i in enumerate(items) if i is Ellipsis), len(items))
    items[at:at + 1] = [slice(None)] * (x.ndim - used)
    dim = 0
    for it in items:
        if it is None:
            x = x.unsqueeze(dim)
            dim += 1
        elif isinstance(it, int):
            x = x.select(dim, it)
        else:
            x = x.index_select(dim, T.as_tensor(np.arange(x.shape[dim])[it].copy()))
            dim += 1
    return x


@st.composite
def concat_case(draw):
    shape = draw(shapes(1, 4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[axis] = draw(st.integers(1, MAX_SIDE))
        arrays.append(fill(rng, s))
    return Case(tuple(arrays), {"axis": axis})


@st.composite
def stack_case(draw):
    shape = draw(shapes(0, 3))
    rng = np.random.default_rng(draw(SEEDS))
    arrays = tuple(fill(rng, shape) for _ in range(draw(st.integers(1, 3))))
    return Case(arrays, {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def pad_case(draw):
    shape = draw(shapes(1, 4))
    form = draw(st.sampled_from(["int", "pair", "per_axis"]))
    width = st.integers(0, 2)
    if form == "int":
        pad_width = draw(width)
    elif form == "pair":
        pad_width = (draw(width), draw(width))
    else:
        pad_width = tuple((draw(width), draw(width)) for _ in shape)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"pad_width": pad_width, "value": draw(st.sampled_from([0.0, -1.5, 2.0]))})


def _torch_pad(T, x, pad_width, value):
    widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2)).tolist()
    flat = [int(w) for pair in reversed(widths) for w in pair]
    return T.nn.functional.pad(x, flat, value=value)


@st.composite
def masked_fill_case(draw):
    shape = draw(shapes())
    drop = draw(st.integers(0, len(shape)))
    mask_shape = tuple(1 if draw(st.booleans()) else s for s in shape[drop:])
    rng = np.random.default_rng(draw(SEEDS))
    mask = rng.random(mask_shape) < 0.5
    return Case((fill(rng, shape),), {"mask": mask, "value": draw(st.sampled_from([0.0, -3.0, 1e4]))})


@st.composite
def tri_case(draw):
    shape = draw(shapes(2, 4))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"k": draw(st.integers(-3, 3)), "upper": draw(st.booleans())})


def _tri_ref(a, k, upper):
    return np.triu(a, k) if upper else np.tril(a, k)


SPECS.update({
    "Reshape": Spec(reshape_case(), lambda a, shape: a.reshape(shape), lambda a, shape: np.reshape(a, shape),
                    torch=lambda T, a, shape: a.reshape(shape)),
    "Transpose": Spec(permute_case(), lambda a, axes: a.permute(*axes), lambda a, axes: np.transpose(a, axes),
                      torch=lambda T, a, axes: a.permute(tuple(axes))),
    "BroadcastTo": Spec(broadcast_to_case(), lambda a, shape: a.broadcast_to(shape), np.broadcast_to,
                        torch=lambda T, a, shape: a.broadcast_to(shape)),
    "GetItem": Spec(basic_index_case(), lambda a, index: a[index], lambda a, index: a[index],
                    torch=lambda T, a, index: _torch_basic_index(T, a, index)),
    "Concatenate": Spec(concat_case(), lambda *ts, axis: engine.concatenate(ts, axis),
                        lambda *arrays, axis: np.concatenate(arrays, axis), torch=lambda T, *ts, axis: T.cat(ts, axis)),
    "Stack": Spec(stack_case(), lambda *ts, axis: engine.stack(ts, axis), lambda *arrays, axis: np.stack(arrays, axis),
                  torch=lambda T, *ts, axis: T.stack(ts, axis)),
    "Pad": Spec(pad_case(), lambda a, pad_width, value: engine.pad(a, pad_width, value),
                lambda a, pad_width, value: np.pad(a, pad_width, constant_values=value), torch=_torch_pad),
    "MaskedFill": Spec(masked_fill_case(), lambda a, mask, value: a.masked_fill(mask, value),
                       lambda a, mask, value: np.where(mask, value, a),
                       torch=lambda T, a, mask, value: a.masked_fill(T.as_tensor(mask), value)),
    "Tri": Spec(tri_case(), lambda a, k, upper: a.triu(k) if upper else a.tril(k), _tri_ref,
                torch=lambda T, a, k, upper: T.triu(a, k) if upper else T.tril(a, k)),
})

# ---- fused --------------------------------------------------------------------------------------


def _softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    return x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True))


@st.composite
def cross_entropy_case(draw):
    lead = draw(shapes(0, 3))
    n_class = draw(st.integers(1, MAX_SIDE))
    rng = np.random.default_rng(draw(SEEDS))
    ignore_index = draw(st.sampled_from([-100, -1, 1]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    targets = rng.integers(0, n_class, size=lead)
    drop = np.zeros(lead, dtype=bool)
    if draw(st.booleans()):  # some targets are ignored: at least one, and not all under "mean" (0/0)
        drop = rng.random(lead) < 0.4
        drop.flat[rng.integers(drop.size)] = True
        if reduction == "mean" and drop.all():
            drop.flat[rng.integers(drop.size)] = False
    targets = np.where(drop, ignore_index, targets).astype(np.int64)
    if reduction == "mean":
        assume(np.any(targets != ignore_index))  # class 1 may be the ignored one
    return Case((fill(rng, (*lead, n_class)),),
                {"targets": targets, "ignore_index": ignore_index, "reduction": reduction})


def _cross_entropy_ref(logits, targets, ignore_index, reduction):
    logp = _log_softmax_ref(logits, -1)
    valid = targets != ignore_index
    safe = np.where(valid, targets, 0)
    picked = np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    loss = np.where(valid, -picked, 0.0)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / valid.sum()


def cross_entropy_last(logits, targets, ignore_index, reduction):
    """F.cross_entropy with classes on the LAST axis of any-rank logits: rows (N, C) for torch's layout."""
    out = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index,
                          reduction=reduction)
    return out.reshape(targets.shape) if reduction == "none" else out


def _torch_cross_entropy(T, logits, targets, ignore_index, reduction):
    c = logits.shape[-1]
    out = T.nn.functional.cross_entropy(logits.reshape(-1, c), T.as_tensor(targets).reshape(-1),
                                        ignore_index=ignore_index, reduction=reduction)
    return out.reshape(targets.shape) if reduction == "none" else out


@st.composite
def layer_norm_case(draw):
    lead = draw(shapes(0, 3))
    c = draw(st.integers(1, MAX_SIDE))
    rng = np.random.default_rng(draw(SEEDS))
    has_weight, has_bias = draw(st.booleans()), draw(st.booleans())
    arrays = [fill(rng, (*lead, c))]
    if has_weight:
        arrays.append(fill(rng, (c,)))
    if has_bias:
        arrays.append(fill(rng, (c,)))
    return Case(tuple(arrays), {"has_weight": has_weight, "has_bias": has_bias,
                                "eps": draw(st.sampled_from([1e-5, 1e-2]))})


def _split_affine(rest, has_weight, has_bias):
    rest = list(rest)
    weight = rest.pop(0) if has_weight else None
    bias = rest.pop(0) if has_bias else None
    return weight, bias


def _layer_norm_fn(x, *rest, has_weight, has_bias, eps):
    return F.layer_norm(x, x.shape[-1:], *_split_affine(rest, has_weight, has_bias), eps=eps)


def _layer_norm_ref(x, *rest, has_weight, has_bias, eps):
    weight, bias = _split_affine(rest, has_weight, has_bias)
    out = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    out = out * weight if weight is not None else out
    return out + bias if bias is not None else out


def _torch_layer_norm(T, x, *rest, has_weight, has_bias, eps):
    weight, bias = _split_affine(rest, has_weight, has_bias)
    return T.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, eps)


@st.composite
def embedding_case(draw):
    v, d = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    ids_shape = draw(shapes(0, 3))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, (v, d)),), {"ids": rng.integers(0, v, size=ids_shape)})


def _dropout_keep(seed, shape, p):
    """The engine's documented stream: manual_seed(s) makes the CPU generator default_rng(s)."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32) >= p


@st.composite
def dropout_case(draw):
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"p": draw(st.sampled_from([0.1, 0.5, 0.8])), "seed": draw(SEEDS)})


def _dropout_fn(x, p, seed):
    engine.manual_seed(seed)  # re-seeded on every call, so gradcheck sees one fixed mask
    return F.dropout(x, p)


@st.composite
def attention_case(draw, dropout=False):
    lead = draw(shapes(0, 2, max_side=3))
    t, s, d, dv = (draw(st.integers(1, MAX_SIDE)) for _ in range(4))
    causal = draw(st.booleans())
    window = None
    if causal:
        assume(t <= s)  # else the first queries see no key at all
        window = draw(st.one_of(st.none(), st.integers(1, s)))
    rng = np.random.default_rng(draw(SEEDS))
    mask = None
    if draw(st.booleans()):
        mask = rng.random((*(lead if draw(st.booleans()) else ()), t, s)) < 0.6
        # Every query keeps at least one key: the one causal (and any window) keeps too.
        mask[..., np.arange(t), np.arange(s - t, s) if t <= s else rng.integers(0, s, t)] = True
    params = {"causal": causal, "window": window, "mask": mask, "dropout_p": 0.0,
              "scale": draw(st.sampled_from([None, 0.3]))}
    if dropout:
        params.update(dropout_p=draw(st.sampled_from([0.2, 0.5])), seed=draw(SEEDS))
    q, k, v = fill(rng, (*lead, t, d)), fill(rng, (*lead, s, d)), fill(rng, (*lead, s, dv))
    return Case((q, k, v), params)


def attention_call(q, k, v, causal, window, mask, dropout_p, scale):
    """The case's (causal aligned to the end of the keys, window, bool mask) as F's torch arguments."""
    t, s = q.shape[-2], k.shape[-2]
    if causal:
        mask = F.causal_lower_right(t, s, window) if mask is None else F.attention_mask(t, s, window, q.device) & mask
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)


def _attention_fn(q, k, v, seed=None, **params):
    if seed is not None:
        engine.manual_seed(seed)
    return attention_call(q, k, v, **params)


def keep_mask_ref(t, s, causal, window, mask):
    """Keep-mask built from positions: query i sits at S-T+i (aligned to the end of the keys)."""
    qpos = np.arange(s - t, s)[:, None]
    kpos = np.arange(s)[None, :]
    keep = np.ones((t, s), dtype=bool)
    if causal:
        keep &= kpos <= qpos
        if window is not None:
            keep &= kpos > qpos - window
    return keep if mask is None else keep & mask


def _attention_ref(q, k, v, causal, window, mask, dropout_p, scale, seed=None):
    t, s = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.where(keep_mask_ref(t, s, causal, window, mask), q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
    p = _softmax_ref(scores, -1)
    if dropout_p:
        p = p * _dropout_keep(seed, p.shape, dropout_p) / (1 - dropout_p)
    return p @ v


def _torch_attention(T, q, k, v, causal, window, mask, dropout_p, scale, seed=None):
    t, s = q.shape[-2], k.shape[-2]
    if causal and window is None and mask is None and t == s:
        return T.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
    keep = T.ones(t, s, dtype=T.bool)
    if causal:  # bottom-right aligned band, built with torch's own tril
        keep = keep.tril(s - t)
        if window is not None:
            keep &= ~T.ones(t, s, dtype=T.bool).tril(s - t - window)
    if mask is not None:
        keep = keep & T.as_tensor(mask)
    return T.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale)


SPECS.update({
    "Softmax": Spec(unary(min_dims=1, axis=an_axis), lambda x, axis: F.softmax(x, axis), _softmax_ref,
                    torch=lambda T, x, axis: T.softmax(x, axis)),
    "LogSoftmax": Spec(unary(min_dims=1, axis=an_axis), lambda x, axis: F.log_softmax(x, axis),
                       _log_softmax_ref, torch=lambda T, x, axis: T.log_softmax(x, axis)),
    "CrossEntropy": Spec(cross_entropy_case(), cross_entropy_last, _cross_entropy_ref, torch=_torch_cross_entropy),
    "LayerNorm": Spec(layer_norm_case(), _layer_norm_fn, _layer_norm_ref, torch=_torch_layer_norm),
    "Embedding": Spec(embedding_case(), lambda w, ids: F.embedding(ids, w), lambda w, ids: w[ids],
                      torch=lambda T, w, ids: T.nn.functional.embedding(T.as_tensor(ids), w)),
    "SparseEmbedding": Spec(embedding_case(), lambda w, ids: F.embedding(ids, w, sparse=True), lambda w, ids: w[ids],
                            torch=lambda T, w, ids: T.nn.functional.embedding(T.as_tensor(ids), w, sparse=True)),
    "Dropout": Spec(dropout_case(), _dropout_fn,
                    lambda x, p, seed: x * _dropout_keep(seed, x.shape, p) / (1 - p), ref_devices=("cpu",),
                    torch_skip="torch draws its dropout mask from its own generator"),
    "ScaledDotProductAttention": Spec(attention_case(), _attention_fn, _attention_ref, torch=_torch_attention),
})


@st.composite
def self_attention_case(draw):
    b, t, n_head, hs = (draw(st.integers(1, 3)), draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, 3)),
                        draw(st.integers(1, 3)))
    window = draw(st.one_of(st.none(), st.integers(1, t)))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, (b, t, 3 * n_head * hs)),), {"n_head": n_head, "window": window})


def _split_heads(qkv, n_head):
    """(B, T, 3C) -> q, k, v each (B, nh, T, hs), by plain NumPy."""
    b, t, c3 = qkv.shape
    parts = np.split(qkv, 3, axis=-1)
    return [p.reshape(b, t, n_head, c3 // 3 // n_head).transpose(0, 2, 1, 3) for p in parts]


def _self_attention_ref(qkv, n_head, window):
    q, k, v = _split_heads(qkv, n_head)
    y = _attention_ref(q, k, v, True, window, None, 0.0, None)
    return y.transpose(0, 2, 1, 3).reshape(qkv.shape[0], qkv.shape[1], -1)


def _torch_self_attention(T, qkv, n_head, window):
    b, t, c3 = qkv.shape
    q, k, v = (p.reshape(b, t, n_head, -1).transpose(1, 2) for p in qkv.split(c3 // 3, dim=-1))
    y = _torch_attention(T, q, k, v, True, window, None, 0.0, None)
    return y.transpose(1, 2).reshape(b, t, -1)


SPECS["SelfAttention"] = Spec(self_attention_case(), lambda qkv, n_head, window: F.self_attention(
    qkv, n_head, window=window), _self_attention_ref, torch=_torch_self_attention)

# ---- derived: Tensor-level ops built from primitives, and API variants ----------------------------


@st.composite
def var_case(draw, strict=False):
    shape = draw(shapes())
    axis = draw(axes_for(len(shape)))
    ddof = draw(st.sampled_from([0, 1]))
    n = reduced_size(shape, axis)
    assume(n > ddof and (n >= 2 or not strict))  # n <= ddof is nan; std needs var > 0 (sqrt's kink)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape, "distinct" if strict else "real"),),
                {"axis": axis, "keepdims": draw(st.booleans()), "ddof": ddof})


def _torch_var(name):
    def f(T, a, axis, keepdims, ddof):
        dims = _torch_axes(axis, a.ndim)
        if dims is None:  # NumPy: no axis reduced leaves n=1 per entry, var 0
            return a * 0
        return getattr(T, name)(a, dim=dims, correction=ddof, keepdim=keepdims)

    return f


@st.composite
def split_case(draw, chunk=False):
    shape = draw(shapes(1, 4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    rng = np.random.default_rng(draw(SEEDS))
    if chunk:
        return Case((fill(rng, shape),), {"chunks": draw(st.integers(1, 6)), "axis": axis})
    if draw(st.booleans()):
        size = draw(st.integers(1, n + 1))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        size = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, n])]
    return Case((fill(rng, shape),), {"size": size, "axis": axis})


def _split_ref(a, size, axis):
    n = a.shape[axis]
    bounds = np.cumsum(size)[:-1] if isinstance(size, list) else np.arange(size, n, size)
    return tuple(np.split(a, bounds, axis=axis))


def _chunk_ref(a, chunks, axis):
    size = -(-a.shape[axis] // chunks)
    return _split_ref(a, size, axis)


@st.composite
def flatten_case(draw):
    shape = draw(shapes())
    nd = max(len(shape), 1)
    start, end = sorted((draw(st.integers(0, nd - 1)), draw(st.integers(0, nd - 1))))
    start -= nd * draw(st.integers(0, 1))
    end -= nd * draw(st.integers(0, 1))
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"start_dim": start, "end_dim": end})


def _flatten_ref(a, start_dim, end_dim):
    if a.ndim == 0:
        return a.reshape(1)
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return a.reshape(*a.shape[:s], -1, *a.shape[e + 1:])


@st.composite
def squeeze_case(draw):
    shape = tuple(1 if draw(st.booleans()) else s for s in draw(shapes()))
    ones = [i for i, s in enumerate(shape) if s == 1]
    axis = draw(st.one_of(st.none(), st.sampled_from(ones), st.lists(st.sampled_from(ones), unique=True).map(tuple))
                if ones else st.none())
    if isinstance(axis, int) and draw(st.booleans()):
        axis -= len(shape)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"axis": axis})


@st.composite
def expand_case(draw):
    shape = draw(shapes(0, 3))
    lead = draw(shapes(0, 2, max_side=4))
    target = list(lead)
    for s in shape:
        choice = draw(st.integers(1, 4)) if s == 1 else s
        target.append(-1 if draw(st.booleans()) else choice)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"shape": tuple(target)})


def _expand_ref(a, shape):
    lead = len(shape) - a.ndim
    full = [a.shape[i - lead] if s == -1 else s for i, s in enumerate(shape)]
    return np.broadcast_to(a, full)


@st.composite
def two_axes_case(draw, min_dims=1):
    shape = draw(shapes(min_dims, 4))
    nd = len(shape)
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape),), {"ax1": draw(st.integers(-nd, nd - 1)), "ax2": draw(st.integers(-nd, nd - 1))})


@st.composite
def int_array_index_case(draw):
    """Integer-array indices with duplicates: on axis 0, after a slice, or on every axis."""
    shape = draw(shapes(1, 4))
    rng = np.random.default_rng(draw(SEEDS))
    kind = draw(st.sampled_from(["first", "after_slice", "every_axis"] if len(shape) > 1 else ["first"]))
    if kind == "every_axis":
        index = draw(hnp.integer_array_indices(shape, result_shape=shapes(1, 2)))
    else:
        axis = 0 if kind == "first" else 1
        n = shape[axis]
        idx = rng.integers(-n, n, size=draw(st.integers(1, 6)))
        idx = np.append(idx, idx[0] % n - n * draw(st.integers(0, 1)))  # a duplicate, maybe spelled negatively
        idx = idx.reshape(draw(st.sampled_from([(-1,), (1, -1), (-1, 1)])))
        index = idx if kind == "first" else (slice(None), idx)
        if kind == "first" and draw(st.booleans()):
            index = idx.reshape(-1).tolist()  # a Python list is an index array too
    return Case((fill(rng, shape),), {"index": index})


@st.composite
def bool_mask_case(draw):
    shape = draw(shapes(1, 4))
    k = draw(st.integers(1, len(shape)))
    rng = np.random.default_rng(draw(SEEDS))
    mask = rng.random(shape[:k]) < draw(st.sampled_from([0.0, 0.5, 1.0]))
    return Case((fill(rng, shape),), {"mask": mask, "as_tensor": draw(st.booleans())})


def _torch_index(T, a, index):
    if isinstance(index, tuple):
        return a[tuple(T.as_tensor(i) if isinstance(i, np.ndarray) else i for i in index)]
    return a[T.as_tensor(np.asarray(index))]


@st.composite
def zero_base_case(draw, scalar=False):
    """Non-negative bases with exact zeros, integer exponents >= 1 (``p`` also 0): smooth there."""
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    a = np.where(rng.random(sa) < 0.3, 0.0, fill(rng, sa, "positive"))
    if scalar:
        return Case((a,), {"p": draw(st.sampled_from([0, 1, 2, 3]))})
    return Case((a, rng.integers(1, 4, size=sb).astype(np.float64)), {})


SCALARS = (-1.5, 0.5, 2.0)


@st.composite
def scalar_case(draw, domain="real", avoid=()):
    """One array and a Python scalar ``c`` (values avoid SCALARS where c is a kink)."""
    shape = draw(shapes())
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, shape, domain, avoid),), {"c": draw(st.sampled_from(SCALARS))})


@st.composite
def numpy_operand_case(draw, b_domain="real"):
    sa, sb = draw(broadcast_shapes()).input_shapes
    rng = np.random.default_rng(draw(SEEDS))
    return Case((fill(rng, sb, b_domain),), {"other": fill(rng, sa)})


@st.composite
def rmatmul_case(draw):
    case = draw(matmul_case())
    return Case(case.arrays[1:], {"other": case.arrays[0]})


def _torch_squeeze(T, a, axis):
    if axis is None:
        return a.squeeze()
    return a * 1 if axis == () else a.squeeze(axis)


DERIVED: dict[str, Spec] = {
    "var": Spec(var_case(), lambda a, axis, keepdims, ddof: a.var(axis=axis, keepdims=keepdims, ddof=ddof),
                lambda a, axis, keepdims, ddof: np.var(a, axis=axis, keepdims=keepdims, ddof=ddof),
                torch=_torch_var("var")),
    "std": Spec(var_case(strict=True), lambda a, axis, keepdims, ddof: a.std(axis=axis, keepdims=keepdims, ddof=ddof),
                lambda a, axis, keepdims, ddof: np.std(a, axis=axis, keepdims=keepdims, ddof=ddof),
                torch=_torch_var("std")),
    "split": Spec(split_case(), lambda a, size, axis: tuple(a.split(size, axis)), _split_ref,
                  torch=lambda T, a, size, axis: T.split(a, size, axis)),
    "chunk": Spec(split_case(chunk=True), lambda a, chunks, axis: tuple(a.chunk(chunks, axis)), _chunk_ref,
                  torch=lambda T, a, chunks, axis: T.chunk(a, chunks, axis)),
    "flatten": Spec(flatten_case(), lambda a, start_dim, end_dim: a.flatten(start_dim, end_dim), _flatten_ref,
                    torch=lambda T, a, start_dim, end_dim: T.flatten(a, start_dim, end_dim)),
    "squeeze": Spec(squeeze_case(), lambda a, axis: a.squeeze(axis), lambda a, axis: np.squeeze(a, axis),
                    torch=_torch_squeeze),
    "unsqueeze": Spec(
        unary(axis=a_new_axis), lambda a, axis: a.unsqueeze(axis), lambda a, axis: np.expand_dims(a, axis),
        torch=lambda T, a, axis: a.unsqueeze(axis),
    ),
    "expand": Spec(expand_case(), lambda a, shape: a.expand(*shape), _expand_ref,
                   torch=lambda T, a, shape: a.expand(tuple(shape))),
    "swapaxes": Spec(two_axes_case(), lambda x, ax1, ax2: x.swapaxes(ax1, ax2),
                     lambda x, ax1, ax2: np.swapaxes(x, ax1, ax2),
                     torch=lambda T, x, ax1, ax2: T.swapaxes(x, ax1, ax2)),
    # Two axes swap, as in torch, on any number of dims (2-D included: x.transpose(0, 1) is x.T).
    "transpose_two_axes": Spec(two_axes_case(min_dims=2), lambda x, ax1, ax2: x.transpose(ax1, ax2),
                               lambda x, ax1, ax2: np.swapaxes(x, ax1, ax2),
                               torch=lambda T, x, ax1, ax2: x.transpose(ax1, ax2)),
    "transpose_reverse": Spec(unary(), lambda a: a.transpose(), np.transpose,
                              torch=lambda T, a: a.permute(tuple(reversed(range(a.ndim))))),
    "T": Spec(unary(), lambda a: a.T, lambda a: a.T, torch=lambda T, a: a.permute(tuple(reversed(range(a.ndim))))),
    "getitem_int_array": Spec(int_array_index_case(), lambda a, index: a[index], lambda a, index: a[index],
                              torch=_torch_index),
    "getitem_bool_mask": Spec(
        bool_mask_case(), lambda a, mask, as_tensor: a[Tensor(mask) if as_tensor else mask],
        lambda a, mask, as_tensor: a[mask], torch=lambda T, a, mask, as_tensor: a[T.as_tensor(mask)],
    ),
    "getitem_compare_mask": Spec(
        scalar_case(avoid=SCALARS), lambda a, c: a[a > c], lambda a, c: a[a > c],
        torch=lambda T, a, c: a[a > c],
    ),
    "maximum_scalar": Spec(scalar_case(avoid=SCALARS), lambda a, c: a.maximum(c),
                           lambda a, c: np.maximum(a, c), torch=lambda T, a, c: T.clamp(a, min=c)),
    "minimum_scalar": Spec(scalar_case(avoid=SCALARS), lambda a, c: a.minimum(c),
                           lambda a, c: np.minimum(a, c), torch=lambda T, a, c: T.clamp(a, max=c)),
    "clip_min": Spec(scalar_case(avoid=SCALARS), lambda a, c: a.clip(min=c),
                     lambda a, c: np.maximum(a, c), torch=lambda T, a, c: a.clamp(min=c)),
    "clip_max": Spec(scalar_case(avoid=SCALARS), lambda a, c: a.clamp(max=c),
                     lambda a, c: np.minimum(a, c), torch=lambda T, a, c: a.clamp(max=c)),
    "clip_numpy_bounds": Spec(
        unary(avoid=(-0.5, 0.7)), lambda a: a.clip(np.float64(-0.5), np.float64(0.7)),
        lambda a: np.minimum(np.maximum(a, -0.5), 0.7), torch=lambda T, a: a.clamp(-0.5, 0.7),
    ),
    "where_scalar": Spec(
        where_case(), lambda a, b, cond: engine.where(cond, a, 0.5) + engine.where(cond, -1.0, b),
        lambda a, b, cond: np.where(cond, a, 0.5) + np.where(cond, -1.0, b),
        torch=lambda T, a, b, cond: T.where(T.as_tensor(cond), a, 0.5) + T.where(T.as_tensor(cond), -1.0, b),
    ),
    "add_scalar": Spec(scalar_case(), lambda a, c: a + c, lambda a, c: a + c, torch=lambda T, a, c: a + c),
    "sub_scalar": Spec(scalar_case(), lambda a, c: a - c, lambda a, c: a - c, torch=lambda T, a, c: a - c),
    "mul_scalar": Spec(scalar_case(), lambda a, c: a * c, lambda a, c: a * c, torch=lambda T, a, c: a * c),
    "div_scalar": Spec(scalar_case(), lambda a, c: a / c, lambda a, c: a / c, torch=lambda T, a, c: a / c),
    "radd": Spec(scalar_case(), lambda a, c: c + a, lambda a, c: c + a, torch=lambda T, a, c: c + a),
    "rsub": Spec(scalar_case(), lambda a, c: c - a, lambda a, c: c - a, torch=lambda T, a, c: c - a),
    "rmul": Spec(scalar_case(), lambda a, c: c * a, lambda a, c: c * a, torch=lambda T, a, c: c * a),
    "rtruediv": Spec(scalar_case("nonzero"), lambda a, c: c / a, lambda a, c: c / a, torch=lambda T, a, c: c / a),
    "rpow": Spec(unary(c=st.sampled_from([0.5, 2.0, 3])), lambda a, c: c**a, lambda a, c: np.float64(c) ** a,
                 torch=lambda T, a, c: c**a),
    "radd_ndarray": Spec(numpy_operand_case(), lambda b, other: other + b, lambda b, other: other + b,
                         torch=lambda T, b, other: T.as_tensor(other) + b),
    "rsub_ndarray": Spec(numpy_operand_case(), lambda b, other: other - b, lambda b, other: other - b,
                         torch=lambda T, b, other: T.as_tensor(other) - b),
    "rmul_ndarray": Spec(numpy_operand_case(), lambda b, other: other * b, lambda b, other: other * b,
                         torch=lambda T, b, other: T.as_tensor(other) * b),
    "rtruediv_ndarray": Spec(numpy_operand_case("nonzero"), lambda b, other: other / b,
                             lambda b, other: other / b, torch=lambda T, b, other: T.as_tensor(other) / b),
    "rmatmul_ndarray": Spec(rmatmul_case(), lambda b, other: other @ b, lambda b, other: other @ b,
                            torch=lambda T, b, other: T.as_tensor(other) @ b),
    "rmul_numpy_scalar": Spec(scalar_case(), lambda a, c: np.float64(c) * a, lambda a, c: c * a,
                              torch=lambda T, a, c: c * a),
    "pow_numpy_scalar": Spec(unary("positive"), lambda a: a ** np.float64(1.5), lambda a: a**1.5,
                             torch=lambda T, a: a**1.5),
    "pow_scalar_negative_base": Spec(
        unary("nonzero", p=st.sampled_from([2, 3, -1, -2])), lambda a, p: a**p, lambda a, p: a ** float(p),
        torch=lambda T, a, p: a**p,
    ),
    "pow_zero_base": Spec(zero_base_case(), lambda a, b: a**b, lambda a, b: a**b, torch=lambda T, a, b: a**b),
    "pow_scalar_zero_base": Spec(zero_base_case(scalar=True), lambda a, p: a**p, lambda a, p: a ** float(p),
                                 torch=lambda T, a, p: a**p),
    "pow_both_tensors_broadcast": Spec(
        binary("positive", "real"), lambda a, b: a ** b.sum(), lambda a, b: a ** b.sum(),
        torch=lambda T, a, b: a ** b.sum(),
    ),
    "linear_no_bias": Spec(linear_case(bias=False), F.linear, _linear_ref,
                           torch=lambda T, *a: T.nn.functional.linear(*a)),
    "attention_dropout": Spec(attention_case(dropout=True), _attention_fn, _attention_ref, ref_devices=("cpu",),
                              torch_skip="torch draws its dropout mask from its own generator"),
    "masked_fill_tensor_mask": Spec(
        scalar_case(avoid=SCALARS), lambda a, c: a.masked_fill(a < c, c), lambda a, c: np.where(a < c, c, a),
        torch=lambda T, a, c: a.masked_fill(a < c, c),
    ),
}

# Each op family of the torch-named API keeps its specs in a file of its own (specs_<family>.py,
# which imports its helpers from this module); all of them join the one registry here.
for _family in ("specs_elementwise", "specs_reduce", "specs_shape", "specs_losses", "specs_spatial",
                "specs_recurrent", "specs_more", "specs_fft", "specs_complex", "specs_sparse"):
    try:
        _module = importlib.import_module(_family)
    except ModuleNotFoundError as e:
        if e.name != _family:
            raise
        continue
    for _table, _more in ((SPECS, _module.SPECS), (DERIVED, _module.DERIVED)):
        _clash = set(_more) & (set(SPECS) | set(DERIVED))
        assert not _clash, f"{_family}: specs named twice: {sorted(_clash)}"
        _table.update(_more)

ALL_SPECS: dict[str, Spec] = {**SPECS, **DERIVED}
