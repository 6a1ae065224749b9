"""NumPy twins of the CUDA kernels in engine/kernels/cuda/, for their tests.

Each takes and returns what its kernel does. The flash-attention twins walk the tiles exactly as
the CUDA kernels do (same block sizes, key/query ranges and guards for fully masked tiles), so the
tests check the kernels' tiling logic without a GPU. ``cross_entropy_reduce`` and
``cross_entropy_row_scale`` are engine/ops/fused.py's CrossEntropy reduction and row scale, in float32.
"""

from __future__ import annotations

import math

import numpy as np

from engine.kernels.cuda import adamw_constants, flash_config
from engine.ops.fused import SQRT_2_OVER_PI


def softmax_reference(x, axis: int = -1):
    """NumPy softmax, the same arithmetic as engine.ops.fused.Softmax."""
    y = x - x.max(axis=axis, keepdims=True)
    y = np.exp(y)
    return y / y.sum(axis=axis, keepdims=True)


def softmax_backward_reference(y, g, axis: int = -1):
    """NumPy softmax backward from the output ``y``."""
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def layer_norm_reference(x, weight=None, bias=None, eps: float = 1e-5):
    """NumPy LayerNorm -> ``(y, mean, rstd)`` (mean and rstd without the kept last axis)."""
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt(var + eps)
    y = xc * rstd
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, mean[..., 0], rstd[..., 0]


def layer_norm_backward_reference(x, weight, mean, rstd, g):
    """NumPy LayerNorm backward from the input -> ``(dx, dw or None, db)``."""
    c = x.shape[-1]
    mean, rstd = mean[..., None], rstd[..., None]
    xhat = (x - mean) * rstd
    lead = tuple(range(g.ndim - 1))
    gxhat = g * weight if weight is not None else g
    dx = (gxhat - gxhat.sum(axis=-1, keepdims=True) / c - xhat * ((gxhat * xhat).sum(axis=-1, keepdims=True) / c))
    dx = dx * rstd
    dw = (g * xhat).sum(axis=lead) if weight is not None else None
    return dx, dw, g.sum(axis=lead)


def gelu_reference(x):
    """NumPy tanh GELU, as engine.ops.fused.Gelu."""
    t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    return 0.5 * x * (1 + t)


def gelu_backward_reference(x, g):
    """NumPy tanh GELU backward, as engine.ops.fused.Gelu."""
    t = np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    dinner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)


def cross_entropy_reference(logits2d, targets, ignore_index: int = -100):
    """NumPy per-row CE -> ``(loss_rows, lse)``; 0 loss on ignored rows."""
    t = targets.reshape(-1)
    valid = t != ignore_index
    m = logits2d.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits2d - m).sum(axis=1)) + m[:, 0]
    picked = logits2d[np.arange(len(t)), np.where(valid, t, 0)]
    return np.where(valid, lse - picked, 0).astype(logits2d.dtype), lse


def cross_entropy_backward_reference(logits2d, lse, targets, scale_rows, ignore_index: int = -100):
    """NumPy ``(softmax - onehot) * scale_rows``, zero on ignored rows."""
    t = targets.reshape(-1)
    valid = t != ignore_index
    grad = np.exp(logits2d - lse[:, None])
    rows = np.arange(len(t))
    grad[rows[valid], t[valid]] -= 1
    return grad * (np.where(valid, scale_rows, 0)[:, None]).astype(grad.dtype)


def adamw_flat_reference(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, betas=(0.9, 0.999),
                         eps: float = 1e-8, weight_decay: float = 0.0, decay_mask=None,
                         decay_range: tuple[int, int] | None = None) -> None:
    """NumPy twin of :func:`adamw_flat` (in place), written with nn.optim.AdamW's array ops."""
    c = adamw_constants(step, lr, betas[0], betas[1], eps, weight_decay)
    decay = _decay_flags(param.size, decay_mask, decay_range, weight_decay, np)
    param *= np.where(decay, c["decay_mul"], np.float32(1))
    exp_avg *= c["b1"]
    exp_avg += c["omb1"] * grad
    exp_avg_sq *= c["b2"]
    exp_avg_sq += c["omb2"] * grad * grad
    denom = np.sqrt(exp_avg_sq)
    denom /= c["sqrt_bc2"]
    denom += c["eps"]
    param -= c["step_size"] * exp_avg / denom


def _flat_heads(a):
    *lead, n, d = a.shape
    return a.reshape(-1, n, d), lead


def _visible(rows, keys, off: int, window: int | None):
    """(len(rows), len(keys)) bool: query row i sees key j (queries are the last rows of the keys)."""
    qpos = rows[:, None] + off
    ok = keys[None, :] <= qpos
    if window:
        ok &= keys[None, :] > qpos - window
    return ok


def flash_attention_reference(q, k, v, window: int | None = None, scale: float | None = None,
                              block_m: int | None = None, block_n: int = 32):
    """NumPy FlashAttention forward, tile by tile exactly as the ``tg_flash_fwd`` kernel walks it:
    query blocks of ``block_m`` rows (the kernel's NW·R), key tiles of ``block_n`` (32) starting
    at the tile holding the block's first visible key, online softmax with the same guards for
    fully masked tiles. Returns ``(out, lse)``; computes in q's dtype (float64 stays float64)."""
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    block_m = block_m or flash_config(d)["NW"] * flash_config(d)["R"]
    qf, lead = _flat_heads(q)
    kf, _ = _flat_heads(k)
    vf, _ = _flat_heads(v)
    bh, t, _ = qf.shape
    s = kf.shape[1]
    off = s - t
    if t > s:
        raise ValueError(f"flash attention needs T <= S, got T={t}, S={s}")
    out = np.zeros_like(qf)
    lse = np.zeros((bh, t), dtype=qf.dtype)
    neg_inf = -np.inf
    for q0 in range(0, t, block_m):
        rows = np.arange(q0, min(q0 + block_m, t))
        kmax = rows[-1] + off
        kmin = max(0, q0 + off - window + 1) if window else 0
        m = np.full((bh, len(rows)), neg_inf, dtype=qf.dtype)
        l = np.zeros((bh, len(rows)), dtype=qf.dtype)
        acc = np.zeros((bh, len(rows), d), dtype=qf.dtype)
        for k0 in range((kmin // block_n) * block_n, kmax + 1, block_n):
            keys = np.arange(k0, min(k0 + block_n, s))
            ok = _visible(rows, keys, off, window)[None]
            sc = np.where(ok, (qf[:, rows] @ kf[:, keys].transpose(0, 2, 1)) * scale, neg_inf)
            mnew = np.maximum(m, sc.max(axis=-1))
            live = mnew != neg_inf
            base = np.where(live, mnew, 0)
            alpha = np.where(live, np.exp(m - base), 1)
            p = np.where(ok & live[..., None], np.exp(sc - base[..., None]), 0)
            l = l * alpha + p.sum(axis=-1)
            acc = acc * alpha[..., None] + p @ vf[:, keys]
            m = np.where(live, mnew, m)
        out[:, rows] = acc / l[..., None]
        lse[:, rows] = m + np.log(l)
    return out.reshape(q.shape), lse.reshape(*lead, t)


def flash_attention_backward_reference(q, k, v, out, lse, g, window: int | None = None, scale: float | None = None,
                                       block_m: int | None = None, block_n: int = 32):
    """NumPy FlashAttention backward, walking the tiles as the two CUDA kernels do: dq over query
    blocks x key tiles, dk/dv over key blocks x query tiles (with their query range), P recomputed
    from q, k and ``lse``. Returns ``(dq, dk, dv)``."""
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    block_m = block_m or flash_config(d)["NW"] * flash_config(d)["R"]
    qf, _ = _flat_heads(q)
    kf, _ = _flat_heads(k)
    vf, _ = _flat_heads(v)
    gf, _ = _flat_heads(g)
    of, _ = _flat_heads(out)
    lf = lse.reshape(qf.shape[0], qf.shape[1])
    bh, t, _ = qf.shape
    s = kf.shape[1]
    off = s - t
    delta = (gf * of).sum(axis=-1)
    dq, dk, dv = np.zeros_like(qf), np.zeros_like(kf), np.zeros_like(vf)

    def tile(rows, keys):
        ok = _visible(rows, keys, off, window)[None]
        sc = (qf[:, rows] @ kf[:, keys].transpose(0, 2, 1)) * scale
        p = np.where(ok, np.exp(np.where(ok, sc, 0) - lf[:, rows, None]), 0)
        dp = gf[:, rows] @ vf[:, keys].transpose(0, 2, 1)
        return p, p * (dp - delta[:, rows, None])

    for q0 in range(0, t, block_m):  # tg_flash_bwd_dq
        rows = np.arange(q0, min(q0 + block_m, t))
        kmax = rows[-1] + off
        kmin = max(0, q0 + off - window + 1) if window else 0
        for k0 in range((kmin // block_n) * block_n, kmax + 1, block_n):
            keys = np.arange(k0, min(k0 + block_n, s))
            _, ds = tile(rows, keys)
            dq[:, rows] += ds @ kf[:, keys]
    for k0 in range(0, s, block_m):  # tg_flash_bwd_dkdv
        keys = np.arange(k0, min(k0 + block_m, s))
        imin = max(0, k0 - off)
        imax = min(t - 1, keys[-1] + window - 1 - off) if window else t - 1
        for i0 in range((imin // block_n) * block_n, imax + 1, block_n):
            rows = np.arange(i0, min(i0 + block_n, t))
            p, ds = tile(rows, keys)
            dv[:, keys] += p.transpose(0, 2, 1) @ gf[:, rows]
            dk[:, keys] += ds.transpose(0, 2, 1) @ qf[:, rows]
    return (dq * scale).reshape(q.shape), (dk * scale).reshape(k.shape), dv.reshape(v.shape)

def cross_entropy_row_scale(g, targets, ignore_index: int, reduction: str, n_valid: int | None = None, xp=None):
    """The per-row factor of the CE gradient for an upstream gradient ``g``, as
    engine.ops.fused.CrossEntropy.backward: ``g_row`` ("none"), ``g`` ("sum"),
    ``g / max(n_valid, 1)`` ("mean"), times 0 on ignored rows. float32 (N,). Works on NumPy or CuPy.
    """
    if xp is None:
        from engine.backend import array_module

        xp = array_module(targets)
    valid = (targets.reshape(-1) != ignore_index).astype(np.float32)
    if reduction == "none":
        scale = xp.asarray(g, dtype=np.float32).reshape(-1) * valid
    elif reduction == "sum":
        scale = xp.asarray(g, dtype=np.float32) * valid
    elif reduction == "mean":
        if n_valid is None:
            n_valid = int(valid.sum())
        scale = (xp.asarray(g, dtype=np.float32) / np.float32(max(n_valid, 1))) * valid
    else:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return scale.astype(np.float32)


def cross_entropy_reduce(loss_rows, targets, ignore_index: int, reduction: str, dtype=None, xp=None):
    """Reduce per-row losses like engine.ops.fused.CrossEntropy -> ``(loss, n_valid)``.

    "none": the rows in ``targets``' shape; "sum": their sum; "mean": the sum over the number of
    non-ignored rows (NaN when there is none). Summed in float32, cast to ``dtype`` (the logits').
    ``n_valid`` is None except for "mean".
    """
    if xp is None:
        from engine.backend import array_module

        xp = array_module(loss_rows)
    dtype = np.dtype(dtype or loss_rows.dtype)
    if reduction == "none":
        return loss_rows.reshape(targets.shape).astype(dtype), None
    total = loss_rows.sum()
    if reduction == "sum":
        return total.astype(dtype), None
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n_valid = int((targets != ignore_index).sum())
    if n_valid:
        return (total / np.float32(n_valid)).astype(dtype), n_valid
    return (total * np.float32("nan")).astype(dtype), n_valid


def _decay_flags(n: int, decay_mask, decay_range, weight_decay: float, xp):
    if decay_mask is not None and decay_range is not None:
        raise ValueError("give decay_mask or decay_range, not both")
    if decay_mask is not None:
        return decay_mask.reshape(-1).astype(bool)
    lo, hi = decay_range if decay_range is not None else (0, n if weight_decay else 0)
    return (xp.arange(n) >= lo) & (xp.arange(n) < hi)
