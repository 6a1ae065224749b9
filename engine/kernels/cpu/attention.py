"""Attention's softmax over the last axis, in place (the reference: engine/ops/fused.py's
``softmax_rows_`` and ``softmax_rows_backward_``): three passes instead of eight."""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import exp_, exp_float32_into, jit
from engine.parallel import parallel_batched


@jit()
def _softmax_shift_rows(s, bias, scale):
    """s (R, S) ← s·scale + bias[r % Tb] − its row max; bias (Tb, S), or (0, S) for none."""
    R, S = s.shape
    tb = bias.shape[0]
    for r in range(R):
        m = -np.inf
        if tb:
            for c in range(S):
                v = s[r, c] * scale + bias[r % tb, c]
                s[r, c] = v
                m = max(m, v)
        else:
            for c in range(S):
                v = s[r, c] * scale
                s[r, c] = v
                m = max(m, v)
        for c in range(S):
            s[r, c] -= m


@jit()
def _normalize_rows(s):
    """s (R, S) ← s / its row sum."""
    R, S = s.shape
    zero, one = s.dtype.type(0), s.dtype.type(1)
    for r in range(R):
        t = zero
        for c in range(S):
            t += s[r, c]
        t = one / t
        for c in range(S):
            s[r, c] *= t


@jit()
def _softmax_backward_rows(gs, p, scale):
    """gs (R, S) ← p·(gs − Σ gs·p)·scale, row by row."""
    R, S = gs.shape
    zero = gs.dtype.type(0)
    for r in range(R):
        d = zero
        for c in range(S):
            d += gs[r, c] * p[r, c]
        for c in range(S):
            gs[r, c] = (gs[r, c] - d) * p[r, c] * scale


def softmax_rows_(s, bias, scale: float) -> None:
    """s (…, T, S) C-contiguous ← softmax(s·scale + bias) over the last axis, in place; bias (T, S)
    (0 or −inf, as attention's mask) or None. The exp is NumPy's, between two compiled passes.

    >>> s = np.zeros((1, 2, 2)); softmax_rows_(s, np.array([[0.0, -np.inf], [0.0, 0.0]]), 1.0); s.tolist()
    [[[1.0, 0.0], [0.5, 0.5]]]
    """
    s2 = s.reshape(-1, s.shape[-1])
    bias = np.zeros((0, s.shape[-1]), s.dtype) if bias is None else bias
    _softmax_shift_rows(s2, bias, s.dtype.type(scale))
    exp_(s2)
    _normalize_rows(s2)


def softmax_rows_backward_(gs, p, scale: float) -> None:
    """gs (…, T, S) ← p·(gs − Σ gs·p)·scale in place (dL/dp to dL/d(scores)); both C-contiguous.

    >>> gs = np.array([[1.0, 0.0]]); softmax_rows_backward_(gs, np.array([[0.5, 0.5]]), 1.0); gs.tolist()
    [[0.25, -0.25]]
    """
    _softmax_backward_rows(gs.reshape(-1, gs.shape[-1]), p.reshape(-1, p.shape[-1]), gs.dtype.type(scale))



register("attention_softmax", "cpu", softmax_rows_, softmax_rows_backward_)


# ------------------------------------------------------------------------------------------------
# All query blocks of attention in one pass (reference: engine/ops/fused.py's attention_forward /
# attention_backward with _forward_block / _backward_block). What differs is only speed:
# - one parallel_batched call for all blocks (not one per block): each thread takes its batch
#   entries and runs every block of each entry, a few entries at a time so they stay in L2;
# - the softmax is one compiled pass per row (scale, mask, max, exp, sum, normalize while the row
#   is in L1), the float32 exp on row-sized scratch (no array-sized allocation per call);
# - backward's gs and the gk/gv of blocks that share keys go to per-thread scratch with out= and
#   are added in place: no temporaries.
# ------------------------------------------------------------------------------------------------
ENTRY_BYTES = 1 << 20  # batch entries per step: about this many bytes of p (1 << 18 was no faster)
# _IN_ROWS: q kᵀ and g vᵀ multiply by kᵀ, vᵀ copied into rows (per share of entries, in cache), not by
# a transposed view: OpenBLAS ran the (64, D) @ (D, S) products of a view 1.3-1.7x slower (one thread,
# Zen 4: S 0.20 -> 0.12 ms, M 3.7 -> 2.5 ms a layer for q kᵀ, the copy 0.03 / 0.5 ms).


SOFTMAX_CHUNK = 4096  # elements of rows per exp call: 16 KiB of float32, in L1 through the passes


@jit()
def _softmax_rows_f32(s, bias, scale, mantissa, k_int):
    """s (R, S) float32, C-contiguous ← softmax(s·scale + bias[r % Tb]) per row; bias (Tb, S), or
    (0, S) for none. Rows go in chunks of ``mantissa.size // S``: shift, exp (mantissa, k_int: its
    scratch), normalize, while the chunk is in L1."""
    R, S = s.shape
    tb = bias.shape[0]
    one = np.float32(1)
    flat = s.reshape(-1)
    rows = max(1, mantissa.size // S)
    for r0 in range(0, R, rows):
        r1 = min(R, r0 + rows)
        for r in range(r0, r1):
            m = np.float32(-np.inf)
            if tb:
                for c in range(S):
                    v = s[r, c] * scale + bias[r % tb, c]
                    s[r, c] = v
                    m = max(m, v)
            else:
                for c in range(S):
                    v = s[r, c] * scale
                    s[r, c] = v
                    m = max(m, v)
            for c in range(S):
                s[r, c] -= m
        chunk = flat[r0 * S:r1 * S]
        exp_float32_into(chunk, chunk, mantissa, k_int)
        for r in range(r0, r1):
            t = np.float32(0)
            for c in range(S):
                t += s[r, c]
            t = one / t
            for c in range(S):
                s[r, c] *= t


@jit()
def _softmax_rows_f64(s, bias, scale):
    """As _softmax_rows_f32 for float64, NumPy's exp."""
    R, S = s.shape
    tb = bias.shape[0]
    for r in range(R):
        row = s[r]
        m = -np.inf
        for c in range(S):
            v = row[c] * scale + (bias[r % tb, c] if tb else 0.0)
            row[c] = v
            m = max(m, v)
        t = 0.0
        for c in range(S):
            e = np.exp(row[c] - m)
            row[c] = e
            t += e
        t = 1.0 / t
        for c in range(S):
            row[c] *= t


def _softmax_into(pb, bias, scale, scratch) -> None:
    """pb (…, t, S) C-contiguous ← its softmax (scaled, biased) in one compiled pass per row."""
    rows = pb.reshape(-1, pb.shape[-1])
    if pb.dtype == np.float32:
        _softmax_rows_f32(rows, bias, np.float32(scale), scratch[0], scratch[1])
    else:
        _softmax_rows_f64(rows, bias, float(scale))


def _entry_steps(lo: int, hi: int, entry_bytes: int) -> range:
    return range(lo, hi, max(1, ENTRY_BYTES // max(1, entry_bytes)))


def attention_blocks_forward(q, k, v, blocks, biases, scale: float, y):
    """y (B, …, T, Dv) ← attention of q (B, …, T, D), k, v (B, …, S, ·) over query ``blocks``
    [(t0, t1, k0, k1)], each with its additive mask ``biases[i]`` ((t1-t0, k1-k0) or None), no
    dropout. Returns the weights per block [(B, …, t1-t0, k1-k0)], as the reference keeps them.

    >>> q = np.ones((1, 2, 3)); y = np.empty((1, 2, 3))
    >>> p = attention_blocks_forward(q, q, q, [(0, 2, 0, 2)], [None], 1.0, y); p[0].tolist()
    [[[0.5, 0.5], [0.5, 0.5]]]
    """
    lead, S = q.shape[:-2], k.shape[-2]
    ps = [np.empty(lead + (t1 - t0, k1 - k0), q.dtype) for t0, t1, k0, k1 in blocks]
    biases = [np.zeros((0, b[3] - b[2]), q.dtype) if m is None else m for b, m in zip(blocks, biases)]
    kt = np.swapaxes(k, -1, -2)
    entry = sum(p[0].nbytes for p in ps)

    def share(lo: int, hi: int) -> None:
        n = max(S, SOFTMAX_CHUNK)
        scratch = (np.empty(n, np.float32), np.empty(n, np.int32))
        for e0 in (steps := _entry_steps(lo, hi, entry)):
            e1 = min(hi, e0 + steps.step)
            kt_rows = np.ascontiguousarray(kt[e0:e1])  # see _IN_ROWS
            for (t0, t1, k0, k1), p, bias in zip(blocks, ps, biases):
                pb = p[e0:e1]
                np.matmul(q[e0:e1, ..., t0:t1, :], kt_rows[..., k0:k1], out=pb)
                _softmax_into(pb, bias, scale, scratch)
                np.matmul(pb, v[e0:e1, ..., k0:k1, :], out=y[e0:e1, ..., t0:t1, :])

    parallel_batched(np, lead[0], share, entry // q.itemsize)
    return ps


def attention_blocks_backward(q, k, v, g, ps, blocks, scale: float, grads) -> None:
    """(gq, gk, gv) = ``grads`` (arrays of q's, k's, v's shapes, any strides) ← the gradients of
    ``attention_blocks_forward`` for its output gradient g (B, …, T, Dv), from its weights ``ps``.

    >>> q = np.ones((1, 2, 3)); y = np.empty((1, 2, 3)); grads = tuple(np.empty((1, 2, 3)) for _ in "qkv")
    >>> p = attention_blocks_forward(q, q, q, [(0, 2, 0, 2)], [None], 1.0, y)
    >>> attention_blocks_backward(q, q, q, np.ones((1, 2, 3)), p, [(0, 2, 0, 2)], 1.0, grads); grads[2].tolist()
    [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
    """
    gq, gk, gv = grads
    lead, S = q.shape[:-2], k.shape[-2]
    vt = np.swapaxes(v, -1, -2)
    entry = sum(p[0].nbytes for p in ps)
    # a block that sees every key writes gk, gv (no zeroing); the others add theirs
    first = next((i for i, b in enumerate(blocks) if b[2] == 0 and b[3] == S), None)
    order = ([first] if first is not None else []) + [i for i in range(len(blocks)) if i != first]

    def share(lo: int, hi: int) -> None:
        for e0 in (steps := _entry_steps(lo, hi, entry)):
            e1 = min(hi, e0 + steps.step)
            n = e1 - e0
            gs_buf = np.empty(max(p[e0:e1].size for p in ps), q.dtype)
            if order != [first]:  # a block's share of gk, gv, to add
                add_k, add_v = np.empty((n,) + k.shape[1:], k.dtype), np.empty((n,) + v.shape[1:], v.dtype)
            if first is None:
                gk[e0:e1] = 0
                gv[e0:e1] = 0
            vt_rows = np.ascontiguousarray(vt[e0:e1])  # see _IN_ROWS
            for i in order:
                t0, t1, k0, k1 = blocks[i]
                pb, gb, qb = ps[i][e0:e1], g[e0:e1, ..., t0:t1, :], q[e0:e1, ..., t0:t1, :]
                gs = gs_buf[:pb.size].reshape(pb.shape)
                np.matmul(gb, vt_rows[..., k0:k1], out=gs)  # dL/dp, then dL/d(scores) in place
                softmax_rows_backward_(gs, pb, scale)
                np.matmul(gs, k[e0:e1, ..., k0:k1, :], out=gq[e0:e1, ..., t0:t1, :])
                gst, pbt = np.swapaxes(gs, -1, -2), np.swapaxes(pb, -1, -2)
                if i == first:
                    np.matmul(gst, qb, out=gk[e0:e1])
                    np.matmul(pbt, gb, out=gv[e0:e1])
                else:
                    ak, av = add_k[..., k0:k1, :], add_v[..., k0:k1, :]
                    np.matmul(gst, qb, out=ak)
                    np.matmul(pbt, gb, out=av)
                    gk_b, gv_b = gk[e0:e1, ..., k0:k1, :], gv[e0:e1, ..., k0:k1, :]
                    np.add(gk_b, ak, out=gk_b)
                    np.add(gv_b, av, out=gv_b)

    parallel_batched(np, lead[0], share, entry // q.itemsize)


register("attention_blocks", "cpu", attention_blocks_forward, attention_blocks_backward)


@jit()
def _attend_rows(q, k, v, start, stop, scale, y, lo, hi):
    """attend_one_query for the (batch, head) pairs lo:hi of B·nh (b = i // nh, h = i % nh); y's
    row is summed in a local array and written once."""
    nh, hs = q.shape[1], q.shape[2]
    n = stop - start
    s = np.empty(n, q.dtype)
    acc = np.empty(hs, q.dtype)
    zero = q.dtype.type(0)
    for i in range(lo, hi):
        b, h = i // nh, i % nh
        qv, kb, vb = q[b, h], k[b, h, start:stop], v[b, h, start:stop]
        m = q.dtype.type(-np.inf)
        for j in range(n):
            kr = kb[j]
            dot = zero
            for d in range(hs):
                dot += kr[d] * qv[d]
            dot *= scale
            s[j] = dot
            m = max(m, dot)
        tot = zero
        for j in range(n):
            e = np.exp(s[j] - m)
            s[j] = e
            tot += e
        inv = q.dtype.type(1) / tot
        for d in range(hs):
            acc[d] = zero
        for j in range(n):
            p = s[j] * inv
            vr = vb[j]
            for d in range(hs):
                acc[d] += p * vr[d]
        for d in range(hs):
            y[b, h, d] = acc[d]


MIN_DECODE_PARALLEL = 1 << 18  # cached K entries read per call (B·nh·positions·hs) before the pairs are
#                                shared out: at batch 8 (~400K at 64 positions) the reads come from memory
#                                and two threads halve them; at batch 1 a hand-off costs more


def attend_one_query(q, k, v, start, stop, scale, y):
    """y[b, h] = softmax(scale·k[b, h, start:stop] @ q[b, h]) @ v[b, h, start:stop], in place.

    q, y (B, nh, hs); k, v (B, nh, S_max, hs): one query per (b, h) against cached positions (a
    decode step: no (T, S) scores, no mask). Reference: engine.ops.fused.attend_one_query.
    The (b, h) pairs go to the threads when the cache reads are large (``MIN_DECODE_PARALLEL``).

    >>> q = np.ones((1, 1, 2)); kv = np.zeros((1, 1, 4, 2)); kv[0, 0, :2] = [[1, 0], [0, 1]]
    >>> y = np.empty((1, 1, 2)); attend_one_query(q, kv, kv, 0, 2, 1.0, y); y.tolist()
    [[[0.5, 0.5]]]
    """
    B, nh, hs = q.shape
    pairs = B * nh

    def rows(lo, hi):
        _attend_rows(q, k, v, start, stop, scale, y, lo, hi)

    if pairs * (stop - start) * hs < MIN_DECODE_PARALLEL:
        rows(0, pairs)
    else:
        parallel_batched(np, pairs, rows, row_size=(stop - start) * hs)


register("attention_decode", "cpu", attend_one_query)  # inference only: no gradient
