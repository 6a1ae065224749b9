"""Fused ops: one forward and one analytic backward each, for speed and memory.

Each op's ``forward`` and ``backward`` are its readable reference, written once against ``xp``.
A speed kernel for it may sit in engine/kernels/<backend>/; the op looks the (forward, backward)
pair up once (``lookup``) and runs it in place of the reference, with the same inputs, outputs
and saved arrays. Each op equals its composition from primitives (tests/engine/test_fused.py),
and each kernel equals its op's reference (tests/engine/test_kernel_table.py).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from engine.backend import array_module, device_of, erf, scatter_add
from engine.function import Function
from engine.kernels import lookup
from engine.ops.elementwise import column_sums
from engine.parallel import parallel_batched
from engine.rng import generator

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)  # GELU's tanh approximation: u = SQRT_2_OVER_PI·(a + GELU_C·a³)
GELU_C = 0.044715


class Softmax(Function):
    """softmax over ``axis``; backward from the saved output y."""

    def forward(self, x, axis=-1):
        self.axis = axis
        self.kernel = lookup("softmax", x) if x.ndim and axis in (-1, x.ndim - 1) and x.size else None
        if x.size == 0:  # nothing to normalize (max has no identity)
            y = x.copy()
        elif self.kernel:
            y = self.kernel[0](x)
        else:
            y = x - x.max(axis=axis, keepdims=True)
            self.xp.exp(y, out=y)
            y /= y.sum(axis=axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        if self.kernel:
            return self.kernel[1](y, g)
        gy = g * y  # dx = y·(g − Σ g·y)
        gy -= y * gy.sum(axis=self.axis, keepdims=True)
        return gy


class LogSoftmax(Function):
    def forward(self, x, axis=-1):
        xp = self.xp
        y = x - (x.max(axis=axis, keepdims=True) if x.size else 0)
        y -= xp.log(xp.exp(y).sum(axis=axis, keepdims=True))
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        return g - self.xp.exp(y) * g.sum(axis=self.axis, keepdims=True)


class IdOutOfRange(IndexError, ValueError):
    """An id outside [0, n): torch's IndexError (a ValueError too, as the engine raised before)."""


def check_ids(ids, n: int, what: str) -> None:
    """Raise IdOutOfRange naming the first id outside [0, n), in torch's words."""
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        torch_words = f"Target {bad} is out of bounds." if what == "target id" else "index out of range in self"
        raise IdOutOfRange(f"{torch_words} ({what} {bad} is out of range [0, {n}))")


class CrossEntropy(Function):
    """Softmax cross-entropy over the last axis of ``logits`` (…, C) with int targets (…).

    The (N, C) softmax is recomputed in backward from the saved logits and log-sum-exp, so no
    extra (N, C) array lives between forward and backward. The kernel pair replaces the per-row
    part: forward ``(logits (N, C), targets (N,), ignore_index) -> (loss rows (N,), lse (N,))``,
    backward ``(logits, lse, targets, row scale (N,), ignore_index) -> dlogits (N, C)``.
    """

    def forward(self, logits, targets=None, ignore_index=-100, reduction="mean"):
        xp = self.xp
        n_class = logits.shape[-1]
        flat, t = logits.reshape(-1, n_class), targets.reshape(-1)  # (N, C), (N,)
        valid = t != ignore_index
        check_ids(t[valid], n_class, "target id")
        self.kernel = lookup("cross_entropy", logits)
        if self.kernel:
            loss, lse = self.kernel[0](flat, t, ignore_index)
        else:  # lse = log Σ exp(logits) per row, loss = lse − the target's logit
            m = flat.max(axis=1, keepdims=True)
            shifted = flat - m
            xp.exp(shifted, out=shifted)
            lse = xp.log(shifted.sum(axis=1)) + m[:, 0]  # (N,)
            loss = (lse - flat[xp.arange(flat.shape[0]), xp.where(valid, t, 0)]) * valid
        self.save_for_backward(logits, lse)
        self.t, self.valid, self.ignore_index, self.reduction = t, valid, ignore_index, reduction
        if reduction == "none":
            return loss.reshape(targets.shape).astype(logits.dtype, copy=False)
        if reduction == "sum":
            return loss.sum().astype(logits.dtype, copy=False)
        self.n_valid = int(valid.sum())
        total = loss.sum() / loss.dtype.type(self.n_valid) if self.n_valid else loss.sum() * loss.dtype.type("nan")
        return total.astype(logits.dtype, copy=False)

    def backward(self, g):
        logits, lse = self.saved
        xp = self.xp
        flat = logits.reshape(-1, logits.shape[-1])
        if self.reduction == "none":  # each row's factor: g's entry, g, or g / n_valid; 0 on ignored rows
            scale = g.reshape(-1) * self.valid
        elif self.reduction == "sum":
            scale = g * self.valid
        else:
            scale = (g / max(self.n_valid, 1)) * self.valid
        if self.kernel:
            return self.kernel[1](flat, lse, self.t, scale, self.ignore_index).reshape(logits.shape)
        grad = flat - lse[:, None]  # (softmax − onehot) · scale
        xp.exp(grad, out=grad)
        grad[xp.arange(flat.shape[0]), xp.where(self.valid, self.t, 0)] -= 1
        grad *= scale.astype(grad.dtype)[:, None]
        return grad.reshape(logits.shape)



class BinaryCrossEntropy(Function):
    """Elementwise -(t log x + (1 - t) log(1 - x)) of probabilities x, both logs clamped at -100,
    with torch's gradients rather than the clamp's: dx = (x - t) / max((1 - x) x, 1e-12), finite
    at x = 0 and 1 where the composed logs give nan, and dt = -logit(x)."""

    EPSILON = np.float32(1e-12)  # torch's clamp of (1 - x) x in binary_cross_entropy_backward, a float32 constant

    def forward(self, x, t):
        self.save_for_backward(x, t)
        xp = self.xp
        with np.errstate(divide="ignore"):  # log 0 = -inf, then clamped: no warning, as torch
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, g):
        x, t = self.saved
        xp = self.xp
        gx = gt = None
        if self.needs_input_grad[0]:
            gx = g * (x - t) / xp.maximum((1 - x) * x, x.dtype.type(self.EPSILON))
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                gt = -g * (xp.log(x) - xp.log1p(-x))
        return gx, gt

class LayerNorm(Function):
    """LayerNorm over the last axis; ``weight``/``bias`` (C,) may be None. Saves x, weight and the
    row statistics mean, rstd (…,): ``forward(x, weight, bias, eps) -> (y, mean, rstd)`` and
    ``backward(x, weight, mean, rstd, g, need_x, need_w, need_b) -> (gx, gw, gb)`` are the kernel pair.

    float16 is normalized in float32 and rounded once at the end, as torch does: on a row of
    close values ``x - mean`` cancels most of float16's ~3 digits.
    """

    def forward(self, x, weight=None, bias=None, eps=1e-5):
        xp = self.xp
        self.dtypes = [None if a is None else a.dtype for a in (x, weight, bias)]
        self.kernel = lookup("layer_norm", x, weight, bias) if x.ndim and x.size else None
        if self.kernel:
            y, mean, rstd = self.kernel[0](x, weight, bias, eps)
        else:
            work = xp.dtype("float32") if x.dtype.itemsize < 4 else x.dtype
            C = x.shape[-1]
            x2 = x.astype(work, copy=False).reshape(-1, C)  # (N, C)
            # Row sums by einsum: 3x NumPy's .sum(-1) on rows this short, and x·x without a temporary.
            mean = xp.einsum("nc->n", x2) * work.type(1 / C)  # (N,)
            xhat = x2 - mean[:, None]
            var = xp.einsum("nc,nc->n", xhat, xhat)
            var *= work.type(1 / C)
            var += work.type(eps)
            rstd = xp.reciprocal(xp.sqrt(var, out=var), out=var)  # (N,)
            xhat *= rstd[:, None]
            y = xhat * weight.astype(work, copy=False) if weight is not None else xhat
            if bias is not None:
                y += bias
            y = y.reshape(x.shape).astype(x.dtype, copy=False)
            mean, rstd = mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1])
        self.save_for_backward(x, weight, mean, rstd)
        return y

    def backward(self, g):
        x, weight, mean, rstd = self.saved
        need_x, need_w, need_b = self.needs_input_grad
        if self.kernel:
            grads = self.kernel[1](x, weight, mean, rstd, g, need_x, need_w, need_b)
        else:
            xp = self.xp
            C = x.shape[-1]
            work = mean.dtype
            x2, g2 = x.astype(work, copy=False).reshape(-1, C), g.astype(work, copy=False).reshape(-1, C)  # (N, C)
            rstd2 = rstd.reshape(-1, 1)  # (N, 1)
            xhat = x2 - mean.reshape(-1, 1)
            xhat *= rstd2
            gx = gw = gb = None
            if need_b:
                gb = column_sums(g2)
            if need_w:
                gw = xp.einsum("nc,nc->c", g2, xhat)
            if need_x:  # gx = rstd · (gxhat − mean(gxhat) − xhat · mean(gxhat · xhat)), gxhat = g·w
                gx = g2 * weight.astype(work, copy=False) if weight is not None else g2.copy()
                inv_c = work.type(1 / C)
                proj = xp.einsum("nc,nc->n", gx, xhat)[:, None]
                proj *= inv_c
                gx -= (xp.einsum("nc->n", gx) * inv_c)[:, None]
                gx -= xhat * proj
                gx *= rstd2
                gx = gx.reshape(x.shape)
            grads = (gx, gw, gb)
        return tuple(None if a is None else a.astype(d, copy=False) for a, d in zip(grads, self.dtypes))


def _gelu_tanh_h(xp, a):
    """h = (1 + tanh u)/2 = 1/(1 + exp(−2u)), u = SQRT_2_OVER_PI·(a + GELU_C·a³): exp costs half
    of tanh in NumPy, and where exp(−2u) overflows to inf, h = 0 as it should."""
    with np.errstate(over="ignore"):
        e = xp.exp(a * (-2 * SQRT_2_OVER_PI) * (1 + GELU_C * a * a))
    return 1 / (1 + e)


def attend_one_query(q, k, v, start: int, stop: int, scale: float, out) -> None:
    """One decode step's attention on raw arrays, in place: out (B, nh, hs) = softmax(scale ·
    k[:, :, start:stop] @ q) @ v[:, :, start:stop] for one query per (batch, head) against a KV cache
    k, v (B, nh, S_max, hs). No graph, no mask, no (T, S) scores: GPT.generate's speed path.

    >>> q = np.ones((1, 1, 2)); kv = np.zeros((1, 1, 4, 2)); kv[0, 0, :2] = [[1, 0], [0, 1]]
    >>> out = np.empty((1, 1, 2)); attend_one_query(q, kv, kv, 0, 2, 1.0, out); out.tolist()
    [[[0.5, 0.5]]]
    """
    kernel = lookup("attention_decode", q, k, v)
    if kernel:
        return kernel[0](q, k, v, start, stop, q.dtype.type(scale), out)
    xp = array_module(q)
    s = xp.einsum("bhsd,bhd->bhs", k[:, :, start:stop], q) * q.dtype.type(scale)  # (B, nh, S)
    s = xp.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    out[...] = xp.einsum("bhs,bhsd->bhd", s, v[:, :, start:stop])


class Gelu(Function):
    """GELU: GPT-2's tanh approximation (with kernels) or exact ``x·Φ(x)`` with approximate="none".

    tanh: out = a·h, h = (1 + tanh u)/2; backward recomputes h from a, so only a is saved.
    """

    def forward(self, a, approximate: str = "tanh"):
        if approximate not in ("tanh", "none"):
            raise ValueError(f"gelu approximate must be 'tanh' or 'none', got {approximate!r}")
        if a.dtype.kind == "c":
            raise NotImplementedError(f"gelu: complex tensors are not supported (got {a.dtype})")
        self.approximate = approximate
        self.save_for_backward(a)
        self.kernel = lookup("gelu", a) if approximate == "tanh" else None
        if self.kernel:
            return self.kernel[0](a)
        if approximate == "none":
            return 0.5 * a * (1 + erf(a * (1 / math.sqrt(2))))
        return a * _gelu_tanh_h(self.xp, a)

    def backward(self, g):
        (a,) = self.saved
        if self.kernel:
            return self.kernel[1](a, g)
        xp = self.xp
        if self.approximate == "none":
            cdf = 0.5 * (1 + erf(a * (1 / math.sqrt(2))))
            pdf = xp.exp(-0.5 * a * a) * (1 / math.sqrt(2 * math.pi))
            return g * (cdf + a * pdf)
        # With t = 2h − 1: d/da = h + a·(1 − t²)·k·(1 + 3c·a²)/2 = h·(1 + 2k·a·(1 + 3c·a²)·(1 − h))
        h = _gelu_tanh_h(xp, a)
        return g * (h * (1 + 2 * SQRT_2_OVER_PI * a * (1 + 3 * GELU_C * a * a) * (1 - h)))


class Embedding(Function):
    """Rows of ``weight`` (V, D) picked by integer ``ids``; backward scatter-adds."""

    def forward(self, weight, ids=None):
        check_ids(ids, weight.shape[0], "token id")
        self.ids, self.w_shape = ids, weight.shape
        self.kernel = lookup("embedding", weight)
        if self.kernel:
            return self.kernel[0](weight, ids)
        return weight[ids]

    def backward(self, g):
        if self.kernel and lookup("embedding", g):
            return self.kernel[1](self.ids, self.w_shape, g)
        grad = self.xp.zeros(self.w_shape, dtype=g.dtype)
        scatter_add(grad, self.ids.reshape(-1), g.reshape(-1, self.w_shape[1]))
        return grad


def dropout_mask(shape, p: float, dtype, xp, device: str):
    """Inverted-dropout scale: 0 with probability p, else 1/(1-p)."""
    keep = generator(device).random(shape, dtype="float32") >= p
    return keep.astype(dtype) * dtype.type(1 / (1 - p))


class Dropout(Function):
    def forward(self, x, p=0.5):
        self.mask = dropout_mask(x.shape, p, x.dtype, self.xp, device_of(x))
        return x * self.mask

    def backward(self, g):
        return g * self.mask


ATTENTION_BLOCK = 64  # query rows per block (32 was slower at T = 256: smaller GEMMs, more calls)


def query_blocks(masked, T: int, S: int, xp) -> list[tuple[int, int, int, int]]:
    """[(t0, t1, k0, k1)]: query rows t0:t1 attend only keys k0:k1, the rest of their rows masked.

    With a causal mask, block i skips the keys after its last query: about half of qkᵀ, the
    softmax and p·v. One block (0, T, 0, S) without a shared (T, S) mask, on CuPy, or for short T.

    >>> query_blocks(~np.tril(np.ones((256, 256), bool)), 256, 256, np)
    [(0, 64, 0, 64), (64, 128, 0, 128), (128, 192, 0, 192), (192, 256, 0, 256)]
    """
    if masked is None or masked.ndim != 2 or xp is not np or T < 2 * ATTENTION_BLOCK:
        return [(0, T, 0, S)]
    blocks = []
    for t0 in range(0, T, ATTENTION_BLOCK):
        t1 = min(T, t0 + ATTENTION_BLOCK)
        seen = np.flatnonzero(~masked[t0:t1].all(axis=0))  # keys some query of the block sees
        k0, k1 = (int(seen[0]), int(seen[-1]) + 1) if len(seen) else (0, S)
        blocks.append((t0, t1, k0, k1))
    return blocks


def softmax_rows_(xp, s, bias, scale) -> None:
    """s (…, T, S) ← softmax(s · scale + bias) over its last axis, in place. ``bias`` is an
    additive 0 / -inf mask broadcastable to s (one add, 2.5x faster than copyto(where=)), or None."""
    shared = bias is None or (bias.ndim == 2 and bias.shape[-1] == s.shape[-1])  # one (T, S) mask for all
    kernel = lookup("attention_softmax", s, bias) if shared and s.flags.c_contiguous else None
    if kernel:
        kernel[0](s, bias, scale)
        return
    s *= s.dtype.type(scale)
    if bias is not None:
        s += bias
    s -= s.max(axis=-1, keepdims=True)
    xp.exp(s, out=s)
    r = xp.einsum("...s->...", s)[..., None]  # row sums: einsum is 3x .sum(-1) on short rows
    s *= xp.reciprocal(r, out=r)


def softmax_rows_backward_(xp, gs, p, scale) -> None:
    """gs (…, T, S) ← p · (gs − Σ gs·p) · scale in place: from dL/dp to dL/d(scores)."""
    kernel = lookup("attention_softmax", gs, p) if gs.flags.c_contiguous and p.flags.c_contiguous else None
    if kernel:
        kernel[1](gs, p, scale)
        return
    gs -= xp.einsum("...s,...s->...", gs, p)[..., None]  # the row dot without a temporary
    gs *= p
    gs *= gs.dtype.type(scale)


def _matmul_into(xp, a, b, out) -> None:
    """out[...] = a @ b, straight into ``out`` (any strides) on NumPy. CuPy takes the copy: its
    matmul's ``out=`` on strided views is not verified on hardware."""
    if xp is np:
        np.matmul(a, b, out=out)
    else:
        out[...] = a @ b


def _mask_bias(masked, dtype, xp):
    """The bool mask as an additive bias: -inf where masked, else 0."""
    return xp.where(masked, dtype.type(-math.inf), dtype.type(0))


def _forward_block(xp, q, k, v, y, p, block, bias, drop, scale, lo, hi) -> None:
    """Query rows t0:t1 of batch entries lo:hi: p ← softmax(q kᵀ · scale + bias), y ← p v (dropped)."""
    t0, t1, k0, k1 = block
    pb = p[lo:hi]
    _matmul_into(xp, q[lo:hi, ..., t0:t1, :], xp.swapaxes(k[lo:hi, ..., k0:k1, :], -1, -2), pb)
    softmax_rows_(xp, pb, bias if bias is None or bias.ndim == 2 else bias[lo:hi], scale)
    pd = pb if drop is None else pb * drop[lo:hi, ..., t0:t1, k0:k1]
    _matmul_into(xp, pd, v[lo:hi, ..., k0:k1, :], y[lo:hi, ..., t0:t1, :])


def attention_forward(fn: Function, q, k, v, keep, dropout_p: float, scale, out=None):
    """softmax(q kᵀ · scale, masked) v on arrays, written into ``out`` (…, T, Dv) if given (any
    strides, e.g. a head-transposed view); keeps on ``fn`` what backward needs.

    Each block of query rows is split over the first axis (the batch) by ``parallel_batched``:
    each share runs its q kᵀ, softmax and p·v while they are in cache, on one BLAS thread. The
    table's "attention_blocks" kernel (one mask for all entries, no dropout) does the same blocks
    in one ``parallel_batched`` call, with the same ``fn.p``; backward then runs its pair.
    """
    xp = fn.xp
    fn.scale = scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    if q.ndim == 2:  # no batch axis to split: add one
        y = attention_forward(fn, q[None], k[None], v[None], keep, dropout_p, scale,
                              None if out is None else out[None])
        return y[0]
    T, S = q.shape[-2], k.shape[-2]
    lead = q.shape[:-2]
    masked = None
    if keep is not None:
        masked = ~xp.broadcast_to(keep, keep.shape[:-2] + (T, S))
        if masked.size == T * S:  # one (T, S) mask for every head: the usual causal case
            masked = masked.reshape(T, S) if masked.any() else None  # None: a decoding step sees all keys
        else:  # a mask per batch entry or head
            masked = xp.broadcast_to(masked, lead + (T, S))
    fn.blocks = query_blocks(masked, T, S, xp)
    fn.drop = dropout_mask(lead + (T, S), dropout_p, q.dtype, xp, device_of(q)) if dropout_p > 0 else None
    fn.p = []
    y = xp.empty(lead + (T, v.shape[-1]), dtype=q.dtype) if out is None else out
    biases = []
    for t0, t1, k0, k1 in fn.blocks:
        m = None if masked is None else masked[..., t0:t1, k0:k1]  # per batch entry: one block, all of it
        biases.append(_mask_bias(m, q.dtype, xp) if m is not None and m.any() else None)
    # the table's kernel runs all blocks at once: one mask for all entries, no dropout
    fn.block_kernel = lookup("attention_blocks", q, k, v) if fn.drop is None and (
        masked is None or masked.ndim == 2) else None
    if fn.block_kernel:
        fn.p = fn.block_kernel[0](q, k, v, fn.blocks, biases, scale, y)
        return y
    for (t0, t1, k0, k1), bias in zip(fn.blocks, biases):
        p = xp.empty(lead + (t1 - t0, k1 - k0), dtype=q.dtype)
        block = functools.partial(_forward_block, xp, q, k, v, y, p, (t0, t1, k0, k1), bias, fn.drop, scale)
        parallel_batched(xp, lead[0], block, p[0].size)
        fn.p.append(p)
    return y


def _backward_block(xp, q, k, v, g, p, block, drop, scale, grads, one, lo, hi) -> None:
    """Query rows t0:t1 of batch entries lo:hi: their gq, and their part of gk and gv."""
    t0, t1, k0, k1 = block
    gq, gk, gv = grads
    gb, qb, kb, vb, pb = (g[lo:hi, ..., t0:t1, :], q[lo:hi, ..., t0:t1, :], k[lo:hi, ..., k0:k1, :],
                          v[lo:hi, ..., k0:k1, :], p[lo:hi])
    drop = None if drop is None else drop[lo:hi, ..., t0:t1, k0:k1]
    pd = pb if drop is None else pb * drop
    gs = gb @ xp.swapaxes(vb, -1, -2)  # dL/dp, then dL/d(scores) in place
    if drop is not None:
        gs *= drop
    softmax_rows_backward_(xp, gs, pb, scale)
    _matmul_into(xp, gs, kb, gq[lo:hi, ..., t0:t1, :])
    if one:
        _matmul_into(xp, xp.swapaxes(gs, -1, -2), qb, gk[lo:hi])
        _matmul_into(xp, xp.swapaxes(pd, -1, -2), gb, gv[lo:hi])
    else:  # blocks share keys: add
        gk[lo:hi, ..., k0:k1, :] += xp.swapaxes(gs, -1, -2) @ qb
        gv[lo:hi, ..., k0:k1, :] += xp.swapaxes(pd, -1, -2) @ gb


def attention_backward(fn: Function, q, k, v, g, out=None):
    """(gq, gk, gv) for ``attention_forward``'s output gradient ``g``, written into ``out`` =
    (gq, gk, gv) arrays if given (any strides, e.g. views of one dqkv array)."""
    xp = fn.xp
    if q.ndim == 2:
        grads = attention_backward(fn, q[None], k[None], v[None], g[None],
                                   None if out is None else tuple(a[None] for a in out))
        return tuple(a[0] for a in grads)
    one = len(fn.blocks) == 1
    grads = (xp.empty_like(q), xp.empty_like(k), xp.empty_like(v)) if out is None else out
    if fn.block_kernel:
        fn.block_kernel[1](q, k, v, g, fn.p, fn.blocks, fn.scale, grads)
        return grads
    if not one:
        grads[1][...] = 0
        grads[2][...] = 0
    for block, p in zip(fn.blocks, fn.p):
        part = functools.partial(_backward_block, xp, q, k, v, g, p, block, fn.drop, fn.scale, grads, one)
        parallel_batched(xp, q.shape[0], part, p[0].size)
    return grads


def _flash_attention(fn: Function, q, k, v, causal: bool, dropout_p: float, window, scale):
    """The output of the table's "attention" kernel where it runs this call (causal, no extra mask, no
    dropout, shapes it supports), keeping on ``fn`` what its backward needs; else None."""
    fn.kernel = lookup("attention", q, k, v) if causal and not dropout_p else None
    out = fn.kernel[0](q, k, v, window, scale) if fn.kernel else None
    if out is None:
        fn.kernel = None
        return None
    fn.out, fn.lse = out
    fn.window, fn.scale = window, scale
    return fn.out


def _flash_attention_backward(fn: Function, q, k, v, g):
    return fn.kernel[1](q, k, v, fn.out, fn.lse, g, fn.window, fn.scale)


class ScaledDotProductAttention(Function):
    """softmax(q kᵀ · scale + mask) v with optional dropout on the weights.

    q (…, T, D), k (…, S, D), v (…, S, Dv). ``keep`` is a bool mask broadcastable to
    (…, T, S), True where a query may attend to a key. Saves the (…, T, S) weights, except where the
    table has an "attention" kernel (CUDA), ``causal`` says keep is exactly ``attention_mask(T, S,
    window)`` and there is no dropout: then the flash kernels keep only the output and its
    log-sum-exp, memory O(T).

    The reference math, per block of query rows, is ``_forward_block`` (p = softmax(q kᵀ·scale +
    bias), y = p v) and ``_backward_block`` (dp = g vᵀ, ds = p·(dp − Σ dp·p)·scale, dq = ds k,
    dk = dsᵀ q, dv = pᵀ g); ``attention_forward``/``attention_backward`` only cut the work into
    blocks (causal ones skip masked keys) and share them out to the threads.
    """

    def forward(self, q, k, v, keep=None, dropout_p=0.0, scale=None, causal=False, window=None):
        self.save_for_backward(q, k, v)
        self.keep = keep  # for the double backward's recomputation (engine.higher_order)
        y = _flash_attention(self, q, k, v, causal, dropout_p, window, scale)
        return y if y is not None else attention_forward(self, q, k, v, keep, dropout_p, scale)

    def backward(self, g):
        if self.kernel:
            return _flash_attention_backward(self, *self.saved, g)
        return attention_backward(self, *self.saved, g)


class SelfAttention(Function):
    """Multi-head attention straight from a fused projection: qkv (B, T, 3C) → (B, T, C).

    Equals splitting qkv into q, k, v, reshaping each to (B, nh, T, hs), attending and
    merging the heads back, but its backward writes dqkv into one array instead of
    summing three zero-padded slices. ``causal``/``window``: as ScaledDotProductAttention.
    """

    def forward(self, qkv, n_head=1, keep=None, dropout_p=0.0, scale=None, causal=False, window=None):
        B, T, C3 = qkv.shape
        C = C3 // 3
        heads = qkv.reshape(B, T, 3, n_head, C // n_head).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        q, k, v = heads[0], heads[1], heads[2]
        self.save_for_backward(qkv)
        self.n_head, self.keep = n_head, keep  # keep: for the double backward's recomputation
        y = _flash_attention(self, q, k, v, causal, dropout_p, window, scale)  # (B, nh, T, hs)
        if y is not None:
            return y.transpose(0, 2, 1, 3).reshape(B, T, C)  # heads merged (a copy)
        y = self.xp.empty((B, T, n_head, C // n_head), dtype=qkv.dtype)
        attention_forward(self, q, k, v, keep, dropout_p, scale, out=y.transpose(0, 2, 1, 3))  # heads merged
        return y.reshape(B, T, C)

    def backward(self, g):
        (qkv,) = self.saved
        B, T, C3 = qkv.shape
        C = C3 // 3
        nh = self.n_head
        heads = qkv.reshape(B, T, 3, nh, C // nh).transpose(2, 0, 3, 1, 4)
        g = g.reshape(B, T, nh, C // nh).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
        dqkv = self.xp.empty((B, T, 3, nh, C // nh), dtype=g.dtype)
        dheads = dqkv.transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs) views, as the heads of qkv
        if self.kernel:
            grads = _flash_attention_backward(self, heads[0], heads[1], heads[2], g)
            for d, grad in zip(dheads, grads):
                d[...] = grad
        else:
            attention_backward(self, heads[0], heads[1], heads[2], g, out=(dheads[0], dheads[1], dheads[2]))
        return dqkv.reshape(B, T, C3)
