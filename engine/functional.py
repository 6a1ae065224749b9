"""`engine.functional` (import as F): the functional API, thin wrappers over ops.

>>> import engine.functional as F
>>> from engine import Tensor
>>> F.softmax(Tensor([[1.0, 1.0]])).numpy().tolist()
[[0.5, 0.5]]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from engine.amp import autocast_dtype
from engine.backend import get_xp
from engine.ops import elementwise as E
from engine.ops import fused as Fu
from engine.ops import matmul as M
from engine.ops import movement as Mv
from engine.ops import spatial as S
from engine.tensor import Tensor


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Numerically stable softmax along ``axis``."""
    return Fu.Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Numerically stable log-softmax along ``axis``."""
    return Fu.LogSoftmax.apply(x, axis=axis)


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
    return M.Linear.apply(x, weight, bias, compute_dtype=autocast_dtype() if x.dtype == "float32" else None)


def gelu(x: Tensor, approximate: str = "tanh") -> Tensor:
    """GELU; "tanh" is GPT-2's approximation, "none" the exact erf form."""
    return E.Gelu.apply(x, approximate=approximate)


def relu(x: Tensor) -> Tensor:
    return E.Relu.apply(x)


def tanh(x: Tensor) -> Tensor:
    return E.Tanh.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    return E.Sigmoid.apply(x)


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is True, else ``b`` (broadcasting); differentiable in a and b."""
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(ref, Tensor):
        raise TypeError("where needs at least one of a, b to be a Tensor")
    a, b = ref._coerce(a), ref._coerce(b)
    return E.Where.apply(a, b, cond=_array(cond))


def maximum(a: Tensor, b) -> Tensor:
    return a.maximum(b)


def minimum(a: Tensor, b) -> Tensor:
    return a.minimum(b)


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

# ---- reductions and scans --------------------------------------------------------------------------

# ---- shape, indexing and linear algebra ----------------------------------------------------------

# ---- losses ----------------------------------------------------------------------------------------

# ---- convolution, pooling and resampling -----------------------------------------------------------
# Channels-first inputs (N, C, *spatial) as torch; an unbatched (C, *spatial) input works too.
# The primitives live in engine/ops/spatial.py; conv/pool/fold are Functions, the rest compose.


def _sp_tuple(value, n: int, name: str, op: str) -> tuple:
    """An int or a sequence of 1 or n ints -> a tuple of n ints (torch's _single/_pair/_triple)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    vals = tuple(int(v) for v in value)
    if len(vals) == 1:
        return vals * n
    if len(vals) != n:
        raise RuntimeError(f"{op}: expected {name} to be a single integer value or a list of {n} values, "
                           f"got {name}={list(vals)}")
    return vals


def _sp_input(x, nd: int, op: str):
    """(x batched, was it unbatched). Accepts (N, C, *S) or (C, *S) with nd spatial axes."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim == nd + 2:
        return x, False
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {op}, "
                       f"but got input of size: {list(x.shape)}")


def _sp_positive(vals: tuple, name: str, op: str) -> None:
    if any(v <= 0 for v in vals):
        raise RuntimeError(f"{op}: non-positive {name} is not supported, got {name}={list(vals)}")


def _sp_dims(vals) -> str:
    return " x ".join(str(v) for v in vals)


def _conv(op: str, nd: int, input, weight, bias, stride, padding, dilation, groups):
    x, unbatched = _sp_input(input, nd, op)
    if not isinstance(weight, Tensor) or weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight (out_channels, in_channels/groups, *kernel), "
                           f"got weight of size {list(getattr(weight, 'shape', ()))}")
    stride, dilation = _sp_tuple(stride, nd, "stride", op), _sp_tuple(dilation, nd, "dilation", op)
    _sp_positive(stride, "stride", op)
    _sp_positive(dilation, "dilation", op)
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got groups={groups}")
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions "
                                   f"(stride={list(stride)})")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            pads = tuple((t // 2, t - t // 2) for t in total)  # the odd extra goes right, as torch
        else:
            raise RuntimeError(f"{op}: Invalid padding string: {padding!r} (expected 'same' or 'valid')")
    else:
        p = _sp_tuple(padding, nd, "padding", op)
        if any(v < 0 for v in p):
            raise RuntimeError(f"{op}: negative padding is not supported, got padding={list(p)}")
        pads = tuple((v, v) for v in p)
    o, cg = weight.shape[:2]
    if o % groups:
        raise RuntimeError(f"{op}: Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(weight.shape)} instead")
    if x.shape[1] != cg * groups:
        raise RuntimeError(f"{op}: Given groups={groups}, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {cg * groups} channels, but got {x.shape[1]} "
                           f"channels instead")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (o,)):
        raise RuntimeError(f"{op}: Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional "
                           f"with {o} elements, but got bias of size {list(getattr(bias, 'shape', ()))} instead")
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    eff = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(f"{op}: Calculated padded input size per channel: ({_sp_dims(padded)}). "
                           f"Kernel size: ({_sp_dims(eff)}). Kernel size can't be greater than actual input size "
                           f"(input {list(x.shape)}, weight {list(weight.shape)})")
    out = S.ConvNd.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return out[0] if unbatched else out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) as torch: input (N, C, L), weight (O, C/groups, K).

    >>> conv1d(Tensor([[[1.0, 2.0, 3.0]]]), Tensor([[[1.0, 1.0]]])).numpy().tolist()
    [[[3.0, 5.0]]]
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution as torch: input (N, C, H, W), weight (O, C/groups, kH, kW); padding an int,
    a pair, 'same' or 'valid'; groups == C with O = m·C is a depthwise convolution.

    >>> conv2d(Tensor.ones(1, 1, 3, 3), Tensor.ones(1, 1, 2, 2), padding=1).shape
    (1, 1, 4, 4)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """3-D convolution as torch: input (N, C, D, H, W), weight (O, C/groups, kD, kH, kW).

    >>> conv3d(Tensor.ones(1, 2, 3, 3, 3), Tensor.ones(4, 2, 3, 3, 3)).shape
    (1, 4, 1, 1, 1)
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    x, unbatched = _sp_input(input, nd, op)
    if not isinstance(weight, Tensor) or weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight (in_channels, out_channels/groups, *kernel), "
                           f"got weight of size {list(getattr(weight, 'shape', ()))}")
    if isinstance(padding, str):
        raise RuntimeError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    stride, dilation = _sp_tuple(stride, nd, "stride", op), _sp_tuple(dilation, nd, "dilation", op)
    pad, opad = _sp_tuple(padding, nd, "padding", op), _sp_tuple(output_padding, nd, "output_padding", op)
    _sp_positive(stride, "stride", op)
    _sp_positive(dilation, "dilation", op)
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got groups={groups}")
    if any(v < 0 for v in pad + opad):
        raise RuntimeError(f"{op}: negative padding is not supported, got padding={list(pad)}, "
                           f"output_padding={list(opad)}")
    if any(op_ >= max(s, d) for op_, s, d in zip(opad, stride, dilation)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                           f"output_padding={list(opad)}, stride={list(stride)}, dilation={list(dilation)}")
    cin, og = weight.shape[:2]
    if x.shape[1] != cin:
        raise RuntimeError(f"{op}: Given transposed=1, weight of size {list(weight.shape)}, expected "
                           f"input{list(x.shape)} to have {cin} channels, but got {x.shape[1]} channels instead")
    if cin % groups:
        raise RuntimeError(f"{op}: Given groups={groups}, expected weight to be divisible by {groups} at "
                           f"dimension 0, but got weight of size {list(weight.shape)} instead")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (og * groups,)):
        raise RuntimeError(f"{op}: expected bias of shape ({og * groups},) for weight of size "
                           f"{list(weight.shape)} and groups={groups}, got {list(getattr(bias, 'shape', ()))}")
    kernel = weight.shape[2:]
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + q + 1
                for n, s, p, d, k, q in zip(x.shape[2:], stride, pad, dilation, kernel, opad))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}: Given input size per channel: ({_sp_dims(x.shape[2:])}). Calculated output "
                           f"size per channel: ({_sp_dims(out)}). Output size is too small")
    y = S.ConvTransposeNd.apply(x, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups,
                                out=out)
    return y[0] if unbatched else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution as torch: input (N, Cin, L), weight (Cin, Cout/groups, K).

    >>> conv_transpose1d(Tensor([[[1.0, 2.0]]]), Tensor([[[1.0, 1.0]]])).numpy().tolist()
    [[[1.0, 3.0, 2.0]]]
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution (the gradient of conv2d w.r.t. its input) as torch.

    >>> conv_transpose2d(Tensor.ones(1, 1, 2, 2), Tensor.ones(1, 1, 3, 3), stride=2).shape
    (1, 1, 5, 5)
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution as torch: input (N, Cin, D, H, W), weight (Cin, Cout/groups, *K)."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _fold_args(op, kernel_size, dilation, padding, stride):
    k, d = _sp_tuple(kernel_size, 2, "kernel_size", op), _sp_tuple(dilation, 2, "dilation", op)
    p, s = _sp_tuple(padding, 2, "padding", op), _sp_tuple(stride, 2, "stride", op)
    _sp_positive(k, "kernel_size", op)
    _sp_positive(d, "dilation", op)
    _sp_positive(s, "stride", op)
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: negative padding is not supported, got padding={list(p)}")
    return k, d, tuple((v, v) for v in p), s


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col as torch: (N, C, H, W) -> (N, C·kH·kW, L), one column per sliding block.

    >>> unfold(Tensor.ones(1, 2, 3, 3), 2).shape
    (1, 8, 4)
    """
    x, unbatched = _sp_input(input, 2, "unfold")
    k, d, pads, s = _fold_args("unfold", kernel_size, dilation, padding, stride)
    blocks = [S.out_size(n, kk, ss, dd, lo, hi) for n, kk, ss, dd, (lo, hi) in zip(x.shape[2:], k, s, d, pads)]
    if any(b <= 0 for b in blocks):
        raise RuntimeError(f"unfold: Given input with spatial size {tuple(x.shape[2:])}, kernel_size={k}, "
                           f"dilation={d}, padding={tuple(lo for lo, _ in pads)}, calculated shape of the array "
                           f"of sliding blocks as {tuple(blocks)}, but its components must be at least one.")
    y = S.Unfold.apply(x, kernel=k, stride=s, padding=pads, dilation=d)
    return y[0] if unbatched else y


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im as torch: (N, C·kH·kW, L) -> (N, C, *output_size), overlapping values summed.

    >>> fold(unfold(Tensor.ones(1, 1, 3, 3), 2), (3, 3), 2).numpy()[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"fold: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"fold: Expected 2D (unbatched) or 3D (batched) input, got input of size "
                           f"{list(input.shape)}")
    cols, unbatched = (input.unsqueeze(0), True) if input.ndim == 2 else (input, False)
    size = _sp_tuple(output_size, 2, "output_size", "fold")
    k, d, pads, s = _fold_args("fold", kernel_size, dilation, padding, stride)
    kp = k[0] * k[1]
    blocks = [S.out_size(n, kk, ss, dd, lo, hi) for n, kk, ss, dd, (lo, hi) in zip(size, k, s, d, pads)]
    if cols.shape[1] % kp:
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size {k}, but got input of size {list(input.shape)}")
    if any(b <= 0 for b in blocks) or cols.shape[2] != blocks[0] * blocks[1]:
        raise RuntimeError(f"fold: Given output_size={size}, kernel_size={k}, dilation={d}, "
                           f"padding={tuple(lo for lo, _ in pads)}, stride={s}, expected size of input's "
                           f"dimension 2 to match the calculated number of sliding blocks "
                           f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got input of size "
                           f"{list(input.shape)}")
    y = S.Fold.apply(cols, shape=(cols.shape[0], cols.shape[1] // kp, *size), kernel=k, stride=s, padding=pads,
                     dilation=d)
    return y[0] if unbatched else y


def _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = _sp_tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _sp_tuple(
        stride, nd, "stride", op)
    p, d = _sp_tuple(padding, nd, "padding", op), _sp_tuple(dilation, nd, "dilation", op)
    _sp_positive(k, "kernel_size", op)
    if any(v == 0 for v in s):
        raise RuntimeError(f"{op}: stride should not be zero, got stride={list(s)}")
    _sp_positive(s, "stride", op)
    _sp_positive(d, "dilation", op)
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: negative padding is not supported, got padding={list(p)}")
    for pp, kk, dd in zip(p, k, d):
        if pp > kk // 2:  # torch bounds it by half the (undilated) kernel
            raise RuntimeError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                               f"pad={pp}, kernel_size={kk} and dilation={dd}")
    size = x.shape[-nd:]
    out = tuple(S.pool_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(size, k, s, p, d))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(str(v) for v in x.shape[1:])}). Calculated "
                           f"output size: ({'x'.join(str(v) for v in (*x.shape[1:-nd], *out))}). "
                           "Output size is too small")
    return k, s, p, d, out


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = _sp_input(input, nd, op)
    k, s, p, d, out = _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    y = S.MaxPoolNd.apply(x, kernel=k, stride=s, padding=p, dilation=d, out=out)
    if not return_indices:
        return y[0] if unbatched else y
    fn = y._ctx if y._ctx is not None else _max_pool_ctx(x, k, s, p, d, out)
    idx = Tensor(fn.indices())
    return (y[0], idx[0]) if unbatched else (y, idx)


def _max_pool_ctx(x, k, s, p, d, out):
    """A MaxPoolNd run outside the graph (no grad needed) to recover the argmax indices."""
    fn = S.MaxPoolNd()
    fn.xp = get_xp(x.device)
    fn.forward(x.data, kernel=k, stride=s, padding=p, dilation=d, out=out)
    return fn


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-D max pooling as torch (stride defaults to kernel_size); -inf padding.

    >>> max_pool1d(Tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).numpy().tolist()
    [[[3.0, 2.0]]]
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-D max pooling as torch; ``return_indices`` also gives each maximum's flat index into H·W.

    >>> max_pool2d(Tensor.arange(16.0).reshape(1, 1, 4, 4), 2).numpy()[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """3-D max pooling as torch."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    x, unbatched = _sp_input(input, nd, op)
    idx = _array(indices)
    if unbatched:
        idx = idx[None]
    if idx is None or not hasattr(idx, "dtype") or idx.dtype.kind not in "iu" or idx.shape != x.shape:
        raise RuntimeError(f"{op}: expected integer indices of the input's shape {list(input.shape)}, got "
                           f"{getattr(idx, 'dtype', type(idx))} of shape {list(getattr(idx, 'shape', ()))}")
    k = _sp_tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else _sp_tuple(stride, nd, "stride", op)
    p = _sp_tuple(padding, nd, "padding", op)
    default = tuple((n - 1) * ss - 2 * pp + kk for n, ss, pp, kk in zip(x.shape[2:], s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)[-nd:]
        if len(out) != nd or any(not (dd - ss < o < dd + ss) for o, dd, ss in zip(out, default, s)):
            raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (expected sizes between "
                             f"{tuple(dd - ss + 1 for dd, ss in zip(default, s))} and "
                             f"{tuple(dd + ss - 1 for dd, ss in zip(default, s))})")
    total = int(np.prod(out))
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= total):
        bad = int(idx.max()) if int(idx.max()) >= total else int(idx.min())
        raise RuntimeError(f"{op}: Found an invalid max index: {bad} (output volumes are of size "
                           f"{'x'.join(str(o) for o in out)})")
    y = S.MaxUnpool.apply(x, indices=idx.astype(np.int64) if idx.dtype != np.int64 else idx, out=out)
    return y[0] if unbatched else y


def max_unpool1d(input: Tensor, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of max_pool1d: values go back to their indices, zeros elsewhere."""
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Partial inverse of max_pool2d (with ``return_indices=True``): zeros except at the maxima.

    >>> y, i = max_pool2d(Tensor.arange(4.0).reshape(1, 1, 2, 2), 2, return_indices=True)
    >>> max_unpool2d(y, i, 2).numpy()[0, 0].tolist()
    [[0.0, 0.0], [0.0, 3.0]]
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, unbatched = _sp_input(input, nd, op)
    k, s, p, _, out = _pool_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero")
    y = S.AvgPoolNd.apply(x, kernel=k, stride=s, padding=p, out=out, count_include_pad=count_include_pad,
                          divisor_override=divisor_override)
    return y[0] if unbatched else y


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling as torch.

    >>> avg_pool1d(Tensor([[[1.0, 3.0, 2.0, 0.0]]]), 2).numpy().tolist()
    [[[2.0, 1.0]]]
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling as torch: window sums over the window size (padding counted unless
    ``count_include_pad=False``; ``divisor_override`` replaces the divisor).

    >>> avg_pool2d(Tensor.ones(1, 1, 2, 2), 2, padding=1, count_include_pad=False).numpy()[0, 0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-D average pooling as torch."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _lp_pool(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    k = _sp_tuple(kernel_size, nd, "kernel_size", op)
    p = float(norm_type)
    y = _avg_pool(op, nd, input ** p, k, stride, 0, ceil_mode, True, None)
    return (y * float(np.prod(k))) ** (1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling as torch: (sum of x^p over each window)^(1/p)."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling as torch: (sum of x^p over each window)^(1/p).

    >>> lp_pool2d(Tensor.ones(1, 1, 2, 2), 2, 2).numpy().ravel().tolist()
    [2.0]
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def _adaptive_size(op, nd, x, output_size):
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    out = tuple(x.shape[-nd + i] if v is None else int(v) for i, v in enumerate(output_size))
    if len(out) != nd:
        raise ValueError(f"{op}: output_size must have {nd} elements, got {tuple(output_size)}")
    if any(o < 0 for o in out) or (any(o == 0 for o in out) and x.numel()):
        if any(o < 0 for o in out):
            raise RuntimeError(f"{op}: output_size must be non-negative, got {list(out)} for input "
                               f"{list(x.shape)}")
    return out


def _adaptive_matrix(n_in: int, n_out: int, dtype, device) -> Tensor:
    """(Out, In) averaging matrix of torch's adaptive windows."""
    m = np.zeros((n_out, n_in))
    for i, (a, b) in enumerate(S.adaptive_bounds(n_in, n_out)):
        m[i, a:b] = 1.0 / (b - a)
    return Tensor(m.astype(dtype), device=device)


def _along(x: Tensor, axis: int, m: Tensor) -> Tensor:
    """Apply an (Out, In) matrix along ``axis`` of x (a linear resampling of that axis)."""
    if axis == x.ndim - 1:
        return x @ m.T
    if axis == x.ndim - 2:
        return m @ x
    return (x.swapaxes(axis, -1) @ m.T).swapaxes(axis, -1)


def _adaptive_avg(op, nd, input, output_size):
    x, unbatched = _sp_input(input, nd, op)
    out = _adaptive_size(op, nd, x, output_size)
    y = x
    if all(o == 1 for o in out):
        y = x.mean(axis=tuple(range(2, 2 + nd)), keepdims=True)
    else:
        for i, o in enumerate(out):
            if o != x.shape[2 + i]:
                y = _along(y, 2 + i, _adaptive_matrix(x.shape[2 + i], o, x.dtype, x.device))
    return y[0] if unbatched else y


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average over torch's adaptive windows [floor(i·L/O), ceil((i+1)·L/O)).

    >>> adaptive_avg_pool1d(Tensor([[[1.0, 2.0, 3.0]]]), 2).numpy().tolist()
    [[[1.5, 2.5]]]
    """
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average over torch's adaptive windows; ``output_size`` an int or (H, W), None keeps a side.

    >>> adaptive_avg_pool2d(Tensor.ones(1, 2, 5, 5), 1).shape
    (1, 2, 1, 1)
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """3-D adaptive average pooling as torch."""
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max(op, nd, input, output_size, return_indices):
    x, unbatched = _sp_input(input, nd, op)
    out = _adaptive_size(op, nd, x, output_size)
    y = S.AdaptiveMaxPoolNd.apply(x, out=out)
    if not return_indices:
        return y[0] if unbatched else y
    if y._ctx is not None:
        idx = y._ctx.idx
    else:
        fn = S.AdaptiveMaxPoolNd()
        fn.xp = get_xp(x.device)
        fn.forward(x.data, out=out)
        idx = fn.idx
    idx = Tensor(idx)
    return (y[0], idx[0]) if unbatched else (y, idx)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max over torch's adaptive windows (1-D)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over torch's adaptive windows; ``return_indices`` gives flat indices into H·W.

    >>> adaptive_max_pool2d(Tensor.arange(9.0).reshape(1, 1, 3, 3), 2).numpy()[0, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


_INTERP_ND = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def _nearest_index(n_in: int, n_out: int, scale, exact: bool):
    """torch's nearest source indices (float32 arithmetic, as its kernels)."""
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in / n_out)
    dst = np.arange(n_out, dtype=np.float32)
    src = np.floor(((dst + np.float32(0.5)) if exact else dst) * s).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_scale(n_in, n_out, align_corners, scale):
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _resample_matrix(mode: str, n_in: int, n_out: int, align_corners: bool, scale) -> np.ndarray:
    """(Out, In) float64 matrix of torch's linear or cubic (A = -0.75) interpolation along one axis."""
    s = _linear_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    cubic = mode == "bicubic"
    src = s * dst if align_corners else s * (dst + 0.5) - 0.5
    if not align_corners and not cubic:
        src = np.maximum(src, 0.0)
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if not cubic:
        i0 = np.floor(src).astype(np.int64)
        lam = src - i0
        i1 = i0 + (i0 < n_in - 1)
        np.add.at(m, (rows, i0), 1.0 - lam)
        np.add.at(m, (rows, i1), lam)
        return m
    a = -0.75
    i0 = np.floor(src).astype(np.int64)
    t = src - i0

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    coeffs = (far(t + 1), near(t), near(1 - t), far(2 - t))
    for j, c in enumerate(coeffs):
        np.add.at(m, (rows, np.clip(i0 - 1 + j, 0, n_in - 1)), c)
    return m


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial axes as torch.nn.functional.interpolate: modes nearest, nearest-exact,
    linear (3-D input), bilinear / bicubic (4-D), trilinear (5-D) and area; ``scale_factor`` with
    torch's recompute_scale_factor rule.

    >>> interpolate(Tensor([[[1.0, 2.0]]]), scale_factor=2).numpy().tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    >>> interpolate(Tensor([[[1.0, 2.0]]]), size=3, mode="linear", align_corners=True).numpy().tolist()
    [[[1.0, 1.5, 2.0]]]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(input).__name__}")
    modes = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
    if mode not in modes:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; expected one of {modes}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not implemented")
    if input.ndim not in (3, 4, 5):
        raise NotImplementedError(f"interpolate: Input Error: Only 3D, 4D and 5D input Tensors supported "
                                  f"(got {input.ndim}D) for the modes: {' | '.join(modes)}")
    nd = input.ndim - 2
    if mode in _INTERP_ND and _INTERP_ND[mode] != nd:
        raise NotImplementedError(f"interpolate: Got {input.ndim}D input, but {mode} mode needs "
                                  f"{_INTERP_ND[mode] + 2}D input")
    if mode not in _INTERP_ND and align_corners is not None:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    align_corners = bool(align_corners)
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: " + ("only one of size or scale_factor should be defined" if size is not None
                                            else "either size or scale_factor should be defined"))
    in_size = input.shape[2:]
    scales = None
    if size is not None:
        out = _sp_tuple(size, nd, "size", "interpolate") if not isinstance(size, (list, tuple)) or len(size) != 1 \
            or nd == 1 else _sp_tuple(size, nd, "size", "interpolate")
    else:
        sf = tuple(float(v) for v in scale_factor) if isinstance(scale_factor, (list, tuple)) \
            else (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(f"interpolate: Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of {list(in_size)} and "
                             f"scale_factor of shape {list(sf)}.")
        out = tuple(int(math.floor(n * f)) for n, f in zip(in_size, sf))
        scales = None if recompute_scale_factor else sf
    if any(o <= 0 for o in out) or any(n <= 0 for n in in_size):
        raise RuntimeError(f"interpolate: Input and output sizes should be greater than 0, but got input "
                           f"{tuple(in_size)} output {tuple(out)}")
    if mode == "area":
        return _adaptive_avg("interpolate", nd, input, out)
    scales = scales or (None,) * nd
    y = input
    if mode in ("nearest", "nearest-exact"):
        idx = [_nearest_index(n, o, sc, mode == "nearest-exact") for n, o, sc in zip(in_size, out, scales)]
        if all(len(i) == n and (i == np.arange(n)).all() for i, n in zip(idx, in_size)):
            return y
        grids = tuple(i.reshape((-1,) + (1,) * (nd - 1 - a)) for a, i in enumerate(idx))
        return y[(slice(None), slice(None), *grids)]
    for a in range(nd):
        m = _resample_matrix(mode, in_size[a], out[a], align_corners, scales[a])
        y = _along(y, 2 + a, Tensor(m.astype(input.dtype), device=input.device))
    return y


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Deprecated alias of ``interpolate`` (as torch)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``interpolate(mode='nearest')`` (torch's deprecated alias)."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """``interpolate(mode='bilinear', align_corners=True)`` (torch's deprecated alias)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C·r², H, W) -> (*, C, H·r, W·r), as torch.

    >>> pixel_shuffle(Tensor.arange(4.0).reshape(1, 4, 1, 1), 2).numpy()[0, 0].tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
                           f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H·r, W·r) -> (*, C·r², H, W), the inverse of pixel_shuffle.

    >>> pixel_unshuffle(Tensor.arange(4.0).reshape(1, 1, 2, 2), 2).numpy().ravel().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        which, v = ("height", h) if h % r else ("width", w)
        raise RuntimeError(f"pixel_unshuffle expects {which} to be divisible by downscale_factor, but "
                           f"input.size({-2 if which == 'height' else -1})={v} is not divisible by {r}")
    n = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)
