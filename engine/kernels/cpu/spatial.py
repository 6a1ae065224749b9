"""Compiled 2-D kernels for engine/ops/spatial.py: im2col, col2im and max pooling (numba).

In the table as ``("im2col2d", "cpu")``: (im2col2d, col2im2d), col2im being im2col's adjoint, and
``("max_pool2d", "cpu")``: (max_pool2d, max_pool2d_backward).

Each ``*2d`` function takes and returns exactly what its NumPy reference in spatial.py does
(``im2col``, ``col2im``, ``MaxPoolNd``'s forward/backward for two spatial axes), for float32/float64
NumPy arrays of any strides. The loops run over the batch: ``engine.parallel`` gives each of its
threads (``engine.set_num_threads``) a range of images, and the kernels release the GIL.
Without numba (or with ``ENGINE_KERNELS=off``) ``lookup`` finds no kernel and the ops take the
NumPy path; tests/engine/test_parity_spatial.py holds both paths to torch.

=================  ==========================================================================
``im2col2d``       xpad (N, Hp, Wp, C) -> cols (G, N·Oh·Ow, kh·kw·Cg), one pass, no temporaries
``col2im2d``       cols (G, N·L, kh·kw·Cg) -> (N, Hp, Wp, C), overlaps summed per image
``max_pool2d``     x (N, C, H, W) -> (best, arg): max and first argmax offset per window, padding
                   read as -inf without a padded copy; a NaN wins (the last one, as torch's kernel)
``max_pool2d_backward``  g, arg -> gx (N, C, H, W): each gradient to its window's argmax
``conv2d``         ConvNd's forward for groups 1, a few images at a time per thread (below)
``conv2d_backward``  its weight and input gradients, the same way
=================  ==========================================================================

``("conv2d", "cpu")`` is a pipeline: each thread takes a share of the batch and, a chunk of about
``PIPE_BYTES`` of columns at a time, runs im2col, the sgemm (OpenBLAS on one thread) and, backward,
the col2im, while the chunk is in its core's cache. OpenBLAS's own two threads split one big
sgemm of skinny (N·L, Kp·C) @ (Kp·C, O) poorly and its columns go through memory; here forward is
~25% faster at a small CNN's shapes (and it keeps its speed when other processes share the cores).
"""

from __future__ import annotations

import numpy as np

from engine.kernels import register
from engine.kernels.cpu import jit
from engine.parallel import MIN_PARALLEL_CHEAP, parallel_batched, parallel_for


@jit(fastmath=())
def _im2col_rows(xpad, cols, kh, kw, sh, sw, dh, dw, oh, ow, groups, lo, hi):
    cg = xpad.shape[3] // groups
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                r = (n * oh + i) * ow + j
                for a in range(kh):
                    y = i * sh + a * dh
                    for b in range(kw):
                        x = j * sw + b * dw
                        base = (a * kw + b) * cg
                        for g in range(groups):
                            for c in range(cg):
                                cols[g, r, base + c] = xpad[n, y, x, g * cg + c]


@jit(fastmath=())
def _col2im_rows(cols, res, kh, kw, sh, sw, dh, dw, oh, ow, groups, lo, hi):
    cg = res.shape[3] // groups
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                r = (n * oh + i) * ow + j
                for a in range(kh):
                    y = i * sh + a * dh
                    for b in range(kw):
                        x = j * sw + b * dw
                        base = (a * kw + b) * cg
                        for g in range(groups):
                            for c in range(cg):
                                res[n, y, x, g * cg + c] += cols[g, r, base + c]


SHORT_RUN = 8  # below this many channels the per-pixel loop of _im2col_rows is too short: _im2col_runs
#               copies runs of kw·C instead (3 channels: 3.9 -> 1.6 ms for 64 images of 32×32, one thread);
#               from 16 channels on the per-pixel loop vectorizes and is the faster (8 vs 10 ms)


@jit(fastmath=())
def _im2col_runs(xr, cols, kh, kw, c, sh, sw, dh, oh, ow, lo, hi):
    """_im2col_rows for groups 1 and no horizontal dilation, on xr (N, Hp, Wp·C): the kw·C values
    of one kernel row are one contiguous run in both arrays."""
    run = kw * c
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                r = (n * oh + i) * ow + j
                src = j * sw * c
                for a in range(kh):
                    y = i * sh + a * dh
                    dst = a * run
                    for t in range(run):
                        cols[r, dst + t] = xr[n, y, src + t]


@jit(fastmath=())
def _col2im_runs(cols, res, kh, kw, c, sh, sw, dh, oh, ow, lo, hi):
    """The adjoint of _im2col_runs: res (N, Hp, Wp·C) += each run."""
    run = kw * c
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                r = (n * oh + i) * ow + j
                src = j * sw * c
                for a in range(kh):
                    y = i * sh + a * dh
                    dst = a * run
                    for t in range(run):
                        res[n, y, src + t] += cols[r, dst + t]


def im2col2d(xpad, kernel, stride, dilation, out, groups=1):
    """spatial.im2col for two spatial axes: (N, Hp, Wp, C) -> (G, N·Oh·Ow, kh·kw·Cg)."""
    n, c = xpad.shape[0], xpad.shape[3]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    cols = np.empty((groups, n * oh * ow, kh * kw * (c // groups)), dtype=xpad.dtype)
    if groups == 1 and dw == 1 and c < SHORT_RUN and xpad.flags.c_contiguous:
        xr, c2 = xpad.reshape(n, xpad.shape[1], -1), cols[0]
        parallel_for(np, n, lambda lo, hi: _im2col_runs(xr, c2, kh, kw, c, sh, sw, dh, oh, ow, lo, hi),
                     row_size=oh * ow * kh * kw * c, min_parallel=MIN_PARALLEL_CHEAP)
        return cols
    parallel_for(np, n, lambda lo, hi: _im2col_rows(xpad, cols, kh, kw, sh, sw, dh, dw, oh, ow, groups, lo, hi),
                 row_size=oh * ow * kh * kw * c, min_parallel=MIN_PARALLEL_CHEAP)
    return cols


def col2im2d(cols, n, padded, kernel, stride, dilation, out, groups=1):
    """spatial.col2im for two spatial axes: (G, N·L, kh·kw·Cg) -> (N, Hp, Wp, C)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    c = groups * (cols.shape[2] // (kh * kw))
    res = np.zeros((n, *padded, c), dtype=cols.dtype)
    if groups == 1 and dw == 1 and c < SHORT_RUN and cols.flags.c_contiguous:
        rr, c2 = res.reshape(n, padded[0], -1), cols[0]
        parallel_for(np, n, lambda lo, hi: _col2im_runs(c2, rr, kh, kw, c, sh, sw, dh, oh, ow, lo, hi),
                     row_size=oh * ow * kh * kw * c, min_parallel=MIN_PARALLEL_CHEAP)
        return res
    parallel_for(np, n, lambda lo, hi: _col2im_rows(cols, res, kh, kw, sh, sw, dh, dw, oh, ow, groups, lo, hi),
                 row_size=oh * ow * kh * kw * c, min_parallel=MIN_PARALLEL_CHEAP)
    return res


@jit(fastmath=())
def _max_pool_rows(x, best, arg, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi):
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = best.shape[2], best.shape[3]
    ninf = -np.inf
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                for c in range(C):
                    m = ninf
                    k = 0
                    for a in range(kh):
                        y = i * sh - ph + a * dh
                        for b in range(kw):
                            xx = j * sw - pw + b * dw
                            v = x[n, c, y, xx] if 0 <= y < H and 0 <= xx < W else ninf
                            if v > m or np.isnan(v):
                                m = v
                                k = a * kw + b
                    best[n, c, i, j] = m
                    arg[n, c, i, j] = k


@jit(fastmath=())
def _max_pool_backward_rows(g, arg, gx, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi):
    C, H, W = gx.shape[1], gx.shape[2], gx.shape[3]
    oh, ow = g.shape[2], g.shape[3]
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                for c in range(C):
                    k = arg[n, c, i, j]
                    y = i * sh - ph + (k // kw) * dh
                    xx = j * sw - pw + (k % kw) * dw
                    if 0 <= y < H and 0 <= xx < W:
                        gx[n, c, y, xx] += g[n, c, i, j]


@jit(fastmath=())
def _max_pool_cl_rows(x, best, arg, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi):
    """_max_pool_rows for channels-last x (N, H, W, C) -> best, arg (N, oh, ow, C): the channel loop
    innermost reads whole pixels, each window offset one contiguous run, with branch-free selects
    into an int32 scratch row (an int16 select stops the loop from vectorizing: 8x)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    oh, ow = best.shape[1], best.shape[2]
    m = np.empty(C, x.dtype)
    k32 = np.empty(C, np.int32)
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                m[:] = -np.inf
                k32[:] = 0
                for a in range(kh):
                    y = i * sh - ph + a * dh
                    if y < 0 or y >= H:
                        continue  # padding reads as -inf: never above the running max
                    for b in range(kw):
                        xx = j * sw - pw + b * dw
                        if xx < 0 or xx >= W:
                            continue
                        k = np.int32(a * kw + b)
                        for c in range(C):
                            v = x[n, y, xx, c]
                            take = (v > m[c]) | (v != v)  # a NaN wins, the last one (as the NCHW loop)
                            m[c] = v if take else m[c]
                            k32[c] = k if take else k32[c]
                for c in range(C):
                    best[n, i, j, c] = m[c]
                    arg[n, i, j, c] = k32[c]


@jit(fastmath=())
def _max_pool_backward_tiles(g, arg, gx, kh, kw, lo, hi):
    """max_pool2d_backward for channels-last g, arg (N, oh, ow, C) -> gx (N, H, W, C) when the
    windows tile the input (stride = kernel, no padding or dilation): each entry of a window gets
    its g or 0, a branch-free select over the channels (~10x the general loop's speed)."""
    oh, ow, C = g.shape[1], g.shape[2], g.shape[3]
    zero = g.dtype.type(0)
    for n in range(lo, hi):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        k = np.int16(a * kw + b)
                        for c in range(C):
                            gx[n, i * kh + a, j * kw + b, c] = g[n, i, j, c] if arg[n, i, j, c] == k else zero


def _like_layout(x, shape, dtype):
    """An empty (N, C, h, w) array, channels-last in memory when x is (so the next ops stay so)."""
    if x.strides[1] < x.strides[3]:
        return np.empty((shape[0], shape[2], shape[3], shape[1]), dtype=dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype=dtype)


def max_pool2d(x, kernel, stride, padding, dilation, out):
    """MaxPoolNd's forward for (N, C, H, W): (best, arg int16 flat kernel offset), as the NumPy path."""
    n, c = x.shape[:2]
    best = _like_layout(x, (n, c, *out), x.dtype)
    arg = _like_layout(x, (n, c, *out), np.int16)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    xl = x.transpose(0, 2, 3, 1)
    if xl.flags.c_contiguous:  # a convolution's output: a channels-first view of channels-last memory
        bl, al = best.transpose(0, 2, 3, 1), arg.transpose(0, 2, 3, 1)
        parallel_for(np, n, lambda lo, hi: _max_pool_cl_rows(xl, bl, al, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi),
                     row_size=c * out[0] * out[1] * kh * kw, min_parallel=MIN_PARALLEL_CHEAP)
        return best, arg
    parallel_for(np, n, lambda lo, hi: _max_pool_rows(x, best, arg, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi),
                 row_size=c * out[0] * out[1] * kh * kw, min_parallel=MIN_PARALLEL_CHEAP)
    return best, arg


def max_pool2d_backward(g, arg, shape, kernel, stride, padding, dilation):
    """gx (N, C, H, W) with each g entry added at its window's argmax (padding entries dropped)."""
    gx = _like_layout(g, shape, g.dtype)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = g.shape[2:]
    gl, al, gxl = g.transpose(0, 2, 3, 1), arg.transpose(0, 2, 3, 1), gx.transpose(0, 2, 3, 1)
    if ((sh, sw) == (kh, kw) and (ph, pw, dh, dw) == (0, 0, 1, 1) and oh * sh <= shape[2] and ow * sw <= shape[3]
            and gl.flags.c_contiguous and al.flags.c_contiguous and gxl.flags.c_contiguous):
        def tiles(lo, hi):  # windows tile the input: every covered entry written once, no zeroing pass
            _max_pool_backward_tiles(gl, al, gxl, kh, kw, lo, hi)
            gxl[lo:hi, oh * sh:] = 0
            gxl[lo:hi, :, ow * sw:] = 0

        parallel_for(np, shape[0], tiles, row_size=gx[0].size, min_parallel=MIN_PARALLEL_CHEAP)
        return gx

    def run(lo, hi):  # each thread zeroes its own images (in its cache), then adds into them
        gx[lo:hi] = 0
        _max_pool_backward_rows(g, arg, gx, kh, kw, sh, sw, ph, pw, dh, dw, lo, hi)

    # gx's size counts: zeroing it is most of the work (2x2 pooling: 4x g's size)
    parallel_for(np, shape[0], run, row_size=gx[0].size, min_parallel=MIN_PARALLEL_CHEAP)
    return gx


PIPE_BYTES = 1 << 20  # columns per chunk of conv2d's pipeline: 256 KiB-4 MiB were within 10%, 16 MiB 25% slower


def _conv_chunks(n: int, per_image: int) -> int:
    """Images per chunk of the pipeline (chunk boundaries do not depend on the thread count)."""
    return max(1, PIPE_BYTES // max(per_image, 1))


def _im2col_into(xpad, cols, kernel, stride, dilation, out, lo, hi):
    """Columns of images lo:hi of xpad (N, Hp, Wp, C) into cols (rows of those images, Kp·C)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    c = xpad.shape[3]
    if dw == 1 and c < SHORT_RUN and xpad.flags.c_contiguous:
        _im2col_runs(xpad[lo:hi].reshape(hi - lo, xpad.shape[1], -1), cols, kh, kw, c, sh, sw, dh, oh, ow, 0, hi - lo)
    else:
        _im2col_rows(xpad[lo:hi], cols[None], kh, kw, sh, sw, dh, dw, oh, ow, 1, 0, hi - lo)


def conv2d(x, w, stride, padding, dilation, keep):
    """ConvNd's forward for groups 1 and two spatial axes: x (N, C, H, W), w (O, C, kh, kw),
    padding ((lo, hi), (lo, hi)) -> (y (N·Oh·Ow, O) channels-last rows, cols (N·Oh·Ow, Kp·C) when
    ``keep``, else None), cols offset-major as spatial.im2col's."""
    from engine.ops.spatial import out_size, padded_channels_last, weight_matrix

    n, c = x.shape[:2]
    kernel = w.shape[2:]
    out = tuple(out_size(m, k, s, d, lo, hi) for m, k, s, d, (lo, hi) in zip(x.shape[2:], kernel, stride, dilation,
                                                                          padding))
    L, kc = out[0] * out[1], kernel[0] * kernel[1] * c
    xpad = padded_channels_last(np, x, padding)
    wmt = np.ascontiguousarray(weight_matrix(w, 1)[0]).T  # (Kp·C, O), transposed: OpenBLAS packs it faster
    y = np.empty((n * L, w.shape[0]), dtype=x.dtype)
    cols = np.empty((n * L, kc), dtype=x.dtype) if keep else None
    step = _conv_chunks(n, L * kc * x.itemsize)

    def run(lo, hi):
        scratch = None if keep else np.empty((step * L, kc), dtype=x.dtype)
        for a in range(lo * step, min(n, hi * step), step):
            b = min(n, a + step)
            cc = cols[a * L:b * L] if keep else scratch[:(b - a) * L]
            _im2col_into(xpad, cc, kernel, stride, dilation, out, a, b)
            np.matmul(cc, wmt, out=y[a * L:b * L])

    chunks = -(-n // step)
    parallel_batched(np, chunks, run, row_size=step * L * kc)
    return y, cols


def conv2d_backward(g, x, w, cols, stride, padding, dilation, need_x, need_w):
    """(gx (N, H, W, C) channels-last or None, gw (O, C, kh, kw) or None) of conv2d from
    g (N·Oh·Ow, O) rows; ``cols`` its kept columns or None (rebuilt a chunk at a time)."""
    from engine.ops.spatial import padded_channels_last, weight_from_matrix, weight_matrix

    n, c, h, wd = x.shape
    kernel = w.shape[2:]
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (ph, _), (pw, _) = padding
    hp, wp = h + padding[0][0] + padding[0][1], wd + padding[1][0] + padding[1][1]
    o = w.shape[0]
    L = g.shape[0] // n
    oh = (hp - dh * (kh - 1) - 1) // sh + 1
    ow = L // oh
    kc = kh * kw * c
    g = np.ascontiguousarray(g)
    wm = np.ascontiguousarray(weight_matrix(w, 1)[0])  # (O, Kp·C)
    xpad = padded_channels_last(np, x, padding) if need_w and cols is None else None
    step = _conv_chunks(n, L * kc * x.itemsize)
    chunks = -(-n // step)
    parts = np.empty((chunks, kc, o), dtype=x.dtype) if need_w else None
    gx = np.empty((n, h, wd, c), dtype=x.dtype) if need_x else None

    def run(lo, hi):
        scratch = np.empty((step * L, kc), dtype=x.dtype)
        gpad = np.empty((step, hp, wp, c), dtype=x.dtype) if need_x else None
        for ci in range(lo, hi):
            a, b = ci * step, min(n, ci * step + step)
            gc = g[a * L:b * L]
            if need_w:
                if cols is not None:
                    cc = cols[a * L:b * L]
                else:
                    cc = scratch[:(b - a) * L]
                    _im2col_into(xpad, cc, kernel, stride, dilation, (oh, ow), a, b)
                np.matmul(cc.T, gc, out=parts[ci])  # colsᵀ g: (Kp·C, O)
            if need_x:
                gcols = np.matmul(gc, wm, out=scratch[:(b - a) * L])  # (rows, Kp·C)
                gp = gpad[:b - a]
                gp[...] = 0
                _col2im_rows(gcols[None], gp, kh, kw, sh, sw, dh, dw, oh, ow, 1, 0, b - a)
                gx[a:b] = gp[:, ph:ph + h, pw:pw + wd]

    parallel_batched(np, chunks, run, row_size=step * L * kc)
    gw = weight_from_matrix(parts.sum(0).T[None], w.shape) if need_w else None
    return gx, gw


register("im2col2d", "cpu", im2col2d, col2im2d)
register("conv2d", "cpu", conv2d, conv2d_backward)
register("max_pool2d", "cpu", max_pool2d, max_pool2d_backward)
