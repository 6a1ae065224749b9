"""`engine.functional` (import as F): the functional API, thin wrappers over ops.

>>> import engine.functional as F
>>> from engine import Tensor
>>> F.softmax(Tensor([[1.0, 1.0]]), dim=-1).numpy().tolist()
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
from engine.dtypes import promote_types
from engine.function import _not_a_tensor, is_grad_enabled
from engine.ops import elementwise as elementwise_ops
from engine.ops import fused as fused_ops
from engine.ops import matmul as matmul_ops
from engine.ops import movement as movement_ops
from engine.ops import spatial as spatial_ops
from engine.ops.movement import ShapeError, broadcast_error, wrap_dim, wrap_dims
from engine.ops.reduce import dim_arg
from engine.sparse import SparseEmbedding
from engine.tensor import Tensor


def _array(x):
    return x._data if isinstance(x, Tensor) else x


def _softmax_dim(x: Tensor, dim, axis, op: str) -> int:
    """One softmax axis from ``dim``/``axis`` (never both); None means the last axis."""
    from engine.ops.reduce import dim_arg

    d = dim_arg(op, dim, axis)
    d = -1 if d is None else d
    nd = max(x.ndim, 1)
    if not isinstance(d, int) or not -nd <= d < nd:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor of shape {x.shape}")
    return d


def _softmax_like(op, x: Tensor, dim, dtype, axis, name: str, stacklevel: int = 3) -> Tensor:
    if not isinstance(x, Tensor):
        _not_a_tensor(name, [x])
    if dim is None and axis is None:  # torch's legacy implicit dim, with its warning
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                      f"dim=X as an argument.", stacklevel=stacklevel)
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
    """Numerically stable softmax along ``dim`` (torch.nn.functional.softmax; ``axis`` is an alias).
    Neither given: torch's deprecated implicit dim (0 for 0-, 1- and 3-D input, else 1), with its
    warning. ``dtype`` casts the input first.

    >>> softmax(Tensor([1.0, 1.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    return _softmax_like(fused_ops.Softmax, input, dim, dtype, axis, "softmax", _stacklevel)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None, *,  # noqa: A002
                axis: int | None = None) -> Tensor:
    """Numerically stable log-softmax along ``dim`` (``axis`` is an alias; neither: torch's implicit dim)."""
    return _softmax_like(fused_ops.LogSoftmax, input, dim, dtype, axis, "log_softmax", _stacklevel)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None, *,  # noqa: A002
            axis: int | None = None) -> Tensor:
    """softmax(-input) along ``dim``.

    >>> softmin(Tensor([0.0, 0.0]), dim=0).tolist()
    [0.5, 0.5]
    """
    if not isinstance(input, Tensor):
        _not_a_tensor("softmin", [input])
    return _softmax_like(fused_ops.Softmax, -input, dim, dtype, axis, "softmin", _stacklevel)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """torch.nn.functional.layer_norm: (x - mean) / sqrt(var + eps) * weight + bias, the statistics
    over the last ``len(normalized_shape)`` dims, which must equal ``normalized_shape``.

    >>> layer_norm(Tensor([[1.0, 3.0]]), (2,), eps=0.0).tolist()
    [[-1.0, 1.0]]
    """
    if not isinstance(input, Tensor):
        _not_a_tensor("layer_norm", [input])
    if normalized_shape is None or isinstance(normalized_shape, Tensor):
        raise TypeError("layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5): normalized_shape "
                        f"must be an int or a tuple of ints, got {type(normalized_shape).__name__} (the "
                        "signature is torch's: pass input.shape[-1:] before weight)")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(int(n) for n in normalized_shape)
    k = len(shape)
    if k == 0 or input.shape[input.ndim - k:] != shape or input.ndim < k:
        raise RuntimeError(f"layer_norm: expected input with shape [*, {', '.join(map(str, shape))}], "
                           f"but got input of size {input.shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise RuntimeError(f"layer_norm: {name} shape {p.shape} must be normalized_shape {shape} "
                               f"(input shape {input.shape})")
    _same_dtype_as_weights("layer_norm", input, weight=weight, bias=bias)
    if k == 1:
        return fused_ops.LayerNorm.apply(input, weight, bias, eps=eps)
    # several normalized dims: one row of prod(shape) entries each, the fused op over the last axis
    lead = input.shape[: input.ndim - k]
    flat = input.reshape(*lead, math.prod(shape))
    y = fused_ops.LayerNorm.apply(flat, None if weight is None else weight.reshape(-1),
                                  None if bias is None else bias.reshape(-1), eps=eps)
    return y.reshape(input.shape)


def _embedding_renorm_(weight: Tensor, ids, max_norm: float, norm_type: float) -> None:
    """Rows ``ids`` of ``weight`` whose ``norm_type`` norm exceeds ``max_norm`` rescaled to it, in place
    and outside the graph, as torch's embedding_renorm_ (any p, inf and 0 too)."""
    xp = get_xp(weight.device)
    rows = xp.unique(xp.asarray(ids).reshape(-1))
    sub = weight._data[rows]
    norms = xp.linalg.norm(sub, ord=norm_type, axis=1)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(weight.dtype)
    weight._data[rows] = sub * scale[:, None]
    weight._vc[0] += 1


class _EmbeddingIdsError(TypeError, RuntimeError):
    """Ids that are not integers: torch raises RuntimeError; TypeError says what is wrong."""


class _PaddingIdxError(ValueError, AssertionError):
    """A padding_idx outside the table: torch asserts (AssertionError); ValueError says what is wrong."""


def embedding(input, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,  # noqa: A002
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """torch.nn.functional.embedding: rows of ``weight`` (V, D) for integer ids ``input`` (…) -> (…, D).

    ``padding_idx``: that row gets no gradient. ``max_norm``: the looked-up rows whose ``norm_type``
    norm exceeds it are rescaled in place to norm ``max_norm`` first (as torch). ``scale_grad_by_freq``:
    each row's gradient is divided by how often its id occurs in ``input``. Ids outside [0, V) raise.
    ``sparse``: ``weight.grad`` is a sparse COO tensor of the looked-up rows (engine/sparse.py), for
    optim.SparseAdam, SGD or Adagrad; with ``scale_grad_by_freq`` its backward raises, as torch's.

    >>> embedding(Tensor([1], dtype="int64"), Tensor([[0.0, 1.0], [2.0, 3.0]])).tolist()
    [[2.0, 3.0]]
    """
    ids = _array(input)
    if not hasattr(ids, "dtype") or ids.dtype.kind not in "iu":
        raise _EmbeddingIdsError(f"embedding: input (ids) must be an integer tensor, got "
                                 f"{getattr(ids, 'dtype', type(ids))}")
    if not isinstance(weight, Tensor):
        _not_a_tensor("embedding", [weight])
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    V = weight.shape[0]
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise _PaddingIdxError(f"embedding: padding_idx {padding_idx} must be within num_embeddings ({V})")
        padding_idx = padding_idx % V
    xp = get_xp(weight.device)
    if max_norm is not None:
        fused_ops.check_ids(ids, V, "token id")
        _embedding_renorm_(weight, ids, max_norm, norm_type)
    if sparse:  # weight.grad: a sparse COO tensor of the looked-up rows, as torch's (engine/sparse.py)
        return SparseEmbedding.apply(weight, ids=ids, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)
    out = fused_ops.Embedding.apply(weight, ids=ids)
    if scale_grad_by_freq:
        flat = xp.asarray(ids).reshape(-1)
        freq = xp.bincount(flat, minlength=V)[flat].reshape(ids.shape)[..., None].astype(weight.dtype)
        out = out.detach() + (out - out.detach()) * Tensor(1 / freq)  # value unchanged, gradient / count
    if padding_idx is not None and weight.requires_grad:
        out = where(Tensor(xp.asarray(ids != padding_idx)[..., None]), out, out.detach())
    return out


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    """Zero each entry with probability ``p`` and scale the rest by 1/(1-p); identity when not training.
    ``inplace`` writes the result into ``input`` (outside the graph only, else it is out of place).

    >>> dropout(Tensor([1.0, 2.0]), 0.5, training=False).tolist()
    [1.0, 2.0]
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    out = input * 0 if p == 1 else fused_ops.Dropout.apply(input, p=p)  # p = 1: all zero, as torch
    if inplace and not out.requires_grad:
        return input.copy_(out)
    return out


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
    dead = xp.isneginf(scores._data).all(axis=-1)[..., None] if scores.shape[-1] else None  # (…, L, 1)
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
    if dropout_p == 1:  # every weight dropped: zeros (and zero gradients), as torch
        return scaled_dot_product_attention(query, key, value, attn_mask, 0.0, is_causal, scale, enable_gqa,
                                            window=window) * 0
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
    if S == 0:  # no key to attend: zeros (…, L, Ev), as torch
        return (q @ k.swapaxes(-1, -2)) @ v
    if isinstance(attn_mask, Tensor) and attn_mask.dtype.kind == "b":
        attn_mask = attn_mask._data
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
    y = fused_ops.ScaledDotProductAttention.apply(q, k, v, keep=keep, dropout_p=dropout_p, scale=scale, causal=fast,
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
    return fused_ops.SelfAttention.apply(qkv, n_head=n_head, keep=keep, dropout_p=dropout_p, causal=True, window=window)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with weight (out, in), as torch.nn.functional.linear."""
    fp32 = getattr(x, "dtype", None) == "float32"  # a non-Tensor x gets Function.apply's TypeError
    if isinstance(x, Tensor):
        _same_dtype_as_weights("linear", x, weight=weight, bias=bias)
    return matmul_ops.Linear.apply(x, weight, bias, compute_dtype=autocast_dtype() if fp32 else None)


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
        return (condition if isinstance(condition, Tensor) else Tensor(cond)).nonzero(as_tuple=True)  # 0-d too
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise RuntimeError(f"where expected condition to be a boolean tensor, got {getattr(cond, 'dtype', cond)}")
    if isinstance(input, Tensor):
        a, b = input._operands(other)
    elif isinstance(other, Tensor):
        b, a = other._operands(input)
    else:  # two numbers: tensors of their promoted dtype (bool < int64 < default float < complex) on condition's device
        from engine.factories import default_dtype

        device = condition.device if isinstance(condition, Tensor) else "cpu"
        kinds = (bool, int, float, complex)
        ranks = [next((i for i, t in enumerate(kinds) if isinstance(v, t)), None) for v in (input, other)]
        if None in ranks:  # an array-like: its own dtype, the other coerced to it
            a = Tensor(input, device=device)
            b = a._coerce(other)
        else:
            dtype = ("bool", "int64", default_dtype(),
                     "complex64" if default_dtype() == "float32" else "complex128")[max(ranks)]
            a, b = Tensor(input, dtype=dtype, device=device), Tensor(other, dtype=dtype, device=device)
    try:
        return elementwise_ops.Where.apply(a, b, cond=cond)
    except ValueError:
        error = broadcast_error("where", cond.shape, a.shape, b.shape)
        if error is None:
            raise
        raise error from None


def _tensor_operands(fn: str, **operands) -> None:
    """torch's TypeError for a function whose operands must all be Tensors: ``torch.maximum(t, 2)``
    and ``torch.maximum(2, t)`` both refuse the number (positions counted from 1, as torch)."""
    for i, (name, v) in enumerate(operands.items(), 1):
        if not isinstance(v, Tensor):
            raise TypeError(f"{fn}(): argument '{name}' (position {i}) must be Tensor, not {type(v).__name__}")


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise max of two Tensors; a tie splits the gradient evenly, as torch.

    >>> maximum(Tensor([1.0, 5.0]), Tensor([3.0, 2.0])).tolist()
    [3.0, 5.0]
    """
    _tensor_operands("maximum", input=input, other=other)
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise min of two Tensors; a tie splits the gradient evenly, as torch.

    >>> minimum(Tensor([1.0, 5.0]), Tensor([3.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    _tensor_operands("minimum", input=input, other=other)
    return input.minimum(other)


def _same_kind(tensors: Sequence[Tensor], what: str) -> list[Tensor]:
    """The tensors on one device, cast to their promoted dtype (torch.cat and torch.stack promote:
    cat([int64, float32]) is float32)."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{what} needs at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        if t.device != first.device:
            raise RuntimeError(f"{what}: expected all tensors to be on the same device, got {first.device} "
                               f"and {t.device}")
    dtype = functools.reduce(promote_types, (t.dtype for t in tensors))
    return [t if t.dtype == dtype else t.astype(dtype) for t in tensors]


def concatenate(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing dim (torch's ``cat``; ``axis`` is NumPy's name for ``dim``).

    >>> concatenate([Tensor([1.0]), Tensor([2.0, 3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    for i, t in enumerate(tensors if isinstance(tensors, (list, tuple)) else ()):
        if t is None:  # torch's words and type (a number would have become a tensor below)
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got NoneType")
    tensors = _same_kind(tensors, "cat")
    if any(t.shape != (0,) for t in tensors):  # torch's legacy rule: 1-d empty tensors are skipped
        tensors = [t for t in tensors if t.shape != (0,)]
    ref = tensors[0].shape
    if not ref:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = wrap_dim(dim_arg("cat", dim, axis) or 0, len(ref), "cat")
    for i, t in enumerate(tensors):
        if t.ndim != len(ref):
            raise ShapeError(f"cat: Tensors must have same number of dimensions: got {len(ref)} and {t.ndim} "
                             f"(shapes {ref} and {t.shape})")
        for j, (a, b) in enumerate(zip(t.shape, ref)):
            if j != d and a != b:
                raise ShapeError(f"cat: Sizes of tensors must match except in dimension {d}. Expected size {b} "
                                 f"but got size {a} for tensor number {i} in the list (shapes {ref} and {t.shape})")
    return movement_ops.Concatenate.apply(*tensors, axis=d)


def stack(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join equal-shape tensors along a new dim ``dim``.

    >>> stack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])], dim=1).shape
    (2, 2)
    """
    tensors = _same_kind(tensors, "stack")
    d = wrap_dim(dim_arg("stack", dim, axis) or 0, tensors[0].ndim + 1, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ShapeError(f"stack expects each tensor to be equal size, but got {list(tensors[0].shape)} at "
                             f"entry 0 and {list(t.shape)} at entry {i}")
    return movement_ops.Stack.apply(*tensors, axis=d)


def numpy_pad(x: Tensor, pad_width, value: float = 0.0) -> Tensor:
    """NumPy-style constant padding (``engine.pad``): ``pad_width`` is ((before, after), ...) per
    axis, one pair for every axis, or one int. ``F.pad`` takes torch's flat form instead.

    >>> numpy_pad(Tensor([1.0]), 1).tolist()
    [0.0, 1.0, 0.0]
    """
    return x.pad(pad_width, value)


# ---- activations (torch.nn.functional names) -----------------------------------------------------

from engine.ops import activations as activations_ops  # noqa: E402

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _float_input(input, name: str, complex_ok: bool = False) -> Tensor:  # noqa: A002
    if not isinstance(input, Tensor):
        _not_a_tensor(name, [input])
    if input.dtype.kind == "c":  # the activation kernels are real-only: refuse rather than drop the imaginary part
        if complex_ok:  # ops composed from complex-capable ones
            return input
        raise NotImplementedError(f"{name}: complex tensors are not supported (got {input.dtype})")
    return input._float()


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(input, 0), 6); gradient 1 strictly inside (0, 6), as torch.

    >>> relu6(Tensor([-1.0, 3.0, 7.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0, inplace)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """clamp(input, min_val, max_val), with gradient 1 only strictly inside (torch's rule).

    An integer input keeps its dtype, with the bounds truncated toward zero (as torch):

    >>> hardtanh(Tensor([-2, 0, 3]).long(), -1.5, 2.5).tolist()
    [-1, 0, 2]
    """
    if min_val > max_val:
        raise ValueError("hardtanh: min_val cannot be greater than max_val")
    if isinstance(input, Tensor) and input._data.dtype.kind == "b":
        raise RuntimeError("hardtanh: Bool inputs not supported for hardtanh")
    if isinstance(input, Tensor) and input._data.dtype.kind == "u" and min(int(min_val), int(max_val)) < 0:
        raise RuntimeError(f"hardtanh: cannot do hardtanh on an unsigned type ({input.dtype}) with negative "
                           f"limits (min_val={min_val}, max_val={max_val})")
    return _maybe_inplace(input, activations_ops.Hardtanh.apply(input, min_val=min_val, max_val=max_val), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    """input where input > 0, else negative_slope * input.

    >>> leaky_relu(Tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    y = activations_ops.LeakyRelu.apply(_float_input(input, "leaky_relu"), negative_slope=negative_slope)
    return _maybe_inplace(input, y, inplace)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """input for input > 0, else alpha * (exp(input) - 1)."""
    return _maybe_inplace(input, activations_ops.Elu.apply(_float_input(input, "elu"), alpha=alpha), inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale * elu(input, alpha) with the self-normalizing constants."""
    out = activations_ops.Elu.apply(_float_input(input, "selu"), alpha=_SELU_ALPHA, scale=_SELU_SCALE)
    return _maybe_inplace(input, out, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, input) + min(0, alpha * (exp(input / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu alpha must not be 0")
    out = activations_ops.Elu.apply(_float_input(input, "celu"), alpha=alpha, input_scale=1 / alpha)
    return _maybe_inplace(input, out, inplace)


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * sigmoid(input) (swish). Complex input: forward only, as torch."""
    x = _float_input(input, "silu", complex_ok=True)
    if x.dtype.kind == "c" and x.requires_grad and is_grad_enabled():
        raise RuntimeError("silu does not support automatic differentiation for outputs with complex dtype.")
    return _maybe_inplace(input, activations_ops.Silu.apply(x), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * tanh(softplus(input))."""
    return _maybe_inplace(input, activations_ops.Mish.apply(_float_input(input, "mish")), inplace)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + exp(beta * input)) / beta; the identity where beta * input > threshold.

    >>> round(softplus(Tensor([0.0])).item(), 4)
    0.6931
    """
    return activations_ops.Softplus.apply(_float_input(input, "softplus"), beta=beta, threshold=threshold)


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """input / (1 + |input|)."""
    x = _float_input(input, "softsign", complex_ok=True)
    return x / (x.abs() + 1)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(input + 3) / 6; gradient 1/6 strictly inside (-3, 3)."""
    x = _float_input(input, "hardsigmoid")
    inside = (x > -3) & (x < 3)  # torch's gradient test: none at ±3 or at a nan
    outside = ((x.detach().clamp(-3.0, 3.0) + 3) / 6)  # 0, 1 or nan, constant
    # torch's backward multiplies by 1.0f / 6.0f, a float32 constant, in every dtype (float64 too);
    # the forward is exact: the value of (x + 3) / 6 plus (a - a) = 0, the slope that constant.
    a = x * float(np.float32(1 / 6))
    ramp = ((x + 3) / 6).detach() + (a - a.detach())
    return _maybe_inplace(input, where(inside, ramp, outside), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """input * relu6(input + 3) / 6."""
    return _maybe_inplace(input, activations_ops.Hardswish.apply(_float_input(input, "hardswish")), inplace)


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log(sigmoid(input)), stable for large |input|.

    >>> round(logsigmoid(Tensor([0.0])).item(), 4)
    -0.6931
    """
    return activations_ops.LogSigmoid.apply(_float_input(input, "logsigmoid"))


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """input - tanh(input)."""
    x = _float_input(input, "tanhshrink", complex_ok=True)
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
    _same_dtype_as_weights("prelu", input, weight=weight)
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape(-1, *([1] * (input.ndim - 2)))
    pos = input > 0
    negative_part = where(pos, 0.0, input)  # so weight's gradient is 0, not 0 * inf, where input = +inf
    return where(pos, input, w * negative_part)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,  # noqa: A002
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: slope (lower + upper) / 2 when not training; a slope drawn from
    U(lower, upper) per negative entry when training (from the engine's generator)."""
    x = _float_input(input, "rrelu")
    if lower > upper:  # torch checks it in eval mode too
        raise RuntimeError(f"rrelu: Lower bound should be less than or equal to the upper bound, got "
                           f"lower={lower} and upper={upper}")
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
    positive = s._data > 0
    one, zero = s.ones_like(), s.zeros_like()
    safe = elementwise_ops.Where.apply(s, one, cond=positive)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return elementwise_ops.Where.apply(root, zero, cond=positive)


def normalize(input: Tensor, p: float = 2.0, dim: int | tuple = 1, eps: float = 1e-12,  # noqa: A002
              out=None) -> Tensor:
    """input / max(||input||_p, eps) along ``dim`` (an int or a tuple of dims), as torch: any p
    (inf, -inf and 0 too), with the norm's gradient (0 where it is 0).

    >>> normalize(Tensor([[3.0, 4.0]], dtype="float64")).tolist()
    [[0.6, 0.8]]
    """
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    _need_tensor(input, "normalize")
    return input / input.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (broadcasting).

    >>> cosine_similarity(Tensor([[1.0, 0.0]]), Tensor([[1.0, 1.0]])).tolist()
    [0.7071067...]
    """
    a, b = _float_input(x1, "cosine_similarity"), _float_input(x2, "cosine_similarity")
    err = broadcast_error("cosine_similarity", a.shape, b.shape)
    if err:
        raise err
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


def _tensor_method(name: str, doc: str):
    """``engine.<name>(input, ...)``: torch's function form of the Tensor method ``name``."""

    def fn(input: Tensor, *args, **kwargs):  # noqa: A002 - torch's name
        if not isinstance(input, Tensor):
            if getattr(input, "is_sparse", False) is True and hasattr(input, name):  # engine/sparse.py
                return getattr(input, name)(*args, **kwargs)
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{doc} The same as ``input.{name}(...)``."
    return fn


cat = concat = concatenate
reshape = _tensor_method("reshape", "``input`` with a new shape (one -1 inferred).")
flatten = _tensor_method("flatten", "Merge dims ``start_dim..end_dim`` into one.")
unflatten = _tensor_method("unflatten", "Split dim ``dim`` into ``sizes``.")
squeeze = _tensor_method("squeeze", "Drop size-1 dims (all, or those among ``dim``).")
unsqueeze = _tensor_method("unsqueeze", "Insert a size-1 dim at ``dim``.")
permute = _tensor_method("permute", "Reorder the dims.")
transpose = _tensor_method("transpose", "Swap dims ``dim0`` and ``dim1``.")
swapaxes = swapdims = _tensor_method("swapaxes", "Swap two dims.")
movedim = moveaxis = _tensor_method("movedim", "Move dims ``source`` to ``destination``.")
t = _tensor_method("t", "Transpose of a tensor with at most 2 dims.")
broadcast_to = _tensor_method("broadcast_to", "``input`` broadcast to ``shape``.")
narrow = _tensor_method("narrow", "``length`` entries of dim ``dim`` from ``start``.")
split = _tensor_method("split", "Pieces of ``split_size_or_sections`` along ``dim``.")
chunk = _tensor_method("chunk", "``chunks`` pieces of ceil(n / chunks) entries along ``dim``.")
tensor_split = _tensor_method("tensor_split", "Near-equal pieces, or the pieces between indices, along ``dim``.")
unbind = _tensor_method("unbind", "The slices along ``dim``, that dim removed.")
flip = _tensor_method("flip", "Reverse the order along ``dims``.")
fliplr = _tensor_method("fliplr", "Reverse dim 1.")
flipud = _tensor_method("flipud", "Reverse dim 0.")
roll = _tensor_method("roll", "Shift cyclically along ``dims`` (none: the flattened tensor).")
tile = _tensor_method("tile", "Repeat the whole tensor ``dims`` times per dim.")
def repeat_interleave(input: Tensor, repeats=None, dim: int | None = None, *,  # noqa: A002
                      output_size: int | None = None) -> Tensor:
    """Repeat each entry ``repeats`` times along ``dim``. With a tensor alone,
    ``repeat_interleave(repeats)`` is ``arange(len(repeats)).repeat_interleave(repeats)``, as torch.

    >>> repeat_interleave(Tensor([2, 0, 1], dtype="int64")).tolist()
    [0, 0, 2]
    """
    if repeats is None:
        counts = input if isinstance(input, Tensor) else Tensor(input)
        if counts.ndim > 1:
            raise RuntimeError("repeat_interleave: repeats must be 0-dim or 1-dim tensor")
        counts = counts.reshape(-1)
        index = Tensor(get_xp(counts.device).arange(counts.shape[0], dtype=counts.dtype))
        return index.repeat_interleave(counts, output_size=output_size)
    return input.repeat_interleave(repeats, dim, output_size=output_size)
gather = _tensor_method("gather", "Entries of ``input`` at ``index`` along ``dim``.")
take_along_dim = _tensor_method("take_along_dim", "Entries at ``indices`` along ``dim`` (broadcasting).")
take = _tensor_method("take", "Entries of the flattened tensor at ``index``.")
index_select = _tensor_method("index_select", "Entries ``index`` of dim ``dim``.")
scatter = _tensor_method("scatter", "``input`` with ``src`` written at ``index`` along ``dim``.")
scatter_add = _tensor_method("scatter_add", "``input`` plus ``src`` added at ``index`` along ``dim``.")
scatter_reduce = _tensor_method("scatter_reduce", "``src`` reduced into ``input`` at ``index`` along ``dim``.")
index_add = _tensor_method("index_add", "``input`` with ``alpha * source`` added at entries ``index`` of ``dim``.")
index_fill = _tensor_method("index_fill", "Entries ``index`` of dim ``dim`` set to ``value``.")
index_copy = _tensor_method("index_copy", "Entries ``index`` of dim ``dim`` replaced by ``source``.")
masked_fill = _tensor_method("masked_fill", "``value`` where ``mask`` is True.")
masked_select = _tensor_method("masked_select", "The entries where ``mask`` is True, 1-D.")
masked_scatter = _tensor_method("masked_scatter", "Positions where ``mask`` is True filled from ``source``.")
nonzero = _tensor_method("nonzero", "Indices of the nonzero entries (int64).")
tril = _tensor_method("tril", "The lower triangle (on and below ``diagonal``) of the last two dims.")
triu = _tensor_method("triu", "The upper triangle (on and above ``diagonal``) of the last two dims.")
diag = _tensor_method("diag", "1-D: a matrix with that diagonal; 2-D: the diagonal.")
diagonal = _tensor_method("diagonal", "The diagonal of dims ``dim1``, ``dim2`` as the last dim.")
diag_embed = _tensor_method("diag_embed", "Last-dim vectors as diagonals of matrices.")
trace = _tensor_method("trace", "Sum of the main diagonal of a matrix.")
matmul = _tensor_method("matmul", "Matrix product with batching and 1-D rules.")
mm = _tensor_method("mm", "Matrix product of two 2-D tensors.")
bmm = _tensor_method("bmm", "Batched matrix product of two 3-D tensors.")
mv = _tensor_method("mv", "Matrix times vector.")
dot = _tensor_method("dot", "Inner product of two 1-D tensors.")
vdot = _tensor_method("vdot", "Inner product of two 1-D tensors, the first conjugated.")
inner = _tensor_method("inner", "Sum over the last dims of both.")
outer = ger = _tensor_method("outer", "Outer product of two 1-D tensors.")
addmm = _tensor_method("addmm", "``beta * input + alpha * (mat1 @ mat2)``.")
baddbmm = _tensor_method("baddbmm", "``beta * input + alpha * bmm(batch1, batch2)``.")
kron = _tensor_method("kron", "Kronecker product.")


def _non_empty(op: str, tensors: Sequence[Tensor]) -> None:
    if len(tensors) == 0:
        raise RuntimeError(f"{op} expects a non-empty TensorList")


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors).

    >>> hstack([Tensor([1.0]), Tensor([2.0])]).tolist()
    [1.0, 2.0]
    """
    _non_empty("hstack", tensors)
    tensors = atleast_1d(*tensors) if len(tensors) != 1 else [atleast_1d(tensors[0])]
    return concatenate(tensors, dim=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dim 0, 1-D tensors as rows.

    >>> vstack([Tensor([1.0, 2.0]), Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    _non_empty("vstack", tensors)
    return concatenate([atleast_2d(t) for t in tensors], dim=0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate along dim 2, after making every tensor at least 3-D."""
    _non_empty("dstack", tensors)
    return concatenate([atleast_3d(t) for t in tensors], dim=2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Stack 0-d and 1-D tensors as columns; 2-D tensors are joined along dim 1."""
    _non_empty("column_stack", tensors)
    return hstack([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors])


def _atleast(nd: int, shape_for):
    def fn(*tensors):
        out = [t if t.ndim >= nd else t.reshape(shape_for(t.shape)) for t in _unpack(tensors)]
        return out[0] if len(out) == 1 else tuple(out)

    return fn


def _unpack(tensors):
    return tuple(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors


atleast_1d = _atleast(1, lambda s: (1,))
atleast_2d = _atleast(2, lambda s: (1, *s) if s else (1, 1))
atleast_3d = _atleast(3, lambda s: (1, 1, 1) if not s else (1, s[0], 1) if len(s) == 1 else (*s, 1))
atleast_1d.__doc__ = "``input`` with at least 1 dim (0-d becomes (1,))."
atleast_2d.__doc__ = "``input`` with at least 2 dims ((n,) becomes (1, n))."
atleast_3d.__doc__ = "``input`` with at least 3 dims ((n,) becomes (1, n, 1), (m, n) becomes (m, n, 1))."


def broadcast_tensors(*tensors: Tensor) -> tuple:
    """Every tensor broadcast to their common shape."""
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.broadcast_to(*shape) for t in tensors)


def meshgrid(*tensors: Tensor, indexing: str = "ij") -> tuple:
    """Coordinate grids of 1-D (or 0-d) tensors; "ij": dim i follows tensor i, "xy": the first two swapped.

    >>> [g.tolist() for g in meshgrid(Tensor([1.0, 2.0]), Tensor([3.0]))]
    [[[1.0], [2.0]], [[3.0], [3.0]]]
    """
    tensors = _unpack(tensors)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but got shape {t.shape}")
    sizes = [t.numel() for t in tensors]
    swap = indexing == "xy" and len(tensors) >= 2
    if swap:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, t in enumerate(tensors):
        at = {0: 1, 1: 0}.get(i, i) if swap else i
        shape = [1] * len(tensors)
        shape[at] = -1
        out.append(t.reshape(shape).broadcast_to(*sizes))
    return tuple(out)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of entries of 1-D tensors, as rows (one tensor: itself).

    >>> cartesian_prod(Tensor([1.0, 2.0]), Tensor([3.0])).tolist()
    [[1.0, 3.0], [2.0, 3.0]]
    """
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], dim=1)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors of a tensor of class indices: shape (*, num_classes); -1 takes max + 1.

    >>> one_hot(Tensor([0, 2], dtype="int64")).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot(): argument 'input' must be a Tensor, not {type(tensor).__name__}")
    if tensor.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got {tensor.dtype}")
    ids = tensor._data
    if num_classes == -1:
        if ids.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(ids.max()) + 1
    if ids.size and int(ids.min()) < 0:
        raise RuntimeError("one_hot: Class values must be non-negative.")
    if ids.size and int(ids.max()) >= num_classes:
        raise RuntimeError("one_hot: Class values must be smaller than num_classes.")
    xp = get_xp(tensor.device)
    return Tensor((ids[..., None] == xp.arange(num_classes)).astype(np.int64))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """torch.nn.functional.pad: ``pad`` is flat, (left, right) for the last dim, then the one before,
    ... Negative widths crop. Modes "constant" (``value``, default 0), "reflect", "replicate",
    "circular"; every mode is differentiable. NumPy's nested ``pad_width`` is still accepted.

    >>> pad(Tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pad(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if isinstance(pad, (int, np.integer)) or any(isinstance(p, (tuple, list)) for p in pad):
        if isinstance(mode, (int, float)):  # the old pad(x, pad_width, value) call
            mode, value = "constant", mode
        if mode != "constant":
            raise ValueError("pad: a NumPy-style pad_width works with mode 'constant' only")
        return input.pad(pad, 0.0 if value is None else value)
    widths = [int(p) for p in pad]
    if len(widths) % 2 or len(widths) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but got "
                           f"padding length {len(widths)} and input of dimension {input.ndim}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value not in (None, 0):
            raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
        k = len(widths) // 2
        if input.ndim not in (k + 1, k + 2) or k > 3:
            raise NotImplementedError(f"Padding size {len(widths)} is not supported for {input.ndim}D input tensor "
                                      f"(non-constant modes pad the last 1-3 dims of a (N, C, ...) or (C, ...) input)")
        if mode != "circular" and input.dtype == np.bool_:
            kind = "reflection" if mode == "reflect" else "replication"
            raise NotImplementedError(f'"{kind}_pad{k}d" not implemented for \'Bool\'')
    per_dim = [(input.ndim - 1 - i, widths[2 * i], widths[2 * i + 1]) for i in range(len(widths) // 2)]
    _pad_sizes_check(input, mode, per_dim)
    x = input
    if mode == "replicate":  # torch clamps output positions into the uncropped input: (-4, 5) on 5 repeats x[4]
        for d, lo, hi in per_dim:
            if x.shape[d] == 0 and lo + hi > 0:
                raise RuntimeError(f"pad: replicate needs a non-empty dimension {d} to pad, got shape {x.shape}")
            if lo or hi:
                x = x.index_select(d, np.clip(np.arange(-lo, x.shape[d] + hi), 0, x.shape[d] - 1))
        return x
    crop = [slice(None)] * input.ndim
    for d, lo, hi in per_dim:  # negative widths crop first
        crop[d] = slice(max(-lo, 0), x.shape[d] - max(-hi, 0))
    if any(lo < 0 or hi < 0 for _, lo, hi in per_dim):
        x = x[tuple(crop)]
    grow = [(d, max(lo, 0), max(hi, 0)) for d, lo, hi in per_dim]
    if mode == "constant":
        pad_width = [(0, 0)] * input.ndim
        for d, lo, hi in grow:
            pad_width[d] = (lo, hi)
        return x.pad(pad_width, 0.0 if value is None else value) if any(lo or hi for _, lo, hi in grow) else x * 1
    for d, lo, hi in grow:
        if not (lo or hi):
            continue
        n = x.shape[d]
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                                   f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(x.shape)}")
            idx = np.where(pos < 0, -pos, np.where(pos >= n, 2 * (n - 1) - pos, pos))
        else:
            if lo > n or hi > n:
                raise RuntimeError(f"Padding value causes wrapping around more than once (padding ({lo}, {hi}) "
                                   f"at dimension {d} of size {n})")
            idx = pos % n
        x = x.index_select(d, idx)
    return x


def _pad_sizes_check(input, mode, per_dim) -> None:
    """torch's errors for negative widths that crop a dimension below zero (constant crops first,
    so a crop past the edge fails however much the other side adds); reflect and replicate also
    refuse an output whose padded dimensions are all empty."""
    sizes = [(d, input.shape[d], input.shape[d] + lo + hi) for d, lo, hi in per_dim]
    if mode == "constant":
        if any(input.shape[d] + min(lo, 0) + min(hi, 0) < 0 for d, lo, hi in per_dim):
            raise RuntimeError("narrow(): length must be non-negative.")
    elif mode == "circular":
        if any(o < 0 for _, _, o in sizes):
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
    elif all(o < 1 for _, _, o in sizes):
        names = "DHW"[3 - len(sizes):]
        rev = sizes[::-1]  # the first padded dim is the last axis
        raise RuntimeError(f"input ({' '.join(f'{c}: {n}' for c, (_, n, _) in zip(names, rev))}) is too small. "
                           f"Calculated output {' '.join(f'{c}: {o}' for c, (_, _, o) in zip(names, rev))}")
    elif any(o < 0 for _, _, o in sizes):
        raise RuntimeError(f"pad: negative output size {[o for _, _, o in sizes[::-1]]} for input "
                           f"{list(input.shape)}")


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Sum over ``dims``: the last ``dims`` dims of a with the first of b, or ([a dims], [b dims]).

    >>> tensordot(Tensor([[1.0, 2.0]]), Tensor([[3.0], [4.0]]), dims=([1], [0])).tolist()
    [[11.0]]
    """
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    da, db = wrap_dims(da, a.ndim, "tensordot"), wrap_dims(db, b.ndim, "tensordot")
    if len(da) != len(db):
        raise RuntimeError(f"both dimension lists should have same length, got {list(da)} and {list(db)}")
    for x, y in zip(da, db):  # a size-1 contracted dim broadcasts against the other's, as torch
        if a.shape[x] != b.shape[y] and 1 not in (a.shape[x], b.shape[y]):
            raise ShapeError(f"contracted dimensions need to match, but first has size {a.shape[x]} in dim {x} "
                             f"and second has size {b.shape[y]} in dim {y}")
        if a.shape[x] < b.shape[y]:
            a = a.expand(*(b.shape[y] if d == x else -1 for d in range(a.ndim)))
        elif b.shape[y] < a.shape[x]:
            b = b.expand(*(a.shape[x] if d == y else -1 for d in range(b.ndim)))
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    a2 = a.permute(*free_a, *da).reshape(-1, k)  # (free a, contracted)
    b2 = b.permute(*db, *free_b).reshape(k, -1)  # (contracted, free b)
    return (a2 @ b2).reshape(*(a.shape[d] for d in free_a), *(b.shape[d] for d in free_b))


def _sublist_equation(args: tuple) -> tuple[str, tuple]:
    """torch.einsum's sublist form (a, [0, 1], b, [1, 2], [0, 2]) as ("ab,bc->ac", (a, b)): 0-25 are
    a-z, 26-51 A-Z, Ellipsis is '...'."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def term(sub) -> str:
        out = ""
        for s in sub:
            if s is Ellipsis:
                out += "..."
            elif isinstance(s, int) and 0 <= s < 52:
                out += letters[s]
            else:
                raise ValueError(f"einsum(): subscript in subscript list is not within the valid range [0, 52): {s}")
        return out

    n = len(args) // 2
    equation = ",".join(term(s) for s in args[1:2 * n:2]) + ("->" + term(args[-1]) if len(args) % 2 else "")
    return equation, tuple(args[0:2 * n:2])


def einsum(equation: str, *operands) -> Tensor:
    """torch.einsum: ``einsum("ij,jk->ik", a, b)``, ``einsum(eq, [a, b])`` or the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``; ellipses, implicit
    output (letters seen once, sorted), repeated letters (diagonals, ``"ii->"`` is the trace) and
    size-1 broadcasting. Differentiable in every operand (its gradient is another einsum).

    >>> einsum("ii->", Tensor([[1.0, 2.0], [3.0, 4.0]])).item()
    5.0
    """
    if isinstance(equation, Tensor):
        equation, operands = _sublist_equation((equation,) + operands)
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for i, o in enumerate(operands):
        if not isinstance(o, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(o).__name__}")
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum(): {len(terms)} operands in the equation {equation!r} but {len(operands)} given")
    used = set(eq) - set(".,->")
    if not all(c.isalpha() and c.isascii() for c in used):
        raise ValueError(f"einsum(): invalid subscript in equation {equation!r}: only letters a-z, A-Z and ...")
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    n_ell = max((o.ndim - len(s.replace("...", "")) for s, o in zip(terms, operands) if "..." in s), default=0)
    ell = "".join(next(free) for _ in range(n_ell))
    subs = []
    for s, o in zip(terms, operands):
        k = o.ndim - len(s.replace("...", "")) if "..." in s else 0
        full = s.replace("...", ell[n_ell - k :] if k else "")
        if len(full) != o.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s.replace('...', ''))}) "
                               f"does not match the number of dimensions ({o.ndim}) for operand {len(subs)}"
                               + ("" if "..." in s else " and no ellipsis was given"))
        subs.append(full)
    if arrow:
        out = out.replace("...", ell)
    else:
        counts = "".join(subs)
        out = ell + "".join(sorted(c for c in set(counts) - set(ell) if counts.count(c) == 1))
    sizes: dict[str, int] = {}
    for s, o in zip(subs, operands):
        for c, n in zip(s, o.shape):
            if sizes.get(c, 1) != 1 and n not in (1, sizes[c]):
                raise ShapeError(f"einsum(): subscript {c} has size {n} for operand {subs.index(s)} which does "
                                 f"not broadcast with previously seen size {sizes[c]}")
            sizes[c] = n if sizes.get(c, 1) == 1 else sizes[c]  # not max(): a 0 beats a 1 (empty batch)
    for c in out:
        if c not in sizes:
            raise ValueError(f"einsum(): output subscript {c} does not appear in the equation for any input operand")
    # Size-1 dims that meet bigger ones broadcast (differentiably) so each letter has one size.
    ops = []
    for s, o in zip(subs, operands):
        want = tuple(sizes[c] for c in s)
        ops.append(o if o.shape == want or len(set(s)) != len(s) else o.broadcast_to(*want))
    return matmul_ops.Einsum.apply(*ops, equation=",".join(subs) + "->" + out)

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
    if reduction == "elementwise_mean":  # torch's old name, still accepted with a warning
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      UserWarning, stacklevel=3)
        reduction = "mean"
    if reduction not in _REDUCTIONS + extra:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() * float("nan") if loss.numel() == 0 else loss.mean()


def _need_tensor(x, fn: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: argument '{name}' must be a Tensor, got {type(x).__name__}; wrap it with "
                        "engine.tensor(...)")
    return x


def _same_dtype_as_weights(op: str, input: Tensor, **weights) -> None:  # noqa: A002
    """torch's check in its weighted ops (linear, conv, the norms): the input has its weights' dtype.
    An integer input raises (NumPy would quietly compute in float64), and so does a float input of
    another width, except float16 with float32 weights, which torch's norms take. None is skipped.

    >>> _same_dtype_as_weights("linear", Tensor([1.0]), weight=Tensor([2.0]))
    """
    for name, w in weights.items():
        if not isinstance(w, Tensor) or w.dtype == input.dtype or w.dtype.kind not in "fc":
            continue
        if input.dtype.kind == "f" == w.dtype.kind and input.dtype.itemsize < w.dtype.itemsize:
            continue  # float16 input with float32 weights: torch's mixed-precision norms (and autocast)
        raise RuntimeError(f"{op}: expected input and {name} to have the same dtype, but got input of dtype "
                           f"{input.dtype} and {name} of dtype {w.dtype}; cast the input with .to({w.dtype})")


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


def _not_differentiable(fn: str, name: str, value) -> None:
    """torch's error for an argument its loss kernel has no gradient for (class weights, pos_weight,
    soft_margin_loss's target), when that argument requires grad and grad mode is on."""
    from engine.function import is_grad_enabled

    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        raise RuntimeError(f"The function '{fn}' is not differentiable with respect to argument '{name}'. "
                           "This input cannot have requires_grad True.")


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
    if total == 0:  # torch: nan; the gradient 0 on ignored rows (nan on counted rows of weight 0)
        return loss[xp.nonzero(valid)[0]].sum() * float("nan")
    return loss.sum() / total


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
            if input.ndim >= 2 and target.ndim >= 1 and target.shape[0] != input.shape[0]:
                raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                                 f"({target.shape[0]}).")
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
    _not_differentiable("nll_loss_forward", "weight", weight)
    t, _ = _class_targets(input, target, fn)
    rows = _classes_last(input, n_class)  # (M, C)
    flat = t.reshape(-1)
    if w is None and label_smoothing == 0:  # the fused op: one pass, no (M, C) log-probabilities kept
        try:
            loss = fused_ops.CrossEntropy.apply(rows, targets=flat, ignore_index=ignore_index, reduction=reduction)
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
    _not_differentiable("nll_loss_forward", "weight", weight)
    w = _class_weight(weight, n_class, input, fn)
    return _nll_rows(_classes_last(input, n_class), t.reshape(-1), w, ignore_index, 0.0, reduction, t.shape, fn)


def _pointwise(fn: str, input, target, reduction: str, warn: bool = True) -> tuple[Tensor, Tensor]:
    _need_tensor(input, fn, "input")
    target = _float_tensor(target, input, fn, "target")
    _same_shape(input, target, fn, warn)
    return input, target


def _elementwise_weighted(loss: Tensor, weight, input: Tensor, fn: str, reduction: str,
                          mean_by_weight: bool) -> Tensor:
    """torch's weighted mse/l1/huber: ``weight`` of input's exact shape multiplies each term; the
    mean divides by Σ weight (mse, l1) or by the count (huber), as torch.nn.functional does."""
    w = _float_tensor(weight, input, fn, "weight")
    if w.shape != input.shape:
        raise ValueError("Weights and input must have the same size.")
    loss = loss * w
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


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
        return _elementwise_weighted(loss, weight, input, "mse_loss", reduction, mean_by_weight=True)
    return _reduce(loss, reduction)


def l1_loss(input: Tensor, target, size_average=None, reduce=None, reduction: str = "mean",
            weight=None) -> Tensor:
    """Mean absolute error |input - target|; the gradient at 0 is 0, as torch.

    >>> l1_loss(Tensor([1.0, -3.0]), Tensor([0.0, 0.0])).item()
    2.0
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    if isinstance(input, Tensor) and isinstance(target, Tensor) and "c" in input.dtype.kind + target.dtype.kind:
        _same_shape(input, target, "l1_loss")  # complex: |input - target| in the promoted dtype, real, as torch
    else:
        input, target = _pointwise("l1_loss", input, target, reduction)
    loss = (input - target).abs()
    if weight is not None:
        return _elementwise_weighted(loss, weight, input, "l1_loss", reduction, mean_by_weight=True)
    return _reduce(loss, reduction)


def _huber(d: Tensor, delta: float) -> Tensor:
    """0.5 d² where |d| < delta, else delta (|d| - 0.5 delta): continuous value and slope at delta."""
    a = d.abs()
    small = a._data < delta
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
        return _elementwise_weighted(loss, weight, input, "huber_loss", reduction, mean_by_weight=False)
    return _reduce(loss, reduction)


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
    x = input._data
    if x.size and (float(x.min()) < 0 or float(x.max()) > 1):
        raise RuntimeError(f"{fn}: all elements of input should be between 0 and 1")
    _not_differentiable(fn, "weight", weight)
    loss = fused_ops.BinaryCrossEntropy.apply(input, target)  # torch's gradient, finite at 0 and 1
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
    _not_differentiable(fn, "weight", weight)
    _not_differentiable(fn, "pos_weight", pos_weight)
    sp = _softplus(-input)
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
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    input, target = _pointwise(fn, input, target, reduction, warn=False)
    if log_target:
        loss = target.exp() * (target - input)
    else:  # torch's xlogy(target, target): 0 log 0 = 0, and nan for a negative target
        zero = target._data == 0
        with np.errstate(invalid="ignore"):
            log_target = where(zero, 1.0, target).log()
        loss = where(zero, 0.0, target * log_target) - target * input
    if reduction == "batchmean":
        if input.ndim == 0:
            return loss.sum()
        return loss.sum() / input.shape[0] if input.shape[0] else loss.sum() * float("nan")
    return _reduce(loss, reduction)


def _softplus(x: Tensor) -> Tensor:
    """log(1 + e^x) without overflow, as -logsigmoid(-x): its gradient is sigmoid(x) everywhere
    (max(x, 0) + log(1 + e^-|x|) composed from relu and abs would give 0 at x = 0, not 1/2)."""
    return -logsigmoid(-x)


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
        # Stirling's term of every target, masked where target <= 1, as torch's masked_fill: the
        # target's gradient there is 0, or nan at target 0 (0 · log 0), as torch's
        with np.errstate(divide="ignore", invalid="ignore"):
            stirling = target * target.log() - target + (target * (2 * math.pi)).log() * 0.5
        loss = loss + where(target._data > 1, stirling, 0.0)
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
        elif not (var.ndim == input.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            # torch's rule: one dim where var has size 1 and input not, e.g. (4, 1, 32, 32) for (4, 3, 32, 32)
            raise ValueError(f"{fn}: var is of incorrect size: var {var.shape}, input {input.shape}")
    v = var._data
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
    _not_differentiable("soft_margin_loss", "target", target)
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
    # clamp_min, not relu: at exactly 0 the gradient passes, as torch's clamp_min. margin is a float
    # (torch's double), so integer inputs give the default float dtype
    return _reduce((-(target * (input1 - input2)) + float(margin)).clamp_min(0), reduction)


def hinge_embedding_loss(input: Tensor, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """input where target is 1, max(0, margin - input) where target is -1.

    >>> hinge_embedding_loss(Tensor([0.3, 0.3]), Tensor([1.0, -1.0]), reduction="none").tolist()
    [0.30000001192092896, 0.699999988079071]
    """
    reduction = _reduction_arg(size_average, reduce, reduction)
    input, target = _pointwise("hinge_embedding_loss", input, target, reduction, warn=False)
    t = target._data
    loss = where(t != 1, (-input + margin).clamp_min(0), 0.0) + where(t != -1, input, 0.0)
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
    t = target._data
    loss = where(t == 1, 1 - cos, 0.0) + where(t == -1, (cos - margin).clamp_min(0), 0.0)
    return _reduce(loss, reduction)


def _pairwise_distance(a: Tensor, b: Tensor, p: float, eps: float) -> Tensor:
    """‖a - b + eps‖_p over the last axis, as torch.nn.functional.pairwise_distance."""
    d = a - b + eps
    if d.dtype.kind == "c":  # torch: the norm of the complex difference, real
        d = d.abs()
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
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not (anchor.ndim == positive.ndim == negative.ndim):  # any equal rank: distances over the last dim
        raise RuntimeError("The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_ap = _pairwise_distance(anchor, positive, p, eps)
    d_an = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_an = d_an.minimum(_pairwise_distance(positive, negative, p, eps))
    return _reduce((d_ap - d_an + margin).clamp_min(0), reduction)


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
    if weight is not None and np.ndim(_array(weight)) != 1:
        raise ValueError("weight must be one-dimensional")  # torch's exact words
    if input.ndim > 2:
        raise RuntimeError(f"{fn}: input must be (N, C), (C,) or 0-d, got {input.shape}")
    t = _array(target)
    if not hasattr(t, "dtype") or t.dtype.kind not in "iu":
        raise RuntimeError(f"{fn}: expected target dtype to be an integer type, got {getattr(t, 'dtype', type(t))}")
    rows = input.reshape(1, input.numel()) if input.ndim < 2 else input  # (N, C); a 0-d input is one class
    n, c = rows.shape
    target_shape, t = t.shape, t.reshape(-1)
    if t.shape != (n,):
        raise RuntimeError(f"{fn}: inconsistent target size: {t.shape} for input of size {input.shape}")
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        raise RuntimeError("target out of range")  # torch's error here (an IndexError in nll/cross_entropy)
    xp = get_xp(input.device)
    picked = rows[xp.arange(n), t].reshape(n, 1)  # (N, 1)
    m = (rows - picked + margin).relu()
    if p == 2:
        m = m * m
    _not_differentiable(fn, "weight", weight)
    w = _class_weight(weight, c, input, fn)
    if w is not None:
        m = m * w[t][:, None]
    other = xp.arange(c)[None, :] != t[:, None]  # (N, C): j != y
    loss = (m * other.astype(input.dtype)).sum(1) / c  # (N,)
    if input.ndim < 2:  # one sample: the loss has the target's shape, () or (1,), as torch
        loss = loss.reshape(target_shape)
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
    _same_dtype_as_weights(op, x, weight=weight, bias=bias)
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
    out = spatial_ops.ConvNd.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
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
    _same_dtype_as_weights(op, x, weight=weight, bias=bias)
    if isinstance(padding, str):
        raise TypeError(f"{op}(): argument 'padding' must be tuple of ints, not str")
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
    y = spatial_ops.ConvTransposeNd.apply(x, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups,
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


def _float_only(x: Tensor, kernel: str) -> None:
    """NotImplementedError for the integer and bool dtypes that torch's ``kernel`` has no version for."""
    if x.dtype.kind in "biu":
        raise NotImplementedError(f'"{kernel}" not implemented for '
                                  f"'{_TORCH_INT_NAMES.get(str(x.dtype), str(x.dtype))}'")


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
    if isinstance(input, Tensor) and input.ndim == 2:  # torch indexes dim 2 before it checks the rank
        raise IndexError("Dimension out of range (expected to be in range of [-2, 1], but got 2)")
    x, unbatched = _sp_input(input, 2, "unfold")
    if input.dtype.kind != "b":  # torch's im2col copies bool too; only the integer dtypes are refused
        _float_only(input, "im2col_out_cpu")
    k, d, pads, s = _fold_args("unfold", kernel_size, dilation, padding, stride)
    blocks = [spatial_ops.out_size(n, kk, ss, dd, lo, hi)
              for n, kk, ss, dd, (lo, hi) in zip(x.shape[2:], k, s, d, pads)]
    if any(b <= 0 for b in blocks):
        raise RuntimeError(f"unfold: Given input with spatial size {tuple(x.shape[2:])}, kernel_size={k}, "
                           f"dilation={d}, padding={tuple(lo for lo, _ in pads)}, calculated shape of the array "
                           f"of sliding blocks as {tuple(blocks)}, but its components must be at least one.")
    y = spatial_ops.Unfold.apply(x, kernel=k, stride=s, padding=pads, dilation=d)
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
    _float_only(input, "col2im_out_cpu")
    size = _sp_tuple(output_size, 2, "output_size", "fold")
    k, d, pads, s = _fold_args("fold", kernel_size, dilation, padding, stride)
    kp = k[0] * k[1]
    blocks = [spatial_ops.out_size(n, kk, ss, dd, lo, hi) for n, kk, ss, dd, (lo, hi) in zip(size, k, s, d, pads)]
    if cols.shape[1] % kp:
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size {k}, but got input of size {list(input.shape)}")
    if any(b <= 0 for b in blocks) or cols.shape[2] != blocks[0] * blocks[1]:
        raise RuntimeError(f"fold: Given output_size={size}, kernel_size={k}, dilation={d}, "
                           f"padding={tuple(lo for lo, _ in pads)}, stride={s}, expected size of input's "
                           f"dimension 2 to match the calculated number of sliding blocks "
                           f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got input of size "
                           f"{list(input.shape)}")
    y = spatial_ops.Fold.apply(cols, shape=(cols.shape[0], cols.shape[1] // kp, *size), kernel=k, stride=s,
                               padding=pads, dilation=d)
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
    out = tuple(spatial_ops.pool_out_size(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(size, k, s, p, d))
    if any(o <= 0 for o in out):
        raise RuntimeError(f"{op}: Given input size: ({'x'.join(str(v) for v in x.shape[1:])}). Calculated "
                           f"output size: ({'x'.join(str(v) for v in (*x.shape[1:-nd], *out))}). "
                           "Output size is too small")
    return k, s, p, d, out


def _pool_nonempty(op, nd, input, unbatched) -> None:
    """torch's pools take an empty batch but no empty channel or spatial axis."""
    rest = input.shape if unbatched else input.shape[1:]
    if all(rest):
        return
    shape = list(input.shape)
    if nd == 3:
        pos = next(i for i, v in enumerate(rest) if v == 0)
        name = "max_pool3d_with_indices_out_cpu_template" if op.startswith("max") else op
        raise RuntimeError(f"{name}(): Expected input's non-batch dimensions to have positive length, but input has "
                           f"a shape of {shape} and non-batch dimension {pos} has length zero!")
    if op.startswith("max") and nd == 1:
        raise RuntimeError(f"max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
                           f"input, but got:{shape}")
    if nd == 1:  # torch runs avg_pool1d as a 2-D pool over (…, 1, L)
        shape = shape[:-1] + [1] + shape[-1:]
    raise RuntimeError(f"Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but "
                       f"got:{shape}")


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = _sp_input(input, nd, op)
    _pool_nonempty(op, nd, input, unbatched)
    if input.dtype == np.bool_ or (nd == 1 and not return_indices and input.dtype.kind in "iu"):
        # torch's max_pool1d without indices runs a float-only kernel; bool has no max pool at all
        _float_only(input, {1: "max_pool1d_impl" if not return_indices else "max_pool2d", 2: "max_pool2d",
                            3: "max_pool3d"}[nd])
    k, s, p, d, out = _pool_args(op, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    y = spatial_ops.MaxPoolNd.apply(x, kernel=k, stride=s, padding=p, dilation=d, out=out)
    if not return_indices:
        return y[0] if unbatched else y
    fn = y._ctx if y._ctx is not None else _max_pool_ctx(x, k, s, p, d, out)
    idx = Tensor(fn.indices())
    return (y[0], idx[0]) if unbatched else (y, idx)


def _max_pool_ctx(x, k, s, p, d, out):
    """A MaxPoolNd run outside the graph (no grad needed) to recover the argmax indices."""
    fn = spatial_ops.MaxPoolNd()
    fn.xp = get_xp(x.device)
    fn.forward(x._data, kernel=k, stride=s, padding=p, dilation=d, out=out)
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
    _float_only(input, "max_unpool3d" if nd == 3 else "max_unpool2d")
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
    y = spatial_ops.MaxUnpool.apply(x, indices=idx.astype(np.int64) if idx.dtype != np.int64 else idx, out=out)
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
    _pool_nonempty(op, nd, input, unbatched)
    if input.dtype == np.bool_:
        _float_only(input, "avg_pool3d_out_frame" if nd == 3 else "avg_pool2d")
    k, s, p, _, out = _pool_args(op, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero")
    y = spatial_ops.AvgPoolNd.apply(x, kernel=k, stride=s, padding=p, out=out, count_include_pad=count_include_pad,
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
    """torch's composition: norm_type ±inf is a max pool of |x|; otherwise
    (sign(s)·relu(|s|)·K)^(1/p) of the window averages s of x^p, which zeroes the gradient of
    an all-zero window (relu's gradient at 0) instead of 0·inf = nan."""
    k = _sp_tuple(kernel_size, nd, "kernel_size", op)
    p = float(norm_type)
    if math.isinf(p):
        op_max = op.replace("lp", "max")
        m = _max_pool(op_max, nd, input.abs() if p > 0 else -input.abs(), k, stride, 0, 1, ceil_mode, False)
        return m if p > 0 else -m
    y = _avg_pool(op, nd, input ** norm_type, k, stride, 0, ceil_mode, True, None)
    return (y.sign() * relu(y.abs()) * float(np.prod(k))) ** (1.0 / p)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling as torch: (sum of x^p over each window)^(1/p)."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling as torch: (sum of x^p over each window)^(1/p).

    >>> lp_pool2d(Tensor.ones(1, 1, 2, 2), 2, 2).numpy().ravel().tolist()
    [2.0]
    """
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def _adaptive_rank_check(op, nd, input, output_size) -> None:  # noqa: A002
    """torch's Python wrapper of the 2-d/3-d adaptive pools fills None sides from the input's trailing
    dims first, so an input with no more dims than a sequence output_size is a ValueError there; the 1-d
    ones parse output_size as ints before anything else (a None in it is a TypeError)."""
    if nd == 1 and isinstance(output_size, Sequence) and None in output_size:
        raise TypeError(f"{op}(): argument 'output_size' (position 2) must be tuple of ints, but found element "
                        f"of type NoneType at pos {list(output_size).index(None)}")
    if (nd > 1 and op.startswith("adaptive_") and isinstance(input, Tensor) and isinstance(output_size, Sequence)
            and input.ndim <= len(output_size)):
        raise ValueError(f"{op}: Input dimension should be at least {len(output_size) + 1}, got input of shape "
                         f"{input.shape} for output_size {tuple(output_size)}")


def _adaptive_size(op, nd, x, output_size):
    if output_size is None and nd == 1:
        raise TypeError(f"{op}(): argument 'output_size' (position 2) must be tuple of ints, not NoneType")
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        if nd == 1:
            raise RuntimeError(f"{op}() argument 'output_size' should contain one int (got {len(output_size)})")
        if op.startswith("adaptive_max"):
            raise RuntimeError(f"{op}(): internal error: output_size.size() must be {nd}")
        raise RuntimeError(f"{op}: output_size must be {nd}")
    out = tuple(x.shape[-nd + i] if v is None else int(v) for i, v in enumerate(output_size))
    if any(o < 0 for o in out) and op.startswith("adaptive_max"):
        raise RuntimeError(f"{op}: Trying to create tensor with negative dimension {min(out)}: "
                           f"{list(x.shape[:-nd]) + list(out)} (output_size {list(out)})")
    if any(o < 0 for o in out):
        raise RuntimeError(f"{op}: elements of output_size must be greater than or equal to 0 but received "
                           f"{{{', '.join(str(o) for o in out)}}}")
    return out


def _adaptive_checks(op, nd, input, unbatched) -> None:
    """torch's adaptive pools: float inputs only; no empty axis after the batch (adaptive_avg_pool1d/2d
    look at the spatial axes only, and run 1-D as 2-D over (…, 1, L))."""
    if input.dtype.kind in "biu":
        name = {"adaptive_avg_pool1d": "adaptive_avg_pool2d", "adaptive_max_pool1d": "adaptive_max_pool2d",
                "adaptive_avg_pool3d": "adaptive_avg_pool3d_cpu", "adaptive_max_pool3d": "adaptive_max_pool3d_cpu"}
        raise NotImplementedError(f'"{name.get(op, op)}" not implemented for '
                                  f"'{_TORCH_INT_NAMES.get(str(input.dtype), str(input.dtype))}'")
    shape = list(input.shape)
    if op in ("adaptive_avg_pool1d", "adaptive_avg_pool2d"):
        if op == "adaptive_avg_pool1d":
            op, shape = "adaptive_avg_pool2d", shape[:-1] + [1] + shape[-1:]
        dims = range(len(shape) - 2, len(shape))
    else:
        dims = range(1, len(shape))
    for d in dims:
        if shape[d] == 0:
            raise RuntimeError(f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input "
                               f"has sizes {shape} with dimension {d} being empty")


_TORCH_INT_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                    "bool": "Bool"}


def _window_mean(x: Tensor, axis: int, n_out: int) -> Tensor:
    """Mean over torch's adaptive windows along ``axis``, by gathers (a NaN or inf reaches only
    the windows that hold it, as torch; a matrix product would spread it through 0·inf)."""
    bounds = spatial_ops.adaptive_bounds(x.shape[axis], n_out)
    if not bounds:
        return x.index_select(axis, np.zeros(0, dtype=np.int64))
    lo, hi = (np.array(v, dtype=np.int64) for v in zip(*bounds))
    shape = [1] * x.ndim
    shape[axis] = n_out
    total = None
    for j in range(int((hi - lo).max())):
        v = x.index_select(axis, np.minimum(lo + j, hi - 1))
        past = lo + j >= hi  # windows shorter than j + 1
        if past.any():
            v = v.masked_fill(Tensor(past.reshape(shape), device=x.device), 0)
        total = v if total is None else total + v
    return total / Tensor((hi - lo).reshape(shape).astype(x.dtype), device=x.device)


def _adaptive_avg(op, nd, input, output_size):
    _adaptive_rank_check(op, nd, input, output_size)
    x, unbatched = _sp_input(input, nd, op)
    out = _adaptive_size(op, nd, x, output_size)
    if all(o == 1 for o in out):  # torch's shortcut: a mean (which takes an empty axis too)
        y = x.mean(axis=tuple(range(2, 2 + nd)), keepdims=True)
        return y[0] if unbatched else y
    if op != "interpolate":
        _adaptive_checks(op, nd, input, unbatched)
    y = x
    for i, o in enumerate(out):
        if o != x.shape[2 + i]:
            y = _window_mean(y, 2 + i, o)
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
    _adaptive_rank_check(op, nd, input, output_size)
    x, unbatched = _sp_input(input, nd, op)
    out = _adaptive_size(op, nd, x, output_size)
    _adaptive_checks(op, nd, input, unbatched)
    y = spatial_ops.AdaptiveMaxPoolNd.apply(x, out=out)
    if not return_indices:
        return y[0] if unbatched else y
    if y._ctx is not None:
        idx = y._ctx.idx
    else:
        fn = spatial_ops.AdaptiveMaxPoolNd()
        fn.xp = get_xp(x.device)
        fn.forward(x._data, out=out)
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


def _resample_taps(mode: str, n_in: int, n_out: int, align_corners: bool, scale) -> list:
    """torch's linear (2 taps) or cubic (4 taps, A = -0.75, clamped indices) interpolation along one
    axis: [(source index per output, float64 weight per output), ...]."""
    s = _linear_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    cubic = mode == "bicubic"
    src = s * dst if align_corners else s * (dst + 0.5) - 0.5
    if not align_corners and not cubic:
        src = np.maximum(src, 0.0)
    i0 = np.floor(src).astype(np.int64)
    t = src - i0
    if not cubic:
        return [(i0, 1.0 - t), (i0 + (i0 < n_in - 1), t)]
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    coeffs = (far(t + 1), near(t), near(1 - t), far(2 - t))
    return [(np.clip(i0 - 1 + j, 0, n_in - 1), c) for j, c in enumerate(coeffs)]


def _antialias_taps(mode: str, n_in: int, n_out: int, align_corners: bool, scale) -> list:
    """torch's antialiased (PIL-style) resampling along one axis: a triangle (bilinear) or cubic
    (A = -0.5) filter stretched by the downscale factor, normalized per output; taps past a
    window's end carry weight 0 and read nothing (the third entry masks them)."""
    s = _linear_scale(n_in, n_out, align_corners, scale)
    interp = 4 if mode == "bicubic" else 2
    support = interp * 0.5 * s if s >= 1.0 else interp * 0.5
    inv = 1.0 / s if s >= 1.0 else 1.0

    def filt(x):
        x = np.abs(x)
        if interp == 2:
            return np.where(x < 1.0, 1.0 - x, 0.0)
        a = -0.5
        return np.where(x < 1.0, ((a + 2) * x - (a + 3)) * x * x + 1,
                        np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))

    center = s * (np.arange(n_out) + 0.5)
    lo = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    size = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), n_in) - lo
    j = np.arange(int(size.max()))[:, None]  # (taps, out)
    valid = j < size
    w = np.where(valid, filt((j + lo - center + 0.5) * inv), 0.0)
    total = w.sum(0)
    w = np.where(total != 0, w / np.where(total != 0, total, 1.0), w)
    return [(np.minimum(lo + k, n_in - 1), w[k], valid[k]) for k in range(w.shape[0])]


def _resample(x: Tensor, axis: int, taps: list) -> Tensor:
    """sum over taps of weight · x[index] along ``axis`` (gathers, so a NaN or inf reaches only the
    outputs whose taps read it, as in torch); a tap's optional mask drops the outputs it does not reach."""
    shape = [1] * x.ndim
    shape[axis] = -1
    y = None
    for idx, w, *mask in taps:
        v = x.index_select(axis, idx)
        if mask and not mask[0].all():
            v = v.masked_fill(Tensor(~mask[0].reshape(shape), device=x.device), 0)
        v = v * Tensor(w.reshape(shape).astype(x.dtype), device=x.device)
        y = v if y is None else y + v
    return y


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:
    """Resize the spatial axes as torch.nn.functional.interpolate: modes nearest, nearest-exact,
    linear (3-D input), bilinear / bicubic (4-D), trilinear (5-D) and area; ``scale_factor`` with
    torch's recompute_scale_factor rule; ``antialias=True`` (bilinear / bicubic) filters as torch
    when downsampling.

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
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a "
                         "4-D tensor as input")
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
        if isinstance(size, (list, tuple)) and len(size) != nd:
            raise ValueError(f"Input and output must have the same number of spatial dimensions, but got input with "
                             f"spatial dimensions of {list(in_size)} and output size of {list(size)}. Please provide "
                             f"input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) "
                             f"format.")
        out = _sp_tuple(size, nd, "size", "interpolate")
    else:
        sf = tuple(float(v) for v in scale_factor) if isinstance(scale_factor, (list, tuple)) \
            else (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(f"interpolate: Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of {list(in_size)} and "
                             f"scale_factor of shape {list(sf)}.")
        out = tuple(int(math.floor(n * f)) for n, f in zip(in_size, sf))
        scales = None if recompute_scale_factor else sf
    if mode == "area":  # torch runs it as an adaptive average pool (an empty output is fine)
        return _adaptive_avg(f"adaptive_avg_pool{nd}d", nd, input, out)
    _interp_dtype_check(mode, nd, input)
    if any(o <= 0 for o in out) or any(n <= 0 for n in in_size):
        raise RuntimeError(f"interpolate: Input and output sizes should be greater than 0, but got input "
                           f"{tuple(in_size)} output {tuple(out)}")
    if input.shape[1] == 0:  # an empty batch is fine, empty channels are not
        raise RuntimeError(f"Non-empty {input.ndim}D data tensor expected but got a tensor with sizes "
                           f"{list(input.shape)}")
    scales = scales or (None,) * nd
    y = input
    if mode in ("nearest", "nearest-exact"):
        idx = [_nearest_index(n, o, sc, mode == "nearest-exact") for n, o, sc in zip(in_size, out, scales)]
        grids = tuple(i.reshape((-1,) + (1,) * (nd - 1 - a)) for a, i in enumerate(idx))
        return y[(slice(None), slice(None), *grids)]  # a new tensor even when nothing moves, as torch
    as_uint8 = input.dtype == np.uint8
    if as_uint8:  # torch's uint8 path: a pass per axis, each rounded back to uint8 (up to ±1 off torch's
        y = y.astype(np.float32)  # fixed-point weights)
    for a in reversed(range(nd)):  # the last axis first: torch's innermost sum
        if in_size[a] == out[a] and mode != "bicubic":
            continue  # torch's linear kernels copy an axis whose size does not change, whatever the scale
        taps = _antialias_taps if antialias else _resample_taps
        y = _resample(y, 2 + a, taps(mode, in_size[a], out[a], align_corners, scales[a]))
        if as_uint8:
            y = y.round().clip(0, 255)
    return y.astype(np.uint8) if as_uint8 else y * 1 if y is input else y


def _interp_dtype_check(mode, nd, input) -> None:
    """torch's resampling kernels: floats, and uint8 for nearest and 2-D bilinear/bicubic."""
    if input.dtype.kind == "f" or (input.dtype == np.uint8 and mode in ("nearest", "nearest-exact", "bilinear",
                                                                       "bicubic")):
        return
    kernel = {"bicubic": "compute_indices_weights_cubic"}.get(mode, "compute_indices_weights_linear")
    if mode in ("nearest", "nearest-exact"):
        kernel = "upsample_nearest2d_channels_last" if nd == 2 else "compute_indices_weights_nearest"
    elif mode == "bilinear":
        kernel = "upsample_bilinear2d_channels_last"
    raise NotImplementedError(f'"{kernel}" not implemented for '
                              f"'{_TORCH_INT_NAMES.get(str(input.dtype), str(input.dtype))}'")


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


def channel_shuffle(input: Tensor, groups: int) -> Tensor:  # noqa: A002
    """(N, g·k, *) -> (N, k·g, *): the channels split into ``groups`` and interleaved, as torch.

    >>> channel_shuffle(Tensor.arange(4.0).reshape(1, 4, 1), 2).numpy().ravel().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    _need_tensor(input, "channel_shuffle")
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                           f"{list(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c, *rest = input.shape
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    return input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


native_channel_shuffle = channel_shuffle
# ---- CTC (engine/ctc.py, composed of engine ops) and recurrent layers (engine/ops/recurrent.py) -----

from engine.ctc import ctc_loss  # noqa: E402, F401
from engine.ops import recurrent as recurrent_ops  # noqa: E402


def _check_recurrent_layer(op: str, gates: int, input: Tensor, states: dict, weight_ih: Tensor,  # noqa: A002
                           weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> int:
    """The argument checks of one fused recurrent layer with ``gates`` weight blocks (LSTM 4, GRU 3, RNN 1):
    input (T, B, I), each state (B, H), weight_ih (gates·H, I), weight_hh (gates·H, H). Returns T."""
    args = (input, *states.values(), weight_ih, weight_hh, bias_ih, bias_hh)
    if not all(t is None or isinstance(t, Tensor) for t in args):
        _not_a_tensor(op, args)
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError(f"{op}: give both bias_ih and bias_hh or neither")
    g = gates
    if input.ndim != 3 or weight_ih.ndim != 2 or weight_hh.ndim != 2:
        raise ValueError(f"{op}: expected input (T, B, I), weight_ih ({g}H, I), weight_hh ({g}H, H); got "
                         f"input {input.shape}, weight_ih {weight_ih.shape}, weight_hh {weight_hh.shape}")
    T, B, n_in = input.shape
    H = weight_hh.shape[1]
    if weight_hh.shape != (g * H, H) or weight_ih.shape != (g * H, n_in):
        raise ValueError(f"{op}: weight_ih {weight_ih.shape} and weight_hh {weight_hh.shape} do not fit "
                         f"input {input.shape} (want ({g * H}, {n_in}) and ({g * H}, {H}))")
    if any(t.shape != (B, H) for t in states.values()):
        given = " and ".join(f"{name} {t.shape}" for name, t in states.items())
        raise ValueError(f"{op}: {given} must {'both ' if len(states) > 1 else ''}be ({B}, {H})")
    if bias_ih is not None and (bias_ih.shape != (g * H,) or bias_hh.shape != (g * H,)):
        raise ValueError(f"{op}: bias_ih {bias_ih.shape} and bias_hh {bias_hh.shape} must be ({g * H},)")
    if T == 0:
        raise ValueError(f"{op}: the input has no time steps (T = 0)")
    return T


def lstm_layer(input: Tensor, h0: Tensor, c0: Tensor, weight_ih: Tensor, weight_hh: Tensor,  # noqa: A002
               bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
               reverse: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer in one direction over a whole sequence, as one fused op (torch's gate order
    i, f, g, o and weight shapes). input (T, B, I), h0 and c0 (B, H), weight_ih (4H, I),
    weight_hh (4H, H), biases (4H,) or both None. ``reverse`` runs from t = T-1 down to 0.
    Returns (output (T, B, H), h_n (B, H), c_n (B, H)).

    >>> x, h = Tensor.randn(5, 2, 3), Tensor.zeros(2, 4)
    >>> out, hn, cn = lstm_layer(x, h, h, Tensor.randn(16, 3), Tensor.randn(16, 4))
    >>> out.shape, hn.shape, cn.shape
    ((5, 2, 4), (2, 4), (2, 4))
    """
    T = _check_recurrent_layer("lstm_layer", 4, input, {"h0": h0, "c0": c0}, weight_ih, weight_hh, bias_ih, bias_hh)
    packed = recurrent_ops.LSTMLayer.apply(input, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse=bool(reverse))
    return packed[:T], packed[0 if reverse else T - 1], packed[T]



def gru_layer(input: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,  # noqa: A002
              bias_ih: Tensor | None = None, bias_hh: Tensor | None = None,
              reverse: bool = False) -> tuple[Tensor, Tensor]:
    """One GRU layer in one direction over a whole sequence, as one fused op (torch's gate order
    r, z, n and weight shapes). input (T, B, I), h0 (B, H), weight_ih (3H, I), weight_hh (3H, H),
    biases (3H,) or both None. ``reverse`` runs from t = T-1 down to 0.
    Returns (output (T, B, H), h_n (B, H)).

    >>> x, h = Tensor.randn(5, 2, 3), Tensor.zeros(2, 4)
    >>> out, hn = gru_layer(x, h, Tensor.randn(12, 3), Tensor.randn(12, 4))
    >>> out.shape, hn.shape
    ((5, 2, 4), (2, 4))
    """
    T = _check_recurrent_layer("gru_layer", 3, input, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh)
    out = recurrent_ops.GRULayer.apply(input, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse=bool(reverse))
    return out, out[0 if reverse else T - 1]

def rnn_layer(input: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,  # noqa: A002
              bias_ih: Tensor | None = None, bias_hh: Tensor | None = None, nonlinearity: str = "tanh",
              reverse: bool = False) -> tuple[Tensor, Tensor]:
    """One Elman RNN layer (torch's nn.RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu)
    in one direction over a whole sequence, as one fused op. input (T, B, I), h0 (B, H),
    weight_ih (H, I), weight_hh (H, H), biases (H,) or both None. ``reverse`` runs from t = T-1 down to 0.
    Returns (output (T, B, H), h_n (B, H)).

    >>> x, h = Tensor.randn(5, 2, 3), Tensor.zeros(2, 4)
    >>> out, hn = rnn_layer(x, h, Tensor.randn(4, 3), Tensor.randn(4, 4), nonlinearity="relu")
    >>> out.shape, hn.shape
    ((5, 2, 4), (2, 4))
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"rnn_layer: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    T = _check_recurrent_layer("rnn_layer", 1, input, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh)
    out = recurrent_ops.RNNLayer.apply(input, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                                       nonlinearity=nonlinearity, reverse=bool(reverse))
    return out, out[0 if reverse else T - 1]


# ---- batch normalization (engine/ops/norm.py) ---------------------------------------------------------

from engine.ops import norm as norm_ops  # noqa: E402


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization of (N, C, *S) per channel, as torch.nn.functional.batch_norm.

    ``training``: normalize with this batch's mean and biased variance, and move ``running_mean`` and
    ``running_var`` (when given) in place towards the batch's mean and unbiased variance by ``momentum``.
    Otherwise normalize with the running statistics. One fused op (engine/ops/norm.py).

    >>> x = Tensor([[1.0], [3.0]])
    >>> batch_norm(x, None, None, training=True).numpy().ravel().round(3).tolist()
    [-1.0, 1.0]
    """
    if not isinstance(input, Tensor):
        _not_a_tensor("batch_norm", (input,))
    if input.ndim < 2 and input.numel() != 0:
        raise IndexError(f"batch_norm: expected an input of at least 2 dimensions (N, C, ...), got shape "
                         f"{input.shape} (dimension 1 out of range)")
    c = input.shape[1] if input.ndim >= 2 else 0
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise RuntimeError(f"batch_norm: {name} should contain {c} elements (the input's channels, input shape "
                               f"{input.shape}), got shape {t.shape}")
    _same_dtype_as_weights("batch_norm", input, weight=weight, bias=bias, running_mean=running_mean,
                           running_var=running_var)
    if training and input.shape[0] * math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if input.numel() == 0:  # torch's shortcut: input * weight + bias, running statistics untouched
        view = (1, c) + (1,) * (input.ndim - 2)
        out = input if weight is None else input * weight.reshape(view)
        return out.clone() if bias is None else out + bias.reshape(view)
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
    return norm_ops.BatchNorm.apply(input, weight, bias, running_mean=_array(running_mean),
                                    running_var=_array(running_var), training=bool(training),
                                    momentum=float(momentum), eps=float(eps))
