"""`engine.functional` (import as F): the functional API, thin wrappers over ops.

>>> import engine.functional as F
>>> from engine import Tensor
>>> F.softmax(Tensor([[1.0, 1.0]])).numpy().tolist()
[[0.5, 0.5]]
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from engine.amp import autocast_dtype
from engine.backend import get_xp
from engine.function import _not_a_tensor
from engine.ops import elementwise as E
from engine.ops import fused as Fu
from engine.ops import matmul as M
from engine.ops import movement as Mv
from engine.tensor import Tensor


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _softmax_dim(x: Tensor, dim, axis, op: str) -> int:
    """One softmax axis from ``dim``/``axis`` (never both); None means the last axis."""
    from engine.ops.reduce import dim_arg

    d = dim_arg(op, dim, axis)
    d = -1 if d is None else d
    nd = max(x.ndim, 1)
    if not isinstance(d, int) or not -nd <= d < nd:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {x.shape}")
    return d


def _softmax_like(op, x: Tensor, dim, dtype, axis, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        _not_a_tensor(name, [x])
    d = _softmax_dim(x, dim, axis, name)
    if dtype is not None:
        x = x.astype(dtype)
    if x.dtype.kind != "f":
        raise NotImplementedError(f"{name}: not implemented for dtype {x.dtype} (pass dtype= or a float tensor)")
    if x.ndim == 0:  # torch: a 0-d input is one entry along dim 0
        return op.apply(x.reshape(1), axis=0).reshape(())
    return op.apply(x, axis=d)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None, *,  # noqa: A002
            axis: int | None = None) -> Tensor:
    """Numerically stable softmax along ``dim`` (torch.nn.functional.softmax; ``axis`` is an alias,
    None means the last axis). ``dtype`` casts the input first.

    >>> softmax(Tensor([1.0, 1.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    return _softmax_like(Fu.Softmax, input, dim, dtype, axis, "softmax")


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None, *,  # noqa: A002
                axis: int | None = None) -> Tensor:
    """Numerically stable log-softmax along ``dim`` (``axis`` is an alias; None: the last axis)."""
    return _softmax_like(Fu.LogSoftmax, input, dim, dtype, axis, "log_softmax")


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None, *,  # noqa: A002
            axis: int | None = None) -> Tensor:
    """softmax(-input) along ``dim``.

    >>> softmin(Tensor([0.0, 0.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    if dtype is not None:
        input = input.astype(dtype)
    return softmax(-input, dim, axis=axis)


def cross_entropy(logits: Tensor, targets, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy. ``logits`` (…, C) with classes on the LAST axis, int ``targets`` (…).

    Targets equal to ``ignore_index`` add no loss and are left out of the mean.

    >>> import numpy as np
    >>> cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item()  # log(2)
    0.6931...
    """
    targets = _array(targets)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not hasattr(targets, "dtype") or targets.dtype.kind not in "iu":
        got = getattr(targets, "dtype", type(targets))
        raise TypeError(f"cross_entropy targets must be an integer array, got {got}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: targets shape {targets.shape} must equal logits shape {logits.shape} "
            "without its last (class) axis"
        )
    return Fu.CrossEntropy.apply(logits, targets=targets, ignore_index=ignore_index, reduction=reduction)


def layer_norm(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias."""
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != x.shape[-1:]:
            raise ValueError(f"layer_norm: {name} shape {p.shape} must be ({x.shape[-1]},) for input shape {x.shape}")
    return Fu.LayerNorm.apply(x, weight, bias, eps=eps)


def embedding(ids, weight: Tensor) -> Tensor:
    """Rows of ``weight`` (V, D) for integer ``ids`` (…) -> (…, D). Ids outside [0, V) raise."""
    ids = _array(ids)
    if not hasattr(ids, "dtype") or ids.dtype.kind not in "iu":
        raise TypeError(f"embedding ids must be an integer array, got {getattr(ids, 'dtype', type(ids))}")
    return Fu.Embedding.apply(weight, ids=ids)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each entry with probability ``p`` and scale the rest by 1/(1-p); identity when not training."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    return Fu.Dropout.apply(x, p=p)


@functools.lru_cache(maxsize=64)
def _causal_keep(t: int, s: int, window: int | None, device: str):
    """(T, S) bool: query i (at absolute position S-T+i) may see key j. Cached per shape."""
    xp = get_xp(device)
    pos = xp.arange(s - t, s)[:, None]
    key = xp.arange(s)[None, :]
    keep = key <= pos
    if window is not None:
        keep &= key > pos - window
    return keep


def attention_mask(t: int, s: int, window: int | None = None, device: str = "cpu"):
    """Causal (optionally banded) keep-mask of shape (T, S), True where attention is allowed.

    Queries are the last T of S positions (so a KV-cache step sees every earlier key).
    ``window`` keeps only the ``window`` most recent keys, the query's own included.

    >>> attention_mask(2, 3).tolist()
    [[True, True, False], [True, True, True]]
    """
    if window is not None and window < 1:
        raise ValueError(f"attention window must be >= 1, got {window}")
    return _causal_keep(t, s, window, device)


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = True,
    mask=None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    window: int | None = None,
) -> Tensor:
    """softmax(q kᵀ / sqrt(D) masked) v. q (…, T, D), k (…, S, D), v (…, S, Dv) -> (…, T, Dv).

    ``mask`` is bool, broadcastable to (…, T, S), True where attention is allowed (torch's
    convention). ``causal`` aligns queries to the end of the keys; ``window`` bands it.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or q.shape[:-2] != k.shape[:-2] \
            or k.shape[:-2] != v.shape[:-2]:
        raise ValueError(f"attention: incompatible shapes q {q.shape}, k {k.shape}, v {v.shape}")
    keep = attention_mask(q.shape[-2], k.shape[-2], window, q.device) if causal else None
    if mask is not None:
        mask = _array(mask)
        if mask.dtype != bool:
            raise TypeError(f"attention mask must be bool (True = attend), got {mask.dtype}")
        keep = mask if keep is None else (keep & mask)
    return Fu.ScaledDotProductAttention.apply(q, k, v, keep=keep, dropout_p=dropout_p, scale=scale,
                                              causal=causal and mask is None, window=window)


def self_attention(qkv: Tensor, n_head: int, dropout_p: float = 0.0, window: int | None = None) -> Tensor:
    """Causal multi-head self-attention from a fused projection: qkv (B, T, 3C) → (B, T, C).

    The same as splitting qkv into q, k, v, reshaping each to (B, n_head, T, C/n_head),
    calling ``scaled_dot_product_attention`` and merging the heads, in one op.
    """
    B, T, C3 = qkv.shape
    if qkv.ndim != 3 or C3 % 3 or (C3 // 3) % n_head:
        raise ValueError(f"self_attention: qkv shape {qkv.shape} is not (B, T, 3C) with C divisible by {n_head}")
    keep = attention_mask(T, T, window, qkv.device)
    return Fu.SelfAttention.apply(qkv, n_head=n_head, keep=keep, dropout_p=dropout_p, causal=True, window=window)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with weight (out, in), as torch.nn.functional.linear."""
    fp32 = getattr(x, "dtype", None) == "float32"  # a non-Tensor x gets Function.apply's TypeError
    return M.Linear.apply(x, weight, bias, compute_dtype=autocast_dtype() if fp32 else None)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """GELU: the exact ``x * Phi(x)`` by default (torch's); "tanh" is GPT-2's approximation."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return input.gelu(approximate=approximate)


def _maybe_inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """torch's ``inplace=True``: write the result into ``input`` (outside the graph only)."""
    if not inplace:
        return out
    return input._inplace_result("activation(inplace=True)", out)


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(input, 0); gradient 0 at 0."""
    return _maybe_inplace(input, input.relu(), inplace)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def where(condition, input=None, other=None) -> Tensor | tuple:  # noqa: A002
    """``input`` where ``condition`` is True, else ``other`` (broadcasting; numbers allowed);
    differentiable in both. ``where(condition)`` alone is ``condition.nonzero(as_tuple=True)``.

    >>> where(Tensor([True, False]), Tensor([1.0, 2.0]), 0.0).tolist()
    [1.0, 0.0]
    """
    cond = _array(condition)
    if input is None and other is None:
        return tuple(Tensor(i) for i in cond.nonzero())
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise RuntimeError(f"where expected condition to be a boolean tensor, got {getattr(cond, 'dtype', cond)}")
    if isinstance(input, Tensor):
        a, b = input._operands(other)
    elif isinstance(other, Tensor):
        b, a = other._operands(input)
    else:  # two numbers: a tensor of their promoted dtype on condition's device
        device = condition.device if isinstance(condition, Tensor) else "cpu"
        dtype = "float32" if isinstance(input, float) or isinstance(other, float) else None
        a = Tensor(input, dtype=dtype, device=device)
        b = a._coerce(other)
    return E.Where.apply(a, b, cond=cond)


def maximum(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise max; a tie splits the gradient evenly, as torch."""
    return input.maximum(other)


def minimum(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise min; a tie splits the gradient evenly, as torch."""
    return input.minimum(other)


def _same_kind(tensors: Sequence[Tensor], what: str) -> list[Tensor]:
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{what} needs at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        if t.device != first.device or t.dtype != first.dtype:
            raise TypeError(f"{what}: all tensors need one dtype and device, got {first.dtype}/{first.device} "
                            f"and {t.dtype}/{t.device}")
    return tensors


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = _same_kind(tensors, "concatenate")
    ref = tensors[0].shape
    for t in tensors:
        if t.ndim != len(ref) or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != axis % len(ref)):
            raise ValueError(f"concatenate: shapes {ref} and {t.shape} differ outside axis {axis}")
    return Mv.Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join equal-shape tensors along a new axis."""
    tensors = _same_kind(tensors, "stack")
    for t in tensors:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    return Mv.Stack.apply(*tensors, axis=axis)


def pad(x: Tensor, pad_width, value: float = 0.0) -> Tensor:
    return x.pad(pad_width, value)


# ---- activations (torch.nn.functional names) -----------------------------------------------------

import numpy as np  # noqa: E402

from engine.ops import activations as A  # noqa: E402

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _float_input(input, name: str) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        _not_a_tensor(name, [input])
    return input._float()


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(input, 0), 6); gradient 1 strictly inside (0, 6), as torch.

    >>> relu6(Tensor([-1.0, 3.0, 7.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """clamp(input, min_val, max_val), with gradient 1 only strictly inside (torch's rule)."""
    if min_val > max_val:
        raise ValueError("hardtanh: min_val cannot be greater than max_val")
    return _maybe_inplace(input, A.Hardtanh.apply(input, min_val=min_val, max_val=max_val), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """input where input > 0, else negative_slope * input.

    >>> leaky_relu(Tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return _maybe_inplace(input, A.LeakyRelu.apply(_float_input(input, "leaky_relu"), negative_slope=negative_slope),
                          inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """input for input > 0, else alpha * (exp(input) - 1)."""
    return _maybe_inplace(input, A.Elu.apply(_float_input(input, "elu"), alpha=alpha), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(input, alpha) with the self-normalizing constants."""
    out = A.Elu.apply(_float_input(input, "selu"), alpha=_SELU_ALPHA, scale=_SELU_SCALE)
    return _maybe_inplace(input, out, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, input) + min(0, alpha * (exp(input / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu alpha must not be 0")
    out = A.Elu.apply(_float_input(input, "celu"), alpha=alpha, input_scale=1 / alpha)
    return _maybe_inplace(input, out, inplace)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * sigmoid(input) (swish)."""
    return _maybe_inplace(input, A.Silu.apply(_float_input(input, "silu")), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * tanh(softplus(input))."""
    return _maybe_inplace(input, A.Mish.apply(_float_input(input, "mish")), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta * input)) / beta; the identity where beta * input > threshold.

    >>> round(softplus(Tensor([0.0])).item(), 4)
    0.6931
    """
    return A.Softplus.apply(_float_input(input, "softplus"), beta=beta, threshold=threshold)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """input / (1 + |input|)."""
    x = _float_input(input, "softsign")
    return x / (x.abs() + 1)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(input + 3) / 6; gradient 1/6 strictly inside (-3, 3)."""
    x = _float_input(input, "hardsigmoid")
    inside = (x > -3) & (x < 3)  # torch's gradient test: none at ±3 or at a nan
    outside = ((x.detach().clamp(-3.0, 3.0) + 3) / 6)  # 0, 1 or nan, constant
    return _maybe_inplace(input, where(inside, (x + 3) / 6, outside), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * relu6(input + 3) / 6."""
    return _maybe_inplace(input, A.Hardswish.apply(_float_input(input, "hardswish")), inplace)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(input)), stable for large |input|.

    >>> round(logsigmoid(Tensor([0.0])).item(), 4)
    -0.6931
    """
    return A.LogSigmoid.apply(_float_input(input, "logsigmoid"))


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """input - tanh(input)."""
    x = _float_input(input, "tanhshrink")
    return x - x.tanh()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:  # noqa: A002
    """input where input > threshold, else value.

    >>> threshold(Tensor([0.5, 2.0]), 1.0, -1.0).tolist()
    [-1.0, 2.0]
    """
    return _maybe_inplace(input, where(input <= threshold, value, input), inplace)  # nan stays nan


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """input - lambd above lambd, input + lambd below -lambd, else 0."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambd must be non-negative, got {lambd}")
    x = _float_input(input, "softshrink")
    inside = (x >= -lambd) & (x <= lambd)  # torch's test: a nan is outside (and stays nan)
    return where(inside, x * 0, x - x.sign() * lambd)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:  # noqa: A002
    """input where |input| > lambd, else 0."""
    x = _float_input(input, "hardshrink")
    return where((x >= -lambd) & (x <= lambd), 0.0, x)  # a nan stays nan, as torch


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """input where input > 0, else weight * input; ``weight`` has 1 or C (= input.shape[1]) entries.

    >>> prelu(Tensor([[-2.0, 2.0]]), Tensor([0.25])).tolist()
    [[-0.5, 2.0]]
    """
    if weight.ndim > 1 or (weight.numel() != 1 and (input.ndim < 2 or weight.numel() != input.shape[1])):
        raise RuntimeError(f"prelu: weight of shape {weight.shape} must have 1 entry or one per channel "
                           f"(input.shape[1]) for input of shape {input.shape}")
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape(-1, *([1] * (input.ndim - 2)))
    pos = input > 0
    negative_part = where(pos, 0.0, input)  # so weight's gradient is 0, not 0 * inf, where input = +inf
    return where(pos, input, w * negative_part)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: slope (lower + upper) / 2 when not training; a slope drawn from
    U(lower, upper) per negative entry when training (from the engine's generator)."""
    x = _float_input(input, "rrelu")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slope = x.rand_like() * (upper - lower) + lower
    return _maybe_inplace(input, where(x >= 0, x, x * slope), inplace)


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """a * sigmoid(b) where a, b are the halves of ``input`` along ``dim``.

    >>> glu(Tensor([1.0, 0.0]), 0).tolist()
    [0.5]
    """
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = _softmax_dim(input, dim, None, "glu")
    n = input.shape[d]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d % input.ndim} is size {n}")
    a, b = input.split(n // 2, d % input.ndim)
    return a * b.sigmoid()


def _norm(x: Tensor, p: float, dim: int) -> Tensor:
    """p-norm along ``dim`` (keepdim), with a zero gradient where the norm is 0 (as torch)."""
    s = (x * x).sum(dim, keepdims=True) if p == 2 else (x.abs() ** p).sum(dim, keepdims=True)
    positive = s.data > 0
    one, zero = s.ones_like(), s.zeros_like()
    safe = E.Where.apply(s, one, cond=positive)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return E.Where.apply(root, zero, cond=positive)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:  # noqa: A002
    """input / max(||input||_p, eps) along ``dim``.

    >>> normalize(Tensor([[3.0, 4.0]], dtype="float64")).tolist()
    [[0.6, 0.8]]
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    x = _float_input(input, "normalize")
    d = _softmax_dim(x, dim, None, "normalize")
    if x.ndim == 0:
        return x / _norm(x.reshape(1), p, 0).reshape(()).clamp(min=eps)
    return x / _norm(x, p, d).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcasting).

    >>> cosine_similarity(Tensor([[1.0, 0.0]]), Tensor([[1.0, 1.0]])).tolist()
    [0.7071067...]
    """
    a, b = _float_input(x1, "cosine_similarity"), _float_input(x2, "cosine_similarity")
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = a.broadcast_to(shape), b.broadcast_to(shape)
    d = _softmax_dim(a, dim, None, "cosine_similarity")
    n1, n2 = _norm(a, 2, d).clamp(min=eps), _norm(b, 2, d).clamp(min=eps)
    return ((a / n1) * (b / n2)).sum(d)


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    return relu(input, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    return elu(input, alpha, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    return celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:  # noqa: A002
    return selu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:  # noqa: A002
    return _maybe_inplace(input, where(input <= threshold, value, input), True)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:  # noqa: A002
    return rrelu(input, lower, upper, training, inplace=True)


# ---- reductions and scans --------------------------------------------------------------------------

# ---- shape, indexing and linear algebra ----------------------------------------------------------

# ---- losses ----------------------------------------------------------------------------------------

# ---- convolution, pooling and resampling -----------------------------------------------------------
