"""Higher-order gradients: the reverse sweep of ``create_graph=True``, which records a graph.

The ordinary sweep (``engine.tensor.backpropagate``) runs every op's ``backward`` on arrays: fast,
and outside the graph. This one is used only when ``create_graph=True`` (``backward``,
``autograd.grad``, ``autograd.functional.hessian/hvp/vhp``): the gradient that flows is a Tensor,
and each node's gradient is computed with engine ops, so it is itself differentiable.

It reuses each op's one reference ``backward``, run on Tensors: ``g`` is a Tensor, ``self.saved``
holds Tensors standing for the saved arrays (the op's inputs and output, connected to the graph),
``self.xp`` is ``TENSOR_XP`` (the NumPy names backward code calls, as engine functions) and
``self.kernel`` is None (the reference path). Only the ops in ``_REFERENCE`` (checked by
tests/engine/test_parity_higher_order_s15.py against torch's double backward) run that way; a few
whose reference is array-only (a bit mask, a scatter, a fused row loop) have their gradient written
as engine ops in ``_RULES``: the adjoint op of a linear backward, or the op's composition from
primitives, differentiated by a nested sweep. Every other op raises NotImplementedError when a
``create_graph`` sweep reaches it. Convolutions, pooling and batch norm have rules too
(tests/engine/test_parity_higher_order2_s15.py): a conv's input gradient is the transposed conv
and back, its weight gradient a conv over batch-transposed tensors, avg pooling a transposed conv
with a ones kernel, max pooling a fixed scatter. Linear algebra, special functions, median and
unfold/fold have rules too (tests/engine/test_parity_higher_order_s16.py): the first derivative
written with engine ops (torch's FunctionsManual formulas: inv, det, solve, cholesky, eigh, svd, qr
with Inverse/Solve/SvdPacked; digamma for lgamma, polygamma(n + 1) for polygamma(n), ...), so the
second comes from the engine; a decomposition's outputs are sliced from its packed output in the graph.
scatter_reduce / index_reduce (prod, amin, amax), copysign, frexp, nextafter and einsum with a repeated
letter have rules too (tests/engine/test_parity_gradgrad_misc_s18.py): torch's formulas on Tensors, and
where torch's gradient is right to first order only (two zeros of src at one position of a prod), a
``_DelayedError`` node that raises when it is differentiated, as torch's DelayedError.
Complex graphs (``_COMPLEX_OK``: holomorphic elementwise ops, matmul, sums, shape ops, and real/imag/abs/conj)
run the same rules through the array sweep's conjugation (engine.function.complex_backward), checked by
tests/engine/test_parity_complex_gradgrad_s17.py; ops written in torch's convention (``conj_grad = False``) use
ᴴ where a real rule has ᵀ (the same graph for real input), and ``_COMPLEX_RULES`` holds torch's complex formulas
for sgn, angle, pow, view_as_real/complex, complex, polar and slogdet's sign; where, the inverse trig and
hyperbolic functions, prod/cumprod/cumsum/var/logsumexp and linear algebra (inv, det, slogdet, solve,
cholesky, eigh, svd, svdvals, qr, pinv) are checked by tests/engine/test_parity_complex_gradgrad_s18.py (eig by
tests/engine/test_parity_gradgrad_layers_s18.py); linear, the convolutions and transposed convolutions,
unfold/fold, setitem, logaddexp and logcumsumexp by tests/engine/test_parity_complex_gradgrad_sweep_s18.py (found by
``opinfo_sweep.py --gradgrad --dtypes complex128``). Any other op with a complex tensor raises NotImplementedError
naming it. FFTs (every
engine.fft transform, stft, istft) and the as_strided family, real and complex, are checked by
tests/engine/test_parity_gradgrad_fft_s18.py: an FFT's backward is recorded as one more FFT, of the adjoint
steps, as_strided's as its scatter and gather. The fused layers (attention, the recurrent layers) have rules too
(tests/engine/test_parity_gradgrad_layers_s18.py): the op's forward recomputed from primitives (with the
dropout mask and attention mask the forward kept) and differentiated by a nested sweep; setitem, zeta, gammainc,
module backward hooks (GradTap) and eig (complex, torch's linalg_eig_backward; complex inv and solve too) as well.

>>> from engine import Tensor, autograd
>>> x = Tensor([1.0, 2.0], requires_grad=True)
>>> (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)
>>> autograd.grad(g.sum(), x)[0].tolist()  # d²(x³)/dx² = 6x
[6.0, 12.0]
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Callable

import numpy as np

import engine
from engine.backend import scatter_add
from engine.function import Function, enable_grad
from engine.ops import (
    activations,
    elementwise,
    fused,
    matmul,
    movement,
    norm,
    reduce,
    scan,
    spatial,
    special,
    special_functions,
)
from engine.ops import linalg as linalg_ops
from engine.tensor import Tensor, _GraphRef, _node_of, _sweeps, _toposort, graph_ref, sweep_start

# ---- the array module of a graph backward -----------------------------------------------------------


def _tensor(x, like: Tensor | None = None) -> Tensor:
    """``x`` as a Tensor: numbers and NumPy scalars in ``like``'s dtype (no float64 leak)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and np.ndim(x) == 0 and like.dtype.kind == "f":
        return engine.tensor(x, dtype=like.dtype, device=like.device)
    return Tensor(x)


def _where(cond, a, b) -> Tensor:
    """``xp.where`` on Tensors: ``cond`` a bool array or Tensor (no gradient), a and b Tensors or numbers."""
    like = a if isinstance(a, Tensor) else b
    cond = cond._data if isinstance(cond, Tensor) else cond
    return elementwise.Where.apply(_tensor(a, like), _tensor(b, like), cond=cond)


def _binary(name: str) -> Callable:
    def op(a, b):
        like = a if isinstance(a, Tensor) else b
        return getattr(engine, name)(_tensor(a, like), _tensor(b, like))
    return op


def _zeros_like(a, dtype=None) -> Tensor:
    return engine.zeros(a.shape, dtype=dtype or a.dtype, device=a.device)


TENSOR_XP = types.SimpleNamespace(
    # what the reference backwards in _REFERENCE call on self.xp, each recorded in the graph
    exp=Tensor.exp, log=Tensor.log, sqrt=Tensor.sqrt, sin=Tensor.sin, cos=Tensor.cos, tanh=Tensor.tanh,
    sinh=Tensor.sinh, cosh=Tensor.cosh, abs=Tensor.abs, log1p=Tensor.log1p, expm1=Tensor.expm1,
    sign=lambda a: a.sign(), isnan=lambda a: a.isnan(), where=_where,
    maximum=_binary("maximum"), minimum=_binary("minimum"),
    zeros_like=_zeros_like, broadcast_to=lambda a, shape: a.broadcast_to(tuple(shape)),
    swapaxes=lambda a, i, j: a.swapaxes(i, j), expand_dims=lambda a, axis: a.unsqueeze(axis),
    moveaxis=lambda a, src, dst: a.movedim(src, dst),
)


@contextlib.contextmanager
def _arrays_forbidden(op: str):
    """A reference backward that turned a Tensor into an array (a NumPy function, ``np.asarray``)
    would cut the graph and give a wrong higher derivative silently: make it raise instead."""
    def refuse(self, dtype=None, copy=None):
        raise NotImplementedError(f"double backward of {op} is not supported (its backward needs arrays)")
    saved = Tensor.__array__
    Tensor.__array__ = refuse
    try:
        yield
    finally:
        Tensor.__array__ = saved


class _GraphCtx:
    """An op's ``self`` for its reference backward run on Tensors: the op's attributes, with
    ``saved`` as Tensors, ``xp`` as TENSOR_XP and no kernel."""

    def __init__(self, ctx, saved: tuple):
        self.__dict__.update(ctx=ctx, saved=saved, xp=TENSOR_XP, kernel=None)

    def __getattr__(self, name: str):
        return getattr(self.ctx, name)


# ---- the saved arrays as Tensors of the graph -------------------------------------------------------


def _stand_in(arr, ref, like) -> Tensor:
    """A Tensor holding ``arr`` in the graph at node ``ref`` (a ``_GraphRef``) of a tensor that is gone."""
    t = Tensor(arr)
    t._requires_grad, t._ctx, t._vc, t._gref = like._requires_grad, like._ctx, like._vc, ref
    return t


def _live(node) -> Tensor | None:
    """The tensor at ``node`` while it lives (a leaf or a live intermediate), else None."""
    if type(node) is _GraphRef:
        return node._real()
    return node


def saved_tensors(node, ctx, count: int | None = None) -> tuple:
    """``ctx.saved`` as Tensors of the graph: each saved array is one of the op's inputs or its output
    (the output of node ``node``). Ops save inputs at their own positions (``saved[i]`` is input i or
    None) and then the output, so the input at the saved array's position is tried first; otherwise
    the one candidate that fits: a live tensor by its array's identity, one that is gone (ctx.parents
    keeps only its ``_GraphRef``) by shape and dtype, among the inputs whose version the op recorded
    as saved, and the output. Two different tensors that both fit (``x * x.detach()`` shares x's
    array; two freed inputs of one shape) raise NotImplementedError rather than guess. ``count``:
    only the first ``count`` saved arrays (the rest may be statistics, such as LayerNorm's rstd)."""
    name = type(ctx).__name__
    cells = {id(v[0]) for v in ctx._versions}
    out_ref = node if type(node) is _GraphRef else graph_ref(node)
    slot = {}  # input position -> index in candidates
    candidates = []
    for k, p in enumerate(ctx.parents):
        if p is not None and id(p._vc) in cells:
            slot[k] = len(candidates)
            candidates.append(p)
    candidates.append(out_ref)  # not always in cells: amax saves the keepdim array its output views
    used: set[int] = set()

    def fits(cand, arr) -> bool:
        live, is_out = _live(cand), cand is out_ref
        if isinstance(arr, np.generic) and not is_out:
            return False  # a Tensor's array is an ndarray: a NumPy scalar is never an input's
        if live is not None:
            data = live._data
            if isinstance(arr, np.generic):
                # a forward that returned a NumPy scalar (exp of a 0-d array): Tensor() made the output a
                # new 0-d array of it, so identity is lost; the same bits in the same dtype are that scalar
                return data.ndim == 0 and data.dtype == arr.dtype and data.tobytes() == arr.tobytes()
            return data is arr or (is_out and getattr(data, "base", None) is arr)
        return (cand.shape == arr.shape or (is_out and math.prod(cand.shape) == arr.size)) \
            and cand.dtype == arr.dtype

    result = []
    for pos, arr in enumerate(ctx.saved[:count]):
        if arr is None or not hasattr(arr, "shape"):
            result.append(arr)
            continue
        i = slot.get(pos)
        if i is None or i in used or not fits(candidates[i], arr):
            fit = [i for i, cand in enumerate(candidates) if i not in used and fits(cand, arr)]
            if len({id(candidates[i]) for i in fit}) != 1:
                why = "neither an input nor its output" if not fit else "that more than one input or output fits"
                raise NotImplementedError(f"double backward of {name} is not supported (it saved an array {why})")
            i = fit[0]
        cand = candidates[i]
        is_out = cand is out_ref
        used.add(i)
        live = _live(cand)
        if live is not None and live._data is arr:
            result.append(live)
        elif is_out:  # the output (or the un-reshaped array it views), e.g. amax without keepdim
            t = _stand_in(arr.reshape(cand.shape), out_ref, cand) if live is None else live
            result.append(t if t.shape == arr.shape else t.reshape(arr.shape))
        else:
            result.append(_stand_in(arr, cand, cand))
    return tuple(result)


# ---- gradient rules for ops whose reference backward is array-only ----------------------------------


def vjp_of(compose: Callable, inputs: list, g: Tensor) -> list:
    """d(compose(*inputs) · g)/d(input) for each input (None for None or where none flows), recorded in
    the graph: a nested create_graph sweep over the composition that stops at the inputs.

    >>> from engine import Tensor
    >>> x = Tensor([3.0], requires_grad=True)
    >>> vjp_of(lambda a: a * a, [x], Tensor([1.0]))[0].tolist()
    [6.0]
    """
    with enable_grad():
        y = compose(*inputs)
    want = [t for t in inputs if t is not None and t.requires_grad]
    got = sweep([y], [g], retain_graph=True, capture=want, stop=want)
    grads, k = [], 0
    for t in inputs:
        if t is not None and t.requires_grad:
            grads.append(got.get(k))
            k += 1
        else:
            grads.append(None)
    return grads


def _relu(node, ctx, g):
    (out,) = saved_tensors(node, ctx)  # the gradient passes where out > 0 (a nan input passes it on)
    return (_where(~(out._data <= 0), g, 0),)


def _get_item(node, ctx, g):  # the adjoint of a[index]: scatter-add into zeros (repeats summed)
    return (movement.IndexAccumulate.apply(g, index=ctx.index, shape=ctx.in_shape),)


def _take_along(node, ctx, g):  # the adjoint of take_along_axis: scatter-add at (grids, index)
    grids = list(ctx.xp.indices(ctx.index.shape, sparse=True))
    grids[ctx.axis] = ctx.index
    return (movement.IndexAccumulate.apply(g, index=tuple(grids), shape=ctx.in_shape),)


def _linear(node, ctx, g):
    if ctx.compute_dtype is not None:
        raise NotImplementedError("double backward of Linear under autocast is not supported")
    x, w = saved_tensors(node, ctx)
    need = ctx.needs_input_grad
    g2 = g.reshape(-1, g.shape[-1])  # (N, out)
    gx = (g2 @ w).reshape(x.shape) if need[0] else None
    gw = g2.mT @ x.reshape(-1, x.shape[-1]) if need[1] else None
    gb = g2.sum(0) if need[2] else None
    return gx, gw, gb


def _layer_norm(node, ctx, g):
    x, weight, mean, rstd = ctx.saved
    if x.dtype.itemsize < 4:
        raise NotImplementedError("double backward of LayerNorm in float16 is not supported")
    x_t, w_t = saved_tensors(node, ctx, 2)
    # var + eps as a function of x: eps (not kept by the op) is 1/rstd² − var per row
    var0 = ((x - mean[..., None]) ** 2).mean(axis=-1, keepdims=True)
    eps = Tensor((1 / (rstd.astype(np.float64) ** 2))[..., None] - var0).astype(x.dtype)

    def compose(x, w):
        xc = x - x.mean(-1, keepdim=True)
        xhat = xc * ((xc * xc).mean(-1, keepdim=True) + eps).rsqrt()
        return xhat if w is None else xhat * w

    gx, gw = vjp_of(compose, [x_t, w_t], g)
    gb = g.reshape(-1, g.shape[-1]).sum(0) if ctx.needs_input_grad[2] else None
    return gx, gw, gb


def _cross_entropy(node, ctx, g):
    (logits,) = saved_tensors(node, ctx, 1)
    rows = ctx.xp.arange(ctx.t.shape[0])
    pick = ctx.xp.where(ctx.valid, ctx.t, 0)
    valid = ctx.valid.astype(logits.dtype)

    def compose(logits):
        flat = logits.reshape(-1, logits.shape[-1]).log_softmax(-1)
        loss = -flat[rows, pick] * Tensor(valid)  # (N,), 0 on ignored rows
        if ctx.reduction == "none":
            return loss.reshape(g.shape)
        total = loss.sum()
        return total if ctx.reduction == "sum" else total / max(ctx.n_valid, 1)

    return (vjp_of(compose, [logits], g)[0], None)


def _gelu(node, ctx, g):
    if ctx.approximate == "tanh":
        return _reference(node, ctx, g)
    (a,) = saved_tensors(node, ctx)
    return tuple(vjp_of(lambda a: 0.5 * a * (1 + (a * (1 / math.sqrt(2))).erf()), [a], g))


def _elu(node, ctx, g):
    """The reference's where(a <= 0, g·neg·inp·exp(a·inp), g·pos) with the exp taken at a only where
    a < 0 (else at 0): the unselected branch's exp(1000) = inf would turn where's zero gradient into
    0 · inf = nan (torch: 0), and torch's elu_double_backward has no a-term at a = 0."""
    (a,) = saved_tensors(node, ctx)
    neg, pos, inp = ctx.coefs
    grow = (_where(a._data < 0, a, 0) * _tensor(inp, a)).exp()
    return (_where(a._data <= 0, g * _tensor(inp * neg, g) * grow, g * _tensor(pos, g)),)


def _clip(node, ctx, g):  # the gradient passes where lo <= a <= hi: a fixed mask, so linear in g
    (a,) = ctx.saved
    mask = np.ones(a.shape, dtype=bool)
    if ctx.lo is not None:
        mask &= a >= ctx.lo
    if ctx.hi is not None:
        mask &= a <= ctx.hi
    return (_where(mask, g, 0),)


def _rounding(node, ctx, g):  # piecewise constant: 0, whatever g is
    return (_zeros_like(g),)


def _binary_cross_entropy(node, ctx, g):
    # the reference formulas on Tensors (torch's binary_cross_entropy_double_backward differentiates
    # the same dx = g (x - t) / ((1 - x) x) and dt = -g logit(x))
    x, t = saved_tensors(node, ctx)
    need = ctx.needs_input_grad
    eps = _tensor(ctx.EPSILON.item(), x)
    gx = g * (x - t) / engine.maximum((1 - x) * x, eps) if need[0] else None
    gt = -g * (x.log() - (-x).log1p()) if need[1] else None
    return gx, gt


def _sum_to(t: Tensor, shape: tuple) -> Tensor:
    """``t`` summed down to ``shape`` (undoing broadcasting), as ``elementwise.sum_to`` on arrays."""
    shape = tuple(shape)
    if t.shape == shape:
        return t
    lead = t.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and t.shape[i + lead] != 1)
    return t.sum(axes, keepdim=True).reshape(shape) if axes else t.reshape(shape)


def _clamp_tensor(node, ctx, g):  # fixed masks (torch's), so linear in g
    a, lo, hi = ctx.saved
    keep = np.ones(g.shape, dtype=bool)
    if lo is not None:
        keep = keep & (a >= lo)
    if hi is not None:
        keep = keep & (a <= hi)
    need = ctx.needs_input_grad
    ga = _sum_to(_where(keep, g, 0), a.shape) if need[0] else None
    glo = ghi = None
    if lo is not None and need[1]:
        below = a < lo if hi is None else (a < lo) & (lo < hi)
        glo = _sum_to(_where(np.broadcast_to(below, g.shape), g, 0), lo.shape)
    if hi is not None and need[2]:
        above = a > hi if lo is None else (a > hi) | (hi < lo)
        ghi = _sum_to(_where(np.broadcast_to(above, g.shape), g, 0), hi.shape)
    return ga, glo, ghi


def _nan_to_num(node, ctx, g):  # the gradient passes where a is finite: a fixed mask
    return (_where(np.isfinite(ctx.saved[0]), g, 0),)


def _rounded_div(node, ctx, g):  # piecewise constant in both: 0
    sa, sb = ctx.shapes
    return engine.zeros(sa, dtype=g.dtype, device=g.device), engine.zeros(sb, dtype=g.dtype, device=g.device)


def _remainder_like(quotient):
    """fmod / remainder: a - q·b with q = trunc or floor(a / b) piecewise constant (torch's rule:
    g for a, -g·q for b, q a constant), so linear in g."""
    def rule(node, ctx, g):
        a, b = ctx.saved
        gb = None
        if ctx.needs_input_grad[1]:
            with np.errstate(all="ignore"):
                q = quotient(a, b)
            gb = _sum_to(-g * _tensor(q.astype(g.dtype, copy=False), g), b.shape)
        return _sum_to(g, a.shape), gb
    return rule


def _logit(node, ctx, g):
    (p,) = saved_tensors(node, ctx)
    raw, eps = ctx.saved[0], ctx.eps
    grad = g / (p * (1 - p))
    if eps is None:
        return (_where((raw < 0) | (raw > 1), math.nan, grad),)
    return (_where((raw < eps) | (raw > 1 - eps), 0, grad),)


def _cumsum(node, ctx, g):  # the adjoint: the reversed running sum
    ax = ctx.axis
    return (g.flip(ax).cumsum(ax).flip(ax),)


def _diagonal(node, ctx, g):  # the adjoint of the diagonal view: g scattered onto it in zeros
    shape, off = ctx.in_shape, ctx.offset
    n, m, k = shape[-2], shape[-1], g.shape[-1]
    batch = math.prod(shape[:-2])
    rows = np.arange(k) + max(-off, 0)
    cols = np.arange(k) + max(off, 0)
    grid = np.arange(batch).reshape(-1, 1)
    out = movement.IndexAccumulate.apply(g.reshape(batch, k), index=(grid, rows[None], cols[None]),
                                         shape=(batch, n, m))
    return (out.reshape(shape),)


def _einsum(node, ctx, g):
    """Each operand's gradient is the einsum of g with the other operands onto its letters (letters it
    alone sums over broadcast back), as the reference; a repeated letter ("iji") gets it on the diagonal,
    scatter-added into zeros (the adjoint of reading the diagonal)."""
    arrays = saved_tensors(node, ctx)
    sizes = {c: n for subs, a in zip(ctx.inputs, arrays) for c, n in zip(subs, a.shape)}
    grads = []
    for i, subs in enumerate(ctx.inputs):
        if not ctx.needs_input_grad[i]:
            grads.append(None)
            continue
        others = [(s, x) for j, (s, x) in enumerate(zip(ctx.inputs, arrays)) if j != i]
        seen = "".join([ctx.output, *(s for s, _ in others)])
        letters = "".join(dict.fromkeys(subs))  # unique, in order of first appearance
        known = "".join(c for c in letters if c in seen)
        gk = engine.einsum(f"{','.join([ctx.output, *(s for s, _ in others)])}->{known}", g, *(x for _, x in others))
        if known != letters:
            gk = gk.reshape([sizes[c] if c in known else 1 for c in letters]).broadcast_to(
                tuple(sizes[c] for c in letters))
        if letters != subs:
            where = tuple(np.arange(sizes[c]).reshape([-1 if d == letters.index(c) else 1
                                                       for d in range(len(letters))]) for c in subs)
            gk = movement.IndexAccumulate.apply(gk, index=where, shape=tuple(sizes[c] for c in subs))
        grads.append(gk)
    return tuple(grads)


def _prod(node, ctx, g):
    """g · out / a where no entry is 0 (torch's formula); with a zero, g · (exclusive prefix product) ·
    (exclusive suffix product) over the reduced entries as cumprods (torch's prod_safe_zeros_backward),
    so the second derivative (the product of all but two entries) is exact there too."""
    a_raw = ctx.saved[0]
    if a_raw.ndim == 0:
        return (g,)
    if a_raw.size == 0:
        return (engine.zeros(a_raw.shape, dtype=g.dtype, device=g.device),)
    a, out = saved_tensors(node, ctx)
    keep = [1 if i in ctx.axes else n for i, n in enumerate(ctx.in_shape)]
    g = g.reshape(keep)
    if not (a_raw == 0).any():
        return (g * out.reshape(keep) / a,)
    rest = [i for i in range(a.ndim) if i not in ctx.axes]
    order = rest + list(ctx.axes)
    flat = a.permute(order).reshape(*[a.shape[i] for i in rest], -1)  # (..., N): the reduced entries last
    ones = engine.ones(flat.shape[:-1] + (1,), dtype=a.dtype, device=a.device)
    left = engine.cat([ones, flat[..., :-1]], -1).cumprod(-1)  # ∏_{j<i}
    right = engine.cat([ones, flat.flip(-1)[..., :-1]], -1).cumprod(-1).flip(-1)  # ∏_{j>i}
    others = (left * right).reshape([a.shape[i] for i in order]).permute(np.argsort(order).tolist())
    return (g * others,)


def _cumprod(node, ctx, g):
    """reverse-cumsum(g · out) / a, out and a in the graph, where no entry is 0; with a zero the exact
    (N, N) route of the reference: row i is the slice with a_i replaced by 1, cumprod'ed."""
    a_raw = ctx.saved[0]
    if a_raw.size == 0:
        return (_zeros_like(g),)
    a, out = saved_tensors(node, ctx)
    ax = ctx.axis
    if not (a_raw == 0).any():
        return ((g * out).flip(ax).cumsum(ax).flip(ax) / a,)
    am, gm = a.movedim(ax, -1), g.movedim(ax, -1)  # (..., N)
    n = am.shape[-1]
    rows = _where(np.eye(n, dtype=bool), 1, am.unsqueeze(-2).broadcast_to(am.shape[:-1] + (n, n)))
    later = _tensor(np.triu(np.ones((n, n), dtype=a_raw.dtype)))  # j >= i
    grad = (rows.cumprod(-1) * later * gm.unsqueeze(-2)).sum(-1)  # rows.cumprod[..., i, j] = ∏_{k<=j, k!=i} a_k
    return (grad.movedim(-1, ax),)


def _logcumsumexp(node, ctx, g):
    """Differentiates log(cumsum(exp(a - m))) + m, m each slice's max (a constant: the value and every
    derivative are the same for any m; complex: m the max real part); a slice with a non-finite entry is not
    supported. The nested sweep is in torch's convention, so complex inputs take it as it is (_COMPLEX_RULES)."""
    a_raw = ctx.saved[0]
    if not np.isfinite(a_raw).all():
        raise NotImplementedError("double backward of LogCumSumExp with a non-finite entry is not supported")
    (a,) = saved_tensors(node, ctx, 1)
    ax = ctx.axis
    re = a_raw.real
    m = Tensor(re.max(axis=ax, keepdims=True) if re.size else np.zeros_like(re))
    return tuple(vjp_of(lambda a: (a - m).exp().cumsum(ax).log() + m, [a], g))


def _softmax(node, ctx, g):  # y·(g − Σ g·y), y the output (the reference's in-place -= refuses a broadcast g)
    (y,) = saved_tensors(node, ctx)
    gy = g * y
    return (gy - y * gy.sum(ctx.axis, keepdim=True),)


def _mish(node, ctx, g):
    """torch's infinitely_differentiable_mish_backward: g·(t + a·σ(a)·(1 − t²)), t = tanh(log1p(exp(a)))
    (softplus unguarded, as torch's: a second derivative past a ≈ 710 is 0·inf = nan there too)."""
    (a,) = saved_tensors(node, ctx)
    t = a.exp().log1p().tanh()
    return (g * (t + a * a.sigmoid() * (1 - t * t)),)


def _angle(node, ctx, g):  # of a real input (complex inputs stop at node_backward's check): zero, as torch
    return (engine.zeros_like(g),)


def _copysign(node, ctx, g):
    """torch's copysign_tensor_self_backward on Tensors: g · out / a, 0 where a == 0 (mathematically the
    ratio ±1 is flat in a; as torch's, its derivative is rounding noise, and nan at a == 0, the kink)."""
    a, out = saved_tensors(node, ctx)
    gb = engine.zeros(ctx.b_shape, dtype=g.dtype, device=g.device) if ctx.needs_input_grad[1] else None
    with np.errstate(all="ignore"):
        ratio = _where(ctx.saved[0] == 0, 0, out / a)
    return _sum_to(g * ratio, a.shape), gb


def _nextafter(node, ctx, g):  # g to a, 0 to b: linear in g
    a_shape, b_shape = ctx.shapes
    gb = engine.zeros(b_shape, dtype=g.dtype, device=g.device) if ctx.needs_input_grad[1] else None
    return _sum_to(g, a_shape), gb


def _frexp_mantissa(node, ctx, g):  # g / 2**e, e an integer (flat in a): linear in g
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return (g * _tensor((1 / ctx.xp.exp2(ctx.e.astype(np.float32))).astype(g.dtype), g),)


class _DelayedError(Function):
    """The identity, whose gradient raises (torch's DelayedError): marks a gradient that is right to first
    order only, so that differentiating it again fails rather than returning a wrong number."""

    def forward(self, a, why=""):
        self.why = why
        return a.copy()

    def backward(self, g):
        raise NotImplementedError(self.why)


def _delayed_error(node, ctx, g):
    raise NotImplementedError(ctx.why)


def _scatter_reduce(node, ctx, g):
    """torch's scatter_reduce_backward on Tensors. amax/amin: g split evenly among the entries equal to
    the result, fixed masks, so linear in g. prod: g · (the product with a zero self entry read as 1) /
    self, and for src g · out / src, or where src holds its position's only zero, g · (the product with
    that zero read as 1); each product a ScatterReduce in the graph. Two zeros of src at one position:
    the src gradient is right, its derivative is not (torch raises there, so does this)."""
    a_raw, src_raw, out_raw = ctx.saved
    xp, index, need = ctx.xp, ctx.index, ctx.needs_input_grad
    self_counts = xp.ones(a_raw.shape, dtype=bool) if ctx.include_self else ~ctx.hit
    ga = gsrc = None
    if ctx.reduce != "prod":
        a_ties, src_wins = a_raw == out_raw, src_raw == out_raw[index]
        count = a_ties.astype(g.dtype)
        scatter_add(count, index, src_wins.astype(g.dtype))
        share = g / _tensor(xp.where(count == 0, 1, count).astype(g.dtype), g)
        if need[0]:
            ga = _where(a_ties & self_counts, share, 0)
        if need[1]:
            gsrc = _where(src_wins, movement.GetItem.apply(share, index=index), 0)
        return ga, gsrc
    a, src, out = saved_tensors(node, ctx)

    def prod_into(base, s):
        return movement.ScatterReduce.apply(base, s, index=index, reduce="prod", include_self=ctx.include_self)

    if need[0]:
        masked_a = _where(a_raw == 0, 1, a)
        ga = _where(self_counts, g * prod_into(masked_a, src) / masked_a, 0)
    if need[1]:
        src_zero = src_raw == 0
        zeros_at = xp.zeros(a_raw.shape, dtype=np.int64)
        scatter_add(zeros_at, index, src_zero.astype(np.int64))
        zeros_at = zeros_at[index]
        single = src_zero & (zeros_at == 1)  # the only zero reaching its position
        without = prod_into(a, _where(single, 1, src))
        gsrc = _where(single, movement.GetItem.apply(g * without, index=index),
                      movement.GetItem.apply(g * out, index=index) / _where(src_zero, 1, src))
        if (zeros_at > 1).any():
            gsrc = _DelayedError.apply(gsrc, why="double backward of ScatterReduce is not supported for src when "
                                                 "more than one zero of src reaches one position (as torch)")
    return ga, gsrc


def _median(node, ctx, g):  # g split evenly over the entries equal to the median: a fixed mask, linear in g
    a, out = ctx.saved
    xp = ctx.xp
    hit = (a == out) | (xp.isnan(a) & xp.isnan(out))
    # a where, not g · mask: the upstream at the other entries (a nan among them) does not reach g
    return (_where(hit, (g / max(int(hit.sum()), 1)).broadcast_to(a.shape), 0),)


def _unfold(node, ctx, g):  # the adjoint of im2col: fold (col2im), windows summed
    shape, _, kernel, stride, padding, dilation, _ = ctx.args
    return (spatial.Fold.apply(g, shape=shape, kernel=kernel, stride=stride, padding=padding, dilation=dilation),)


def _fold(node, ctx, g):  # the adjoint of col2im: unfold (im2col)
    _, kernel, stride, padding, dilation, _ = ctx.args
    return (spatial.Unfold.apply(g, kernel=kernel, stride=stride, padding=padding, dilation=dilation),)


def _fft(node, ctx, g):
    """An FFT's backward is linear in g, a chain of FFT steps itself: one more FFT op, of the adjoint steps
    (engine.fft.adjoint_steps), whose backward, the adjoint of the adjoint, is the forward map again."""
    return (engine.fft.FFT.apply(g, steps=engine.fft.adjoint_steps(ctx.steps, ctx.shapes), cdtype=ctx.cdtype),)


def _overlap_add(node, ctx, g):  # the adjoint of the overlap-add (stft's frames summed): the gather of the frames
    xp = ctx.xp
    return (g[:, xp.arange(ctx.t)[:, None] * ctx.hop + xp.arange(ctx.n)],)


def _as_strided(node, ctx, g):
    """torch's as_strided backward with engine ops: g scatter-added into the storage, divided where the
    input reads an element more than once, read back at the input's positions; linear in g."""
    from engine.storage import positions

    xp = ctx.xp
    out_pos, in_pos = positions(*ctx.out_geometry, xp=xp), positions(*ctx.in_geometry, xp=xp)
    storage = movement.IndexAccumulate.apply(g.reshape(-1), index=(out_pos.reshape(-1),), shape=(ctx.length,))
    if in_pos.size != xp.unique(in_pos).size:
        count = xp.bincount(in_pos.reshape(-1), minlength=ctx.length).astype(g.dtype)
        storage = storage * _tensor(xp.where(count > 0, 1 / xp.maximum(count, 1), 0).astype(g.dtype))
    return (storage[in_pos],)


def _as_strided_scatter(node, ctx, g):
    """The reference's (a fixed mask and a gather, linear in g) on Tensors. Its input gradient is not
    torch's (see README: torch's fails its own gradcheck), so neither is what comes of it; the sweep's
    --gradgrad reports that first derivative ("grad"), as its first-order sweep does."""
    flat = g.reshape(-1)
    ga = gs = None
    if ctx.needs_input_grad[0]:
        keep = ctx.xp.ones(flat.shape, dtype=bool)
        keep[ctx.pos.reshape(-1)] = False
        ga = _where(keep, flat, 0).reshape(g.shape)
    if ctx.needs_input_grad[1]:
        gs = flat[ctx.pos]
    return ga, gs


# ---- special functions: the first derivative written with engine ops (torch's derivatives.yaml) ------


def _special(df: Callable) -> Callable:
    """A unary special function's rule: g · df(a, y), a the input and y the output as saved (None if not)."""
    def rule(node, ctx, g):
        saved = saved_tensors(node, ctx)
        a, y = (saved + (None,))[:2]
        return (g * df(ctx, a, y),)
    return rule


def _bessel_1(i0_of: Callable, scaled: bool) -> Callable:
    """I₁ and I₁e: I₀(s) − y/s (I₁e: i0e(s) − y·(sign s + 1/s)), s = a with |a| ≤ eps made eps, ½ there."""
    def df(ctx, a, y):
        small = ~(np.abs(ctx.saved[0]) > np.finfo(ctx.saved[0].dtype).eps)
        s = _where(small, float(np.finfo(ctx.saved[0].dtype).eps), a)
        grad = i0_of(s) - y * ((s.sign() + 1 / s) if scaled else 1 / s)
        return _where(small, 0.5, grad)
    return df


# ---- linear algebra: the reference formulas (torch's FunctionsManual.cpp) with engine.linalg ops -----


def _output(node, make: Callable) -> Tensor:
    """The op's output as a Tensor of the graph: the live one, else a stand-in holding ``make()``."""
    ref = node if type(node) is _GraphRef else graph_ref(node)
    live = _live(ref)
    return live if live is not None else _stand_in(make(), ref, ref)


def _input(ctx, k: int, make: Callable) -> Tensor:
    """Input ``k`` as a Tensor of the graph: the live one, else a stand-in holding ``make()``."""
    p = ctx.parents[k]
    live = _live(p)
    return live if live is not None else _stand_in(make(), p, p)


def _inverse(node, ctx, g):  # -A⁻ᵀ g A⁻ᵀ, A⁻¹ the output in the graph
    (y,) = saved_tensors(node, ctx)
    return (-(y.mT @ g @ y.mT),)


def _det(node, ctx, g):
    """g · det · A⁻ᵀ, det the output; a singular A (torch goes through the SVD there) is not supported."""
    (a_raw,) = ctx.saved
    if a_raw.shape[-1] == 0:
        return (engine.zeros(a_raw.shape, dtype=g.dtype, device=g.device),)
    d = _output(node, lambda: ctx.xp.linalg.det(a_raw))
    if not (d._data != 0).all():
        raise NotImplementedError("double backward of Det at a singular matrix is not supported")
    (a,) = saved_tensors(node, ctx)
    return ((g * d)[..., None, None] * linalg_ops.Inverse.apply(a).mT,)


def _log_abs_det(node, ctx, g):  # g · A⁻ᴴ (g is real; a real A's ᴴ is ᵀ)
    (a,) = saved_tensors(node, ctx)
    return (g[..., None, None] * linalg_ops.Inverse.apply(a).mH,)


def _slogdet_sign(node, ctx, g):  # torch's slogdet_backward for the sign of a complex A: i·Im(g·conj(sign))·A⁻ᴴ
    a, sign = saved_tensors(node, ctx)
    coef = (g * sign.conj()).imag.astype(a.dtype) * 1j
    return (coef[..., None, None] * linalg_ops.Inverse.apply(a).mH,)


def _solve(node, ctx, g):  # gB = A⁻ᵀ g, gA = -gB Xᵀ, X the output
    a, x = saved_tensors(node, ctx)
    gb = linalg_ops.Solve.apply(a.mT, g)
    return -(gb @ x.mT), gb


def _cholesky(node, ctx, g):  # L⁻ᴴ Φ L⁻¹, Φ = ½(T + tril(T, -1)ᴴ), T = tril(Lᴴ gL), L the output (real: ᴴ is ᵀ)
    (L,) = saved_tensors(node, ctx)
    t = (L.mH @ g).tril()
    linv = linalg_ops.Inverse.apply(L)
    return (linv.mH @ (0.5 * (t + t.tril(-1).mH)) @ linv,)


def _eye(n: int, like: Tensor) -> Tensor:
    return _tensor(np.eye(n, dtype=like.dtype))


def _eigh(node, ctx, g):
    """torch's linalg_eig_backward (hermitian): V (skew(VᵀgV) / E + diag(gw)) Vᵀ, E_ij = w_j − w_i; V and w
    sliced from the packed output [V | w]; without a gradient to V (eigvalsh), V diag(gw) Vᵀ."""
    w_raw, v_raw = ctx.saved
    n = w_raw.shape[-1]
    out = _output(node, lambda: ctx.xp.concatenate([v_raw, w_raw[..., None, :].swapaxes(-1, -2)], axis=-1))
    v, w = out[..., :-1], out[..., -1]
    gv, gw = g[..., :-1], g[..., -1]
    if v_raw.dtype.kind == "c":
        return _eigh_complex(v, w.real, gv, gw.real, g._data)
    inner = gw.unsqueeze(-2) * _eye(n, g)
    if (g._data[..., :-1] != 0).any():
        vtgv = v.mT @ gv
        diff = w.unsqueeze(-2) - w.unsqueeze(-1)  # (..., n, n): w_j − w_i
        inner = inner + 0.5 * (vtgv - vtgv.mT) / _where(np.eye(n, dtype=bool), 1, diff)
    return (v @ inner @ v.mT,)


def _eigh_complex(v, w, gv, gw, g_raw):
    """torch's linalg_eig_backward (hermitian, complex): V ret Vᴴ, ret = ½(VᴴgV − (VᴴgV)ᴴ) / E with gw on the
    diagonal where the eigenvalues have a gradient (E_ij = w_j − w_i, 1 on the diagonal); eigvalsh:
    V diag(gw) Vᴴ. w and gw real."""
    n = w.shape[-1]
    eye = np.eye(n, dtype=bool)
    if not (g_raw[..., :-1] != 0).any():
        return ((v * gw.unsqueeze(-2).astype(v.dtype)) @ v.mH,)
    vhgv = v.mH @ gv
    if not bool((np.abs(np.diagonal(vhgv._data, 0, -2, -1).imag) <= 1e-2).all()):
        raise RuntimeError("linalg_eigh_backward: The eigenvectors in the complex case are specified up to "
                           "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                           "so it is ill-defined.")
    diff = (w.unsqueeze(-2) - w.unsqueeze(-1)).astype(v.dtype)
    ret = 0.5 * (vhgv - vhgv.mH) / _where(eye, 1, diff)
    if (g_raw[..., -1] != 0).any():
        ret = _where(eye, gw.unsqueeze(-2).astype(v.dtype).broadcast_to(ret.shape), ret)
    return (v @ ret @ v.mH,)


def _eig(node, ctx, g):
    """torch's linalg_eig_backward on the V and w sliced from the packed output [V | w] (complex, in the
    graph): V⁻ᴴ (diag(gw) + (VᴴgV − VᴴV diag(Re diag(VᴴgV))) / conj(E) off the diagonal) Vᴴ, E_ij = w_j − w_i;
    eigenvalues only: V⁻ᴴ diag(gw) Vᴴ. Written with the ops of complex graphs (the diagonal by a mask),
    so it is differentiated again; a real A takes the real part (in node_backward)."""
    w_raw, v_raw = ctx.saved
    n = w_raw.shape[-1]
    out = _output(node, lambda: ctx.xp.concatenate([v_raw, w_raw[..., None, :].swapaxes(-1, -2)], axis=-1))
    v, w = out[..., :-1], out[..., -1]
    gv, gw = g[..., :-1], g[..., -1]
    eye = _tensor(np.eye(n, dtype=w_raw.real.dtype))
    vh = v.conj().mT
    inner = gw.unsqueeze(-2) * eye  # diag(gw)
    if (g._data[..., :-1] != 0).any():
        vhgv = vh @ gv
        diag = (vhgv * eye).sum(-2)  # (..., n): the diagonal of VᴴgV
        if not bool((abs(diag._data.imag) <= 1e-2).all()):  # torch's check, as the reference
            raise RuntimeError("linalg_eig_backward: The eigenvectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this quantity, "
                               "so it is ill-defined.")
        vhgv = vhgv - vh @ (v * diag.real.unsqueeze(-2))
        wc = w.conj()
        econj = wc.unsqueeze(-2) - wc.unsqueeze(-1) + eye  # conj(E), 1 on the diagonal (masked out below)
        inner = inner + vhgv / econj * (1 - eye)
    return (linalg_ops.Solve.apply(vh, inner @ vh),)


def _svd_parts(node, ctx) -> tuple:
    """U, S, Vh sliced from SvdPacked's packed output [U | S | Vh] (in the graph)."""
    u, s, vh = ctx.saved
    batch, (m, ku), k = u.shape[:-2], u.shape[-2:], s.shape[-1]
    out = _output(node, lambda: ctx.xp.concatenate(
        [u.reshape(batch + (m * ku,)), s, vh.reshape(batch + (vh.shape[-2] * vh.shape[-1],))], axis=-1))
    return (out[..., : m * ku].reshape(u.shape), out[..., m * ku: m * ku + k],
            out[..., m * ku + k:].reshape(vh.shape))


def _svd(node, ctx, g):
    """torch's svd_backward, as the reference, on U, S, Vh of the graph; with no gradient to U and Vh,
    U diag(gS) Vh (no division by singular-value gaps)."""
    u, s, vh = _svd_parts(node, ctx)
    cplx = u.dtype.kind == "c"
    (m, ku), n, k = u.shape[-2:], vh.shape[-1], s.shape[-1]
    gu = g[..., : m * ku].reshape(u.shape)[..., :k]
    gs = g[..., m * ku: m * ku + k]
    gs = gs.real.astype(g.dtype) if cplx else gs  # S is real: the imaginary part of its slot is no gradient
    gvh = g[..., m * ku + k:].reshape(vh.shape)[..., :k, :]
    u, vh = u[..., :k], vh[..., :k, :]
    any_gu, any_gvh = (g._data[..., : m * ku] != 0).any(), (g._data[..., m * ku + k:] != 0).any()
    if not any_gu and not any_gvh:
        return (u @ (gs.unsqueeze(-1) * vh),)
    v, gv = vh.mH, gvh.mH
    uhgu = u.mH @ gu
    uhgu = uhgu - uhgu.mH
    vhgv = v.mH @ gv
    vhgv = vhgv - vhgv.mH
    if cplx:  # the loss must be invariant under (U, V) -> (U L, V L), L = diag(e^{iθ}), as the array backward
        im_u, im_v = np.diagonal(uhgu._data, 0, -2, -1).imag, np.diagonal(vhgv._data, 0, -2, -1).imag
        if not bool(np.all(np.abs(im_u + im_v) <= 1e-2 + 1e-2 * np.abs(im_v))):
            raise RuntimeError("svd_backward: The singular vectors in the complex case are specified up to "
                               "multiplication by e^{i phi}. The specified loss function depends on this phase "
                               "term, making it ill-defined.")
    s2 = s * s
    e = _where(np.eye(k, dtype=bool), 1, s2.unsqueeze(-2) - s2.unsqueeze(-1))  # S_j² − S_i²
    ret = (uhgu * s.unsqueeze(-2) + s.unsqueeze(-1) * vhgv) / e + gs.unsqueeze(-2) * _eye(k, g)
    if cplx and any_gu and any_gvh:  # torch's diag(UᴴgU) / (2S) term
        ret = ret + _eye(k, g) * uhgu / (2 * s.unsqueeze(-2))
    ga = u @ ret @ vh
    if m > k:  # gU outside U's columns
        gusinv = gu / s.unsqueeze(-2)
        ga = ga + (gusinv - u @ (u.mH @ gusinv)) @ vh
    if n > k:  # gVh outside Vh's rows
        sinvgvh = gvh / s.unsqueeze(-1)
        ga = ga + u @ (sinvgvh - (sinvgvh @ v) @ vh)
    return (ga,)


def _svdvals(node, ctx, g):
    """U diag(g) Vh with U, Vh of a reduced SVD of A recomputed in the graph (torch's svdvals keeps U and
    Vh of one), so that their derivatives give the second one."""
    u_raw, s_raw, vh_raw = ctx.saved
    a = _input(ctx, 0, lambda: (u_raw * s_raw[..., None, :]) @ vh_raw)
    m, k = u_raw.shape[-2:]
    packed = linalg_ops.SvdPacked.apply(a, full_matrices=False)
    u = packed[..., : m * k].reshape(u_raw.shape)
    vh = packed[..., m * k + k:].reshape(vh_raw.shape)
    return (u @ (g.unsqueeze(-1) * vh),)


def _qr(node, ctx, g):
    """torch's linalg_qr_backward, as the reference, on Q and R sliced from the packed output [Q | R]."""
    q_raw, r_raw = ctx.saved
    if ctx.mode == "r" or q_raw.shape[-1] > r_raw.shape[-1]:
        return _reference(node, ctx, g)  # raises as torch (Q is not determined)
    batch, (m, k), n = q_raw.shape[:-2], q_raw.shape[-2:], r_raw.shape[-1]
    out = _output(node, lambda: ctx.xp.concatenate([q_raw.reshape(batch + (m * k,)),
                                                     r_raw.reshape(batch + (k * n,))], axis=-1))
    q, r = out[..., : m * k].reshape(q_raw.shape), out[..., m * k:].reshape(r_raw.shape)
    gq, gr = g[..., : m * k].reshape(q_raw.shape), g[..., m * k:].reshape(r_raw.shape)
    mm = gr @ r.mH - q.mH @ gq
    cplx = q.dtype.kind == "c"
    if m >= n:
        if cplx:  # torch's syminvadj(triu(M)): X + Xᴴ, X = triu(M, 1), the real part of M's diagonal
            x = mm.triu(1)
            copyltu = x + x.mH + _eye(n, g) * mm.real.astype(g.dtype)
        else:
            mm = mm.mT
            copyltu = mm.tril() + mm.tril(-1).mT
        rhs = gq + q @ copyltu  # (..., m, n); gA = rhs R⁻ᴴ
        return (linalg_ops.Solve.apply(r, rhs.mH).mH,)
    skew = (mm.mH - mm).tril()
    if cplx:  # torch's trilImInvAdjSkew: the diagonal's imaginary part halved
        skew = skew - 0.5j * _eye(m, g) * skew.imag.astype(g.dtype)
    lead = linalg_ops.Solve.apply(r[..., :m], (q @ skew).mH).mH  # (..., m, m)
    rest = engine.zeros(batch + (m, n - m), dtype=g.dtype, device=g.device)
    return (q @ gr + engine.cat([lead, rest], -1),)


# ---- convolution, pooling, normalization: adjoints written with the ops themselves -------------------


def _crop(t: Tensor, size, start=None) -> Tensor:
    """t's trailing len(size) axes cut to ``size`` from ``start`` (0s by default)."""
    start = start or (0,) * len(size)
    if tuple(t.shape[-len(size):]) == tuple(size) and not any(start):
        return t
    return t[(Ellipsis, *(slice(a, a + n) for a, n in zip(start, size)))]


def _conv_weight_grad(x, g, kernel, stride, dilation, pads, groups) -> Tensor:
    """The correlation of x (N, G·Cg, *S) with g (N, O, *L) as a conv weight gradient (O, Cg, *K):
    a convolution of x with g over the batch axis (batch Cg, channels G·N, groups G), stride and
    dilation swapped, its extra trailing positions (windows the floor of the output size dropped) cut."""
    n, c = x.shape[:2]
    xs = x.reshape(n, groups, c // groups, *x.shape[2:]).movedim(0, 2)  # (G, Cg, N, *S)
    xs = xs.movedim(1, 0).reshape(c // groups, groups * n, *x.shape[2:])  # (Cg, G·N, *S)
    gs = g.swapaxes(0, 1)  # (O, N, *L): the weight, O group-major as the conv's groups
    y = spatial.ConvNd.apply(xs, gs, None, stride=dilation, padding=pads, dilation=stride, groups=groups)
    return _crop(y.swapaxes(0, 1), kernel)  # (O, Cg, *K)


def _conv(node, ctx, g):
    x, w = saved_tensors(node, ctx)
    kernel, stride, dilation, _, groups, pads = ctx.args
    need = ctx.needs_input_grad
    gx = gw = gb = None
    if need[0]:  # the adjoint in x: a transposed conv onto the padded input, then its padding cut
        padded = tuple(m + lo + hi for m, (lo, hi) in zip(x.shape[2:], pads))
        full = spatial.ConvTransposeNd.apply(g, w, None, stride=stride, padding=(0,) * len(kernel),
                                             dilation=dilation, groups=groups, out=padded)
        gx = _crop(full, x.shape[2:], [lo for lo, _ in pads])
    if need[1]:
        gw = _conv_weight_grad(x, g, kernel, stride, dilation, pads, groups)
    if need[2]:
        gb = g.sum((0, *range(2, g.ndim)))
    return gx, gw, gb


def _conv_transpose(node, ctx, g):
    x, w = saved_tensors(node, ctx)
    kernel, stride, dilation, padding, groups, _ = ctx.args
    need = ctx.needs_input_grad
    pads = tuple((p, p) for p in padding)
    gx = gw = gb = None
    if need[0]:  # the adjoint in x: the conv with the same weight (an output_padding past stride cut)
        y = spatial.ConvNd.apply(g, w, None, stride=stride, padding=pads, dilation=dilation, groups=groups)
        gx = _crop(y, x.shape[2:])
    if need[1]:  # the same correlation with the roles of input and output gradient swapped
        gw = _conv_weight_grad(g, x, kernel, stride, dilation, pads, groups)
    if need[2]:
        gb = g.sum((0, *range(2, g.ndim)))
    return gx, gw, gb


def _scatter_last(g: Tensor, idx, shape, nd) -> Tensor:
    """zeros(shape) with g added at the flat indices ``idx`` (g's shape) into the last ``nd`` axes."""
    rows = math.prod(shape[: len(shape) - nd])
    flat = np.asarray(idx).reshape(rows, -1)
    grid = np.broadcast_to(np.arange(rows).reshape(-1, 1), flat.shape)
    out = movement.IndexAccumulate.apply(g.reshape(rows, -1), index=(grid, flat),
                                         shape=(rows, math.prod(shape[len(shape) - nd:])))
    return out.reshape(shape)


def _max_pool(node, ctx, g):  # each window's gradient goes to its argmax: a fixed scatter, linear in g
    shape, nd = ctx.args[0], len(ctx.args[3])
    idx = ctx.indices()
    ok = idx < math.prod(shape[-nd:])  # a window of padding only (all -inf) sends nothing
    return (_scatter_last(_where(ok, g, 0), np.where(ok, idx, 0), shape, nd),)


def _adaptive_max_pool(node, ctx, g):
    return (_scatter_last(g, ctx.idx, ctx.shape, ctx.nd),)


def _max_unpool(node, ctx, g):  # the adjoint of the scatter: a gather
    rows = ctx.flat.shape[0]
    return g.reshape(rows, -1)[ctx.rows, ctx.flat].reshape(ctx.in_shape)


def _avg_pool(node, ctx, g):
    """Each window's g·(1/divisor) spread over the window: a transposed conv with a ones kernel,
    one channel per (N, C) row, onto the padded input, then the padding cut."""
    shape, padded, pads, kernel, stride, out = ctx.args
    nd = len(kernel)
    gs = (g * _tensor(ctx.inv, g)).reshape(-1, 1, *out)
    ones = engine.ones((1, 1, *kernel), dtype=g.dtype, device=g.device)
    full = spatial.ConvTransposeNd.apply(gs, ones, None, stride=stride, padding=(0,) * nd, dilation=(1,) * nd,
                                         groups=1, out=padded[-nd:])
    return (_crop(full, shape[-nd:], [lo for lo, _ in pads]).reshape(shape),)


def _batch_norm(node, ctx, g):
    x, weight, mean, rstd = ctx.saved
    if x.dtype.itemsize < 4:
        raise NotImplementedError("double backward of BatchNorm in float16 is not supported")
    x_t, w_t = saved_tensors(node, ctx, 2)
    axes = (0, *range(2, x.ndim))
    chan = (1, -1) + (1,) * (x.ndim - 2)  # a (C,) statistic broadcast over (N, C, *S)
    if ctx.training:  # var + eps as a function of x: eps (not kept by the op) is 1/rstd² − var per channel
        var0 = ((x - mean.reshape(chan)) ** 2).mean(axis=axes)
        eps = Tensor((1 / (rstd.astype(np.float64) ** 2) - var0).reshape(chan)).astype(x.dtype)

        def compose(x, w):
            xc = x - x.mean(axes, keepdim=True)
            xhat = xc * ((xc * xc).mean(axes, keepdim=True) + eps).rsqrt()
            return xhat if w is None else xhat * w.reshape(chan)
    else:  # the running statistics are constants
        def compose(x, w):
            xhat = (x - Tensor(mean.reshape(chan))) * Tensor(rstd.reshape(chan))
            return xhat if w is None else xhat * w.reshape(chan)

    gx, gw = vjp_of(compose, [x_t, w_t], g)
    gb = g.sum(axes) if ctx.needs_input_grad[2] else None
    return gx, gw, gb


def _embedding(node, ctx, g):  # the adjoint of weight[ids]: scatter-add the rows
    return (movement.IndexAccumulate.apply(g, index=ctx.ids, shape=ctx.w_shape),)


def _sparse_embedding(node, ctx, g):  # create_graph=True: the dense gradient (no sparse tensors in a graph)
    if ctx.scale_grad_by_freq:
        raise RuntimeError("embedding_backward: scale_grad_by_freq not supported with sparse gradients")
    if ctx.padding_idx is not None:
        g = g * _tensor((ctx.ids != ctx.padding_idx)[..., None].astype(g.dtype), g)
    return _embedding(node, ctx, g)


def _dropout(node, ctx, g):  # a fixed mask: linear in g
    return (g * _tensor(ctx.mask, g),)


def _attend(ctx, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """The attention ops' forward from primitives: softmax(q kᵀ · scale, keys outside ``ctx.keep`` at
    -inf) · (the dropout mask the forward drew) @ v."""
    scale = ctx.scale if ctx.scale is not None else 1 / math.sqrt(q.shape[-1])
    s = (q @ k.swapaxes(-1, -2)) * scale  # (…, T, S)
    if ctx.keep is not None:
        s = s.masked_fill(~ctx.xp.broadcast_to(ctx.keep, s.shape), -math.inf)
    p = s.softmax(-1)
    drop = getattr(ctx, "drop", None)  # the flash path keeps none: it runs without dropout only
    return (p if drop is None else p * Tensor(drop)) @ v


def _attention(node, ctx, g):
    """ScaledDotProductAttention: its composition from primitives, differentiated by a nested sweep."""
    return tuple(vjp_of(lambda q, k, v: _attend(ctx, q, k, v), list(saved_tensors(node, ctx)), g))


def _self_attention(node, ctx, g):
    """SelfAttention: the heads split from qkv, attended and merged, differentiated by a nested sweep."""
    (qkv,) = saved_tensors(node, ctx)
    B, T, C3 = qkv.shape
    nh = ctx.n_head

    def compose(qkv):
        heads = qkv.reshape(B, T, 3, nh, C3 // (3 * nh)).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        y = _attend(ctx, heads[0], heads[1], heads[2])  # (B, nh, T, hs)
        return y.permute(0, 2, 1, 3).reshape(B, T, C3 // 3)

    return tuple(vjp_of(compose, [qkv], g))


def _recurrence(ctx, x: Tensor, h0: Tensor, b_ih, b_hh, w_ih: Tensor, step: Callable) -> list:
    """The recurrent layers' steps from primitives: the input projection of every step at once
    (x W_ihᵀ + b_ih), then ``step(projection_t, h) -> h'`` from t = 0 up (down with ``ctx.reverse``);
    the states h_t in time order."""
    gi = x @ w_ih.mT
    if b_ih is not None:
        gi = gi + b_ih
    T = x.shape[0]
    hs, h = [None] * T, h0
    for t in (range(T - 1, -1, -1) if ctx.reverse else range(T)):
        h = hs[t] = step(gi[t], h)
    return hs


def _lstm_layer(node, ctx, g):
    """LSTMLayer: the layer's steps from primitives (torch's gates i, f, g, o; the op's (T + 1, B, H)
    output: h_t, then c_n), differentiated by a nested sweep."""
    saved = list(saved_tensors(node, ctx))[:7]  # x, h0, c0, w_ih, w_hh, b_ih, b_hh (then the output)

    def compose(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        H = w_hh.shape[1]
        c = [c0]

        def step(gi, h):
            z = gi + h @ w_hh.mT if b_hh is None else gi + (h @ w_hh.mT + b_hh)
            i, f, o = z[:, :H].sigmoid(), z[:, H:2 * H].sigmoid(), z[:, 3 * H:].sigmoid()
            c[0] = f * c[0] + i * z[:, 2 * H:3 * H].tanh()
            return o * c[0].tanh()

        hs = _recurrence(ctx, x, h0, b_ih, b_hh, w_ih, step)
        return engine.stack([*hs, c[0]])

    return tuple(vjp_of(compose, saved, g))


def _gru_layer(node, ctx, g):
    """GRULayer: h' = n + z·(h − n), n = tanh(W_in x + b_in + r·(W_hn h + b_hn)) from primitives (the
    op's docstring), differentiated by a nested sweep."""
    saved = list(saved_tensors(node, ctx))[:6]  # x, h0, w_ih, w_hh, b_ih, b_hh (then the output)

    def compose(x, h0, w_ih, w_hh, b_ih, b_hh):
        H = w_hh.shape[1]

        def step(gi, h):
            gh = h @ w_hh.mT if b_hh is None else h @ w_hh.mT + b_hh
            rz = (gi[:, :2 * H] + gh[:, :2 * H]).sigmoid()
            n = (gi[:, 2 * H:] + rz[:, :H] * gh[:, 2 * H:]).tanh()
            return n + rz[:, H:] * (h - n)

        return engine.stack(_recurrence(ctx, x, h0, b_ih, b_hh, w_ih, step))

    return tuple(vjp_of(compose, saved, g))


def _rnn_layer(node, ctx, g):
    """RNNLayer: h' = act(W_ih x + b_ih + W_hh h + b_hh) from primitives, differentiated by a nested sweep."""
    saved = list(saved_tensors(node, ctx))[:6]  # x, h0, w_ih, w_hh, b_ih, b_hh (then the output)

    def compose(x, h0, w_ih, w_hh, b_ih, b_hh):
        def step(gi, h):
            a = gi + h @ w_hh.mT if b_hh is None else gi + (h @ w_hh.mT + b_hh)
            return a.relu() if ctx.relu else a.tanh()

        return engine.stack(_recurrence(ctx, x, h0, b_ih, b_hh, w_ih, step))

    return tuple(vjp_of(compose, saved, g))


def _set_item(node, ctx, g):
    """a[index] = v: g with the written entries zeroed for a, g's entries there (summed down to v's
    shape) for v; linear in g, as the reference."""
    need = ctx.needs_input_grad
    ga = gv = None
    if need[0]:
        ga = movement.SetItem.apply(g, engine.zeros((), dtype=g.dtype, device=g.device), index=ctx.index)
    if need[1]:
        sel = g
        for step in movement.torch_index_steps(movement.torch_ellipses(ctx.index, g.ndim), ctx.xp):
            sel = movement.GetItem.apply(sel, index=step)
        lead = max(len(ctx.v_shape) - sel.ndim, 0)  # v may have more leading 1s than the target
        gv = _sum_to(sel, ctx.v_shape[lead:]).reshape(ctx.v_shape)
    return ga, gv


def _to_device(node, ctx, g):  # the gradient moves back
    return (elementwise.ToDevice.apply(g, device=ctx.src),)


def _grad_tap(node, ctx, g):
    """The identity whose callback sees g (a Tensor of the graph here) and may replace it, as the reference."""
    replaced = ctx.on_grad(g) if ctx.on_grad is not None else None
    if replaced is None:
        return (g,)
    if tuple(replaced.shape) != tuple(g.shape):
        raise RuntimeError(f"GradTap: a hook returned a gradient of shape {tuple(replaced.shape)} "
                           f"for one of shape {tuple(g.shape)}")
    return (_tensor(replaced).astype(g.dtype),)


class _StandardGammaGrad(Function):
    """∂x/∂α of a Gamma(α, 1) draw x (ATen's ``_standard_gamma_grad``), whose own derivative is not
    implemented, as torch's: differentiating through it raises."""

    why = "the derivative for '_standard_gamma_grad' is not implemented."

    def forward(self, alpha, x):
        return special._standard_gamma_grad(self.xp, alpha, x).astype(alpha.dtype, copy=False)

    def backward(self, g):
        raise NotImplementedError(self.why)


def _standard_gamma(node, ctx, g):  # g · ∂x/∂α: linear in g; raises when differentiated in α, as torch
    alpha, x = saved_tensors(node, ctx)
    return (g * _StandardGammaGrad.apply(alpha, x),)


def _zeta(node, ctx, g):
    """torch's −g·x·ζ(x + 1, q) for q on Tensors (the ζ in the graph); none for x, which raises as torch."""
    if ctx.needs_input_grad[0]:
        raise NotImplementedError("the derivative for 'zeta' is not implemented.")
    x, q = saved_tensors(node, ctx)
    return None, _sum_to(-g * x * special.Zeta.apply(x + 1, q), q.shape)


def _gammainc(node, ctx, g):
    """torch's ±g·exp((a − 1)·log x − x − lgamma(a)) for x on Tensors; none for a, which raises as torch."""
    if ctx.needs_input_grad[0]:
        raise NotImplementedError(f"the derivative for '{'igammac' if ctx.upper else 'igamma'}: input' is not "
                                  "implemented.")
    a, x = saved_tensors(node, ctx)
    density = ((a - 1) * x.log() - x - a.lgamma()).exp()
    return None, _sum_to(g * (-density if ctx.upper else density), x.shape)


def _reference(node, ctx, g):
    """The op's own reference backward, run on Tensors (see the module's docstring)."""
    name = type(ctx).__name__
    with _arrays_forbidden(name):
        return type(ctx).backward(_GraphCtx(ctx, saved_tensors(node, ctx)), g)


# ops whose reference backward runs on Tensors as written (each checked against torch's double backward)
_REFERENCE = {
    "Add", "Sub", "Mul", "Div", "Neg", "PowScalar", "Pow", "Exp", "Log", "Sqrt", "Tanh", "Sigmoid", "Sin", "Cos",
    "Abs", "Where", "Maximum", "Minimum", "Exp2", "Expm1", "Log2", "Log10", "Log1p", "Rsqrt", "Reciprocal", "Erf",
    "Erfc", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
    "Softplus", "LogSigmoid", "Silu", "LeakyRelu", "Hardtanh",
    "Sum", "Mean", "Var", "Max", "Min", "LogSumExp",
    "Reshape", "Transpose", "BroadcastTo", "Concatenate", "Stack", "Pad", "MaskedFill", "IndexPut",
    "IndexAccumulate", "MatMul", "LogSoftmax", "Cast", "Pinv",
    "Tri", "LogAddExp", "Hardswish", "Atan2", "Lerp", "Hypot", "Fmax", "Fmin",
}

_RULES: dict[str, Callable] = {
    "Relu": _relu, "GetItem": _get_item, "TakeAlong": _take_along, "Linear": _linear,
    "LayerNorm": _layer_norm, "CrossEntropy": _cross_entropy, "Gelu": _gelu, "Clip": _clip,
    "Rounding": _rounding, "BinaryCrossEntropy": _binary_cross_entropy,
    "ConvNd": _conv, "ConvTransposeNd": _conv_transpose, "MaxPoolNd": _max_pool, "AvgPoolNd": _avg_pool,
    "AdaptiveMaxPoolNd": _adaptive_max_pool, "MaxUnpool": _max_unpool, "BatchNorm": _batch_norm,
    "Embedding": _embedding, "SparseEmbedding": _sparse_embedding, "Dropout": _dropout, "Elu": _elu,
    "ScaledDotProductAttention": _attention, "SelfAttention": _self_attention,
    "LSTMLayer": _lstm_layer, "GRULayer": _gru_layer, "RNNLayer": _rnn_layer,
    "SetItem": _set_item, "ToDevice": _to_device, "GradTap": _grad_tap, "StandardGamma": _standard_gamma,
    "_StandardGammaGrad": _delayed_error, "Zeta": _zeta, "Gammainc": _gammainc,
    "ClampTensor": _clamp_tensor, "NanToNum": _nan_to_num, "RoundedDiv": _rounded_div,
    "Fmod": _remainder_like(lambda a, b: np.trunc(a / b)),
    "Remainder": _remainder_like(np.floor_divide), "Logit": _logit, "Cumsum": _cumsum, "Diagonal": _diagonal,
    "Einsum": _einsum, "Prod": _prod, "Cumprod": _cumprod, "LogCumSumExp": _logcumsumexp,
    "Softmax": _softmax, "Mish": _mish, "Copysign": _copysign, "Nextafter": _nextafter,
    "FrexpMantissa": _frexp_mantissa, "ScatterReduce": _scatter_reduce, "_DelayedError": _delayed_error,
    "Median": _median, "Angle": _angle, "Unfold": _unfold, "Fold": _fold,
    "FFT": _fft, "_OverlapAdd": _overlap_add, "AsStrided": _as_strided, "AsStridedScatter": _as_strided_scatter,
    "Inverse": _inverse, "Det": _det, "LogAbsDet": _log_abs_det, "Solve": _solve, "Cholesky": _cholesky,
    "EighPacked": _eigh, "EigPacked": _eig, "SvdPacked": _svd, "Svdvals": _svdvals, "QrPacked": _qr,
    "SlogdetSign": _slogdet_sign,
    "Lgamma": _special(lambda ctx, a, y: special.Digamma.apply(a)),
    "Digamma": _special(lambda ctx, a, y: special.Polygamma.apply(a, n=1)),
    "Polygamma": _special(lambda ctx, a, y: special.Polygamma.apply(a, n=ctx.n + 1)),
    "Entr": _special(lambda ctx, a, y: -(1 + a.log())),
    "Erfinv": _special(lambda ctx, a, y: (math.sqrt(math.pi) / 2) * (a.erfinv() ** 2).exp()),
    "I0": _special(lambda ctx, a, y: special_functions.I1.apply(a)),
    "I0e": _special(lambda ctx, a, y: special_functions.I1e.apply(a) - a.sign() * y),
    "I1": _special(_bessel_1(special_functions.I0.apply, scaled=False)),
    "I1e": _special(_bessel_1(special_functions.I0e.apply, scaled=True)),
    "Ndtri": _special(lambda ctx, a, y: math.sqrt(2 * math.pi) * (y * y / 2).exp()),
    "LogNdtr": _special(lambda ctx, a, y: (-(y + a * a / 2)).exp() / math.sqrt(2 * math.pi)),
    "Erfcx": _special(lambda ctx, a, y: 2 * a * y - 2 / math.sqrt(math.pi)),
    **{name: _reference for name in _REFERENCE},
}
_ = (activations, elementwise, fused, matmul, norm, reduce, scan)  # the families _REFERENCE names ops of


# ---- complex graphs: the ops whose graph backward takes complex tensors -------------------------------


def _complex_abs(node, ctx, g):  # torch's abs_backward for complex z: g·sgn(z), 0 at 0
    (z,) = saved_tensors(node, ctx)
    r = z.abs()
    return (_where(r._data == 0, 0, g.astype(z.dtype) * z / _where(r._data == 0, 1, r).astype(z.dtype)),)


def _complex_real(node, ctx, g):  # the real part's gradient: g as a complex number
    return (g.astype(ctx.parents[0].dtype),)


def _complex_imag(node, ctx, g):  # the imaginary part's gradient: i g
    return (g.astype(ctx.parents[0].dtype) * 1j,)


def _complex_conj(node, ctx, g):
    return (g.conj(),)


def _complex_sgn(node, ctx, g):
    """torch's sgn_backward: (g − Re(conj(g) sgn z) sgn z) / |z|, 0 at 0; the division unguarded, as torch's,
    so that the second derivative at 0 is torch's nan (0 · 1/0)."""
    z, s = saved_tensors(node, ctx)
    r = z.abs()
    inner = (g.conj() * s).real.astype(z.dtype)
    with np.errstate(all="ignore"):
        return (_where(r._data == 0, 0, (g - inner * s) / r.astype(z.dtype)),)


def _complex_angle(node, ctx, g):  # torch's angle_backward: g·i z / |z|², 0 at 0 (g real; unguarded as sgn's)
    (z,) = saved_tensors(node, ctx)
    r2 = z.real * z.real + z.imag * z.imag
    with np.errstate(all="ignore"):
        return (_where(r2._data == 0, 0, g.astype(z.dtype) * z * 1j / r2.astype(z.dtype)),)


def _complex_view_as_real(node, ctx, g):  # (..., 2) real -> re + i im
    return (engine.complex(g[..., 0], g[..., 1]),)


def _complex_view_as_complex(node, ctx, g):  # re + i im -> (..., 2) real
    return (engine.stack([g.real, g.imag], -1),)


def _complex_complex(node, ctx, g):  # complex(re, im): Re g to re, Im g to im, each summed to its shape
    sa, sb = ctx.shapes
    return _sum_to(g.real, sa), _sum_to(g.imag, sb)


def _complex_polar(node, ctx, g):  # torch's polar_backward: Re(conj(g) sgn out), Re(conj(g) i out)
    (out,) = saved_tensors(node, ctx)
    gc = g.conj()
    sa, sb = ctx.shapes
    return _sum_to((gc * engine.sgn(out)).real, sa), _sum_to((gc * out * 1j).real, sb)


def _complex_pow(node, ctx, g):
    """torch's pow_backward_self / pow_backward_exponent for a complex a ** b (either may be real):
    g·conj(b a^(b−1)), 0 where b = 0; g·conj(out·log a), 0 where a = 0 and b is real and >= 0."""
    a, b, out = saved_tensors(node, ctx)
    need = ctx.needs_input_grad
    a_raw, b_raw = ctx.saved[0], ctx.saved[1]
    ga = gb = None
    if need[0]:
        b0 = np.broadcast_to(b_raw == 0, g.shape)
        ga = _sum_to(_where(b0, 0, g * (b * a ** _where(b_raw == 0, 1, b - 1)).conj()), a.shape)
    if need[1]:
        b_real_nonneg = (b_raw.imag == 0) & (b_raw.real >= 0) if b_raw.dtype.kind == "c" else b_raw >= 0
        cond = np.broadcast_to((a_raw == 0) & b_real_nonneg, g.shape)
        gb = _sum_to(_where(cond, 0, g * (out * _where(a_raw == 0, 1, a).log()).conj()), b.shape)
    return ga, gb


# Ops whose graph backward is right for complex tensors: holomorphic ones written as g·f'(z) (run through
# the conjugation as the array sweep does, see engine.function.complex_backward), linear ones with real
# coefficients, and the complex-to-real ends of a real loss.
_COMPLEX_RULES = {
    "Abs": _complex_abs, "Real": _complex_real, "Imag": _complex_imag, "Conj": _complex_conj, "Sgn": _complex_sgn,
    "Angle": _complex_angle, "ViewAsReal": _complex_view_as_real, "ViewAsComplex": _complex_view_as_complex,
    "Complex": _complex_complex, "Polar": _complex_polar, "Pow": _complex_pow,
    # a nested sweep over the op's composition, which is in torch's convention already
    "LogCumSumExp": _logcumsumexp,
}
_COMPLEX_OK = {
    "Add", "Sub", "Mul", "Div", "Neg", "PowScalar", "Exp", "Log", "Sqrt", "Tanh", "Sin", "Cos", "Tan", "Sinh",
    "Cosh", "Reciprocal", "Sum", "Mean", "Reshape", "Transpose", "BroadcastTo", "Concatenate", "Stack", "MatMul",
    "GetItem", "Cast", "FFT", "_OverlapAdd", "AsStrided", "AsStridedScatter", *_COMPLEX_RULES,
    # holomorphic g·f'(z) (their reference backwards, through the conjugation)
    "Log1p", "Expm1", "Sigmoid", "Asin", "Acos", "Atan", "Asinh", "Acosh", "Atanh", "Rsqrt", "Exp2", "Log2",
    "Log10", "Prod", "Cumprod", "LogSumExp", "Lerp", "Einsum", "LogAddExp",
    # bilinear (each input's gradient linear in the other input and g: ᵀ becomes ᴴ through the conjugation)
    "Linear", "ConvNd", "ConvTransposeNd",
    # linear with real coefficients (a fixed mask, a gather, a running sum, im2col and col2im, a masked write)
    "Where", "MaskedFill", "Pad", "Tri", "Diagonal", "Cumsum", "IndexPut", "IndexAccumulate", "TakeAlong",
    "Unfold", "Fold", "SetItem",
    # written in torch's convention (conj_grad = False): real g times a complex function of the input
    "Var",
    # linear algebra: holomorphic Inverse, Det, Solve through the conjugation; the rest written with ᴴ
    "Inverse", "Det", "Solve", "LogAbsDet", "SlogdetSign", "Cholesky", "EighPacked", "SvdPacked", "Svdvals",
    "QrPacked", "Pinv", "EigPacked",
}


def _complex_node_backward(node, ctx, g: Tensor) -> tuple:
    """node_backward with a complex gradient or input: torch's convention, as the array sweep's."""
    name = type(ctx).__name__
    if name not in _COMPLEX_OK:
        raise NotImplementedError(f"double backward of {name} with complex tensors is not supported "
                                  "(create_graph=True)")
    rule = _COMPLEX_RULES.get(name) or _RULES[name]
    conj = ctx.conj_grad and name not in _COMPLEX_RULES
    grads = rule(node, ctx, g.conj() if conj and g.dtype.kind == "c" else g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    fixed = []
    for parent, pg in zip(ctx.parents, grads):
        if pg is not None and pg.dtype.kind == "c":
            if parent is not None and parent.dtype.kind != "c":
                pg = pg.real
            elif conj:
                pg = pg.conj()
        fixed.append(pg)
    return tuple(fixed)


def node_backward(node, ctx, g: Tensor) -> tuple:
    """The gradients of one op's inputs, as Tensors recorded in the graph, for its output's gradient ``g``."""
    rule = _RULES.get(type(ctx).__name__)
    if g.dtype.kind == "c" or any(p is not None and p.dtype.kind == "c" for p in ctx.parents):
        return _complex_node_backward(node, ctx, g)
    if rule is None:
        raise NotImplementedError(f"double backward of {type(ctx).__name__} is not supported "
                                  "(create_graph=True reached an op without a graph backward)")
    grads = rule(node, ctx, g)
    return grads if isinstance(grads, tuple) else (grads,)


# ---- the sweep ------------------------------------------------------------------------------------------


def _as_grad(g, t) -> Tensor:
    """A gradient in ``t``'s dtype and shape (a broadcast one expanded)."""
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if g.shape != t.shape:
        g = g.broadcast_to(t.shape)
    return g


def _accumulate(leaf: Tensor, g: Tensor) -> None:
    """``leaf.grad`` += g out of place (a graph Tensor, as torch with create_graph), then its hooks."""
    g = _as_grad(g, leaf)
    leaf._grad = g if leaf._grad is None else leaf._grad + g
    for hook in list((getattr(leaf, "_post_acc_hooks", None) or {}).values()):
        hook(leaf)


def sweep(roots: list[Tensor], grads: list[Tensor], retain_graph: bool = True, only=None, capture=None,
          stop=None) -> dict:
    """The create_graph reverse sweep: as ``engine.tensor.backpropagate`` (same arguments, same result)
    with Tensor gradients recorded in the graph. ``stop`` (tensors): the sweep does not go past them.

    >>> from engine import Tensor
    >>> x = Tensor([2.0], requires_grad=True)
    >>> g = sweep([x * x], [Tensor([1.0])], capture=[x])[0]; g.tolist(), g.requires_grad
    ([4.0], True)
    """
    _sweeps.partial.append(only is not None or capture is not None)  # engine.checkpoint's reentrant variant reads it
    try:
        return _sweep(roots, grads, retain_graph, only, capture, stop)
    finally:
        _sweeps.partial.pop()


def _sweep(roots: list[Tensor], grads: list[Tensor], retain_graph: bool, only, capture, stop) -> dict:
    with enable_grad():
        nodes, pending, wanted, slots = sweep_start(roots, grads, only, capture)
        stops = {id(_node_of(t)) for t in stop or ()}
        captured: dict[int, Tensor] = {}
        order = _toposort(nodes, stops)
        for i, node in enumerate(order):
            order[i] = None
            key = id(node)
            g = pending.pop(key, None)
            real = node._real() if type(node) is _GraphRef else node
            if g is not None and real is not None and real._grad_hooks:
                for hook in list(real._grad_hooks.values()):
                    out = hook(g)
                    if out is not None:
                        g = out
            ctx = node._ctx
            if g is None:
                if ctx is not None and not retain_graph and key not in stops:
                    ctx.free()
                continue
            if slots is not None:
                for slot in slots.get(key, ()):
                    captured[slot] = g
            elif (ctx is None or (real is not None and real._retains_grad)) if wanted is None else key in wanted:
                _accumulate(real if real is not None else node, g)
            if ctx is None or key in stops:
                continue
            in_grads = node_backward(node, ctx, g)
            for parent, pg, need in zip(ctx.parents, in_grads, ctx.needs_input_grad):
                if not need or pg is None:
                    continue
                pg = _as_grad(_tensor(pg), parent)
                pk = id(parent)
                prev = pending.get(pk)
                pending[pk] = pg if prev is None else prev + pg
            if not retain_graph:
                ctx.free()
    return captured
