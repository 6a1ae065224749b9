"""Fused ops: one forward and one analytic backward each, for speed and memory.

Each equals its composition from primitives (tests/engine/test_fused.py proves it).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from engine.backend import device_of, scatter_add
from engine.cpu import kernels_for as cpu_kernels_for
from engine.cuda import kernels_for
from engine.function import Function
from engine.ops.elementwise import column_sums
from engine.parallel import parallel_batched
from engine.rng import generator


class Softmax(Function):
    def forward(self, x, axis=-1):
        self.cuda = kernels_for(x) if x.ndim and axis in (-1, x.ndim - 1) else None
        if self.cuda is not None:  # one block per row, online max and sum
            y = self.cuda.softmax(x)
            self.save_for_backward(y)
            return y
        y = x - x.max(axis=axis, keepdims=True)
        self.xp.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        if self.cuda is not None:
            return self.cuda.softmax_backward(y, g)
        gy = g * y
        gy -= y * gy.sum(axis=self.axis, keepdims=True)
        return gy


class LogSoftmax(Function):
    def forward(self, x, axis=-1):
        xp = self.xp
        y = x - x.max(axis=axis, keepdims=True)
        y -= xp.log(xp.exp(y).sum(axis=axis, keepdims=True))
        self.axis = axis
        self.save_for_backward(y)
        return y

    def backward(self, g):
        (y,) = self.saved
        return g - self.xp.exp(y) * g.sum(axis=self.axis, keepdims=True)


def check_ids(ids, n: int, what: str) -> None:
    """Raise ValueError naming the first id outside [0, n)."""
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{what} {bad} is out of range [0, {n})")


class CrossEntropy(Function):
    """Softmax cross-entropy over the last axis of ``logits`` (…, C) with int targets (…).

    The (N, C) softmax is recomputed in backward from the saved logits and
    log-sum-exp, so no extra (N, C) array lives between forward and backward.
    """

    def forward(self, logits, targets=None, ignore_index=-100, reduction="mean"):
        xp = self.xp
        n_class = logits.shape[-1]
        flat = logits.reshape(-1, n_class)  # (N, C)
        self.cuda = kernels_for(logits)
        if self.cuda is not None:  # one pass over each row: loss and log-sum-exp, no (N, C) temporary
            loss_rows, self.lse = self.cuda.cross_entropy(flat, targets, ignore_index)
            loss, self.n_valid = self.cuda.cross_entropy_reduce(loss_rows, targets, ignore_index, reduction,
                                                               logits.dtype, xp)
            self.save_for_backward(logits)
            self.targets, self.ignore_index, self.reduction = targets, ignore_index, reduction
            return loss
        t = targets.reshape(-1)
        valid = t != ignore_index
        check_ids(t[valid], n_class, "target id")
        t = xp.where(valid, t, 0)
        m = flat.max(axis=1, keepdims=True)
        shifted = flat - m
        xp.exp(shifted, out=shifted)
        lse = xp.log(shifted.sum(axis=1)) + m[:, 0]  # (N,)
        rows = xp.arange(flat.shape[0])
        loss = (lse - flat[rows, t]) * valid
        self.save_for_backward(logits)
        self.lse, self.t, self.valid, self.rows, self.reduction = lse, t, valid, rows, reduction
        if reduction == "none":
            return loss.reshape(targets.shape)
        if reduction == "sum":
            return loss.sum()
        self.n_valid = int(valid.sum())
        return loss.sum() / logits.dtype.type(self.n_valid) if self.n_valid else loss.sum() * logits.dtype.type("nan")

    def backward(self, g):
        (logits,) = self.saved
        xp = self.xp
        n_class = logits.shape[-1]
        if self.cuda is not None:  # (softmax − onehot) · row scale, written once
            scale = self.cuda.cross_entropy_row_scale(g, self.targets, self.ignore_index, self.reduction,
                                                      self.n_valid, xp)
            grad = self.cuda.cross_entropy_backward(logits.reshape(-1, n_class), self.lse, self.targets, scale,
                                                    self.ignore_index)
            return grad.reshape(logits.shape)
        grad = logits.reshape(-1, n_class) - self.lse[:, None]
        xp.exp(grad, out=grad)  # softmax
        grad[self.rows, self.t] -= 1
        if self.reduction == "none":
            scale = g.reshape(-1) * self.valid
        elif self.reduction == "sum":
            scale = g * self.valid
        else:
            scale = (g / max(self.n_valid, 1)) * self.valid
        grad *= scale.astype(grad.dtype)[:, None]
        return grad.reshape(logits.shape)


class LayerNorm(Function):
    """LayerNorm over the last axis; ``weight``/``bias`` (C,) may be None.

    float16 is normalized in float32 and rounded once at the end, as torch does: on a row of
    close values ``x - mean`` cancels most of float16's ~3 digits.
    """

    def forward(self, x, weight=None, bias=None, eps=1e-5):
        xp = self.xp
        self.dtypes = [None if a is None else a.dtype for a in (x, weight, bias)]
        self.cuda = kernels_for(x, weight, bias) if x.ndim and x.shape[-1] else None
        if self.cuda is not None:  # one block per row; float32 statistics
            y, self.mean, self.rstd = self.cuda.layer_norm(x, weight, bias, eps)
            self.save_for_backward(x, weight)
            return y
        work = xp.dtype("float32") if x.dtype.itemsize < 4 else x.dtype
        C = x.shape[-1]
        x2 = x.astype(work, copy=False).reshape(-1, C)  # (N, C)
        w = None if weight is None else weight.astype(work, copy=False)
        self.cpu = cpu_kernels_for(x2, w, bias) if x2.size else None
        if self.cpu is not None:  # compiled: one pass per row
            out, xhat, rstd = self.cpu.layer_norm(np.ascontiguousarray(x2), w, bias, eps)
            rstd = rstd[:, None]
        else:
            # Row sums by einsum: 3x NumPy's .sum(-1) on rows this short, and x·x without a temporary.
            xhat = x2 - (xp.einsum("nc->n", x2) * work.type(1 / C))[:, None]
            var = xp.einsum("nc,nc->n", xhat, xhat)
            var *= work.type(1 / C)
            var += work.type(eps)
            rstd = xp.reciprocal(xp.sqrt(var, out=var), out=var)[:, None]  # (N, 1)
            xhat *= rstd
            out = xhat * w if w is not None else xhat.copy()
            if bias is not None:
                out += bias
        self.save_for_backward(w)
        self.xhat, self.rstd = xhat, rstd
        return out.reshape(x.shape).astype(self.dtypes[0], copy=False)

    def backward(self, g):
        xp = self.xp
        if self.cuda is not None:
            x, weight = self.saved
            return self.cuda.layer_norm_backward(x, weight, self.mean, self.rstd, g, *self.needs_input_grad)
        (w,) = self.saved
        xhat, rstd = self.xhat, self.rstd  # (N, C), (N, 1)
        N, C = xhat.shape
        g2 = g.astype(xhat.dtype, copy=False).reshape(N, C)
        need_x, need_w, need_b = self.needs_input_grad
        if self.cpu is not None:
            gx, gw, gb = self.cpu.layer_norm_backward(np.ascontiguousarray(g2), xhat, rstd.reshape(-1), w,
                                                      need_x, need_w, need_b)
            gx = None if gx is None else gx.reshape(g.shape)
            return tuple(None if a is None else a.astype(d, copy=False) for a, d in zip((gx, gw, gb), self.dtypes))
        gx = gw = gb = None
        if need_b:
            gb = column_sums(g2)
        if need_w:
            gw = xp.einsum("nc,nc->c", g2, xhat)
        if need_x:  # gx = rstd · (gxhat − mean(gxhat) − xhat · mean(gxhat · xhat)), gxhat = g·w
            gx = g2 * w if w is not None else g2.copy()
            inv_c = xhat.dtype.type(1 / C)
            proj = xp.einsum("nc,nc->n", gx, xhat)[:, None]
            proj *= inv_c
            gx -= (xp.einsum("nc->n", gx) * inv_c)[:, None]
            gx -= xhat * proj
            gx *= rstd
            gx = gx.reshape(g.shape)
        return tuple(None if a is None else a.astype(d, copy=False) for a, d in zip((gx, gw, gb), self.dtypes))


class Embedding(Function):
    """Rows of ``weight`` (V, D) picked by integer ``ids``; backward scatter-adds."""

    def forward(self, weight, ids=None):
        check_ids(ids, weight.shape[0], "token id")
        self.ids, self.w_shape = ids, weight.shape
        return weight[ids]

    def backward(self, g):
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
    cpu = cpu_kernels_for(s, bias) if shared and s.flags.c_contiguous else None
    if cpu is not None:  # compiled: three passes instead of eight
        cpu.softmax_rows_(s, bias, scale)
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
    cpu = cpu_kernels_for(gs, p) if gs.flags.c_contiguous and p.flags.c_contiguous else None
    if cpu is not None:
        cpu.softmax_rows_backward_(gs, p, scale)
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
    each share runs its q kᵀ, softmax and p·v while they are in cache, on one BLAS thread.
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
    for t0, t1, k0, k1 in fn.blocks:
        p = xp.empty(lead + (t1 - t0, k1 - k0), dtype=q.dtype)
        m = None if masked is None else masked[..., t0:t1, k0:k1]  # per batch entry: one block, all of it
        bias = _mask_bias(m, p.dtype, xp) if m is not None and m.any() else None
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
    if not one:
        grads[1][...] = 0
        grads[2][...] = 0
    for block, p in zip(fn.blocks, fn.p):
        part = functools.partial(_backward_block, xp, q, k, v, g, p, block, fn.drop, fn.scale, grads, one)
        parallel_batched(xp, q.shape[0], part, p[0].size)
    return grads


def _attention_kernels(q, k, v, causal: bool, dropout_p: float):
    """engine.cuda when this attention can run as its tiled flash kernels: on CuPy, causal, no
    extra mask, no dropout."""
    cuda = kernels_for(q, k, v) if causal and not dropout_p else None
    return cuda if cuda is not None and cuda.flash_supported(q, k, v) else None


def _cuda_attention(fn: Function, q, k, v, window, scale):
    """Forward by engine.cuda.flash_attention; keeps on ``fn`` what its backward needs."""
    fn.window, fn.scale = window, scale
    fn.out, fn.lse = fn.cuda.flash_attention(q, k, v, window, scale)
    return fn.out


def _cuda_attention_backward(fn: Function, q, k, v, g):
    return fn.cuda.flash_attention_backward(q, k, v, fn.out, fn.lse, g, fn.window, fn.scale)


class ScaledDotProductAttention(Function):
    """softmax(q kᵀ · scale + mask) v with optional dropout on the weights.

    q (…, T, D), k (…, S, D), v (…, S, Dv). ``keep`` is a bool mask broadcastable to
    (…, T, S), True where a query may attend to a key. Saves the (…, T, S) weights, except on
    CuPy when ``causal`` says keep is exactly ``attention_mask(T, S, window)`` and there is no
    dropout: then the flash kernels keep only the output and its log-sum-exp, memory O(T).
    """

    def forward(self, q, k, v, keep=None, dropout_p=0.0, scale=None, causal=False, window=None):
        self.save_for_backward(q, k, v)
        self.cuda = _attention_kernels(q, k, v, causal, dropout_p)
        if self.cuda is not None:
            return _cuda_attention(self, q, k, v, window, scale)
        return attention_forward(self, q, k, v, keep, dropout_p, scale)

    def backward(self, g):
        if self.cuda is not None:
            return _cuda_attention_backward(self, *self.saved, g)
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
        self.n_head = n_head
        self.cuda = _attention_kernels(q, k, v, causal, dropout_p)
        if self.cuda is not None:
            y = _cuda_attention(self, q, k, v, window, scale)  # (B, nh, T, hs)
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
        if self.cuda is not None:
            grads = _cuda_attention_backward(self, heads[0], heads[1], heads[2], g)
            for d, grad in zip(dheads, grads):
                d[...] = grad
        else:
            attention_backward(self, heads[0], heads[1], heads[2], g, out=(dheads[0], dheads[1], dheads[2]))
        return dqkv.reshape(B, T, C3)
