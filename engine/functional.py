"""`engine.functional` (import as F): the functional API, thin wrappers over ops.

>>> import engine.functional as F
>>> from engine import Tensor
>>> F.softmax(Tensor([[1.0, 1.0]])).numpy().tolist()
[[0.5, 0.5]]
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence

import numpy as np

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


class CausalBias:
    """A causal mask to pass as ``attn_mask``, as torch.nn.attention.bias.CausalBias.

    Made by :func:`causal_upper_left` (torch's ``is_causal``: query i sees keys 0..i) or
    :func:`causal_lower_right` (queries are the last L of S positions, as a KV-cache step
    needs). ``window`` (an engine extension) keeps only the ``window`` most recent keys.
    The lower-right mask runs as the fused causal kernels where they apply.

    >>> causal_lower_right(2, 3).keep().tolist()
    [[True, True, False], [True, True, True]]
    """

    def __init__(self, variant: str, seq_len_q: int, seq_len_kv: int, window: int | None = None):
        if variant not in ("upper_left", "lower_right"):
            raise ValueError(f"CausalBias variant must be 'upper_left' or 'lower_right', got {variant!r}")
        if window is not None and window < 1:
            raise ValueError(f"attention window must be >= 1, got {window}")
        self.variant, self.seq_len_q, self.seq_len_kv, self.window = variant, seq_len_q, seq_len_kv, window

    def keep(self, device: str = "cpu"):
        """(L, S) bool array, True where a query may attend to a key."""
        L, S = self.seq_len_q, self.seq_len_kv
        if self.variant == "lower_right":
            return _causal_keep(L, S, self.window, device)
        # upper-left is the lower-right mask of L queries over L + (S - L) keys, shifted: query i at i
        xp = get_xp(device)
        pos, key = xp.arange(L)[:, None], xp.arange(S)[None, :]
        keep = key <= pos
        if self.window is not None:
            keep &= key > pos - self.window
        return keep

    def __repr__(self) -> str:
        return f"CausalBias({self.variant!r}, {self.seq_len_q}, {self.seq_len_kv}, window={self.window})"


def causal_upper_left(seq_len_q: int, seq_len_kv: int, window: int | None = None) -> CausalBias:
    """torch's ``is_causal`` mask as an ``attn_mask``: query i attends keys 0..i."""
    return CausalBias("upper_left", seq_len_q, seq_len_kv, window)


def causal_lower_right(seq_len_q: int, seq_len_kv: int, window: int | None = None) -> CausalBias:
    """Causal mask aligned to the end of the keys: query i sits at position S - L + i."""
    return CausalBias("lower_right", seq_len_q, seq_len_kv, window)


def _repeat_heads(x: Tensor, r: int) -> Tensor:
    """(…, H, S, E) -> (…, H·r, S, E), each head repeated r times in place (repeat_interleave on -3)."""
    if r == 1:
        return x
    *lead, h, s, e = x.shape
    return x.unsqueeze(-3).expand(*lead, h, r, s, e).reshape(*lead, h * r, s, e)


def _attention_composed(q: Tensor, k: Tensor, v: Tensor, bias, dropout_p: float, scale: float) -> Tensor:
    """softmax(q kᵀ · scale + bias) v from primitives, for a float (additive) mask. A row whose every
    score is -inf gives 0 (torch's safe softmax), not nan."""
    scores = (q @ k.swapaxes(-1, -2)) * scale + bias  # (…, L, S)
    xp = get_xp(q.device)
    dead = xp.isneginf(scores.data).all(axis=-1)[..., None] if scores.shape[-1] else None  # (…, L, 1)
    if dead is not None and dead.any():
        scores = scores.masked_fill(dead, 0.0)
    p = softmax(scores, -1)
    if dead is not None and dead.any():
        p = p * (~dead).astype(p.dtype)
    return dropout(p, dropout_p) @ v


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    window: int | None = None,
) -> Tensor:
    """softmax(query keyᵀ · scale + mask) value, as torch.nn.functional.scaled_dot_product_attention.

    query (…, Hq, L, E), key (…, H, S, E), value (…, H, S, Ev) -> (…, Hq, L, Ev); leading axes
    broadcast. ``attn_mask``: bool (True = attend), float (added to the scores), or a
    :class:`CausalBias`; broadcastable to (…, L, S). ``is_causal``: torch's top-left aligned
    mask (query i sees keys 0..i). ``scale`` defaults to 1/sqrt(E). ``enable_gqa`` repeats each
    key/value head Hq/H times. A query that may attend to no key gives 0, as torch. ``window``
    (keyword-only engine extension, with ``is_causal``) keeps only the ``window`` most recent keys.

    >>> q = Tensor.ones(1, 2, 3)
    >>> scaled_dot_product_attention(q, q, Tensor([[[1.0], [3.0]]]), is_causal=True).tolist()
    [[[1.0], [2.0]]]
    """
    q, k, v = query, key, value
    for name, t in (("query", q), ("key", k), ("value", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} needs at least 2 dims (L, E), got {t.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: incompatible shapes query {q.shape}, key {k.shape}, "
                           f"value {v.shape} (need query E == key E and key S == value S)")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    if window is not None and not is_causal:
        raise ValueError("scaled_dot_product_attention: window= bands the causal mask; pass is_causal=True "
                         "(or attn_mask=causal_lower_right(L, S, window))")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = q.shape[-2], k.shape[-2]
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        hq, hk = q.shape[-3], k.shape[-3]
        if hk == 0 or hq % hk or v.shape[-3] != hk:
            raise RuntimeError(f"scaled_dot_product_attention: enable_gqa needs query heads ({hq}) divisible by "
                               f"key/value heads (key {k.shape}, value {v.shape})")
        k, v = _repeat_heads(k, hq // hk), _repeat_heads(v, hq // hk)
    try:
        lead = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    except ValueError:
        raise RuntimeError(f"scaled_dot_product_attention: batch dims of query {q.shape}, key {k.shape}, "
                           f"value {v.shape} do not broadcast (enable_gqa=True repeats key/value heads)") from None
    q, k, v = (t if t.shape[:-2] == lead else t.expand(*lead, *t.shape[-2:]) for t in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    if isinstance(attn_mask, Tensor) and attn_mask.dtype.kind == "b":
        attn_mask = attn_mask.data
    if attn_mask is not None and not isinstance(attn_mask, CausalBias):
        if getattr(attn_mask, "dtype", None) is None or attn_mask.dtype.kind not in "bf":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = attend), float or "
                            f"a CausalBias, got {getattr(attn_mask, 'dtype', type(attn_mask).__name__)}")
        try:
            ok = np.broadcast_shapes(attn_mask.shape, lead + (L, S)) == lead + (L, S)
        except ValueError:
            ok = False
        if not ok:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask shape {attn_mask.shape} does not "
                               f"broadcast to {lead + (L, S)}")
        if attn_mask.dtype.kind == "f":
            return _attention_composed(q, k, v, attn_mask, dropout_p, scale)
    fast = False  # keep is exactly attention_mask(L, S, window): the fused causal kernels apply
    if is_causal:
        attn_mask = causal_upper_left(L, S, window)
    if isinstance(attn_mask, CausalBias):
        if (attn_mask.seq_len_q, attn_mask.seq_len_kv) != (L, S):
            raise RuntimeError(f"scaled_dot_product_attention: {attn_mask!r} does not fit L={L}, S={S}")
        fast = attn_mask.variant == "lower_right" or L == S
        window = attn_mask.window
        keep = _causal_keep(L, S, window, q.device) if fast else attn_mask.keep(q.device)
    else:
        keep = attn_mask
    dead = None
    if keep is not None and not (fast and L <= S) and S:  # a row that sees no key gives 0, as torch
        full = get_xp(q.device).broadcast_to(keep, lead + (L, S)) if keep.ndim < len(lead) + 2 else keep
        dead = ~full.any(axis=-1)[..., None]  # (…, L, 1)
        if dead.any():
            keep = keep | dead
        else:
            dead = None
    y = Fu.ScaledDotProductAttention.apply(q, k, v, keep=keep, dropout_p=dropout_p, scale=scale, causal=fast,
                                           window=window if fast else None)
    return y if dead is None else y * (~dead).astype(y.dtype)


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
# torch.nn.functional's losses, each composed from engine ops (gradients come from the engine);
# the plain class-index cross-entropy runs as the fused CrossEntropy op.

_REDUCTIONS = ("mean", "sum", "none")


def _reduction_arg(size_average, reduce, reduction: str, extra: tuple = ()) -> str:
    """torch's legacy ``size_average``/``reduce`` mapped to ``reduction``; an unknown one raises."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                      "instead.", UserWarning, stacklevel=3)
    if reduction not in _REDUCTIONS + extra:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() * float("nan") if loss.numel() == 0 else loss.mean()


def _need_tensor(x, fn: str, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(x).__name__}")
    return x


def _float_tensor(x, ref: Tensor, fn: str, name: str) -> Tensor:
    """A float target/weight as a Tensor of ``ref``'s dtype (raw arrays and numbers become constants)."""
    if isinstance(x, Tensor):
        if x.dtype != ref.dtype and x.dtype.kind == "f" and ref.dtype.kind == "f":
            raise RuntimeError(f"{fn}: {name} dtype {x.dtype} does not match input dtype {ref.dtype}")
        return x if x.dtype == ref.dtype else x.astype(ref.dtype)
    return Tensor(get_xp(ref.device).asarray(x, dtype=ref.dtype), device=ref.device)


def _same_shape(input: Tensor, target: Tensor, fn: str, warn: bool = True) -> None:
    """torch warns (and broadcasts) when target's shape differs from input's."""
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise RuntimeError(f"{fn}: target shape {target.shape} does not broadcast with input shape "
                               f"{input.shape}") from None
        if warn:
            warnings.warn(f"{fn}: Using a target size ({target.shape}) that is different to the input size "
                          f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                          "Please ensure they have the same size.", UserWarning, stacklevel=3)


def _class_weight(weight, n_class: int, input: Tensor, fn: str):
    """(C,) class weights as a raw array of input's dtype, or None."""
    if weight is None:
        return None
    w = _array(weight)
    if w.shape != (n_class,):
        raise RuntimeError(f"{fn}: weight tensor should be defined either for all {n_class} classes or no classes "
                           f"but got weight tensor of shape: {list(w.shape)}")
    return get_xp(input.device).asarray(w, dtype=input.dtype)


def _class_targets(input: Tensor, target, fn: str):
    """Check int class-index ``target`` against input (N, C, d1, …) / (C,): returns (target array, C)."""
    t = _array(target)
    if not hasattr(t, "dtype") or t.dtype.kind not in "iu":
        got = getattr(t, "dtype", type(t).__name__)
        raise RuntimeError(f"{fn}: expected target dtype to be an integer type (Long) for class indices, got {got}")
    if input.ndim == 0:
        raise RuntimeError(f"{fn}: input must have a class dimension, got a 0-d tensor")
    want = () if input.ndim == 1 else (input.shape[0], *input.shape[2:])
    if input.ndim == 1 and t.shape != ():
        if t.shape != (1,):
            raise ValueError(f"{fn}: For 1D input, 1D target must have size 1, but got target size: {t.shape}")
        t = t.reshape(())
    if t.shape != want:
        if input.ndim >= 2 and (t.ndim == 0 or t.shape[0] != input.shape[0]):
            got = t.shape[0] if t.ndim else 1
            raise ValueError(f"{fn}: Expected input batch_size ({input.shape[0]}) to match target batch_size "
                             f"({got}); input {input.shape}, target {t.shape}")
        raise RuntimeError(f"{fn}: Expected target size {want}, got {t.shape} (input {input.shape}, classes on "
                           "dim 1)")
    return t, input.shape[0 if input.ndim == 1 else 1]


def _classes_last(x: Tensor, n_class: int) -> Tensor:
    """(C,) / (N, C) / (N, C, d1, …) -> (M, C) rows, classes last (a copy only for N-d)."""
    if x.ndim == 1:
        return x.reshape(1, n_class)
    if x.ndim > 2:
        x = x.permute(0, *range(2, x.ndim), 1)
    return x.reshape(-1, n_class)


def _check_bounds(t, valid, n_class: int, fn: str) -> None:
    if t.size:
        seen = t[valid]
        if seen.size:
            lo, hi = int(seen.min()), int(seen.max())
            if lo < 0 or hi >= n_class:
                raise IndexError(f"{fn}: Target {lo if lo < 0 else hi} is out of bounds [0, {n_class}).")


def _nll_rows(logp: Tensor, t, w, ignore_index: int, label_smoothing: float, reduction: str, shape, fn: str):
    """Weighted, smoothed NLL of (M, C) log-probabilities at int targets (M,), reduced as torch."""
    xp = get_xp(logp.device)
    n_class = logp.shape[1]
    valid = t != ignore_index
    _check_bounds(t, valid, n_class, fn)
    safe = xp.where(valid, t, 0)
    wv = valid.astype(logp.dtype) if w is None else w[safe] * valid  # (M,) weight of each row's target
    loss = -(logp[xp.arange(t.shape[0]), safe] * wv)  # (M,)
    if label_smoothing > 0:  # torch: (1 - ε)·nll + ε/C · Σ_c -w_c log p_c, ignored rows 0
        smooth = -(logp.sum(1) if w is None else (logp * w).sum(1)) * valid.astype(logp.dtype)
        loss = loss * (1 - label_smoothing) + smooth * (label_smoothing / n_class)
    if reduction == "none":
        return loss.reshape(shape)
    if reduction == "sum":
        return loss.sum()
    total = float(wv.sum())  # mean: divided by the summed weights of the counted targets
    return loss.sum() * float("nan") if total == 0 else loss.sum() / total


def cross_entropy(
    input: Tensor,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between ``input`` logits and ``target``, as torch.nn.functional.cross_entropy.

    input (N, C), (N, C, d1, …) or unbatched (C,): classes on dim 1 (dim 0 unbatched). target:
    int class indices (N,) / (N, d1, …) / () (``ignore_index`` ones add nothing), or class
    probabilities of input's shape. ``weight`` (C,) rescales each class; the weighted mean
    divides by the summed weights of the counted targets. ``label_smoothing`` mixes the target
    with the uniform distribution, as torch.

    >>> import numpy as np
    >>> round(cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)  # log(2)
    0.6931
    """
    fn = "cross_entropy"
    _need_tensor(input, fn, "input")
    reduction = _reduction_arg(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 0:
        raise RuntimeError(f"{fn}: input must have a class dimension, got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    n_class = input.shape[class_dim]
    w = _class_weight(weight, n_class, input, fn)
    kind = getattr(_array(target), "dtype", np.dtype("O")).kind
    if kind == "f":  # class probabilities
        if target.shape != input.shape:
            raise RuntimeError(f"{fn}: probability target shape {target.shape} must equal input shape {input.shape}")
        if ignore_index != -100:
            raise RuntimeError(f"{fn}: ignore_index is not supported for floating point target")
        p = _float_tensor(target, input, fn, "target")
        if label_smoothing > 0:
            p = p * (1 - label_smoothing) + label_smoothing / n_class
        terms = log_softmax(input, class_dim) * p
        if w is not None:
            terms = terms * w.reshape((n_class,) + (1,) * (input.ndim - 1 - class_dim))
        loss = -terms.sum(class_dim)
        if reduction == "mean":  # over samples, whatever the weights
            n = input.numel() // n_class if n_class else 0
            return loss.sum() * float("nan") if n == 0 else loss.sum() / n
        return loss.sum() if reduction == "sum" else loss
    t, _ = _class_targets(input, target, fn)
    rows = _classes_last(input, n_class)  # (M, C)
    flat = t.reshape(-1)
    if w is None and label_smoothing == 0:  # the fused op: one pass, no (M, C) log-probabilities kept
        try:
            loss = Fu.CrossEntropy.apply(rows, targets=flat, ignore_index=ignore_index, reduction=reduction)
        except ValueError as e:
            if "out of range" in str(e):
                raise IndexError(f"{fn}: {e} (input {input.shape}, target {t.shape})") from e
            raise
        return loss.reshape(t.shape) if reduction == "none" and loss.shape != t.shape else loss
    return _nll_rows(log_softmax(rows, -1), flat, w, ignore_index, label_smoothing, reduction, t.shape, fn)


def nll_loss(
    input: Tensor,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, …) / (C,) at int ``target``.

    >>> import numpy as np
    >>> nll_loss(Tensor([[-1.0, -2.0]]), np.array([1])).item()
    2.0
    """
    fn = "nll_loss"
    _need_tensor(input, fn, "input")
    reduction = _reduction_arg(size_average, reduce, reduction)
    t, n_class = _class_targets(input, target, fn)
    w = _class_weight(weight, n_class, input, fn)
    return _nll_rows(_classes_last(input, n_class), t.reshape(-1), w, ignore_index, 0.0, reduction, t.shape, fn)


def _pointwise(fn: str, input, target, reduction: str, warn: bool = True) -> tuple[Tensor, Tensor]:
    _need_tensor(input, fn, "input")
    target = _float_tensor(target, input, fn, "target")
    _same_shape(input, target, fn, warn)
    return input, target


def mse_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
             weight=None) -> Tensor:
    """Mean squared error (input - target)², reduced.

    >>> mse_loss(Tensor([1.0, 2.0]), Tensor([0.0, 0.0])).item()
    2.5
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("mse_loss", input, target, reduction)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * _float_tensor(weight, input, "mse_loss", "weight")
    return _reduce(loss, reduction)


def l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Mean absolute error |input - target|; the gradient at 0 is 0, as torch.

    >>> l1_loss(Tensor([1.0, -3.0]), Tensor([0.0, 0.0])).item()
    2.0
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("l1_loss", input, target, reduction)
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * _float_tensor(weight, input, "l1_loss", "weight")
    return _reduce(loss, reduction)


def _huber(d: Tensor, delta: float) -> Tensor:
    """0.5 d² where |d| < delta, else delta (|d| - 0.5 delta): continuous value and slope at delta."""
    a = d.abs()
    small = a.data < delta
    quad = d * d * 0.5
    lin = (a - 0.5 * delta) * delta
    return where(small, quad, lin)


def smooth_l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5 d²/beta where |d| < beta, else |d| - 0.5 beta; plain L1 when beta is 0.

    >>> smooth_l1_loss(Tensor([0.5, 3.0]), Tensor([0.0, 0.0])).item()
    1.3125
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    input, target = _pointwise("smooth_l1_loss", input, target, reduction)
    d = input - target
    loss = d.abs() if beta == 0 else _huber(d, beta) * (1 / beta)
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """0.5 d² where |d| < delta, else delta (|d| - 0.5 delta).

    >>> huber_loss(Tensor([0.5, 3.0]), Tensor([0.0, 0.0]), delta=2.0).item()
    2.0625
    """
    reduction = _reduction_arg(None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    input, target = _pointwise("huber_loss", input, target, reduction)
    loss = _huber(input - target, delta)
    if weight is not None:
        loss = loss * _float_tensor(weight, input, "huber_loss", "weight")
    return _reduce(loss, reduction)


def _clamped_log(x: Tensor) -> Tensor:
    """log(x) clamped below at -100, as torch's binary_cross_entropy (so log 0 is finite)."""
    with np.errstate(divide="ignore"):  # log 0 = -inf, then clamped: no warning, as torch
        return x.log().clip(min=-100.0)


def binary_cross_entropy(input: Tensor, target, weight=None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """-w (t log x + (1 - t) log(1 - x)) for probabilities ``input`` in [0, 1]; logs clamped at -100.

    >>> round(binary_cross_entropy(Tensor([0.5]), Tensor([1.0])).item(), 4)
    0.6931
    """
    fn = "binary_cross_entropy"
    reduction = _reduction_arg(size_average, reduce, reduction)
    _need_tensor(input, fn, "input")
    target = _float_tensor(target, input, fn, "target")
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    x = input.data
    if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
        raise RuntimeError(f"{fn}: all elements of input should be between 0 and 1")
    loss = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    if weight is not None:
        loss = loss * _float_tensor(weight, input, fn, "weight")
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """binary_cross_entropy(sigmoid(input), target) in the stable form
    (1 - t) x + (1 + (pw - 1) t) · softplus(-x), as torch.

    >>> round(binary_cross_entropy_with_logits(Tensor([0.0]), Tensor([1.0])).item(), 4)
    0.6931
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction_arg(size_average, reduce, reduction)
    _need_tensor(input, fn, "input")
    target = _float_tensor(target, input, fn, "target")
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    # softplus(-x) = log(1 + e^-x) = max(-x, 0) + log(1 + e^-|x|)
    sp = (-input).relu() + ((-input.abs()).exp() + 1).log()
    if pos_weight is not None:
        pw = _float_tensor(pos_weight, input, fn, "pos_weight")
        loss = (1 - target) * input + (1 + (pw - 1) * target) * sp
    else:
        loss = (1 - target) * input + sp
    if weight is not None:
        loss = loss * _float_tensor(weight, input, fn, "weight")
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL(target ‖ exp(input)) pointwise: target (log target - input); 0 where target is 0.

    ``reduction='batchmean'`` divides the sum by input.shape[0] (the true KL divergence);
    'mean' averages over every element, as torch.

    >>> kl_div(Tensor([0.0, 0.0]), Tensor([1.0, 0.0]), reduction="sum").item()
    0.0
    """
    fn = "kl_div"
    reduction = _reduction_arg(size_average, reduce, reduction, extra=("batchmean",))
    input, target = _pointwise(fn, input, target, reduction, warn=False)
    if log_target:
        loss = target.exp() * (target - input)
    else:  # torch's xlogy: 0 log 0 = 0
        t = target.data
        pos = t > 0
        safe_log = where(pos, target, 1.0).log()
        loss = where(pos, target * safe_log, 0.0) - target * input
    if reduction == "batchmean":
        if input.ndim == 0:
            return loss.sum()
        return loss.sum() / input.shape[0] if input.shape[0] else loss.sum() * float("nan")
    return _reduce(loss, reduction)

# ---- convolution, pooling and resampling -----------------------------------------------------------


def _softplus(x: Tensor) -> Tensor:
    """log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|)."""
    return x.relu() + ((-x.abs()).exp() + 1).log()


def poisson_nll_loss(input: Tensor, target, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    """Poisson NLL: exp(input) - target·input (``log_input``), else input - target·log(input + eps);
    ``full`` adds Stirling's term where target > 1.

    >>> poisson_nll_loss(Tensor([0.0]), Tensor([1.0])).item()
    1.0
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("poisson_nll_loss", input, target, reduction, warn=False)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        t = target.data
        big = t > 1
        safe = where(big, target, 1.0)
        stirling = safe * safe.log() - safe + (safe * (2 * math.pi)).log() * 0.5
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """Gaussian NLL: 0.5 (log var + (input - target)² / var) (+ 0.5 log 2π if ``full``). ``var`` is
    clamped below at ``eps`` for the value only (its gradient passes unclamped, as torch).

    >>> gaussian_nll_loss(Tensor([1.0]), Tensor([1.0]), Tensor([1.0])).item()
    0.0
    """
    fn = "gaussian_nll_loss"
    reduction = _reduction_arg(None, None, reduction)
    _need_tensor(input, fn, "input")
    target = _float_tensor(target, input, fn, "target")
    if not isinstance(var, Tensor):
        var = Tensor(get_xp(input.device).full(input.shape, var, dtype=input.dtype), device=input.device)
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1:] == (1,)):
            raise ValueError(f"{fn}: var is of incorrect size: var {var.shape}, input {input.shape}")
    v = var.data
    if v.size and float(v.min()) < 0:
        raise ValueError(f"{fn}: var has negative entry/entries")
    var = var + (get_xp(var.device).maximum(v, var.dtype.type(eps)) - v)  # clamped value, identity gradient
    d = input - target
    loss = (var.log() + d * d / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target · input)) for targets ±1.

    >>> round(soft_margin_loss(Tensor([0.0]), Tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("soft_margin_loss", input, target, reduction, warn=False)
    return _reduce(_softplus(-(target * input)), reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target · (input1 - input2) + margin).

    >>> margin_ranking_loss(Tensor([1.0]), Tensor([2.0]), Tensor([1.0])).item()
    1.0
    """
    fn = "margin_ranking_loss"
    reduction = _reduction_arg(size_average, reduce, reduction)
    _need_tensor(input1, fn, "input1")
    _need_tensor(input2, fn, "input2")
    target = _float_tensor(target, input1, fn, "target")
    if not (input1.ndim == input2.ndim == target.ndim):
        raise RuntimeError(f"{fn}: All input tensors should have same dimension but got sizes: input1: "
                           f"{input1.shape}, input2: {input2.shape}, target: {target.shape}")
    return _reduce((-(target * (input1 - input2)) + margin).relu(), reduction)


def hinge_embedding_loss(input: Tensor, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target is 1, max(0, margin - input) where target is -1.

    >>> hinge_embedding_loss(Tensor([0.3, 0.3]), Tensor([1.0, -1.0]), reduction="none").tolist()
    [0.30000001192092896, 0.699999988079071]
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("hinge_embedding_loss", input, target, reduction, warn=False)
    t = target.data
    loss = where(t != 1, (-input + margin).relu(), 0.0) + where(t != -1, input, 0.0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(input1, input2) where target is 1, max(0, cos - margin) where target is -1;
    rows on the last axis of (N, D) or (D,) inputs.

    >>> cosine_embedding_loss(Tensor([[1.0, 0.0]]), Tensor([[0.0, 1.0]]), Tensor([1.0])).item()
    1.0
    """
    fn = "cosine_embedding_loss"
    reduction = _reduction_arg(size_average, reduce, reduction)
    _need_tensor(input1, fn, "input1")
    _need_tensor(input2, fn, "input2")
    if input1.shape != input2.shape or input1.ndim not in (1, 2):
        raise RuntimeError(f"{fn}: input1 {input1.shape} and input2 {input2.shape} must both be (N, D) or (D,)")
    target = _float_tensor(target, input1, fn, "target")
    if target.shape != input1.shape[:-1]:
        raise RuntimeError(f"{fn}: target shape {target.shape} must be {input1.shape[:-1]} for inputs {input1.shape}")
    eps = 1e-12
    dot = (input1 * input2).sum(-1)
    cos = dot / (((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps)).sqrt()
    t = target.data
    loss = where(t == 1, 1 - cos, 0.0) + where(t == -1, (cos - margin).relu(), 0.0)
    return _reduce(loss, reduction)


def _pairwise_distance(a: Tensor, b: Tensor, p: float, eps: float) -> Tensor:
    """‖a - b + eps‖_p over the last axis, as torch.nn.functional.pairwise_distance."""
    d = a - b + eps
    if p == 2:
        return (d * d).sum(-1).sqrt()
    if p == 1:
        return d.abs().sum(-1)
    return (d.abs() ** p).sum(-1) ** (1 / p)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) with the p-norm distance; ``swap``
    uses min(d(a, n), d(p, n)).

    >>> triplet_margin_loss(Tensor([[0.0]]), Tensor([[0.0]]), Tensor([[3.0]])).item()
    0.0
    """
    fn = "triplet_margin_loss"
    reduction = _reduction_arg(size_average, reduce, reduction)
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _need_tensor(t, fn, name)
    if not (anchor.ndim == positive.ndim == negative.ndim) or anchor.ndim not in (1, 2):
        raise RuntimeError(f"{fn}: anchor {anchor.shape}, positive {positive.shape} and negative "
                           f"{negative.shape} must all be (N, D) or (D,)")
    if margin <= 0:
        raise ValueError(f"{fn}: expected margin to be greater than 0, got {margin} instead")
    d_ap = _pairwise_distance(anchor, positive, p, eps)
    d_an = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = d_an.minimum(_pairwise_distance(positive, negative, p, eps))
    return _reduce((d_ap - d_an + margin).relu(), reduction)


def multi_margin_loss(input: Tensor, target, p: int = 1, margin: float = 1.0, weight=None, size_average=None,
                      reduce=None, reduction: str = "mean") -> Tensor:
    """Σ_{j ≠ y} max(0, margin - input[y] + input[j])^p / C per row of input (N, C) / (C,), int target.

    >>> import numpy as np
    >>> multi_margin_loss(Tensor([[0.0, 1.0]]), np.array([1])).item()
    0.0
    """
    fn = "multi_margin_loss"
    reduction = _reduction_arg(size_average, reduce, reduction)
    _need_tensor(input, fn, "input")
    if p not in (1, 2):
        raise ValueError(f"{fn}: only p == 1 and p == 2 supported, got {p}")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{fn}: input must be (N, C) or (C,), got {input.shape}")
    t = _array(target)
    if not hasattr(t, "dtype") or t.dtype.kind not in "iu":
        raise RuntimeError(f"{fn}: expected target dtype to be an integer type, got {getattr(t, 'dtype', type(t))}")
    rows = input.reshape(-1, input.shape[-1]) if input.ndim == 1 else input  # (N, C)
    n, c = rows.shape
    t = t.reshape(-1)
    if t.shape != (n,):
        raise RuntimeError(f"{fn}: inconsistent target size: {t.shape} for input of size {input.shape}")
    _check_bounds(t, t == t, c, fn)
    xp = get_xp(input.device)
    picked = rows[xp.arange(n), t].reshape(n, 1)  # (N, 1)
    m = (rows - picked + margin).relu()
    if p == 2:
        m = m * m
    w = _class_weight(weight, c, input, fn)
    if w is not None:
        m = m * w[t][:, None]
    other = xp.arange(c)[None, :] != t[:, None]  # (N, C): j != y
    loss = (m * other.astype(input.dtype)).sum(1) / c  # (N,)
    if input.ndim == 1:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-(y log σ(x) + (1 - y) log σ(-x)), weighted, averaged over the classes (last axis).

    >>> round(multilabel_soft_margin_loss(Tensor([[0.0, 0.0]]), Tensor([[1.0, 0.0]])).item(), 4)
    0.6931
    """
    fn = "multilabel_soft_margin_loss"
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise(fn, input, target, reduction, warn=False)
    loss = target * _softplus(-input) + (1 - target) * _softplus(input)
    if weight is not None:
        loss = loss * _float_tensor(weight, input, fn, "weight")
    loss = loss.sum(-1) / input.shape[-1] if input.ndim else loss
    return _reduce(loss, reduction)
