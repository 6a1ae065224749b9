"""CUDA kernels through CuPy: ``.cu`` sources beside this file, compiled on first use, and thin launchers.

Checked on an NVIDIA H200 (CuPy 14.2, CUDA 13; 2026-11-26, bench/RESULTS.md): each kernel equals the
reference of its op (tests/engine/test_kernel_table.py, test_cuda_kernels.py, test_cuda_dispatch.py,
float32 and float16). At gpt2's shapes a forward + backward is 2.5-9x faster than the reference on
CuPy. Without a GPU the same CUDA source runs in tests/engine/cuda_emu.py's CPU emulator, and
``python scripts/nvrtc_check.py`` compiles it with NVRTC for sm_90.

===========================  =====================================================================
``common.cuh``               float16 loads/stores (PTX ``cvt``), warp and block reductions
``rows.cu``                  one block per row: softmax, layer norm, cross-entropy (fwd and bwd)
``flash.cu``                 causal (optionally banded) tiled attention, online softmax, saves LSE
                             (float32 math on CUDA cores, no tensor cores: memory O(T), not speed)
``gelu_*.cu``                GPT-2's tanh GELU (ElementwiseKernel bodies)
``adamw_update.cu``          AdamW over flat float32 buffers, in place, bit for bit the reference
===========================  =====================================================================

CuPy is imported inside the functions only, so importing this module never imports CuPy. The
kernels take float32 or float16 arrays; all arithmetic and every statistic (mean, rstd, LSE, loss
rows) is float32. ``adamw_flat`` is float32 only.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import numpy as np

from engine.kernels import register

MAX_HEAD_DIM = 128


_MAX_GRID_Y = 65535


def _cupy():
    import cupy

    return cupy


# =================================================================================================
# sources, loaded from this package's .cu files and compiled on first use
# =================================================================================================
def source_file(name: str) -> str:
    """The text of one of this package's .cu files."""
    return resources.files(__package__).joinpath(name).read_text()


def source(body: str, half: bool, defines: tuple = ()) -> str:
    """A whole compile unit: the dtype and shape defines, common.cuh, then ``body`` (rows.cu or flash.cu)."""
    head = f"#define TG_HALF {1 if half else 0}\n" + "".join(f"#define {k} {v}\n" for k, v in defines)
    return head + source_file("common.cuh") + source_file(body)


# ElementwiseKernel name -> (inputs, outputs, body)
_ADAMW_SCALARS = ("float32 decay_mul, float32 b1, float32 omb1, float32 b2, float32 omb2, "
                  "float32 sqrt_bc2, float32 eps, float32 step_size")
ELEMENTWISE = {
    "tg_gelu_fwd": ("T x", "T y", "gelu_forward.cu"),
    "tg_gelu_bwd": ("T x, T g", "T dx", "gelu_backward.cu"),
    "tg_adamw_mask": ("float32 g, bool decay, " + _ADAMW_SCALARS, "float32 p, float32 m, float32 v",
                      "const float tg_d = decay ? decay_mul : 1.0f;", "adamw_update.cu"),
    "tg_adamw_range": ("float32 g, " + _ADAMW_SCALARS + ", int64 d0, int64 d1", "float32 p, float32 m, float32 v",
                       "const float tg_d = (i >= d0 && i < d1) ? decay_mul : 1.0f;", "adamw_update.cu"),
}


def elementwise_source(name: str) -> tuple[str, str, str]:
    """(inputs, outputs, body) of an ElementwiseKernel."""
    ins, outs, *prefix, file = ELEMENTWISE[name]
    return ins, outs, "".join(prefix) + source_file(file)


@functools.cache
def _raw_kernel(name: str, half: bool, defines: tuple = ()):
    body = "flash.cu" if name.startswith("tg_flash") else "rows.cu"
    return _cupy().RawKernel(source(body, half, defines), name)


@functools.cache
def _elementwise(name: str):
    return _cupy().ElementwiseKernel(*elementwise_source(name), name)


def flash_config(head_dim: int) -> dict[str, int]:
    """Compile-time shape of the flash kernels for a head dim: HD, R rows per warp, NW warps.

    Rows per block is NW·R (16 for head dims up to 64, else 8); tiles are 32 keys (or queries).
    Shared memory stays under the 48 KiB static limit for every head dim up to 128.

    >>> flash_config(64)
    {'HD': 64, 'R': 4, 'NW': 4}
    """
    return {"HD": int(head_dim), "R": 4 if head_dim <= 64 else 2, "NW": 4}


def _row_block(c: int) -> int:
    """Threads per row: about four elements each, a multiple of 32, between 32 and 1024."""
    return int(min(1024, max(32, ((c + 3) // 4 + 31) // 32 * 32)))


def _float_kind(arr, what: str) -> bool:
    """True for float16, False for float32; raise for anything else."""
    if arr.dtype == np.float16:
        return True
    if arr.dtype == np.float32:
        return False
    raise TypeError(f"{what}: the CUDA kernels take float32 or float16, got {arr.dtype}")


def _rows(x):
    """A C-contiguous (N, C) view (or copy) of ``x`` (…, C) and the original shape."""
    cp = _cupy()
    x = cp.ascontiguousarray(x)
    c = x.shape[-1] if x.ndim else 1
    return x.reshape(-1, c), x.shape


def softmax(x):
    """Softmax over the LAST axis of a float32/float16 CuPy array, one block per row.

    Equals ``engine.ops.fused.Softmax`` with ``axis=-1``; the result has ``x``'s shape and dtype.
    """
    cp = _cupy()
    half = _float_kind(x, "softmax")
    x2, shape = _rows(x)
    y = cp.empty_like(x2)
    n, c = x2.shape
    if n and c:
        _raw_kernel("tg_softmax_fwd", half)((n,), (_row_block(c),), (x2, y, np.int64(c)))
    return y.reshape(shape)


def softmax_backward(y, g):
    """Gradient of softmax over the last axis: ``y * (g - sum(g * y, -1))`` from the output ``y``."""
    cp = _cupy()
    half = _float_kind(y, "softmax_backward")
    y2, shape = _rows(y)
    g2, _ = _rows(g.astype(y.dtype, copy=False))
    dx = cp.empty_like(y2)
    n, c = y2.shape
    if n and c:
        _raw_kernel("tg_softmax_bwd", half)((n,), (_row_block(c),), (y2, g2, dx, np.int64(c)))
    return dx.reshape(shape)


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5):
    """LayerNorm over the last axis -> ``(y, mean, rstd)``; mean and rstd are float32 of shape
    ``x.shape[:-1]``. ``weight``/``bias`` (C,) may be None. One block per row, three passes over
    the row (sum, centered sum of squares, write), as engine.ops.fused.LayerNorm computes them.
    """
    cp = _cupy()
    half = _float_kind(x, "layer_norm")
    x2, shape = _rows(x)
    n, c = x2.shape
    w = x2 if weight is None else cp.ascontiguousarray(weight.astype(x.dtype, copy=False))
    b = x2 if bias is None else cp.ascontiguousarray(bias.astype(x.dtype, copy=False))
    y = cp.empty_like(x2)
    mean = cp.empty(n, dtype=cp.float32)
    rstd = cp.empty(n, dtype=cp.float32)
    if n and c:
        _raw_kernel("tg_layernorm_fwd", half)(
            (n,), (_row_block(c),),
            (x2, w, b, y, mean, rstd, np.int64(c), np.float32(eps),
             np.int32(weight is not None), np.int32(bias is not None)),
        )
    return y.reshape(shape), mean.reshape(shape[:-1]), rstd.reshape(shape[:-1])


def layer_norm_backward(x, weight, mean, rstd, g, need_dx: bool = True, need_dw: bool = True,
                        need_db: bool = True):
    """``(dx, dw, db)`` of LayerNorm from the INPUT ``x`` and the saved float32 ``mean``/``rstd``.

    ``weight`` may be None (then dw is None). Entries not needed are None. dx: one block per row;
    dw, db: float32 column partial sums over chunks of 64 rows, summed by CuPy, cast to x's dtype.
    """
    cp = _cupy()
    half = _float_kind(x, "layer_norm_backward")
    x2, shape = _rows(x)
    g2, _ = _rows(g.astype(x.dtype, copy=False))
    n, c = x2.shape
    mean = cp.ascontiguousarray(mean.astype(cp.float32, copy=False)).reshape(-1)
    rstd = cp.ascontiguousarray(rstd.astype(cp.float32, copy=False)).reshape(-1)
    dx = dw = db = None
    if need_dx:
        w = x2 if weight is None else cp.ascontiguousarray(weight.astype(x.dtype, copy=False))
        dx = cp.empty_like(x2)
        if n and c:
            _raw_kernel("tg_layernorm_bwd_dx", half)(
                (n,), (_row_block(c),),
                (x2, w, mean, rstd, g2, dx, np.int64(c), np.int32(weight is not None)),
            )
        dx = dx.reshape(shape)
    if (need_dw and weight is not None) or need_db:
        rows_per_chunk = max(64, -(-n // _MAX_GRID_Y))
        chunks = max(1, -(-n // rows_per_chunk))
        pw = cp.zeros((chunks, c), dtype=cp.float32)
        pb = cp.zeros((chunks, c), dtype=cp.float32)
        if n and c:
            _raw_kernel("tg_layernorm_bwd_dwdb", half)(
                (-(-c // 256), chunks), (256,),
                (x2, mean, rstd, g2, pw, pb, np.int64(n), np.int64(c), np.int64(rows_per_chunk)),
            )
        if need_dw and weight is not None:
            dw = pw.sum(axis=0).astype(weight.dtype)
        if need_db:
            db = pb.sum(axis=0).astype(x.dtype)
    return dx, dw, db


def gelu(x):
    """GPT-2's GELU, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, float32 math (ElementwiseKernel)."""
    _float_kind(x, "gelu")
    return _elementwise("tg_gelu_fwd")(x)


def gelu_backward(x, g):
    """Gradient of the tanh GELU at ``x`` times ``g`` (recomputes tanh; saves nothing but ``x``)."""
    _float_kind(x, "gelu_backward")
    return _elementwise("tg_gelu_bwd")(x, g.astype(x.dtype, copy=False))


def _check_targets(t, n_class: int, ignore_index: int, xp) -> None:
    """Raise ValueError like engine.ops.fused.check_ids for a non-ignored target outside [0, n_class)."""
    bad = (t != ignore_index) & ((t < 0) | (t >= n_class))
    if bool(bad.any()):
        vals = t[bad]
        lo, hi = int(vals.min()), int(vals.max())
        raise ValueError(f"target id {lo if lo < 0 else hi} is out of range [0, {n_class})")


def cross_entropy(logits2d, targets, ignore_index: int = -100, check: bool = True):
    """Per-row softmax cross-entropy of (N, V) logits -> ``(loss_rows, lse)``, both float32 (N,).

    One block per row reads the row once (online max and sum of exponentials); ``loss_rows`` is
    ``lse - logits[row, target]`` and 0 where ``target == ignore_index``. No (N, V) array is
    allocated. ``check`` raises ValueError for a target outside [0, V) (one device sync).
    Reduce with :func:`cross_entropy_reduce`.
    """
    cp = _cupy()
    half = _float_kind(logits2d, "cross_entropy")
    if logits2d.ndim != 2:
        raise ValueError(f"cross_entropy kernel takes (N, V) logits, got shape {logits2d.shape}")
    x = cp.ascontiguousarray(logits2d)
    n, v = x.shape
    t = cp.ascontiguousarray(targets.reshape(-1).astype(cp.int64, copy=False))
    if t.shape[0] != n:
        raise ValueError(f"cross_entropy: {t.shape[0]} targets for {n} rows")
    if check:
        _check_targets(t, v, ignore_index, cp)
    loss = cp.zeros(n, dtype=cp.float32)
    lse = cp.zeros(n, dtype=cp.float32)
    if n and v:
        _raw_kernel("tg_ce_fwd", half)((n,), (_row_block(v),),
                                       (x, t, loss, lse, np.int64(v), np.int64(ignore_index)))
    return loss, lse


def cross_entropy_backward(logits2d, lse, targets, scale_rows, ignore_index: int = -100, out=None):
    """``(softmax(logits) - onehot(target)) * scale_rows[:, None]`` as ONE (N, V) array of logits' dtype.

    Rows whose target is ``ignore_index`` are zero. ``out`` may be a preallocated (N, V) buffer or
    ``logits2d`` itself (in place: each element is read before it is written by the same thread).
    """
    cp = _cupy()
    half = _float_kind(logits2d, "cross_entropy_backward")
    x = cp.ascontiguousarray(logits2d)
    n, v = x.shape
    if out is None:
        out = cp.empty_like(x)
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError("cross_entropy_backward: out must be a C-contiguous array of the logits' shape and dtype")
    t = cp.ascontiguousarray(targets.reshape(-1).astype(cp.int64, copy=False))
    lse = cp.ascontiguousarray(lse.astype(cp.float32, copy=False)).reshape(-1)
    scale = cp.ascontiguousarray(cp.asarray(scale_rows, dtype=cp.float32)).reshape(-1)
    if n and v:
        _raw_kernel("tg_ce_bwd", half)((n,), (_row_block(v),),
                                       (x, lse, t, scale, out, np.int64(v), np.int64(ignore_index)))
    return out


def adamw_constants(step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float) -> dict:
    """The float32 scalars of one AdamW step, rounded from float64 exactly as NumPy/CuPy round the
    Python floats of nn.optim.AdamW's array expressions (NEP 50: a Python float meets a float32
    array as float32)."""
    if step < 1:
        raise ValueError(f"AdamW step counts from 1, got {step}")
    f = np.float32
    return {
        "decay_mul": f(1 - lr * weight_decay), "b1": f(beta1), "omb1": f(1 - beta1), "b2": f(beta2),
        "omb2": f(1 - beta2), "sqrt_bc2": f(math.sqrt(1 - beta2**step)), "eps": f(eps),
        "step_size": f(lr / (1 - beta1**step)),
    }


def adamw_flat(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
               weight_decay: float = 0.0, decay_mask=None, decay_range: tuple[int, int] | None = None) -> None:
    """One AdamW step IN PLACE on flat, contiguous float32 CuPy buffers (param, exp_avg, exp_avg_sq),
    one ElementwiseKernel for the whole model.

    Math, in nn.optim.AdamW's order with one float32 rounding per operation (bit-for-bit equal to it):
    ``p *= 1 - lr*wd`` (only where decay applies), ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g*g``, ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.
    Decay applies where ``decay_mask`` (bool, one per element) is True, or on the contiguous
    ``decay_range=(start, stop)``; with neither, everywhere when ``weight_decay`` is non-zero.
    ``step`` is the 1-based step count after incrementing, like nn.optim's ``state["step"]``.
    One lr for every element: parameter groups with different lr need one call each.
    """
    cp = _cupy()
    n = param.size
    for name, a in (("param", param), ("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        if a.dtype != np.float32 or a.ndim != 1 or a.size != n or not a.flags.c_contiguous:
            raise ValueError(f"adamw_flat: {name} must be a flat contiguous float32 array of {n} elements, "
                             f"got {a.dtype} {a.shape}")
    c = adamw_constants(step, lr, betas[0], betas[1], eps, weight_decay)
    scalars = (c["decay_mul"], c["b1"], c["omb1"], c["b2"], c["omb2"], c["sqrt_bc2"], c["eps"], c["step_size"])
    if decay_mask is not None:
        if decay_range is not None:
            raise ValueError("give decay_mask or decay_range, not both")
        mask = cp.ascontiguousarray(decay_mask.reshape(-1).astype(cp.bool_, copy=False))
        if mask.size != n:
            raise ValueError(f"adamw_flat: decay_mask has {mask.size} elements, expected {n}")
        _elementwise("tg_adamw_mask")(grad, mask, *scalars, param, exp_avg, exp_avg_sq)
    else:
        lo, hi = decay_range if decay_range is not None else (0, n if weight_decay else 0)
        _elementwise("tg_adamw_range")(grad, *scalars, np.int64(lo), np.int64(hi), param, exp_avg, exp_avg_sq)


def flash_supported(q, k, v, dropout_p: float = 0.0, mask=None, causal: bool = True) -> bool:
    """Whether :func:`flash_attention` handles this call: causal, no extra mask, no dropout,
    float32/float16 q, k, v of one dtype, head dim a multiple of 4 up to 128, equal q/k/v head
    dims, and no more queries than keys. Otherwise use the composed path."""
    if not causal or mask is not None or dropout_p > 0:
        return False
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (np.float32, np.float16):
        return False
    d = q.shape[-1]
    if q.ndim < 2 or k.shape[-1] != d or v.shape[-1] != d or d % 4 or d > MAX_HEAD_DIM or d < 4:
        return False
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1]:
        return False
    return q.shape[-2] <= k.shape[-2]


def _flash_args(q, k, v, window, scale):
    if not flash_supported(q, k, v):
        raise ValueError(f"flash_attention does not support q {q.shape} {q.dtype}, k {k.shape} {k.dtype}, "
                         f"v {v.shape} {v.dtype} (see flash_supported)")
    if window is not None and window < 1:
        raise ValueError(f"attention window must be >= 1, got {window}")
    d = q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    return d, int(window or 0), np.float32(scale)


def _launch_bh(kernel, grid_x: int, bh: int, block: int, args: tuple) -> None:
    """Launch over (grid_x, bh) blocks, splitting bh into chunks of at most 65535 (grid.y's limit)."""
    for bh0 in range(0, bh, _MAX_GRID_Y):
        kernel((grid_x, min(_MAX_GRID_Y, bh - bh0)), (block,), args + (np.int64(bh0),))


def flash_attention(q, k, v, window: int | None = None, scale: float | None = None):
    """Causal attention ``softmax(q kᵀ·scale, masked) v`` without materializing (T, S) -> ``(out, lse)``.

    q (…, T, D), k and v (…, S, D) float32 or float16 CuPy arrays (copied to contiguous if they
    are not), T <= S: queries are the LAST T of the S positions, so query i sees key j iff
    ``j <= i + S - T`` and, with ``window``, ``j > i + S - T - window`` (engine.functional's mask).
    ``lse`` is the float32 (…, T) log-sum-exp of the scaled, masked scores, for the backward.
    Tiled online softmax (FlashAttention-2 style, CUDA cores, float32 math); memory O(T·D).
    """
    cp = _cupy()
    d, window, scale = _flash_args(q, k, v, window, scale)
    half = q.dtype == np.float16
    *lead, t, _ = q.shape
    s = k.shape[-2]
    bh = int(np.prod(lead)) if lead else 1
    qc = cp.ascontiguousarray(q).reshape(bh, t, d)
    kc = cp.ascontiguousarray(k).reshape(bh, s, d)
    vc = cp.ascontiguousarray(v).reshape(bh, s, d)
    out = cp.empty_like(qc)
    lse = cp.empty((bh, t), dtype=cp.float32)
    cfg = flash_config(d)
    bm = cfg["NW"] * cfg["R"]
    if bh and t:
        kern = _raw_kernel("tg_flash_fwd", half, tuple(cfg.items()))
        _launch_bh(kern, -(-t // bm), bh, cfg["NW"] * 32,
                   (qc, kc, vc, out, lse, np.int32(t), np.int32(s), np.int32(window), scale))
    return out.reshape(q.shape), lse.reshape(*lead, t)


def flash_attention_backward(q, k, v, out, lse, g, window: int | None = None, scale: float | None = None):
    """``(dq, dk, dv)`` of :func:`flash_attention` for the upstream gradient ``g`` (…, T, D).

    P is recomputed tile by tile from q, k and the saved ``lse``; ``delta = rowsum(g * out)``
    is the only extra (…, T) array. Two kernels, no atomics: a query-parallel one for dq and a
    key-parallel one for dk, dv.
    """
    cp = _cupy()
    d, window, scale = _flash_args(q, k, v, window, scale)
    half = q.dtype == np.float16
    *lead, t, _ = q.shape
    s = k.shape[-2]
    bh = int(np.prod(lead)) if lead else 1
    qc = cp.ascontiguousarray(q).reshape(bh, t, d)
    kc = cp.ascontiguousarray(k).reshape(bh, s, d)
    vc = cp.ascontiguousarray(v).reshape(bh, s, d)
    gc = cp.ascontiguousarray(g.astype(q.dtype, copy=False)).reshape(bh, t, d)
    oc = cp.ascontiguousarray(out).reshape(bh, t, d)
    lsec = cp.ascontiguousarray(lse.astype(cp.float32, copy=False)).reshape(bh, t)
    delta = cp.ascontiguousarray((gc.astype(cp.float32, copy=False) * oc.astype(cp.float32, copy=False)).sum(axis=-1))
    dq = cp.empty_like(qc)
    dk = cp.empty_like(kc)
    dv = cp.empty_like(vc)
    cfg = flash_config(d)
    bm = cfg["NW"] * cfg["R"]
    defines = tuple(cfg.items())
    if bh and t:
        common = (qc, kc, vc, gc, lsec, delta)
        tail = (np.int32(t), np.int32(s), np.int32(window), scale)
        _launch_bh(_raw_kernel("tg_flash_bwd_dq", half, defines), -(-t // bm), bh, cfg["NW"] * 32,
                   common + (dq,) + tail)
        _launch_bh(_raw_kernel("tg_flash_bwd_dkdv", half, defines), -(-s // bm), bh, cfg["NW"] * 32,
                   common + (dk, dv) + tail)
    else:
        dk[...] = 0
        dv[...] = 0
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)



# =================================================================================================
# the table: each pair takes and returns what its op's reference does (engine/ops/fused.py, optim.py)
# =================================================================================================
def _adamw(p, m, v, g, lr, betas, eps, weight_decay, step, decoupled=True):
    """The table's AdamW: ``adamw_flat`` for decoupled float32, the reference otherwise."""
    if not decoupled or any(a.dtype != np.float32 for a in (p, m, v, g)):
        from engine.ops.optim import adamw

        return adamw(p, m, v, g, lr, betas, eps, weight_decay, step, decoupled)
    return lambda lo, hi: adamw_flat(p, g, m, v, step, lr, betas, eps, weight_decay)


def _flash_forward(q, k, v, window, scale):
    """flash_attention, or None where it does not apply (the op then runs its reference)."""
    return flash_attention(q, k, v, window, scale) if flash_supported(q, k, v) else None


register("softmax", "cuda", softmax, softmax_backward)
register("layer_norm", "cuda", layer_norm, layer_norm_backward)
register("gelu", "cuda", gelu, gelu_backward)
register("cross_entropy", "cuda", functools.partial(cross_entropy, check=False), cross_entropy_backward)
register("attention", "cuda", _flash_forward, flash_attention_backward)
register("adamw", "cuda", _adamw)
