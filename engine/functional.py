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
from engine.ops import elementwise as E
from engine.ops import fused as Fu
from engine.ops import matmul as M
from engine.ops import movement as Mv
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
    fp32 = getattr(x, "dtype", None) == "float32"  # a non-Tensor x gets Function.apply's TypeError
    return M.Linear.apply(x, weight, bias, compute_dtype=autocast_dtype() if fp32 else None)


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
